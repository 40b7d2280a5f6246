package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/engine"
)

// Outgoing webhooks (docs/ARCHITECTURE.md, "Outgoing webhooks"). Keys:
//
//	'w' ws 'd' id                  subscription (engine.Webhook)
//	's' 'y' webhook seq            pending delivery (engine.WebhookDelivery), in queue order
//	's' 'Z' webhook seq            finished delivery, the newest MaxWebhookLog kept
//	's' 'b'                        the last delivery seq given
//
// A store written before webhooks existed simply has none: the prefixes
// need no migration.
const (
	tWebhook       = 'd'
	tWebhookOutbox = 'y'
	tWebhookLog    = 'Z'
	tWebhookSeq    = 'b'
)

// MaxWebhookLog bounds the finished deliveries kept per subscription.
const MaxWebhookLog = 100

func webhookKey(ws, id engine.ID) []byte { return append(wsPrefix(ws, tWebhook), id[:]...) }

func webhookOutboxPrefix(hook engine.ID) []byte {
	return append([]byte{spaceSystem, tWebhookOutbox}, hook[:]...)
}

func webhookLogPrefix(hook engine.ID) []byte {
	return append([]byte{spaceSystem, tWebhookLog}, hook[:]...)
}

var webhookSeqKey = []byte{spaceSystem, tWebhookSeq}

// PutWebhook writes subscription w (new or changed).
func (b *Batch) PutWebhook(w *engine.Webhook) { b.set(webhookKey(w.WorkspaceID, w.ID), w) }

// DeleteWebhook removes a subscription with its pending and finished
// deliveries.
func (b *Batch) DeleteWebhook(ws, id engine.ID) {
	b.del(webhookKey(ws, id))
	b.delPrefix(webhookOutboxPrefix(id))
	b.delPrefix(webhookLogPrefix(id))
}

// PutWebhookDelivery writes a pending delivery, and the delivery seq
// counter when it is new.
func (b *Batch) PutWebhookDelivery(d *engine.WebhookDelivery) {
	b.set(appendUint64(webhookOutboxPrefix(d.WebhookID), d.ID), d)
}

// DeleteWebhookDelivery removes delivery seq of a subscription, pending
// or finished (an erased contact's: docs/ARCHITECTURE.md, "Retention,
// legal hold, export and erasure").
func (b *Batch) DeleteWebhookDelivery(hook engine.ID, seq uint64) {
	b.del(appendUint64(webhookOutboxPrefix(hook), seq))
	b.del(appendUint64(webhookLogPrefix(hook), seq))
}

// SetWebhookSeq records the last delivery seq given.
func (b *Batch) SetWebhookSeq(seq uint64) { b.setRaw(webhookSeqKey, appendUint64(nil, seq)) }

// FinishWebhookDelivery moves d (delivered or failed) from the queue to
// its subscription's log, dropping the log's oldest entries beyond
// MaxWebhookLog (keep lists the log's seqs, oldest first, as read by
// WebhookLogSeqs).
func (b *Batch) FinishWebhookDelivery(d *engine.WebhookDelivery, keep []uint64) {
	b.del(appendUint64(webhookOutboxPrefix(d.WebhookID), d.ID))
	b.set(appendUint64(webhookLogPrefix(d.WebhookID), d.ID), d)
	for i := 0; i < len(keep)-(MaxWebhookLog-1); i++ {
		b.del(appendUint64(webhookLogPrefix(d.WebhookID), keep[i]))
	}
}

// Webhooks returns the subscriptions of a workspace, oldest first.
func (s *Store) Webhooks(ws engine.ID) ([]engine.Webhook, error) {
	return readAll[engine.Webhook](s, wsPrefix(ws, tWebhook), "webhooks")
}

// WebhookSeq returns the last delivery seq given (0 for none).
func (s *Store) WebhookSeq() (uint64, error) {
	v, ok, err := s.getRaw(webhookSeqKey)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("persistence: webhook seq of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// LastWebhookDeliverySeq returns the highest delivery seq found in any
// subscription's queue or log (0 for none). The seq key alone may lag:
// deliveries are written in the batches of the events they carry, which
// concurrent commits may apply in another order than their seqs were
// given. One seek per subscription and table.
func (s *Store) LastWebhookDeliverySeq() (uint64, error) {
	var last uint64
	for _, t := range []byte{tWebhookOutbox, tWebhookLog} {
		p := []byte{spaceSystem, t}
		it, err := s.iter(p, prefixEnd(p))
		if err != nil {
			return 0, err
		}
		for ok := it.Last(); ok; {
			k := it.Key()
			if len(k) != len(p)+len(engine.ID{})+8 {
				ok = it.Prev()
				continue
			}
			last = max(last, binary.BigEndian.Uint64(k[len(k)-8:]))
			ok = it.SeekLT(slices.Clone(k[:len(p)+len(engine.ID{})])) // the previous subscription's last
		}
		err = iterErr(it)
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, fmt.Errorf("reading the last webhook delivery: %w", err)
		}
	}
	return last, nil
}

// PendingWebhookDeliveries returns up to limit pending deliveries of a
// subscription with a seq above after, in queue order.
func (s *Store) PendingWebhookDeliveries(hook engine.ID, after uint64, limit int) ([]engine.WebhookDelivery, error) {
	var out []engine.WebhookDelivery
	err := s.VisitWebhookDeliveries(hook, after, func(d *engine.WebhookDelivery) bool {
		out = append(out, *d)
		return len(out) < limit
	})
	return out, err
}

// VisitWebhookDeliveries calls visit with the pending deliveries of a
// subscription with a seq above after, in queue order, decoding each
// only when it is reached, until visit returns false.
func (s *Store) VisitWebhookDeliveries(hook engine.ID, after uint64, visit func(*engine.WebhookDelivery) bool) error {
	return s.visitWebhookDeliveries(hook, after, true, visit)
}

// VisitWebhookDeliveryHeads is VisitWebhookDeliveries without the
// deliveries' sources (engine.WebhookSource): what the dispatcher needs
// to choose what is due, without decoding the events of a backlog
// waiting for its retries. PendingWebhookDelivery reads the whole one.
func (s *Store) VisitWebhookDeliveryHeads(hook engine.ID, after uint64, visit func(*engine.WebhookDelivery) bool) error {
	return s.visitWebhookDeliveries(hook, after, false, visit)
}

// PendingWebhookDelivery reads delivery seq of a subscription, whole,
// and reports whether it is still in the queue.
func (s *Store) PendingWebhookDelivery(hook engine.ID, seq uint64) (engine.WebhookDelivery, bool, error) {
	var d engine.WebhookDelivery
	err := s.get(appendUint64(webhookOutboxPrefix(hook), seq), &d)
	if errors.Is(err, ErrNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("reading webhook delivery %d: %w", seq, err)
	}
	return d, true, nil
}

func (s *Store) visitWebhookDeliveries(hook engine.ID, after uint64, withSource bool, visit func(*engine.WebhookDelivery) bool) error {
	p := webhookOutboxPrefix(hook)
	it, err := s.iter(appendUint64(slices.Clip(p), after+1), prefixEnd(p))
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var d engine.WebhookDelivery
		var err error
		if v := it.Value(); !withSource && len(v) > 0 && v[0] == sourcedVersion {
			err = decodeSourcedDelivery(v, &d, false)
		} else {
			err = decode(v, &d)
		}
		if err != nil {
			return fmt.Errorf("reading webhook deliveries: %w", err)
		}
		if !visit(&d) {
			break
		}
	}
	return iterErr(it)
}

// WebhookDeliveryPending reports whether delivery seq of a subscription
// is still in its queue.
func (s *Store) WebhookDeliveryPending(hook engine.ID, seq uint64) (bool, error) {
	_, ok, err := s.getRaw(appendUint64(webhookOutboxPrefix(hook), seq))
	if err != nil {
		return false, fmt.Errorf("reading webhook delivery %d: %w", seq, err)
	}
	return ok, nil
}

// WebhookLog returns the finished deliveries of a subscription, oldest
// first.
func (s *Store) WebhookLog(hook engine.ID) ([]engine.WebhookDelivery, error) {
	return readAll[engine.WebhookDelivery](s, webhookLogPrefix(hook), "webhook deliveries")
}

// WebhookLogSeqs returns the seqs of a subscription's finished
// deliveries, oldest first.
func (s *Store) WebhookLogSeqs(hook engine.ID) ([]uint64, error) {
	p := webhookLogPrefix(hook)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []uint64
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		out = append(out, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	return out, iterErr(it)
}

// WebhookDelivery reads one delivery of a subscription, pending or
// finished.
func (s *Store) WebhookDelivery(hook engine.ID, seq uint64) (engine.WebhookDelivery, error) {
	var d engine.WebhookDelivery
	err := s.get(appendUint64(webhookOutboxPrefix(hook), seq), &d)
	if errors.Is(err, ErrNotFound) {
		err = s.get(appendUint64(webhookLogPrefix(hook), seq), &d)
	}
	if err != nil {
		return d, fmt.Errorf("reading webhook delivery %d: %w", seq, err)
	}
	return d, nil
}
