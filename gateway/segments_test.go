package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

type segmentView struct {
	engine.Segment
	Count    int64 `json:"count"`
	Backfill *struct {
		Done     int64 `json:"done"`
		Total    int64 `json:"total"`
		Finished bool  `json:"finished"`
	} `json:"backfill"`
}

func (e *env) createSegment(token string, body any) segmentView {
	e.t.Helper()
	code, resp := e.api("POST", "/api/v1/segments", token, body)
	require.Equal(e.t, http.StatusCreated, code, string(resp))
	return decodeAs[segmentView](e.t, resp)
}

func (e *env) segment(id engine.ID) segmentView {
	e.t.Helper()
	code, resp := e.api("GET", "/api/v1/segments/"+id.String(), ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(resp))
	return decodeAs[segmentView](e.t, resp)
}

// backfilled waits for segment id's backfill to finish and returns the
// segment.
func (e *env) backfilled(id engine.ID) segmentView {
	e.t.Helper()
	var v segmentView
	eventually(e.t, 10*time.Second, func() error {
		v = e.segment(id)
		if v.Backfill == nil || !v.Backfill.Finished {
			return fmt.Errorf("backfill not finished: %+v", v.Backfill)
		}
		return nil
	})
	return v
}

func (e *env) segmentMembers(id engine.ID) []engine.ID {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/segments/"+id.String()+"/members", ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var page struct {
		Contacts []engine.Contact `json:"contacts"`
	}
	require.NoError(e.t, json.Unmarshal(body, &page))
	out := []engine.ID{}
	for _, c := range page.Contacts {
		out = append(out, c.ID)
	}
	return out
}

// segmentActivity returns the segment.entered and segment.left items of
// a contact's activity, oldest first, as "entered NAME" / "left NAME".
func (e *env) segmentActivity(contact engine.ID) []string {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/contacts/"+contact.String()+"/activity", ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var page struct {
		Activity []struct {
			Type    string `json:"type"`
			Segment *struct {
				SegmentName string `json:"segment_name"`
				Entered     bool   `json:"entered"`
			} `json:"segment"`
		} `json:"activity"`
	}
	require.NoError(e.t, json.Unmarshal(body, &page))
	var out []string
	for _, a := range page.Activity {
		if a.Segment != nil {
			out = append(out, strings.TrimPrefix(a.Type, "segment.")+" "+a.Segment.SegmentName)
		}
	}
	slices.Reverse(out)
	return out
}

func companyIs(v string) map[string]any {
	return map[string]any{"kind": "profile", "key": "company", "op": "is", "value": v}
}

// Segments over HTTP: a new segment's backfill finds the existing
// contacts; from then on a contact's create and update change its
// membership in the same commit (the members list and the filtered
// contact list show it as soon as the call returns), each entry and exit
// in the contact's activity; bad bodies are 400s that store nothing,
// agents may not change segments; a deleted segment filters nothing.
func TestSegmentsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("seg-agent@example.com", engine.RoleAgent, "seg agent pw 1")
	a := e.createContact(ownerToken, map[string]any{"name": "Ana", "company": "Acme"})
	b := e.createContact(ownerToken, map[string]any{"name": "Bo", "company": "Other"})

	seg := e.createSegment(ownerToken, map[string]any{"name": "Acme people", "conditions": []any{companyIs("acme")}})
	require.Equal(t, engine.MatchAll, seg.Match)
	v := e.backfilled(seg.ID)
	require.EqualValues(t, 1, v.Count)
	require.EqualValues(t, 2, v.Backfill.Done)
	require.Equal(t, []engine.ID{a.ID}, e.segmentMembers(seg.ID))
	require.Equal(t, []string{"entered Acme people"}, e.segmentActivity(a.ID))

	// Updates: in at once, out at once.
	code, body := e.api("PATCH", "/api/v1/contacts/"+b.ID.String(), ownerToken, map[string]any{"company": "ACME"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, []engine.ID{b.ID, a.ID}, e.segmentMembers(seg.ID))
	code, body = e.api("PATCH", "/api/v1/contacts/"+a.ID.String(), ownerToken, map[string]any{"company": "Elsewhere"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, []engine.ID{b.ID}, e.segmentMembers(seg.ID))
	require.Equal(t, []string{"entered Acme people", "left Acme people"}, e.segmentActivity(a.ID))
	c := e.createContact(ownerToken, map[string]any{"name": "Cy", "company": "Acme"})
	require.Equal(t, []engine.ID{c.ID, b.ID}, e.contactIDs(agent.Token, "segment="+seg.ID.String()))
	code, body = e.api("GET", "/api/v1/segments/"+seg.ID.String()+"/count", agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `2`, string(decodeAs[map[string]json.RawMessage](t, body)["count"]))

	// The pipeline board's column: segment and stage together.
	stage := e.pipelines(ownerToken)[0].Stages[0].ID
	e.setStage(ownerToken, b.ID, stage.String())
	require.Equal(t, []engine.ID{b.ID}, e.contactIDs(ownerToken, "segment="+seg.ID.String()+"&stage="+stage.String()))

	// A preview counts without saving.
	code, body = e.api("POST", "/api/v1/segments/preview", agent.Token, map[string]any{"match": "any",
		"conditions": []any{companyIs("acme"), companyIs("elsewhere")}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"count":3,"scanned":3,"partial":false}`, string(body))

	// An edit of the conditions: a new backfill, the members follow.
	code, body = e.api("PATCH", "/api/v1/segments/"+seg.ID.String(), ownerToken, map[string]any{
		"name": "Elsewhere", "conditions": []any{companyIs("elsewhere")}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.EqualValues(t, 2, decodeAs[segmentView](t, body).Version)
	require.EqualValues(t, 1, e.backfilled(seg.ID).Count)
	require.Equal(t, []engine.ID{a.ID}, e.segmentMembers(seg.ID))
	require.Equal(t, []string{"entered Acme people", "left Acme people", "entered Elsewhere"}, e.segmentActivity(a.ID))

	// Refusals: nothing stored.
	for _, bad := range []any{
		`{"name":"x","conditions":[{"kind":"mood","op":"is","value":"x"}]}`,
		`{"name":"x","conditions":[]}`,
		`{"name":"","conditions":[{"kind":"tag","op":"is","value":"x"}]}`,
		`{"name":"x","conditions":[{"kind":"last_message","op":"within_days","days":0}]}`,
		`{"name":"x","conditions":[{"kind":"stage","op":"is","value":"lead"}]}`,
		`{"name":"x","match":"most","conditions":[{"kind":"tag","op":"is","value":"x"}]}`,
		`{"name":"x","conditions":[{"kind":"tag","op":"is","value":"x"}],"extra":1}`,
		`{"name":"x"`,
	} {
		code, body := e.api("POST", "/api/v1/segments", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", bad, body)
		errorCode(t, body)
	}
	code, _ = e.api("POST", "/api/v1/segments", agent.Token, map[string]any{"name": "x", "conditions": []any{companyIs("x")}})
	require.Equal(t, http.StatusForbidden, code)
	code, body = e.api("PATCH", "/api/v1/segments/"+seg.ID.String(), ownerToken, `{"conditions":[{"kind":"tag","op":"exists"}]}`)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, body = e.api("GET", "/api/v1/segments", agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	list := decodeAs[struct {
		Segments []segmentView `json:"segments"`
	}](t, body).Segments
	require.Len(t, list, 1)
	require.Equal(t, "Elsewhere", list[0].Name)
	code, _ = e.api("GET", "/api/v1/segments/"+engine.NewID(time.Now()).String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, body = e.api("GET", "/api/v1/contacts?segment=nope", ownerToken, nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, body = e.api("GET", "/api/v1/contacts?segment="+seg.ID.String()+"&q=ana", ownerToken, nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))

	code, _ = e.api("DELETE", "/api/v1/segments/"+seg.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, body = e.api("GET", "/api/v1/conversations?segment="+seg.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	// The contact's next change drops its entry of the gone segment.
	code, body = e.api("PATCH", "/api/v1/contacts/"+a.ID.String(), ownerToken, map[string]any{"title": "CEO"})
	require.Equal(t, http.StatusOK, code, string(body))
}

// A segment of WhatsApp contacts who wrote within 7 days: a customer's
// message brings its contact in, the inbox list filtered by the segment
// shows its conversation and no other; when 7 days pass on the injected
// clock the sweep takes the contact out (its activity says so) and the
// filtered inbox is empty.
func TestSegmentActivityAndInboxFilter(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	e := newEnv(t, func(c *actors.Config) { c.Clock = clock })
	other := e.createContact(ownerToken, map[string]any{"name": "Quiet", "company": "Acme"})

	seg := e.createSegment(ownerToken, map[string]any{"name": "Active on WhatsApp", "conditions": []any{
		map[string]any{"kind": "channel", "op": "is", "value": "whatsapp"},
		map[string]any{"kind": "last_message", "op": "within_days", "days": 7}}})
	e.backfilled(seg.ID)

	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.seg1", "15550009999", "Wanda", "hello"))
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550009999")
	wanda := e.conv(conv).ContactID
	eventually(t, 5*time.Second, func() error {
		if m := e.segmentMembers(seg.ID); !slices.Equal(m, []engine.ID{wanda}) {
			return fmt.Errorf("members %v", m)
		}
		return nil
	})
	// Another conversation whose contact is not a member.
	code, body = e.webhook(engine.ChannelMessenger, messengerText("mid.seg2", "PSID-SEG", "hi"))
	require.Equal(t, http.StatusOK, code, string(body))
	ids := func(q string) []engine.ID {
		code, body := e.api("GET", "/api/v1/conversations?"+q, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var out []engine.ID
		for _, c := range decodeAs[struct {
			Conversations []engine.Conversation `json:"conversations"`
		}](t, body).Conversations {
			out = append(out, c.ID)
		}
		return out
	}
	require.Len(t, ids("folder=open"), 2)
	require.Equal(t, []engine.ID{conv}, ids("folder=open&segment="+seg.ID.String()))
	require.Empty(t, e.segmentMembers(seg.ID)[1:], "the quiet contact %s is not in", other.ID)

	// Six days on: still in. Seven: out, through the sweep.
	clock.Advance(6 * 24 * time.Hour)
	time.Sleep(50 * time.Millisecond) // nothing to wait for: the sweep finds nobody due
	require.Equal(t, []engine.ID{wanda}, e.segmentMembers(seg.ID))
	clock.Advance(24 * time.Hour)
	eventually(t, 5*time.Second, func() error {
		if m := e.segmentMembers(seg.ID); len(m) != 0 {
			clock.Advance(time.Minute) // the next sweep
			return fmt.Errorf("still members: %v", m)
		}
		return nil
	})
	require.Equal(t, []string{"entered Active on WhatsApp", "left Active on WhatsApp"}, e.segmentActivity(wanda))
	require.Empty(t, ids("folder=open&segment="+seg.ID.String()))

	// The customer writes again: back in.
	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.seg3", "15550009999", "Wanda", "again"))
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if m := e.segmentMembers(seg.ID); !slices.Equal(m, []engine.ID{wanda}) {
			return fmt.Errorf("members %v", m)
		}
		return nil
	})
}

// The backfill of a segment over contacts that were there before it
// walks them all in pages (600 contacts: three pages of 256), and a
// contact imported afterwards is a member from its import's batch on.
// The metrics count the contacts the backfill looked at, its duration
// and the entries.
func TestSegmentBackfillOfExistingContacts(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *actors.Config) { c.Registerer = reg })
	var csv strings.Builder
	csv.WriteString("name,email,company\n")
	for i := range 600 {
		company := "Other"
		if i%3 == 0 {
			company = "Acme"
		}
		fmt.Fprintf(&csv, "Person %d,p%d@example.com,%s\n", i, i, company)
	}
	code, body := e.postCSV(ownerToken, "text/csv", []byte(csv.String()))
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if n := len(e.contacts("limit=200").Contacts); n < 200 {
			return fmt.Errorf("%d contacts", n)
		}
		return nil
	})

	seg := e.createSegment(ownerToken, map[string]any{"name": "Acme", "conditions": []any{companyIs("Acme")}})
	v := e.backfilled(seg.ID)
	require.EqualValues(t, 200, v.Count)
	require.EqualValues(t, 600, v.Backfill.Done)
	require.EqualValues(t, 600, v.Backfill.Total)
	require.Equal(t, 200.0, counterSum(t, reg, "parley_segment_membership_changes_total", "change", "entered"))
	fams, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			got[f.GetName()] += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	require.Equal(t, 600.0, got["parley_segment_backfill_contacts_total"])
	require.Equal(t, 1.0, got["parley_segment_backfill_duration_seconds"], "one backfill observed")

	code, body = e.postCSV(ownerToken, "text/csv", []byte("name,email,company\nLate,late@example.com,Acme\n"))
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 5*time.Second, func() error {
		if n := e.segment(seg.ID).Count; n != 201 {
			return fmt.Errorf("count %d", n)
		}
		return nil
	})
}

// A segment on a tag of the contact's conversations: tagging a
// conversation brings its contact in (the conversation's actor tells the
// contact's), untagging takes it out, and its activity says both.
func TestSegmentByConversationTag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seg := e.createSegment(ownerToken, map[string]any{"name": "VIPs", "conditions": []any{
		map[string]any{"kind": "tag", "op": "is", "value": "vip"}}})
	e.backfilled(seg.ID)
	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.segtag1", "15550007777", "Tess", "hello"))
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550007777")
	tess := e.conv(conv).ContactID
	members := func(want ...engine.ID) {
		t.Helper()
		eventually(t, 5*time.Second, func() error {
			if m := e.segmentMembers(seg.ID); !slices.Equal(m, append([]engine.ID{}, want...)) {
				return fmt.Errorf("members %v, want %v", m, want)
			}
			return nil
		})
	}
	members()
	code, body = e.api("PUT", "/api/v1/conversations/"+conv.String()+"/tags/vip", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	members(tess)
	code, body = e.api("DELETE", "/api/v1/conversations/"+conv.String()+"/tags/vip", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	members()
	require.Equal(t, []string{"entered VIPs", "left VIPs"}, e.segmentActivity(tess))
}
