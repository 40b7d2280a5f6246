package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Outgoing webhooks (docs/ARCHITECTURE.md, "Outgoing webhooks"): a
// workspace subscribes URLs to events; each event a subscription wants is
// POSTed to it as JSON, signed with the subscription's secret. The rules
// here are pure: which subscriptions an event goes to and with what body,
// the signature, the retry schedule and when a failing subscription is
// turned off.

// WebhookEvent names an outgoing webhook event. The names and payload
// shapes follow Chatwoot's webhooks where the concept exists, so that
// integrations written for them work with little change; the others are
// Parley's own.
type WebhookEvent string

// Webhook events.
const (
	WebhookMessageCreated            WebhookEvent = "message_created"
	WebhookMessageUpdated            WebhookEvent = "message_updated"
	WebhookConversationCreated       WebhookEvent = "conversation_created"
	WebhookConversationStatusChanged WebhookEvent = "conversation_status_changed"
	WebhookConversationUpdated       WebhookEvent = "conversation_updated"
	WebhookContactCreated            WebhookEvent = "contact_created"
	WebhookContactUpdated            WebhookEvent = "contact_updated"
	// WebhookConversationModeChanged: the conversation went from ai to
	// manual mode or back.
	WebhookConversationModeChanged WebhookEvent = "conversation_mode_changed"
	// WebhookHandoff: the AI handed the conversation to a person.
	WebhookHandoff WebhookEvent = "handoff"
)

// WebhookEvents lists every webhook event.
var WebhookEvents = []WebhookEvent{WebhookMessageCreated, WebhookMessageUpdated, WebhookConversationCreated,
	WebhookConversationStatusChanged, WebhookConversationUpdated, WebhookContactCreated, WebhookContactUpdated,
	WebhookConversationModeChanged, WebhookHandoff}

// Bounds of a subscription.
const (
	MaxWebhookURLBytes    = 2048
	MinWebhookSecretBytes = 16
	MaxWebhookSecretBytes = 256
	// MaxWebhooks bounds a workspace's subscriptions.
	MaxWebhooks = 20
)

// Webhook is a subscription: where a workspace's events of the kinds
// named go, and the secret that signs them. Failures counts the failed
// attempts in a row since FailingSince (zero after a success); a
// subscription failing for WebhookDisableAfter is turned off (Active
// false, DisabledReason set) until an admin turns it on again.
type Webhook struct {
	ID             ID             `json:"id"`
	WorkspaceID    ID             `json:"workspace_id"`
	URL            string         `json:"url"`
	Secret         string         `json:"secret,omitempty"`
	Events         []WebhookEvent `json:"events"`
	Active         bool           `json:"active"`
	Failures       int            `json:"failures"`
	FailingSince   time.Time      `json:"failing_since,omitzero"`
	DisabledReason string         `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

// WebhookChange is a create or an edit of a subscription: the fields
// set change.
type WebhookChange struct {
	URL    *string
	Secret *string
	Events []WebhookEvent
	Active *bool
}

// ApplyWebhook returns w with ch applied, checked: an http or https URL
// with a host, a secret of 16 to 256 bytes, at least one known event
// (each once). Turning a subscription on clears its failures.
func ApplyWebhook(w Webhook, ch WebhookChange, now time.Time) (Webhook, error) {
	if ch.URL != nil {
		u := strings.TrimSpace(*ch.URL)
		if len(u) > MaxWebhookURLBytes || !utf8.ValidString(u) {
			return w, fmt.Errorf("%w: url must be at most %d bytes", ErrInvalid, MaxWebhookURLBytes)
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
			return w, fmt.Errorf("%w: url must be an http or https URL with a host and no credentials", ErrInvalid)
		}
		w.URL = u
	}
	if ch.Secret != nil {
		s := *ch.Secret
		if len(s) < MinWebhookSecretBytes || len(s) > MaxWebhookSecretBytes || !utf8.ValidString(s) {
			return w, fmt.Errorf("%w: secret must be %d to %d bytes", ErrInvalid, MinWebhookSecretBytes, MaxWebhookSecretBytes)
		}
		w.Secret = s
	}
	if ch.Events != nil {
		if len(ch.Events) == 0 {
			return w, fmt.Errorf("%w: events must name at least one event", ErrInvalid)
		}
		evs := make([]WebhookEvent, 0, len(ch.Events))
		for _, e := range ch.Events {
			if !slices.Contains(WebhookEvents, e) {
				return w, fmt.Errorf("%w: unknown event %q", ErrInvalid, e)
			}
			if !slices.Contains(evs, e) {
				evs = append(evs, e)
			}
		}
		w.Events = evs
	}
	if ch.Active != nil {
		if *ch.Active && !w.Active {
			w.Failures, w.FailingSince, w.DisabledReason = 0, time.Time{}, ""
		}
		w.Active = *ch.Active
	}
	if w.URL == "" || w.Secret == "" || len(w.Events) == 0 {
		return w, fmt.Errorf("%w: url, secret and events are required", ErrInvalid)
	}
	w.UpdatedAt = now
	return w, nil
}

// Wants reports whether subscription w takes event e now.
func (w *Webhook) Wants(e WebhookEvent) bool { return w.Active && slices.Contains(w.Events, e) }

// WebhookOut is one webhook event made from a published event: its name,
// the key its deliveries are ordered by (the conversation, or the
// contact) and its JSON body.
type WebhookOut struct {
	Event    WebhookEvent
	OrderKey ID
	Body     []byte
	// Source, set instead of Body by WebhookSourcedOuts, is what the
	// body is made from when the delivery is sent.
	Source *WebhookSource
}

// WebhookSource is the published event a delivery's body is made from
// at send time (WebhookDeliveryBody): its type and the message and
// conversation headers (before and after) as committed with it. The
// store keeps them in its binary record format, cheaper to write on the
// ingest path than the body's JSON.
type WebhookSource struct {
	Type         EventType
	Message      *Message
	Conversation *Conversation
	Before       *Conversation
}

// WebhookSourcedOuts is WebhookOuts for the queue: the outs of message
// and conversation events carry their Source rather than an encoded
// body (a contact event's body is encoded at once).
func WebhookSourcedOuts(ev *Event, wants func(WebhookEvent) bool) []WebhookOut {
	switch ev.Type {
	case EventMessageCreated, EventMessageUpdated, EventConversationCreated, EventConversationUpdated:
	default:
		return WebhookOuts(ev, wants)
	}
	src := &WebhookSource{Type: ev.Type, Message: ev.Message, Conversation: ev.Conversation, Before: ev.Before}
	return webhookOuts(ev, wants, src)
}

// WebhookDeliveryBody returns the JSON body of d: the one stored, or the
// one made from its Source.
func WebhookDeliveryBody(d *WebhookDelivery) []byte {
	if d.Source == nil {
		return d.Body
	}
	src := d.Source
	ev := Event{Type: src.Type, Message: src.Message, Conversation: src.Conversation, Before: src.Before}
	if src.Conversation != nil {
		ev.ConversationID = src.Conversation.ID
	}
	for _, o := range WebhookOuts(&ev, func(e WebhookEvent) bool { return e == d.Event }) {
		return o.Body
	}
	return nil
}

// WebhookOuts returns the webhook events that a published event makes,
// in order, with their bodies. A conversation.updated makes
// conversation_status_changed when the folder changed,
// conversation_mode_changed when the mode changed, handoff when the AI
// handed it to a person, and conversation_updated always; events with
// no webhook counterpart make none. wants filters the names (nil: all),
// so that nothing is encoded for an event no one subscribed to.
func WebhookOuts(ev *Event, wants func(WebhookEvent) bool) []WebhookOut {
	return webhookOuts(ev, wants, nil)
}

// webhookOuts makes the outs of ev: with their bodies when src is nil,
// else with src in their place.
func webhookOuts(ev *Event, wants func(WebhookEvent) bool, src *WebhookSource) []WebhookOut {
	var out []WebhookOut
	add := func(name WebhookEvent, key ID, body func() any) {
		if wants != nil && !wants(name) {
			return
		}
		if src != nil {
			out = append(out, WebhookOut{Event: name, OrderKey: key, Source: src})
			return
		}
		b, err := json.Marshal(body())
		if err != nil {
			return // plain records of strings, numbers and times: cannot fail
		}
		out = append(out, WebhookOut{Event: name, OrderKey: key, Body: b})
	}
	switch ev.Type {
	case EventMessageCreated, EventMessageUpdated:
		if ev.Message == nil {
			return nil
		}
		name := WebhookMessageCreated
		if ev.Type == EventMessageUpdated {
			name = WebhookMessageUpdated
		}
		add(name, ev.ConversationID, func() any { return messagePayload(name, ev) })
	case EventConversationCreated:
		if ev.Conversation == nil {
			return nil
		}
		add(WebhookConversationCreated, ev.ConversationID, func() any {
			return conversationPayload(WebhookConversationCreated, ev.Conversation, nil)
		})
	case EventConversationUpdated:
		c, b := ev.Conversation, ev.Before
		if c == nil {
			return nil
		}
		if b != nil && b.Folder != c.Folder {
			add(WebhookConversationStatusChanged, c.ID, func() any {
				return conversationPayload(WebhookConversationStatusChanged, c, changed("status", webhookStatus(b.Folder), webhookStatus(c.Folder)))
			})
		}
		if b != nil && b.Mode != c.Mode {
			add(WebhookConversationModeChanged, c.ID, func() any {
				return conversationPayload(WebhookConversationModeChanged, c, changed("mode", b.Mode, c.Mode))
			})
		}
		if b != nil && !b.NeedsHuman && c.NeedsHuman {
			add(WebhookHandoff, c.ID, func() any { return conversationPayload(WebhookHandoff, c, changed("needs_human", false, true)) })
		}
		add(WebhookConversationUpdated, c.ID, func() any {
			return conversationPayload(WebhookConversationUpdated, c, conversationChanges(b, c))
		})
	case EventContactCreated, EventContactUpdated:
		ct, ok := ev.Data.(*Contact)
		if !ok || ct == nil {
			return nil
		}
		name := WebhookContactCreated
		if ev.Type == EventContactUpdated {
			name = WebhookContactUpdated
		}
		add(name, ct.ID, func() any { return contactPayload(name, ct) })
	}
	return out
}

// webhookStatus is Chatwoot's name of a folder where it has one (open,
// resolved), Parley's otherwise (spam, archived).
func webhookStatus(f Folder) string {
	if f == FolderSolved {
		return "resolved"
	}
	return string(f)
}

// messageType is Chatwoot's message_type.
func messageType(m *Message) string {
	switch {
	case m.Sender.Kind == SenderSystem:
		return "activity"
	case m.Direction == DirIn:
		return "incoming"
	}
	return "outgoing"
}

type webhookAccount struct {
	ID ID `json:"id"`
}

type webhookInbox struct {
	ID      string  `json:"id"`
	Channel Channel `json:"channel"`
}

type webhookSender struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	Type string `json:"type"`
}

type webhookConversation struct {
	ID             ID             `json:"id"`
	InboxID        string         `json:"inbox_id"`
	Channel        Channel        `json:"channel"`
	Status         string         `json:"status"`
	Labels         []string       `json:"labels"`
	UnreadCount    int            `json:"unread_count"`
	Meta           webhookMeta    `json:"meta"`
	CreatedAt      int64          `json:"created_at"`
	Timestamp      int64          `json:"timestamp"`
	Mode           Mode           `json:"mode"`
	NeedsHuman     bool           `json:"needs_human"`
	Conversation   *Conversation  `json:"parley"`
	Event          WebhookEvent   `json:"event,omitempty"`
	Account        webhookAccount `json:"account"`
	ChangedAttribs []any          `json:"changed_attributes,omitempty"`
}

type webhookMeta struct {
	Sender   webhookSender  `json:"sender"`
	Assignee *webhookSender `json:"assignee"`
}

func conversationObject(c *Conversation) webhookConversation {
	labels := c.Tags
	if labels == nil {
		labels = []string{}
	}
	w := webhookConversation{ID: c.ID, InboxID: c.ChannelAccountID, Channel: c.Channel, Status: webhookStatus(c.Folder),
		Labels: labels, UnreadCount: c.UnreadCount, CreatedAt: c.CreatedAt.Unix(), Timestamp: c.LastActivityAt.Unix(),
		Mode: c.Mode, NeedsHuman: c.NeedsHuman, Account: webhookAccount{c.WorkspaceID},
		Meta: webhookMeta{Sender: webhookSender{ID: c.ContactID.String(), Name: c.ContactName, Type: "contact"}}}
	if c.AssigneeID != "" {
		w.Meta.Assignee = &webhookSender{ID: c.AssigneeID, Type: "user"}
	}
	return w
}

func conversationPayload(name WebhookEvent, c *Conversation, ch []any) webhookConversation {
	w := conversationObject(c)
	w.Conversation, w.Event, w.ChangedAttribs = c, name, ch
	return w
}

// changed is one entry of Chatwoot's changed_attributes.
func changed(attr string, prev, cur any) []any {
	return []any{map[string]any{attr: map[string]any{"previous_value": prev, "current_value": cur}}}
}

// conversationChanges lists what a conversation.updated changed among
// the fields integrations follow.
func conversationChanges(b, c *Conversation) []any {
	if b == nil {
		return nil
	}
	var out []any
	if b.Folder != c.Folder {
		out = append(out, changed("status", webhookStatus(b.Folder), webhookStatus(c.Folder))...)
	}
	if b.Mode != c.Mode {
		out = append(out, changed("mode", b.Mode, c.Mode)...)
	}
	if b.AssigneeID != c.AssigneeID {
		out = append(out, changed("assignee_id", b.AssigneeID, c.AssigneeID)...)
	}
	if b.TeamID != c.TeamID {
		out = append(out, changed("team_id", b.TeamID, c.TeamID)...)
	}
	if !slices.Equal(b.Tags, c.Tags) {
		out = append(out, changed("labels", b.Tags, c.Tags)...)
	}
	if b.NeedsHuman != c.NeedsHuman {
		out = append(out, changed("needs_human", b.NeedsHuman, c.NeedsHuman)...)
	}
	return out
}

type webhookMessage struct {
	Event        WebhookEvent         `json:"event"`
	ID           ID                   `json:"id"`
	Content      string               `json:"content"`
	ContentType  MessageKind          `json:"content_type"`
	MessageType  string               `json:"message_type"`
	Private      bool                 `json:"private"`
	SourceID     string               `json:"source_id,omitempty"`
	Status       DeliveryStatus       `json:"status,omitempty"`
	CreatedAt    time.Time            `json:"created_at"`
	Sender       webhookSender        `json:"sender"`
	Conversation *webhookConversation `json:"conversation,omitempty"`
	Inbox        webhookInbox         `json:"inbox"`
	Account      webhookAccount       `json:"account"`
	Message      *Message             `json:"parley"`
}

func messagePayload(name WebhookEvent, ev *Event) webhookMessage {
	m := ev.Message
	w := webhookMessage{Event: name, ID: m.ID, Content: m.Text, ContentType: m.Kind, MessageType: messageType(m),
		SourceID: m.ChannelMessageID, Status: m.Status, CreatedAt: m.CreatedAt, Account: webhookAccount{m.WorkspaceID}, Message: m}
	switch m.Sender.Kind {
	case SenderCustomer:
		w.Sender = webhookSender{Type: "contact"}
	case SenderHuman:
		w.Sender = webhookSender{ID: m.Sender.UserID, Type: "user"}
	default:
		w.Sender = webhookSender{Type: string(m.Sender.Kind)}
	}
	if c := ev.Conversation; c != nil {
		co := conversationObject(c)
		w.Conversation = &co
		w.Inbox = webhookInbox{ID: c.ChannelAccountID, Channel: c.Channel}
		if m.Sender.Kind == SenderCustomer {
			w.Sender.ID, w.Sender.Name = c.ContactID.String(), c.ContactName
		}
	}
	return w
}

type webhookContact struct {
	Event            WebhookEvent      `json:"event"`
	ID               ID                `json:"id"`
	Name             string            `json:"name"`
	Email            string            `json:"email"`
	PhoneNumber      string            `json:"phone_number"`
	Thumbnail        string            `json:"thumbnail"`
	CustomAttributes map[string]string `json:"custom_attributes"`
	Account          webhookAccount    `json:"account"`
	Contact          *Contact          `json:"parley"`
}

func contactPayload(name WebhookEvent, c *Contact) webhookContact {
	attrs := c.CustomFields
	if attrs == nil {
		attrs = map[string]string{}
	}
	return webhookContact{Event: name, ID: c.ID, Name: c.Profile.Name, Email: c.Profile.Email, PhoneNumber: c.Profile.Phone,
		Thumbnail: c.Profile.AvatarURL, CustomAttributes: attrs, Account: webhookAccount{c.WorkspaceID}, Contact: c}
}

// Signature headers of a delivery.
const (
	// WebhookSignatureHeader carries "t=<unix seconds>,v1=<hex>": v1 is
	// the HMAC-SHA256, keyed with the subscription's secret, of the
	// timestamp, a dot and the body.
	WebhookSignatureHeader = "X-Parley-Signature"
	// WebhookEventHeader names the event; WebhookDeliveryHeader the
	// delivery (the same on every attempt and a redelivery's own).
	WebhookEventHeader    = "X-Parley-Event"
	WebhookDeliveryHeader = "X-Parley-Delivery"
)

// SignWebhook returns the X-Parley-Signature value of body sent at t.
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks an X-Parley-Signature header against body and
// secret, and that its timestamp is within tolerance of now; it is what
// a receiver does (README, "Outgoing webhooks").
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no timestamp in the signature", ErrInvalid)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signature timestamp outside the tolerance", ErrInvalid)
	}
	want := webhookMAC(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: signature does not match", ErrInvalid)
}

// Retry schedule: attempt n (1 the first) that failed is tried again
// after webhookFirstRetry·2^(n-1), at most webhookMaxRetryDelay, until
// WebhookMaxAttempts; the delays add up to more than 24 hours.
const (
	webhookFirstRetry    = 30 * time.Second
	webhookMaxRetryDelay = 4 * time.Hour
	// WebhookMaxAttempts is how many times a delivery is tried.
	WebhookMaxAttempts = 15
	// WebhookDisableAfter: a subscription whose every attempt failed for
	// this long (with at least WebhookMaxAttempts failures) is turned off.
	WebhookDisableAfter = 24 * time.Hour
)

// WebhookRetryAfter returns how long after failed attempt n (1 the first)
// the delivery is tried again, and false when it is not: the attempts
// are spent.
func WebhookRetryAfter(attempt int) (time.Duration, bool) {
	if attempt < 1 || attempt >= WebhookMaxAttempts {
		return 0, false
	}
	d := webhookFirstRetry
	for i := 1; i < attempt && d < webhookMaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, webhookMaxRetryDelay), true
}

// WebhookAttempted returns w after an attempt at one of its deliveries
// ended at now: a success clears its failures, a failure counts, and a
// subscription that has only failed for WebhookDisableAfter, at least
// WebhookMaxAttempts times, is turned off. disabled reports that this
// attempt turned it off.
func WebhookAttempted(w Webhook, ok bool, now time.Time) (next Webhook, disabled bool) {
	if ok {
		w.Failures, w.FailingSince = 0, time.Time{}
		return w, false
	}
	if w.Failures == 0 || w.FailingSince.IsZero() {
		w.FailingSince = now
	}
	w.Failures++
	if w.Active && w.Failures >= WebhookMaxAttempts && now.Sub(w.FailingSince) >= WebhookDisableAfter {
		w.Active = false
		w.DisabledReason = fmt.Sprintf("every delivery failed for %s (%d attempts in a row)", now.Sub(w.FailingSince).Round(time.Minute), w.Failures)
		w.UpdatedAt = now
		return w, true
	}
	return w, false
}

// DeliveryState is where a delivery stands.
type DeliveryState string

// Delivery states.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryFailed    DeliveryState = "failed"
)

// WebhookDelivery is one event on its way to one subscription, or its
// outcome: the body (signed again at each attempt), the attempts made,
// the last attempt's status code, latency and error.
type WebhookDelivery struct {
	// ID numbers the deliveries in the order they were queued (per
	// server, across subscriptions).
	ID          uint64          `json:"id"`
	WebhookID   ID              `json:"webhook_id"`
	WorkspaceID ID              `json:"workspace_id"`
	Event       WebhookEvent    `json:"event"`
	OrderKey    ID              `json:"order_key"`
	Body        json.RawMessage `json:"body"`
	State       DeliveryState   `json:"state"`
	Attempts    int             `json:"attempts"`
	NextAt      time.Time       `json:"next_at,omitzero"`
	StatusCode  int             `json:"status_code,omitempty"`
	LatencyMS   int64           `json:"latency_ms,omitempty"`
	Error       string          `json:"error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	LastAt      time.Time       `json:"last_attempt_at,omitzero"`
	// RedeliveryOf names the delivery this one sends again.
	RedeliveryOf uint64 `json:"redelivery_of,omitempty"`
	// Source, when set, is what the body is made from at send time
	// (WebhookDeliveryBody); Body is then empty. The store keeps it
	// beside the record's JSON.
	Source *WebhookSource `json:"-"`
}

// DeliveryAttempted returns d after an attempt at now: delivered on a
// 2xx, else pending with its next try on the schedule, or failed once
// the attempts are spent.
func DeliveryAttempted(d WebhookDelivery, status int, latency time.Duration, errText string, now time.Time) WebhookDelivery {
	d.Attempts++
	d.StatusCode, d.LatencyMS, d.Error, d.LastAt = status, latency.Milliseconds(), errText, now
	if status >= 200 && status < 300 {
		d.State, d.NextAt, d.Error = DeliveryDelivered, time.Time{}, ""
		return d
	}
	if after, ok := WebhookRetryAfter(d.Attempts); ok {
		d.State, d.NextAt = DeliveryPending, now.Add(after)
		return d
	}
	d.State, d.NextAt = DeliveryFailed, time.Time{}
	return d
}
