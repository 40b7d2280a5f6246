package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Contact errors.
var (
	// ErrContactNotFound is returned for a contact that does not exist in
	// the workspace (it wraps persistence.ErrNotFound).
	ErrContactNotFound = fmt.Errorf("actors: contact not found: %w", persistence.ErrNotFound)
	// ErrMergeSourceNotFound is returned by MergeContacts when the
	// contact to merge from does not exist.
	ErrMergeSourceNotFound = errors.New("actors: no contact to merge from")
	// ErrContactExists is returned by CreateContact for an id in use.
	ErrContactExists = errors.New("actors: contact exists")
)

// contactCall runs run in the actor of contact (ws, id) and returns its
// result once committed. With mustExist an unknown id is refused with
// one read, before any actor is spawned for it.
func (rt *Runtime) contactCall(ctx context.Context, ws, id engine.ID, mustExist bool, what string,
	run func(a *contactActor) (any, error)) (any, error) {
	if err := rt.enter(); err != nil {
		return nil, err
	}
	defer rt.ops.Done()
	if mustExist {
		if _, err := rt.store.Contact(ws, id); errors.Is(err, persistence.ErrNotFound) {
			return nil, ErrContactNotFound
		} else if err != nil {
			return nil, err
		}
	}
	op := &contactOp{run: run, reply: make(chan contactReply, 1), what: what}
	rt.dir.sendContact(ws, id, op)
	select {
	case r := <-op.reply:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// contactTell runs run in the actor of contact (ws, id) without waiting:
// how conversation actors hand a contact a change (a channel's profile
// name, an identity, the agent's memories).
func (rt *Runtime) contactTell(ws, id engine.ID, what string, run func(a *contactActor) (any, error)) {
	rt.dir.sendContact(ws, id, &contactOp{run: run, what: what})
}

func contactResult(v any, err error) (engine.Contact, error) {
	if err != nil {
		return engine.Contact{}, err
	}
	return v.(engine.Contact), nil
}

// CreateContact stores new contact c (built by engine.NewContact) through
// its actor and publishes contact.created.
func (rt *Runtime) CreateContact(ctx context.Context, c engine.Contact) (engine.Contact, error) {
	return contactResult(rt.contactCall(ctx, c.WorkspaceID, c.ID, false, "create", func(a *contactActor) (any, error) {
		if a.c != nil {
			return nil, ErrContactExists
		}
		if err := engine.ValidateContact(&c); err != nil {
			return nil, err
		}
		return a.put(c, engine.EventContactCreated)
	}))
}

// ImportContacts stores new contacts of an import, in one batch. It
// publishes no events (the import reports its progress), but after the
// commit it hands the automation runner their contact.created, waiting
// for room in its buffer, so that the contact-created rules run on
// imported contacts too (their actions through the contacts' actors).
// The contacts are new ids that no actor owns yet; their actors load
// them from disk on first use.
func (rt *Runtime) ImportContacts(ctx context.Context, cs []*engine.Contact) error {
	if err := rt.enter(); err != nil {
		return err
	}
	defer rt.ops.Done()
	if len(cs) == 0 {
		return nil
	}
	b := rt.store.NewBatch()
	for _, c := range cs {
		engine.EnrichPhone(c)
		b.PutContact(nil, c)
		if _, err := rt.syncSegments(b, c.WorkspaceID, c.ID, c); err != nil {
			b.Close()
			return fmt.Errorf("segments of imported contacts: %w", err)
		}
	}
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("committing imported contacts: %w", err)
	}
	if ws := cs[0].WorkspaceID; rt.autos.active(ws) {
		evs := make([]engine.Event, len(cs))
		for i, c := range cs {
			cp := *c // the import keeps its pointers to dedupe later rows
			evs[i] = rt.contactEvent(engine.EventContactCreated, &cp)
		}
		if err := rt.autos.feed(ctx, evs); err != nil {
			return fmt.Errorf("starting the automations of imported contacts: %w", err)
		}
	}
	return nil
}

// ImportUpdate applies the rows of an import that matched stored contact
// id (engine.ImportRow), in order, through its actor, in one commit. It
// returns the error of each row (nil: applied).
func (rt *Runtime) ImportUpdate(ctx context.Context, ws, id engine.ID, rows []engine.Contact) ([]error, error) {
	v, err := rt.contactCall(ctx, ws, id, true, "import", func(a *contactActor) (any, error) {
		cur, err := a.contact()
		if err != nil {
			return nil, err
		}
		errs := make([]error, len(rows))
		now := rt.clock.Now()
		applied := false
		for i := range rows {
			next, err := engine.ImportRow(cur, rows[i], now)
			if errs[i] = err; err == nil {
				cur, applied = next, true
			}
		}
		if applied {
			if _, err := a.put(cur, engine.EventContactUpdated); err != nil {
				return nil, err
			}
		}
		return errs, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]error), nil
}

// UpdateContact applies a person's change to contact id through its
// actor (engine.PatchContact) and publishes contact.updated; a new name
// goes on to the contact's conversations.
func (rt *Runtime) UpdateContact(ctx context.Context, ws, id engine.ID, p engine.ContactPatch) (engine.Contact, error) {
	return contactResult(rt.contactCall(ctx, ws, id, true, "update", func(a *contactActor) (any, error) {
		cur, err := a.contact()
		if err != nil {
			return nil, err
		}
		next, err := engine.PatchContact(cur, p, rt.clock.Now())
		if err != nil {
			return nil, err
		}
		return a.put(next, engine.EventContactUpdated)
	}))
}

// RenameFromProfile is the one entry point for a profile name a channel
// reports for the customer of conversation conv (an inbound message's
// sender name, a profile fetched from the Graph API): the conversation's
// contact takes it unless a person named the contact
// (engine.RenameFromChannel), and the new name reaches the contact's
// conversations. It returns the contact and whether it was renamed.
func (rt *Runtime) RenameFromProfile(ctx context.Context, ws, conv engine.ID, name string) (engine.Contact, bool, error) {
	if err := engine.ValidateProfileName(name); err != nil {
		return engine.Contact{}, false, err
	}
	c, err := rt.Conversation(ws, conv)
	if err != nil {
		return engine.Contact{}, false, err
	}
	// The flag travels in the reply: the caller may have stopped waiting
	// (ctx) while the actor still runs.
	type result struct {
		ct      engine.Contact
		renamed bool
	}
	v, err := rt.contactCall(ctx, ws, c.ContactID, true, "rename", func(a *contactActor) (any, error) {
		ct, renamed, err := a.fromChannel(nil, name, c.ContactName)
		return result{ct, renamed}, err
	})
	if err != nil {
		return engine.Contact{}, false, err
	}
	r := v.(result)
	return r.ct, r.renamed, nil
}

// fromChannel applies what a channel reports of the contact: an identity
// it is known by (nil: none) and a profile name (previous: the name the
// reporting conversation showed).
func (a *contactActor) fromChannel(ident *engine.Identity, name, previous string) (engine.Contact, bool, error) {
	cur, err := a.contact()
	if err != nil {
		return engine.Contact{}, false, err
	}
	now := a.rt.clock.Now()
	next, linked := cur, false
	if ident != nil {
		next, linked = engine.LinkIdentity(next, *ident, now)
	}
	next, changed, renamed := engine.RenameFromChannel(next, name, previous, now)
	if !linked && !changed {
		return cur, false, nil
	}
	out, err := a.put(next, engine.EventContactUpdated)
	return out, renamed, err
}

// fromChannelLater tells contact's actor what a conversation's channel
// reported: the conversation actor does not wait.
func (rt *Runtime) fromChannelLater(ws, contact engine.ID, ident *engine.Identity, name, previous string) {
	rt.contactTell(ws, contact, "channel profile", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, nil // merged away or deleted
		}
		_, _, err := a.fromChannel(ident, name, previous)
		return nil, err
	})
}

// firstTouchLater tells contact's actor of a campaign that brought the
// contact to a conversation: the contact keeps the first one
// (engine.FirstTouch). The conversation actor does not wait.
func (rt *Runtime) firstTouchLater(ws, contact engine.ID, cp *engine.Campaign) {
	rt.contactTell(ws, contact, "first touch", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, nil // merged away or deleted
		}
		next, changed := engine.FirstTouch(*a.c, cp, a.rt.clock.Now())
		if !changed {
			return nil, nil
		}
		_, err := a.put(next, engine.EventContactUpdated)
		return nil, err
	})
}

// subscriptionLater tells contact's actor that the contact wrote an
// opt-out (unsub) or resubscribe keyword in a conversation: the contact
// is unsubscribed from broadcasts (or subscribed again), recorded in its
// activity (engine.SetContactSubscription). The conversation actor does
// not wait.
func (rt *Runtime) subscriptionLater(ws, contact engine.ID, unsub bool, keyword string) {
	rt.contactTell(ws, contact, "opt-out keyword", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, nil // merged away or deleted
		}
		now := a.rt.clock.Now().UTC()
		next, ch, changed := engine.SetContactSubscription(*a.c, unsub, strings.TrimSpace(keyword), engine.NewID(now), now)
		if !changed {
			return nil, nil
		}
		a.rt.metrics.optOuts.WithLabelValues(string(ch.Kind)).Inc()
		_, err := a.putChange(next, &ch)
		return nil, err
	})
}

// ApplySubscription applies a payment provider's event about contact
// id's paid access through its actor (engine.ApplySubscription) and
// publishes contact.updated when the event changed the contact. It
// returns the contact and whether it changed (false: a redelivered or
// older event).
func (rt *Runtime) ApplySubscription(ctx context.Context, ws, id engine.ID, ch engine.SubscriptionChange) (engine.Contact, bool, error) {
	if err := ch.Validate(); err != nil {
		return engine.Contact{}, false, err
	}
	type result struct {
		c       engine.Contact
		changed bool
	}
	v, err := rt.contactCall(ctx, ws, id, true, "subscription", func(a *contactActor) (any, error) {
		cur, err := a.contact()
		if err != nil {
			return nil, err
		}
		next, changed := engine.ApplySubscription(cur, ch, rt.clock.Now())
		if !changed {
			return result{cur, false}, nil
		}
		c, err := a.put(next, engine.EventContactUpdated)
		return result{c, true}, err
	})
	if err != nil {
		return engine.Contact{}, false, err
	}
	r := v.(result)
	return r.c, r.changed, nil
}

// MergeContacts merges contact from into contact into: identities,
// conversations (each through its actor), notes and memories move, the
// rules of engine.MergeContact make the merged record, and from is
// deleted, in one batch. The change runs in the actor of the smaller id,
// which waits on the other (so two merges of one pair never wait on each
// other).
func (rt *Runtime) MergeContacts(ctx context.Context, ws, into, from engine.ID) (engine.Contact, error) {
	if into == from {
		return engine.Contact{}, fmt.Errorf("%w: a contact cannot be merged into itself", engine.ErrInvalid)
	}
	if _, err := rt.store.Contact(ws, from); errors.Is(err, persistence.ErrNotFound) {
		return engine.Contact{}, ErrMergeSourceNotFound
	} else if err != nil {
		return engine.Contact{}, err
	}
	lo, hi := into, from
	if bytes.Compare(hi[:], lo[:]) < 0 {
		lo, hi = hi, lo
	}
	return contactResult(rt.contactCall(ctx, ws, lo, true, "merge", func(la *contactActor) (any, error) {
		if la.c == nil {
			if lo == into {
				return nil, ErrContactNotFound
			}
			return nil, ErrMergeSourceNotFound
		}
		loC := *la.c
		op := &contactOp{what: "merge", reply: make(chan contactReply, 1), run: func(ha *contactActor) (any, error) {
			if ha.c == nil {
				if hi == into {
					return nil, ErrContactNotFound
				}
				return nil, ErrMergeSourceNotFound
			}
			target, src := loC, *ha.c
			if hi == into {
				target, src = src, target
			}
			merged, err := rt.merge(ctx, target, src)
			if err != nil {
				return nil, err
			}
			if hi == into {
				ha.c = &merged
			} else {
				ha.c = nil
			}
			return merged, nil
		}}
		rt.dir.sendContact(ws, hi, op)
		r := <-op.reply // the other actor always answers
		if r.err != nil {
			return nil, r.err
		}
		merged := r.v.(engine.Contact)
		if lo == into {
			la.c = &merged
		} else {
			la.c = nil
		}
		return merged, nil
	}))
}

// merge moves src into target and commits the result; both contacts'
// actors are busy with it. The conversations move first, each through its
// actor; then one batch deletes the source and writes the merged contact
// with the notes, memories and form submissions. A crash in between
// leaves the source in place with fewer conversations, and merging again
// finishes the work.
// Conversations the source gets while the batch commits are moved after
// it.
func (rt *Runtime) merge(ctx context.Context, target, src engine.Contact) (engine.Contact, error) {
	ws := target.WorkspaceID
	if err := rt.reassign(ctx, ws, src.ID, target.ID); err != nil {
		return engine.Contact{}, err
	}
	notes, err := rt.store.Notes(ws, src.ID, 1<<30)
	if err != nil {
		return engine.Contact{}, err
	}
	srcMem, err := rt.store.Memories(ws, src.ID, engine.MaxMemories)
	if err != nil {
		return engine.Contact{}, err
	}
	have, err := rt.store.Memories(ws, target.ID, engine.MaxMemories)
	if err != nil {
		return engine.Contact{}, err
	}
	subs, err := rt.store.ContactSubmissions(ws, src.ID, 1<<30)
	if err != nil {
		return engine.Contact{}, err
	}
	merged := engine.MergeContact(target, src, rt.clock.Now())
	engine.EnrichPhone(&merged)
	b := rt.store.NewBatch()
	if _, err := rt.syncSegments(b, ws, src.ID, nil); err != nil {
		b.Close()
		return engine.Contact{}, err
	}
	b.DeleteContact(&src)
	b.PutContact(&target, &merged)
	segs, err := rt.syncSegments(b, ws, merged.ID, &merged)
	if err != nil {
		b.Close()
		return engine.Contact{}, err
	}
	for i := range notes {
		notes[i].ContactID = merged.ID
		b.PutNote(&notes[i])
	}
	for _, m := range engine.MergeMemories(have, srcMem, merged.ID) {
		b.PutMemory(&m)
	}
	for i := range subs {
		subs[i].ContactID = merged.ID // the form's copy now names the target too
		b.PutFormSubmission(&subs[i])
	}
	evs := []engine.Event{rt.contactEvent(engine.EventContactUpdated, &merged),
		{Type: engine.EventContactDeleted, WorkspaceID: ws, At: merged.UpdatedAt,
			Data: engine.ContactEventData{ID: src.ID, MergedInto: merged.ID}}}
	staged := rt.stageEvents(b, evs)
	err = rt.store.Commit(b)
	staged()
	if err != nil {
		b.Close()
		return engine.Contact{}, fmt.Errorf("committing merge of %s into %s: %w", src.ID, target.ID, err)
	}
	rt.segs.observe(segs.changes)
	if err := rt.reassign(ctx, ws, src.ID, target.ID); err != nil {
		return engine.Contact{}, err
	}
	rt.bc.Publish(evs)
	rt.propagateName(ws, merged.ID, merged.Profile.Name)
	return merged, nil
}

// reassign points every conversation of contact from at contact to,
// through the conversation actors.
func (rt *Runtime) reassign(ctx context.Context, ws, from, to engine.ID) error {
	convs, err := rt.store.ContactConversations(ws, from)
	if err != nil {
		return err
	}
	for _, conv := range convs {
		_, err := rt.execute(ctx, ws, conv, engine.ReassignContact{ContactID: to})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("moving conversation %s: %w", conv, err)
		}
	}
	return nil
}

// ReassignContact points conversation conv at another contact through
// the conversation's actor: the header, its thread entry and the
// contacts' conversation index change in one commit, and the actor's
// state and the conversation.updated event follow. Contact merges call
// it; it is not an inbox action a client can send.
func (rt *Runtime) ReassignContact(ctx context.Context, ws, conv engine.ID, cmd engine.ReassignContact) (engine.Conversation, error) {
	res, err := rt.execute(ctx, ws, conv, cmd)
	return res.Conversation, err
}

// AddNote stores note n on its contact through the contact's actor and
// publishes note.created, and note.mentioned to each user it mentions
// (its author aside).
func (rt *Runtime) AddNote(ctx context.Context, n engine.Note) (engine.Note, error) {
	_, err := rt.contactCall(ctx, n.WorkspaceID, n.ContactID, true, "note", func(a *contactActor) (any, error) {
		if _, err := a.contact(); err != nil {
			return nil, err
		}
		b := rt.store.NewBatch()
		b.PutNote(&n)
		var conv engine.ID
		if n.ConversationID != nil {
			conv = *n.ConversationID
		}
		evs := []engine.Event{{Type: engine.EventNoteCreated, WorkspaceID: n.WorkspaceID, ConversationID: conv,
			At: n.CreatedAt, Data: engine.NoteEventData{Note: n}}}
		for _, u := range n.Mentions {
			if u != n.AuthorID {
				evs = append(evs, engine.Event{Type: engine.EventNoteMentioned, WorkspaceID: n.WorkspaceID,
					ConversationID: conv, At: n.CreatedAt, UserID: u, Data: engine.NoteEventData{Note: n, UserID: &u}})
			}
		}
		return nil, a.commit(b, a.c, evs...)
	})
	return n, err
}

// DeleteNote removes a note of contact through its actor, if may allows
// it, and publishes note.deleted.
func (rt *Runtime) DeleteNote(ctx context.Context, ws, contact, note engine.ID, may func(*engine.Note) error) error {
	_, err := rt.contactCall(ctx, ws, contact, true, "delete note", func(a *contactActor) (any, error) {
		n, err := rt.store.Note(ws, contact, note)
		if err != nil {
			return nil, err
		}
		if err := may(&n); err != nil {
			return nil, err
		}
		b := rt.store.NewBatch()
		b.DeleteNote(&n)
		var conv engine.ID
		if n.ConversationID != nil {
			conv = *n.ConversationID
		}
		return nil, a.commit(b, a.c, engine.Event{Type: engine.EventNoteDeleted, WorkspaceID: ws, ConversationID: conv,
			At: rt.clock.Now(), Data: engine.NoteEventData{Note: n}})
	})
	return err
}

// AddMemory adds a person's memory of type typ to a contact through its
// actor (engine.AddMemory) and publishes memory.created;
// engine.ErrMemoriesFull when the contact has no room.
func (rt *Runtime) AddMemory(ctx context.Context, ws, contact engine.ID, text string, typ engine.MemoryType, author *engine.ID) (engine.Memory, error) {
	v, err := rt.contactCall(ctx, ws, contact, true, "memory", func(a *contactActor) (any, error) {
		if _, err := a.contact(); err != nil {
			return nil, err
		}
		have, err := rt.store.Memories(ws, contact, engine.MaxMemories)
		if err != nil {
			return nil, err
		}
		now := rt.clock.Now()
		m, err := engine.AddMemory(have, text, typ, engine.NewID(now), ws, contact, author, now)
		if err != nil {
			return nil, err
		}
		return m, a.putMemories(engine.ZeroID, []engine.Memory{m})
	})
	if err != nil {
		return engine.Memory{}, err
	}
	return v.(engine.Memory), nil
}

// remember adds the facts an agent's answer in conversation conv asked
// to keep (engine.Remember); engine.ErrMemoriesFull when some found no
// room.
func (a *contactActor) remember(conv engine.ID, facts []engine.Fact) error {
	if _, err := a.contact(); err != nil {
		return err
	}
	have, err := a.rt.store.Memories(a.ws, a.id, engine.MaxMemories)
	if err != nil {
		return err
	}
	now := a.rt.clock.Now()
	add, full := engine.Remember(have, facts, engine.NewIDs(now, len(facts)), a.ws, a.id, engine.MemoryAI, nil, now)
	if err := a.putMemories(conv, add); err != nil {
		return err
	}
	if full {
		return engine.ErrMemoriesFull
	}
	return nil
}

// putMemories commits new memories of the contact and publishes
// memory.created for each, with conv as their conversation (zero: none).
func (a *contactActor) putMemories(conv engine.ID, add []engine.Memory) error {
	if len(add) == 0 {
		return nil
	}
	now := a.rt.clock.Now()
	b := a.rt.store.NewBatch()
	evs := make([]engine.Event, 0, len(add))
	for i := range add {
		b.PutMemory(&add[i])
		evs = append(evs, engine.Event{Type: engine.EventMemoryCreated, WorkspaceID: a.ws, ConversationID: conv,
			At: now, Data: engine.MemoryEventData{Memory: add[i]}})
	}
	return a.commit(b, a.c, evs...)
}

// rememberLater tells the contact's actor the facts an agent's answer in
// conversation conv asked to keep; duplicates and facts beyond
// engine.MaxMemories are dropped.
func (rt *Runtime) rememberLater(ws, contact, conv engine.ID, facts []engine.Fact) {
	facts = slices.Clone(facts)
	rt.contactTell(ws, contact, "remember", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, nil
		}
		err := a.remember(conv, facts)
		if errors.Is(err, engine.ErrMemoriesFull) {
			rt.log.Warn("Contact memories full; the agent's fact is dropped", "conversation", conv)
			return nil, nil
		}
		return nil, err
	})
}

// DeleteMemory removes a memory of contact through its actor and
// publishes memory.deleted.
func (rt *Runtime) DeleteMemory(ctx context.Context, ws, contact, memory engine.ID) error {
	_, err := rt.contactCall(ctx, ws, contact, true, "delete memory", func(a *contactActor) (any, error) {
		m, err := rt.store.Memory(ws, contact, memory)
		if err != nil {
			return nil, err
		}
		b := rt.store.NewBatch()
		b.DeleteMemory(&m)
		return nil, a.commit(b, a.c, engine.Event{Type: engine.EventMemoryDeleted, WorkspaceID: ws,
			At: rt.clock.Now(), Data: engine.MemoryEventData{Memory: m}})
	})
	return err
}
