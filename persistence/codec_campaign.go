package persistence

import "github.com/parleyhq/parley/engine"

// Campaign fields (a conversation's cfCampaign). Append only.
const (
	campSource = iota + 1
	campAdID
	campRef
	campHeadline
	campBody
	campURL
	campMediaType
	campClickID
	campChannel
	campAt
)

// appendCampaign writes campaign c, if any, as nested field n.
func appendCampaign(e *wenc, n uint64, c *engine.Campaign) {
	if c == nil {
		return
	}
	e.nested(n, func(e *wenc) {
		e.str(campSource, c.Source)
		e.str(campAdID, c.AdID)
		e.str(campRef, c.Ref)
		e.str(campHeadline, c.Headline)
		e.str(campBody, c.Body)
		e.str(campURL, c.URL)
		e.str(campMediaType, c.MediaType)
		e.str(campClickID, c.ClickID)
		e.enum(campChannel, string(c.Channel), channelCodes)
		e.time(campAt, c.At)
	})
}

func readCampaign(d *wdec) *engine.Campaign {
	c := new(engine.Campaign)
	d.getNested(func(d *wdec, n uint64) {
		switch n {
		case campSource:
			c.Source = d.getStr()
		case campAdID:
			c.AdID = d.getStr()
		case campRef:
			c.Ref = d.getStr()
		case campHeadline:
			c.Headline = d.getStr()
		case campBody:
			c.Body = d.getStr()
		case campURL:
			c.URL = d.getStr()
		case campMediaType:
			c.MediaType = d.getStr()
		case campClickID:
			c.ClickID = d.getStr()
		case campChannel:
			c.Channel = engine.Channel(d.getEnum(channelCodes))
		case campAt:
			c.At = d.getTime()
		default:
			d.skip()
		}
	})
	return c
}
