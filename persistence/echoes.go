package persistence

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Held echoes: on a channel whose echoes carry no mark of Parley's own
// sends (engine.EchoesUnmarked), an echo with an unknown message id that
// arrives while the conversation has sends in flight is kept here, not
// stored as a message, until those sends are answered: the echo of one
// of them merges into it, the others are then stored as a person's
// messages. The conversation's actor is the only writer.
const tHeldEcho = 'e'

// HeldEcho is an echo kept aside (a version 1 record).
type HeldEcho struct {
	ChannelMessageID string         `json:"channel_message_id"`
	Content          engine.Content `json:"content"`
	SentAt           time.Time      `json:"sent_at"`
}

func heldEchoPrefix(ws, conv engine.ID) []byte { return append(wsPrefix(ws, tHeldEcho), conv[:]...) }

func heldEchoKey(ws, conv engine.ID, extID string) []byte {
	return appendString(heldEchoPrefix(ws, conv), extID)
}

// PutHeldEcho keeps echo e of conversation conv aside.
func (b *Batch) PutHeldEcho(ws, conv engine.ID, e *HeldEcho) {
	b.set(heldEchoKey(ws, conv, e.ChannelMessageID), e)
}

// DeleteHeldEcho removes a held echo (merged, or stored as a message).
func (b *Batch) DeleteHeldEcho(ws, conv engine.ID, extID string) { b.del(heldEchoKey(ws, conv, extID)) }

// HeldEchoes returns the echoes held for a conversation, by message id.
func (s *Store) HeldEchoes(ws, conv engine.ID) ([]HeldEcho, error) {
	p := heldEchoPrefix(ws, conv)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []HeldEcho
	for ok := it.First(); ok; ok = it.Next() {
		var e HeldEcho
		if err := decode(it.Value(), &e); err != nil {
			return nil, fmt.Errorf("reading held echoes of %s: %w", conv, err)
		}
		out = append(out, e)
	}
	return out, iterErr(it)
}

// OutboxOf returns the seqs of a conversation's outbox entries: its
// messages accepted for sending and not yet answered by the channel.
func (s *Store) OutboxOf(ws, conv engine.ID) ([]uint64, error) {
	p := outboxConvPrefix(ws, conv)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []uint64
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != len(p)+8 {
			return nil, fmt.Errorf("%w: outbox key of %d bytes", ErrCorrupt, len(k))
		}
		out = append(out, binary.BigEndian.Uint64(k[len(p):]))
	}
	return out, iterErr(it)
}
