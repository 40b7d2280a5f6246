package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Automations (docs/ARCHITECTURE.md, "Automations"): a workspace's rules,
// each a trigger, conditions and actions. The rules here are pure: which
// triggers an event makes (AutomationTriggers), whether a rule fires on
// one (MatchAutomation), what it does (PlanAutomation) and who the next
// owner of a round-robin is (PickOwner). The runtime's automation runner
// feeds them published events and the time, and the owning actors apply
// the planned actions.

// Automation limits.
const (
	// MaxAutomations is how many rules a workspace keeps.
	MaxAutomations = 100
	// MaxAutomationConditions and MaxAutomationActions bound one rule.
	MaxAutomationConditions = 20
	MaxAutomationActions    = 10
	// MaxAutomationUsers bounds the users an owner assignment picks from.
	MaxAutomationUsers = 50
	// MaxAutomationNameBytes bounds a rule's name.
	MaxAutomationNameBytes = 200
	// MaxAutomationDepth is how long a chain of rules, each triggered by
	// the previous one's action, may grow before it is stopped.
	MaxAutomationDepth = 5
	// MaxNoReplyHours bounds the "no reply for N hours" trigger.
	MaxNoReplyHours = 24 * 30
	// MaxAutomationBodyBytes bounds a rule's JSON body.
	MaxAutomationBodyBytes = 64 << 10
)

// AutomationTriggerType names what starts a rule.
type AutomationTriggerType string

// Trigger types.
const (
	TriggerContactCreated     AutomationTriggerType = "contact_created"
	TriggerFormSubmitted      AutomationTriggerType = "form_submitted"
	TriggerConversationOpened AutomationTriggerType = "conversation_opened"
	TriggerTagAdded           AutomationTriggerType = "tag_added"
	TriggerStageChanged       AutomationTriggerType = "stage_changed"
	TriggerNoReply            AutomationTriggerType = "no_reply"
)

// AutomationTriggerTypes lists the trigger types.
var AutomationTriggerTypes = []AutomationTriggerType{TriggerContactCreated, TriggerFormSubmitted,
	TriggerConversationOpened, TriggerTagAdded, TriggerStageChanged, TriggerNoReply}

// AutomationTriggerSpec is a rule's trigger. Source narrows
// contact_created to contacts of one source, FormID form_submitted to
// one form, Tag tag_added to one tag, StageID stage_changed to moves
// into one stage; Hours is no_reply's wait.
type AutomationTriggerSpec struct {
	Type    AutomationTriggerType `json:"type"`
	Source  ContactSource         `json:"source,omitempty"`
	FormID  string                `json:"form_id,omitempty"`
	Tag     string                `json:"tag,omitempty"`
	StageID string                `json:"stage_id,omitempty"`
	Hours   int                   `json:"hours,omitempty"`
}

// AutomationConditionKind names what a condition checks.
type AutomationConditionKind string

// Condition kinds.
const (
	CondChannel       AutomationConditionKind = "channel"
	CondSource        AutomationConditionKind = "source"
	CondTag           AutomationConditionKind = "tag"
	CondField         AutomationConditionKind = "field"
	CondStage         AutomationConditionKind = "stage"
	CondBusinessHours AutomationConditionKind = "business_hours"
	// CondSegment holds when the contact is a member of segment Value
	// (as the segments' membership index says: AutomationState.Segments).
	CondSegment AutomationConditionKind = "segment"
)

// AutomationCondition is one check; a rule fires when all of them hold.
// Value is the channel, source, tag, stage id, segment id or field value (Key names
// the field); Not turns the check around. business_hours holds from
// Start to End ("09:00", "17:30") on Days (0 Sunday … 6 Saturday) in
// time zone TimeZone (IANA; empty is UTC).
type AutomationCondition struct {
	Kind     AutomationConditionKind `json:"kind"`
	Key      string                  `json:"key,omitempty"`
	Value    string                  `json:"value,omitempty"`
	Not      bool                    `json:"not,omitempty"`
	Days     []int                   `json:"days,omitempty"`
	Start    string                  `json:"start,omitempty"`
	End      string                  `json:"end,omitempty"`
	TimeZone string                  `json:"time_zone,omitempty"`
}

// AutomationActionType names what an action does.
type AutomationActionType string

// Action types. The contact's actions (assign_owner, set_stage) run in
// the contact's actor, the conversation's (add_tag, remove_tag,
// assign_conversation, set_priority) in the conversation's.
const (
	ActionAssignOwner        AutomationActionType = "assign_owner"
	ActionSetStage           AutomationActionType = "set_stage"
	ActionAddTag             AutomationActionType = "add_tag"
	ActionRemoveTag          AutomationActionType = "remove_tag"
	ActionAssignConversation AutomationActionType = "assign_conversation"
	ActionSetPriority        AutomationActionType = "set_priority"
	// ActionSendCanned sends canned reply CannedID's body in the
	// conversation through its actor's normal send path (the courier and
	// its outbox), as the AI: the conversation's mode is left as it is.
	ActionSendCanned AutomationActionType = "send_canned"
	// ActionNotifyUser tells UserID, with Text, through a note on the
	// contact that mentions them: the note.mentioned notification, which
	// honours the user's notification settings ("mentioned").
	ActionNotifyUser AutomationActionType = "notify_user"
	// ActionCallWebhook POSTs the run as signed JSON (SignWebhook with
	// Secret) to URL, from the runner's bounded pool.
	ActionCallWebhook AutomationActionType = "call_webhook"
	// ActionAssignTeam assigns the conversation to team TeamID, whose
	// distribution picks the member (PickTeamMember), through the
	// runtime's TeamAssigner.
	ActionAssignTeam AutomationActionType = "assign_team"
)

// Owner assignment strategies.
const (
	AssignRoundRobin  = "round_robin"
	AssignLeastLoaded = "least_loaded"
)

// AutomationAction is one thing a rule does. assign_owner picks among
// Users by Strategy; set_stage moves the contact to StageID; add_tag and
// remove_tag change Tag on the conversation; assign_conversation gives
// the conversation to UserID; set_priority stars it (the priority tag);
// send_canned sends canned reply CannedID; notify_user tells UserID
// (Text is the note's text, a default when empty); call_webhook POSTs to
// URL signed with Secret.
type AutomationAction struct {
	Type     AutomationActionType `json:"type"`
	Users    []ID                 `json:"users,omitempty"`
	Strategy string               `json:"strategy,omitempty"`
	StageID  string               `json:"stage_id,omitempty"`
	Tag      string               `json:"tag,omitempty"`
	UserID   string               `json:"user_id,omitempty"`
	CannedID string               `json:"canned_id,omitempty"`
	Text     string               `json:"text,omitempty"`
	URL      string               `json:"url,omitempty"`
	Secret   string               `json:"secret,omitempty"`
	TeamID   string               `json:"team_id,omitempty"`
}

// MaxAutomationNotifyBytes bounds a notify_user action's text.
const MaxAutomationNotifyBytes = 1000

// ContactAction reports whether the action changes the contact (run by
// its actor) rather than a conversation.
func (a AutomationAction) ContactAction() bool {
	return a.Type == ActionAssignOwner || a.Type == ActionSetStage
}

// Automation is a workspace's rule.
type Automation struct {
	ID          ID                    `json:"id"`
	WorkspaceID ID                    `json:"workspace_id"`
	Name        string                `json:"name"`
	Enabled     bool                  `json:"enabled"`
	Trigger     AutomationTriggerSpec `json:"trigger"`
	Conditions  []AutomationCondition `json:"conditions"`
	Actions     []AutomationAction    `json:"actions"`
	// Preset names the one-click case the rule was made from, if any.
	Preset    string    `json:"preset,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AutomationBody is what the API takes to create or replace a rule.
type AutomationBody struct {
	Name       string                `json:"name"`
	Enabled    *bool                 `json:"enabled,omitempty"`
	Trigger    AutomationTriggerSpec `json:"trigger"`
	Conditions []AutomationCondition `json:"conditions"`
	Actions    []AutomationAction    `json:"actions"`
}

// ParseAutomationBody reads a rule's JSON body strictly (unknown fields,
// trailing data and oversized bodies are refused) and checks it.
func ParseAutomationBody(data []byte) (AutomationBody, error) {
	var b AutomationBody
	if len(data) > MaxAutomationBodyBytes {
		return b, fmt.Errorf("%w: body exceeds %d bytes", ErrInvalid, MaxAutomationBodyBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return AutomationBody{}, fmt.Errorf("%w: body: %v", ErrInvalid, err)
	}
	if dec.More() {
		return AutomationBody{}, fmt.Errorf("%w: body: data after the JSON object", ErrInvalid)
	}
	if err := ValidateAutomationBody(&b); err != nil {
		return AutomationBody{}, err
	}
	return b, nil
}

func autoInvalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func autoCheckText(what, s string, max int) error {
	if !utf8.ValidString(s) || len(s) > max || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }) {
		return autoInvalidf("%s must be one line of at most %d bytes", what, max)
	}
	return nil
}

func autoCheckID(what, s string) error {
	if _, err := ParseID(s); err != nil {
		return autoInvalidf("%s %q is not an id", what, s)
	}
	return nil
}

// parseAutomationClock reads "HH:MM" into minutes since midnight.
func parseAutomationClock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh == 24 && mm != 0 {
		return 0, false
	}
	return hh*60 + mm, true
}

// ValidateAutomationBody checks a rule's body, tidying its name.
func ValidateAutomationBody(b *AutomationBody) error {
	b.Name = strings.TrimSpace(b.Name)
	if b.Name == "" {
		return autoInvalidf("name is required")
	}
	if err := autoCheckText("name", b.Name, MaxAutomationNameBytes); err != nil {
		return err
	}
	t := &b.Trigger
	if !slices.Contains(AutomationTriggerTypes, t.Type) {
		return autoInvalidf("unknown trigger type %q", t.Type)
	}
	if t.Source != "" && (t.Type != TriggerContactCreated || !t.Source.Valid()) {
		return autoInvalidf("trigger source %q applies to contact_created with a known source", t.Source)
	}
	if t.FormID != "" && (t.Type != TriggerFormSubmitted || autoCheckText("form_id", t.FormID, 64) != nil) {
		return autoInvalidf("trigger form_id applies to form_submitted")
	}
	if t.Tag != "" && (t.Type != TriggerTagAdded || autoCheckText("tag", t.Tag, 64) != nil) {
		return autoInvalidf("trigger tag applies to tag_added")
	}
	if t.StageID != "" && (t.Type != TriggerStageChanged || autoCheckID("trigger stage_id", t.StageID) != nil) {
		return autoInvalidf("trigger stage_id must be a stage id, for stage_changed")
	}
	if (t.Type == TriggerNoReply) != (t.Hours != 0) {
		return autoInvalidf("trigger hours is required by no_reply, and only by it")
	}
	if t.Hours < 0 || t.Hours > MaxNoReplyHours {
		return autoInvalidf("trigger hours must be 1 to %d", MaxNoReplyHours)
	}
	if len(b.Conditions) > MaxAutomationConditions {
		return autoInvalidf("at most %d conditions", MaxAutomationConditions)
	}
	for i := range b.Conditions {
		if err := validateAutomationCondition(&b.Conditions[i]); err != nil {
			return fmt.Errorf("condition %d: %w", i, err)
		}
	}
	if len(b.Actions) == 0 || len(b.Actions) > MaxAutomationActions {
		return autoInvalidf("a rule has 1 to %d actions", MaxAutomationActions)
	}
	for i := range b.Actions {
		if err := validateAutomationAction(&b.Actions[i]); err != nil {
			return fmt.Errorf("action %d: %w", i, err)
		}
	}
	return nil
}

func validateAutomationCondition(c *AutomationCondition) error {
	if c.Kind != CondBusinessHours && (len(c.Days) > 0 || c.Start != "" || c.End != "" || c.TimeZone != "") {
		return autoInvalidf("days, start, end and time_zone belong to business_hours")
	}
	if c.Kind != CondField && c.Key != "" {
		return autoInvalidf("key belongs to field conditions")
	}
	switch c.Kind {
	case CondChannel:
		if !Channel(c.Value).Valid() {
			return autoInvalidf("unknown channel %q", c.Value)
		}
	case CondSource:
		if !ContactSource(c.Value).Valid() {
			return autoInvalidf("unknown source %q", c.Value)
		}
	case CondTag:
		if c.Value == "" {
			return autoInvalidf("tag condition needs a value")
		}
		return autoCheckText("tag", c.Value, 64)
	case CondField:
		if c.Key == "" {
			return autoInvalidf("field condition needs a key")
		}
		if err := autoCheckText("key", c.Key, 64); err != nil {
			return err
		}
		return autoCheckText("value", c.Value, 1024)
	case CondStage:
		return autoCheckID("stage", c.Value)
	case CondSegment:
		return autoCheckID("segment", c.Value)
	case CondBusinessHours:
		if c.Value != "" {
			return autoInvalidf("business_hours takes no value")
		}
		s, ok1 := parseAutomationClock(c.Start)
		e, ok2 := parseAutomationClock(c.End)
		if !ok1 || !ok2 || s >= e {
			return autoInvalidf("business_hours needs start before end, as HH:MM")
		}
		if len(c.Days) == 0 || len(c.Days) > 7 {
			return autoInvalidf("business_hours needs 1 to 7 days")
		}
		for _, d := range c.Days {
			if d < 0 || d > 6 {
				return autoInvalidf("days are 0 (Sunday) to 6 (Saturday)")
			}
		}
		if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "Local" || len(c.TimeZone) > 64 {
			return autoInvalidf("unknown time_zone %q", c.TimeZone)
		}
	default:
		return autoInvalidf("unknown condition kind %q", c.Kind)
	}
	return nil
}

func validateAutomationAction(a *AutomationAction) error {
	// others are the fields no action but the new ones takes.
	others := []bool{a.CannedID != "", a.Text != "", a.URL != "", a.Secret != "", a.TeamID != ""}
	none := func(fields ...bool) error {
		if slices.Contains(fields, true) || a.Type != ActionSendCanned && a.Type != ActionNotifyUser &&
			a.Type != ActionCallWebhook && a.Type != ActionAssignTeam && slices.Contains(others, true) {
			return autoInvalidf("%s takes only its own fields", a.Type)
		}
		return nil
	}
	switch a.Type {
	case ActionAssignOwner:
		if a.Strategy != AssignRoundRobin && a.Strategy != AssignLeastLoaded {
			return autoInvalidf("strategy must be round_robin or least_loaded")
		}
		if len(a.Users) == 0 || len(a.Users) > MaxAutomationUsers {
			return autoInvalidf("assign_owner needs 1 to %d users", MaxAutomationUsers)
		}
		for i, u := range a.Users {
			if u == ZeroID || slices.Contains(a.Users[:i], u) {
				return autoInvalidf("users must be distinct user ids")
			}
		}
		return none(a.StageID != "", a.Tag != "", a.UserID != "")
	case ActionSetStage:
		if err := autoCheckID("stage_id", a.StageID); err != nil {
			return err
		}
		return none(len(a.Users) > 0, a.Strategy != "", a.Tag != "", a.UserID != "")
	case ActionAddTag, ActionRemoveTag:
		if a.Tag == "" {
			return autoInvalidf("%s needs a tag", a.Type)
		}
		if err := autoCheckText("tag", a.Tag, 64); err != nil {
			return err
		}
		return none(len(a.Users) > 0, a.Strategy != "", a.StageID != "", a.UserID != "")
	case ActionAssignConversation:
		if err := autoCheckID("user_id", a.UserID); err != nil {
			return err
		}
		return none(len(a.Users) > 0, a.Strategy != "", a.StageID != "", a.Tag != "")
	case ActionSetPriority:
		return none(len(a.Users) > 0, a.Strategy != "", a.StageID != "", a.Tag != "", a.UserID != "")
	case ActionSendCanned:
		if err := autoCheckID("canned_id", a.CannedID); err != nil {
			return err
		}
		return none(len(a.Users) > 0, a.Strategy != "", a.StageID != "", a.Tag != "", a.UserID != "",
			a.Text != "", a.URL != "", a.Secret != "", a.TeamID != "")
	case ActionNotifyUser:
		if err := autoCheckID("user_id", a.UserID); err != nil {
			return err
		}
		a.Text = strings.TrimSpace(a.Text)
		if !utf8.ValidString(a.Text) || len(a.Text) > MaxAutomationNotifyBytes {
			return autoInvalidf("text must be at most %d bytes", MaxAutomationNotifyBytes)
		}
		return none(len(a.Users) > 0, a.Strategy != "", a.StageID != "", a.Tag != "", a.CannedID != "",
			a.URL != "", a.Secret != "", a.TeamID != "")
	case ActionCallWebhook:
		// The outgoing webhooks' checks: an http(s) URL with a host and
		// no credentials, a secret of 16 to 256 bytes.
		u, s := a.URL, a.Secret
		w, err := ApplyWebhook(Webhook{}, WebhookChange{URL: &u, Secret: &s, Events: []WebhookEvent{WebhookEvents[0]}}, time.Time{})
		if err != nil {
			return err
		}
		a.URL = w.URL
		return none(len(a.Users) > 0, a.Strategy != "", a.StageID != "", a.Tag != "", a.UserID != "",
			a.CannedID != "", a.Text != "", a.TeamID != "")
	case ActionAssignTeam:
		if err := autoCheckID("team_id", a.TeamID); err != nil {
			return err
		}
		return none(len(a.Users) > 0, a.Strategy != "", a.StageID != "", a.Tag != "", a.UserID != "",
			a.CannedID != "", a.Text != "", a.URL != "", a.Secret != "")
	default:
		return autoInvalidf("unknown action type %q", a.Type)
	}
}

// ApplyAutomationBody makes rule r (new when r.ID is zero: give it id)
// from body b at now.
func ApplyAutomationBody(r Automation, b AutomationBody, id ID, ws ID, now time.Time) Automation {
	if r.ID == ZeroID {
		r = Automation{ID: id, WorkspaceID: ws, Enabled: true, CreatedAt: now}
	}
	r.Name, r.Trigger, r.Conditions, r.Actions = b.Name, b.Trigger, b.Conditions, b.Actions
	if r.Conditions == nil {
		r.Conditions = []AutomationCondition{}
	}
	if b.Enabled != nil {
		r.Enabled = *b.Enabled
	}
	r.UpdatedAt = now
	return r
}

// Automation presets: the one-click rules.
const (
	PresetAssignOwners  = "assign_owners"
	PresetStartingStage = "starting_stage"
)

// AutomationPreset builds the body of a one-click rule: assign_owners
// gives every new contact an owner, round-robin among users;
// starting_stage puts every new contact in stage.
func AutomationPreset(name string, users []ID, stage ID) (AutomationBody, error) {
	var b AutomationBody
	switch name {
	case PresetAssignOwners:
		b = AutomationBody{Name: "Assign an owner to every new contact",
			Trigger: AutomationTriggerSpec{Type: TriggerContactCreated},
			Actions: []AutomationAction{{Type: ActionAssignOwner, Strategy: AssignRoundRobin, Users: users}}}
	case PresetStartingStage:
		if stage == ZeroID {
			return b, autoInvalidf("starting_stage needs a stage_id")
		}
		b = AutomationBody{Name: "Put every new contact in a starting stage",
			Trigger: AutomationTriggerSpec{Type: TriggerContactCreated},
			Actions: []AutomationAction{{Type: ActionSetStage, StageID: stage.String()}}}
	default:
		return b, autoInvalidf("unknown preset %q", name)
	}
	b.Conditions = []AutomationCondition{}
	return b, ValidateAutomationBody(&b)
}

// AutomationCause travels with the events of a change made by a rule, so
// that a rule triggered by them knows the chain that led to it. It is
// not sent to subscribers.
type AutomationCause struct {
	// Chain lists the rules that led to the change, the first first.
	Chain []ID
}

// AutomationTrigger is one occurrence that may start rules: its type,
// the stable key of what happened (the same occurrence always has the
// same key, so a rule runs once per key), and what it is about.
type AutomationTrigger struct {
	Type           AutomationTriggerType `json:"type"`
	Key            string                `json:"key"`
	ContactID      ID                    `json:"contact_id"`
	ConversationID ID                    `json:"conversation_id,omitzero"`
	Source         ContactSource         `json:"source,omitempty"`
	FormID         string                `json:"form_id,omitempty"`
	Tag            string                `json:"tag,omitempty"`
	StageID        string                `json:"stage_id,omitempty"`
	// Hours is, for no_reply, how long the customer has waited.
	Hours int `json:"hours,omitempty"`
	// Chain is the rules whose actions led here (AutomationCause).
	Chain []ID `json:"chain,omitempty"`
}

// AutomationFormData is the Data of a form.submitted event.
type AutomationFormData struct {
	FormID       string `json:"form_id"`
	SubmissionID string `json:"submission_id"`
	ContactID    string `json:"contact_id"`
	Created      bool   `json:"created"`
}

// AutomationTriggers returns the triggers published event ev makes
// (no_reply aside: NoReplyTrigger). A contact made by a form starts
// form_submitted and contact_created with source form.
func AutomationTriggers(ev *Event) []AutomationTrigger {
	var chain []ID
	if ev.Automation != nil {
		chain = ev.Automation.Chain
	}
	var out []AutomationTrigger
	add := func(t AutomationTrigger) {
		t.Chain = chain
		out = append(out, t)
	}
	switch ev.Type {
	case EventContactCreated:
		c, ok := ev.Data.(*Contact)
		if !ok || c == nil {
			return nil
		}
		add(AutomationTrigger{Type: TriggerContactCreated, Key: "contact:" + c.ID.String(), ContactID: c.ID, Source: c.Source})
	case EventContactUpdated:
		c, ok := ev.Data.(*Contact)
		ch := ev.ContactChange
		if !ok || c == nil || ch == nil || ch.Kind != ChangeStage || c.Stage == nil {
			return nil
		}
		add(AutomationTrigger{Type: TriggerStageChanged, Key: "change:" + ch.ID.String(), ContactID: c.ID,
			StageID: c.Stage.StageID.String()})
	case EventFormSubmitted:
		var f AutomationFormData
		raw, err := json.Marshal(ev.Data)
		if err != nil || json.Unmarshal(raw, &f) != nil {
			return nil
		}
		id, err := ParseID(f.ContactID)
		if err != nil || f.SubmissionID == "" {
			return nil
		}
		add(AutomationTrigger{Type: TriggerFormSubmitted, Key: "submission:" + f.SubmissionID, ContactID: id, FormID: f.FormID})
		if f.Created {
			add(AutomationTrigger{Type: TriggerContactCreated, Key: "contact:" + id.String(), ContactID: id, Source: SourceForm})
		}
	case EventConversationCreated, EventConversationUpdated:
		c := ev.Conversation
		if c == nil || c.ContactID == ZeroID {
			return nil
		}
		if ev.NewContact {
			add(AutomationTrigger{Type: TriggerContactCreated, Key: "contact:" + c.ContactID.String(),
				ContactID: c.ContactID, ConversationID: c.ID, Source: SourceChat})
		}
		var before *Conversation
		if ev.Type == EventConversationUpdated {
			before = ev.Before
			if before == nil {
				return out
			}
		}
		if !c.OpenedAt.IsZero() && c.Folder == FolderOpen && (before == nil || !before.OpenedAt.Equal(c.OpenedAt)) {
			add(AutomationTrigger{Type: TriggerConversationOpened,
				Key: "opened:" + c.ID.String() + ":" + strconv.FormatInt(c.OpenedAt.UnixNano(), 10), ContactID: c.ContactID, ConversationID: c.ID})
		}
		if before != nil {
			for _, tag := range c.Tags {
				if !before.HasTag(tag) {
					add(AutomationTrigger{Type: TriggerTagAdded,
						Key:       "tag:" + c.ID.String() + ":" + tag + ":" + strconv.FormatUint(c.LastSeq, 10) + ":" + strconv.FormatInt(ev.At.UnixNano(), 10),
						ContactID: c.ContactID, ConversationID: c.ID, Tag: tag})
				}
			}
		}
	}
	return out
}

// NoReplyDue reports whether conversation c has waited for a reply for
// at least hours at now, and the trigger it makes: one per customer
// message waited on.
func NoReplyDue(c *Conversation, hours int, now time.Time) (AutomationTrigger, bool) {
	if !c.AwaitingReply || c.Folder != FolderOpen || c.LastInboundAt.IsZero() || c.ContactID == ZeroID ||
		now.Before(c.LastInboundAt.Add(time.Duration(hours)*time.Hour)) {
		return AutomationTrigger{}, false
	}
	return AutomationTrigger{Type: TriggerNoReply, Hours: hours, ContactID: c.ContactID, ConversationID: c.ID,
		Key: "noreply:" + c.ID.String() + ":" + strconv.FormatUint(c.LastCustomerSeq, 10) + ":" + strconv.Itoa(hours)}, true
}

// AutomationState is what a rule's conditions look at: the contact and,
// when the trigger is about one, the conversation.
type AutomationState struct {
	Contact      *Contact
	Conversation *Conversation
	// Segments is the contact's segment membership (the segments'
	// membership index): segment conditions look at it.
	Segments map[ID]bool
}

// MatchAutomation reports whether rule r fires on trigger t in state s at
// now: it is enabled, its trigger is t's (with t's narrowing) and every
// condition holds.
func MatchAutomation(r *Automation, t *AutomationTrigger, s AutomationState, now time.Time) bool {
	if !r.Enabled || r.Trigger.Type != t.Type || s.Contact == nil {
		return false
	}
	spec := r.Trigger
	switch {
	case spec.Source != "" && spec.Source != t.Source,
		spec.FormID != "" && spec.FormID != t.FormID,
		spec.Tag != "" && spec.Tag != t.Tag,
		spec.StageID != "" && spec.StageID != t.StageID,
		t.Type == TriggerNoReply && spec.Hours != t.Hours:
		return false
	}
	for i := range r.Conditions {
		if automationConditionHolds(&r.Conditions[i], s, now) == r.Conditions[i].Not {
			return false
		}
	}
	return true
}

func automationConditionHolds(c *AutomationCondition, s AutomationState, now time.Time) bool {
	switch c.Kind {
	case CondChannel:
		return s.Conversation != nil && string(s.Conversation.Channel) == c.Value
	case CondSource:
		return string(s.Contact.Source) == c.Value
	case CondTag:
		return s.Conversation != nil && s.Conversation.HasTag(c.Value)
	case CondField:
		v, ok := s.Contact.CustomFields[c.Key]
		return ok && v == c.Value
	case CondStage:
		return s.Contact.Stage != nil && s.Contact.Stage.StageID.String() == c.Value
	case CondSegment:
		id, err := ParseID(c.Value)
		return err == nil && s.Segments[id]
	case CondBusinessHours:
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return false
		}
		local := now.In(loc)
		start, _ := parseAutomationClock(c.Start)
		end, _ := parseAutomationClock(c.End)
		m := local.Hour()*60 + local.Minute()
		return slices.Contains(c.Days, int(local.Weekday())) && m >= start && m < end
	}
	return false
}

// AutomationLoop reports whether rule r may not run on trigger t because
// it is already in t's chain (its own action would start it again) or
// the chain reached MaxAutomationDepth.
func AutomationLoop(r ID, t *AutomationTrigger) bool {
	return slices.Contains(t.Chain, r) || len(t.Chain) >= MaxAutomationDepth
}

// PickOwner chooses the owner of an assign_owner action among users who
// are still in the workspace (members). Round-robin takes the user after
// the one last given (last, nil for none) in the action's order;
// least-loaded the one owning fewest contacts (loads), the action's order
// breaking ties. ok is false when no user of the action is a member.
func PickOwner(a *AutomationAction, members []User, last *ID, loads map[ID]int) (ID, bool) {
	var cands []ID
	for _, u := range a.Users {
		if slices.ContainsFunc(members, func(m User) bool { return m.ID == u }) {
			cands = append(cands, u)
		}
	}
	if len(cands) == 0 {
		return ZeroID, false
	}
	if a.Strategy == AssignLeastLoaded {
		best := cands[0]
		for _, u := range cands[1:] {
			if loads[u] < loads[best] {
				best = u
			}
		}
		return best, true
	}
	if last != nil {
		// The user after last in the action's list, skipping those gone.
		if i := slices.Index(a.Users, *last); i >= 0 {
			for j := 1; j <= len(a.Users); j++ {
				u := a.Users[(i+j)%len(a.Users)]
				if slices.Contains(cands, u) {
					return u, true
				}
			}
		}
	}
	return cands[0], true
}

// AutomationRun outcomes.
const (
	RunPending     = "pending"
	RunDone        = "done"
	RunFailed      = "failed"
	RunLoopStopped = "loop_stopped"
)

// AutomationActionResult is what one action did: "done", "unchanged"
// (the state was already so), "skipped" (nothing to act on) or
// "failed", with Detail saying more.
type AutomationActionResult struct {
	Type   AutomationActionType `json:"type"`
	Result string               `json:"result"`
	Detail string               `json:"detail,omitempty"`
}

// AutomationRun is one firing of a rule on a trigger: planned when the
// rule matches (pending, with the owner a round-robin chose fixed), and
// finished by the contact's actor, whose batch records it once per rule
// and trigger key.
type AutomationRun struct {
	ID          ID                 `json:"id"`
	WorkspaceID ID                 `json:"workspace_id"`
	RuleID      ID                 `json:"rule_id"`
	Trigger     AutomationTrigger  `json:"trigger"`
	Actions     []AutomationAction `json:"actions"`
	// Owners holds, per assign_owner action (by index), the owner chosen.
	Owners  map[int]ID               `json:"owners,omitempty"`
	Outcome string                   `json:"outcome"`
	Results []AutomationActionResult `json:"results,omitempty"`
	At      time.Time                `json:"at"`
	// FinishedAt is when the run was recorded as done (zero while pending).
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// PlanAutomation builds the pending run of rule r on trigger t at now
// (owners: the owner chosen per assign_owner action). A rule in a loop
// is planned as stopped, with no actions.
func PlanAutomation(r *Automation, t AutomationTrigger, owners map[int]ID, id ID, now time.Time) AutomationRun {
	run := AutomationRun{ID: id, WorkspaceID: r.WorkspaceID, RuleID: r.ID, Trigger: t, At: now, Outcome: RunPending}
	if AutomationLoop(r.ID, &t) {
		run.Outcome = RunLoopStopped
		return run
	}
	run.Actions = slices.Clone(r.Actions)
	run.Owners = owners
	return run
}

// Chain is the cause the run's changes carry: its trigger's chain and
// its rule.
func (run *AutomationRun) Chain() *AutomationCause {
	return &AutomationCause{Chain: append(slices.Clone(run.Trigger.Chain), run.RuleID)}
}

// FinishAutomationRun records results (one per action) on run at now: it
// is done, or failed when an action failed.
func FinishAutomationRun(run AutomationRun, results []AutomationActionResult, now time.Time) AutomationRun {
	run.Results = results
	run.FinishedAt = now
	if run.Outcome == RunPending {
		run.Outcome = RunDone
		for _, r := range results {
			if r.Result == "failed" {
				run.Outcome = RunFailed
			}
		}
	}
	return run
}

// AutomationWebhookEvent names the payload a call_webhook action POSTs
// (its X-Parley-Event header and its "event" field).
const AutomationWebhookEvent = "automation.run"

// AutomationWebhookPayload is the JSON body a call_webhook action POSTs:
// the run, its trigger and what it is about. DeliveryID (also the
// X-Parley-Delivery header) is the same on every attempt of one action
// of one run, so that a receiver drops a repeat.
type AutomationWebhookPayload struct {
	Event        string            `json:"event"`
	DeliveryID   string            `json:"delivery_id"`
	WorkspaceID  ID                `json:"workspace_id"`
	RuleID       ID                `json:"rule_id"`
	RunID        ID                `json:"run_id"`
	Trigger      AutomationTrigger `json:"trigger"`
	Contact      *Contact          `json:"contact,omitempty"`
	Conversation *Conversation     `json:"conversation,omitempty"`
	At           time.Time         `json:"at"`
}

// AutomationWebhookBody builds the payload of action i of run about
// contact and conversation (either may be nil) at now.
func AutomationWebhookBody(run *AutomationRun, i int, contact *Contact, conv *Conversation, now time.Time) AutomationWebhookPayload {
	t := run.Trigger
	t.Chain = nil
	return AutomationWebhookPayload{Event: AutomationWebhookEvent, DeliveryID: run.ID.String() + "-" + strconv.Itoa(i),
		WorkspaceID: run.WorkspaceID, RuleID: run.RuleID, RunID: run.ID, Trigger: t, Contact: contact, Conversation: conv, At: now}
}

// AutomationSendTag marks the message a send_canned action sent: the
// reasoning it carries, by which a run applied again after a stop finds
// the message already sent.
func AutomationSendTag(run *AutomationRun, i int) string {
	return "automation run " + run.ID.String() + " action " + strconv.Itoa(i)
}

// SendAutomated is a message an automation sends (send_canned): stored
// as the AI's, sending, and handed to the courier like any reply; it
// leaves the conversation's mode as it is. Tag (AutomationSendTag) is
// kept as the message's reasoning.
type SendAutomated struct {
	Content Content
	Tag     string
}

func (SendAutomated) isCommand() {}

func (a *applier) sendAutomated(cmd SendAutomated) error {
	if a.c.Blocked {
		return ErrBlocked
	}
	if !a.c.InWindow(a.now) {
		return ErrOutsideWindow
	}
	if err := validContent(cmd.Content); err != nil {
		return err
	}
	a.sendOut(Sender{Kind: SenderAI}, cmd.Content, cmd.Tag)
	return nil
}
