package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// ErrLegalHold is returned by EraseContact for a contact on legal hold.
var ErrLegalHold = errors.New("actors: the contact is on legal hold")

// SetLegalHold puts contact id on legal hold (hold not nil) or releases
// it (nil), through the contact's actor, in one synced batch. It returns
// the hold as stored and whether there is one.
func (rt *Runtime) SetLegalHold(ctx context.Context, ws, id engine.ID, hold *engine.LegalHold) (engine.LegalHold, bool, error) {
	v, err := rt.contactCall(ctx, ws, id, true, "legal hold", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, ErrContactNotFound
		}
		b := rt.store.NewBatch()
		if hold != nil {
			h := *hold
			h.ContactID = id
			b.PutLegalHold(ws, &h)
		} else {
			b.DeleteLegalHold(ws, id)
		}
		if err := rt.store.Commit(b); err != nil {
			b.Close()
			return nil, fmt.Errorf("committing the legal hold of %s: %w", id, err)
		}
		return hold, nil
	})
	if err != nil || v.(*engine.LegalHold) == nil {
		return engine.LegalHold{}, false, err
	}
	h := *v.(*engine.LegalHold)
	h.ContactID = id
	return h, true, nil
}

// Erasure is what EraseContact removed.
type Erasure struct {
	Conversations int
	Messages      int
	// ConversationIDs are the erased conversations, for what their owners
	// hold outside the store's ranges of the contact (the outgoing
	// webhook deliveries that name them).
	ConversationIDs []engine.ID
	// Digests are the media files the erased messages referenced: the
	// caller hands them to the media store, which removes those no other
	// message references.
	Digests []string
}

// EraseContact removes contact id and everything Parley holds about it
// (docs/ARCHITECTURE.md, "Retention, legal hold, export and erasure"):
// each of its conversations through the conversation's actor (the same
// delete as a person's, engine.Delete: messages, media references, list,
// thread, channel id and search entries, timers, outbox, ratings), then,
// in one synced batch of the contact's actor, its segment memberships,
// the record with its identities, search and key entries, notes,
// memories, stage and owner entries, AI writes and form submissions. A
// contact on legal hold is refused with ErrLegalHold. A crash between
// the commits leaves the contact with fewer conversations; erasing again
// finishes the work.
func (rt *Runtime) EraseContact(ctx context.Context, ws, id engine.ID) (Erasure, error) {
	v, err := rt.contactCall(ctx, ws, id, true, "erase", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, ErrContactNotFound
		}
		if _, held, err := rt.store.LegalHold(ws, id); err != nil {
			return nil, err
		} else if held {
			return nil, ErrLegalHold
		}
		var e Erasure
		if err := rt.eraseConversations(ctx, ws, id, &e); err != nil {
			return nil, err
		}
		subs, err := rt.store.ContactSubmissions(ws, id, 1<<30)
		if err != nil {
			return nil, err
		}
		c := *a.c
		b := rt.store.NewBatch()
		b.DeleteFormSubmissions(subs)
		b.DeleteContact(&c)
		ev := engine.Event{Type: engine.EventContactDeleted, WorkspaceID: ws, At: rt.clock.Now(),
			Data: engine.ContactEventData{ID: id}}
		if err := a.commit(b, nil, ev); err != nil {
			return nil, err
		}
		// A conversation a channel opened for the contact while the batch
		// committed goes too.
		if err := rt.eraseConversations(ctx, ws, id, &e); err != nil {
			return nil, err
		}
		if err := rt.forgetBackfillCursors(ws, id); err != nil {
			return nil, err
		}
		return e, nil
	})
	if err != nil {
		return Erasure{}, err
	}
	return v.(Erasure), nil
}

// eraseConversations deletes every conversation of contact id through its
// actor, adding what went to e.
func (rt *Runtime) eraseConversations(ctx context.Context, ws, id engine.ID, e *Erasure) error {
	for {
		convs, err := rt.store.ContactConversations(ws, id)
		if err != nil {
			return err
		}
		if len(convs) == 0 {
			return nil
		}
		for _, conv := range convs {
			uses, err := rt.store.ConversationMedia(ws, conv)
			if err != nil {
				return err
			}
			n, err := rt.store.CountMessages(ws, conv)
			if err != nil {
				return err
			}
			_, err = rt.execute(ctx, ws, conv, engine.Delete{})
			if errors.Is(err, ErrNotFound) {
				// Deleted meanwhile, or an index entry left by a crash.
				b := rt.store.NewBatch()
				b.ForgetContactConversation(ws, id, conv)
				if err := rt.store.Commit(b); err != nil {
					b.Close()
					return err
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("erasing conversation %s: %w", conv, err)
			}
			e.Conversations++
			e.Messages += n
			e.ConversationIDs = append(e.ConversationIDs, conv)
			for _, u := range uses {
				e.Digests = append(e.Digests, u.Digest)
			}
		}
	}
}

// forgetBackfillCursors moves the progress of every segment backfill
// whose cursor is erased contact id back to the contact before it: the
// same place in the walk (ContactIDsAfter reads past it all the same),
// without the erased id. It runs under the segment definitions' mutex,
// the owner of the progress records.
func (rt *Runtime) forgetBackfillCursors(ws, id engine.ID) error {
	rt.segs.mu.Lock()
	defer rt.segs.mu.Unlock()
	segs, err := rt.store.Segments(ws)
	if err != nil {
		return err
	}
	b := rt.store.NewBatch()
	defer b.Close()
	moved := false
	for _, seg := range segs {
		p, err := rt.store.SegmentBackfillProgress(ws, seg.ID)
		if errors.Is(err, persistence.ErrNotFound) || err == nil && p.Cursor != id {
			continue
		} else if err != nil {
			return err
		}
		if p.Cursor, err = rt.store.ContactIDBefore(ws, id); err != nil {
			return err
		}
		b.PutSegmentBackfill(ws, &p)
		moved = true
	}
	if !moved {
		return nil
	}
	if err := rt.store.Commit(b); err != nil {
		return fmt.Errorf("committing segment backfill progress: %w", err)
	}
	return nil
}
