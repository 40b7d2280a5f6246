package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/internal/mailtest"
	"github.com/parleyhq/parley/gateway/internal/pushtest"
	"github.com/parleyhq/parley/gateway/notify"
	"github.com/parleyhq/parley/persistence"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

type fixture struct {
	store     *persistence.Store
	push      *pushtest.Service
	smtp      *mailtest.Server
	clock     *clockwork.FakeClock
	reg       *prometheus.Registry
	n         *notify.Notifier
	ws        engine.ID
	ann, bob  engine.User
	annTok    persistence.IssuedToken
	bobTok    persistence.IssuedToken
	annDevice *pushtest.Device
	bobDevice *pushtest.Device
	conv      *engine.Conversation
	publicURL string
}

func newFixture(t *testing.T, withSMTP bool) *fixture {
	t.Helper()
	store, err := persistence.Open(persistence.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f := &fixture{store: store, push: pushtest.New(t), clock: clockwork.NewFakeClockAt(t0), reg: prometheus.NewRegistry(),
		ws: engine.NewID(t0), publicURL: "https://inbox.example.com"}
	f.ann = engine.User{ID: engine.NewID(t0), WorkspaceID: f.ws, Email: "ann@example.com", Name: "Ann", Role: engine.RoleOwner}
	f.bob = engine.User{ID: engine.NewID(t0), WorkspaceID: f.ws, Email: "bob@example.com", Name: "Bob", Role: engine.RoleAgent}
	f.annTok = persistence.IssuedToken{ID: engine.NewID(t0), Kind: persistence.TokenSession, Token: engine.Token{WorkspaceID: f.ws, UserID: f.ann.ID}}
	f.bobTok = persistence.IssuedToken{ID: engine.NewID(t0), Kind: persistence.TokenSession, Token: engine.Token{WorkspaceID: f.ws, UserID: f.bob.ID}}
	f.annDevice, f.bobDevice = f.push.NewDevice("ann-phone"), f.push.NewDevice("bob-phone")
	b := store.NewBatch()
	b.PutUser(&f.ann)
	b.PutUser(&f.bob)
	b.IssueToken("ann", &f.annTok)
	b.IssueToken("bob", &f.bobTok)
	for _, d := range []struct {
		tok *persistence.IssuedToken
		dev *pushtest.Device
	}{{&f.annTok, f.annDevice}, {&f.bobTok, f.bobDevice}} {
		b.PutPushSubscription(&persistence.PushSubscription{WorkspaceID: f.ws, UserID: d.tok.UserID, TokenHash: d.tok.Hash,
			Endpoint: d.dev.Endpoint, P256dh: d.dev.P256dh, Auth: d.dev.Auth, CreatedAt: t0})
	}
	require.NoError(t, store.Commit(b))
	cfg := notify.Config{Store: store, Clock: f.clock, PublicURL: f.publicURL, HTTPClient: f.push.Client(), Registerer: f.reg}
	if withSMTP {
		f.smtp = mailtest.New(t)
		cfg.SMTP = &notify.SMTP{Addr: f.smtp.Addr, Username: f.smtp.User, Password: f.smtp.Password}
		cfg.From, cfg.SMTPTLS = "Parley <parley@example.com>", f.smtp.TLSConfig()
	}
	f.n, err = notify.New(cfg)
	require.NoError(t, err)
	f.push.ExpectKey(f.n.PublicKey())
	f.n.Start()
	t.Cleanup(f.n.Shutdown)
	f.conv = &engine.Conversation{ID: engine.NewID(t0), WorkspaceID: f.ws, ContactName: "Carla", Preview: "Where is my order?"}
	return f
}

func (f *fixture) settings(t *testing.T, u engine.ID, s engine.NotificationSettings) {
	b := f.store.NewBatch()
	b.PutNotificationSettings(f.ws, u, &s)
	require.NoError(t, f.store.Commit(b))
}

// waitPushes waits for n requests at the push service.
func (f *fixture) waitPushes(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-f.push.Received():
		case <-time.After(10 * time.Second):
			t.Fatalf("the push service got fewer than %d requests", n)
		}
	}
}

type payload struct {
	Title, Body, URL, Tag string
	Kind                  engine.NotifyKind
}

func decode(t *testing.T, p pushtest.Push) payload {
	var out payload
	require.NoError(t, json.Unmarshal(p.Payload, &out))
	return out
}

func (f *fixture) assigned(to, by engine.ID) engine.Event {
	c := *f.conv
	c.AssigneeID = to.String()
	return engine.Event{Type: engine.EventConversationUpdated, WorkspaceID: f.ws, ConversationID: c.ID, At: t0, Conversation: &c,
		Assigned: &engine.Assignment{UserID: to.String(), By: by}}
}

// TestPushAssignmentReachesTheAssigneeOnly: an assignment pushes to
// the assignee's device, encrypted for it and signed with the published
// VAPID key, with the conversation's link, a TTL and an urgency.
func TestPushAssignmentReachesTheAssigneeOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.n.Tap([]engine.Event{f.assigned(f.bob.ID, f.ann.ID)})
	f.waitPushes(t, 1)
	got := f.push.Pushes()
	require.Len(t, got, 1)
	require.Equal(t, "bob-phone", got[0].Device)
	require.Equal(t, "3600", got[0].TTL)
	require.Equal(t, "high", got[0].Urgency)
	p := decode(t, got[0])
	require.Equal(t, "Assigned to you: Carla", p.Title)
	require.Equal(t, "Ann assigned you this conversation. Where is my order?", p.Body)
	require.Equal(t, "https://inbox.example.com/#c/"+f.conv.ID.String(), p.URL)
	require.Equal(t, engine.NotifyAssigned, p.Kind)
	waitSent(t, f.reg, "push", "sent", 1)
}

// TestPushFollowsSettings: a new conversation pushes only to the users
// who turned push on for it (off by default), a mention only to the
// mentioned, unless they turned it off.
func TestPushFollowsSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	s := engine.DefaultNotificationSettings()
	s.NewConversation.Push = true
	f.settings(t, f.ann.ID, s)
	f.n.Tap([]engine.Event{{Type: engine.EventConversationCreated, WorkspaceID: f.ws, ConversationID: f.conv.ID, At: t0, Conversation: f.conv}})
	f.waitPushes(t, 1)
	got := f.push.Pushes()
	require.Len(t, got, 1)
	require.Equal(t, "ann-phone", got[0].Device)
	require.Equal(t, "New conversation: Carla", decode(t, got[0]).Title)
	require.Equal(t, "Where is my order?", decode(t, got[0]).Body)

	off := engine.DefaultNotificationSettings()
	off.Mentioned.Push = false
	f.settings(t, f.ann.ID, off)
	note := engine.Note{AuthorID: f.ann.ID, Text: "@bob can you   look at this? " + strings.Repeat("x", 200), ConversationID: &f.conv.ID}
	mention := func(u engine.ID) engine.Event {
		return engine.Event{Type: engine.EventNoteMentioned, WorkspaceID: f.ws, ConversationID: f.conv.ID, At: t0, UserID: u,
			Data: engine.NoteEventData{Note: note, UserID: &u}}
	}
	f.n.Tap([]engine.Event{mention(f.ann.ID), mention(f.bob.ID)})
	f.waitPushes(t, 1)
	got = f.push.Pushes()
	require.Len(t, got, 2)
	require.Equal(t, "bob-phone", got[1].Device)
	p := decode(t, got[1])
	require.Equal(t, "Ann mentioned you", p.Title)
	require.True(t, strings.HasPrefix(p.Body, "@bob can you look at this? xxx"), p.Body)
	require.Len(t, []rune(p.Body), 100, "a preview, not the whole note")
}

// TestPushGoneRemovesTheSubscription: a 410 from the push service
// removes the subscription; the user's other devices keep theirs.
func TestPushGoneRemovesTheSubscription(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.push.SetStatus(f.bobDevice, http.StatusGone)
	f.n.Tap([]engine.Event{f.assigned(f.bob.ID, f.ann.ID)})
	f.waitPushes(t, 1)
	require.Eventually(t, func() bool {
		subs, err := f.store.PushSubscriptions(f.ws, f.bob.ID)
		require.NoError(t, err)
		return len(subs) == 0
	}, 10*time.Second, 10*time.Millisecond)
	subs, err := f.store.PushSubscriptions(f.ws, f.ann.ID)
	require.NoError(t, err)
	require.Len(t, subs, 1)
	waitSent(t, f.reg, "push", "gone", 1)
}

// waitSent waits for parley_notifications_sent_total{medium,result} to
// reach want (the counter moves once the answer is read).
func waitSent(t *testing.T, reg *prometheus.Registry, medium, result string, want float64) {
	t.Helper()
	require.Eventually(t, func() bool { return sent(t, reg, medium, result) == want }, 10*time.Second, 5*time.Millisecond,
		"parley_notifications_sent_total{medium=%q,result=%q}", medium, result)
}

// sent reads parley_notifications_sent_total{medium,result}.
func sent(t *testing.T, reg *prometheus.Registry, medium, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "parley_notifications_sent_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["medium"] == medium && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestEmailNotification: with an SMTP relay, an assignment emails the
// assignee (STARTTLS, AUTH PLAIN) a text and HTML message that links to
// the conversation; a transient refusal is retried after the backoff on
// the injected clock.
func TestEmailNotification(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	require.True(t, f.n.EmailEnabled())
	f.smtp.Fail.Store(1)
	f.n.Tap([]engine.Event{f.assigned(f.bob.ID, f.ann.ID)})
	select {
	case <-f.smtp.Received():
	case <-time.After(10 * time.Second):
		t.Fatal("no email attempt")
	}
	require.Empty(t, f.smtp.Messages(), "the first attempt was refused")
	require.NoError(t, f.clock.BlockUntilContext(t.Context(), 1)) // the retry's timer
	f.clock.Advance(29 * time.Second)
	select {
	case <-f.smtp.Received():
		t.Fatal("retried before the backoff")
	case <-time.After(100 * time.Millisecond):
	}
	f.clock.Advance(time.Second)
	select {
	case <-f.smtp.Received():
	case <-time.After(10 * time.Second):
		t.Fatal("not retried after the backoff")
	}
	msgs := f.smtp.Messages()
	require.Len(t, msgs, 1)
	require.Equal(t, []string{"bob@example.com"}, msgs[0].To)
	require.Equal(t, "parley@example.com", msgs[0].From)

	r, err := mail.CreateReader(strings.NewReader(string(msgs[0].Data)))
	require.NoError(t, err)
	subject, err := r.Header.Subject()
	require.NoError(t, err)
	require.Equal(t, "Assigned to you: Carla", subject)
	parts := map[string]string{}
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		h, ok := p.Header.(*mail.InlineHeader)
		require.True(t, ok)
		kind, _, err := h.ContentType()
		require.NoError(t, err)
		b, err := io.ReadAll(p.Body)
		require.NoError(t, err)
		parts[kind] = string(b)
	}
	link := "https://inbox.example.com/#c/" + f.conv.ID.String()
	require.Contains(t, parts["text/plain"], "Ann assigned you this conversation. Where is my order?")
	require.Contains(t, parts["text/plain"], link)
	require.Contains(t, parts["text/html"], `<a href="`+link+`">`)
	waitSent(t, f.reg, "email", "retried", 1)
	waitSent(t, f.reg, "email", "sent", 1)
	require.Len(t, f.push.Pushes(), 1, "and the push went too")
}

// TestEmailFollowsSettings: email off for assignments sends none; the
// push still goes.
func TestEmailFollowsSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	s := engine.DefaultNotificationSettings()
	s.Assigned.Email = false
	f.settings(t, f.bob.ID, s)
	f.n.Tap([]engine.Event{f.assigned(f.bob.ID, f.ann.ID)})
	f.waitPushes(t, 1)
	select {
	case <-f.smtp.Received():
		t.Fatal("an email despite the settings")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestVAPIDKeysAreKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := persistence.Open(persistence.Options{Dir: dir})
	require.NoError(t, err)
	n1, err := notify.New(notify.Config{Store: store})
	require.NoError(t, err)
	require.Len(t, n1.PublicKey(), 87, "an uncompressed P-256 point, base64url")
	require.NoError(t, store.Close())
	store, err = persistence.Open(persistence.Options{Dir: dir})
	require.NoError(t, err)
	defer store.Close()
	n2, err := notify.New(notify.Config{Store: store})
	require.NoError(t, err)
	require.Equal(t, n1.PublicKey(), n2.PublicKey(), "the same key after a restart")
	require.False(t, n2.EmailEnabled())
}

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	got, err := notify.ParseSMTPURL("smtp://me%40x.com:p%3Ass@mail.example.com")
	require.NoError(t, err)
	require.Equal(t, notify.SMTP{Addr: "mail.example.com:587", Username: "me@x.com", Password: "p:ss"}, got)
	got, err = notify.ParseSMTPURL("smtps://mail.example.com:2465")
	require.NoError(t, err)
	require.Equal(t, notify.SMTP{Addr: "mail.example.com:2465", ImplicitTLS: true}, got)
	for _, bad := range []string{"http://mail.example.com", "smtp://", "smtp://host/path", "smtp://host?x=1", "mail.example.com:587", "::"} {
		_, err := notify.ParseSMTPURL(bad)
		require.Error(t, err, bad)
	}
}

func FuzzParseSMTPURL(f *testing.F) {
	for _, s := range []string{"smtp://u:p@h:587", "smtps://h", "smtp://[::1]:25", "smtp://h/x", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := notify.ParseSMTPURL(s)
		if err != nil {
			return
		}
		if cfg.Addr == "" || strings.HasPrefix(cfg.Addr, ":") {
			t.Fatalf("%q: address %q", s, cfg.Addr)
		}
	})
}

// TestPushNeedsHuman: a handoff pushes to the assignee of the
// conversation, who turned push on for it (off by default), with the
// handoff's reason.
func TestPushNeedsHuman(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	s := engine.DefaultNotificationSettings()
	s.NeedsHuman.Push = true
	f.settings(t, f.ann.ID, s)
	f.settings(t, f.bob.ID, s)
	c := *f.conv
	c.AssigneeID = f.bob.ID.String()
	reason := engine.Message{Content: engine.Content{Kind: engine.KindText, Text: "The customer asked for a person"}}
	f.n.Tap([]engine.Event{{Type: engine.EventHandoff, WorkspaceID: f.ws, ConversationID: c.ID, At: t0, Conversation: &c, Message: &reason}})
	f.waitPushes(t, 1)
	got := f.push.Pushes()
	require.Len(t, got, 1)
	require.Equal(t, "bob-phone", got[0].Device)
	p := decode(t, got[0])
	require.Equal(t, "Needs a person: Carla", p.Title)
	require.Equal(t, "The customer asked for a person", p.Body)
}

// TestTapNeverWaits: with the workers stopped, the queue fills and
// what does not fit is dropped and counted, never waited for; events
// that notify no one are not queued.
func TestTapNeverWaits(t *testing.T) {
	t.Parallel()
	store, err := persistence.Open(persistence.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	defer store.Close()
	reg := prometheus.NewRegistry()
	n, err := notify.New(notify.Config{Store: store, Registerer: reg})
	require.NoError(t, err)
	ev := engine.Event{Type: engine.EventConversationCreated, WorkspaceID: engine.NewID(t0), ConversationID: engine.NewID(t0)}
	other := engine.Event{Type: engine.EventMessageCreated}
	evs := make([]engine.Event, 0, 1100)
	for range 1100 {
		evs = append(evs, ev, other)
	}
	done := make(chan struct{})
	go func() { n.Tap(evs); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Tap waited")
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var drops float64
	for _, mf := range mfs {
		if mf.GetName() == "parley_notification_queue_drops_total" {
			drops = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	require.InDelta(t, 1100-1024, drops, 0)
	n.Shutdown()
}
