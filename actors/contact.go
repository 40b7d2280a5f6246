package actors

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// A contact actor owns one contact: its record, identities, custom
// fields, notes, memories and its search and key index entries. Every
// change to them is a contactOp run by the actor, one at a time, on the
// contact as last committed; each commits one batch with its indexes and
// publishes its events after the commit (docs/ARCHITECTURE.md). The CRM
// rules themselves are pure functions in engine (engine/crm.go).
//
// Actors wait on each other in one direction only, so none can wait on
// itself through others: a contact actor may wait on conversation actors
// (a merge moves their conversations) and on contact actors of a greater
// id (the other side of a merge); conversation actors never wait on a
// contact actor, they tell it.

// contactOp is one change run by a contact's actor.
type contactOp struct {
	run   func(a *contactActor) (any, error)
	reply chan contactReply // buffered; nil when nobody waits (a tell)
	what  string            // what the change is, for logs
}

type contactReply struct {
	v   any
	err error
}

func (op *contactOp) answer(v any, err error) {
	if op.reply != nil {
		op.reply <- contactReply{v, err}
	}
}

// contactActor owns one contact. c is the contact as last committed, nil
// when there is none (not created yet, merged away).
type contactActor struct {
	rt      *Runtime
	ws, id  engine.ID
	e       *entry
	c       *engine.Contact
	loadErr error
}

func (rt *Runtime) contactProps(ws, id engine.ID, e *entry) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &contactActor{rt: rt, ws: ws, id: id, e: e}
	}, actor.WithSupervisor(rt.supervisor), actor.WithDispatcher(rt.dispatcher))
}

// Receive handles one message. A panic answers the caller with
// ErrActorFailed and escalates to the supervisor, which restarts the
// actor from disk.
func (a *contactActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.load()
	case *contactOp:
		defer a.e.pending.Add(-1)
		defer func() {
			if r := recover(); r != nil {
				a.rt.log.Error("Contact actor panicked; restarting from disk", "contact", a.id, "panic", r)
				msg.answer(nil, ErrActorFailed)
				panic(r)
			}
		}()
		if a.loadErr != nil {
			a.load() // a transient read error: try again
			if a.loadErr != nil {
				msg.answer(nil, fmt.Errorf("loading contact: %w", a.loadErr))
				return
			}
		}
		v, err := msg.run(a)
		if err != nil && msg.reply == nil {
			a.rt.log.Warn("Contact change failed", "contact", a.id, "change", msg.what, "err", err)
		}
		msg.answer(v, err)
	}
}

func (a *contactActor) load() {
	a.c, a.loadErr = loadState(func() (engine.Contact, error) { return a.rt.store.Contact(a.ws, a.id) })
	if a.loadErr != nil {
		a.rt.log.Error("Loading contact", "contact", a.id, "err", a.loadErr)
	}
}

// contact returns the contact as last committed, or ErrContactNotFound.
func (a *contactActor) contact() (engine.Contact, error) {
	if a.c == nil {
		return engine.Contact{}, ErrContactNotFound
	}
	return *a.c, nil
}

// commit writes b, which holds next (nil: the contact was deleted) with
// its indexes, and once it is durable makes next the actor's state and
// publishes evs. A new name goes on to the contact's conversations.
func (a *contactActor) commit(b *persistence.Batch, next *engine.Contact, evs ...engine.Event) error {
	var segs segmentSync
	if next != a.c {
		// The contact changed: its segment entries follow in the same
		// batch (docs/ARCHITECTURE.md, "Segments").
		var err error
		if segs, err = a.rt.syncSegments(b, a.ws, a.id, next); err != nil {
			b.Close()
			return fmt.Errorf("segments of contact %s: %w", a.id, err)
		}
	}
	staged := a.rt.stageEvents(b, evs)
	err := a.rt.store.Commit(b)
	staged()
	if err != nil {
		b.Close()
		return fmt.Errorf("committing contact %s: %w", a.id, err)
	}
	old := a.c
	a.c = next
	a.rt.segs.observe(segs.changes)
	a.rt.bc.Publish(evs)
	if next != nil && old != nil && old.Profile.Name != next.Profile.Name {
		a.rt.propagateName(a.ws, a.id, next.Profile.Name)
	}
	return nil
}

// put commits next as the contact's new record, its phone's country and
// format read again (engine.EnrichPhone), and publishes typ.
func (a *contactActor) put(next engine.Contact, typ engine.EventType) (engine.Contact, error) {
	engine.EnrichPhone(&next)
	b := a.rt.store.NewBatch()
	b.PutContact(a.c, &next)
	if err := a.commit(b, &next, a.rt.contactEvent(typ, &next)); err != nil {
		return engine.Contact{}, err
	}
	return next, nil
}

func (rt *Runtime) contactEvent(typ engine.EventType, c *engine.Contact) engine.Event {
	return engine.Event{Type: typ, WorkspaceID: c.WorkspaceID, At: rt.clock.Now(), Data: c}
}

// propagateName tells each conversation of contact its new name; each
// conversation's actor changes its header in its own commit and
// publishes conversation.updated (list rows, chat header and search
// follow it).
func (rt *Runtime) propagateName(ws, contact engine.ID, name string) {
	convs, err := rt.store.ContactConversations(ws, contact)
	if err != nil {
		rt.log.Error("Reading a contact's conversations to rename them", "contact", contact, "err", err)
		return
	}
	for _, conv := range convs {
		rt.dir.send(ws, conv, &renamedMsg{contact: contact, name: name})
	}
}

// renamedMsg tells a conversation actor that its contact is now called
// name.
type renamedMsg struct {
	contact engine.ID
	name    string
	done    chan struct{} // closed when handled; may be nil
}

// renamed shows the contact's new name on the conversation's header,
// unless the conversation has moved to another contact since.
func (a *conversationActor) renamed(m *renamedMsg) error {
	if a.conv == nil || a.conv.ContactID != m.contact || a.conv.ContactName == m.name {
		return nil
	}
	t := a.begin()
	if _, err := t.apply(engine.UpdateContactName{Name: m.name}); err != nil {
		t.abort()
		return err
	}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}
