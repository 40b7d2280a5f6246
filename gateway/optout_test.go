package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

type optOutBody struct {
	Keywords                []string `json:"keywords"`
	Confirmation            string   `json:"confirmation"`
	ResubscribeKeywords     []string `json:"resubscribe_keywords"`
	ResubscribeConfirmation string   `json:"resubscribe_confirmation"`
	Defaults                struct {
		Keywords []string `json:"keywords"`
	} `json:"defaults"`
}

func (e *env) optOut(token string) optOutBody {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/settings/opt-out", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[optOutBody](e.t, body)
}

// A WhatsApp customer who writes STOP (any case, accents or punctuation
// aside) is unsubscribed: the conversation and the contact, recorded in
// the contact's activity at the clock's time, confirmed through the
// normal send path without the conversation being taken over, and the AI
// does not answer; START subscribes again. The workspace's own keywords
// and texts replace the defaults; an agent reads them but cannot change
// them, and a bad body changes nothing.
func TestOptOutKeywords(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(at)
	e := newEnv(t, func(c *actors.Config) { c.Agent, c.Clock, c.AIDebounce = echoAgent{}, clock, -1 })

	def := e.optOut(ownerToken)
	require.Contains(t, def.Keywords, "STOP")
	require.Contains(t, def.Keywords, "ARRÊT")
	require.Equal(t, []string{"START", "UNSTOP", "SUBSCRIBE"}, def.ResubscribeKeywords)
	require.Equal(t, engine.DefaultOptOutConfirmation, def.Confirmation)

	// A first message: the AI answers as usual.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.o.1", "15550301", "Ana", "hello"))
	e.waitSent(1)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550301")
	contact := e.conv(conv).ContactID

	e.webhook(engine.ChannelWhatsApp, waText("wamid.o.2", "15550301", "Ana", "  Stop! "))
	sent := e.waitSent(2)
	require.Equal(t, engine.DefaultOptOutConfirmation, sent[1], "the confirmation, not an AI answer")
	c := e.waitContact(contact, func(c engine.Contact) bool { return c.Unsubscribed })
	require.True(t, c.Unsubscribed)
	h := e.conv(conv)
	require.True(t, h.Unsubscribed)
	require.Equal(t, engine.ModeAI, h.Mode, "the confirmation does not take the conversation over")
	changes, err := e.store.ContactChanges(e.ws, contact)
	require.NoError(t, err)
	require.Len(t, changes, 1)
	require.Equal(t, engine.ContactChangeUnsubscribed, changes[0].Kind)
	require.Equal(t, "Stop!", changes[0].To)
	require.True(t, changes[0].At.Equal(at), "recorded at the clock's time: %v", changes[0].At)
	code, body := e.api("GET", "/api/v1/contacts/"+contact.String()+"/activity", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"type":"unsubscribed"`)

	// The AI was not asked: a later message's answer is the next send.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.o.2b", "15550301", "Ana", "ok"))
	sent = e.waitSent(3)
	require.Equal(t, "Thanks, we are on it.", sent[2])

	clock.Advance(time.Minute)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.o.3", "15550301", "Ana", "start"))
	sent = e.waitSent(4)
	require.Equal(t, engine.DefaultResubscribeConfirmation, sent[3])
	e.waitContact(contact, func(c engine.Contact) bool { return !c.Unsubscribed })

	// An agent reads the settings but may not change them.
	agent := e.addUser("agent@example.com", engine.RoleAgent, "correct horse battery")
	require.Equal(t, def.Keywords, e.optOut(agent.Token).Keywords)
	code, body = e.api("PUT", "/api/v1/settings/opt-out", agent.Token, map[string]any{"keywords": []string{"BASTA"}})
	require.Equal(t, http.StatusForbidden, code, string(body))

	// Bad bodies are 400 and change nothing.
	before := e.storeDigest()
	for _, bad := range []any{
		map[string]any{"keywords": []string{"STOP"}, "resubscribe_keywords": []string{"stop"}},
		map[string]any{"keywords": []string{"!!"}},
		map[string]any{"keywords": "STOP"},
		map[string]any{"unknown": true},
		map[string]any{"confirmation": string(make([]byte, 2000))},
	} {
		code, body := e.api("PUT", "/api/v1/settings/opt-out", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", bad, body)
		errorCode(t, body)
	}
	require.Equal(t, before, e.storeDigest())

	// The workspace's own keywords and text.
	code, body = e.api("PUT", "/api/v1/settings/opt-out", ownerToken, map[string]any{
		"keywords": []string{"BASTA", "basta"}, "confirmation": "Ciao!"})
	require.Equal(t, http.StatusOK, code, string(body))
	got := e.optOut(ownerToken)
	require.Equal(t, []string{"BASTA"}, got.Keywords)
	require.Equal(t, "Ciao!", got.Confirmation)
	require.Contains(t, got.Defaults.Keywords, "STOP")

	e.webhook(engine.ChannelWhatsApp, waText("wamid.o.4", "15550301", "Ana", "STOP"))
	sent = e.waitSent(5)
	require.Equal(t, "Thanks, we are on it.", sent[4], "STOP is no longer a keyword here: the AI answers")
	e.webhook(engine.ChannelWhatsApp, waText("wamid.o.5", "15550301", "Ana", "Bastà"))
	sent = e.waitSent(6)
	require.Equal(t, "Ciao!", sent[5])
	e.waitContact(contact, func(c engine.Contact) bool { return c.Unsubscribed })

	// The settings survive a restart.
	e.stop()
	e.start()
	require.Equal(t, []string{"BASTA"}, e.optOut(ownerToken).Keywords)
}

// A recipient who answers a broadcast with STOP is opted out of it (its
// recipient status and the broadcast's counts), unsubscribed, and left
// out of the next broadcast with the reason; the broadcast lists the
// contact's broadcasts received with the status.
func TestOptOutAfterBroadcast(t *testing.T) {
	t.Parallel()
	e := broadcastEnv(t, "", func(c *actors.Config) { c.Agent, c.AIDebounce = echoAgent{}, -1 })
	ann := mkContact(t, e, "Ann Lee", "+15550000001")
	bob := mkContact(t, e, "Bob", "+15550000002")
	first := createBroadcast(t, e, orderBroadcast("Spring", map[string]any{"contact_ids": []string{ann, bob}}))
	waitBroadcast(t, e, first.ID, engine.BroadcastCompleted, 20*time.Second)

	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.bo.1", "15550000001", "Ann", "STOP"))
	require.Equal(t, http.StatusOK, code, string(body))
	eventually(t, 10*time.Second, func() error {
		b := getBroadcast(t, e, first.ID)
		if b.Counts.OptedOut != 1 {
			return fmt.Errorf("counts %+v", b.Counts)
		}
		return nil
	})
	r := recipients(t, e, first.ID, "?status=opted_out")
	require.Len(t, r.Recipients, 1)
	require.Equal(t, ann, r.Recipients[0].ContactID)
	annID, err := engine.ParseID(ann)
	require.NoError(t, err)
	e.waitContact(annID, func(c engine.Contact) bool { return c.Unsubscribed })
	require.Contains(t, e.sentTexts(), engine.DefaultOptOutConfirmation)

	code, body = e.api("GET", "/api/v1/contacts/"+ann+"/broadcasts", ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"status":"opted_out"`)

	second := createBroadcast(t, e, orderBroadcast("Summer", map[string]any{"contact_ids": []string{ann, bob}}))
	done := waitBroadcast(t, e, second.ID, engine.BroadcastCompleted, 20*time.Second)
	require.EqualValues(t, 1, done.Counts.Skipped, "%+v", done.Counts)
	skipped := recipients(t, e, second.ID, "?status=skipped")
	require.Len(t, skipped.Recipients, 1)
	require.Equal(t, ann, skipped.Recipients[0].ContactID)
	require.Equal(t, engine.SkipUnsubscribed, skipped.Recipients[0].SkipReason)
}
