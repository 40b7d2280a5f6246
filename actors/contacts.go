package actors

import (
	"context"
	"errors"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// ReassignContact points conversation conv at another contact through
// the conversation's actor: the header, its thread entry and the
// contacts' conversation index change in one commit, and the actor's
// state and the conversation.updated event follow. Contact merges call
// it; it is not an inbox action a client can send.
func (rt *Runtime) ReassignContact(ctx context.Context, ws, conv engine.ID, cmd engine.ReassignContact) (engine.Conversation, error) {
	if err := rt.enter(); err != nil {
		return engine.Conversation{}, err
	}
	defer rt.ops.Done()
	if _, err := rt.store.Conversation(ws, conv); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return engine.Conversation{}, ErrNotFound
		}
		return engine.Conversation{}, err
	}
	msg := &commandMsg{cmd: cmd, reply: make(chan commandReply, 1)}
	rt.dir.send(ws, conv, msg)
	select {
	case r := <-msg.reply:
		return r.res.Conversation, r.err
	case <-ctx.Done():
		return engine.Conversation{}, ctx.Err()
	}
}

// SearchQueued tells the search indexer that a batch committed outside a
// conversation actor (a contact edit, merge or import) queued
// conversations for reindexing.
func (rt *Runtime) SearchQueued() { rt.ix.kick() }
