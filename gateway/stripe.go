package gateway

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/payments"
)

// stripeAnswer is the body of a Stripe delivery's 200.
type stripeAnswer struct {
	Received bool `json:"received"`
	// Handled says Parley acts on the event's type.
	Handled bool `json:"handled"`
	// ContactID is the contact the event was matched to (or created for),
	// empty when none.
	ContactID string `json:"contact_id,omitempty"`
	// Changed is false for a redelivered or older event.
	Changed bool `json:"changed"`
}

// receiveStripe answers POST /webhooks/stripe/:workspace: a Stripe event
// signed with the workspace's endpoint secret (its agent settings'
// stripe_webhook_secret) at the runtime's clock. A completed checkout
// gives its contact paid access and a deleted subscription ends it, each
// through the contact's actor (docs/ARCHITECTURE.md, "Who owns what");
// a checkout of somebody not in the CRM creates the contact.
func (s *Server) receiveStripe(c *fiber.Ctx) error {
	const provider = engine.ProviderStripe
	s.metrics.paymentWebhooks.WithLabelValues(provider).Inc()
	reject := func(reason string, err error) error {
		s.metrics.paymentRejected.WithLabelValues(provider, reason).Inc()
		return err
	}
	var secret string
	ws, err := engine.ParseID(c.Params("workspace"))
	if err == nil {
		set, _ := s.agents.Settings(ws, "", "")
		secret = set.StripeWebhookSecret
	}
	body := c.Body()
	if err := payments.VerifyStripe(body, c.Get(payments.StripeSignatureHeader), secret, s.cfg.Runtime.Clock().Now()); err != nil {
		if errors.Is(err, payments.ErrStale) {
			return reject("stale", errorf(fiber.StatusBadRequest, "stale_signature",
				"the Stripe-Signature timestamp is more than %v from now", payments.Tolerance))
		}
		return reject("signature", errorf(fiber.StatusBadRequest, "bad_signature",
			"the Stripe-Signature does not match the body and the workspace's Stripe endpoint secret"))
	}
	ev, err := payments.ParseStripeEvent(body)
	if err != nil {
		return reject("payload", errorf(fiber.StatusBadRequest, "bad_payload", "%s", err.Error()))
	}
	if !ev.Handled {
		return c.JSON(stripeAnswer{Received: true})
	}
	change := engine.SubscriptionChange{Active: ev.Active, Provider: provider, CustomerID: ev.CustomerID,
		SubscriptionID: ev.SubscriptionID, EventID: ev.ID, EventAt: ev.Created}
	if err := change.Validate(); err != nil {
		return reject("payload", fromEngine(err))
	}
	ans, err := s.applyStripe(c.UserContext(), ws, ev, change)
	if errors.Is(err, engine.ErrInvalid) {
		return reject("payload", fromEngine(err))
	}
	if err != nil {
		return s.retryLater(c, err)
	}
	return c.JSON(ans)
}

// applyStripe finds the contact of event ev (its client_reference_id as
// a contact id, else its Stripe customer, email or phone) and applies
// change through the contact's actor; a checkout of nobody known creates
// the contact with its access. The lookup and the creation run under
// paymentsMu, so two deliveries of one checkout never create two
// contacts.
func (s *Server) applyStripe(ctx context.Context, ws engine.ID, ev payments.StripeEvent, change engine.SubscriptionChange) (stripeAnswer, error) {
	s.paymentsMu.Lock()
	defer s.paymentsMu.Unlock()
	ans := stripeAnswer{Received: true, Handled: true}
	id, found, err := s.stripeContact(ws, ev)
	if err != nil {
		return ans, err
	}
	if stripeLooked != nil {
		stripeLooked()
	}
	if found {
		_, ans.Changed, err = s.cfg.Runtime.ApplySubscription(ctx, ws, id, change)
		ans.ContactID = id.String()
		return ans, err
	}
	if !ev.Active || (ev.Name == "" && ev.Email == "" && ev.Phone == "") {
		return ans, nil // nobody to end access for, or to create
	}
	now := s.cfg.Runtime.Clock().Now()
	var p engine.ContactPatch
	for _, f := range []struct {
		v  string
		to **string
	}{{ev.Name, &p.Name}, {ev.Email, &p.Email}, {ev.Phone, &p.Phone}} {
		if f.v != "" {
			*f.to = &f.v
		}
	}
	ct, err := engine.NewContact(engine.NewID(now), ws, engine.SourceAPI, p, now)
	if err != nil {
		return ans, err
	}
	ct, _ = engine.ApplySubscription(ct, change, now)
	if _, err := s.cfg.Runtime.CreateContact(ctx, ct); err != nil {
		return ans, err
	}
	ans.ContactID, ans.Changed = ct.ID.String(), true
	return ans, nil
}

// stripeLooked, when set (by a test), runs between the lookup of a
// payment's contact and its creation: where a second delivery would slip
// in without paymentsMu.
var stripeLooked func()

// stripeContact returns the contact event ev names, if any.
func (s *Server) stripeContact(ws engine.ID, ev payments.StripeEvent) (engine.ID, bool, error) {
	if id, err := engine.ParseID(ev.ClientReferenceID); err == nil {
		if _, err := s.cfg.Store.Contact(ws, id); err == nil {
			return id, true, nil
		}
	}
	var keys []string
	if ev.CustomerID != "" {
		keys = append(keys, engine.KeyStripeCustomer+ev.CustomerID)
	}
	if e := engine.NormalizeEmail(ev.Email); e != "" {
		keys = append(keys, engine.KeyEmail+e)
	}
	if p := engine.NormalizePhone(ev.Phone); p != "" {
		keys = append(keys, engine.KeyPhone+p)
	}
	return s.cfg.Store.ContactByKeys(ws, keys)
}
