package meta

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/parleyhq/parley/engine"
)

// Webhook objects of Messenger and Instagram deliveries.
const (
	ObjectMessenger = "page"
	ObjectInstagram = "instagram"
)

// Messenger and Instagram share the entry[].messaging[] shape; the wire
// types below serve both and declare only the fields the parser reads.

type msEnvelope struct {
	Object string `json:"object"`
	Entry  []struct {
		ID        string    `json:"id"`
		Messaging []msEvent `json:"messaging"`
	} `json:"entry"`
}

type msParticipant struct {
	ID      string `json:"id"`
	UserRef string `json:"user_ref"`
}

type msEvent struct {
	Sender    msParticipant `json:"sender"`
	Recipient msParticipant `json:"recipient"`
	Timestamp int64         `json:"timestamp"`
	Message   *msMessage    `json:"message"`
	Postback  *struct {
		Mid      string      `json:"mid"`
		Title    string      `json:"title"`
		Payload  string      `json:"payload"`
		Referral *msReferral `json:"referral"`
	} `json:"postback"`
	// Referral is a messaging_referrals event: the user opened the
	// thread from an ad or a link (see referral.go).
	Referral *msReferral `json:"referral"`
	Reaction *struct {
		Mid      string `json:"mid"`
		Action   string `json:"action"`
		Reaction string `json:"reaction"`
		Emoji    string `json:"emoji"`
	} `json:"reaction"`
	Delivery *struct {
		Mids      []string `json:"mids"`
		Watermark int64    `json:"watermark"`
	} `json:"delivery"`
	Read *struct {
		Watermark int64  `json:"watermark"`
		Mid       string `json:"mid"`
	} `json:"read"`
}

type msMessage struct {
	Mid           string      `json:"mid"`
	Text          string      `json:"text"`
	IsEcho        bool        `json:"is_echo"`
	IsDeleted     bool        `json:"is_deleted"`
	IsUnsupported bool        `json:"is_unsupported"`
	Metadata      string      `json:"metadata"`
	Referral      *msReferral `json:"referral"`
	QuickReply    *struct {
		Payload string `json:"payload"`
	} `json:"quick_reply"`
	ReplyTo *struct {
		Mid   string `json:"mid"`
		Story *struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		} `json:"story"`
	} `json:"reply_to"`
	Attachments []msAttachment `json:"attachments"`
}

type msAttachment struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	URL     string `json:"url"`
	Payload *struct {
		URL         string `json:"url"`
		StickerID   flexID `json:"sticker_id"`
		Coordinates *struct {
			Lat  *float64 `json:"lat"`
			Long *float64 `json:"long"`
		} `json:"coordinates"`
	} `json:"payload"`
}

// flexID is an id Meta writes as a JSON integer or string (sticker_id).
type flexID string

var errFlexID = errors.New("id is neither a string nor an integer")

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	if _, err := strconv.ParseUint(string(b), 10, 64); err != nil {
		return errFlexID
	}
	*f = flexID(b)
	return nil
}

// ParseMessenger parses a Messenger webhook delivery (object "page").
//
// Each entry[].messaging[] event becomes:
//   - message: a Message from the user (UserID = sender PSID, AccountID =
//     the page), or with is_echo a Message with Echo set (UserID =
//     recipient, AccountID = sender) carrying message.metadata. See
//     messageContents for the content.
//   - postback: a Message with Interactive{Type: "postback", Title,
//     Payload}, ID = postback.mid, or "postback:<psid>:<timestamp>" for
//     the postbacks older clients send without mid.
//   - reaction: a Message of KindReaction (unreact: empty Emoji) with ID
//     "reaction:<mid>:<sender>:<timestamp>", since a reaction has no mid
//     of its own and one user may react, unreact and react again.
//   - delivery: a Watermark{Status: delivered, At: watermark, MessageIDs:
//     mids}; mids may be absent.
//   - read: a Watermark{Status: read, At: watermark}, or At = the event's
//     timestamp when there is no watermark (Instagram).
//
// A receipt with neither watermark nor mid says nothing and is skipped.
// A message with text and attachments is one Message whose content is the
// first attachment, the text as its caption; further attachments of the
// same message become Messages "<mid>#2", "<mid>#3"... (see contents).
//
// Referrals (an ad, an m.me/ig.me link with a ref, the chat plugin): a
// message's or a postback's own referral object is its Message.Referral;
// a messaging_referrals event (referral without message) gives its
// campaign to the same user's next message or postback in the delivery,
// and is dropped when none follows (Parley keeps a campaign on a
// conversation, and a conversation starts with a message).
//
// Events Parley does not store (optin, message_edit, handover,
// account_linking...) are skipped without error, as are events addressed to
// a user_ref rather than a PSID (checkbox plugin), which belong to no
// conversation. An event whose sender is the account itself (entry.id) is
// treated as the business's own action, like an echo; receipts from the
// business are skipped.
//
// Bad input (see ErrMalformed) fails the whole delivery: a stored event
// without sender, recipient or mid, a message, postback or reaction
// without timestamp, a field of the wrong JSON type.
func ParseMessenger(body []byte) (Batch, error) {
	return parseMessaging(body, ObjectMessenger, engine.ChannelMessenger)
}

// ParseInstagram parses an Instagram Messaging webhook delivery (object
// "instagram"), with the same messaging[] shape and rules as
// ParseMessenger, plus:
//   - messaging_seen (read{mid}) is a Watermark{Status: read, MessageIDs:
//     [mid], At: the event's timestamp}: that message and, in practice, all
//     earlier ones were read. Instagram has no delivery receipts.
//   - A story reply (reply_to.story) keeps the story as ReplyTo
//     "story:<story id>" and, when the message has no media of its own, the
//     story's URL as Media.URL (on a text message too). A story reply with
//     neither text nor attachment is KindUnsupported "story_reply".
//   - A story mention (attachment story_mention) is KindUnsupported
//     "story_mention" with the story's URL in Media.URL and Content.Text.
//   - Image attachments cover GIFs and stickers and stay KindImage.
//   - message_edit events are skipped: the engine has no command to
//     change a stored message, and the original text stays on record.
//   - A message with is_deleted is skipped rather than stored: the engine
//     cannot yet mark a stored message deleted, and storing the deletion
//     as a new message would show text the user took back.
//   - is_unsupported without text or attachment is KindUnsupported
//     "unsupported".
func ParseInstagram(body []byte) (Batch, error) {
	return parseMessaging(body, ObjectInstagram, engine.ChannelInstagram)
}

func parseMessaging(body []byte, object string, ch engine.Channel) (Batch, error) {
	var env msEnvelope
	if err := decode(body, &env); err != nil {
		return Batch{}, err
	}
	if env.Object != object {
		return Batch{}, malformed("object %q is not %q", clip(env.Object, 64), object)
	}
	var b Batch
	refs := map[string]*engine.Campaign{}
	for i := range env.Entry {
		e := &env.Entry[i]
		for j := range e.Messaging {
			if err := e.Messaging[j].appendTo(&b, ch, e.ID, refs); err != nil {
				return Batch{}, err
			}
		}
	}
	return b, nil
}

// appendTo adds what event ev says to b. refs holds the campaigns of the
// delivery's referral events not yet given to a message, by account and
// user: the user's next message in the delivery takes its campaign.
func (ev *msEvent) appendTo(b *Batch, ch engine.Channel, entryID string, refs map[string]*engine.Campaign) error {
	msg := ev.Message
	if msg != nil && msg.IsDeleted {
		msg = nil
	}
	if msg == nil && ev.Postback == nil && ev.Reaction == nil && ev.Delivery == nil && ev.Read == nil &&
		(ev.Referral == nil || ev.Sender.ID == "") {
		return nil // an event kind Parley does not store
	}

	// Who is who: the business sends echoes (and, were Meta to send them,
	// its own reactions); everything else comes from the user.
	fromBusiness := (msg != nil && msg.IsEcho) || (entryID != "" && ev.Sender.ID == entryID)
	biz, user := ev.Recipient, ev.Sender
	if fromBusiness {
		biz, user = ev.Sender, ev.Recipient
	}
	if user.ID == "" && user.UserRef != "" {
		return nil // addressed to a user_ref: no conversation to route to
	}
	userID, err := ident("user id", user.ID, maxIDBytes)
	if err != nil {
		return err
	}
	accountID := biz.ID
	if accountID == "" {
		accountID = entryID
	}
	if accountID, err = ident("account id", accountID, maxIDBytes); err != nil {
		return err
	}
	ts, err := unixMilli("timestamp", ev.Timestamp)
	if err != nil {
		return err
	}
	stamp := strconv.FormatInt(ev.Timestamp, 10)
	key := accountID + "\x00" + userID
	if cp := ev.Referral.campaign(); cp != nil && !fromBusiness {
		refs[key] = cp
	}
	// referral is the campaign of the user's message: its own, else that
	// of a referral event before it in the delivery (taken once).
	referral := func(own *msReferral) *engine.Campaign {
		if fromBusiness {
			return nil
		}
		if cp := own.campaign(); cp != nil {
			return cp
		}
		cp := refs[key]
		delete(refs, key)
		return cp
	}
	message := func(id string, c engine.Content) Message {
		return Message{Channel: ch, AccountID: accountID, UserID: userID, ID: id, Timestamp: ts, Echo: fromBusiness, Content: c}
	}
	if (msg != nil || ev.Postback != nil || ev.Reaction != nil) && ts.IsZero() {
		return malformed("messaging event without timestamp")
	}

	if msg != nil {
		mid, err := ident("message mid", msg.Mid, maxMessageBytes)
		if err != nil {
			return err
		}
		for i, c := range msg.contents() {
			id := mid
			if i > 0 {
				id = synthID("", mid+"#"+strconv.Itoa(i+1))
			}
			m := message(id, c)
			m.Metadata = valid(msg.Metadata)
			if i == 0 {
				m.Referral = referral(msg.Referral)
			}
			b.Messages = append(b.Messages, m)
		}
	}

	if p := ev.Postback; p != nil {
		id := synthID("postback:", userID+":"+stamp)
		if p.Mid != "" {
			if id, err = ident("postback mid", p.Mid, maxMessageBytes); err != nil {
				return err
			}
		}
		m := message(id, engine.Content{
			Kind: engine.KindInteractive,
			Interactive: &engine.Interactive{
				Type: "postback", Title: clipField(p.Title), Payload: clipField(p.Payload),
			},
		})
		m.Referral = referral(p.Referral)
		b.Messages = append(b.Messages, m)
	}

	if r := ev.Reaction; r != nil {
		id := synthID("reaction:", valid(r.Mid)+":"+valid(ev.Sender.ID)+":"+stamp)
		c := unsupported("reaction")
		emoji := r.Emoji
		if emoji == "" {
			emoji = reactionEmoji[r.Reaction]
		}
		switch {
		case r.Mid == "":
		case r.Action == "unreact":
			c = engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{TargetChannelMessageID: clipField(r.Mid)}}
		case emoji != "":
			c = engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{TargetChannelMessageID: clipField(r.Mid), Emoji: clipField(emoji)}}
		}
		b.Messages = append(b.Messages, message(id, c))
	}

	if fromBusiness {
		return nil // receipts for the customer's messages are not tracked
	}
	if d := ev.Delivery; d != nil {
		at, err := unixMilli("delivery watermark", d.Watermark)
		if err != nil {
			return err
		}
		var mids []string
		for _, mid := range d.Mids {
			if mid == "" {
				continue
			}
			if mid, err = ident("delivery mid", mid, maxMessageBytes); err != nil {
				return err
			}
			mids = append(mids, mid)
		}
		if !at.IsZero() || len(mids) > 0 {
			b.Watermarks = append(b.Watermarks, Watermark{
				Channel: ch, AccountID: accountID, UserID: userID,
				Status: engine.StatusDelivered, At: at, MessageIDs: mids,
			})
		}
	}
	if r := ev.Read; r != nil {
		at, err := unixMilli("read watermark", r.Watermark)
		if err != nil {
			return err
		}
		if at.IsZero() {
			at = ts // Instagram's messaging_seen has no watermark
		}
		var mids []string
		if r.Mid != "" {
			mid, err := ident("read mid", r.Mid, maxMessageBytes)
			if err != nil {
				return err
			}
			mids = []string{mid}
		}
		if !at.IsZero() || len(mids) > 0 {
			b.Watermarks = append(b.Watermarks, Watermark{
				Channel: ch, AccountID: accountID, UserID: userID,
				Status: engine.StatusRead, At: at, MessageIDs: mids,
			})
		}
	}
	return nil
}

// reactionEmoji names the emoji of Messenger's reaction names, for a
// reaction sent without its emoji.
var reactionEmoji = map[string]string{
	"like":  "\U0001F44D",
	"love":  "\u2764\uFE0F",
	"smile": "\U0001F606",
	"wow":   "\U0001F62E",
	"sad":   "\U0001F622",
	"angry": "\U0001F620",
}

// contents maps a message to the content of the Messages it becomes:
// usually one, one per attachment when it has several.
//
//   - Attachments: the first attachment's content, with the text as its
//     caption (as Content.Text when the kind has no caption or the text is
//     longer than a caption may be). Messenger sends several photos of one
//     message as one mid: each further attachment becomes a Message of its
//     own with ID "<mid>#2", "<mid>#3"... so none is lost.
//   - quick_reply: Interactive{Type: "quick_reply", Payload}, the tapped
//     text as Title.
//   - text: KindText.
//   - Nothing usable: KindUnsupported "story_reply" (a bare story reply),
//     "unsupported" (is_unsupported) or "empty".
//
// reply_to.mid becomes the first content's ReplyTo; for story replies see
// ParseInstagram.
func (m *msMessage) contents() []engine.Content {
	var out []engine.Content
	hasText := strings.TrimSpace(m.Text) != ""
	switch {
	case len(m.Attachments) > 0:
		out = make([]engine.Content, len(m.Attachments))
		for i := range m.Attachments {
			out[i] = m.Attachments[i].content()
		}
		if hasText {
			c := &out[0]
			if c.Kind.HasMedia() && c.Media != nil && len(m.Text) <= engine.MaxFieldBytes {
				c.Media.Caption = clipField(m.Text)
			} else {
				c.Text = clipText(m.Text)
			}
		}
	case m.QuickReply != nil:
		out = []engine.Content{{Kind: engine.KindInteractive, Interactive: &engine.Interactive{
			Type: "quick_reply", Title: clipField(m.Text), Payload: clipField(m.QuickReply.Payload),
		}}}
	case hasText:
		out = []engine.Content{{Kind: engine.KindText, Text: clipText(m.Text)}}
	case m.ReplyTo != nil && m.ReplyTo.Story != nil:
		out = []engine.Content{unsupported("story_reply")}
	case m.IsUnsupported:
		out = []engine.Content{unsupported("unsupported")}
	default:
		out = []engine.Content{unsupported("empty")}
	}
	if rt := m.ReplyTo; rt != nil {
		c := &out[0]
		switch {
		case rt.Mid != "":
			c.ReplyTo = clipField(rt.Mid)
		case rt.Story != nil:
			if rt.Story.ID != "" {
				c.ReplyTo = clipField("story:" + rt.Story.ID)
			}
			if rt.Story.URL != "" && c.Media == nil {
				c.Media = &engine.Media{URL: clipField(rt.Story.URL)}
			}
		}
	}
	return out
}

var attachmentKinds = map[string]engine.MessageKind{
	"image": engine.KindImage, "sticker": engine.KindSticker, "video": engine.KindVideo,
	"audio": engine.KindAudio, "file": engine.KindDocument,
}

// content maps one attachment. Media kinds keep payload.url as Media.URL
// (and a sticker's sticker_id as Media.Ref); Messenger's image with a
// sticker_id is a sticker (the 2026 transition). A legacy location with
// coordinates is a KindLocation. Any other type (fallback, share, reel,
// ig_reel, post, ig_post, story, template, appointment_booking...) and a
// media attachment without url is KindUnsupported "attachment:<type>", its
// URL (if any) kept in Media.URL and as Content.Text.
func (a *msAttachment) content() engine.Content {
	url, sticker := a.URL, ""
	if p := a.Payload; p != nil {
		if p.URL != "" {
			url = p.URL
		}
		sticker = string(p.StickerID)
	}
	typ := "attachment:" + a.Type
	var c engine.Content
	switch a.Type {
	case "image", "sticker", "video", "audio", "file":
		if url == "" && sticker == "" {
			c = unsupported(typ)
			break
		}
		kind := attachmentKinds[a.Type]
		if sticker != "" {
			kind = engine.KindSticker
		}
		return engine.Content{Kind: kind, Media: &engine.Media{URL: clipField(url), Ref: clipField(sticker)}}
	case "location":
		if p := a.Payload; p != nil && p.Coordinates != nil && validLatLng(p.Coordinates.Lat, p.Coordinates.Long) {
			return engine.Content{Kind: engine.KindLocation, Location: &engine.Location{
				Latitude: *p.Coordinates.Lat, Longitude: *p.Coordinates.Long, Name: clipField(a.Title),
			}}
		}
		c = unsupported(typ)
	case "story_mention":
		c = unsupported(a.Type)
	case "":
		c = unsupported("attachment")
	default:
		c = unsupported(typ)
	}
	if url != "" {
		c.Media = &engine.Media{URL: clipField(url)}
		c.Text = clipText(url)
	}
	return c
}
