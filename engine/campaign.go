package engine

import (
	"strings"
	"time"
)

// Campaign is where a conversation came from: the ad, post or link the
// customer followed before writing (attribution). The channels fill it
// from Meta's referral objects (a click-to-WhatsApp ad, a click-to-Messenger
// ad, an m.me link with a ref); the web chat widget will fill it from the
// page's UTM parameters, Source "web", Ref the utm_campaign and URL the
// page. A conversation keeps the newest campaign its customer came
// through; a contact keeps the first (Contact.Campaign, first touch).
type Campaign struct {
	// Source is the kind of entry point, lower case: "ad", "post",
	// "shortlink", "customer_chat_plugin"... as the channel names it.
	Source string `json:"source"`
	// AdID is the ad (or post) id: WhatsApp's source_id, Messenger's and
	// Instagram's ad_id.
	AdID string `json:"ad_id,omitempty"`
	// Ref is the ref parameter of a link (m.me/page?ref=...) or an ad.
	Ref       string `json:"ref,omitempty"`
	Headline  string `json:"headline,omitempty"`
	Body      string `json:"body,omitempty"`
	URL       string `json:"url,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	// ClickID is WhatsApp's ctwa_clid, the click's id for conversion
	// reporting.
	ClickID string `json:"click_id,omitempty"`
	// Channel is where the customer came in through.
	Channel Channel `json:"channel,omitempty"`
	// At is when the campaign brought the customer (the message's commit).
	At time.Time `json:"at"`
}

// MaxCampaignKeyBytes caps a campaign's AdID and Ref: they name the
// campaign in the list index and in filters.
const MaxCampaignKeyBytes = 256

// Key is what the inbox's Campaign filter names the campaign by: the ad
// id, else the ref; empty when the referral carried neither (it is kept
// on the conversation but cannot be filtered on).
func (c *Campaign) Key() string {
	if c == nil {
		return ""
	}
	if c.AdID != "" {
		return c.AdID
	}
	return c.Ref
}

// CleanCampaign returns c with every field valid UTF-8 and cut to size
// (the key fields to MaxCampaignKeyBytes, the rest to MaxFieldBytes) and
// the source in lower case; nil when c says nothing at all. The fields
// are outside input, so they are cut rather than refused: a referral
// never makes a customer's message fail.
func CleanCampaign(c *Campaign) *Campaign {
	if c == nil {
		return nil
	}
	clean := func(s string, n int) string {
		return truncateBytes(strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD")), n)
	}
	out := Campaign{
		Source:    strings.ToLower(clean(c.Source, MaxTagBytes)),
		AdID:      clean(c.AdID, MaxCampaignKeyBytes),
		Ref:       clean(c.Ref, MaxCampaignKeyBytes),
		Headline:  clean(c.Headline, MaxFieldBytes),
		Body:      clean(c.Body, MaxFieldBytes),
		URL:       clean(c.URL, MaxFieldBytes),
		MediaType: clean(c.MediaType, MaxTagBytes),
		ClickID:   clean(c.ClickID, MaxFieldBytes),
		Channel:   c.Channel,
		At:        c.At,
	}
	if out == (Campaign{Channel: c.Channel, At: c.At}) {
		return nil
	}
	return &out
}

// FirstTouch gives contact c the campaign cp when it has none yet (the
// first campaign that brought the person is the contact's source),
// updated at now. It reports whether c changed.
func FirstTouch(c Contact, cp *Campaign, now time.Time) (Contact, bool) {
	if cp == nil || c.Campaign != nil {
		return c, false
	}
	v := *cp
	c.Campaign, c.UpdatedAt = &v, now
	return c, true
}
