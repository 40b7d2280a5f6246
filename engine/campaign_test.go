package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func TestCleanCampaign(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", engine.MaxCampaignKeyBytes)
	tests := []struct {
		name    string
		in      *engine.Campaign
		want    *engine.Campaign
		wantKey string
	}{
		{name: "nil", in: nil, want: nil},
		{name: "nothing said", in: &engine.Campaign{Channel: engine.ChannelWhatsApp}, want: nil},
		{name: "ad", in: &engine.Campaign{Source: " ADS ", AdID: "120200", Headline: "Spring sale"},
			want: &engine.Campaign{Source: "ads", AdID: "120200", Headline: "Spring sale"}, wantKey: "120200"},
		{name: "ref only", in: &engine.Campaign{Source: "SHORTLINK", Ref: "summer"},
			want: &engine.Campaign{Source: "shortlink", Ref: "summer"}, wantKey: "summer"},
		{name: "ad id wins over ref", in: &engine.Campaign{AdID: "9", Ref: "r"},
			want: &engine.Campaign{AdID: "9", Ref: "r"}, wantKey: "9"},
		{name: "url only: kept, no key", in: &engine.Campaign{URL: "https://fb.me/x"},
			want: &engine.Campaign{URL: "https://fb.me/x"}},
		{name: "bad UTF-8 and oversize cut", in: &engine.Campaign{AdID: "\xff" + long},
			want:    &engine.Campaign{AdID: "\uFFFD" + strings.Repeat("é", (engine.MaxCampaignKeyBytes-3)/2)},
			wantKey: "\uFFFD" + strings.Repeat("é", (engine.MaxCampaignKeyBytes-3)/2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := engine.CleanCampaign(tc.in)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.wantKey, got.Key())
			if got != nil {
				require.LessOrEqual(t, len(got.AdID), engine.MaxCampaignKeyBytes)
			}
		})
	}
}

// A referral on a customer message becomes the conversation's campaign;
// a later message without one keeps it, and a later referral replaces it
// (the conversation shows the newest touch).
func TestReceiveKeepsTheReferral(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := h.do(engine.Receive{ChannelMessageID: "m1", Content: txt("hi"),
		Referral: &engine.Campaign{Source: "ad", AdID: "ad-1", Headline: "Spring sale", ClickID: "clid"}}, at(time.Minute))
	require.Equal(t, &engine.Campaign{Source: "ad", AdID: "ad-1", Headline: "Spring sale", ClickID: "clid",
		Channel: engine.ChannelWhatsApp, At: at(time.Minute)}, res.Conversation.Campaign)
	require.True(t, hasEvent(res, engine.EventConversationUpdated))

	res = h.do(engine.Receive{ChannelMessageID: "m2", Content: txt("still there?")}, at(2*time.Minute))
	require.Equal(t, "ad-1", res.Conversation.Campaign.Key())

	res = h.do(engine.Receive{ChannelMessageID: "m3", Content: txt("again"),
		Referral: &engine.Campaign{Source: "shortlink", Ref: "newsletter"}}, at(3*time.Minute))
	require.Equal(t, "newsletter", res.Conversation.Campaign.Key())
	require.Equal(t, at(3*time.Minute), res.Conversation.Campaign.At)

	// A blocked contact's referral is kept for the record too.
	h.do(engine.SetBlocked{Blocked: true}, at(4*time.Minute))
	res = h.do(engine.Receive{ChannelMessageID: "m4", Content: txt("x"), Referral: &engine.Campaign{AdID: "ad-2"}}, at(5*time.Minute))
	require.Equal(t, "ad-2", res.Conversation.Campaign.Key())
}

func TestFirstTouch(t *testing.T) {
	t.Parallel()
	first := &engine.Campaign{Source: "ad", AdID: "a1", At: t0}
	c, changed := engine.FirstTouch(engine.Contact{}, first, at(time.Minute))
	require.True(t, changed)
	require.Equal(t, first, c.Campaign)
	require.Equal(t, at(time.Minute), c.UpdatedAt)
	c2, changed := engine.FirstTouch(c, &engine.Campaign{Source: "ad", AdID: "a2", At: at(time.Hour)}, at(time.Hour))
	require.False(t, changed, "the first touch stays")
	require.Equal(t, "a1", c2.Campaign.Key())
	_, changed = engine.FirstTouch(engine.Contact{}, nil, t0)
	require.False(t, changed)

	// A merge keeps the earlier first touch of the two.
	later := engine.Contact{Campaign: &engine.Campaign{AdID: "late", At: at(time.Hour)}}
	early := engine.Contact{Campaign: &engine.Campaign{AdID: "early", At: t0}}
	require.Equal(t, "early", engine.MergeContact(later, early, t0).Campaign.Key())
	require.Equal(t, "early", engine.MergeContact(early, later, t0).Campaign.Key())
	require.Equal(t, "late", engine.MergeContact(engine.Contact{}, later, t0).Campaign.Key())
}
