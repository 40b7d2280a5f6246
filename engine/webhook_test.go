package engine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWebhookRetryScheduleCoversADay(t *testing.T) {
	var total, prev time.Duration
	for n := 1; ; n++ {
		d, ok := WebhookRetryAfter(n)
		if !ok {
			if n != WebhookMaxAttempts {
				t.Fatalf("retries stop after attempt %d, want %d", n, WebhookMaxAttempts)
			}
			break
		}
		if d < prev {
			t.Fatalf("attempt %d waits %s, less than the %s before", n, d, prev)
		}
		prev, total = d, total+d
	}
	if total < 24*time.Hour {
		t.Fatalf("retries span %s, want at least 24h", total)
	}
	if d, _ := WebhookRetryAfter(1); d != 30*time.Second {
		t.Fatalf("first retry after %s", d)
	}
	if d, _ := WebhookRetryAfter(2); d != time.Minute {
		t.Fatalf("second retry after %s: not exponential", d)
	}
}

func TestWebhookSignatureVerifies(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event":"message_created"}`)
	h := SignWebhook("0123456789abcdef", now, body)
	if !strings.HasPrefix(h, "t=1700000000,v1=") || len(h) != len("t=1700000000,v1=")+64 {
		t.Fatalf("header %q", h)
	}
	if err := VerifyWebhook("0123456789abcdef", h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		secret string
		body   string
		at     time.Time
	}{
		"other secret": {"0123456789abcdeX", string(body), now},
		"other body":   {"0123456789abcdef", `{"event":"message_updated"}`, now},
		"too old":      {"0123456789abcdef", string(body), now.Add(10 * time.Minute)},
	} {
		if err := VerifyWebhook(c.secret, h, []byte(c.body), c.at, 5*time.Minute); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: verified (%v)", name, err)
		}
	}
}

func TestWebhookDisableAfterPersistentFailure(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	w := Webhook{Active: true}
	var off bool
	at := t0
	for i := 0; i < WebhookMaxAttempts-1; i++ {
		if w, off = WebhookAttempted(w, false, at); off {
			t.Fatalf("disabled after %d failures", i+1)
		}
		at = at.Add(time.Hour)
	}
	// Many failures within the day do not disable it.
	if w, off = WebhookAttempted(w, false, t0.Add(23*time.Hour)); off || !w.Active {
		t.Fatal("disabled before a day of failures")
	}
	if w, off = WebhookAttempted(w, false, t0.Add(24*time.Hour)); !off || w.Active || w.DisabledReason == "" {
		t.Fatalf("not disabled after a day of failures: %+v", w)
	}
	// A success in between starts over.
	w = Webhook{Active: true}
	w, _ = WebhookAttempted(w, false, t0)
	w, _ = WebhookAttempted(w, true, t0.Add(time.Hour))
	if w.Failures != 0 || !w.FailingSince.IsZero() {
		t.Fatalf("success kept failures: %+v", w)
	}
	// Turning it on again clears the failures.
	w = Webhook{URL: "https://x.example", Secret: "0123456789abcdef", Events: []WebhookEvent{WebhookHandoff}, Failures: 20, DisabledReason: "x"}
	on := true
	w, err := ApplyWebhook(w, WebhookChange{Active: &on}, t0)
	if err != nil || !w.Active || w.Failures != 0 || w.DisabledReason != "" {
		t.Fatalf("%+v %v", w, err)
	}
}

func TestApplyWebhookRefusesBadInput(t *testing.T) {
	s := func(v string) *string { return &v }
	good := WebhookChange{URL: s("https://hooks.example/p"), Secret: s("0123456789abcdef"), Events: []WebhookEvent{WebhookMessageCreated}}
	if _, err := ApplyWebhook(Webhook{}, good, time.Now()); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]WebhookChange{
		"ftp url":       {URL: s("ftp://x"), Secret: good.Secret, Events: good.Events},
		"no host":       {URL: s("https:///p"), Secret: good.Secret, Events: good.Events},
		"credentials":   {URL: s("https://u:p@x.example"), Secret: good.Secret, Events: good.Events},
		"short secret":  {URL: good.URL, Secret: s("short"), Events: good.Events},
		"unknown event": {URL: good.URL, Secret: good.Secret, Events: []WebhookEvent{"message.created"}},
		"no events":     {URL: good.URL, Secret: good.Secret, Events: []WebhookEvent{}},
		"missing":       {URL: good.URL},
	} {
		if _, err := ApplyWebhook(Webhook{}, ch, time.Now()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestWebhookOutsOfAConversationUpdate(t *testing.T) {
	before := Conversation{ID: NewID(time.Unix(1, 0)), Folder: FolderOpen, Mode: ModeAI}
	after := before
	after.Folder, after.Mode, after.NeedsHuman = FolderSolved, ModeManual, true
	ev := Event{Type: EventConversationUpdated, ConversationID: before.ID, Conversation: &after, Before: &before}
	outs := WebhookOuts(&ev, nil)
	var names []WebhookEvent
	for _, o := range outs {
		names = append(names, o.Event)
		if o.OrderKey != before.ID {
			t.Errorf("%s ordered by %s", o.Event, o.OrderKey)
		}
	}
	want := []WebhookEvent{WebhookConversationStatusChanged, WebhookConversationModeChanged, WebhookHandoff, WebhookConversationUpdated}
	if len(names) != len(want) {
		t.Fatalf("events %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("events %v, want %v", names, want)
		}
	}
	var p struct {
		Event   string `json:"event"`
		Status  string `json:"status"`
		Changed []map[string]struct {
			Previous any `json:"previous_value"`
			Current  any `json:"current_value"`
		} `json:"changed_attributes"`
	}
	if err := json.Unmarshal(outs[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "conversation_status_changed" || p.Status != "resolved" || p.Changed[0]["status"].Previous != "open" {
		t.Fatalf("payload %s", outs[0].Body)
	}
	// Only what is wanted is made.
	if outs := WebhookOuts(&ev, func(e WebhookEvent) bool { return e == WebhookHandoff }); len(outs) != 1 || outs[0].Event != WebhookHandoff {
		t.Fatalf("filtered: %v", outs)
	}
	m := Message{ID: NewID(time.Unix(2, 0)), ConversationID: before.ID, Direction: DirIn, Sender: Sender{Kind: SenderCustomer}, Content: Content{Kind: KindText, Text: "hi"}}
	mev := Event{Type: EventMessageCreated, ConversationID: before.ID, Conversation: &after, Message: &m}
	outs = WebhookOuts(&mev, nil)
	var mp struct {
		Event       string                `json:"event"`
		Content     string                `json:"content"`
		MessageType string                `json:"message_type"`
		Sender      struct{ Type string } `json:"sender"`
	}
	if len(outs) != 1 || json.Unmarshal(outs[0].Body, &mp) != nil || mp.Event != "message_created" || mp.Content != "hi" || mp.MessageType != "incoming" || mp.Sender.Type != "contact" {
		t.Fatalf("message payload %v %s", outs, outs[0].Body)
	}
}

// FuzzWebhookSignature feeds arbitrary X-Parley-Signature headers to the
// verifier: no panic, and only the header signed with the secret over
// that body verifies.
func FuzzWebhookSignature(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event":"handoff"}`)
	f.Add(SignWebhook("0123456789abcdef", now, body))
	f.Add("t=1700000000,v1=zz")
	f.Add("v1=,t=")
	f.Add("t=99999999999999999999,v1=00")
	f.Fuzz(func(t *testing.T, header string) {
		err := VerifyWebhook("0123456789abcdef", header, body, now, 5*time.Minute)
		if err == nil && !strings.Contains(header, SignWebhook("0123456789abcdef", now, body)[len("t=1700000000,"):]) {
			t.Fatalf("verified %q", header)
		}
	})
}
