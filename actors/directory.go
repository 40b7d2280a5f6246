package actors

import (
	"hash/maphash"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/parleyhq/parley/engine"
)

const numShards = 64

// convKey names an actor: workspace and conversation id (or, with
// contact set, contact id), so that an id from one workspace never
// reaches another's actor.
type convKey struct {
	ws, conv engine.ID
	contact  bool
}

// entry is a live conversation actor. pending counts messages sent to it
// and not yet handled; an actor is passivated only when it is zero, and
// sends increment it under the shard lock, so no message is ever sent to
// an actor that is stopping.
type entry struct {
	pid      *actor.PID
	pending  atomic.Int64
	lastUsed atomic.Int64 // unix nanos
}

type shard struct {
	mu      sync.Mutex
	entries map[convKey]*entry
	// peak is the most entries the map has held since it was made: Go
	// maps never give memory back, so a map far below its peak is rebuilt.
	peak int
}

// directory routes messages to conversation and contact actors, spawning
// them on first use and passivating idle ones. Only active conversations
// and contacts cost memory.
type directory struct {
	rt     *Runtime
	seed   maphash.Seed
	shards [numShards]shard
	active atomic.Int64
	spawns atomic.Uint64
	// contacts counts the live contact actors (active counts the
	// conversation actors).
	contacts atomic.Int64

	// passivated counts actors stopped when idle.
	passivated atomic.Uint64

	// threads serialises the resolution of a channel user to a
	// conversation, so that two messages from a new user create one.
	threads [numShards]threadShard
	// statusLocks serialise "is this channel message id known?" with the
	// commit that makes it known (see Runtime.ApplyStatus).
	statusLocks [numShards]sync.Mutex
}

type threadShard struct {
	mu          sync.Mutex
	pending     map[string]pendingThread // by threadName
	newContacts map[string]engine.ID     // by identityName
	// known caches committed threads (by threadName), so that a busy
	// conversation's messages skip the index read; bounded by clearing.
	known map[string]pendingThread
}

// knownPerShard bounds the thread cache of one shard.
const knownPerShard = 2048

type pendingThread struct {
	conv, contact engine.ID
	newContact    bool
}

func newDirectory(rt *Runtime) *directory {
	d := &directory{rt: rt, seed: maphash.MakeSeed()}
	for i := range d.shards {
		d.shards[i].entries = map[convKey]*entry{}
		d.threads[i].pending = map[string]pendingThread{}
		d.threads[i].newContacts = map[string]engine.ID{}
		d.threads[i].known = map[string]pendingThread{}
	}
	return d
}

func (d *directory) shardOf(k convKey) *shard {
	return &d.shards[maphash.Comparable(d.seed, k)%numShards]
}

func (d *directory) stripe(s string) uint64 { return maphash.String(d.seed, s) % numShards }

// send delivers msg to the actor of (ws, conv), spawning it if needed.
func (d *directory) send(ws, conv engine.ID, msg any) { d.sendTo(convKey{ws: ws, conv: conv}, msg) }

// sendContact delivers msg to the actor of contact (ws, id), spawning it
// if needed.
func (d *directory) sendContact(ws, id engine.ID, msg any) {
	d.sendTo(convKey{ws: ws, conv: id, contact: true}, msg)
}

// counter returns the count of live actors of k's kind.
func (d *directory) counter(k convKey) *atomic.Int64 {
	if k.contact {
		return &d.contacts
	}
	return &d.active
}

func (d *directory) sendTo(k convKey, msg any) {
	sh := d.shardOf(k)
	sh.mu.Lock()
	e := sh.entries[k]
	if e == nil {
		e = &entry{}
		if k.contact {
			e.pid = d.rt.system.Root.Spawn(d.rt.contactProps(k.ws, k.conv, e))
		} else {
			e.pid = d.rt.system.Root.Spawn(d.rt.conversationProps(k.ws, k.conv, e))
			d.spawns.Add(1)
		}
		sh.entries[k] = e
		sh.peak = max(sh.peak, len(sh.entries))
		d.counter(k).Add(1)
	}
	e.pending.Add(1)
	e.lastUsed.Store(d.rt.clock.Now().UnixNano())
	sh.mu.Unlock()
	d.rt.system.Root.Send(e.pid, msg)
}

// passivateIdle stops actors that have had nothing to do since before
// cutoff. Their state is in Pebble; the next message re-activates them.
func (d *directory) passivateIdle(cutoff time.Time) int {
	n := 0
	c := cutoff.UnixNano()
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		for k, e := range sh.entries {
			if e.pending.Load() == 0 && e.lastUsed.Load() <= c {
				delete(sh.entries, k)
				d.rt.system.Root.Stop(e.pid)
				d.counter(k).Add(-1)
				if !k.contact {
					d.passivated.Add(1)
					n++
				}
			}
		}
		if sh.peak > 64 && len(sh.entries) < sh.peak/4 {
			fresh := make(map[convKey]*entry, len(sh.entries))
			maps.Copy(fresh, sh.entries) // maps.Clone would keep the old size
			sh.entries = fresh
			sh.peak = len(sh.entries)
		}
		sh.mu.Unlock()
	}
	return n
}

// stopAll stops every actor and waits for them to stop.
func (d *directory) stopAll() {
	var futures []*actor.Future
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		for k, e := range sh.entries {
			delete(sh.entries, k)
			futures = append(futures, d.rt.system.Root.PoisonFuture(e.pid))
			d.counter(k).Add(-1)
		}
		sh.mu.Unlock()
	}
	for _, f := range futures {
		_ = f.Wait()
	}
}

func threadName(ws engine.ID, account, extUser string) string {
	return string(ws[:]) + "\x00" + account + "\x00" + extUser
}

func identityName(ws engine.ID, ch engine.Channel, extUser string) string {
	return string(ws[:]) + "\x00" + string(ch) + "\x00" + extUser
}

// resolve finds or allocates the conversation (and contact) of a channel
// user. A new thread stays pending until its first commit.
func (d *directory) resolve(in *engine.Inbound) (pendingThread, error) {
	return d.resolveFor(in, engine.ZeroID)
}

// resolveFor is resolve for a thread the business starts with a known
// contact (a broadcast's recipient): a new thread is that contact's,
// whatever the identity indexes say.
func (d *directory) resolveFor(in *engine.Inbound, known engine.ID) (pendingThread, error) {
	name := threadName(in.WorkspaceID, in.ChannelAccountID, engine.ThreadUser(in.ExternalUserID, in.Thread))
	ts := &d.threads[d.stripe(identityName(in.WorkspaceID, in.Channel, in.ExternalUserID))]
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if p, ok := ts.pending[name]; ok {
		return p, nil
	}
	if p, ok := ts.known[name]; ok {
		return p, nil
	}
	t, ok, err := d.rt.store.LookupThread(in.WorkspaceID, in.ChannelAccountID, engine.ThreadUser(in.ExternalUserID, in.Thread))
	if err != nil {
		return pendingThread{}, err
	}
	if ok {
		p := pendingThread{conv: t.ConversationID, contact: t.ContactID}
		ts.rememberLocked(name, p)
		return p, nil
	}
	now := d.rt.clock.Now()
	p := pendingThread{conv: engine.NewID(now)}
	if known != engine.ZeroID {
		p.contact = known
		ts.pending[name] = p
		return p, nil
	}
	contact, ok, err := d.rt.store.ContactByIdentity(in.WorkspaceID, in.Channel, in.ExternalUserID)
	if err != nil {
		return pendingThread{}, err
	}
	if !ok {
		// A sender new to the channel may be a contact known by phone or
		// email already (imported, or met on another channel): the same
		// person, not a new contact.
		contact, ok, err = d.rt.store.ContactByKeys(in.WorkspaceID, engine.IdentityKeys(in.Channel, in.ExternalUserID))
		if err != nil {
			return pendingThread{}, err
		}
	}
	if ok {
		p.contact = contact
	} else {
		// A new thread of the same user on another account may be pending
		// with a new contact already: share it.
		ident := identityName(in.WorkspaceID, in.Channel, in.ExternalUserID)
		if id, ok := ts.newContacts[ident]; ok {
			p.contact = id
		} else {
			p.contact = engine.NewID(now)
			ts.newContacts[ident] = p.contact
		}
		p.newContact = true
	}
	ts.pending[name] = p
	return p, nil
}

func (ts *threadShard) rememberLocked(name string, p pendingThread) {
	if len(ts.known) >= knownPerShard {
		ts.known = make(map[string]pendingThread, knownPerShard)
	}
	p.newContact = false
	ts.known[name] = p
}

// committed turns a pending thread into a known one once its
// conversation is on disk.
func (d *directory) committed(c *engine.Conversation) {
	name := threadName(c.WorkspaceID, c.ChannelAccountID, engine.ThreadUser(c.ExternalUserID, c.Thread))
	ident := identityName(c.WorkspaceID, c.Channel, c.ExternalUserID)
	ts := &d.threads[d.stripe(ident)]
	ts.mu.Lock()
	if p, ok := ts.pending[name]; ok {
		ts.rememberLocked(name, p)
	}
	delete(ts.pending, name)
	delete(ts.newContacts, ident)
	ts.mu.Unlock()
}

// forget drops a deleted conversation's thread from the cache, so the
// user's next message starts a new conversation.
func (d *directory) forget(c *engine.Conversation) {
	name := threadName(c.WorkspaceID, c.ChannelAccountID, engine.ThreadUser(c.ExternalUserID, c.Thread))
	ts := &d.threads[d.stripe(identityName(c.WorkspaceID, c.Channel, c.ExternalUserID))]
	ts.mu.Lock()
	delete(ts.known, name)
	ts.mu.Unlock()
}

func (d *directory) statusLock(ws engine.ID, ch engine.Channel, extID string) *sync.Mutex {
	return &d.statusLocks[d.stripe(string(ws[:])+string(ch)+"\x00"+extID)]
}
