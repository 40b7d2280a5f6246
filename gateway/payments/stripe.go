// Package payments reads payment providers' webhooks: Stripe's signed
// events about checkouts and subscriptions, which give contacts paid
// access (engine.ApplySubscription).
//
// Stripe signs each delivery in the Stripe-Signature header:
// "t=<unix seconds>,v1=<hex>[,v1=<hex>…]", where each v1 is the
// HMAC-SHA256, keyed with the endpoint's signing secret (whsec_…), of
// "<t>.<the raw body>". Other schemes (v0) are ignored, and a delivery is
// refused when its t is more than Tolerance from now.
package payments

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StripeSignatureHeader is the header Stripe signs its deliveries in.
const StripeSignatureHeader = "Stripe-Signature"

// Tolerance is how far a delivery's signed time may be from now: Stripe's
// own libraries' default, which bounds the replay of a captured delivery.
const Tolerance = 5 * time.Minute

// Stripe event types Parley acts on.
const (
	EventCheckoutCompleted   = "checkout.session.completed"
	EventSubscriptionDeleted = "customer.subscription.deleted"
)

// Signature errors.
var (
	// ErrNoSignature is a delivery without a Stripe-Signature header, or
	// one with no v1 signature in it.
	ErrNoSignature = errors.New("payments: no v1 signature in the Stripe-Signature header")
	// ErrBadHeader is a Stripe-Signature header that cannot be read.
	ErrBadHeader = errors.New("payments: malformed Stripe-Signature header")
	// ErrBadSignature is a signature that does not match the body.
	ErrBadSignature = errors.New("payments: the signature does not match the body and the endpoint secret")
	// ErrStale is a signed time more than Tolerance from now.
	ErrStale = errors.New("payments: the signature's timestamp is more than 5 minutes from now")
)

// maxSignatures bounds the v1 signatures of one header that are tried
// (Stripe sends two while an endpoint secret is being rolled).
const maxSignatures = 8

// VerifyStripe checks the Stripe-Signature header of payload against the
// endpoint secret at now (the caller's clock).
func VerifyStripe(payload []byte, header, secret string, now time.Time) error {
	if header == "" {
		return ErrNoSignature
	}
	if secret == "" {
		return ErrBadSignature
	}
	var ts int64
	var haveTS bool
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadHeader
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return ErrBadHeader
			}
			ts, haveTS = n, true
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size && len(sigs) < maxSignatures {
				sigs = append(sigs, sig)
			}
		}
	}
	if !haveTS {
		return ErrBadHeader
	}
	if len(sigs) == 0 {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return ErrStale
	}
	want := stripeMAC(payload, secret, ts)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrBadSignature
}

func stripeMAC(payload []byte, secret string, ts int64) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}

// SignStripe returns the Stripe-Signature header Stripe would send with
// payload at t for an endpoint with secret (for tests and tools that play
// Stripe).
func SignStripe(payload []byte, secret string, t time.Time) string {
	return fmt.Sprintf("t=%d,v1=%x", t.Unix(), stripeMAC(payload, secret, t.Unix()))
}

// StripeEvent is what Parley reads of one Stripe event.
type StripeEvent struct {
	ID      string
	Type    string
	Created time.Time
	// Handled says Parley acts on the event: a completed and paid (or
	// free) checkout, or a deleted subscription. Other events are
	// acknowledged and ignored.
	Handled bool
	// Active is what the event says of the customer's access: a
	// checkout starts it, a deletion ends it.
	Active bool
	// CustomerID and SubscriptionID are Stripe's ids (cus_…, sub_…).
	CustomerID     string
	SubscriptionID string
	// ClientReferenceID is the checkout's client_reference_id: the
	// business passes the contact's id in its payment link.
	ClientReferenceID string
	// Email, Phone and Name are the checkout's customer details.
	Email, Phone, Name string
}

// stripeID is an expandable field: an id, or the object it names.
type stripeID string

func (s *stripeID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = stripeID(v)
		return nil
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*s = stripeID(o.ID)
	return nil
}

type stripeEnvelope struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

type stripeCheckout struct {
	Customer          stripeID `json:"customer"`
	Subscription      stripeID `json:"subscription"`
	ClientReferenceID string   `json:"client_reference_id"`
	CustomerEmail     string   `json:"customer_email"`
	PaymentStatus     string   `json:"payment_status"`
	CustomerDetails   struct {
		Email string `json:"email"`
		Phone string `json:"phone"`
		Name  string `json:"name"`
	} `json:"customer_details"`
}

type stripeSubscription struct {
	ID       string   `json:"id"`
	Customer stripeID `json:"customer"`
}

// ParseStripeEvent reads a Stripe event (the body of a webhook delivery,
// after VerifyStripe). An event of another type is returned with Handled
// false; a malformed one is an error.
func ParseStripeEvent(payload []byte) (StripeEvent, error) {
	var env stripeEnvelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return StripeEvent{}, fmt.Errorf("reading the Stripe event: %w", err)
	}
	if env.ID == "" || env.Type == "" || env.Created <= 0 || (env.Object != "" && env.Object != "event") {
		return StripeEvent{}, errors.New("a Stripe event needs an id, a type and its created time")
	}
	ev := StripeEvent{ID: env.ID, Type: env.Type, Created: time.Unix(env.Created, 0).UTC()}
	switch env.Type {
	case EventCheckoutCompleted:
		var s stripeCheckout
		if err := json.Unmarshal(env.Data.Object, &s); err != nil {
			return StripeEvent{}, fmt.Errorf("reading the checkout session: %w", err)
		}
		ev.CustomerID, ev.SubscriptionID, ev.ClientReferenceID = string(s.Customer), string(s.Subscription), s.ClientReferenceID
		ev.Email, ev.Phone, ev.Name = s.CustomerDetails.Email, s.CustomerDetails.Phone, s.CustomerDetails.Name
		if ev.Email == "" {
			ev.Email = s.CustomerEmail
		}
		// A checkout paid by a delayed method completes unpaid; its access
		// starts with a later event Parley does not read.
		ev.Handled, ev.Active = s.PaymentStatus != "unpaid", true
		if ev.CustomerID == "" && ev.ClientReferenceID == "" && ev.Email == "" && ev.Phone == "" {
			return StripeEvent{}, errors.New("a checkout session needs a customer, a client_reference_id, an email or a phone")
		}
	case EventSubscriptionDeleted:
		var s stripeSubscription
		if err := json.Unmarshal(env.Data.Object, &s); err != nil {
			return StripeEvent{}, fmt.Errorf("reading the subscription: %w", err)
		}
		if s.Customer == "" {
			return StripeEvent{}, errors.New("a subscription needs its customer")
		}
		ev.CustomerID, ev.SubscriptionID, ev.Handled = string(s.Customer), s.ID, true
	}
	return ev, nil
}
