package meta

import (
	"bytes"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/parleyhq/parley/engine"
)

// ObjectWhatsApp is the webhook object of WhatsApp Cloud API deliveries.
const ObjectWhatsApp = "whatsapp_business_account"

// The wire shapes below declare only the fields the parser reads: unknown
// fields are ignored, declared ones must have the documented JSON type.

type waEnvelope struct {
	Object string `json:"object"`
	Entry  []struct {
		// ID is the WhatsApp Business Account's id.
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			// Value is decoded only for field "messages": other fields
			// have shapes of their own and are ignored.
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type waValue struct {
	Metadata struct {
		PhoneNumberID string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []waContact `json:"contacts"`
	Messages []waMessage `json:"messages"`
	Statuses []waStatus  `json:"statuses"`
	Errors   []waError   `json:"errors"`
}

type waContact struct {
	WaID    string `json:"wa_id"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

type waMessage struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Context   *struct {
		ID string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image       *waMedia        `json:"image"`
	Video       *waMedia        `json:"video"`
	Audio       *waMedia        `json:"audio"`
	Document    *waMedia        `json:"document"`
	Sticker     *waMedia        `json:"sticker"`
	Location    *waLocation     `json:"location"`
	Contacts    json.RawMessage `json:"contacts"`
	Interactive *waInteractive  `json:"interactive"`
	Button      *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	Referral *waReferral `json:"referral"`
}

type waMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	URL      string `json:"url"`
	Voice    bool   `json:"voice"`
}

type waLocation struct {
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
	Name      string   `json:"name"`
	Address   string   `json:"address"`
}

type waReply struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

type waInteractive struct {
	Type        string   `json:"type"`
	ButtonReply *waReply `json:"button_reply"`
	ListReply   *waReply `json:"list_reply"`
	NfmReply    *struct {
		Name         string `json:"name"`
		Body         string `json:"body"`
		ResponseJSON string `json:"response_json"`
	} `json:"nfm_reply"`
}

type waStatus struct {
	ID           string    `json:"id"`
	Status       string    `json:"status"`
	Timestamp    string    `json:"timestamp"`
	RecipientID  string    `json:"recipient_id"`
	CallbackData string    `json:"biz_opaque_callback_data"`
	Errors       []waError `json:"errors"`
}

type waError struct {
	Code      int    `json:"code"`
	Subcode   int    `json:"error_subcode"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
	FBTrace string `json:"fbtrace_id"`
}

func (e waError) api() APIError {
	return APIError{
		Code:    e.Code,
		Subcode: e.Subcode,
		Title:   valid(e.Title),
		Message: valid(e.Message),
		Details: valid(e.ErrorData.Details),
		FBTrace: valid(e.FBTrace),
	}
}

// reason is the most human-readable text of the error: Meta advises
// relying on details, titles are being deprecated.
func (e waError) reason() string {
	for _, s := range []string{e.ErrorData.Details, e.Message, e.Title} {
		if s != "" {
			return valid(s)
		}
	}
	return ""
}

// ParseWhatsApp parses a WhatsApp Cloud API webhook delivery (object
// "whatsapp_business_account").
//
// Every entry[].changes[] with field "messages" is read, and those with
// field "message_template_status_update" go to Batch.TemplateStatuses
// (entry.id is the WhatsApp Business Account); other fields
// (account_update...) are skipped without error. Each
// message is routed by value.metadata.phone_number_id (AccountID) and
// matched to its contacts[] element by from == wa_id, never by position,
// for the profile name. A message of a type Parley cannot render (order,
// system, request_welcome, unsupported, or a type Meta adds later) is kept
// as engine.KindUnsupported named by its type; so is a known type whose
// payload is missing or unusable (a text without body, media without id or
// url, a location off the globe, a reaction without target...); an
// interactive reply of an unknown subtype is "interactive:<subtype>".
// Contact cards are kept as the raw JSON array. A nfm_reply (Flow answer)
// is Interactive{ID: flow name, Title: body, Payload: response_json}.
//
// Statuses: the status "played" (a voice note was played) counts as read;
// a status string Parley does not know is skipped. On failure the first
// errors[] element gives ErrorCode (its code in decimal) and ErrorReason
// (error_data.details, else message, else title). value.errors[], which
// are about the account rather than one message, go to Batch.Errors.
//
// Bad input (see ErrMalformed) fails the whole delivery: a message or
// status without id, a message without from, type or account id, a
// timestamp that is not a string of Unix seconds, a field of the wrong
// JSON type.
func ParseWhatsApp(body []byte) (Batch, error) {
	var env waEnvelope
	if err := decode(body, &env); err != nil {
		return Batch{}, err
	}
	if env.Object != ObjectWhatsApp {
		return Batch{}, malformed("object %q is not %q", clip(env.Object, 64), ObjectWhatsApp)
	}
	var b Batch
	for _, entry := range env.Entry {
		for _, change := range entry.Changes {
			if change.Field == "message_template_status_update" {
				u, ok, err := templateStatusOf(entry.ID, change.Value)
				if err != nil {
					return Batch{}, err
				}
				if ok {
					b.TemplateStatuses = append(b.TemplateStatuses, u)
				}
				continue
			}
			if change.Field != "messages" {
				continue
			}
			var v waValue
			if err := decode(change.Value, &v); err != nil {
				return Batch{}, err
			}
			if err := v.appendTo(&b); err != nil {
				return Batch{}, err
			}
		}
	}
	return b, nil
}

func (v *waValue) appendTo(b *Batch) error {
	for _, e := range v.Errors {
		b.Errors = append(b.Errors, e.api())
	}
	if len(v.Messages) == 0 && len(v.Statuses) == 0 {
		return nil
	}
	account, err := ident("metadata.phone_number_id", v.Metadata.PhoneNumberID, maxIDBytes)
	if err != nil {
		return err
	}
	// Match on from == wa_id, not on array position: one value can carry
	// several contacts and messages. The first contact of a wa_id wins.
	contacts := make(map[string]*waContact, len(v.Contacts))
	for i := range v.Contacts {
		c := &v.Contacts[i]
		if _, dup := contacts[c.WaID]; !dup && c.WaID != "" {
			contacts[c.WaID] = c
		}
	}
	for i := range v.Messages {
		m, err := waMessageOf(&v.Messages[i], account, contacts[v.Messages[i].From])
		if err != nil {
			return err
		}
		b.Messages = append(b.Messages, m)
	}
	for i := range v.Statuses {
		s, ok, err := waStatusOf(&v.Statuses[i], account)
		if err != nil {
			return err
		}
		if ok {
			b.Statuses = append(b.Statuses, s)
		}
	}
	return nil
}

// waMessageOf maps one messages[] element; c is its contact, if any.
func waMessageOf(wm *waMessage, account string, c *waContact) (Message, error) {
	id, err := ident("message id", wm.ID, maxMessageBytes)
	if err != nil {
		return Message{}, err
	}
	from, err := ident("message from", wm.From, maxIDBytes)
	if err != nil {
		return Message{}, err
	}
	if wm.Type == "" {
		return Message{}, malformed("message %s without type", id)
	}
	ts, err := unixString("message timestamp", wm.Timestamp)
	if err != nil {
		return Message{}, err
	}
	if raw := bytes.TrimSpace(wm.Contacts); len(raw) > 0 && raw[0] != '[' && string(raw) != "null" {
		return Message{}, malformed("message %s: contacts is not an array", id)
	}
	m := Message{
		Channel:   engine.ChannelWhatsApp,
		AccountID: account,
		UserID:    from,
		UserPhone: from,
		ID:        id,
		Timestamp: ts,
		Content:   wm.content(),
	}
	if c != nil {
		m.UserID = from // c.WaID == wm.From
		m.UserName = clip(c.Profile.Name, maxIDBytes)
	}
	if wm.Context != nil {
		m.Content.ReplyTo = clipField(wm.Context.ID)
	}
	m.Referral = wm.Referral.campaign()
	return m, nil
}

// content maps the message's type and payload to engine content.
func (wm *waMessage) content() engine.Content {
	media := func(kind engine.MessageKind, p *waMedia) engine.Content {
		if p == nil || (p.ID == "" && p.URL == "") {
			return unsupported(wm.Type)
		}
		return engine.Content{Kind: kind, Media: &engine.Media{
			Ref:      clipField(p.ID),
			URL:      clipField(p.URL),
			MimeType: clipField(p.MimeType),
			SHA256:   clipField(p.SHA256),
			Caption:  clipField(p.Caption),
			Filename: clipField(p.Filename),
			Voice:    p.Voice,
		}}
	}
	switch wm.Type {
	case "text":
		if wm.Text == nil || strings.TrimSpace(wm.Text.Body) == "" {
			return unsupported(wm.Type)
		}
		return engine.Content{Kind: engine.KindText, Text: clipText(wm.Text.Body)}
	case "image":
		return media(engine.KindImage, wm.Image)
	case "video":
		return media(engine.KindVideo, wm.Video)
	case "audio":
		return media(engine.KindAudio, wm.Audio)
	case "document":
		return media(engine.KindDocument, wm.Document)
	case "sticker":
		return media(engine.KindSticker, wm.Sticker)
	case "location":
		l := wm.Location
		if l == nil || !validLatLng(l.Latitude, l.Longitude) {
			return unsupported(wm.Type)
		}
		return engine.Content{Kind: engine.KindLocation, Location: &engine.Location{
			Latitude: *l.Latitude, Longitude: *l.Longitude,
			Name: clipField(l.Name), Address: clipField(l.Address),
		}}
	case "contacts":
		// The cards are kept as the raw JSON array Meta sent (checked to
		// be an array in message); an empty one is unusable.
		raw := bytes.TrimSpace(wm.Contacts)
		if len(raw) == 0 || raw[0] != '[' || bytes.Equal(bytes.Join(bytes.Fields(raw), nil), []byte("[]")) {
			return unsupported(wm.Type)
		}
		return engine.Content{Kind: engine.KindContacts, Contacts: bytes.Clone(raw)}
	case "interactive":
		return wm.interactive()
	case "button":
		if wm.Button == nil {
			return unsupported(wm.Type)
		}
		return engine.Content{Kind: engine.KindInteractive, Interactive: &engine.Interactive{
			Type: "button", Title: clipField(wm.Button.Text), Payload: clipField(wm.Button.Payload),
		}}
	case "reaction":
		if wm.Reaction == nil || wm.Reaction.MessageID == "" {
			return unsupported(wm.Type)
		}
		// An emoji left out (or empty) means the reaction was removed.
		return engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{
			TargetChannelMessageID: clipField(wm.Reaction.MessageID),
			Emoji:                  clipField(wm.Reaction.Emoji),
		}}
	}
	return unsupported(wm.Type)
}

func (wm *waMessage) interactive() engine.Content {
	in := wm.Interactive
	if in == nil {
		return unsupported(wm.Type)
	}
	reply := func(r *waReply) engine.Content {
		if r == nil {
			return unsupported(wm.Type + ":" + in.Type)
		}
		return engine.Content{Kind: engine.KindInteractive, Interactive: &engine.Interactive{
			Type: in.Type, ID: clipField(r.ID), Title: clipField(r.Title),
		}}
	}
	switch in.Type {
	case "button_reply":
		return reply(in.ButtonReply)
	case "list_reply":
		return reply(in.ListReply)
	case "nfm_reply":
		// A WhatsApp Flow's answer: the flow name, the summary shown in
		// the chat and the form's answers as a JSON string.
		if in.NfmReply == nil {
			return unsupported(wm.Type + ":" + in.Type)
		}
		return engine.Content{Kind: engine.KindInteractive, Interactive: &engine.Interactive{
			Type:    in.Type,
			ID:      clipField(in.NfmReply.Name),
			Title:   clipField(in.NfmReply.Body),
			Payload: clipField(in.NfmReply.ResponseJSON),
		}}
	}
	return unsupported(wm.Type + ":" + in.Type)
}

// waStatusOf maps one statuses[] element; ok is false for a status string
// Parley does not track.
func waStatusOf(ws *waStatus, account string) (Status, bool, error) {
	var st engine.DeliveryStatus
	switch ws.Status {
	case "sent":
		st = engine.StatusSent
	case "delivered":
		st = engine.StatusDelivered
	case "read", "played":
		st = engine.StatusRead
	case "failed":
		st = engine.StatusFailed
	default:
		return Status{}, false, nil
	}
	id, err := ident("status id", ws.ID, maxMessageBytes)
	if err != nil {
		return Status{}, false, err
	}
	ts, err := unixString("status timestamp", ws.Timestamp)
	if err != nil {
		return Status{}, false, err
	}
	s := Status{
		Channel:      engine.ChannelWhatsApp,
		AccountID:    account,
		ID:           id,
		RecipientID:  valid(ws.RecipientID),
		Status:       st,
		Timestamp:    ts,
		CallbackData: valid(ws.CallbackData),
	}
	if st == engine.StatusFailed && len(ws.Errors) > 0 {
		e := ws.Errors[0]
		s.ErrorCode = strconv.Itoa(e.Code)
		s.ErrorReason = e.reason()
	}
	return s, true, nil
}
