package actors_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func event(ws engine.ID, ch engine.Channel, folder engine.Folder) engine.Event {
	c := &engine.Conversation{ID: engine.NewID(t0), WorkspaceID: ws, Channel: ch, Folder: folder}
	return engine.Event{Type: engine.EventConversationUpdated, WorkspaceID: ws, ConversationID: c.ID, At: t0, Conversation: c}
}

func TestBroadcasterSeqAndResume(t *testing.T) {
	t.Parallel()
	ws, other := engine.NewID(t0), engine.NewID(t0)
	b := actors.NewBroadcaster("epoch-1", 8, 64)
	sub, replay, err := b.Subscribe(ws, actors.Filter{}, nil)
	require.NoError(t, err)
	require.Empty(t, replay)
	for range 5 {
		b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen), event(other, engine.ChannelWhatsApp, engine.FolderOpen)})
	}
	// Seqs are per workspace and gap-free.
	for want := uint64(1); want <= 5; want++ {
		env := <-sub.C
		require.Equal(t, want, env.Seq)
		require.Equal(t, ws, env.Event.WorkspaceID)
	}
	require.Equal(t, uint64(5), b.LastSeq(other))

	// Resume from seq 2: events 3..5 replayed in order.
	last := uint64(2)
	_, replay, err = b.Subscribe(ws, actors.Filter{}, &last)
	require.NoError(t, err)
	require.Len(t, replay, 3)
	for i, env := range replay {
		require.Equal(t, uint64(3+i), env.Seq)
	}
	// After 20 more events, seq 2 is out of the 8-event ring: resync.
	for range 20 {
		b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
	}
	_, _, err = b.Subscribe(ws, actors.Filter{}, &last)
	require.ErrorIs(t, err, actors.ErrResync)
	// The oldest kept event can still be resumed from.
	edge := uint64(25 - 8)
	_, replay, err = b.Subscribe(ws, actors.Filter{}, &edge)
	require.NoError(t, err)
	require.Len(t, replay, 8)
	// A seq from the future (another epoch) cannot be resumed.
	future := uint64(1000)
	_, _, err = b.Subscribe(ws, actors.Filter{}, &future)
	require.ErrorIs(t, err, actors.ErrResync)
}

func TestBroadcasterFilters(t *testing.T) {
	t.Parallel()
	ws := engine.NewID(t0)
	b := actors.NewBroadcaster("e", 16, 16)
	wa, _, err := b.Subscribe(ws, actors.Filter{Channel: engine.ChannelWhatsApp}, nil)
	require.NoError(t, err)
	solved, _, err := b.Subscribe(ws, actors.Filter{Folder: engine.FolderSolved}, nil)
	require.NoError(t, err)
	one := event(ws, engine.ChannelInstagram, engine.FolderSolved)
	byConv, _, err := b.Subscribe(ws, actors.Filter{ConversationID: one.ConversationID}, nil)
	require.NoError(t, err)
	b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen), one})
	require.Equal(t, uint64(1), (<-wa.C).Seq)
	require.Equal(t, uint64(2), (<-solved.C).Seq)
	require.Equal(t, uint64(2), (<-byConv.C).Seq)
	require.Empty(t, wa.C)
	require.Empty(t, solved.C)
}

// Invariant 7 (docs/ARCHITECTURE.md) at this layer: a subscriber that never reads is closed with
// a reason once its queue is full, and the publisher never waits for it.
func TestBroadcasterSlowConsumer(t *testing.T) {
	t.Parallel()
	ws := engine.NewID(t0)
	b := actors.NewBroadcaster("e", 1024, 4)
	slow, _, err := b.Subscribe(ws, actors.Filter{}, nil)
	require.NoError(t, err)
	fast, _, err := b.Subscribe(ws, actors.Filter{}, nil)
	require.NoError(t, err)
	// The fast subscriber reads everything, in steps of its queue size;
	// the slow one never reads. Publish must never wait.
	var seqs []uint64
	for range 25 {
		start := time.Now()
		for range 4 {
			b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
		}
		require.Less(t, time.Since(start), 5*time.Second, "publisher blocked")
		for range 4 {
			seqs = append(seqs, (<-fast.C).Seq)
		}
	}
	require.Equal(t, actors.CloseSlow, slow.Reason())
	n := 0
	for range slow.C { // drains the 4 queued, then sees the close
		n++
	}
	require.Equal(t, 4, n)
	require.Equal(t, 1, b.Subscribers())
	require.Len(t, seqs, 100, "the reading subscriber got every event")
	require.Equal(t, uint64(100), seqs[99])
	fast.Close()
	require.Equal(t, actors.CloseClient, fast.Reason())
	b.Close()
	_, _, err = b.Subscribe(ws, actors.Filter{}, nil)
	require.ErrorIs(t, err, actors.ErrShuttingDown)
}

// subscribed returns a broadcaster with one subscriber to every event of
// a new workspace.
func subscribed(t *testing.T) (engine.ID, *actors.Broadcaster, *actors.Subscription) {
	t.Helper()
	ws := engine.NewID(t0)
	b := actors.NewBroadcaster("e", 16, 16)
	sub, _, err := b.Subscribe(ws, actors.Filter{}, nil)
	require.NoError(t, err)
	return ws, b, sub
}

func TestEnvelopeJSON(t *testing.T) {
	t.Parallel()
	ws, b, sub := subscribed(t)
	ev := event(ws, engine.ChannelWhatsApp, engine.FolderOpen)
	b.Publish([]engine.Event{ev})
	var v struct {
		Seq            uint64 `json:"seq"`
		Type           string `json:"type"`
		WorkspaceID    string `json:"workspace_id"`
		ConversationID string `json:"conversation_id"`
		Data           struct {
			Conversation struct {
				Folder string `json:"folder"`
			} `json:"conversation"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal((<-sub.C).JSON(), &v))
	require.Equal(t, uint64(1), v.Seq)
	require.Equal(t, "conversation.updated", v.Type)
	require.Equal(t, ws.String(), v.WorkspaceID)
	require.Equal(t, ev.ConversationID.String(), v.ConversationID)
	require.Equal(t, "open", v.Data.Conversation.Folder)
}

// A message event sent in the same frame as its conversation's
// conversation.updated leaves the header to that event; without one after
// it, it carries the header itself.
func TestEnvelopeJSONHeaderOnce(t *testing.T) {
	t.Parallel()
	ws, b, sub := subscribed(t)
	header := event(ws, engine.ChannelWhatsApp, engine.FolderOpen)
	msg := header
	msg.Type, msg.Message = engine.EventMessageCreated, &engine.Message{Seq: 7}
	other := event(ws, engine.ChannelWhatsApp, engine.FolderOpen) // another conversation
	b.Publish([]engine.Event{msg, header})
	b.Publish([]engine.Event{msg, other})
	b.Publish([]engine.Event{header, msg})
	hasHeader := func() (string, bool) {
		var v struct {
			Type string `json:"type"`
			Data map[string]json.RawMessage
		}
		require.NoError(t, json.Unmarshal((<-sub.C).JSON(), &v))
		_, ok := v.Data["conversation"]
		return v.Type, ok
	}
	for _, want := range []struct {
		typ    string
		header bool
	}{
		{"message.created", false}, {"conversation.updated", true},
		{"message.created", true}, {"conversation.updated", true},
		{"conversation.updated", true}, {"message.created", true},
	} {
		typ, ok := hasHeader()
		require.Equal(t, want.typ, typ)
		require.Equal(t, want.header, ok, "%s", typ)
	}
}

// Events reach subscribers only after the change is committed, in the
// order the conversation made them.
func TestRuntimePublishesAfterCommit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	sub, _, err := h.rt.Subscribe(h.ws, actors.Filter{}, nil)
	require.NoError(t, err)
	conv := h.say("u1", "m1", "hello")
	var types []engine.EventType
	for len(types) < 3 {
		env := <-sub.C
		types = append(types, env.Event.Type)
		// What the event says is already in the store.
		if env.Event.Message != nil {
			_, err := h.store.Message(h.ws, conv, env.Event.Message.Seq)
			require.NoError(t, err)
		}
	}
	require.Equal(t, []engine.EventType{engine.EventConversationCreated, engine.EventMessageCreated, engine.EventConversationUpdated}, types)
}

// TestBroadcasterCollectsAStateChange: the events of one Publish call
// (one state change) are collected by a subscriber as one batch, those
// its filter drops left out, so a writer can send them in one frame.
func TestBroadcasterCollectsAStateChange(t *testing.T) {
	t.Parallel()
	ws := engine.NewID(t0)
	b := actors.NewBroadcaster("epoch-1", 8, 64)
	all, _, err := b.Subscribe(ws, actors.Filter{}, nil)
	require.NoError(t, err)
	wa, _, err := b.Subscribe(ws, actors.Filter{Channel: engine.ChannelWhatsApp}, nil)
	require.NoError(t, err)
	b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen), event(ws, engine.ChannelInstagram, engine.FolderOpen),
		event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
	b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
	seqs := func(batch []*actors.Envelope) []uint64 {
		var out []uint64
		for _, e := range batch {
			out = append(out, e.Seq)
		}
		return out
	}
	batch, ok := all.Collect(<-all.C)
	require.True(t, ok)
	require.Equal(t, []uint64{1, 2, 3}, seqs(batch))
	batch, ok = wa.Collect(<-wa.C)
	require.True(t, ok)
	require.Equal(t, []uint64{1, 3}, seqs(batch))
	batch, _ = wa.Collect(<-wa.C)
	require.Equal(t, []uint64{4}, seqs(batch), "the next state change is a batch of its own")
	// Closed meanwhile: what was received comes back with ok false.
	ig, _, err := b.Subscribe(ws, actors.Filter{}, nil)
	require.NoError(t, err)
	b.Publish([]engine.Event{event(ws, engine.ChannelInstagram, engine.FolderOpen)})
	first := <-ig.C
	ig.Close()
	batch, ok = ig.Collect(first)
	require.True(t, ok, "a one-event change needs nothing more")
	require.Equal(t, []uint64{5}, seqs(batch))
}

// TestBroadcasterTap: a tap sees every Publish's events, of every
// workspace, subscribers or not, and after the subscribers got them.
func TestBroadcasterTap(t *testing.T) {
	t.Parallel()
	ws, other := engine.NewID(t0), engine.NewID(t0)
	b := actors.NewBroadcaster("epoch-1", 8, 64)
	sub, _, err := b.Subscribe(ws, actors.Filter{}, nil)
	require.NoError(t, err)
	var seen []engine.ID
	queued := -1
	b.AddTap(func(evs []engine.Event) {
		queued = len(sub.C)
		for _, ev := range evs {
			seen = append(seen, ev.WorkspaceID)
		}
	})
	b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen), event(other, engine.ChannelWhatsApp, engine.FolderOpen)})
	require.Equal(t, []engine.ID{ws, other}, seen)
	require.Equal(t, 1, queued, "the subscriber had its event before the tap ran")
}

// TestBroadcasterNotifiedQueue: a subscription made with SubscribeNotify
// is taken from with Take in whole state changes, is notified once per
// Publish that queued something for it, keeps no queue once everything
// was taken, and is closed as a slow consumer when its queue would pass
// the bound, its queued events still taken before Take says it ended.
func TestBroadcasterNotifiedQueue(t *testing.T) {
	t.Parallel()
	ws := engine.NewID(t0)
	b := actors.NewBroadcaster("epoch-1", 64, 5)
	notified := 0
	sub, _, err := b.SubscribeNotify(ws, actors.Filter{Channel: engine.ChannelWhatsApp}, nil, func() { notified++ })
	require.NoError(t, err)
	require.Nil(t, sub.C, "a notified subscription has no channel")
	require.Zero(t, actors.QueueCap(sub), "nothing queued before the first event")
	seqs := func(batch []*actors.Envelope) []uint64 {
		var out []uint64
		for _, e := range batch {
			out = append(out, e.Seq)
		}
		return out
	}
	b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen), event(ws, engine.ChannelInstagram, engine.FolderOpen),
		event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
	b.Publish([]engine.Event{event(ws, engine.ChannelInstagram, engine.FolderOpen)}) // not this filter's: no notification
	b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
	require.Equal(t, 2, notified)
	// One event asked for: the whole state change comes.
	batch, open := sub.Take(nil, 1, 1<<20)
	require.True(t, open)
	require.Equal(t, []uint64{1, 3}, seqs(batch))
	batch, open = sub.Take(batch[:0], 10, 1<<20)
	require.True(t, open)
	require.Equal(t, []uint64{5}, seqs(batch))
	require.Zero(t, actors.QueueCap(sub), "the queue is released once taken")
	batch, open = sub.Take(nil, 10, 1<<20)
	require.True(t, open)
	require.Empty(t, batch)
	// A byte bound stops at the state change that reaches it.
	for range 2 {
		b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
	}
	batch, open = sub.Take(nil, 10, 1)
	require.True(t, open)
	require.Equal(t, []uint64{6}, seqs(batch))
	// 7 queued; 3 more fit (4 of 5), a change of 2 would make 6: closed
	// as slow, what was queued is still taken, then the end.
	b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen), event(ws, engine.ChannelWhatsApp, engine.FolderOpen),
		event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
	require.Empty(t, sub.Reason())
	b.Publish([]engine.Event{event(ws, engine.ChannelWhatsApp, engine.FolderOpen), event(ws, engine.ChannelWhatsApp, engine.FolderOpen)})
	require.Equal(t, actors.CloseSlow, sub.Reason())
	batch, open = sub.Take(nil, 1, 1<<20)
	require.True(t, open, "events still queued")
	require.Equal(t, []uint64{7}, seqs(batch))
	batch, open = sub.Take(nil, 10, 1<<20)
	require.False(t, open)
	require.Equal(t, []uint64{8, 9, 10}, seqs(batch))
	require.Zero(t, b.Subscribers())
}
