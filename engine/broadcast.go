package engine

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Broadcasts: one WhatsApp template sent to many contacts, paced
// (docs/ARCHITECTURE.md, "Broadcasts"). The word "campaign" names ad
// attribution in Parley (Campaign), so these are broadcasts; a reply to
// one gives its conversation the attribution Campaign{Source:
// "broadcast", Ref: broadcast id, Headline: name}. The rules here are
// pure: audience resolution of one contact, variable filling, the state
// machine, recipient status transitions, counts and the pacing and
// backoff decisions; the runtime passes the time in.

// BroadcastState is where a broadcast stands.
type BroadcastState string

// Broadcast states: scheduled → sending → completed, with paused and
// cancelled on the way.
const (
	BroadcastScheduled BroadcastState = "scheduled"
	BroadcastSending   BroadcastState = "sending"
	BroadcastPaused    BroadcastState = "paused"
	BroadcastCompleted BroadcastState = "completed"
	BroadcastCancelled BroadcastState = "cancelled"
)

// BroadcastAction is what changes a broadcast's state.
type BroadcastAction string

// Broadcast actions.
const (
	BroadcastStart    BroadcastAction = "start"
	BroadcastPause    BroadcastAction = "pause"
	BroadcastResume   BroadcastAction = "resume"
	BroadcastCancel   BroadcastAction = "cancel"
	BroadcastComplete BroadcastAction = "complete"
)

// ErrBroadcastState is returned for an action the broadcast's state does
// not allow (pausing a completed broadcast...).
var ErrBroadcastState = errors.New("engine: the broadcast's state does not allow this")

// ErrBroadcastUnsubscribed is returned when a broadcast would write in a
// conversation whose customer unsubscribed: the recipient is skipped.
var ErrBroadcastUnsubscribed = errors.New("engine: the customer unsubscribed in this conversation")

// Limits of a broadcast.
const (
	MaxBroadcastNameBytes = 200
	// MaxBroadcastRecipients caps a broadcast's audience.
	MaxBroadcastRecipients = 200_000
	// MaxBroadcastCSVBytes caps an audience's CSV.
	MaxBroadcastCSVBytes = 8 << 20
	// MaxBroadcastContactIDs caps an audience's explicit contacts.
	MaxBroadcastContactIDs = 10_000
	// BroadcastReplyWindow is how long after a broadcast reached a
	// contact a message of theirs counts as a reply to it.
	BroadcastReplyWindow = 72 * time.Hour
	// BroadcastDefaultRate is the default sending rate (messages per
	// second): Meta's default Cloud API throughput per number is 80.
	BroadcastDefaultRate = 80
	// BroadcastMaxRate is the highest rate Parley paces at, Meta's
	// upgraded throughput (1,000 per second) for numbers of the
	// unlimited tier.
	BroadcastMaxRate = 1000
)

// Messaging tiers of a WhatsApp number: how many unique customers it may
// start conversations with in a rolling 24 hours (Meta's names).
const (
	TierUnset     = ""
	Tier250       = "TIER_250"
	Tier1K        = "TIER_1K"
	Tier10K       = "TIER_10K"
	Tier100K      = "TIER_100K"
	TierUnlimited = "TIER_UNLIMITED"
)

// BroadcastTierLimit returns the unique recipients per rolling 24 hours
// of a messaging tier (0: unlimited), and the highest rate it may be
// paced at. An unset tier is Meta's starting tier for a verified
// business, 1,000.
func BroadcastTierLimit(tier string) (limit, maxRate int, ok bool) {
	switch tier {
	case Tier250:
		return 250, BroadcastDefaultRate, true
	case TierUnset, Tier1K:
		return 1000, BroadcastDefaultRate, true
	case Tier10K:
		return 10_000, BroadcastDefaultRate, true
	case Tier100K:
		return 100_000, BroadcastDefaultRate, true
	case TierUnlimited:
		return 0, BroadcastMaxRate, true
	}
	return 0, 0, false
}

// BroadcastTemplate names the template a broadcast sends.
type BroadcastTemplate struct {
	Name     string `json:"name"`
	Language string `json:"language"`
}

// BroadcastVariable fills one variable of the template for each
// recipient: the contact's Field (name, phone, custom.<key>... see
// TemplateFieldValue), else Fallback. Index counts the component's
// variables from 1.
type BroadcastVariable struct {
	Component string `json:"component"` // body or header
	Index     int    `json:"index"`
	Field     string `json:"field"`
	Fallback  string `json:"fallback"`
}

// BroadcastAudience says who receives a broadcast: the members of a
// segment, the contacts with any of Tags, contacts by id and the rows of
// a CSV (phone,name), together, each contact once.
type BroadcastAudience struct {
	SegmentID  string   `json:"segment_id,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	ContactIDs []string `json:"contact_ids,omitempty"`
	CSV        string   `json:"csv,omitempty"`
}

// BroadcastCounts rolls up a broadcast's recipients. Sent, Delivered and
// Read count every recipient that got at least that far (a reply counts
// as read); Queued those still waiting.
type BroadcastCounts struct {
	Total     int64 `json:"total"`
	Queued    int64 `json:"queued"`
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	Read      int64 `json:"read"`
	Failed    int64 `json:"failed"`
	Replied   int64 `json:"replied"`
	OptedOut  int64 `json:"opted_out"`
	Skipped   int64 `json:"skipped"`
}

// Broadcast is a template sent to an audience from one WhatsApp number.
type Broadcast struct {
	ID             ID                  `json:"id"`
	WorkspaceID    ID                  `json:"workspace_id"`
	Name           string              `json:"name"`
	AccountID      string              `json:"account_id"`
	Template       BroadcastTemplate   `json:"template"`
	Variables      []BroadcastVariable `json:"variables"`
	HeaderMediaURL string              `json:"header_media_url,omitempty"`
	Audience       BroadcastAudience   `json:"audience"`
	State          BroadcastState      `json:"state"`
	ScheduledAt    time.Time           `json:"scheduled_at"`
	StartedAt      time.Time           `json:"started_at,omitzero"`
	FinishedAt     time.Time           `json:"finished_at,omitzero"`
	RatePerSecond  int                 `json:"rate_per_second"`
	Counts         BroadcastCounts     `json:"counts"`
	CreatedBy      string              `json:"created_by"`
	CreatedAt      time.Time           `json:"created_at"`
	// WABAID is the number's WhatsApp Business Account (where the
	// template lives) and Tier its messaging tier, when created.
	WABAID string `json:"waba_id,omitempty"`
	Tier   string `json:"messaging_tier,omitempty"`
	// Resolved is set once the audience was resolved into recipients
	// (when the broadcast first started).
	Resolved bool `json:"resolved,omitempty"`
	// BackoffLevel and BackoffUntil slow the whole broadcast down after
	// Meta's throughput or spam limits (BroadcastOnError).
	BackoffLevel int       `json:"backoff_level,omitempty"`
	BackoffUntil time.Time `json:"backoff_until,omitzero"`
}

// Campaign is the attribution a reply to the broadcast gives its
// conversation.
func (b *Broadcast) Campaign() *Campaign {
	return &Campaign{Source: CampaignSourceBroadcast, Ref: b.ID.String(), Headline: b.Name, Channel: ChannelWhatsApp}
}

// CampaignSourceBroadcast is the attribution source of a reply to a
// broadcast.
const CampaignSourceBroadcast = "broadcast"

// BroadcastTransition returns the state action leads to from state, or
// ErrBroadcastState. A paused broadcast that never started resumes as
// scheduled.
func BroadcastTransition(b *Broadcast, action BroadcastAction) (BroadcastState, error) {
	s := b.State
	switch action {
	case BroadcastStart:
		if s == BroadcastScheduled {
			return BroadcastSending, nil
		}
	case BroadcastPause:
		if s == BroadcastScheduled || s == BroadcastSending {
			return BroadcastPaused, nil
		}
	case BroadcastResume:
		if s == BroadcastPaused {
			if b.StartedAt.IsZero() {
				return BroadcastScheduled, nil
			}
			return BroadcastSending, nil
		}
	case BroadcastCancel:
		if s == BroadcastScheduled || s == BroadcastSending || s == BroadcastPaused {
			return BroadcastCancelled, nil
		}
	case BroadcastComplete:
		if s == BroadcastSending {
			return BroadcastCompleted, nil
		}
	}
	return s, fmt.Errorf("%w: cannot %s a %s broadcast", ErrBroadcastState, action, s)
}

// Active reports whether the broadcast may still send.
func (b *Broadcast) Active() bool {
	return b.State == BroadcastScheduled || b.State == BroadcastSending || b.State == BroadcastPaused
}

// RecipientStatus is where one recipient of a broadcast stands.
type RecipientStatus string

// Recipient statuses. RecipientSending is internal: the send is being
// made (its message may exist); the API shows it as queued.
const (
	RecipientQueued    RecipientStatus = "queued"
	RecipientSending   RecipientStatus = "sending"
	RecipientSent      RecipientStatus = "sent"
	RecipientDelivered RecipientStatus = "delivered"
	RecipientRead      RecipientStatus = "read"
	RecipientFailed    RecipientStatus = "failed"
	RecipientReplied   RecipientStatus = "replied"
	RecipientOptedOut  RecipientStatus = "opted_out"
	RecipientSkipped   RecipientStatus = "skipped"
)

// RecipientStatuses lists the statuses the API shows.
var RecipientStatuses = []RecipientStatus{RecipientQueued, RecipientSent, RecipientDelivered, RecipientRead,
	RecipientFailed, RecipientReplied, RecipientOptedOut, RecipientSkipped}

// Public is the status the API shows.
func (s RecipientStatus) Public() RecipientStatus {
	if s == RecipientSending {
		return RecipientQueued
	}
	return s
}

// Skip reasons of recipients.
const (
	SkipNoWhatsApp     = "no_whatsapp"
	SkipUnsubscribed   = "unsubscribed"
	SkipBlocked        = "blocked"
	SkipInvalidPhone   = "invalid_phone"
	SkipDuplicate      = "duplicate"
	SkipVariables      = "variables"
	SkipContactGone    = "contact_deleted"
	SkipTierLimit      = "tier_limit"
	SkipNotInWorkspace = "not_found"
)

// BroadcastRecipient is one contact of a broadcast and how its send went.
type BroadcastRecipient struct {
	BroadcastID ID              `json:"broadcast_id"`
	ContactID   ID              `json:"contact_id"`
	Name        string          `json:"name"`
	Phone       string          `json:"phone"` // the WhatsApp id (digits)
	Status      RecipientStatus `json:"status"`
	ErrorCode   string          `json:"error_code,omitempty"`
	ErrorReason string          `json:"error_reason,omitempty"`
	SkipReason  string          `json:"skip_reason,omitempty"`
	// MessageID is the WhatsApp message id once sent; ConversationID and
	// Seq name the message in the inbox.
	MessageID      string    `json:"message_id,omitempty"`
	ConversationID ID        `json:"conversation_id,omitzero"`
	Seq            uint64    `json:"seq,omitempty"`
	Attempts       int       `json:"attempts,omitempty"`
	RetryAt        time.Time `json:"retry_at,omitzero"`
	QueuedAt       time.Time `json:"queued_at,omitzero"`
	SentAt         time.Time `json:"sent_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// BroadcastSendTag marks a broadcast's message to one contact: it is
// the message's idempotency key (kept as its reasoning), by which a send
// made again after a restart finds the message made before.
func BroadcastSendTag(broadcast, contact ID) string {
	return "broadcast " + broadcast.String() + " contact " + contact.String()
}

// ParseBroadcastSendTag reads a BroadcastSendTag.
func ParseBroadcastSendTag(tag string) (broadcast, contact ID, ok bool) {
	rest, found := strings.CutPrefix(tag, "broadcast ")
	if !found {
		return ZeroID, ZeroID, false
	}
	b, c, found := strings.Cut(rest, " contact ")
	if !found {
		return ZeroID, ZeroID, false
	}
	var err1, err2 error
	broadcast, err1 = ParseID(b)
	contact, err2 = ParseID(c)
	return broadcast, contact, err1 == nil && err2 == nil
}

func recipientRank(s RecipientStatus) int {
	switch s {
	case RecipientQueued:
		return 0
	case RecipientSending:
		return 1
	case RecipientSent:
		return 2
	case RecipientDelivered:
		return 3
	case RecipientRead:
		return 4
	case RecipientReplied:
		return 5
	}
	return -1
}

// NextRecipientStatus returns the status a recipient in cur takes on a
// report of next, and whether it changes. Progress is monotonic
// (queued → sending → sent → delivered → read → replied; a late delivered
// after read changes nothing); failed ends a send not yet delivered (a
// failed send may be queued again to retry); opted_out ends any but a
// skipped one; skipped is final. A reply counts from any sent state, and
// from failed too (the customer wrote, whatever the report said).
func NextRecipientStatus(cur, next RecipientStatus) (RecipientStatus, bool) {
	if cur == next || cur == RecipientSkipped || cur == RecipientOptedOut {
		return cur, false
	}
	switch next {
	case RecipientSkipped:
		return next, cur == RecipientQueued
	case RecipientOptedOut:
		return next, true
	case RecipientFailed:
		r := recipientRank(cur)
		return next, r >= 0 && r <= recipientRank(RecipientSent)
	case RecipientQueued:
		return next, cur == RecipientFailed || cur == RecipientSending
	case RecipientReplied:
		return next, cur != RecipientQueued
	}
	if cur == RecipientFailed {
		// A delivery report after a failure: Meta delivered it after all.
		return next, recipientRank(next) >= recipientRank(RecipientSent)
	}
	return next, recipientRank(next) > recipientRank(cur)
}

// add counts a recipient of status s into c with sign d (1 or -1).
func (c *BroadcastCounts) add(s RecipientStatus, d int64) {
	r := recipientRank(s)
	switch {
	case s == RecipientQueued || s == RecipientSending:
		c.Queued += d
	case s == RecipientFailed:
		c.Failed += d
	case s == RecipientOptedOut:
		c.OptedOut += d
	case s == RecipientSkipped:
		c.Skipped += d
	}
	if r >= recipientRank(RecipientSent) {
		c.Sent += d
	}
	if r >= recipientRank(RecipientDelivered) {
		c.Delivered += d
	}
	if r >= recipientRank(RecipientRead) {
		c.Read += d
	}
	if s == RecipientReplied {
		c.Replied += d
	}
}

// Add counts a new recipient of status s.
func (c *BroadcastCounts) Add(s RecipientStatus) {
	c.Total++
	c.add(s, 1)
}

// Move counts a recipient's change from one status to another.
func (c *BroadcastCounts) Move(from, to RecipientStatus) {
	c.add(from, -1)
	c.add(to, 1)
}

// BroadcastAddress returns the WhatsApp id a contact is reached at (its
// WhatsApp identity, else its phone as WhatsApp writes it: E.164 digits
// without the plus) or the reason it is skipped: blocked, unsubscribed,
// or without a WhatsApp identity or valid phone.
func BroadcastAddress(c *Contact) (waID, skip string) {
	switch {
	case c.Blocked:
		return "", SkipBlocked
	case c.Unsubscribed:
		return "", SkipUnsubscribed
	}
	for _, id := range c.Identities {
		if id.Channel == ChannelWhatsApp && id.ExternalID != "" {
			return id.ExternalID, ""
		}
	}
	if p := NormalizePhone(c.Profile.Phone); p != "" {
		return strings.TrimPrefix(p, "+"), ""
	}
	return "", SkipNoWhatsApp
}

// BroadcastCSVRow is a row of an audience's CSV.
type BroadcastCSVRow struct {
	Line  int
	Phone string // E.164, "" when the row's phone is not valid
	Name  string
}

// ParseBroadcastCSV reads an audience's CSV: a phone and an optional
// name per row, with or without a header row (one whose first column
// has no digit); more columns are ignored. Phones are normalised to
// E.164 (NormalizePhone); a row whose phone is not valid is returned
// with Phone "".
func ParseBroadcastCSV(text string) ([]BroadcastCSVRow, error) {
	if len(text) > MaxBroadcastCSVBytes {
		return nil, fmt.Errorf("%w: the csv is larger than %d bytes", ErrInvalid, MaxBroadcastCSVBytes)
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("%w: the csv is not UTF-8", ErrInvalid)
	}
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	var out []BroadcastCSVRow
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: csv: %s", ErrInvalid, err.Error())
		}
		if len(rec) == 0 || len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if line == 1 && !strings.ContainsAny(rec[0], "0123456789") {
			continue // a header
		}
		row := BroadcastCSVRow{Line: line, Phone: NormalizePhone(rec[0])}
		if len(rec) > 1 {
			row.Name = truncateBytes(strings.TrimSpace(rec[1]), 256)
		}
		out = append(out, row)
		if len(out) > MaxBroadcastRecipients {
			return nil, fmt.Errorf("%w: the csv has more than %d rows", ErrInvalid, MaxBroadcastRecipients)
		}
	}
	return out, nil
}

// BroadcastTemplateSend turns a broadcast's variables into the template
// send of engine.BuildTemplateMessage: each variable goes to its
// component at its index (named parameters take their names from the
// template's text).
func BroadcastTemplateSend(b *Broadcast, t *Template) TemplateSend {
	req := TemplateSend{Name: b.Template.Name, Language: b.Template.Language}
	var names = map[string][]string{}
	if h := t.Component("HEADER"); h != nil {
		names["header"] = TemplatePlaceholders(h.Text)
	}
	if body := t.Component("BODY"); body != nil {
		names["body"] = TemplatePlaceholders(body.Text)
	}
	vars := slices.Clone(b.Variables)
	slices.SortStableFunc(vars, func(x, y BroadcastVariable) int { return x.Index - y.Index })
	for _, v := range vars {
		tv := TemplateVariable{Field: v.Field, Fallback: v.Fallback}
		comp := strings.ToLower(v.Component)
		if n := names[comp]; v.Index >= 1 && v.Index <= len(n) && !isPositional(n) {
			tv.Name = n[v.Index-1]
		}
		if comp == "header" {
			req.Header = append(req.Header, tv)
		} else {
			req.Body = append(req.Body, tv)
		}
	}
	if b.HeaderMediaURL != "" {
		if h := t.Component("HEADER"); h != nil {
			req.HeaderMedia = &TemplateMedia{Type: strings.ToLower(h.Format), Link: b.HeaderMediaURL}
		}
	}
	return req
}

// ValidateBroadcast checks a broadcast before it is stored: a name, a
// WhatsApp number, a template that is approved and whose variables the
// broadcast's cover (each variable of the header and body once, by
// index; BuildTemplateMessage checks them with sample values), an
// audience, and a rate between 1 and maxRate (0 takes the default,
// capped by maxRate).
func ValidateBroadcast(b *Broadcast, t Template, maxRate int) error {
	b.Name = strings.TrimSpace(b.Name)
	switch {
	case b.Name == "" || len(b.Name) > MaxBroadcastNameBytes || !utf8.ValidString(b.Name):
		return fmt.Errorf("%w: name must be 1 to %d bytes", ErrInvalid, MaxBroadcastNameBytes)
	case b.AccountID == "":
		return fmt.Errorf("%w: account_id (the WhatsApp phone number id) is required", ErrInvalid)
	case b.Template.Name == "" || b.Template.Language == "":
		return fmt.Errorf("%w: template.name and template.language are required", ErrInvalid)
	case len(b.Variables) > 2*MaxTemplateButtons+20:
		return fmt.Errorf("%w: too many variables", ErrInvalid)
	}
	seen := map[string]bool{}
	for i := range b.Variables {
		v := &b.Variables[i]
		v.Component = strings.ToLower(strings.TrimSpace(v.Component))
		v.Field = strings.TrimSpace(v.Field)
		switch {
		case v.Component != "body" && v.Component != "header":
			return fmt.Errorf("%w: variables[%d].component must be body or header", ErrInvalid, i)
		case v.Index < 1 || v.Index > 100:
			return fmt.Errorf("%w: variables[%d].index counts from 1", ErrInvalid, i)
		case !broadcastFieldOK(v.Field):
			return fmt.Errorf("%w: variables[%d].field must be name, first_name, phone, email, company, title, country, language, custom.<key> or empty", ErrInvalid, i)
		case v.Field == "" && strings.TrimSpace(v.Fallback) == "":
			return fmt.Errorf("%w: variables[%d] needs a field or a fallback", ErrInvalid, i)
		case v.Fallback != "" && checkTemplateParam(strings.TrimSpace(v.Fallback)) != nil:
			return fmt.Errorf("%w: variables[%d].fallback %s", ErrInvalid, i, checkTemplateParam(strings.TrimSpace(v.Fallback)).Error())
		}
		key := v.Component + "/" + strconv.Itoa(v.Index)
		if seen[key] {
			return fmt.Errorf("%w: variable %s {{%d}} is given twice", ErrInvalid, v.Component, v.Index)
		}
		seen[key] = true
	}
	if b.HeaderMediaURL != "" && (len(b.HeaderMediaURL) > 2048 || !strings.HasPrefix(b.HeaderMediaURL, "https://")) {
		return fmt.Errorf("%w: header_media_url must be an https URL", ErrInvalid)
	}
	a := &b.Audience
	a.SegmentID = strings.TrimSpace(a.SegmentID)
	if a.SegmentID == "" && len(a.Tags) == 0 && len(a.ContactIDs) == 0 && strings.TrimSpace(a.CSV) == "" {
		return fmt.Errorf("%w: the audience needs a segment_id, tags, contact_ids or a csv", ErrInvalid)
	}
	if a.SegmentID != "" {
		if _, err := ParseID(a.SegmentID); err != nil {
			return fmt.Errorf("%w: audience.segment_id is not an id", ErrInvalid)
		}
	}
	if len(a.Tags) > MaxTags {
		return fmt.Errorf("%w: at most %d tags", ErrInvalid, MaxTags)
	}
	for _, tag := range a.Tags {
		if tag == "" || len(tag) > MaxTagBytes || !utf8.ValidString(tag) {
			return fmt.Errorf("%w: a tag has 1 to %d bytes", ErrInvalid, MaxTagBytes)
		}
	}
	if len(a.ContactIDs) > MaxBroadcastContactIDs {
		return fmt.Errorf("%w: at most %d contact_ids", ErrInvalid, MaxBroadcastContactIDs)
	}
	for _, id := range a.ContactIDs {
		if _, err := ParseID(id); err != nil {
			return fmt.Errorf("%w: audience.contact_ids holds %q, not an id", ErrInvalid, truncateBytes(id, 40))
		}
	}
	if a.CSV != "" {
		if _, err := ParseBroadcastCSV(a.CSV); err != nil {
			return err
		}
	}
	switch {
	case b.RatePerSecond == 0:
		b.RatePerSecond = min(BroadcastDefaultRate, maxRate)
	case b.RatePerSecond < 1 || b.RatePerSecond > maxRate:
		return fmt.Errorf("%w: rate_per_second must be 1 to %d for this number's messaging tier", ErrInvalid, maxRate)
	}
	// The variables must cover the template: checked with a sample
	// value for each field.
	sample := BroadcastTemplateSend(b, &t)
	for _, part := range [][]TemplateVariable{sample.Header, sample.Body} {
		for i := range part {
			if part[i].Field != "" {
				part[i].Text = "sample"
			}
		}
	}
	if _, err := BuildTemplateMessage(t, sample, nil); err != nil {
		return err
	}
	return nil
}

func broadcastFieldOK(f string) bool {
	switch strings.TrimPrefix(f, "contact.") {
	case "", "name", "first_name", "email", "phone", "company", "title", "country", "language":
		return true
	}
	key, ok := strings.CutPrefix(f, "custom.")
	return ok && key != "" && len(key) <= 64 && !strings.ContainsAny(key, " \t\n")
}

// BroadcastMessage fills the broadcast's template for one contact. A
// recipient whose variables cannot be filled (no value and no
// fallback) is skipped with SkipVariables.
func BroadcastMessage(b *Broadcast, t Template, c *Contact) (Content, error) {
	return BuildTemplateMessage(t, BroadcastTemplateSend(b, &t), c)
}

// BroadcastPacer paces one broadcast's sends at its rate, slowed by its
// backoff level (each level halves it), with the time passed in.
type BroadcastPacer struct {
	lim   *rate.Limiter
	rps   int
	level int
}

// NewBroadcastPacer returns a pacer of rps messages per second.
func NewBroadcastPacer(rps int) *BroadcastPacer {
	rps = max(rps, 1)
	return &BroadcastPacer{lim: rate.NewLimiter(rate.Limit(rps), max(rps/10, 1)), rps: rps}
}

// SetLevel slows the pacer to rate / 2^level.
func (p *BroadcastPacer) SetLevel(level int, now time.Time) {
	if level == p.level {
		return
	}
	p.level = level
	p.lim.SetLimitAt(now, rate.Limit(float64(p.rps)/float64(int(1)<<min(level, 10))))
}

// Take reserves n sends at now and returns when they may go.
func (p *BroadcastPacer) Take(now time.Time, n int) time.Time {
	r := p.lim.ReserveN(now, n)
	if !r.OK() {
		return now.Add(time.Second)
	}
	return now.Add(r.DelayFrom(now))
}

// Allowed returns how many sends may go at now without waiting (at most
// max), and takes them.
func (p *BroadcastPacer) Allowed(now time.Time, maxN int) int {
	n := min(int(p.lim.TokensAt(now)), maxN)
	if n <= 0 || !p.lim.AllowN(now, n) {
		return 0
	}
	return n
}

// BroadcastInFlightLimit is how many of a broadcast's recipients may be
// handed out and not yet answered (Meta's acceptance or a failure) at
// once, for a broadcast of rps messages a second: one second of sends,
// at least 20. The pace hands out no more while that many wait, so it
// follows the rate actually accepted and no backlog builds behind it.
func BroadcastInFlightLimit(rps int) int { return max(rps, 20) }

// BroadcastErrorAction is what a failed send of a broadcast leads to.
type BroadcastErrorAction int

// Outcomes of a failed send.
const (
	// BroadcastFail fails the recipient with the error.
	BroadcastFail BroadcastErrorAction = iota
	// BroadcastRetryRecipient sends to the recipient again at RetryAt;
	// the others go on (131056, pair rate limit).
	BroadcastRetryRecipient
	// BroadcastBackoff slows the whole broadcast down (BackoffLevel,
	// BackoffUntil) and sends to the recipient again (130429, 131048).
	BroadcastBackoff
)

// Pacing bounds of failed sends.
const (
	BroadcastPairRetry       = 6 * time.Second
	BroadcastMaxAttempts     = 6
	BroadcastBackoffBase     = time.Second
	BroadcastBackoffMax      = 5 * time.Minute
	BroadcastMaxBackoffLevel = 8
)

// BroadcastErrorDecision is BroadcastOnError's answer.
type BroadcastErrorDecision struct {
	Action       BroadcastErrorAction
	RetryAt      time.Time
	BackoffLevel int
	BackoffUntil time.Time
}

// BroadcastOnError decides what a send that failed with Meta error code
// (the recipient's attempts-th) does at now, given the broadcast's
// backoff level: 131056 (pair rate limit) retries that recipient about
// 6 s later, doubling; 130429 (throughput) and 131048 (spam rate limit)
// slow the whole broadcast (its rate halves per level, and it waits 1 s,
// 2 s, 4 s... up to 5 min) and retry the recipient after; a recipient is
// tried at most BroadcastMaxAttempts times; any other code fails it.
func BroadcastOnError(code string, attempts, level int, now time.Time) BroadcastErrorDecision {
	d := BroadcastErrorDecision{Action: BroadcastFail, BackoffLevel: level}
	if attempts >= BroadcastMaxAttempts {
		return d
	}
	switch code {
	case "131056":
		wait := BroadcastPairRetry << min(max(attempts-1, 0), 6)
		d.Action, d.RetryAt = BroadcastRetryRecipient, now.Add(min(wait, BroadcastBackoffMax))
	case "130429", "131048":
		d.BackoffLevel = min(level+1, BroadcastMaxBackoffLevel)
		wait := min(BroadcastBackoffBase<<(d.BackoffLevel-1), BroadcastBackoffMax)
		d.Action, d.BackoffUntil, d.RetryAt = BroadcastBackoff, now.Add(wait), now.Add(wait)
	}
	return d
}

// BroadcastRecovered lowers a broadcast's backoff level after sent
// messages since the last backoff: one level per 100 sent.
func BroadcastRecovered(level, sentSinceBackoff int) int {
	return max(level-sentSinceBackoff/100, 0)
}

// ParseBroadcastTime reads a scheduled_at: RFC 3339, or without an
// offset ("2026-12-24T09:00:00") in loc.
func ParseBroadcastTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: scheduled_at must be RFC 3339 (2026-12-24T09:00:00Z), or without an offset in the workspace's time zone", ErrInvalid)
}

// SendBroadcast is a broadcast's template message to the conversation's
// contact: stored as sending with its idempotency key (BroadcastSendTag)
// as reasoning and handed to the courier like any reply. Unlike a
// person's reply it leaves the mode as it is: the AI keeps answering
// the customer by the usual rules.
type SendBroadcast struct {
	Content Content
	Tag     string
}

func (SendBroadcast) isCommand() {}

func (a *applier) sendBroadcast(cmd SendBroadcast) error {
	switch {
	case a.c.Blocked:
		return ErrBlocked
	case a.c.Unsubscribed:
		return ErrBroadcastUnsubscribed
	case a.c.Channel != ChannelWhatsApp || cmd.Content.Kind != KindTemplate:
		return fmt.Errorf("%w: broadcasts send WhatsApp templates only", ErrInvalid)
	}
	if err := validContent(cmd.Content); err != nil {
		return err
	}
	a.sendOut(Sender{Kind: SenderBroadcast}, cmd.Content, cmd.Tag)
	return nil
}

// BroadcastThrottled reports whether a send error code is one of Meta's
// limits a broadcast paces itself by (BroadcastOnError): the courier
// hands such a failure back instead of retrying it.
func BroadcastThrottled(code string) bool {
	return code == "131056" || code == "130429" || code == "131048"
}

func validTier(t string) bool {
	_, _, ok := BroadcastTierLimit(t)
	return ok
}
