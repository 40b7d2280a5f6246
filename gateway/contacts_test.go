package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

type contactPage struct {
	Contacts   []engine.Contact `json:"contacts"`
	NextCursor string           `json:"next_cursor"`
	Partial    bool             `json:"partial"`
}

type contactFile struct {
	MediaID        string `json:"media_id"`
	Kind           string `json:"kind"`
	Filename       string `json:"filename"`
	Mime           string `json:"mime"`
	ConversationID string `json:"conversation_id"`
}

type activityItem struct {
	Type           string       `json:"type"`
	ConversationID string       `json:"conversation_id"`
	Folder         string       `json:"folder"`
	Note           *engine.Note `json:"note"`
	File           *contactFile `json:"file"`
	At             time.Time    `json:"at"`
}

type contactDetail struct {
	engine.Contact
	Conversations []engine.Conversation `json:"conversations"`
	Notes         []engine.Note         `json:"notes"`
	Files         []contactFile         `json:"files"`
	Activity      []activityItem        `json:"activity"`
}

func (e *env) createContact(token string, body any) engine.Contact {
	e.t.Helper()
	code, resp := e.api("POST", "/api/v1/contacts", token, body)
	require.Equal(e.t, http.StatusCreated, code, string(resp))
	return decodeAs[engine.Contact](e.t, resp)
}

func (e *env) contacts(query string) contactPage {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/contacts?"+query, ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[contactPage](e.t, body)
}

func (e *env) contactDetail(id engine.ID) contactDetail {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/contacts/"+id.String(), ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[contactDetail](e.t, body)
}

func names(cs []engine.Contact) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Profile.Name)
	}
	return out
}

// countContacts counts every contact of the workspace through the API.
func (e *env) countContacts(token string) int {
	e.t.Helper()
	n, cursor := 0, ""
	for {
		code, body := e.api("GET", "/api/v1/contacts?limit=500&cursor="+cursor, token, nil)
		require.Equal(e.t, http.StatusOK, code, string(body))
		page := decodeAs[contactPage](e.t, body)
		n += len(page.Contacts)
		if cursor = page.NextCursor; cursor == "" {
			return n
		}
	}
}

// waContact has WhatsApp user wa (profile name) write, and returns the
// conversation and the contact it created.
func (e *env) waContact(wamid, wa, name string) (conv, contact engine.ID) {
	e.t.Helper()
	code, body := e.webhook(engine.ChannelWhatsApp, waText(wamid, wa, name, "hi"))
	require.Equal(e.t, http.StatusOK, code, string(body))
	conv = e.thread(engine.ChannelWhatsApp, phoneID, wa)
	return conv, e.conv(conv).ContactID
}

// newWorkspace creates another workspace with an owner whose API token
// is token.
func (e *env) newWorkspace(token string) engine.ID {
	e.t.Helper()
	return e.workspaceWith("B", token)
}

// workspaceWith creates a workspace named name with an owner whose API
// token is token, straight in the store (as the operator's API would).
func (e *env) workspaceWith(name, token string) engine.ID {
	e.t.Helper()
	now := time.Now()
	ws := engine.Workspace{ID: engine.NewID(now), Name: name, CreatedAt: now}
	owner := engine.User{ID: engine.NewID(now), WorkspaceID: ws.ID, Name: name + " owner", Role: engine.RoleOwner, CreatedAt: now}
	b := e.store.NewBatch()
	b.PutWorkspace(&ws)
	b.PutUser(&owner)
	b.IssueToken(token, &persistence.IssuedToken{ID: engine.NewID(now), Kind: persistence.TokenAPI,
		Token: engine.Token{WorkspaceID: ws.ID, UserID: owner.ID, Role: engine.RoleOwner, Name: "b", CreatedAt: now}})
	require.NoError(e.t, e.store.Commit(b))
	return ws.ID
}

// callAll calls each route {method, path, body or ""} with token and
// hands the answer to check.
func (e *env) callAll(routes [][3]string, token string, check func(r [3]string, code int, body []byte)) {
	e.t.Helper()
	for _, r := range routes {
		var body any
		if r[2] != "" {
			body = r[2]
		}
		code, resp := e.api(r[0], r[1], token, body)
		check(r, code, resp)
	}
}

// eventReader reads a socket's events one at a time, however they were
// batched into frames.
type eventReader struct {
	c   *wsClient
	buf []wsEvent
}

func (e *env) events(query string) *eventReader {
	e.t.Helper()
	c, _, err := e.dialWS(query)
	require.NoError(e.t, err)
	r := &eventReader{c: c}
	require.Equal(e.t, "hello", r.next().Type)
	return r
}

func (r *eventReader) next() wsEvent {
	r.c.t.Helper()
	for len(r.buf) == 0 {
		r.buf = r.c.frames()
	}
	ev := r.buf[0]
	r.buf = r.buf[1:]
	return ev
}

// until reads events until one of type typ and returns it.
func (r *eventReader) until(typ string) wsEvent {
	r.c.t.Helper()
	for {
		if ev := r.next(); ev.Type == typ {
			return ev
		}
	}
}

func TestContactsCreateListSearchUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	jose := e.createContact(ownerToken, map[string]any{"name": "José Ñandú", "email": "jose.nandu@example.com",
		"phone": "+1 (555) 010-2030", "company": "Acme Labs", "title": "CTO", "country": "ES", "language": "es",
		"avatar": "https://example.com/j.png", "custom_fields": map[string]string{"plan": "pro"}})
	require.Equal(t, engine.SourceAPI, jose.Source, "a personal API token creates api contacts")
	require.Equal(t, "https://example.com/j.png", jose.Profile.AvatarURL)
	joana := e.createContact(ownerToken, map[string]any{"name": "Joana Silva", "company": "ACME", "source": "manual"})
	require.Equal(t, engine.SourceManual, joana.Source)
	agent := e.addUser("agent@example.com", engine.RoleAgent, "correct horse battery")
	third := e.createContact(agent.Token, map[string]any{"phone": "+44 7700 900123"})
	require.Equal(t, engine.SourceManual, third.Source, "a login session creates manual contacts")

	// List, newest first, with a cursor.
	page := e.contacts("limit=2")
	require.Equal(t, []string{"", "Joana Silva"}, names(page.Contacts))
	require.NotEmpty(t, page.NextCursor)
	page = e.contacts("limit=2&cursor=" + page.NextCursor)
	require.Equal(t, []string{"José Ñandú"}, names(page.Contacts))
	require.Empty(t, page.NextCursor)

	// Search: prefixes of name, email, phone and company; case and
	// accents aside; every word must match.
	for q, want := range map[string][]string{
		"jose":            {"José Ñandú"},
		"ÑANDU":           {"José Ñandú"},
		"jo":              {"Joana Silva", "José Ñandú"},
		"acme":            {"Joana Silva", "José Ñandú"},
		"acme lab":        {"José Ñandú"},
		"nandu@example":   {"José Ñandú"},
		"0102030":         {"José Ñandú"},
		"+1 555 010 2030": {"José Ñandú"},
		"7700 900123":     {""},
		"joana jose":      {},
		"zzz":             {},
		"!!!":             {},
	} {
		require.Equal(t, want, names(e.contacts("q="+urlEscape(q)).Contacts), q)
	}

	// Update: fields change, the index follows, a null custom field goes.
	code, body := e.api("PATCH", "/api/v1/contacts/"+joana.ID.String(), ownerToken, map[string]any{
		"name": "Marta Silva", "email": "marta@example.com", "custom_fields": map[string]any{"tier": "gold"}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "Marta Silva", decodeAs[engine.Contact](t, body).Profile.Name)
	require.Empty(t, e.contacts("q=joana").Contacts)
	require.Equal(t, []string{"Marta Silva"}, names(e.contacts("q=marta").Contacts))
	code, body = e.api("PATCH", "/api/v1/contacts/"+jose.ID.String(), ownerToken, map[string]any{"custom_fields": map[string]any{"plan": nil}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Empty(t, decodeAs[engine.Contact](t, body).CustomFields)

	// Bad bodies: 400 with a JSON error, and nothing stored or changed.
	before := e.contactDetail(jose.ID).Contact
	for _, bad := range []string{`{`, `[]`, `{"name": 5}`, `{"nope": 1}`, "{\"name\": \"\xff\"}", `{"name":"a"} trailing`, ``,
		`{"email":"not an email"}`, `{"phone":"call me"}`, `{"avatar":"javascript:x"}`, `{"avatar":"https://a","avatar_url":"https://b"}`,
		`{"name":"` + strings.Repeat("a", 300) + `"}`, `{"name":"two\nlines"}`, `{"custom_fields":{"":"x"}}`} {
		code, body := e.api("POST", "/api/v1/contacts", ownerToken, bad)
		require.True(t, code == http.StatusBadRequest, "POST %q: %d %s", bad, code, body)
		errorCode(t, body)
		code, body = e.api("PATCH", "/api/v1/contacts/"+jose.ID.String(), ownerToken, bad)
		require.True(t, code == http.StatusBadRequest, "PATCH %q: %d %s", bad, code, body)
		errorCode(t, body)
	}
	for _, bad := range []string{`{}`, `{"source":"import"}`, `{"name":"x","source":"chat"}`} {
		code, body := e.api("POST", "/api/v1/contacts", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
	}
	code, _ = e.api("PATCH", "/api/v1/contacts/"+jose.ID.String(), ownerToken, `{"source":"api"}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, 3, e.countContacts(ownerToken), "nothing stored by bad bodies")
	require.Equal(t, before, e.contactDetail(jose.ID).Contact, "nothing changed by bad bodies")

	// Bad queries and unknown ids.
	for _, q := range []string{"limit=0", "limit=x", "limit=501", "cursor=nope", "q=" + strings.Repeat("a", 300), "q=jo&cursor=nope"} {
		code, body := e.api("GET", "/api/v1/contacts?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Equal(t, "bad_query", errorCode(t, body))
	}
	for _, id := range []string{"nope", engine.NewID(time.Now()).String()} {
		code, body := e.api("GET", "/api/v1/contacts/"+id, ownerToken, nil)
		require.Equal(t, http.StatusNotFound, code)
		require.Equal(t, "not_found", errorCode(t, body))
		code, _ = e.api("PATCH", "/api/v1/contacts/"+id, ownerToken, `{"name":"x"}`)
		require.Equal(t, http.StatusNotFound, code)
	}
}

func urlEscape(s string) string {
	return strings.NewReplacer("%", "%25", "+", "%2B", " ", "%20", "!", "%21", "@", "%40", "&", "%26").Replace(s)
}

// A contact's detail gathers its conversations across channels, notes,
// files and timeline; a merge moves the other contact's identities,
// conversations (through their actors) and notes, and deletes it.
func TestContactDetailAndMerge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	convA, ana := e.waContact("wamid.d.1", "15550101", "Ana")
	ig := fmt.Sprintf(`{"object":"instagram","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"IGSID_7"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"ig_d_1","text":"hi from ig"}}]}]}`, igID, igID)
	code, body := e.webhook(engine.ChannelInstagram, ig)
	require.Equal(t, http.StatusOK, code, string(body))
	convB := e.thread(engine.ChannelInstagram, igID, "IGSID_7")
	igContact := e.conv(convB).ContactID
	require.NotEqual(t, ana, igContact)

	// Activity on A: a folder change, a file, a note from the conversation.
	code, body = e.api("POST", "/api/v1/conversations/"+convA.String()+"/folder", ownerToken, map[string]string{"folder": "solved"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.upload("/api/v1/conversations/"+convA.String()+"/messages", "file", "quote.pdf", "application/pdf", []byte("%PDF quote"), nil)
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/conversations/"+convA.String()+"/notes", ownerToken, map[string]string{"text": "VIP customer"})
	require.Equal(t, http.StatusCreated, code, string(body))
	note := decodeAs[engine.Note](t, body)
	require.Equal(t, ana, note.ContactID)
	require.NotNil(t, note.ConversationID)
	require.Equal(t, convA, *note.ConversationID)

	d := e.contactDetail(ana)
	require.Equal(t, "Ana", d.Profile.Name)
	require.Equal(t, engine.SourceChat, d.Source)
	require.Len(t, d.Conversations, 1)
	require.Equal(t, convA, d.Conversations[0].ID)
	require.Len(t, d.Notes, 1)
	require.Len(t, d.Files, 1)
	require.Equal(t, "quote.pdf", d.Files[0].Filename)
	require.Equal(t, "application/pdf", d.Files[0].Mime)
	require.Equal(t, "document", d.Files[0].Kind)
	require.Len(t, d.Files[0].MediaID, 64)
	require.Equal(t, convA.String(), d.Files[0].ConversationID)
	var types []string
	for i, a := range d.Activity {
		types = append(types, a.Type)
		if i > 0 {
			require.False(t, a.At.After(d.Activity[i-1].At), "newest first")
		}
	}
	require.ElementsMatch(t, []string{"note", "file", "folder.changed", "conversation.created"}, types)
	for _, a := range d.Activity {
		if a.Type == "folder.changed" {
			require.Equal(t, "solved", a.Folder)
		}
	}

	// Give the Instagram contact an email and a note, then merge it into Ana.
	code, body = e.api("PATCH", "/api/v1/contacts/"+igContact.String(), ownerToken, map[string]any{"email": "ana@example.com", "name": "ana.ig"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", "/api/v1/contacts/"+igContact.String()+"/notes", ownerToken, map[string]string{"text": "met on instagram"})
	require.Equal(t, http.StatusCreated, code, string(body))

	// Bad merges: 4xx, nothing changes.
	for _, bad := range []struct {
		body string
		code int
	}{{`{"from":"` + ana.String() + `"}`, 400}, {`{"from":"nope"}`, 400}, {`{}`, 400}, {`{"from":"` + engine.NewID(time.Now()).String() + `"}`, 404}, {`{`, 400}} {
		code, resp := e.api("POST", "/api/v1/contacts/"+ana.String()+"/merge", ownerToken, bad.body)
		require.Equal(t, bad.code, code, "%s: %s", bad.body, resp)
		errorCode(t, resp)
	}
	require.Len(t, e.contactDetail(igContact).Conversations, 1)

	code, body = e.api("POST", "/api/v1/contacts/"+ana.String()+"/merge", ownerToken, map[string]string{"from": igContact.String()})
	require.Equal(t, http.StatusOK, code, string(body))
	merged := decodeAs[engine.Contact](t, body)
	require.Equal(t, "Ana", merged.Profile.Name, "the target keeps its fields")
	require.Equal(t, "ana@example.com", merged.Profile.Email, "and fills its empty ones")
	require.Len(t, merged.Identities, 2)
	code, _ = e.api("GET", "/api/v1/contacts/"+igContact.String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code, "the source is gone")

	d = e.contactDetail(ana)
	require.Len(t, d.Conversations, 2, "conversations across channels")
	require.Len(t, d.Notes, 2, "notes moved")
	for _, n := range d.Notes {
		require.Equal(t, ana, n.ContactID)
	}
	// The conversation moved through its actor: the header, the thread and
	// the identity now name Ana.
	b := e.conv(convB)
	require.Equal(t, ana, b.ContactID)
	code, body = e.api("GET", "/api/v1/conversations/"+convB.String(), ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, ana, decodeAs[engine.Conversation](t, body).ContactID)
	id, ok, err := e.store.ContactByIdentity(e.ws, engine.ChannelInstagram, "IGSID_7")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ana, id)
	th, ok, err := e.store.LookupThread(e.ws, igID, "IGSID_7")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ana, th.ContactID)
	// The actor's state follows: the next message keeps the new contact.
	ig2 := strings.Replace(strings.Replace(ig, "ig_d_1", "ig_d_2", 1), "hi from ig", "again", 1)
	code, body = e.webhook(engine.ChannelInstagram, ig2)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, ana, e.conv(convB).ContactID)
	require.Equal(t, uint64(2), e.conv(convB).LastSeq)
	require.Equal(t, []string{"Ana"}, names(e.contacts("q=ana").Contacts), "the source left the index")

	// A name given in the CRM survives the customer's next message, which
	// still carries the channel's profile name; a new profile name from
	// the channel does not override it either.
	code, body = e.api("PATCH", "/api/v1/contacts/"+ana.String(), ownerToken, map[string]string{"name": "Ana María Lima"})
	require.Equal(t, http.StatusOK, code, string(body))
	for i, profile := range []string{"Ana", "Ana L."} {
		code, body = e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.d.n%d", i), "15550101", profile, "hi"))
		require.Equal(t, http.StatusOK, code, string(body))
		require.Equal(t, "Ana María Lima", e.contactDetail(ana).Profile.Name, profile)
	}
	// The header shows the contact's name, which reaches the contact's
	// conversations by event.
	eventually(t, 5*time.Second, func() error {
		if n := e.conv(convA).ContactName; n != "Ana María Lima" {
			return fmt.Errorf("header shows %q", n)
		}
		return nil
	})
}

// A note reaches every socket of the workspace as note.created; a
// mention reaches only the mentioned user's sockets, as note.mentioned,
// whatever their filters.
func TestNotesAndMentions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	maria := e.addUser("maria.lopez@example.com", engine.RoleAgent, "correct horse battery")
	bob := e.addUser("bob@example.com", engine.RoleAgent, "correct horse battery")
	admin := e.addUser("root@example.com", engine.RoleAdmin, "correct horse battery")
	ct := e.createContact(ownerToken, map[string]any{"name": "Lead"})

	mws := e.events("token=" + maria.Token)
	mFiltered := e.events("token=" + maria.Token + "&folder=spam")
	bws := e.events("token=" + bob.Token)

	path := "/api/v1/contacts/" + ct.ID.String() + "/notes"
	code, body := e.api("POST", path, ownerToken, map[string]string{"text": "Call back tomorrow, @Maria.Lopez! (cc @nobody, mail bob@example.com)"})
	require.Equal(t, http.StatusCreated, code, string(body))
	n := decodeAs[engine.Note](t, body)
	require.Equal(t, []engine.ID{maria.User.ID}, n.Mentions)
	require.Nil(t, n.ConversationID)
	require.Equal(t, e.ownerID(), n.AuthorID)

	created := mws.until("note.created")
	require.Contains(t, string(created.Data), n.ID.String())
	mention := mws.until("note.mentioned")
	var md struct {
		Note   engine.Note `json:"note"`
		UserID engine.ID   `json:"user_id"`
	}
	require.NoError(t, json.Unmarshal(mention.Data, &md))
	require.Equal(t, maria.User.ID, md.UserID)
	require.Equal(t, n.ID, md.Note.ID)
	require.Equal(t, "note.created", mFiltered.next().Type, "conversation filters do not hold back notes")
	require.Equal(t, "note.mentioned", mFiltered.next().Type, "nor mentions")

	// Bob sees the note, never the mention: after note.created his next
	// event is the next note's.
	require.Equal(t, "note.created", bws.next().Type)
	code, body = e.api("POST", path, admin.Token, map[string]string{"text": "second, for @bob"})
	require.Equal(t, http.StatusCreated, code, string(body))
	second := decodeAs[engine.Note](t, body)
	ev := bws.next()
	require.Equal(t, "note.created", ev.Type)
	require.Contains(t, string(ev.Data), second.ID.String())
	require.Equal(t, "note.mentioned", bws.next().Type)
	require.Equal(t, "note.created", mws.until("note.created").Type)
	require.NoError(t, mws.c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)))
	require.Equal(t, "pong", mws.next().Type, "maria got no mention of bob's")

	// Listed newest first.
	code, body = e.api("GET", path+"?limit=10", bob.Token, nil)
	require.Equal(t, http.StatusOK, code)
	list := decodeAs[struct {
		Notes []engine.Note `json:"notes"`
	}](t, body).Notes
	require.Len(t, list, 2)
	require.Equal(t, second.ID, list[0].ID)

	// Bad bodies: 400, nothing stored.
	for _, bad := range []string{`{}`, `{"text":"   "}`, `{"text":5}`, `{"text":"` + strings.Repeat("a", engine.MaxNoteBytes+1) + `"}`, `{`, ``} {
		code, body := e.api("POST", path, ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%.40q: %s", bad, body)
		errorCode(t, body)
	}
	for _, q := range []string{"limit=0", "limit=x", "limit=1000"} {
		code, _ := e.api("GET", path+"?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, q)
	}
	code, body = e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, decodeAs[struct {
		Notes []engine.Note `json:"notes"`
	}](t, body).Notes, 2)

	// Delete: the author or an admin.
	code, body = e.api("DELETE", path+"/"+n.ID.String(), bob.Token, nil)
	require.Equal(t, http.StatusForbidden, code, string(body))
	code, _ = e.api("DELETE", path+"/"+n.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = e.api("DELETE", path+"/"+n.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = e.api("DELETE", path+"/"+second.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusNoContent, code, "the author")
	require.Equal(t, "note.deleted", bws.until("note.deleted").Type)
	code, _ = e.api("POST", "/api/v1/conversations/"+engine.NewID(time.Now()).String()+"/notes", ownerToken, map[string]string{"text": "x"})
	require.Equal(t, http.StatusNotFound, code)
}

// postCSV posts a CSV import body.
func (e *env) postCSV(token, contentType string, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.url+"/api/v1/contacts/import", bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	return e.do(req)
}

type importResult struct {
	Job      string `json:"job"`
	Rows     int    `json:"rows"`
	Imported int    `json:"imported"`
	Updated  int    `json:"updated"`
	Failed   int    `json:"failed"`
	Done     bool   `json:"done"`
	Errors   []struct {
		Row   int    `json:"row"`
		Error string `json:"error"`
	} `json:"errors"`
}

func TestContactImportAndExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	existing := e.createContact(ownerToken, map[string]any{"name": "Ana Old", "email": "ana@example.com"})
	sock := e.events("token=" + ownerToken)

	var buf bytes.Buffer
	buf.WriteString("\ufeffName,Email,Phone,Company,Plan,id\n")
	const good = 1100
	for i := range good {
		fmt.Fprintf(&buf, "Person %04d,p%d@example.com,+1 555 %07d,Acme,gold,ignored\n", i, i, i)
	}
	buf.WriteString("Ana New,ANA@example.com,,Initech,silver,\n")          // updates the existing contact
	buf.WriteString("Bad Email,not-an-email,,,,\n")                        // row 1103
	buf.WriteString("Short,row\n")                                         // row 1104
	buf.WriteString(",,,Only Company,,\n")                                 // row 1105: no name, phone or email
	buf.WriteString("\n")                                                  // an empty line is skipped
	buf.WriteString("Bad Phone,,call me maybe,,,\n")                       // row 1106
	buf.WriteString("Dup In File,p0@example.com,,,platinum,\n")            // updates Person 0000
	buf.WriteString("\"Quoted, Name\",q@example.com,,\"A \"\"B\"\"\",,\n") // quotes
	buf.WriteString("=HYPERLINK(1),,,'=SUM(A1),,\n")                       // a formula stays text
	code, body := e.postCSV(ownerToken, "text/csv; charset=utf-8", buf.Bytes())
	require.Equal(t, http.StatusOK, code, string(body))
	res := decodeAs[importResult](t, body)
	require.Equal(t, good+2, res.Imported, string(body))
	require.Equal(t, 2, res.Updated)
	require.Equal(t, 4, res.Failed)
	require.True(t, res.Done)
	rows := map[int]string{}
	for _, r := range res.Errors {
		rows[r.Row] = r.Error
	}
	require.Len(t, rows, 4)
	require.Contains(t, rows[good+3], "email")
	require.Contains(t, rows[good+4], "fields")
	require.Contains(t, rows[good+5], "no name, phone or email")
	require.Contains(t, rows[good+7], "phone")

	// Progress: after each 500 rows and at the end, with the same job.
	var progress []importResult
	for len(progress) == 0 || !progress[len(progress)-1].Done {
		ev := sock.until("contacts.import.progress")
		progress = append(progress, decodeAs[importResult](t, ev.Data))
	}
	require.GreaterOrEqual(t, len(progress), 3)
	for i, p := range progress {
		require.Equal(t, res.Job, p.Job)
		if i > 0 {
			require.Greater(t, p.Rows, progress[i-1].Rows)
		}
	}
	require.Equal(t, res.Imported, progress[len(progress)-1].Imported)

	// What was stored.
	ana := e.contactDetail(existing.ID)
	require.Equal(t, "Ana New", ana.Profile.Name, "a matching email updates the contact")
	require.Equal(t, "Initech", ana.Profile.Company)
	require.Equal(t, engine.SourceAPI, ana.Source, "an update keeps the source")
	p := e.contacts("q=p0@example.com").Contacts
	require.Len(t, p, 1)
	require.Equal(t, "Dup In File", p[0].Profile.Name, "a later row of the same email updates the earlier")
	require.Equal(t, "platinum", p[0].CustomFields["Plan"])
	require.Equal(t, engine.SourceImport, p[0].Source)
	require.Equal(t, []string{"Person 0042"}, names(e.contacts("q=p42@example.com").Contacts))
	q := e.contacts("q=quoted").Contacts
	require.Len(t, q, 1)
	require.Equal(t, "Quoted, Name", q[0].Profile.Name)
	require.Equal(t, `A "B"`, q[0].Profile.Company)
	total := e.countContacts(ownerToken)
	require.Equal(t, good+2+1, total)

	// Export: every contact, formulas guarded, custom columns; importing it
	// back matches every contact with an email or phone and creates none.
	req, err := http.NewRequest("GET", e.url+"/api/v1/contacts/export", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ownerToken)
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	exported, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/csv")
	recs, err := csv.NewReader(bytes.NewReader(exported)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, total+1, len(recs))
	require.Equal(t, []string{"id", "name", "phone", "email", "company", "title", "country", "language", "avatar_url", "source", "created_at", "updated_at", "Plan"}, recs[0])
	require.Contains(t, string(exported), "'=HYPERLINK(1)")
	code, body = e.postCSV(ownerToken, "text/csv", exported)
	require.Equal(t, http.StatusOK, code, string(body))
	back := decodeAs[importResult](t, body)
	require.Zero(t, back.Failed, string(body))
	require.Equal(t, total-1, back.Updated, "every contact but the one without email or phone is matched")
	require.Equal(t, 1, back.Imported, "the formula row has no email or phone: it comes in again")
	f := e.contacts("q=hyperlink").Contacts
	require.Len(t, f, 2)
	require.Equal(t, "=HYPERLINK(1)", f[0].Profile.Name, "the guard is taken off on import")

	// Bad imports: refused whole, nothing stored.
	total = e.countContacts(ownerToken)
	for _, bad := range []struct {
		ct, body string
		code     int
	}{
		{"application/json", `{"name":"x"}`, http.StatusUnsupportedMediaType},
		{"text/csv", ``, http.StatusBadRequest},
		{"text/csv", "company,plan\nAcme,gold\n", http.StatusBadRequest},
		{"text/csv", "name,Name\nA,B\n", http.StatusBadRequest},
		{"text/csv", "name,\"email\nx", http.StatusBadRequest},
		{"text/csv", "name," + strings.Repeat("c,", 100) + "d\n", http.StatusBadRequest},
	} {
		code, body := e.postCSV(ownerToken, bad.ct, []byte(bad.body))
		require.Equal(t, bad.code, code, "%q: %s", bad.body, body)
		errorCode(t, body)
	}
	// An import over the limit is refused from its Content-Length.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /api/v1/contacts/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n", ownerToken, 64<<20)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
	require.Equal(t, total, e.countContacts(ownerToken))
}

// A chunked import is read as a stream: rows are committed (and their
// progress published) while the client is still sending.
func TestContactImportStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sock := e.events("token=" + ownerToken)
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", e.url+"/api/v1/contacts/import", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ownerToken)
	req.Header.Set("Content-Type", "text/csv")
	done := make(chan importResult, 1)
	go func() {
		resp, err := e.client.Do(req)
		if err != nil {
			done <- importResult{}
			return
		}
		defer resp.Body.Close()
		var r importResult
		_ = json.NewDecoder(resp.Body).Decode(&r)
		done <- r
	}()
	fmt.Fprintln(pw, "name,phone")
	for i := range 500 {
		fmt.Fprintf(pw, "Streamed %d,+44 20 %08d\n", i, i)
	}
	// The first 500 rows are committed before the body ends.
	ev := sock.until("contacts.import.progress")
	require.Equal(t, 500, decodeAs[importResult](t, ev.Data).Imported)
	require.Equal(t, 500, e.countContacts(ownerToken))
	fmt.Fprintln(pw, "Last,+44 20 99999999")
	require.NoError(t, pw.Close())
	select {
	case r := <-done:
		require.Equal(t, 501, r.Imported)
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
}

func TestContactRoutesNeedATokenAndStayInTheirWorkspace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	conv, ct := e.waContact("wamid.ci.1", "15559001", "Secret A")
	code, body := e.api("POST", "/api/v1/contacts/"+ct.String()+"/notes", ownerToken, map[string]string{"text": "secret note of A"})
	require.Equal(t, http.StatusCreated, code, string(body))
	note := decodeAs[engine.Note](t, body)
	code, body = e.api("POST", "/api/v1/contacts/"+ct.String()+"/memories", ownerToken, map[string]string{"text": "secret memory of A"})
	require.Equal(t, http.StatusCreated, code, string(body))
	memory := decodeAs[engine.Memory](t, body)
	other := e.createContact(ownerToken, map[string]any{"name": "Other of A", "email": "shared@example.com"})
	before := e.contactDetail(ct)

	id := ct.String()
	routes := [][3]string{
		{"GET", "/api/v1/contacts", ""}, {"POST", "/api/v1/contacts", `{"name":"x"}`},
		{"GET", "/api/v1/contacts/export", ""}, {"POST", "/api/v1/contacts/import", "name\nx\n"},
		{"GET", "/api/v1/contacts/" + id, ""}, {"PATCH", "/api/v1/contacts/" + id, `{"name":"x"}`},
		{"POST", "/api/v1/contacts/" + id + "/merge", `{"from":"` + other.ID.String() + `"}`},
		{"GET", "/api/v1/contacts/" + id + "/notes", ""}, {"POST", "/api/v1/contacts/" + id + "/notes", `{"text":"x"}`},
		{"DELETE", "/api/v1/contacts/" + id + "/notes/" + note.ID.String(), ""},
		{"POST", "/api/v1/conversations/" + conv.String() + "/notes", `{"text":"x"}`},
		{"GET", "/api/v1/contacts/" + id + "/memories", ""}, {"POST", "/api/v1/contacts/" + id + "/memories", `{"text":"x"}`},
		{"DELETE", "/api/v1/contacts/" + id + "/memories/" + memory.ID.String(), ""},
	}
	for _, tok := range []string{"", "pk_wrong"} {
		e.callAll(routes, tok, func(r [3]string, code int, body []byte) {
			require.Equal(t, http.StatusUnauthorized, code, "%s %s", r[0], r[1])
			require.Equal(t, "unauthorized", errorCode(t, body))
		})
	}

	e.newWorkspace("pk_workspace_b")
	mine := e.createContact("pk_workspace_b", map[string]any{"name": "Mine of B"})
	e.callAll(routes[4:], "pk_workspace_b", func(r [3]string, code int, resp []byte) {
		require.Equal(t, http.StatusNotFound, code, "%s %s: %s", r[0], r[1], resp)
		require.NotContains(t, string(resp), "Secret A")
	})
	// B cannot merge A's contact into its own either.
	code, _ = e.api("POST", "/api/v1/contacts/"+mine.ID.String()+"/merge", "pk_workspace_b", map[string]string{"from": id})
	require.Equal(t, http.StatusNotFound, code)
	for _, q := range []string{"", "q=secret", "q=other"} {
		code, body := e.api("GET", "/api/v1/contacts?"+q, "pk_workspace_b", nil)
		require.Equal(t, http.StatusOK, code)
		require.NotContains(t, string(body), "of A")
		require.NotContains(t, string(body), "Secret A")
	}
	code, body = e.api("GET", "/api/v1/contacts/export", "pk_workspace_b", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "Mine of B")
	require.NotContains(t, string(body), "of A")
	// An import in B does not match A's contacts.
	code, body = e.postCSV("pk_workspace_b", "text/csv", []byte("name,email\nB's,shared@example.com\n"))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 1, decodeAs[importResult](t, body).Imported)

	after := e.contactDetail(ct)
	require.Equal(t, before.Contact, after.Contact, "nothing of A changed")
	require.Len(t, after.Notes, 1)
	require.Equal(t, "Other of A", e.contactDetail(other.ID).Profile.Name)
	ms, err := e.store.Memories(e.ws, ct, 100)
	require.NoError(t, err)
	require.Equal(t, []engine.Memory{memory}, ms, "A's memories unchanged")
}

// With bodies streamed, the body limit still holds for a body of unknown
// length (chunked), and such a body within the limit is read whole.
func TestChunkedBodiesKeepTheLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	post := func(body string) (int, []byte) {
		// A reader of unknown length makes the client send it chunked.
		req, err := http.NewRequest("POST", e.url+"/api/v1/contacts", io.MultiReader(strings.NewReader(body)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+ownerToken)
		req.Header.Set("Content-Type", "application/json")
		return e.do(req)
	}
	code, body := post(`{"name":"Chunked","custom_fields":{"pad":"` + strings.Repeat("x", 900) + `"}}`)
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = post(`{"name":"Too big","custom_fields":{"pad":"` + strings.Repeat("x", 300<<10) + `"}}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, string(body))
	require.Equal(t, "body_too_large", errorCode(t, body))
	require.Equal(t, 1, e.countContacts(ownerToken))
}
