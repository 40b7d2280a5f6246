package gateway_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// needle is something of an erased contact that must not remain.
type needle struct {
	name string
	b    []byte
	id   bool // an id: the audit log may name it
}

func idNeedles(name string, id engine.ID) []needle {
	return []needle{{name + " (bytes)", bytes.Clone(id[:]), true}, {name, []byte(id.String()), true}}
}

// scanStore reads every key and value of the store and returns where
// each needle was found. Ids are allowed in the audit log ('w' ws 'z'),
// whose entries name the resources of each call and never their data.
func (e *env) scanStore(needles []needle) []string {
	e.t.Helper()
	audit := append(append([]byte{'w'}, e.ws[:]...), 'z')
	var found []string
	require.NoError(e.t, e.store.ScanAll(func(k, v []byte) bool {
		for _, n := range needles {
			if n.id && bytes.HasPrefix(k, audit) {
				continue
			}
			if bytes.Contains(k, n.b) || bytes.Contains(v, n.b) {
				found = append(found, fmt.Sprintf("%s in key %q", n.name, k))
			}
		}
		return true
	}))
	return found
}

// TestEraseContactLeavesNothing: a contact with conversations on two
// channels (WhatsApp, and Messenger merged in), a file, notes, memories,
// search hits and a segment membership is erased; afterwards a scan of
// every key and value of the store finds none of its ids, its phone, its
// name, its email, its company or the words of its messages, notes and
// memories, the search finds nothing of it, its file is gone from disk,
// and another contact is intact. A hold refuses the erasure with 409
// legal_hold, and a wrong confirmation with 400, both changing nothing.
// Two outgoing webhook subscriptions take every event, one answered (its
// delivery log holds the contact's deliveries) and one failing (its
// queue holds them): the erasure removes those deliveries and keeps the
// other contact's.
func TestEraseContactLeavesNothing(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.Registerer = reg; allowPrivateHooks(c) })
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(live.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	t.Cleanup(down.Close)
	allEvents := make([]string, len(engine.WebhookEvents))
	for i, ev := range engine.WebhookEvents {
		allEvents[i] = string(ev)
	}
	var hookIDs []string
	for _, u := range []string{live.URL, down.URL} {
		code, body := e.api("POST", "/api/v1/webhooks", ownerToken, map[string]any{"url": u, "events": allEvents})
		require.Equal(t, http.StatusCreated, code, string(body))
		hookIDs = append(hookIDs, decodeAs[engine.Webhook](t, body).ID.String())
	}
	// deliveries lists a subscription's deliveries (pending and logged).
	deliveries := func(hook string) []engine.WebhookDelivery {
		code, body := e.api("GET", "/api/v1/webhooks/"+hook+"/deliveries", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[struct {
			Deliveries []engine.WebhookDelivery `json:"deliveries"`
		}](t, body).Deliveries
	}
	// holding counts the deliveries of hook in state whose body holds s.
	holding := func(hook string, state engine.DeliveryState, s string) int {
		n := 0
		for _, d := range deliveries(hook) {
			if d.State == state && bytes.Contains(d.Body, []byte(s)) {
				n++
			}
		}
		return n
	}

	// The other contact, which must stay whole.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.keep.1", "15550902", "Other Person", "kiwifruit please"))
	other := e.thread(engine.ChannelWhatsApp, phoneID, "15550902")
	otherContact := e.conv(other).ContactID

	e.webhook(engine.ChannelWhatsApp, waText("wamid.zq.1", "15550901", "Zelda Quux", "zebrafinch question"))
	wa := e.thread(engine.ChannelWhatsApp, phoneID, "15550901")
	contact := e.conv(wa).ContactID
	code, body := e.webhook(engine.ChannelMessenger, messengerText("m_zq_1", "PSID_ZQ", "marmalade answer"))
	require.Equal(t, http.StatusOK, code, string(body))
	fb := e.thread(engine.ChannelMessenger, pageID, "PSID_ZQ")
	code, body = e.api("POST", "/api/v1/contacts/"+contact.String()+"/merge", ownerToken, map[string]any{"from": e.conv(fb).ContactID})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, contact, e.conv(fb).ContactID)
	code, body = e.api("PATCH", "/api/v1/contacts/"+contact.String(), ownerToken,
		map[string]any{"company": "Quuxcorp", "email": "zelda@quux.example"})
	require.Equal(t, http.StatusOK, code, string(body))

	file := []byte("the contact's passport scan")
	digest := hexSHA256(file)
	code, body = e.sendFile(wa, "passport.png", file)
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/contacts/"+contact.String()+"/notes", ownerToken, map[string]string{"text": "notewombat remark"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/conversations/"+fb.String()+"/notes", ownerToken, map[string]string{"text": "convnote platypus"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/contacts/"+contact.String()+"/memories", ownerToken, map[string]string{"text": "memoryotter likes tea"})
	require.Equal(t, http.StatusCreated, code, string(body))
	seg := e.createSegment(ownerToken, map[string]any{"name": "With an email", "conditions": []any{
		map[string]any{"kind": "profile", "key": "email", "op": "exists"}}})
	require.EqualValues(t, 1, e.backfilled(seg.ID).Count)
	eventually(t, 10*time.Second, func() error {
		for _, q := range []string{"zebrafinch", "marmalade", "quuxcorp", "kiwifruit"} {
			if len(e.search(ownerToken, q).Hits) == 0 {
				return fmt.Errorf("no hit for %s yet", q)
			}
		}
		return nil
	})

	// The answered subscription logged the contact's deliveries, the
	// failing one holds them in its queue.
	eventually(t, 10*time.Second, func() error {
		for _, w := range []string{"zebrafinch", "PSID_ZQ", "kiwifruit"} {
			if holding(hookIDs[0], engine.DeliveryDelivered, w) == 0 || holding(hookIDs[1], engine.DeliveryPending, w) == 0 {
				return fmt.Errorf("no delivery logged and queued with %s yet", w)
			}
		}
		return nil
	})

	// A hold refuses the erasure; so does a confirmation of another id.
	code, body = e.api("PUT", "/api/v1/contacts/"+contact.String()+"/legal-hold", ownerToken, map[string]string{"reason": "court order 12"})
	require.Equal(t, http.StatusOK, code, string(body))
	erase := "/api/v1/contacts/" + contact.String() + "/erase"
	code, body = e.api("POST", erase, ownerToken, map[string]string{"confirm": contact.String()})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "legal_hold", errorCode(t, body))
	code, body = e.api("DELETE", "/api/v1/contacts/"+contact.String()+"/legal-hold", ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	code, body = e.api("POST", erase, ownerToken, map[string]string{"confirm": otherContact.String()})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Equal(t, "confirm_mismatch", errorCode(t, body))
	agent := e.addUser("agent-"+t.Name()+"@example.com", engine.RoleAgent, "correct horse battery")
	code, body = e.api("POST", erase, agent.Token, map[string]string{"confirm": contact.String()})
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Len(t, e.messages(wa), 2, "refused erasures change nothing")

	code, body = e.api("POST", erase, ownerToken, map[string]string{"confirm": contact.String()})
	require.Equal(t, http.StatusOK, code, string(body))
	var res struct {
		Conversations, Messages, Files int
	}
	require.NoError(t, json.Unmarshal(body, &res))
	require.Equal(t, 2, res.Conversations)
	require.Equal(t, 3, res.Messages)
	require.Equal(t, 1, res.Files)

	// The search projection runs after the commits: wait until it is
	// done, then nothing of the contact may remain anywhere.
	eventually(t, 10*time.Second, func() error {
		if n, err := e.store.SearchBacklog(); err != nil || n > 0 {
			return fmt.Errorf("search backlog %d (%v)", n, err)
		}
		return nil
	})
	for _, q := range []string{"zebrafinch", "marmalade", "quuxcorp", "zelda", "15550901"} {
		require.Empty(t, e.search(ownerToken, q).Hits, "search %q", q)
	}
	e.requireMedia(digest, nil)
	code, _ = e.api("GET", "/api/v1/contacts/"+contact.String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.EqualValues(t, 0, e.segment(seg.ID).Count)

	needles := []needle{{"phone", []byte("15550901"), false}, {"name", []byte("Zelda"), false}, {"name token", []byte("zelda"), false},
		{"company", []byte("uuxcorp"), false}, {"email", []byte("quux.example"), false}, {"messenger id", []byte("PSID_ZQ"), false},
		{"message", []byte("zebrafinch"), false}, {"message", []byte("marmalade"), false}, {"note", []byte("notewombat"), false},
		{"conversation note", []byte("platypus"), false}, {"memory", []byte("memoryotter"), false},
		{"file", []byte(digest), false}, {"file name", []byte("passport"), false}, {"wamid", []byte("wamid.zq.1"), false}, {"mid", []byte("m_zq_1"), false}}
	needles = append(needles, idNeedles("contact id", contact)...)
	needles = append(needles, idNeedles("whatsapp conversation id", wa)...)
	needles = append(needles, idNeedles("messenger conversation id", fb)...)
	require.Empty(t, e.scanStore(needles))

	// The other contact is whole, and the scan does find its data.
	require.NotEmpty(t, e.scanStore([]needle{{"other's message", []byte("kiwifruit"), false}}))
	require.Len(t, e.search(ownerToken, "kiwifruit").Hits, 1)
	code, _ = e.api("GET", "/api/v1/contacts/"+otherContact.String(), ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, e.messages(other), 1)

	// The audit log names the erasure and the contact's id only.
	code, body = e.api("GET", "/api/v1/audit?action="+strings.ReplaceAll("POST /api/v1/contacts/:id/erase", " ", "%20"), ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), contact.String())
	require.NotContains(t, string(body), "Zelda")
	require.Equal(t, 1.0, counterValue(t, reg, "parley_contact_erasures_total", ""))

	// The other contact's deliveries stay, logged and queued.
	require.NotZero(t, holding(hookIDs[0], engine.DeliveryDelivered, "kiwifruit"))
	require.NotZero(t, holding(hookIDs[1], engine.DeliveryPending, "kiwifruit"))
	require.Positive(t, counterValue(t, reg, "parley_webhook_deliveries_erased_total", ""))
}

// TestContactExportZIP: the export is a ZIP with contact.json (profile,
// identities, notes, memories, consent, legal hold), one file per
// conversation with its messages oldest first and their statuses, and
// the media files; it is recorded in the audit log.
func TestContactExportZIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.ex.1", "15550911", "Xavi Export", "first words"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550911")
	contact := e.conv(conv).ContactID
	file := []byte("an exported picture")
	code, body := e.sendFile(conv, "picture.png", file)
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/contacts/"+contact.String()+"/notes", ownerToken, map[string]string{"text": "a note to export"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("POST", "/api/v1/contacts/"+contact.String()+"/memories", ownerToken, map[string]string{"text": "prefers mornings"})
	require.Equal(t, http.StatusCreated, code, string(body))
	code, body = e.api("PUT", "/api/v1/contacts/"+contact.String()+"/legal-hold", ownerToken, map[string]string{"reason": "audit"})
	require.Equal(t, http.StatusOK, code, string(body))

	code, body = e.api("GET", "/api/v1/contacts/"+contact.String()+"/export", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		files[f.Name] = b
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	convFile := "conversations/" + conv.String() + ".json"
	require.Equal(t, []string{"contact.json", convFile, "media/" + conv.String() + "/2-picture.png"}, names)
	require.Equal(t, file, files["media/"+conv.String()+"/2-picture.png"])

	var doc struct {
		Contact       engine.Contact    `json:"contact"`
		Consent       map[string]bool   `json:"consent"`
		LegalHold     *engine.LegalHold `json:"legal_hold"`
		Notes         []engine.Note     `json:"notes"`
		Memories      []engine.Memory   `json:"memories"`
		Conversations []engine.ID       `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(files["contact.json"], &doc))
	require.Equal(t, contact, doc.Contact.ID)
	require.Equal(t, "Xavi Export", doc.Contact.Profile.Name)
	require.NotEmpty(t, doc.Contact.Identities)
	require.Contains(t, doc.Consent, "unsubscribed")
	require.Equal(t, "audit", doc.LegalHold.Reason)
	require.Equal(t, "a note to export", doc.Notes[0].Text)
	require.Equal(t, "prefers mornings", doc.Memories[0].Text)
	require.Equal(t, []engine.ID{conv}, doc.Conversations)
	var ec struct {
		Conversation engine.Conversation `json:"conversation"`
		Messages     []engine.Message    `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(files[convFile], &ec))
	require.Equal(t, conv, ec.Conversation.ID)
	require.Len(t, ec.Messages, 2)
	require.Equal(t, "first words", ec.Messages[0].Text)
	require.NotEmpty(t, ec.Messages[1].Status)

	code, body = e.api("GET", "/api/v1/audit?resource="+contact.String(), ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), "GET /api/v1/contacts/:id/export")
	code, _ = e.api("GET", "/api/v1/contacts/"+engine.NewID(time.Now()).String()+"/export", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
}

// TestRetentionPolicyOverHTTP: the policy is set by admins (agents 403,
// bad values 400 with nothing stored), and the worker, run on the
// injected clock, deletes messages past the horizon with their search
// entries and files, deletes solved conversations idle past theirs
// whole, keeps a held contact's, and counts it all in the metrics.
func TestRetentionPolicyOverHTTP(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Now())
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) {
		c.Clock, c.RetentionPace, c.RetentionEvery, c.Registerer = clock, -1, 100000*time.Hour, reg
	}, nil)
	const day = 24 * time.Hour

	agent := e.addUser("agent-"+t.Name()+"@example.com", engine.RoleAgent, "correct horse battery")
	code, body := e.api("PUT", "/api/v1/retention", agent.Token, map[string]int{"message_days": 1, "closed_conversation_days": 1})
	require.Equal(t, http.StatusForbidden, code, string(body))
	for _, bad := range []string{`{"message_days": -1, "closed_conversation_days": 0}`, `{"message_days": 40000, "closed_conversation_days": 0}`,
		`{"message_days": 1}`, `{"message_days": "1", "closed_conversation_days": 0}`, `{"message_days": 1, "closed_conversation_days": 0, "x": 1}`, `[]`} {
		code, body = e.api("PUT", "/api/v1/retention", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, bad+" "+string(body))
	}
	code, body = e.api("GET", "/api/v1/retention", agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"policy":{"message_days":0,"closed_conversation_days":0}}`, string(body))

	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.1", "15550921", "Open Olga", "ancientalpha words"))
	open := e.thread(engine.ChannelWhatsApp, phoneID, "15550921")
	file := []byte("an old picture")
	code, body = e.sendFile(open, "old.png", file)
	require.Equal(t, http.StatusCreated, code, string(body))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.2", "15550922", "Solved Sam", "solvedcharlie words"))
	solved := e.thread(engine.ChannelWhatsApp, phoneID, "15550922")
	code, body = e.api("POST", "/api/v1/conversations/"+solved.String()+"/folder", ownerToken, map[string]string{"folder": "solved"})
	require.Equal(t, http.StatusOK, code, string(body))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.3", "15550923", "Held Hana", "helddelta words"))
	held := e.thread(engine.ChannelWhatsApp, phoneID, "15550923")
	code, body = e.api("POST", "/api/v1/conversations/"+held.String()+"/folder", ownerToken, map[string]string{"folder": "solved"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("PUT", "/api/v1/contacts/"+e.conv(held).ContactID.String()+"/legal-hold", ownerToken, map[string]string{"reason": ""})
	require.Equal(t, http.StatusOK, code, string(body))

	clock.Advance(60 * day)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.r.4", "15550921", "Open Olga", "freshbravo words"))
	clock.Advance(35 * day) // the first messages are 95 days old, the fresh one 35

	code, body = e.api("PUT", "/api/v1/retention", ownerToken, map[string]int{"message_days": 60, "closed_conversation_days": 90})
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 10*time.Second, func() error {
		if len(e.search(ownerToken, "ancientalpha").Hits) == 0 || len(e.search(ownerToken, "freshbravo").Hits) == 0 {
			return fmt.Errorf("not indexed yet")
		}
		return nil
	})
	rep, err := e.rt.RunRetention(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Conversations)

	var texts []string
	for _, m := range e.messages(open) {
		texts = append(texts, m.Text)
		require.Nil(t, m.Media, "the file's message was 95 days old")
		require.True(t, m.CreatedAt.After(clock.Now().Add(-60*day)), "%q is past the horizon", m.Text)
	}
	require.Contains(t, texts, "freshbravo words")
	require.NotContains(t, texts, "ancientalpha words")
	code, _ = e.api("GET", "/api/v1/conversations/"+solved.String(), ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Len(t, e.messages(held), 2, "the held contact's conversation keeps everything")
	e.requireMedia(hexSHA256(file), nil)
	eventually(t, 10*time.Second, func() error {
		if n := len(e.search(ownerToken, "ancientalpha").Hits) + len(e.search(ownerToken, "solvedcharlie").Hits); n > 0 {
			return fmt.Errorf("%d deleted hits still found", n)
		}
		return nil
	})
	require.Len(t, e.search(ownerToken, "freshbravo").Hits, 1)
	require.Len(t, e.search(ownerToken, "helddelta").Hits, 1)
	require.Empty(t, e.scanStore([]needle{{"old message", []byte("ancientalpha"), false}, {"solved message", []byte("solvedcharlie"), false}}))

	code, body = e.api("GET", "/api/v1/retention", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var v struct {
		Policy engine.RetentionPolicy `json:"policy"`
		Run    struct {
			FinishedAt    time.Time `json:"finished_at"`
			Messages      int64     `json:"messages"`
			Conversations int64     `json:"conversations"`
		} `json:"run"`
	}
	require.NoError(t, json.Unmarshal(body, &v))
	require.Equal(t, 60, v.Policy.MessageDays)
	require.False(t, v.Run.FinishedAt.IsZero())
	require.EqualValues(t, 1, v.Run.Conversations)
	require.Equal(t, float64(v.Run.Messages), counterValue(t, reg, "parley_retention_messages_deleted_total", ""))
	require.Equal(t, 1.0, counterValue(t, reg, "parley_retention_conversations_deleted_total", ""))
}
