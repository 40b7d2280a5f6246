package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	autoT0    = time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC) // a Monday
	autoWS    = NewID(autoT0)
	autoStage = NewID(autoT0)
	autoUser1 = NewID(autoT0)
	autoUser2 = NewID(autoT0)
	autoUser3 = NewID(autoT0)
)

func autoRule(trigger AutomationTriggerSpec, conds ...AutomationCondition) Automation {
	return Automation{ID: NewID(autoT0), WorkspaceID: autoWS, Enabled: true, Trigger: trigger, Conditions: conds,
		Actions: []AutomationAction{{Type: ActionSetPriority}}}
}

// Every published event makes the triggers it should, with keys that
// name the occurrence, and the chain of the change that made it.
func TestAutomationTriggers(t *testing.T) {
	contact := &Contact{ID: NewID(autoT0), WorkspaceID: autoWS, Source: SourceAPI, Stage: &ContactStage{StageID: autoStage}}
	conv := &Conversation{ID: NewID(autoT0), WorkspaceID: autoWS, ContactID: contact.ID, Folder: FolderOpen, OpenedAt: autoT0, Tags: []string{"vip", "new"}, LastSeq: 3}
	before := conv.Clone()
	before.Tags = []string{"new"}
	solved := conv.Clone()
	solved.Folder, solved.OpenedAt = FolderSolved, autoT0.Add(-time.Hour)
	change := &ContactChange{ID: NewID(autoT0), Kind: ChangeStage}
	ownerChange := &ContactChange{ID: NewID(autoT0), Kind: ChangeOwner}
	chain := &AutomationCause{Chain: []ID{NewID(autoT0)}}
	for _, tc := range []struct {
		name string
		ev   Event
		want []AutomationTriggerType
		keys []string
	}{
		{"contact created", Event{Type: EventContactCreated, Data: contact}, []AutomationTriggerType{TriggerContactCreated}, []string{"contact:" + contact.ID.String()}},
		{"contact updated, no change", Event{Type: EventContactUpdated, Data: contact}, nil, nil},
		{"stage changed", Event{Type: EventContactUpdated, Data: contact, ContactChange: change}, []AutomationTriggerType{TriggerStageChanged}, []string{"change:" + change.ID.String()}},
		{"owner changed", Event{Type: EventContactUpdated, Data: contact, ContactChange: ownerChange}, nil, nil},
		{"form submitted, new contact", Event{Type: EventFormSubmitted, Data: map[string]any{"form_id": "f1", "submission_id": "s1", "contact_id": contact.ID.String(), "created": true}},
			[]AutomationTriggerType{TriggerFormSubmitted, TriggerContactCreated}, []string{"submission:s1", "contact:" + contact.ID.String()}},
		{"form submitted, known contact", Event{Type: EventFormSubmitted, Data: AutomationFormData{FormID: "f1", SubmissionID: "s2", ContactID: contact.ID.String()}},
			[]AutomationTriggerType{TriggerFormSubmitted}, []string{"submission:s2"}},
		{"form submitted, bad contact", Event{Type: EventFormSubmitted, Data: AutomationFormData{SubmissionID: "s3", ContactID: "x"}}, nil, nil},
		{"new chat user", Event{Type: EventConversationCreated, Conversation: conv, NewContact: true},
			[]AutomationTriggerType{TriggerContactCreated, TriggerConversationOpened}, nil},
		{"conversation created for a known contact", Event{Type: EventConversationCreated, Conversation: conv}, []AutomationTriggerType{TriggerConversationOpened}, nil},
		{"reopened", Event{Type: EventConversationUpdated, Conversation: conv, Before: &solved}, []AutomationTriggerType{TriggerConversationOpened}, nil},
		{"tag added", Event{Type: EventConversationUpdated, Conversation: conv, Before: &before}, []AutomationTriggerType{TriggerTagAdded}, nil},
		{"tag removed", Event{Type: EventConversationUpdated, Conversation: &before, Before: conv}, nil, nil},
		{"no before", Event{Type: EventConversationUpdated, Conversation: conv}, nil, nil},
		{"message", Event{Type: EventMessageCreated, Conversation: conv}, nil, nil},
		{"chained", Event{Type: EventContactCreated, Data: contact, Automation: chain}, []AutomationTriggerType{TriggerContactCreated}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AutomationTriggers(&tc.ev)
			var types []AutomationTriggerType
			for i, g := range got {
				types = append(types, g.Type)
				require.NotEmpty(t, g.Key)
				require.Equal(t, contact.ID, g.ContactID)
				if tc.keys != nil {
					require.Equal(t, tc.keys[i], g.Key)
				}
				if tc.ev.Automation != nil {
					require.Equal(t, chain.Chain, g.Chain)
				}
				if g.Type == TriggerTagAdded {
					require.Equal(t, "vip", g.Tag)
				}
			}
			require.Equal(t, tc.want, types)
		})
	}
	// The same occurrence has the same key; another one another key.
	a := AutomationTriggers(&Event{Type: EventConversationUpdated, Conversation: conv, Before: &solved, At: autoT0})
	b := AutomationTriggers(&Event{Type: EventConversationUpdated, Conversation: conv, Before: &solved, At: autoT0})
	require.Equal(t, a, b)
	later := conv.Clone()
	later.OpenedAt = autoT0.Add(time.Hour)
	c := AutomationTriggers(&Event{Type: EventConversationUpdated, Conversation: &later, Before: &solved, At: autoT0})
	require.NotEqual(t, a[0].Key, c[0].Key)
}

// no_reply is due once the customer's newest message has waited the
// hours in an open conversation, keyed by that message.
func TestNoReplyDue(t *testing.T) {
	c := Conversation{ID: NewID(autoT0), ContactID: NewID(autoT0), Folder: FolderOpen, AwaitingReply: true, LastInboundAt: autoT0, LastCustomerSeq: 4}
	for _, tc := range []struct {
		name string
		edit func(*Conversation)
		at   time.Duration
		due  bool
	}{
		{"not yet", nil, 2*time.Hour - time.Second, false},
		{"due", nil, 2 * time.Hour, true},
		{"answered", func(c *Conversation) { c.AwaitingReply = false }, 5 * time.Hour, false},
		{"solved", func(c *Conversation) { c.Folder = FolderSolved }, 5 * time.Hour, false},
		{"no contact", func(c *Conversation) { c.ContactID = ZeroID }, 5 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := c.Clone()
			if tc.edit != nil {
				tc.edit(&cc)
			}
			tr, ok := NoReplyDue(&cc, 2, autoT0.Add(tc.at))
			require.Equal(t, tc.due, ok)
			if ok {
				require.Equal(t, TriggerNoReply, tr.Type)
				require.Contains(t, tr.Key, ":4:2")
			}
		})
	}
}

// MatchAutomation: the trigger's type and narrowing, and every
// condition kind, each holding and not, with not turning it around.
func TestMatchAutomation(t *testing.T) {
	contact := &Contact{ID: NewID(autoT0), Source: SourceForm, CustomFields: map[string]string{"plan": "pro"}, Stage: &ContactStage{StageID: autoStage}}
	conv := &Conversation{ID: NewID(autoT0), Channel: ChannelWhatsApp, Tags: []string{"vip"}}
	st := AutomationState{Contact: contact, Conversation: conv}
	created := AutomationTrigger{Type: TriggerContactCreated, Source: SourceForm, ContactID: contact.ID}
	autoSeg := NewID(autoT0)
	stSeg := AutomationState{Contact: contact, Conversation: conv, Segments: map[ID]bool{autoSeg: true}}
	bh := func(days []int, start, end, tz string) AutomationCondition {
		return AutomationCondition{Kind: CondBusinessHours, Days: days, Start: start, End: end, TimeZone: tz}
	}
	for _, tc := range []struct {
		name  string
		rule  Automation
		t     AutomationTrigger
		state AutomationState
		want  bool
	}{
		{"plain", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}), created, st, true},
		{"other type", autoRule(AutomationTriggerSpec{Type: TriggerTagAdded}), created, st, false},
		{"source narrows", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated, Source: SourceChat}), created, st, false},
		{"source matches", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated, Source: SourceForm}), created, st, true},
		{"form narrows", autoRule(AutomationTriggerSpec{Type: TriggerFormSubmitted, FormID: "a"}), AutomationTrigger{Type: TriggerFormSubmitted, FormID: "b"}, st, false},
		{"tag narrows", autoRule(AutomationTriggerSpec{Type: TriggerTagAdded, Tag: "vip"}), AutomationTrigger{Type: TriggerTagAdded, Tag: "vip"}, st, true},
		{"stage narrows", autoRule(AutomationTriggerSpec{Type: TriggerStageChanged, StageID: NewID(autoT0).String()}), AutomationTrigger{Type: TriggerStageChanged, StageID: autoStage.String()}, st, false},
		{"no_reply hours", autoRule(AutomationTriggerSpec{Type: TriggerNoReply, Hours: 3}), AutomationTrigger{Type: TriggerNoReply, Hours: 2}, st, false},
		{"no contact", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}), created, AutomationState{}, false},
		{"channel", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondChannel, Value: "whatsapp"}), created, st, true},
		{"channel other", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondChannel, Value: "email"}), created, st, false},
		{"channel without conversation", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondChannel, Value: "whatsapp"}), created, AutomationState{Contact: contact}, false},
		{"source", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondSource, Value: "form"}), created, st, true},
		{"not source", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondSource, Value: "form", Not: true}), created, st, false},
		{"tag", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondTag, Value: "vip"}), created, st, true},
		{"not tag", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondTag, Value: "spam", Not: true}), created, st, true},
		{"field", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondField, Key: "plan", Value: "pro"}), created, st, true},
		{"field other", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondField, Key: "plan", Value: "free"}), created, st, false},
		{"field missing", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondField, Key: "size", Value: ""}), created, st, false},
		{"stage", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondStage, Value: autoStage.String()}), created, st, true},
		{"stage other", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondStage, Value: NewID(autoT0).String()}), created, st, false},
		{"business hours (UTC)", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, bh([]int{1, 2, 3, 4, 5}, "09:00", "17:00", "")), created, st, true},
		{"business hours, another zone", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, bh([]int{1, 2, 3, 4, 5}, "09:00", "17:00", "Asia/Tokyo")), created, st, false},
		{"business hours, end excluded", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, bh([]int{1}, "09:00", "14:30", "")), created, st, false},
		{"business hours, weekend only", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, bh([]int{0, 6}, "00:00", "24:00", "")), created, st, false},
		{"outside business hours", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondBusinessHours, Days: []int{1}, Start: "09:00", End: "12:00", Not: true}), created, st, true},
		{"segment member", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondSegment, Value: autoSeg.String()}), created, stSeg, true},
		{"segment not member", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondSegment, Value: NewID(autoT0).String()}), created, stSeg, false},
		{"segment, no membership known", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondSegment, Value: autoSeg.String()}), created, st, false},
		{"not in segment", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondSegment, Value: autoSeg.String(), Not: true}), created, st, true},
		{"all must hold", autoRule(AutomationTriggerSpec{Type: TriggerContactCreated}, AutomationCondition{Kind: CondTag, Value: "vip"}, AutomationCondition{Kind: CondSource, Value: "chat"}), created, st, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, MatchAutomation(&tc.rule, &tc.t, tc.state, autoT0))
		})
	}
	off := autoRule(AutomationTriggerSpec{Type: TriggerContactCreated})
	off.Enabled = false
	require.False(t, MatchAutomation(&off, &created, st, autoT0))
}

// PickOwner: round-robin goes around the users in order from the last
// one given, skipping users no longer in the workspace; least-loaded
// takes the one owning fewest contacts, the order breaking ties.
func TestPickOwner(t *testing.T) {
	members := []User{{ID: autoUser1}, {ID: autoUser2}, {ID: autoUser3}}
	rr := AutomationAction{Type: ActionAssignOwner, Strategy: AssignRoundRobin, Users: []ID{autoUser1, autoUser2, autoUser3}}
	ll := AutomationAction{Type: ActionAssignOwner, Strategy: AssignLeastLoaded, Users: []ID{autoUser1, autoUser2, autoUser3}}
	gone := NewID(autoT0)
	for _, tc := range []struct {
		name    string
		a       AutomationAction
		members []User
		last    *ID
		loads   map[ID]int
		want    ID
		ok      bool
	}{
		{"first", rr, members, nil, nil, autoUser1, true},
		{"next", rr, members, &autoUser1, nil, autoUser2, true},
		{"wraps", rr, members, &autoUser3, nil, autoUser1, true},
		{"skips a removed user", rr, []User{{ID: autoUser1}, {ID: autoUser3}}, &autoUser1, nil, autoUser3, true},
		{"last not in the list", rr, members, &gone, nil, autoUser1, true},
		{"nobody left", rr, []User{{ID: gone}}, nil, nil, ZeroID, false},
		{"least loaded", ll, members, nil, map[ID]int{autoUser1: 5, autoUser2: 2, autoUser3: 9}, autoUser2, true},
		{"least loaded tie", ll, members, nil, map[ID]int{autoUser1: 1, autoUser2: 1, autoUser3: 1}, autoUser1, true},
		{"least loaded skips removed", ll, []User{{ID: autoUser3}}, nil, map[ID]int{autoUser3: 9}, autoUser3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PickOwner(&tc.a, tc.members, tc.last, tc.loads)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
	// Round-robin over many turns gives each user its share.
	var last *ID
	count := map[ID]int{}
	for range 9 {
		u, _ := PickOwner(&rr, members, last, nil)
		count[u]++
		last = &u
	}
	require.Equal(t, map[ID]int{autoUser1: 3, autoUser2: 3, autoUser3: 3}, count)
}

// Loops: a rule already in its trigger's chain, or a chain at the depth
// limit, is planned as stopped with no actions; otherwise the run holds
// the rule's actions and the owners chosen, and its changes carry the
// chain with the rule.
func TestAutomationLoopDetection(t *testing.T) {
	r := autoRule(AutomationTriggerSpec{Type: TriggerTagAdded})
	other := NewID(autoT0)
	long := make([]ID, MaxAutomationDepth)
	for i := range long {
		long[i] = NewID(autoT0)
	}
	for _, tc := range []struct {
		name  string
		chain []ID
		loop  bool
	}{
		{"first", nil, false},
		{"after another rule", []ID{other}, false},
		{"its own action", []ID{r.ID}, true},
		{"through another rule", []ID{r.ID, other}, true},
		{"too deep", long, true},
		{"just below the depth", long[:MaxAutomationDepth-1], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := AutomationTrigger{Type: TriggerTagAdded, Key: "k", Chain: tc.chain}
			require.Equal(t, tc.loop, AutomationLoop(r.ID, &tr))
			run := PlanAutomation(&r, tr, map[int]ID{0: autoUser1}, NewID(autoT0), autoT0)
			if tc.loop {
				require.Equal(t, RunLoopStopped, run.Outcome)
				require.Empty(t, run.Actions)
				fin := FinishAutomationRun(run, nil, autoT0)
				require.Equal(t, RunLoopStopped, fin.Outcome)
				return
			}
			require.Equal(t, RunPending, run.Outcome)
			require.Equal(t, r.Actions, run.Actions)
			require.Equal(t, append(append([]ID{}, tc.chain...), r.ID), run.Chain().Chain)
		})
	}
}

// FinishAutomationRun: done when no action failed, failed otherwise.
func TestFinishAutomationRun(t *testing.T) {
	r := autoRule(AutomationTriggerSpec{Type: TriggerContactCreated})
	run := PlanAutomation(&r, AutomationTrigger{Type: TriggerContactCreated, Key: "k"}, nil, NewID(autoT0), autoT0)
	for _, tc := range []struct {
		results []AutomationActionResult
		want    string
	}{
		{[]AutomationActionResult{{Result: "done"}}, RunDone},
		{[]AutomationActionResult{{Result: "unchanged"}, {Result: "skipped"}}, RunDone},
		{[]AutomationActionResult{{Result: "done"}, {Result: "failed"}}, RunFailed},
	} {
		fin := FinishAutomationRun(run, tc.results, autoT0.Add(time.Second))
		require.Equal(t, tc.want, fin.Outcome)
		require.Equal(t, autoT0.Add(time.Second), fin.FinishedAt)
	}
}

// ParseAutomationBody takes every trigger, condition and action in its
// shape and refuses the rest with ErrInvalid.
func TestParseAutomationBody(t *testing.T) {
	s, u := autoStage.String(), autoUser1.String()
	ok := []string{
		`{"name":"a","trigger":{"type":"contact_created","source":"form"},"conditions":[],"actions":[{"type":"assign_owner","strategy":"round_robin","users":["` + u + `"]}]}`,
		`{"name":"a","trigger":{"type":"form_submitted","form_id":"f"},"actions":[{"type":"set_stage","stage_id":"` + s + `"}]}`,
		`{"name":"a","trigger":{"type":"conversation_opened"},"actions":[{"type":"assign_conversation","user_id":"` + u + `"}]}`,
		`{"name":"a","trigger":{"type":"tag_added","tag":"vip"},"actions":[{"type":"add_tag","tag":"x"},{"type":"remove_tag","tag":"y"}]}`,
		`{"name":"a","trigger":{"type":"stage_changed","stage_id":"` + s + `"},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"no_reply","hours":4},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"segment","value":"` + s + `"}],"actions":[{"type":"send_canned","canned_id":"` + s + `"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"notify_user","user_id":"` + u + `","text":"New lead"},{"type":"notify_user","user_id":"` + u + `"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"call_webhook","url":"https://crm.example/hook","secret":"0123456789abcdef"}]}`,
		`{"name":"a","enabled":false,"trigger":{"type":"contact_created"},"conditions":[{"kind":"channel","value":"email"},{"kind":"source","value":"chat"},{"kind":"tag","value":"t","not":true},{"kind":"field","key":"k","value":"v"},{"kind":"stage","value":"` + s + `"},{"kind":"business_hours","days":[1,2],"start":"09:00","end":"17:30","time_zone":"Europe/Paris"}],"actions":[{"type":"assign_owner","strategy":"least_loaded","users":["` + u + `"]}]}`,
	}
	for _, b := range ok {
		_, err := ParseAutomationBody([]byte(b))
		require.NoError(t, err, b)
	}
	bad := []string{
		``, `null x`, `{"name":"a"}{}`, `[]`,
		`{"name":"","trigger":{"type":"contact_created"},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"birthday"},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"explode"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"set_priority"}],"extra":1}`,
		`{"name":"a","trigger":{"type":"contact_created","tag":"x"},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created","source":"fax"},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"no_reply"},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"no_reply","hours":721},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created","hours":2},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"assign_owner","strategy":"random","users":["` + u + `"]}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"assign_owner","strategy":"round_robin","users":[]}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"assign_owner","strategy":"round_robin","users":["` + u + `","` + u + `"]}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"set_stage","stage_id":"x"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"add_tag"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"set_priority","tag":"x"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"channel","value":"fax"}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"field","value":"v"}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"business_hours","days":[7],"start":"09:00","end":"17:00"}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"business_hours","days":[1],"start":"17:00","end":"09:00"}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"business_hours","days":[1],"start":"09:00","end":"17:00","time_zone":"Mars/Base"}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"tag","value":"t","days":[1]}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"segment","value":"vip"}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"segment","key":"k","value":"` + s + `"}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"send_canned"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"send_canned","canned_id":"hello"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"send_canned","canned_id":"` + s + `","user_id":"` + u + `"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"notify_user"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"notify_user","user_id":"` + u + `","text":"` + strings.Repeat("x", MaxAutomationNotifyBytes+1) + `"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"notify_user","user_id":"` + u + `","url":"https://a.example"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"call_webhook","url":"ftp://crm.example/hook","secret":"0123456789abcdef"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"call_webhook","url":"https://user:pw@crm.example/hook","secret":"0123456789abcdef"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"call_webhook","url":"https://crm.example/hook","secret":"short"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"call_webhook","url":"https://crm.example/hook","secret":"0123456789abcdef","tag":"x"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"set_priority","text":"x"}]}`,
		`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"mood"}],"actions":[{"type":"set_priority"}]}`,
		`{"name":"` + strings.Repeat("a", MaxAutomationNameBytes+1) + `","trigger":{"type":"contact_created"},"actions":[{"type":"set_priority"}]}`,
		`{"name":"a\u0001","trigger":{"type":"contact_created"},"actions":[{"type":"set_priority"}]}`,
	}
	for _, b := range bad {
		_, err := ParseAutomationBody([]byte(b))
		require.Error(t, err, b)
		require.True(t, errors.Is(err, ErrInvalid), b)
	}
	_, err := ParseAutomationBody([]byte(`{"name":"` + strings.Repeat("a", MaxAutomationBodyBytes) + `"}`))
	require.ErrorIs(t, err, ErrInvalid)
}

// The presets are the seed's two one-click cases.
func TestAutomationPresets(t *testing.T) {
	b, err := AutomationPreset(PresetAssignOwners, []ID{autoUser1, autoUser2}, ZeroID)
	require.NoError(t, err)
	require.Equal(t, TriggerContactCreated, b.Trigger.Type)
	require.Equal(t, AutomationAction{Type: ActionAssignOwner, Strategy: AssignRoundRobin, Users: []ID{autoUser1, autoUser2}}, b.Actions[0])
	b, err = AutomationPreset(PresetStartingStage, nil, autoStage)
	require.NoError(t, err)
	require.Equal(t, AutomationAction{Type: ActionSetStage, StageID: autoStage.String()}, b.Actions[0])
	_, err = AutomationPreset(PresetAssignOwners, nil, ZeroID)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = AutomationPreset(PresetStartingStage, nil, ZeroID)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = AutomationPreset("other", nil, ZeroID)
	require.ErrorIs(t, err, ErrInvalid)
	r := ApplyAutomationBody(Automation{}, b, autoStage, autoWS, autoT0)
	require.True(t, r.Enabled)
	require.Equal(t, autoWS, r.WorkspaceID)
	require.Equal(t, autoT0, r.CreatedAt)
}

// FuzzParseAutomationBody: any body is a rule that passes its checks
// again, or an ErrInvalid; never a panic.
func FuzzParseAutomationBody(f *testing.F) {
	f.Add([]byte(`{"name":"a","trigger":{"type":"no_reply","hours":4},"actions":[{"type":"set_priority"}]}`))
	f.Add([]byte(`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"business_hours","days":[1],"start":"09:00","end":"24:00","time_zone":"Europe/Paris"}],"actions":[{"type":"add_tag","tag":"x"}]}`))
	f.Add([]byte(`{"name":"a","trigger":{"type":"contact_created"},"actions":[{"type":"assign_owner","strategy":"round_robin","users":["01J0000000000000000000000A"]}]}`))
	f.Add([]byte(`{"name":"a","trigger":{"type":"contact_created"},"conditions":[{"kind":"segment","value":"01J0000000000000000000000A"}],"actions":[{"type":"send_canned","canned_id":"01J0000000000000000000000A"},{"type":"notify_user","user_id":"01J0000000000000000000000A","text":"hi"},{"type":"call_webhook","url":"https://a.example/h","secret":"0123456789abcdef"}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseAutomationBody(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if err := ValidateAutomationBody(&b); err != nil {
			t.Fatalf("a parsed body fails its checks: %v", err)
		}
		r := ApplyAutomationBody(Automation{}, b, NewID(autoT0), autoWS, autoT0)
		tr := AutomationTrigger{Type: r.Trigger.Type, ContactID: NewID(autoT0)}
		MatchAutomation(&r, &tr, AutomationState{Contact: &Contact{}}, autoT0)
	})
}

// A call_webhook payload names the run and a delivery id that is the
// same on every attempt of one action of one run, and differs between
// actions.
func TestAutomationWebhookBody(t *testing.T) {
	run := AutomationRun{ID: NewID(autoT0), WorkspaceID: autoWS, RuleID: NewID(autoT0),
		Trigger: AutomationTrigger{Type: TriggerContactCreated, Key: "contact:x", Chain: []ID{autoUser1}}}
	c := &Contact{ID: NewID(autoT0)}
	p := AutomationWebhookBody(&run, 2, c, nil, autoT0)
	require.Equal(t, AutomationWebhookEvent, p.Event)
	require.Equal(t, run.ID.String()+"-2", p.DeliveryID)
	require.Equal(t, run.RuleID, p.RuleID)
	require.Nil(t, p.Trigger.Chain, "the chain is internal")
	require.Equal(t, c, p.Contact)
	require.Equal(t, p.DeliveryID, AutomationWebhookBody(&run, 2, c, nil, autoT0.Add(time.Hour)).DeliveryID)
	require.NotEqual(t, p.DeliveryID, AutomationWebhookBody(&run, 1, c, nil, autoT0).DeliveryID)
	require.NotEqual(t, AutomationSendTag(&run, 0), AutomationSendTag(&run, 1))
	require.NotNil(t, run.Trigger.Chain, "the run is left as it was")
}
