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
