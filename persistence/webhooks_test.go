package persistence

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// The highest delivery seq is found in any subscription's queue or log,
// whatever the seq key says (it may lag: deliveries are written in the
// batches of their events, committed in any order).
func TestLastWebhookDeliverySeq(t *testing.T) {
	s := openStore(t)
	last, err := s.LastWebhookDeliverySeq()
	require.NoError(t, err)
	require.Zero(t, last)
	now := time.Now()
	a, b, c := engine.NewID(now), engine.NewID(now.Add(time.Millisecond)), engine.NewID(now.Add(2*time.Millisecond))
	batch := s.NewBatch()
	for _, d := range []engine.WebhookDelivery{{ID: 3, WebhookID: a}, {ID: 9, WebhookID: a}, {ID: 41, WebhookID: b}, {ID: 7, WebhookID: c}} {
		batch.PutWebhookDelivery(&d)
	}
	batch.SetWebhookSeq(5)
	require.NoError(t, s.Commit(batch))
	last, err = s.LastWebhookDeliverySeq()
	require.NoError(t, err)
	require.Equal(t, uint64(41), last, "the queue's highest, in the middle subscription")

	// Delivered: moved to the log, the queue's is gone.
	batch = s.NewBatch()
	batch.FinishWebhookDelivery(&engine.WebhookDelivery{ID: 41, WebhookID: b, State: engine.DeliveryDelivered}, nil)
	require.NoError(t, s.Commit(batch))
	last, err = s.LastWebhookDeliverySeq()
	require.NoError(t, err)
	require.Equal(t, uint64(41), last, "from the log")
	seq, err := s.WebhookSeq()
	require.NoError(t, err)
	require.Equal(t, uint64(5), seq, "the lagging key")
}

// A delivery queued with its Source (the event as committed, in binary
// records) reads back with the same body WebhookOuts makes from the
// event, from the queue and from the log; a later change of the
// conversation does not reach it.
func TestWebhookDeliverySourceRoundTrip(t *testing.T) {
	s := openStore(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	ws, hook := engine.NewID(now), engine.NewID(now)
	conv := &engine.Conversation{ID: engine.NewID(now), WorkspaceID: ws, ContactID: engine.NewID(now), ContactName: "Ada",
		Channel: engine.ChannelWhatsApp, Folder: engine.FolderOpen, CreatedAt: now, LastActivityAt: now, Tags: []string{"vip"}}
	before := *conv
	before.Folder = engine.FolderSolved
	msg := &engine.Message{ID: engine.NewID(now), WorkspaceID: ws, ConversationID: conv.ID, Content: engine.Content{Text: "hello there"},
		Direction: engine.DirIn, Sender: engine.Sender{Kind: engine.SenderCustomer}, CreatedAt: now}
	for _, ev := range []engine.Event{
		{Type: engine.EventMessageCreated, WorkspaceID: ws, ConversationID: conv.ID, Message: msg, Conversation: conv},
		{Type: engine.EventConversationUpdated, WorkspaceID: ws, ConversationID: conv.ID, Conversation: conv, Before: &before},
	} {
		want := engine.WebhookOuts(&ev, nil)
		outs := engine.WebhookSourcedOuts(&ev, nil)
		require.Len(t, outs, len(want))
		for i, o := range outs {
			require.Nil(t, o.Body)
			d := engine.WebhookDelivery{ID: uint64(i + 1), WebhookID: hook, WorkspaceID: ws, Event: o.Event, OrderKey: o.OrderKey,
				Source: o.Source, State: engine.DeliveryPending, CreatedAt: now}
			b := s.NewBatch()
			b.PutWebhookDelivery(&d)
			require.NoError(t, s.Commit(b))
			conv.Tags = []string{"changed later"} // the stored source is the event as it was
			got, err := s.WebhookDelivery(hook, d.ID)
			require.NoError(t, err)
			require.JSONEq(t, string(want[i].Body), string(engine.WebhookDeliveryBody(&got)), "%s", o.Event)
			require.Equal(t, ws, got.WorkspaceID)
			got.State = engine.DeliveryDelivered
			b = s.NewBatch()
			b.FinishWebhookDelivery(&got, nil)
			require.NoError(t, s.Commit(b))
			logged, err := s.WebhookLog(hook)
			require.NoError(t, err)
			require.JSONEq(t, string(want[i].Body), string(engine.WebhookDeliveryBody(&logged[len(logged)-1])))
			conv.Tags = []string{"vip"}
		}
	}
}

// FuzzSourcedWebhookDelivery: a damaged delivery record of version 3
// decodes with ErrCorrupt or into a delivery, never a panic; a valid
// one reads back with its source.
func FuzzSourcedWebhookDelivery(f *testing.F) {
	now := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	conv := &engine.Conversation{ID: engine.NewID(now), WorkspaceID: engine.NewID(now), ContactName: "Ada", CreatedAt: now}
	msg := &engine.Message{ID: engine.NewID(now), ConversationID: conv.ID, Content: engine.Content{Text: "hi"}, CreatedAt: now}
	for _, src := range []*engine.WebhookSource{
		{Type: engine.EventMessageCreated, Message: msg, Conversation: conv},
		{Type: engine.EventConversationUpdated, Conversation: conv, Before: conv},
	} {
		b, err := encode(&engine.WebhookDelivery{ID: 7, Event: engine.WebhookMessageCreated, Source: src, CreatedAt: now})
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{sourcedVersion})
	f.Add([]byte{sourcedVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d engine.WebhookDelivery
		if err := decode(b, &d); err != nil {
			return
		}
		if len(b) > 0 && b[0] == sourcedVersion {
			require.NotNil(t, d.Source)
			_ = engine.WebhookDeliveryBody(&d)
		}
	})
}
