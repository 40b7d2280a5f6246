package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

type pipelinePage struct {
	Pipelines []engine.Pipeline `json:"pipelines"`
}

type pipelineWithCounts struct {
	engine.Pipeline
	Counts map[string]int `json:"counts"`
}

func (e *env) pipelines(token string) []engine.Pipeline {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/pipelines", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[pipelinePage](e.t, body).Pipelines
}

func (e *env) setStage(token string, contact engine.ID, stage any) engine.Contact {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/contacts/"+contact.String()+"/stage", token, map[string]any{"stage_id": stage})
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[engine.Contact](e.t, body)
}

func (e *env) setOwner(token string, contact engine.ID, owner any) engine.Contact {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/contacts/"+contact.String()+"/owner", token, map[string]any{"owner_id": owner})
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[engine.Contact](e.t, body)
}

// contactIDs lists the ids of a page of the contact list under query.
func (e *env) contactIDs(token, query string) []engine.ID {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/contacts?"+query, token, nil)
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

func stageNames(p engine.Pipeline) []string {
	out := make([]string, len(p.Stages))
	for i, s := range p.Stages {
		out[i] = s.Name
	}
	return out
}

// A workspace gets its default pipeline on first use; every role lists
// the pipelines, admins and owners change them (agents 403); a stage is
// added, renamed and reordered by one PATCH with the whole list; bad
// bodies are 400 JSON errors that store nothing; a stage or a pipeline
// with contacts in it is not deleted (409), nor the last pipeline; the
// definitions survive a restart.
func TestPipelinesAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("pipe-agent@example.com", engine.RoleAgent, "pipe agent pw 1")
	admin := e.addUser("pipe-admin@example.com", engine.RoleAdmin, "pipe admin pw 1")

	ps := e.pipelines(agent.Token)
	require.Len(t, ps, 1)
	sales := ps[0]
	require.Equal(t, "Sales", sales.Name)
	require.Equal(t, []string{"New lead", "Qualified", "Customer", "Lost"}, stageNames(sales))
	require.Equal(t, ps, e.pipelines(ownerToken), "created once")

	code, body := e.api("POST", "/api/v1/pipelines", admin.Token, map[string]any{"name": " Support  flow ",
		"stages": []map[string]any{{"name": "Waiting", "color": "#AABBCC"}, {"name": "Done"}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	support := decodeAs[engine.Pipeline](t, body)
	require.Equal(t, "Support flow", support.Name)
	require.Equal(t, "#aabbcc", support.Stages[0].Color)

	before := e.storeDigest()
	e.callAll([][3]string{
		{"POST", "/api/v1/pipelines", `{"name":"x","stages":[{"name":"a"}]}`},
		{"PATCH", "/api/v1/pipelines/" + support.ID.String(), `{"name":"mine"}`},
		{"DELETE", "/api/v1/pipelines/" + support.ID.String(), ""},
	}, agent.Token, func(r [3]string, code int, body []byte) {
		require.Equal(t, http.StatusForbidden, code, "%v: %s", r, body)
	})
	for _, bad := range []string{``, `[`, `{}`, `{"name":"x"}`, `{"stages":[{"name":"a"}]}`, `{"name":"x","stages":[]}`,
		`{"name":" ","stages":[{"name":"a"}]}`, `{"name":"x","stages":[{"name":"a"},{"name":"A"}]}`,
		`{"name":"x","stages":[{"name":"a","color":"red"}]}`, `{"name":"x","stages":[{"id":"` + sales.Stages[0].ID.String() + `","name":"a"}]}`,
		`{"name":"x","stages":[{"name":"a"}],"extra":1}`, `{"name":"` + strings.Repeat("n", engine.MaxPipelineNameBytes+1) + `","stages":[{"name":"a"}]}`,
		`{"name":"x","stages":[{"name":"bell\u0007"}]}`, `{"name":5,"stages":[{"name":"a"}]}`} {
		code, body = e.api("POST", "/api/v1/pipelines", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	for _, bad := range []string{`{}`, `{"name":null}`, `{"stages":[]}`, `{"stages":[{"id":"nope","name":"a"}]}`,
		`{"stages":[{"id":"` + support.Stages[0].ID.String() + `","name":"a"}]}`,
		`{"stages":[{"id":"` + sales.Stages[0].ID.String() + `","name":"a"},{"id":"` + sales.Stages[0].ID.String() + `","name":"b"}]}`} {
		code, body = e.api("PATCH", "/api/v1/pipelines/"+sales.ID.String(), ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	require.Equal(t, before, e.storeDigest(), "refused requests stored nothing")

	// Add, rename and reorder in one change; Lost is removed (empty).
	st := sales.Stages
	code, body = e.api("PATCH", "/api/v1/pipelines/"+sales.ID.String(), admin.Token, map[string]any{"stages": []map[string]any{
		{"id": st[1].ID.String(), "name": "Qualified"}, {"id": st[0].ID.String(), "name": "Lead"}, {"name": "Proposal", "color": "#123456"},
		{"id": st[2].ID.String(), "name": "Customer", "color": "#00ff00"}}})
	require.Equal(t, http.StatusOK, code, string(body))
	sales = decodeAs[engine.Pipeline](t, body)
	require.Equal(t, []string{"Qualified", "Lead", "Proposal", "Customer"}, stageNames(sales))
	require.Equal(t, st[1].ID, sales.Stages[0].ID)
	require.Equal(t, st[0].ID, sales.Stages[1].ID)

	// A contact in a stage keeps the stage from being removed, and its
	// pipeline from being deleted.
	ct := e.createContact(ownerToken, map[string]any{"name": "Staged"})
	e.setStage(agent.Token, ct.ID, sales.Stages[2].ID.String())
	before = e.storeDigest()
	code, body = e.api("PATCH", "/api/v1/pipelines/"+sales.ID.String(), ownerToken, map[string]any{"stages": []map[string]any{
		{"id": sales.Stages[0].ID.String(), "name": "Qualified"}}})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "stage_in_use", errorCode(t, body))
	code, body = e.api("DELETE", "/api/v1/pipelines/"+sales.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "stage_in_use", errorCode(t, body))
	require.Equal(t, before, e.storeDigest(), "refused changes stored nothing")
	code, body = e.api("GET", "/api/v1/pipelines/"+sales.ID.String(), agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	counts := decodeAs[pipelineWithCounts](t, body).Counts
	require.Equal(t, map[string]int{sales.Stages[0].ID.String(): 0, sales.Stages[1].ID.String(): 0,
		sales.Stages[2].ID.String(): 1, sales.Stages[3].ID.String(): 0}, counts)

	// Out of the stage, the pipeline goes; the last one does not.
	e.setStage(ownerToken, ct.ID, nil)
	code, _ = e.api("DELETE", "/api/v1/pipelines/"+sales.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, body = e.api("DELETE", "/api/v1/pipelines/"+support.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "last_pipeline", errorCode(t, body))
	code, _ = e.api("GET", "/api/v1/pipelines/"+sales.ID.String(), agent.Token, nil)
	require.Equal(t, http.StatusNotFound, code)

	// Another workspace sees its own default pipeline and none of these.
	const otherToken = "pk_test_pipelines_other"
	e.newWorkspace(otherToken)
	theirs := e.pipelines(otherToken)
	require.Len(t, theirs, 1)
	require.NotEqual(t, support.ID, theirs[0].ID)
	before = e.storeDigest()
	e.callAll([][3]string{
		{"GET", "/api/v1/pipelines/" + support.ID.String(), ""},
		{"PATCH", "/api/v1/pipelines/" + support.ID.String(), `{"name":"theirs"}`},
		{"DELETE", "/api/v1/pipelines/" + support.ID.String(), ""},
		{"POST", "/api/v1/contacts/" + ct.ID.String() + "/stage", `{"stage_id":null}`},
		{"POST", "/api/v1/contacts/" + ct.ID.String() + "/owner", `{"owner_id":null}`},
	}, otherToken, func(r [3]string, code int, body []byte) {
		require.Equal(t, http.StatusNotFound, code, "%v: %s", r, body)
	})
	require.Equal(t, before, e.storeDigest())
	// Nor can it use our stages for its contacts.
	theirContact := e.createContact(otherToken, map[string]any{"name": "Theirs"})
	code, body = e.api("POST", "/api/v1/contacts/"+theirContact.ID.String()+"/stage", otherToken, map[string]any{"stage_id": support.Stages[0].ID.String()})
	require.Equal(t, http.StatusBadRequest, code, string(body))

	e.stop()
	e.start()
	require.Equal(t, []engine.Pipeline{support}, e.pipelines(agent.Token))
}

// A contact's stage and owner: set through their routes by any role,
// each change an activity entry (from, to, by) and a contact.updated
// event on the WebSocket; bad values are 400 and change nothing; the
// list filtered by stage, owner or both follows every move; a removed
// user's contacts lose their owner, with an entry by nobody.
func TestContactStageAndOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("stage-agent@example.com", engine.RoleAgent, "stage agent pw 1")
	sales := e.pipelines(ownerToken)[0]
	lead, won := sales.Stages[0].ID, sales.Stages[2].ID
	a := e.createContact(ownerToken, map[string]any{"name": "Ann"})
	b := e.createContact(ownerToken, map[string]any{"name": "Bob"})
	c := e.createContact(ownerToken, map[string]any{"name": "Cid"})

	ws, _, err := e.dialWS("token=" + ownerToken)
	require.NoError(t, err)

	got := e.setStage(agent.Token, a.ID, lead.String())
	require.Equal(t, &engine.ContactStage{PipelineID: sales.ID, StageID: lead}, got.Stage)
	var ev wsEvent
	for ev.Type != "contact.updated" {
		ev = ws.events(1)[0]
		require.Contains(t, []string{"hello", "contact.updated"}, ev.Type)
	}
	var evc engine.Contact
	require.NoError(t, json.Unmarshal(ev.Data, &evc))
	require.Equal(t, got.Stage, evc.Stage)

	code, body := e.api("POST", "/api/v1/contacts/"+b.ID.String()+"/stage", ownerToken,
		map[string]any{"stage_id": won.String(), "pipeline_id": sales.ID.String()})
	require.Equal(t, http.StatusOK, code, string(body))
	e.setStage(ownerToken, c.ID, lead.String())
	got = e.setOwner(ownerToken, a.ID, agent.User.ID.String())
	require.Equal(t, agent.User.ID, *got.OwnerID)
	e.setOwner(ownerToken, c.ID, e.ownerID().String())

	require.Equal(t, []engine.ID{c.ID, a.ID}, e.contactIDs(ownerToken, "stage="+lead.String()))
	require.Equal(t, []engine.ID{b.ID}, e.contactIDs(ownerToken, "stage="+won.String()))
	require.Equal(t, []engine.ID{a.ID}, e.contactIDs(ownerToken, "owner="+agent.User.ID.String()))
	require.Equal(t, []engine.ID{a.ID}, e.contactIDs(ownerToken, "stage="+lead.String()+"&owner="+agent.User.ID.String()))
	require.Equal(t, []engine.ID{c.ID}, e.contactIDs(ownerToken, "stage="+lead.String()+"&limit=1"))
	code, body = e.api("GET", "/api/v1/contacts?stage="+lead.String()+"&limit=1", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	next := decodeAs[struct {
		NextCursor string `json:"next_cursor"`
	}](t, body).NextCursor
	require.Equal(t, []engine.ID{a.ID}, e.contactIDs(ownerToken, "stage="+lead.String()+"&limit=1&cursor="+next))

	// Moves: the lists follow.
	e.setStage(agent.Token, a.ID, won.String())
	require.Equal(t, []engine.ID{c.ID}, e.contactIDs(ownerToken, "stage="+lead.String()))
	require.Equal(t, []engine.ID{b.ID, a.ID}, e.contactIDs(ownerToken, "stage="+won.String()))
	require.Equal(t, []engine.ID{a.ID}, e.contactIDs(ownerToken, "stage="+won.String()+"&owner="+agent.User.ID.String()))
	require.Empty(t, e.contactIDs(ownerToken, "stage="+lead.String()+"&owner="+agent.User.ID.String()))

	// The board's counts, of everyone's contacts or of one owner's.
	countsOf := func(query string) map[string]int {
		code, body := e.api("GET", "/api/v1/pipelines/"+sales.ID.String()+query, agent.Token, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[pipelineWithCounts](t, body).Counts
	}
	require.Equal(t, 1, countsOf("")[lead.String()])
	require.Equal(t, 2, countsOf("")[won.String()])
	require.Equal(t, 0, countsOf("?owner=" + agent.User.ID.String())[lead.String()])
	require.Equal(t, 1, countsOf("?owner=" + agent.User.ID.String())[won.String()])
	require.Equal(t, 1, countsOf("?owner=" + e.ownerID().String())[lead.String()])
	for _, q := range []string{"?owner=nope", "?stage=" + lead.String()} {
		code, body := e.api("GET", "/api/v1/pipelines/"+sales.ID.String()+q, agent.Token, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
		require.Equal(t, "bad_query", errorCode(t, body))
	}

	// Bad input: 400, nothing changes.
	const otherToken = "pk_test_stage_other"
	otherWS := e.newWorkspace(otherToken)
	stranger := e.pipelines(otherToken)[0]
	theirUsers, err := e.store.Users(otherWS)
	require.NoError(t, err)
	otherUsers := theirUsers[0].ID.String()
	before := e.storeDigest()
	for _, bad := range []string{`{}`, `{"stage_id":"nope"}`, `{"stage_id":5}`, `{"stage_id":"` + stranger.Stages[0].ID.String() + `"}`,
		`{"stage_id":"` + lead.String() + `","pipeline_id":"` + stranger.ID.String() + `"}`, `{"stage_id":null,"pipeline_id":"` + sales.ID.String() + `"}`,
		`{"stage_id":"` + lead.String() + `","x":1}`} {
		code, body = e.api("POST", "/api/v1/contacts/"+a.ID.String()+"/stage", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	for _, bad := range []string{`{}`, `{"owner_id":"nope"}`, `{"owner_id":"` + otherUsers + `"}`, `{"owner_id":"` + a.ID.String() + `"}`} {
		code, body = e.api("POST", "/api/v1/contacts/"+a.ID.String()+"/owner", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	for _, q := range []string{"stage=nope", "owner=1", "stage=" + lead.String() + "&q=ann", "stage=" + lead.String() + "&cursor=zz"} {
		code, body = e.api("GET", "/api/v1/contacts?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
	}
	code, _ = e.api("POST", "/api/v1/contacts/"+engine.NewID(sales.CreatedAt).String()+"/stage", ownerToken, map[string]any{"stage_id": nil})
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, before, e.storeDigest(), "refused requests stored nothing")

	// The activity: each change, from → to, by whom, newest first.
	code, body = e.api("GET", "/api/v1/contacts/"+a.ID.String()+"/activity", agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var act struct {
		Activity []struct {
			Type   string               `json:"type"`
			Change engine.ContactChange `json:"change"`
		} `json:"activity"`
	}
	require.NoError(t, json.Unmarshal(body, &act))
	require.Len(t, act.Activity, 3, string(body))
	require.Equal(t, "stage_changed", act.Activity[0].Type)
	require.Equal(t, lead.String(), act.Activity[0].Change.From)
	require.Equal(t, won.String(), act.Activity[0].Change.To)
	require.Equal(t, agent.User.ID, *act.Activity[0].Change.By)
	require.Equal(t, "owner_changed", act.Activity[1].Type)
	require.Equal(t, agent.User.ID.String(), act.Activity[1].Change.To)
	require.Equal(t, "", act.Activity[2].Change.From)
	detail := decodeAs[contactDetail](t, func() []byte { _, b := e.api("GET", "/api/v1/contacts/"+a.ID.String(), ownerToken, nil); return b }())
	require.Len(t, detail.Activity, 3, "the detail's activity holds them too")

	// The same value again changes nothing and records nothing.
	e.setStage(agent.Token, a.ID, won.String())
	_, body = e.api("GET", "/api/v1/contacts/"+a.ID.String()+"/activity", agent.Token, nil)
	require.NoError(t, json.Unmarshal(body, &act))
	require.Len(t, act.Activity, 3)

	// The agent is removed: their contact loses its owner.
	code, body = e.api("DELETE", "/api/v1/users/"+agent.User.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	ct := decodeAs[engine.Contact](t, func() []byte { _, b := e.api("GET", "/api/v1/contacts/"+a.ID.String(), ownerToken, nil); return b }())
	require.Nil(t, ct.OwnerID)
	require.Equal(t, won, ct.Stage.StageID, "the stage stays")
	require.Empty(t, e.contactIDs(ownerToken, "owner="+agent.User.ID.String()))
	_, body = e.api("GET", "/api/v1/contacts/"+a.ID.String()+"/activity", ownerToken, nil)
	act.Activity = nil // a fresh decode: an absent "by" must read as nil
	require.NoError(t, json.Unmarshal(body, &act))
	require.Len(t, act.Activity, 4)
	require.Equal(t, "owner_changed", act.Activity[0].Type)
	require.Nil(t, act.Activity[0].Change.By)
	require.Equal(t, "", act.Activity[0].Change.To)
	require.Equal(t, []engine.ID{c.ID}, e.contactIDs(ownerToken, "owner="+e.ownerID().String()), "other owners keep theirs")
}

// The inbox list filtered by the contact's stage and owner: the
// conversations of contacts in a stage, of an owner, or both, with the
// other filters and pages; a contact's move shows at once; bad ids are
// 400.
func TestConversationListByStageAndOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("inbox-stage@example.com", engine.RoleAgent, "inbox stage pw 1")
	sales := e.pipelines(ownerToken)[0]
	lead, won := sales.Stages[0].ID, sales.Stages[2].ID
	var convs, contacts []engine.ID
	for i := range 5 {
		wa := fmt.Sprintf("1555666000%d", i)
		code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.st."+wa, wa, fmt.Sprintf("Stage %d", i), "hi"))
		require.Equal(t, http.StatusOK, code, string(body))
		conv := e.thread(engine.ChannelWhatsApp, phoneID, wa)
		convs = append(convs, conv)
		contacts = append(contacts, e.conv(conv).ContactID)
	}
	// 0, 1, 2 in New lead (1 the agent's), 3 won and the agent's, 4 none.
	for _, i := range []int{0, 1, 2} {
		e.setStage(ownerToken, contacts[i], lead.String())
	}
	e.setStage(ownerToken, contacts[3], won.String())
	e.setOwner(ownerToken, contacts[1], agent.User.ID.String())
	e.setOwner(ownerToken, contacts[3], agent.User.ID.String())
	ids := func(query string) []engine.ID {
		out := []engine.ID{}
		for _, c := range e.list(query).Conversations {
			out = append(out, c.ID)
		}
		return out
	}
	require.ElementsMatch(t, []engine.ID{convs[0], convs[1], convs[2]}, ids("stage="+lead.String()))
	require.ElementsMatch(t, []engine.ID{convs[1], convs[3]}, ids("owner="+agent.User.ID.String()))
	require.Equal(t, []engine.ID{convs[1]}, ids("stage="+lead.String()+"&owner="+agent.User.ID.String()))
	require.Equal(t, []engine.ID{convs[3]}, ids("stage="+won.String()+"&channel=whatsapp&unread=true"))
	require.Empty(t, ids("stage="+won.String()+"&folder=solved"))

	// Pages: one at a time, every one once.
	var paged []engine.ID
	cursor := ""
	for range 4 {
		r := e.list("stage=" + lead.String() + "&limit=1&cursor=" + cursor)
		for _, c := range r.Conversations {
			paged = append(paged, c.ID)
		}
		if cursor = r.NextCursor; cursor == "" {
			break
		}
	}
	require.ElementsMatch(t, []engine.ID{convs[0], convs[1], convs[2]}, paged)

	// A move shows at once.
	e.setStage(agent.Token, contacts[0], won.String())
	require.ElementsMatch(t, []engine.ID{convs[1], convs[2]}, ids("stage="+lead.String()))
	require.ElementsMatch(t, []engine.ID{convs[0], convs[3]}, ids("stage="+won.String()))

	for _, q := range []string{"stage=nope", "owner=5", "stage=" + lead.String() + "&owner=x"} {
		code, body := e.api("GET", "/api/v1/conversations?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
		require.Equal(t, "bad_query", errorCode(t, body))
	}
}

// The contact list by stage and tag (the board's tag filter): the
// contacts of the stage one of whose conversations has the tag, newest
// first, a page at a time; tag alone, or with q, is a 400.
func TestContactListByStageAndTag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	lead := e.pipelines(ownerToken)[0].Stages[0].ID
	var contacts []engine.ID
	for i := range 5 {
		conv := e.writes(t, fmt.Sprintf("1555444000%d", i), fmt.Sprintf("Tagged %d", i), "hi")
		contacts = append(contacts, e.conv(conv).ContactID)
		e.setStage(ownerToken, contacts[i], lead.String())
		if i == 1 || i == 3 {
			code, body := e.api("PUT", "/api/v1/conversations/"+conv.String()+"/tags/vip", ownerToken, nil)
			require.Equal(t, http.StatusOK, code, string(body))
		}
	}
	require.Equal(t, []engine.ID{contacts[3], contacts[1]}, e.contactIDs(ownerToken, "stage="+lead.String()+"&tag=vip"))
	require.Empty(t, e.contactIDs(ownerToken, "stage="+lead.String()+"&tag=nope"))
	var paged []engine.ID
	cursor := ""
	for range 4 {
		code, body := e.api("GET", "/api/v1/contacts?stage="+lead.String()+"&tag=vip&limit=1&cursor="+cursor, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		page := decodeAs[struct {
			Contacts   []engine.Contact `json:"contacts"`
			NextCursor string           `json:"next_cursor"`
			Partial    bool             `json:"partial"`
		}](t, body)
		require.False(t, page.Partial)
		for _, c := range page.Contacts {
			paged = append(paged, c.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	require.Equal(t, []engine.ID{contacts[3], contacts[1]}, paged)
	for _, q := range []string{"tag=vip", "tag=vip&q=tagged", "stage=" + lead.String() + "&tag=vip&q=x", "stage=" + lead.String() + "&tag=" + strings.Repeat("t", engine.MaxTagBytes+1)} {
		code, body := e.api("GET", "/api/v1/contacts?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
		require.Equal(t, "bad_query", errorCode(t, body))
	}
}
