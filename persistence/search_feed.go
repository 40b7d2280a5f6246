package persistence

import (
	"sync"

	"github.com/parleyhq/parley/engine"
)

// searchFeed hands the messages of recent commits to the search
// projection, so that it need not read back from Pebble what was just
// written (reading a conversation's new messages was the larger part of
// its cost under ingest). It is a cache, not a source of truth: the queue
// entries stay the durable record of work to do, and the projection reads
// the store whenever the feed cannot give every message it needs in one
// unbroken run of seqs (after a restart, when the feed was full, or when
// a message was fed out of order).
type searchFeed struct {
	mu    sync.Mutex
	convs map[convRef][]engine.Message // ascending, consecutive seqs
	held  int                          // messages held, at most feedCap
	// served and missed count the projections the feed could and could
	// not give their messages to.
	served, missed int
}

// feedCap bounds the messages the feed holds. When it is full, the feed
// starts again empty: the conversations it held are read from the store
// instead. Emptying it also drops runs that no projection will take (a
// commit fed after the projection of its messages already read them
// back), which would otherwise stay until the conversation's next change.
const feedCap = 1 << 16

// add feeds the new messages of a committed batch. msgs are in the order
// the batch wrote them.
func (f *searchFeed) add(msgs []engine.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.convs == nil {
		f.convs = map[convRef][]engine.Message{}
	}
	for i := range msgs {
		m := &msgs[i]
		r := convRef{m.WorkspaceID, m.ConversationID}
		run := f.convs[r]
		switch {
		case len(run) > 0 && m.Seq <= run[len(run)-1].Seq:
			continue // a rewrite of a message fed before (a status): its text is the same
		case len(run) > 0 && m.Seq != run[len(run)-1].Seq+1:
			f.held -= len(run) // a gap: start a new run
			run = run[:0]
		}
		if f.held >= feedCap {
			clear(f.convs)
			f.held, run = 0, nil
		}
		f.convs[r] = append(run, *m)
		f.held++
	}
}

// take returns the messages of conversation r with seqs in (after, last]
// when the feed holds all of them, and forgets the conversation's fed
// messages up to last either way (the projection is about to index them).
func (f *searchFeed) take(r convRef, after, last uint64) ([]engine.Message, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	run := f.convs[r]
	if len(run) == 0 {
		f.missed++
		return nil, false
	}
	first := run[0].Seq
	var out []engine.Message
	ok := first <= after+1 && run[len(run)-1].Seq >= last
	if ok {
		f.served++
		out = make([]engine.Message, 0, last-after)
		for _, m := range run {
			if m.Seq > after && m.Seq <= last {
				out = append(out, m)
			}
		}
	}
	if !ok {
		f.missed++
	}
	// Keep what comes after last (committed after the header was read).
	keep := 0
	for keep < len(run) && run[keep].Seq <= last {
		keep++
	}
	f.held -= keep
	if keep == len(run) {
		delete(f.convs, r)
	} else {
		f.convs[r] = append(run[:0:0], run[keep:]...)
	}
	return out, ok
}

// release empties the feed and gives its map's memory back (a Go map
// keeps its size after deletions). The projection calls it when it finds
// the queue empty: what the feed still holds then is runs no projection
// will take, and a run fed meanwhile is only read from the store instead.
func (f *searchFeed) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.convs, f.held = nil, 0
}

// drop forgets a conversation (deleted or unindexed).
func (f *searchFeed) drop(r convRef) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held -= len(f.convs[r])
	delete(f.convs, r)
}
