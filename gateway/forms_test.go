package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
)

type formAnswer struct {
	engine.Form
	PublicURL string `json:"public_url"`
}

func (e *env) addForm(token string, body map[string]any) formAnswer {
	e.t.Helper()
	code, b := e.api("POST", "/api/v1/forms", token, body)
	require.Equal(e.t, http.StatusCreated, code, string(b))
	return decodeAs[formAnswer](e.t, b)
}

// submitForm posts a public submission of form f with the given Origin
// ("" for none) and answers the status and body.
func (e *env) submitForm(f formAnswer, origin string, body any) (int, []byte) {
	e.t.Helper()
	var raw string
	switch b := body.(type) {
	case string:
		raw = b
	default:
		js, err := json.Marshal(b)
		require.NoError(e.t, err)
		raw = string(js)
	}
	req, err := http.NewRequest("POST", e.url+"/f/"+f.WorkspaceID.String()+"/"+f.ID.String(), strings.NewReader(raw))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return e.do(req)
}

type submissionPage struct {
	Submissions []engine.FormSubmission `json:"submissions"`
}

func newFormEnv(t *testing.T, clock clockwork.Clock, reg *prometheus.Registry) *env {
	return newEnvWith(t, func(c *actors.Config) { c.Clock = clock }, func(c *gateway.Config) { c.Registerer = reg })
}

// A public submission creates a contact with source form, the form's
// stage, owner and tag and its custom field; form.submitted follows the
// commit with the documented shape. A second submission with the same
// email updates that contact. Both are listed by form and by contact,
// and the contact list shows the form's tag.
func TestFormSubmissionCreatesThenUpdatesTheContact(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Now())
	reg := prometheus.NewRegistry()
	e := newFormEnv(t, clock, reg)
	sales := e.pipelines(ownerToken)[0]
	stage := sales.Stages[1].ID
	owner := e.addUser("form-owner@example.com", engine.RoleAgent, "form owner pw 1")
	e.addField(ownerToken, map[string]any{"key": "budget", "label": "Budget", "type": "number"})
	f := e.addForm(ownerToken, map[string]any{"name": "Demo request", "thank_you": "Thanks, we will call you",
		"fields":   []map[string]any{{"key": "name", "required": true}, {"key": "email", "label": "Work email", "required": true}, {"key": "budget"}},
		"stage_id": stage.String(), "owner_id": owner.User.ID, "tag": "webinar", "allowed_origins": []string{"https://www.example.com"}})
	require.Equal(t, e.url+"/f/"+f.WorkspaceID.String()+"/"+f.ID.String(), f.PublicURL)
	require.Equal(t, []engine.FormField{{Key: "name", Label: "Name", Required: true}, {Key: "email", Label: "Work email", Required: true}, {Key: "budget", Label: "Budget"}}, f.Fields)

	var mu sync.Mutex
	var submitted []engine.Event
	e.rt.Broadcaster().AddTap(func(evs []engine.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			if ev.Type == engine.EventFormSubmitted {
				submitted = append(submitted, ev)
			}
		}
	})

	code, body := e.submitForm(f, "https://www.example.com", map[string]any{"values": map[string]string{"name": "Ada Lovelace", "email": "ada@example.com", "budget": "1e3"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	require.JSONEq(t, `{"thank_you":"Thanks, we will call you"}`, string(body))

	ids := e.contactIDs(ownerToken, "q=ada@example.com")
	require.Len(t, ids, 1)
	ct, err := e.store.Contact(e.ws, ids[0])
	require.NoError(t, err)
	require.Equal(t, engine.SourceForm, ct.Source)
	require.Equal(t, "Ada Lovelace", ct.Profile.Name)
	require.Equal(t, "1000", ct.CustomFields["budget"])
	require.Equal(t, &engine.ContactStage{PipelineID: sales.ID, StageID: stage}, ct.Stage)
	require.Equal(t, owner.User.ID, *ct.OwnerID)
	require.Equal(t, []string{"webinar"}, ct.Tags)
	require.Equal(t, []engine.ID{ct.ID}, e.contactIDs(ownerToken, "stage="+stage.String()+"&tag=webinar"), "the contact list filters by the form's tag")

	// A later millisecond: ids made in one millisecond by other tests'
	// calls in between need not sort in the order made.
	clock.Advance(time.Second)
	code, body = e.submitForm(f, "", map[string]any{"values": map[string]string{"name": "Ada King", "email": "ADA@example.com", "budget": "2500"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	require.Len(t, e.contactIDs(ownerToken, ""), 1, "the same email updates the contact")
	ct, err = e.store.Contact(e.ws, ct.ID)
	require.NoError(t, err)
	require.Equal(t, "Ada King", ct.Profile.Name)
	require.Equal(t, "2500", ct.CustomFields["budget"])
	require.Equal(t, engine.SourceForm, ct.Source)

	code, body = e.api("GET", "/api/v1/forms/"+f.ID.String()+"/submissions", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	subs := decodeAs[submissionPage](t, body).Submissions
	require.Len(t, subs, 2)
	require.Equal(t, map[string]string{"name": "Ada King", "email": "ADA@example.com", "budget": "2500"}, subs[0].Values, "newest first")
	require.False(t, subs[0].Created)
	require.True(t, subs[1].Created)
	require.Equal(t, "https://www.example.com", subs[1].Origin)
	code, body = e.api("GET", "/api/v1/contacts/"+ct.ID.String()+"/submissions", owner.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, subs, decodeAs[submissionPage](t, body).Submissions)

	mu.Lock()
	require.Len(t, submitted, 2)
	js, err := json.Marshal(submitted[0].Data)
	mu.Unlock()
	require.NoError(t, err)
	require.JSONEq(t, `{"form_id":"`+f.ID.String()+`","submission_id":"`+subs[1].ID.String()+`","contact_id":"`+ct.ID.String()+`","created":true}`, string(js))
	require.Equal(t, 1.0, counterValue(t, reg, "parley_form_submissions_total", "created"))
	require.Equal(t, 1.0, counterValue(t, reg, "parley_form_submissions_total", "updated"))

	// The activity records the stage and owner the form set.
	code, body = e.api("GET", "/api/v1/contacts/"+ct.ID.String()+"/activity", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), stage.String())
}

// Refused submissions store nothing: invalid values (400 with each
// field's error), a filled honeypot (answered 201), a body over the
// limit (413), a site not allowed (403), a form body that is not JSON
// (415), and past the per-address rate limit (429 until the injected
// clock refills it).
func TestFormSubmissionRefusalsStoreNothing(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Now())
	reg := prometheus.NewRegistry()
	e := newFormEnv(t, clock, reg)
	f := e.addForm(ownerToken, map[string]any{"name": "Contact us",
		"fields": []map[string]any{{"key": "name", "required": true}, {"key": "email"}, {"key": "phone"}}})
	digest := e.storeDigest()

	code, body := e.submitForm(f, "", map[string]any{"values": map[string]string{"email": "nope", "extra": "x"}})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Equal(t, "invalid_fields", errorCode(t, body))
	var fe struct {
		Error struct {
			Fields []engine.FieldError `json:"fields"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &fe))
	require.ElementsMatch(t, []engine.FieldError{{Field: "extra", Message: "is not a field of this form"},
		{Field: "name", Message: "Name is required"}, {Field: "email", Message: "Email must be an email address"}}, fe.Error.Fields)

	code, body = e.submitForm(f, "", map[string]any{"values": map[string]string{"name": "Bot", "email": "bot@example.com"}, "website": "http://spam.example"})
	require.Equal(t, http.StatusCreated, code, string(body))
	require.Equal(t, 1.0, counterValue(t, reg, "parley_form_submissions_total", "honeypot"))

	code, body = e.submitForm(f, "", `{"values":{"name":"`+strings.Repeat("a", 20<<10)+`","email":"a@b.co"}}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, string(body))
	require.Equal(t, "too_large", errorCode(t, body))

	code, body = e.submitForm(f, "https://evil.example", map[string]any{"values": map[string]string{"name": "Eve", "email": "eve@example.com"}})
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Equal(t, "origin_not_allowed", errorCode(t, body))

	req, err := http.NewRequest("POST", e.url+"/f/"+f.WorkspaceID.String()+"/"+f.ID.String(), strings.NewReader("name=Eve&email=eve%40example.com"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, body = e.do(req)
	require.Equal(t, http.StatusUnsupportedMediaType, code, string(body))
	require.Equal(t, digest, e.storeDigest(), "no refusal wrote anything")

	// Five submissions so far; the burst is 10.
	for range 5 {
		code, body = e.submitForm(f, "", map[string]any{"values": map[string]string{"email": "x"}})
		require.Equal(t, http.StatusBadRequest, code, string(body))
	}
	code, body = e.submitForm(f, "", map[string]any{"values": map[string]string{"name": "Late", "email": "late@example.com"}})
	require.Equal(t, http.StatusTooManyRequests, code, string(body))
	require.Equal(t, "rate_limited", errorCode(t, body))
	require.Equal(t, digest, e.storeDigest(), "a limited submission wrote nothing")
	require.Equal(t, 1.0, counterValue(t, reg, "parley_form_submissions_total", "rate_limited"))

	clock.Advance(6 * time.Second)
	code, body = e.submitForm(f, "", map[string]any{"values": map[string]string{"name": "Late", "email": "late@example.com"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	require.NotEqual(t, digest, e.storeDigest())
}

// The public page is the form's own: its fields, labels and required
// marks, framed only by the server and the allowed origins; an unknown
// form is 404.
func TestFormPublicPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.addField(ownerToken, map[string]any{"key": "plan", "label": "Plan", "type": "single_select", "options": []string{"Free", "Pro"}})
	f := e.addForm(ownerToken, map[string]any{"name": "Sign <up>", "allowed_origins": []string{"https://shop.example"},
		"fields": []map[string]any{{"key": "email", "required": true}, {"key": "plan"}}})
	resp, err := e.client.Get(f.PublicURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "frame-ancestors 'self' https://shop.example")
	require.Empty(t, resp.Header.Get("X-Frame-Options"))
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	page := string(raw)
	require.Contains(t, page, "<title>Sign &lt;up&gt;</title>")
	require.Contains(t, page, `type="email" id="pf-email" name="email" required`)
	require.Contains(t, page, `<option>Pro</option>`)
	require.Contains(t, page, `name="website"`)

	// An allowed site's page may post across origins: its preflight is
	// answered with CORS headers, another site's refused.
	for origin, want := range map[string]int{"https://shop.example": http.StatusNoContent, "https://evil.example": http.StatusForbidden} {
		req, err := http.NewRequest("OPTIONS", f.PublicURL, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := e.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, origin)
		if want == http.StatusNoContent {
			require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
			require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
		} else {
			require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	code, body := e.submitForm(formAnswer{Form: f.Form}, "https://shop.example", map[string]any{"values": map[string]string{"email": "shop@example.com"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, gone := e.api("GET", "/f/"+f.WorkspaceID.String()+"/"+engine.NewID(time.Now()).String(), "", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, string(gone), "This form is not available", "a page for people")
	code, _ = e.api("GET", "/f/"+engine.NewID(time.Now()).String()+"/"+f.ID.String(), "", nil)
	require.Equal(t, http.StatusNotFound, code, "a form is found only under its own workspace")
	other := f
	other.WorkspaceID = engine.NewID(time.Now())
	code, body = e.submitForm(other, "", map[string]any{"values": map[string]string{"email": "a@example.com"}})
	require.Equal(t, http.StatusNotFound, code, string(body))
	code, body = e.api("DELETE", "/api/v1/forms/"+f.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	code, _ = e.api("GET", "/f/"+f.WorkspaceID.String()+"/"+f.ID.String(), "", nil)
	require.Equal(t, http.StatusNotFound, code)
}

// Admins manage forms, agents read them; bad definitions are 400 and
// store nothing.
func TestFormsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("forms-agent@example.com", engine.RoleAgent, "forms agent pw 1")
	e.pipelines(ownerToken) // the default pipeline is written on first use
	f := e.addForm(ownerToken, map[string]any{"name": "A", "fields": []map[string]any{{"key": "phone"}}})
	require.Equal(t, engine.DefaultThankYou, f.ThankYou)
	code, body := e.api("POST", "/api/v1/forms", agent.Token, map[string]any{"name": "B", "fields": []map[string]any{{"key": "email"}}})
	require.Equal(t, http.StatusForbidden, code, string(body))
	code, body = e.api("GET", "/api/v1/forms", agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), f.ID.String())
	digest := e.storeDigest()
	for _, bad := range []any{
		map[string]any{"name": "x", "fields": []map[string]any{{"key": "name"}}},
		map[string]any{"name": "x", "fields": []map[string]any{{"key": "email"}, {"key": "nope"}}},
		map[string]any{"name": "x", "fields": []map[string]any{{"key": "email"}}, "stage_id": engine.NewID(time.Now()).String()},
		map[string]any{"name": "x", "fields": []map[string]any{{"key": "email"}}, "owner_id": engine.NewID(time.Now()).String()},
		map[string]any{"name": "x", "fields": []map[string]any{{"key": "email"}}, "allowed_origins": []string{"ftp://x"}},
		map[string]any{"fields": []map[string]any{{"key": "email"}}},
		`{"name":`,
	} {
		code, body = e.api("POST", "/api/v1/forms", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", bad, body)
	}
	code, body = e.api("PATCH", "/api/v1/forms/"+f.ID.String(), ownerToken, map[string]any{"fields": []map[string]any{}})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Equal(t, digest, e.storeDigest())
	code, body = e.api("PATCH", "/api/v1/forms/"+f.ID.String(), ownerToken, map[string]any{"name": "Renamed", "tag": "vip"})
	require.Equal(t, http.StatusOK, code, string(body))
	got := decodeAs[formAnswer](t, body)
	require.Equal(t, "Renamed", got.Name)
	require.Equal(t, "vip", got.Tag)
	require.Equal(t, f.Fields, got.Fields)
}

// Concurrent submissions of one person make one contact: the lookup by
// email and the creation run one at a time; the others update it.
func TestFormConcurrentSubmissionsMakeOneContact(t *testing.T) {
	e := newEnv(t, nil)
	var inside, most atomic.Int32
	gateway.SetFormLooked(t, func() {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(10 * time.Millisecond)
		inside.Add(-1)
	})
	f := e.addForm(ownerToken, map[string]any{"name": "Race", "fields": []map[string]any{{"key": "name"}, {"key": "email", "required": true}}})
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			js, _ := json.Marshal(map[string]any{"values": map[string]string{"name": fmt.Sprintf("Racer %d", i), "email": "racer@example.com"}})
			req, err := http.NewRequest("POST", f.PublicURL, strings.NewReader(string(js)))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	require.Len(t, e.contactIDs(ownerToken, ""), 1, "one contact")
	code, body := e.api("GET", "/api/v1/forms/"+f.ID.String()+"/submissions", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	subs := decodeAs[submissionPage](t, body).Submissions
	require.Len(t, subs, n)
	created := 0
	for _, s := range subs {
		if s.Created {
			created++
		}
	}
	require.Equal(t, 1, created)
	require.EqualValues(t, 1, most.Load(), "one submission at a time between its lookup and its creation")
}

// A merge moves the source's form submissions and tags to the target;
// deleting a form keeps the contact's copies.
func TestFormSubmissionsFollowAMerge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := e.addForm(ownerToken, map[string]any{"name": "Merge me", "tag": "from-form", "fields": []map[string]any{{"key": "email", "required": true}}})
	code, body := e.submitForm(f, "", map[string]any{"values": map[string]string{"email": "src@example.com"}})
	require.Equal(t, http.StatusCreated, code, string(body))
	src := e.contactIDs(ownerToken, "q=src@example.com")
	require.Len(t, src, 1)
	target := e.createContact(ownerToken, map[string]any{"name": "Target"})
	code, body = e.api("POST", "/api/v1/contacts/"+target.ID.String()+"/merge", ownerToken, map[string]any{"from": src[0].String()})
	require.Equal(t, http.StatusOK, code, string(body))
	merged, err := e.store.Contact(e.ws, target.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"from-form"}, merged.Tags)
	mine := func(contact engine.ID) []engine.FormSubmission {
		code, body := e.api("GET", "/api/v1/contacts/"+contact.String()+"/submissions", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[submissionPage](t, body).Submissions
	}
	subs := mine(target.ID)
	require.Len(t, subs, 1)
	require.Equal(t, target.ID, subs[0].ContactID)
	code, body = e.api("GET", "/api/v1/forms/"+f.ID.String()+"/submissions", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, subs, decodeAs[submissionPage](t, body).Submissions, "the form's copy names the target too")
	code, body = e.api("DELETE", "/api/v1/forms/"+f.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	require.Len(t, mine(target.ID), 1, "the contact keeps its copy")
}
