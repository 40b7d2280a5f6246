package meta_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
)

// The referral objects of Meta's documented payloads map to the message's
// campaign: WhatsApp's click-to-WhatsApp ad, Messenger's ad (message
// referral), m.me link (referral event, given to the user's next
// message only) and chat plugin (postback referral).
func TestParseReferrals(t *testing.T) {
	t.Parallel()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		return b
	}

	b, err := meta.ParseWhatsApp(read("wa_referral.json"))
	require.NoError(t, err)
	requireValid(t, b)
	require.Len(t, b.Messages, 1)
	require.Equal(t, &engine.Campaign{
		Channel: engine.ChannelWhatsApp, Source: "ad", AdID: "120208000000000001",
		URL: "https://fb.me/3cr4Wqqkv", Headline: "Spring sale: 20% off", Body: "Tap to chat with us", MediaType: "image",
		ClickID: "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a",
	}, b.Messages[0].Referral)

	b, err = meta.ParseMessenger(read("fb_referral_ad.json"))
	require.NoError(t, err)
	require.Len(t, b.Messages, 1)
	require.Equal(t, &engine.Campaign{Source: "ads", AdID: "6045246247433", Ref: "spring", Headline: "Spring sale", MediaType: "image"},
		b.Messages[0].Referral)

	b, err = meta.ParseMessenger(read("fb_referral_shortlink.json"))
	require.NoError(t, err)
	requireValid(t, b)
	got := map[string]*engine.Campaign{}
	for _, m := range b.Messages {
		got[m.ID] = m.Referral
	}
	require.Equal(t, map[string]*engine.Campaign{
		"m_OTHERUSER":  nil, // another user: not theirs
		"m_GETSTARTED": {Source: "customer_chat_plugin", Ref: "website-footer", URL: "https://shop.example/contact"},
		"m_AFTERLINK":  {Source: "shortlink", Ref: "newsletter-june"}, // the referral event before it
		"m_LATER":      nil,                                           // taken once
	}, got)

	// A referral event alone gives no message (the conversation starts
	// with one), and an echo never takes the user's campaign.
	b, err = meta.ParseInstagram(read("ig_referral.json"))
	require.NoError(t, err)
	require.Empty(t, b.Messages)
	b, err = meta.ParseMessenger([]byte(`{"object":"page","entry":[{"id":"1","messaging":[
		{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"referral":{"ref":"r","source":"SHORTLINK"}},
		{"sender":{"id":"1"},"recipient":{"id":"2"},"timestamp":2,"message":{"mid":"e","is_echo":true,"text":"hi"}},
		{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":3,"message":{"mid":"m","text":"yo","referral":{"ad_id":123,"source":"ADS"}}}]}]}`))
	require.NoError(t, err)
	require.Len(t, b.Messages, 2)
	require.Nil(t, b.Messages[0].Referral)
	require.Equal(t, &engine.Campaign{Source: "ads", AdID: "123"}, b.Messages[1].Referral, "its own referral wins; ad_id as a number")
	require.Equal(t, time.UnixMilli(3).UTC(), b.Messages[1].Timestamp)

	// A referral of the wrong JSON type is malformed, like any field.
	_, err = meta.ParseWhatsApp([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":
		{"metadata":{"phone_number_id":"1"},"messages":[{"from":"2","id":"w","timestamp":"1","type":"text","text":{"body":"x"},"referral":"ad"}]}}]}]}`))
	require.ErrorIs(t, err, meta.ErrMalformed)
}
