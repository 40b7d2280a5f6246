package actors

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/engine"
)

// ErrResync is returned by Subscribe when the requested resume point is
// older than the recent-event buffer: the client must reload over REST.
var ErrResync = errors.New("actors: resume point too old, resync")

// Envelope is a published event with its sequence number in its
// workspace's stream.
type Envelope struct {
	Seq   uint64
	Event engine.Event

	// group holds the envelopes of the workspace published in the same
	// Publish call (one state change), and idx this one's place in it.
	group []*Envelope
	idx   int

	once sync.Once
	js   []byte
}

// JSON returns the wire form of the envelope, encoded once however many
// subscribers it goes to: {"seq", "type", "workspace_id",
// "conversation_id", "data": {...}}. Data is the event's Data when set
// (conversation_id is then left out if the event has none).
//
// The bytes are encoding/json's encoding of wire; events about a
// conversation are written by hand (see wire.go), the others by
// encoding/json.
func (e *Envelope) JSON() []byte {
	e.once.Do(func() {
		if e.Event.Data != nil {
			e.js, _ = json.Marshal(e.wire()) // plain structs of strings, numbers and times: cannot fail
			return
		}
		conv, msg := e.parts()
		e.js = encodeEnvelope(e.Seq, &e.Event, conv, msg)
	})
	return e.js
}

// parts returns the header and message the data of an event without
// Data carries.
func (e *Envelope) parts() (*engine.Conversation, *engine.Message) {
	conv := e.Event.Conversation
	if e.Event.Message != nil && e.headerFollows() {
		conv = nil // the conversation.updated after it in the frame carries it
	}
	return conv, e.Event.Message
}

// wire is what JSON encodes, as encoding/json would encode it.
func (e *Envelope) wire() any {
	type data struct {
		Conversation *engine.Conversation `json:"conversation,omitempty"`
		Message      *engine.Message      `json:"message,omitempty"`
	}
	conv, msg := e.parts()
	var d any = data{conv, msg}
	if e.Event.Data != nil {
		d = e.Event.Data
	}
	return struct {
		Seq            uint64           `json:"seq"`
		Type           engine.EventType `json:"type"`
		WorkspaceID    engine.ID        `json:"workspace_id"`
		ConversationID engine.ID        `json:"conversation_id,omitzero"`
		At             time.Time        `json:"at"`
		Data           any              `json:"data"`
	}{e.Seq, e.Event.Type, e.Event.WorkspaceID, e.Event.ConversationID, e.Event.At, d}
}

// headerFollows reports whether a conversation.updated event of the same
// conversation comes after e in its group (its frame): a message event
// then leaves the header out of its data, as the later event carries it.
// Both have the same conversation, so every filter passes both or
// neither, and a resume replays both. An envelope not made by Publish
// has no group.
func (e *Envelope) headerFollows() bool {
	if e.idx >= len(e.group) {
		return false
	}
	for _, g := range e.group[e.idx+1:] {
		if g.Event.Type == engine.EventConversationUpdated && g.Event.ConversationID == e.Event.ConversationID {
			return true
		}
	}
	return false
}

// Filter selects the events a subscriber receives; empty fields match
// everything. Channel, Folder and AssigneeID select conversations: an
// event that is not about one (Event.Data is set: contacts, notes,
// imports) passes them, and passes ConversationID when it names that
// conversation or none is set. UserID is the subscriber's user: an event
// addressed to one user (Event.UserID, a mention) reaches that user's
// subscriptions whatever their other fields, and no one else's.
type Filter struct {
	Channel        engine.Channel
	Folder         engine.Folder
	AssigneeID     string
	ConversationID engine.ID
	UserID         engine.ID
}

func (f *Filter) match(ev *engine.Event) bool {
	if ev.UserID != engine.ZeroID {
		return ev.UserID == f.UserID
	}
	if f.ConversationID != engine.ZeroID && ev.ConversationID != f.ConversationID {
		return false
	}
	if ev.Data != nil {
		return true // contacts, notes, imports: the conversation filters do not apply
	}
	c := ev.Conversation
	if c == nil {
		return f.Channel == "" && f.Folder == "" && f.AssigneeID == ""
	}
	return (f.Channel == "" || c.Channel == f.Channel) &&
		(f.Folder == "" || c.Folder == f.Folder) &&
		(f.AssigneeID == "" || c.AssigneeID == f.AssigneeID)
}

// Close reasons of a subscription.
const (
	CloseSlow     = "slow consumer"
	CloseShutdown = "shutdown"
	CloseClient   = "closed by client"
)

// Subscription receives the events of one workspace that match its
// filter. One made with Subscribe receives them on C, which is closed
// when the subscription ends; one made with SubscribeNotify has no C and
// its events are taken with Take. Reason says why it ended.
type Subscription struct {
	C      <-chan *Envelope
	c      chan *Envelope
	filter Filter
	st     *stream
	notify func()
	limit  int // the most events q holds (SubscribeNotify)

	mu     sync.Mutex
	reason string
	// q holds the events of a notified subscription not yet taken,
	// oldest first, the events of one Publish together. It grows as
	// events come and is released once taken, so an idle subscriber
	// keeps no queue (docs/ARCHITECTURE.md, "Realtime fan-out and memory
	// per connection").
	q      []*Envelope
	closed bool
}

// Reason says why the subscription was closed ("" while open).
func (s *Subscription) Reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Close ends the subscription.
func (s *Subscription) Close() { s.st.remove(s, CloseClient) }

// Take appends to dst the events queued on a subscription made with
// SubscribeNotify, oldest first, and returns it: whole state changes (the
// events of one Publish) until maxEvents events or maxBytes bytes of
// their JSON are reached. open is false once the subscription has ended
// and every event it queued was taken.
func (s *Subscription) Take(dst []*Envelope, maxEvents, maxBytes int) (batch []*Envelope, open bool) {
	batch, size := dst, 0
	for len(batch) < maxEvents && size < maxBytes {
		n := len(batch)
		var more bool
		batch, more = s.takeGroup(batch)
		for _, e := range batch[n:] {
			size += len(e.JSON()) // encoded once per event, outside the lock
		}
		if !more {
			s.mu.Lock()
			open = !s.closed || len(s.q) > 0
			s.mu.Unlock()
			return batch, open
		}
	}
	return batch, true
}

// takeGroup moves the first queued state change to dst; more is false
// when the queue was empty.
func (s *Subscription) takeGroup(dst []*Envelope) (_ []*Envelope, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q) == 0 {
		return dst, false
	}
	n := 1
	for n < len(s.q) && sameGroup(s.q[n-1], s.q[n]) {
		n++
	}
	dst = append(dst, s.q[:n]...)
	if n == len(s.q) {
		s.q = nil // idle: the queue's memory goes
	} else {
		rest := copy(s.q, s.q[n:])
		clear(s.q[rest:])
		s.q = s.q[:rest]
	}
	return dst, true
}

// sameGroup reports whether a and b were published together.
func sameGroup(a, b *Envelope) bool { return &a.group[0] == &b.group[0] }

// Collect returns env, received from C, with the events published with
// it (the same state change) that this subscription gets: they are sent
// right after env, so Collect waits for them. ok is false when C closed
// meanwhile; the envelopes received so far are returned all the same.
func (s *Subscription) Collect(env *Envelope) (batch []*Envelope, ok bool) {
	batch = []*Envelope{env}
	for _, next := range env.group[env.idx+1:] {
		if !s.filter.match(&next.Event) {
			continue
		}
		e, ok := <-s.c
		if !ok {
			return batch, false
		}
		batch = append(batch, e)
	}
	return batch, true
}

type stream struct {
	mu   sync.Mutex
	seq  uint64
	ring []*Envelope // ring[seq % len] holds event seq
	subs map[*Subscription]struct{}
}

func (st *stream) remove(s *Subscription, reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.removeLocked(s, reason)
}

func (st *stream) removeLocked(s *Subscription, reason string) {
	if _, ok := st.subs[s]; !ok {
		return
	}
	delete(st.subs, s)
	s.mu.Lock()
	s.reason = reason
	s.closed = true
	s.mu.Unlock()
	if s.c != nil {
		close(s.c)
	}
	if s.notify != nil {
		s.notify()
	}
}

// Broadcaster numbers events per workspace within a server epoch, keeps
// the most recent ones for resume, and fans them out to subscribers
// without ever blocking the publisher: a subscriber whose queue is full is
// closed with CloseSlow.
type Broadcaster struct {
	epoch    string
	ringSize int
	queue    int
	onSlow   func()

	mu      sync.RWMutex
	streams map[engine.ID]*stream
	closed  bool

	// taps are called with every Publish's events (SetTap).
	taps atomic.Pointer[[]func([]engine.Event)]
}

// AddTap registers f to be called with the events of every Publish,
// after the subscribers were sent them, in the publisher's goroutine:
// f must be quick and must not block (queue the events and return) nor
// keep or change the slice.
func (b *Broadcaster) AddTap(f func(events []engine.Event)) {
	for {
		old := b.taps.Load()
		var next []func([]engine.Event)
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, f)
		if b.taps.CompareAndSwap(old, &next) {
			return
		}
	}
}

// NewBroadcaster returns a broadcaster for epoch keeping ringSize recent
// events per workspace and queueing at most queue events per subscriber.
func NewBroadcaster(epoch string, ringSize, queue int) *Broadcaster {
	return &Broadcaster{epoch: epoch, ringSize: ringSize, queue: queue, streams: map[engine.ID]*stream{}}
}

// Epoch identifies this server run; seqs from another epoch mean nothing.
func (b *Broadcaster) Epoch() string { return b.epoch }

func (b *Broadcaster) stream(ws engine.ID) *stream {
	b.mu.RLock()
	st := b.streams[ws]
	b.mu.RUnlock()
	if st != nil {
		return st
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if st = b.streams[ws]; st == nil {
		st = &stream{ring: make([]*Envelope, b.ringSize), subs: map[*Subscription]struct{}{}}
		b.streams[ws] = st
	}
	return st
}

// Publish numbers the events and delivers them to matching subscribers.
// The events of one workspace in one call form a group: each subscriber
// is sent its matching events of the group one after the other, so a
// writer can take them as one batch (Subscription.Collect).
func (b *Broadcaster) Publish(events []engine.Event) {
	for start := 0; start < len(events); {
		ws := events[start].WorkspaceID
		end := start + 1
		for end < len(events) && events[end].WorkspaceID == ws {
			end++
		}
		b.publish(ws, events[start:end])
		start = end
	}
	if taps := b.taps.Load(); taps != nil {
		for _, f := range *taps {
			f(events)
		}
	}
}

func (b *Broadcaster) publish(ws engine.ID, events []engine.Event) {
	st := b.stream(ws)
	st.mu.Lock()
	defer st.mu.Unlock()
	group := make([]*Envelope, len(events))
	for i := range events {
		st.seq++
		env := &Envelope{Seq: st.seq, Event: events[i], group: group, idx: i}
		group[i] = env
		st.ring[st.seq%uint64(len(st.ring))] = env
	}
	for s := range st.subs {
		if s.c == nil {
			st.queueLocked(b, s, group)
			continue
		}
		sent := false
		for _, env := range group {
			if !s.filter.match(&env.Event) {
				continue
			}
			select {
			case s.c <- env:
				sent = true
				continue
			default:
			}
			st.removeLocked(s, CloseSlow)
			if b.onSlow != nil {
				b.onSlow()
			}
			sent = false // removeLocked told it
			break
		}
		if sent && s.notify != nil {
			s.notify()
		}
	}
}

// queueLocked queues the events of group that s matches on s, a
// notified subscription, and notifies it; one whose queue would pass its
// limit is closed with CloseSlow instead.
func (st *stream) queueLocked(b *Broadcaster, s *Subscription, group []*Envelope) {
	n := 0
	for _, env := range group {
		if s.filter.match(&env.Event) {
			n++
		}
	}
	if n == 0 {
		return
	}
	s.mu.Lock()
	slow := len(s.q)+n > s.limit
	if !slow {
		for _, env := range group {
			if s.filter.match(&env.Event) {
				s.q = append(s.q, env)
			}
		}
	}
	s.mu.Unlock()
	if slow {
		st.removeLocked(s, CloseSlow)
		if b.onSlow != nil {
			b.onSlow()
		}
		return
	}
	if s.notify != nil {
		s.notify()
	}
}

// LastSeq returns the seq of the newest event of a workspace.
func (b *Broadcaster) LastSeq(ws engine.ID) uint64 {
	st := b.stream(ws)
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.seq
}

// Subscribe registers a subscriber to workspace ws. With resume set, the
// events after seq *resume that match the filter are returned to be sent
// first, in order, with nothing lost between them and the live events; if
// the buffer no longer holds them, ErrResync.
func (b *Broadcaster) Subscribe(ws engine.ID, f Filter, resume *uint64) (*Subscription, []*Envelope, error) {
	return b.SubscribeNotify(ws, f, resume, nil)
}

// SubscribeNotify is Subscribe with notify called after each Publish that
// queued events on the subscription, and when the subscription closes:
// a writer serving many subscriptions learns which ones have work
// without a goroutine waiting on each C. With notify set the
// subscription has no C: its events are taken with Take from a queue
// that holds at most the broadcaster's queue bound (past it the
// subscription is closed with CloseSlow, as one whose C is full) and
// takes no memory while empty. notify is called with the workspace's
// stream locked: it must be quick and must not call the broadcaster.
func (b *Broadcaster) SubscribeNotify(ws engine.ID, f Filter, resume *uint64, notify func()) (*Subscription, []*Envelope, error) {
	st := b.stream(ws)
	st.mu.Lock()
	defer st.mu.Unlock()
	var replay []*Envelope
	if resume != nil {
		from := *resume
		if from > st.seq {
			return nil, nil, ErrResync // a seq from another epoch
		}
		oldest := uint64(1)
		if st.seq > uint64(len(st.ring)) {
			oldest = st.seq - uint64(len(st.ring)) + 1
		}
		if from+1 < oldest {
			return nil, nil, ErrResync
		}
		for seq := from + 1; seq <= st.seq; seq++ {
			env := st.ring[seq%uint64(len(st.ring))]
			if f.match(&env.Event) {
				replay = append(replay, env)
			}
		}
	}
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return nil, nil, ErrShuttingDown
	}
	s := &Subscription{filter: f, st: st, notify: notify, limit: b.queue}
	if notify == nil {
		c := make(chan *Envelope, b.queue)
		s.C, s.c = c, c
	}
	st.subs[s] = struct{}{}
	return s, replay, nil
}

// Subscribers counts live subscriptions.
func (b *Broadcaster) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, st := range b.streams {
		st.mu.Lock()
		n += len(st.subs)
		st.mu.Unlock()
	}
	return n
}

// Close ends every subscription with CloseShutdown.
func (b *Broadcaster) Close() {
	b.mu.Lock()
	b.closed = true
	streams := make([]*stream, 0, len(b.streams))
	for _, st := range b.streams {
		streams = append(streams, st)
	}
	b.mu.Unlock()
	for _, st := range streams {
		st.mu.Lock()
		for s := range st.subs {
			st.removeLocked(s, CloseShutdown)
		}
		st.mu.Unlock()
	}
}
