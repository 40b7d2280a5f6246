package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// waFromAd is a WhatsApp text message from user wa that came through a
// click-to-WhatsApp ad (the documented referral object).
func waFromAd(wamid, wa, adID, text string) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Ad Clicker"},"wa_id":"%s"}],"messages":[{"referral":{"source_url":"https://fb.me/spring","source_id":"%s","source_type":"ad","headline":"Spring sale","body":"20%% off","media_type":"image","image_url":"https://x/ad.jpg","ctwa_clid":"CLID-1"},"from":"%s","id":"%s","timestamp":"1750000000","type":"text","text":{"body":%q}}]}}]}]}`,
		phoneID, wa, adID, wa, wamid, text)
}

// A referral's ad id becomes the conversation's campaign, filters the
// inbox list, is listed by GET /api/v1/campaigns, and becomes the
// contact's first touch (kept when a later campaign brings the same
// person); Messenger's m.me link ref works the same way.
func TestCampaignFromAReferral(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	code, body := e.webhook(engine.ChannelWhatsApp, waFromAd("wamid.ad.1", "15558880101", "120208000000000001", "is the sale on?"))
	require.Equal(t, http.StatusOK, code, string(body))
	code, _ = e.webhook(engine.ChannelWhatsApp, waText("wamid.plain.1", "15558880102", "Plain", "hello"))
	require.Equal(t, http.StatusOK, code)
	fromAd := e.thread(engine.ChannelWhatsApp, phoneID, "15558880101")

	c := e.conv(fromAd)
	require.NotNil(t, c.Campaign)
	require.Equal(t, "120208000000000001", c.Campaign.AdID)
	require.Equal(t, "ad", c.Campaign.Source)
	require.Equal(t, "Spring sale", c.Campaign.Headline)
	require.Equal(t, "https://fb.me/spring", c.Campaign.URL)
	require.Equal(t, "CLID-1", c.Campaign.ClickID)
	require.Equal(t, engine.ChannelWhatsApp, c.Campaign.Channel)

	page := e.list("campaign=120208000000000001")
	require.Len(t, page.Conversations, 1)
	require.Equal(t, fromAd, page.Conversations[0].ID)
	require.Len(t, e.list("").Conversations, 2)
	require.Empty(t, e.list("campaign=other").Conversations)

	// The contact's first touch, through its actor (after the commit).
	var contact struct {
		Campaign *engine.Campaign `json:"campaign"`
	}
	contactOf := func() *engine.Campaign {
		code, body := e.api("GET", "/api/v1/contacts/"+c.ContactID.String(), ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		contact.Campaign = nil
		require.NoError(t, json.Unmarshal(body, &contact))
		return contact.Campaign
	}
	require.Eventually(t, func() bool { return contactOf() != nil }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "120208000000000001", contactOf().AdID)

	// A later ad brings the same person: the conversation shows the newest,
	// the contact keeps the first.
	code, _ = e.webhook(engine.ChannelWhatsApp, waFromAd("wamid.ad.2", "15558880101", "AD-2", "and this one?"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "AD-2", e.conv(fromAd).Campaign.AdID)
	require.Len(t, e.list("campaign=AD-2").Conversations, 1)
	require.Empty(t, e.list("campaign=120208000000000001").Conversations)

	// Messenger: a referral event from an m.me link, then the message.
	msgr := fmt.Sprintf(`{"object":"page","entry":[{"id":"%s","time":1750000000000,"messaging":[
		{"sender":{"id":"PSID_REF"},"recipient":{"id":"%s"},"timestamp":1750000000000,"referral":{"ref":"newsletter june","source":"SHORTLINK","type":"OPEN_THREAD"}},
		{"sender":{"id":"PSID_REF"},"recipient":{"id":"%s"},"timestamp":1750000000001,"message":{"mid":"m_ref_1","text":"hi from the newsletter"}}]}]}`,
		pageID, pageID, pageID)
	code, body = e.webhook(engine.ChannelMessenger, msgr)
	require.Equal(t, http.StatusOK, code, string(body))
	page = e.list("campaign=" + url.QueryEscape("newsletter june"))
	require.Len(t, page.Conversations, 1)
	require.Equal(t, "shortlink", page.Conversations[0].Campaign.Source)
	require.Equal(t, engine.ChannelMessenger, page.Conversations[0].Campaign.Channel)

	// The list of campaigns seen, every folder.
	code, _ = e.api("POST", "/api/v1/conversations/"+fromAd.String()+"/folder", ownerToken, map[string]string{"folder": "solved"})
	require.Equal(t, http.StatusOK, code)
	code, body = e.api("GET", "/api/v1/campaigns", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"campaigns":[{"campaign":"AD-2","conversations":1},{"campaign":"newsletter june","conversations":1}]}`, string(body))
	require.Len(t, e.list("folder=solved&campaign=AD-2").Conversations, 1)

	// Durable: the campaign and its index survive a restart.
	e.stop()
	e.start()
	require.Equal(t, "AD-2", e.conv(fromAd).Campaign.AdID)
	require.Len(t, e.list("folder=solved&campaign=AD-2").Conversations, 1)

	// A campaign too long or not UTF-8 is a 400.
	for _, q := range []string{"campaign=%ff", "campaign=" + strings.Repeat("a", engine.MaxCampaignKeyBytes+1)} {
		code, body = e.api("GET", "/api/v1/conversations?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, string(body))
		require.Equal(t, "bad_query", errorCode(t, body))
	}
}
