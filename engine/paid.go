package engine

import (
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Subscription is a contact's paid access as a payment provider reports
// it (Stripe's checkout and subscription events). The provider's events
// are applied in the order it created them, each once (ApplySubscription).
type Subscription struct {
	// Active says the contact pays: the "paid" restricted agent answers
	// it (RestrictionAdmits).
	Active   bool   `json:"active"`
	Provider string `json:"provider"` // "stripe"
	// CustomerID is the provider's customer (Stripe cus_...): the key
	// its later events name the contact by (ContactKeys).
	CustomerID     string `json:"customer_id,omitempty"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	// Since is when the access last became active (zero when it never
	// was).
	Since time.Time `json:"since,omitzero"`
	// EventID and EventAt are the provider's last applied event and when
	// the provider created it.
	EventID string    `json:"event_id"`
	EventAt time.Time `json:"event_at"`
	// Seen are the ids of the last events applied (at
	// most MaxSubscriptionEvents, newest last): a redelivered event
	// changes nothing even after a newer one.
	Seen      []string  `json:"seen,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MaxSubscriptionEvents is how many event ids a Subscription remembers.
const MaxSubscriptionEvents = 16

// ProviderStripe names Stripe as a Subscription's provider.
const ProviderStripe = "stripe"

// KeyStripeCustomer is the contact key of a Stripe customer id.
const KeyStripeCustomer = "stripe:"

// SubscriptionChange is one provider event about a contact's access:
// it starts (Active) or ends.
type SubscriptionChange struct {
	Active         bool
	Provider       string
	CustomerID     string // empty: keep the one known
	SubscriptionID string // empty: keep the one known
	EventID        string
	EventAt        time.Time
}

// Validate checks a change read from outside input.
func (ch SubscriptionChange) Validate() error {
	for name, v := range map[string]string{"provider": ch.Provider, "customer id": ch.CustomerID,
		"subscription id": ch.SubscriptionID, "event id": ch.EventID} {
		if len(v) > MaxCampaignKeyBytes || !utf8.ValidString(v) {
			return fmt.Errorf("%w: %s must be at most %d bytes of text", ErrInvalid, name, MaxCampaignKeyBytes)
		}
	}
	if ch.EventID == "" || ch.Provider == "" || ch.EventAt.IsZero() {
		return fmt.Errorf("%w: a subscription change needs a provider, an event id and its time", ErrInvalid)
	}
	return nil
}

// ApplySubscription applies provider event ch to contact c at now and
// reports whether c changed. An event already applied (same id) or older
// than the last applied one changes nothing: the provider retries and
// does not keep order, and a late "completed" must not undo a
// cancellation.
func ApplySubscription(c Contact, ch SubscriptionChange, now time.Time) (Contact, bool) {
	var s Subscription
	if c.Subscription != nil {
		s = *c.Subscription
		if s.EventID == ch.EventID || slices.Contains(s.Seen, ch.EventID) || ch.EventAt.Before(s.EventAt) {
			return c, false
		}
	}
	s.Seen = append(slices.Clone(s.Seen), ch.EventID)
	if len(s.Seen) > MaxSubscriptionEvents {
		s.Seen = s.Seen[len(s.Seen)-MaxSubscriptionEvents:]
	}
	if ch.Active && !s.Active {
		s.Since = now
	}
	s.Active, s.Provider = ch.Active, ch.Provider
	if ch.CustomerID != "" {
		s.CustomerID = ch.CustomerID
	}
	if ch.SubscriptionID != "" {
		s.SubscriptionID = ch.SubscriptionID
	}
	s.EventID, s.EventAt, s.UpdatedAt = ch.EventID, ch.EventAt, now
	c.Subscription, c.UpdatedAt = &s, now
	return c, true
}

// IsSubscriber reports whether contact c has active paid access.
func (c *Contact) IsSubscriber() bool {
	return c != nil && c.Subscription != nil && c.Subscription.Active
}

// Who a restricted agent answers (AgentSettings.RestrictedTo).
const (
	// RestrictToCRM (the default) admits contacts in the CRM: created by
	// a person, a form, an import or the API, not by a chat.
	RestrictToCRM = "crm"
	// RestrictToPaid admits paying subscribers only.
	RestrictToPaid = "paid"
)

// RestrictionAdmits reports whether an agent restricted to "to" (an
// AgentSettings.RestrictedTo) answers contact c (nil: none found).
func RestrictionAdmits(to string, c *Contact) bool {
	if to == RestrictToPaid {
		return c.IsSubscriber()
	}
	return c != nil && c.Source != SourceChat
}

var contactIDVar = regexp.MustCompile(`\{\{\s*contact\.id\s*\}\}`)

// RestrictedReplyFor is the refusal a restricted agent sends contact c
// (nil: none found): reply with each {{contact.id}} replaced by the
// contact's id, so that a payment link in it (Stripe's
// ?client_reference_id={{contact.id}}) names the contact its checkout
// gives paid access to, whatever channel the customer writes on.
func RestrictedReplyFor(reply string, c *Contact) string {
	id := ""
	if c != nil {
		id = c.ID.String()
	}
	return contactIDVar.ReplaceAllLiteralString(reply, id)
}
