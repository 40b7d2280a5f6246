package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// The provider's events change a contact's paid access in the order the
// provider created them, each once.
func TestApplySubscription(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	start := func(id string, at time.Time) engine.SubscriptionChange {
		return engine.SubscriptionChange{Active: true, Provider: engine.ProviderStripe, CustomerID: "cus_1",
			SubscriptionID: "sub_1", EventID: id, EventAt: at}
	}
	end := func(id string, at time.Time) engine.SubscriptionChange {
		return engine.SubscriptionChange{Provider: engine.ProviderStripe, CustomerID: "cus_1", EventID: id, EventAt: at}
	}
	tests := []struct {
		name       string
		events     []engine.SubscriptionChange
		wantActive bool
		wantChange []bool // per event: whether it changed the contact
	}{
		{name: "checkout", events: []engine.SubscriptionChange{start("evt_1", t0)}, wantActive: true, wantChange: []bool{true}},
		{name: "redelivered", events: []engine.SubscriptionChange{start("evt_1", t0), start("evt_1", t0)},
			wantActive: true, wantChange: []bool{true, false}},
		{name: "cancelled", events: []engine.SubscriptionChange{start("evt_1", t0), end("evt_2", t0.Add(time.Hour))},
			wantActive: false, wantChange: []bool{true, true}},
		{name: "a late checkout does not undo a cancellation",
			events:     []engine.SubscriptionChange{end("evt_2", t0.Add(time.Hour)), start("evt_1", t0)},
			wantActive: false, wantChange: []bool{true, false}},
		{name: "a redelivery in the same second as a newer event changes nothing",
			events:     []engine.SubscriptionChange{start("evt_1", t0), end("evt_2", t0), start("evt_1", t0)},
			wantActive: false, wantChange: []bool{true, true, false}},
		{name: "subscribes again", events: []engine.SubscriptionChange{start("evt_1", t0), end("evt_2", t0.Add(time.Hour)),
			start("evt_3", t0.Add(2*time.Hour))}, wantActive: true, wantChange: []bool{true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := engine.Contact{Source: engine.SourceChat}
			now := t0.Add(3 * time.Hour)
			for i, ev := range tt.events {
				require.NoError(t, ev.Validate())
				before := c
				next, changed := engine.ApplySubscription(c, ev, now)
				require.Equal(t, tt.wantChange[i], changed, "event %d", i)
				if !changed {
					require.Equal(t, before, next)
				}
				c = next
			}
			require.Equal(t, tt.wantActive, c.IsSubscriber())
			require.Equal(t, tt.wantActive, engine.RestrictionAdmits(engine.RestrictToPaid, &c))
			require.Equal(t, "cus_1", c.Subscription.CustomerID)
			require.Contains(t, engine.ContactKeys(&c), engine.KeyStripeCustomer+"cus_1")
		})
	}
}

func TestApplySubscriptionRemembersBoundedEvents(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var c engine.Contact
	for i := range 3 * engine.MaxSubscriptionEvents {
		var changed bool
		c, changed = engine.ApplySubscription(c, engine.SubscriptionChange{Active: i%2 == 0, Provider: engine.ProviderStripe,
			EventID: "evt_" + strings.Repeat("x", i+1), EventAt: t0.Add(time.Duration(i) * time.Second)}, t0)
		require.True(t, changed)
	}
	require.Len(t, c.Subscription.Seen, engine.MaxSubscriptionEvents)
}

func TestRestrictionAdmits(t *testing.T) {
	t.Parallel()
	chat := &engine.Contact{Source: engine.SourceChat}
	crm := &engine.Contact{Source: engine.SourceManual}
	paying := &engine.Contact{Source: engine.SourceChat, Subscription: &engine.Subscription{Active: true}}
	lapsed := &engine.Contact{Source: engine.SourceManual, Subscription: &engine.Subscription{Active: false}}
	tests := []struct {
		to   string
		c    *engine.Contact
		want bool
	}{
		{"", nil, false}, {"", chat, false}, {"", crm, true}, {engine.RestrictToCRM, crm, true},
		{engine.RestrictToCRM, paying, false}, {engine.RestrictToPaid, nil, false}, {engine.RestrictToPaid, crm, false},
		{engine.RestrictToPaid, paying, true}, {engine.RestrictToPaid, lapsed, false},
	}
	for i, tt := range tests {
		require.Equal(t, tt.want, engine.RestrictionAdmits(tt.to, tt.c), "case %d", i)
	}
}

func TestSubscriptionChangeValidate(t *testing.T) {
	t.Parallel()
	ok := engine.SubscriptionChange{Provider: engine.ProviderStripe, EventID: "evt_1", EventAt: time.Unix(1, 0)}
	require.NoError(t, ok.Validate())
	for name, ch := range map[string]engine.SubscriptionChange{
		"no event id":    {Provider: engine.ProviderStripe, EventAt: time.Unix(1, 0)},
		"no time":        {Provider: engine.ProviderStripe, EventID: "evt_1"},
		"no provider":    {EventID: "evt_1", EventAt: time.Unix(1, 0)},
		"long customer":  {Provider: engine.ProviderStripe, EventID: "evt_1", EventAt: time.Unix(1, 0), CustomerID: strings.Repeat("c", engine.MaxCampaignKeyBytes+1)},
		"invalid UTF-8":  {Provider: engine.ProviderStripe, EventID: "evt_\xff", EventAt: time.Unix(1, 0)},
		"long event id":  {Provider: engine.ProviderStripe, EventID: strings.Repeat("e", engine.MaxCampaignKeyBytes+1), EventAt: time.Unix(1, 0)},
		"long subscript": {Provider: engine.ProviderStripe, EventID: "evt_1", EventAt: time.Unix(1, 0), SubscriptionID: strings.Repeat("s", 300)},
	} {
		require.ErrorIs(t, ch.Validate(), engine.ErrInvalid, name)
	}
}

// Paid access survives a merge, whichever side held it.
func TestMergeKeepsPaidAccess(t *testing.T) {
	t.Parallel()
	merged := func(a, b engine.Contact) *engine.Contact { m := engine.MergeContact(a, b, crmNow); return &m }
	paying := engine.Contact{Source: engine.SourceChat, Subscription: &engine.Subscription{Active: true, CustomerID: "cus_9"}}
	other := engine.Contact{Source: engine.SourceManual}
	require.True(t, merged(other, paying).IsSubscriber())
	require.True(t, merged(paying, other).IsSubscriber())
	lapsed := engine.Contact{Subscription: &engine.Subscription{Active: false}}
	require.True(t, merged(lapsed, paying).IsSubscriber())
	require.True(t, merged(paying, lapsed).IsSubscriber())
}

func TestAgentSettingsRestrictedTo(t *testing.T) {
	t.Parallel()
	for _, to := range []string{"", engine.RestrictToCRM, engine.RestrictToPaid} {
		s := engine.AgentSettings{Kind: engine.AgentRulesKind, RestrictedTo: to}
		require.NoError(t, s.Validate(), to)
	}
	s := engine.AgentSettings{Kind: engine.AgentRulesKind, RestrictedTo: "members"}
	require.ErrorIs(t, s.Validate(), engine.ErrInvalid)
}

func TestAgentSettingsStripeSecretIsTheWorkspaces(t *testing.T) {
	t.Parallel()
	s := engine.AgentSettings{Kind: engine.AgentRulesKind, StripeWebhookSecret: "whsec_1"}
	require.NoError(t, s.Validate())
	s.Channel, s.AccountID = engine.ChannelWhatsApp, "1"
	require.ErrorIs(t, s.Validate(), engine.ErrInvalid)
	s = engine.AgentSettings{Kind: engine.AgentRulesKind, StripeWebhookSecret: strings.Repeat("s", engine.MaxFieldBytes+1)}
	require.ErrorIs(t, s.Validate(), engine.ErrInvalid)
}

func TestRestrictedReplyFor(t *testing.T) {
	t.Parallel()
	c := &engine.Contact{ID: engine.NewID(time.Unix(1, 0))}
	id := c.ID.String()
	for in, want := range map[string]string{
		"Members only": "Members only",
		"https://buy.stripe.com/x?client_reference_id={{contact.id}}": "https://buy.stripe.com/x?client_reference_id=" + id,
		"{{ contact.id }} and {{contact.id}}":                         id + " and " + id,
		"{{contact.name}} {{contact.idx}} {{}}":                       "{{contact.name}} {{contact.idx}} {{}}",
	} {
		require.Equal(t, want, engine.RestrictedReplyFor(in, c), in)
	}
	require.Equal(t, "link ?ref=", engine.RestrictedReplyFor("link ?ref={{contact.id}}", nil))
}
