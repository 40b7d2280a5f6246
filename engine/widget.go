package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The web chat widget (README, "Web chat widget"). A widget is a channel
// account of channel webchat: its AccountID is the widget id the site's
// script tag names, its AccessToken the secret that signs verified
// visitors' user ids, and its Widget the settings below. A visitor's
// conversation is the thread of the widget and the visitor's external
// user id: VisitorExternalID for an anonymous visitor (one browser),
// VerifiedExternalID for a visitor whose user id the site signed (every
// device of that user).

// Widget positions on the page.
const (
	WidgetRight = "right"
	WidgetLeft  = "left"
)

// Kinds of pre-chat form fields.
const (
	WidgetFieldName  = "name"
	WidgetFieldEmail = "email"
	WidgetFieldPhone = "phone"
	WidgetFieldText  = "text"
)

// Limits of a widget's settings.
const (
	MaxWidgetOrigins = 32
	MaxWidgetFields  = 10
	maxWidgetText    = 1024
)

// WidgetField is a field of the pre-chat form. Kind name, email and phone
// fill the contact's profile; text fills the custom field Key.
type WidgetField struct {
	Kind     string `json:"kind"`
	Key      string `json:"key,omitempty"`
	Label    string `json:"label"`
	Required bool   `json:"required,omitempty"`
}

// WidgetHours are the business hours: on each weekday listed
// (0 Sunday … 6 Saturday), from Open to Close ("09:00", "17:30") in the
// time zone TimeZone (an IANA name).
type WidgetHours struct {
	TimeZone string      `json:"time_zone"`
	Days     []WidgetDay `json:"days"`
}

// WidgetDay is one weekday's opening hours.
type WidgetDay struct {
	Day   int    `json:"day"`
	Open  string `json:"open"`
	Close string `json:"close"`
}

// WidgetSettings are a widget's settings.
type WidgetSettings struct {
	// AllowedOrigins are the exact origins (scheme://host[:port]) of the
	// pages that may embed the widget; every visitor request and
	// WebSocket from another origin is refused.
	AllowedOrigins []string `json:"allowed_origins"`
	// Color is the launcher's and the header's colour, TextColor the
	// colour of text on it (#rrggbb).
	Color     string `json:"color"`
	TextColor string `json:"text_color"`
	// Title heads the chat window; Greeting is its first line.
	Title    string `json:"title"`
	Greeting string `json:"greeting"`
	// Position is right or left (bottom corner).
	Position string `json:"position"`
	// PreChat lists the fields asked before the first message (none: no
	// form).
	PreChat []WidgetField `json:"pre_chat"`
	// Hours, when set, are the business hours; outside them the widget
	// shows OfflineMessage and asks for the visitor's email.
	Hours          *WidgetHours `json:"hours,omitempty"`
	OfflineMessage string       `json:"offline_message"`
}

// DefaultWidgetSettings are a new widget's settings.
func DefaultWidgetSettings() WidgetSettings {
	return WidgetSettings{AllowedOrigins: []string{}, Color: "#1f6feb", TextColor: "#ffffff", Title: "Chat with us",
		Greeting: "Hi! How can we help?", Position: WidgetRight, PreChat: []WidgetField{},
		OfflineMessage: "We are away right now. Leave your email and we will answer there."}
}

var (
	colorRe = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	clockRe = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	keyRe   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// OriginAllowed reports whether origin (a request's Origin header) is one
// of the allowed origins, exactly.
func (w *WidgetSettings) OriginAllowed(origin string) bool {
	o, err := NormalizeOrigin(origin)
	return err == nil && slices.Contains(w.AllowedOrigins, o)
}

// Clean checks the settings and returns them tidied: origins normalised
// and deduplicated, texts trimmed. Any refusal wraps ErrInvalid.
func (w WidgetSettings) Clean() (WidgetSettings, error) {
	out := w
	out.AllowedOrigins = []string{}
	if len(w.AllowedOrigins) > MaxWidgetOrigins {
		return out, fmt.Errorf("%w: at most %d allowed_origins", ErrInvalid, MaxWidgetOrigins)
	}
	for _, o := range w.AllowedOrigins {
		n, err := NormalizeOrigin(o)
		if err != nil {
			return out, fmt.Errorf("%w: allowed_origins: %q is not an origin (https://example.com, no path)", ErrInvalid, o)
		}
		if !slices.Contains(out.AllowedOrigins, n) {
			out.AllowedOrigins = append(out.AllowedOrigins, n)
		}
	}
	for _, c := range []struct{ name, v string }{{"color", w.Color}, {"text_color", w.TextColor}} {
		if !colorRe.MatchString(c.v) {
			return out, fmt.Errorf("%w: %s must be a colour #rrggbb", ErrInvalid, c.name)
		}
	}
	out.Color, out.TextColor = strings.ToLower(w.Color), strings.ToLower(w.TextColor)
	for _, t := range []struct {
		name string
		v    *string
	}{{"title", &out.Title}, {"greeting", &out.Greeting}, {"offline_message", &out.OfflineMessage}} {
		*t.v = strings.TrimSpace(*t.v)
		if len(*t.v) > maxWidgetText || !utf8.ValidString(*t.v) {
			return out, fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, t.name, maxWidgetText)
		}
	}
	if w.Position != WidgetRight && w.Position != WidgetLeft {
		return out, fmt.Errorf("%w: position must be right or left", ErrInvalid)
	}
	if len(w.PreChat) > MaxWidgetFields {
		return out, fmt.Errorf("%w: at most %d pre_chat fields", ErrInvalid, MaxWidgetFields)
	}
	out.PreChat = make([]WidgetField, 0, len(w.PreChat))
	seen := map[string]bool{}
	for _, f := range w.PreChat {
		f.Label = strings.TrimSpace(f.Label)
		switch f.Kind {
		case WidgetFieldName, WidgetFieldEmail, WidgetFieldPhone:
			f.Key = f.Kind
		case WidgetFieldText:
			if !keyRe.MatchString(f.Key) || f.Key == WidgetFieldName || f.Key == WidgetFieldEmail || f.Key == WidgetFieldPhone {
				return out, fmt.Errorf("%w: a text field's key is a-z, 0-9 and _ (not name, email or phone)", ErrInvalid)
			}
		default:
			return out, fmt.Errorf("%w: a pre_chat field's kind is name, email, phone or text", ErrInvalid)
		}
		if f.Label == "" || len(f.Label) > 256 || !utf8.ValidString(f.Label) {
			return out, fmt.Errorf("%w: a pre_chat field needs a label of at most 256 bytes", ErrInvalid)
		}
		if seen[f.Key] {
			return out, fmt.Errorf("%w: pre_chat field %q given twice", ErrInvalid, f.Key)
		}
		seen[f.Key] = true
		out.PreChat = append(out.PreChat, f)
	}
	if h := w.Hours; h != nil {
		if _, err := time.LoadLocation(h.TimeZone); err != nil || h.TimeZone == "" || strings.EqualFold(h.TimeZone, "local") {
			return out, fmt.Errorf("%w: hours.time_zone must be an IANA time zone such as Europe/Paris", ErrInvalid)
		}
		if len(h.Days) > 7*4 {
			return out, fmt.Errorf("%w: too many hours.days", ErrInvalid)
		}
		for _, d := range h.Days {
			if d.Day < 0 || d.Day > 6 || !clockRe.MatchString(d.Open) || !clockRe.MatchString(d.Close) || d.Close <= d.Open {
				return out, fmt.Errorf("%w: hours.days: day 0 (Sunday) to 6, open and close HH:MM with close after open", ErrInvalid)
			}
		}
		hc := *h
		hc.Days = slices.Clone(h.Days)
		out.Hours = &hc
	}
	return out, nil
}

// Open reports whether the business is open at now by the hours; no
// hours means always open.
func (w *WidgetSettings) Open(now time.Time) bool {
	if w.Hours == nil {
		return true
	}
	loc, err := time.LoadLocation(w.Hours.TimeZone)
	if err != nil {
		return true // checked when saved: a zone the system lost keeps the widget open
	}
	t := now.In(loc)
	hm := t.Format("15:04")
	for _, d := range w.Hours.Days {
		if d.Day == int(t.Weekday()) && hm >= d.Open && hm < d.Close {
			return true
		}
	}
	return false
}

// WidgetUserHash is the hash a site gives with a signed-in user's id:
// HMAC-SHA256 of the id keyed with the widget's secret, in hex.
func WidgetUserHash(secret, userID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(userID))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWidgetUser reports whether hash is the widget's signature of
// userID (compared in constant time); an empty id, secret or hash is
// never verified.
func VerifyWidgetUser(secret, userID, hash string) bool {
	if secret == "" || userID == "" || hash == "" || len(userID) > 256 || !utf8.ValidString(userID) {
		return false
	}
	want := WidgetUserHash(secret, userID)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(hash)))
}

// Prefixes of a web chat conversation's external user id.
const (
	visitorPrefix  = "v:"
	verifiedPrefix = "u:"
)

// VisitorExternalID is the external user id of an anonymous visitor.
func VisitorExternalID(visitor ID) string { return visitorPrefix + visitor.String() }

// VerifiedExternalID is the external user id of a verified user: the
// same on every device the user signs in on.
func VerifiedExternalID(userID string) string { return verifiedPrefix + userID }

// webChatKeys are the identity keys of a web chat user: a verified user
// whose id is an email address is the contact with that email.
func webChatKeys(extID string) []string {
	id, ok := strings.CutPrefix(extID, verifiedPrefix)
	if !ok || !strings.Contains(id, "@") {
		return nil
	}
	if e := NormalizeEmail(id); e != "" {
		return []string{KeyEmail + e}
	}
	return nil
}

// WidgetAttribution is where a visitor's page came from, as the widget
// reports it: the page's URL, the referrer and the page's UTM parameters.
// It becomes the conversation's campaign: Source "web", Ref the
// utm_campaign, URL the page, Headline the utm_source / utm_medium, Body
// the referrer and the other UTM parameters.
func WidgetAttribution(pageURL, referrer string) *Campaign {
	u, err := url.Parse(pageURL)
	if pageURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil
	}
	q := u.Query()
	c := Campaign{Source: "web", Ref: q.Get("utm_campaign"), URL: pageURL, Channel: ChannelWebChat}
	var head []string
	for _, k := range []string{"utm_source", "utm_medium"} {
		if v := q.Get(k); v != "" {
			head = append(head, v)
		}
	}
	c.Headline = strings.Join(head, " / ")
	var body []string
	if r, err := url.Parse(referrer); referrer != "" && err == nil && (r.Scheme == "http" || r.Scheme == "https") {
		body = append(body, "referrer: "+referrer)
	}
	for _, k := range []string{"utm_term", "utm_content"} {
		if v := q.Get(k); v != "" {
			body = append(body, k+": "+v)
		}
	}
	c.Body = strings.Join(body, "\n")
	return CleanCampaign(&c)
}

// Visitor is an anonymous visitor session of a widget: the browser keeps
// its id and token (localStorage), Parley keeps the token's SHA-256.
type Visitor struct {
	ID          ID        `json:"id"`
	WorkspaceID ID        `json:"workspace_id"`
	WidgetID    string    `json:"widget_id"`
	TokenHash   string    `json:"token_hash"`
	CreatedAt   time.Time `json:"created_at"`
}

// EmailContinuation is where a web chat conversation's replies go by
// email: the visitor's address and the workspace's email account that
// sends (docs/ARCHITECTURE.md, "The web chat widget"). Both empty: to
// the widget.
type EmailContinuation struct {
	AccountID string
	Address   string
}

// WidgetEmailContinuation is the rule for a visitor's message: while the
// widget is open the visitor chats live, so replies go to the widget
// again (an empty continuation); outside the business hours, a message
// whose offline form gave an email address, in a workspace with an email
// account, continues over email to that address; otherwise nothing
// changes (nil).
func WidgetEmailContinuation(open bool, formEmail, emailAccount string) *EmailContinuation {
	if open {
		return &EmailContinuation{}
	}
	addr := NormalizeEmail(formEmail)
	if addr == "" || emailAccount == "" {
		return nil
	}
	return &EmailContinuation{AccountID: emailAccount, Address: addr}
}
