package meta

import (
	"strings"

	"github.com/parleyhq/parley/engine"
)

// waReferral is the referral object of a WhatsApp message that came from
// a click-to-WhatsApp ad or post.
type waReferral struct {
	SourceURL  string `json:"source_url"`
	SourceID   string `json:"source_id"`
	SourceType string `json:"source_type"` // ad, post
	Headline   string `json:"headline"`
	Body       string `json:"body"`
	MediaType  string `json:"media_type"` // image, video
	CtwaClid   string `json:"ctwa_clid"`
}

// campaign maps the referral to an engine campaign, nil when there is
// none or it says nothing: Source the source_type, AdID the source_id,
// URL the source_url, ClickID the ctwa_clid.
func (r *waReferral) campaign() *engine.Campaign {
	if r == nil {
		return nil
	}
	return engine.CleanCampaign(&engine.Campaign{
		Channel:   engine.ChannelWhatsApp,
		Source:    r.SourceType,
		AdID:      r.SourceID,
		URL:       r.SourceURL,
		Headline:  r.Headline,
		Body:      r.Body,
		MediaType: r.MediaType,
		ClickID:   r.CtwaClid,
	})
}

// msReferral is the referral object of Messenger and Instagram: on a
// messaging_referrals event, a message from a click-to-Messenger ad, or
// a Get Started postback.
type msReferral struct {
	Ref        string `json:"ref"`
	Source     string `json:"source"` // ADS, SHORTLINK, MESSENGER_CODE, CUSTOMER_CHAT_PLUGIN...
	AdID       flexID `json:"ad_id"`
	RefererURI string `json:"referer_uri"`
	Ads        *struct {
		AdTitle  string `json:"ad_title"`
		PhotoURL string `json:"photo_url"`
		VideoURL string `json:"video_url"`
		PostID   flexID `json:"post_id"`
	} `json:"ads_context_data"`
}

// campaign maps the referral to an engine campaign (the channel is set
// by the conversation), nil when there is none or it says nothing:
// Source the source in lower case, AdID the ad_id (else the ad's post
// id), Ref the ref, Headline the ad's title, URL the referer_uri (the
// chat plugin's page), MediaType image or video from the ad's media.
func (r *msReferral) campaign() *engine.Campaign {
	if r == nil {
		return nil
	}
	c := engine.Campaign{Source: strings.ToLower(r.Source), AdID: string(r.AdID), Ref: r.Ref, URL: r.RefererURI}
	if a := r.Ads; a != nil {
		c.Headline = a.AdTitle
		if c.AdID == "" {
			c.AdID = string(a.PostID)
		}
		switch {
		case a.VideoURL != "":
			c.MediaType = "video"
		case a.PhotoURL != "":
			c.MediaType = "image"
		}
	}
	return engine.CleanCampaign(&c)
}
