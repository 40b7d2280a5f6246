package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// ReassignContact points conversation conv at another contact through
// the conversation's actor: the header, its thread entry and the
// contacts' conversation index change in one commit, and the actor's
// state and the conversation.updated event follow. Contact merges call
// it; it is not an inbox action a client can send.
func (rt *Runtime) ReassignContact(ctx context.Context, ws, conv engine.ID, cmd engine.ReassignContact) (engine.Conversation, error) {
	res, err := rt.execute(ctx, ws, conv, cmd)
	return res.Conversation, err
}

// remember stores the facts an agent's answer asked to keep as memories
// of the conversation's contact, in the answer's batch: each tidied and
// checked, duplicates and facts beyond engine.MaxMemories dropped.
func (t *txn) remember(facts []string) error {
	if len(facts) == 0 || t.cur.ContactID == engine.ZeroID {
		return nil
	}
	rt := t.a.rt
	if _, err := rt.store.Contact(t.cur.WorkspaceID, t.cur.ContactID); errors.Is(err, persistence.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading contact: %w", err)
	}
	have, err := rt.store.Memories(t.cur.WorkspaceID, t.cur.ContactID, engine.MaxMemories)
	if err != nil {
		return err
	}
	ids := engine.NewIDs(t.now, len(facts)) // stored in the order given
	for i, f := range facts {
		text, err := engine.NormalizeMemoryText(f)
		if err != nil || engine.HasMemory(have, text) {
			continue
		}
		if len(have) >= engine.MaxMemories {
			rt.log.Warn("Contact memories full; the agent's fact is dropped", "conversation", t.a.id)
			break
		}
		m := engine.Memory{ID: ids[i], WorkspaceID: t.cur.WorkspaceID,
			ContactID: t.cur.ContactID, Text: text, Source: engine.MemoryAI, CreatedAt: t.now}
		t.b.PutMemory(&m)
		t.events = append(t.events, engine.Event{Type: engine.EventMemoryCreated, WorkspaceID: m.WorkspaceID,
			ConversationID: t.a.id, At: t.now, Data: map[string]any{"memory": m}})
		have = append(have, m)
	}
	return nil
}
