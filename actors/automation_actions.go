package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// The automation actions that are neither the contact's nor a change of
// the conversation's header (docs/ARCHITECTURE.md, "Automations"). They
// run in the runner's bounded pool, outside every actor, and each is
// idempotent per run: send_canned's message carries the run's tag
// (engine.AutomationSendTag) and is not sent again when the
// conversation's recent messages hold it; notify_user's note has an id
// made from the run's, and is not written twice; call_webhook's
// delivery id is the same on every attempt, for the receiver to drop a
// repeat (a run applied again after a stop may post again).

// Bounds of the call_webhook action.
const (
	// automationWebhookTimeout bounds one POST.
	automationWebhookTimeout = 10 * time.Second
	// automationWebhookAttempts is how many times a POST is tried when
	// the receiver cannot be reached or answers 5xx or 429.
	automationWebhookAttempts = 2
	// automationSendLookback is how many of the conversation's newest
	// messages are searched for a send_canned's earlier send.
	automationSendLookback = 50
)

func usesSegments(a engine.Automation) bool {
	return slices.ContainsFunc(a.Conditions, func(c engine.AutomationCondition) bool { return c.Kind == engine.CondSegment })
}

func (r *automationRunner) ruleName(ws, id engine.ID) string {
	for _, a := range r.rulesOf(ws) {
		if a.ID == id {
			return a.Name
		}
	}
	return "an automation"
}

// sendCanned sends the canned reply of act in the run's conversation
// through its actor (engine.SendAutomated): the courier and its outbox
// deliver it like any reply.
func (r *automationRunner) sendCanned(ctx context.Context, run *engine.AutomationRun, i int, act engine.AutomationAction) (string, string) {
	ws, conv := run.WorkspaceID, run.Trigger.ConversationID
	if conv == engine.ZeroID {
		return "skipped", "no conversation"
	}
	if _, err := r.rt.store.Conversation(ws, conv); err != nil {
		return "skipped", "conversation gone"
	}
	canned, err := r.rt.store.CannedReply(ws, mustID(act.CannedID))
	if err != nil {
		return "failed", "canned reply gone"
	}
	tag := engine.AutomationSendTag(run, i)
	recent, err := r.rt.store.Messages(ws, conv, 0, automationSendLookback)
	if err != nil {
		return "failed", err.Error()
	}
	for _, m := range recent {
		if m.Direction == engine.DirOut && m.Reasoning == tag {
			return "unchanged", "sent before"
		}
	}
	r.causesMu.Lock()
	r.causes[conv] = run.Chain().Chain
	r.causesMu.Unlock()
	res, err := r.rt.Execute(ctx, ws, conv, engine.SendAutomated{Content: engine.Content{Kind: engine.KindText, Text: canned.Body}, Tag: tag})
	if err != nil {
		r.causesMu.Lock()
		delete(r.causes, conv)
		r.causesMu.Unlock()
		return "failed", err.Error()
	}
	detail := canned.ShortCode
	if len(res.Send) > 0 {
		detail += " #" + strconv.FormatUint(res.Send[0].Seq, 10)
	}
	return "done", detail
}

// notifyUser tells act's user through a note on the run's contact that
// mentions them (note.mentioned: the browser, push and email as their
// notification settings say). The note's id is the run's with the
// action's index, so that it is written once.
func (r *automationRunner) notifyUser(ctx context.Context, run *engine.AutomationRun, i int, act engine.AutomationAction) (string, string) {
	ws := run.WorkspaceID
	user := mustID(act.UserID)
	if _, err := r.rt.store.User(ws, user); err != nil {
		return "failed", "not a user of the workspace"
	}
	id := run.ID
	id[len(id)-1] ^= byte(i + 1)
	if _, err := r.rt.store.Note(ws, run.Trigger.ContactID, id); err == nil {
		return "unchanged", "notified before"
	} else if !errors.Is(err, persistence.ErrNotFound) {
		return "failed", err.Error()
	}
	text := act.Text
	if text == "" {
		text = "This contact needs your attention."
	}
	n := engine.Note{ID: id, WorkspaceID: ws, ContactID: run.Trigger.ContactID, Mentions: []engine.ID{user},
		Text: "Automation “" + r.ruleName(ws, run.RuleID) + "”: " + text, CreatedAt: r.rt.clock.Now().UTC()}
	if run.Trigger.ConversationID != engine.ZeroID {
		conv := run.Trigger.ConversationID
		n.ConversationID = &conv
	}
	if len(n.Text) > engine.MaxNoteBytes {
		n.Text = n.Text[:engine.MaxNoteBytes]
	}
	if _, err := r.rt.AddNote(ctx, n); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return "skipped", "contact gone"
		}
		return "failed", err.Error()
	}
	return "done", user.String()
}

// callWebhook POSTs the run as signed JSON (engine.SignWebhook, the
// outgoing webhooks' X-Parley-Signature) to act's URL; a 2xx is done.
func (r *automationRunner) callWebhook(ctx context.Context, run *engine.AutomationRun, i int, act engine.AutomationAction) (string, string) {
	ws := run.WorkspaceID
	var contact *engine.Contact
	if c, err := r.rt.store.Contact(ws, run.Trigger.ContactID); err == nil {
		contact = &c
	}
	var conv *engine.Conversation
	if run.Trigger.ConversationID != engine.ZeroID {
		if c, err := r.rt.store.Conversation(ws, run.Trigger.ConversationID); err == nil {
			conv = &c
		}
	}
	now := r.rt.clock.Now().UTC()
	p := engine.AutomationWebhookBody(run, i, contact, conv, now)
	body, err := json.Marshal(p)
	if err != nil {
		return "failed", fmt.Sprintf("encoding the payload: %v", err)
	}
	var last string
	for range automationWebhookAttempts {
		status, err := r.postWebhook(ctx, act, p.DeliveryID, body, now)
		switch {
		case err == nil && status >= 200 && status < 300:
			return "done", "HTTP " + strconv.Itoa(status)
		case err != nil:
			last = err.Error()
		default:
			last = "HTTP " + strconv.Itoa(status)
			if status < 500 && status != http.StatusTooManyRequests {
				return "failed", last
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "failed", last
}

func (r *automationRunner) postWebhook(ctx context.Context, act engine.AutomationAction, delivery string, body []byte, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, automationWebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, act.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("making the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley-Automations/1")
	req.Header.Set(engine.WebhookSignatureHeader, engine.SignWebhook(act.Secret, now, body))
	req.Header.Set(engine.WebhookEventHeader, engine.AutomationWebhookEvent)
	req.Header.Set(engine.WebhookDeliveryHeader, delivery)
	resp, err := r.rt.webhookClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
