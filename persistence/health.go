package persistence

import (
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// The health record of a channel account, written only by the health
// monitor (gateway/channels), beside the account record and never in its
// batches:
//
//	's' 'D' channel account-id       engine.ChannelHealth (JSON)
const tHealth = 'D'

func healthKey(ch engine.Channel, accountID string) []byte {
	return appendString(appendString([]byte{spaceSystem, tHealth}, string(ch)), accountID)
}

// PutChannelHealth writes the health record of a channel account.
func (b *Batch) PutChannelHealth(h *engine.ChannelHealth) {
	b.set(healthKey(h.Channel, h.AccountID), h)
}

// DeleteChannelHealth removes the health record of a channel account.
func (b *Batch) DeleteChannelHealth(ch engine.Channel, accountID string) {
	b.del(healthKey(ch, accountID))
}

// ChannelHealths lists the health record of every channel account that
// has one.
func (s *Store) ChannelHealths() ([]engine.ChannelHealth, error) {
	out, err := decodeAll[engine.ChannelHealth](s, []byte{spaceSystem, tHealth})
	if err != nil {
		return nil, fmt.Errorf("reading channel health: %w", err)
	}
	return out, nil
}

// decodeAll decodes every record under the prefix p, in key order.
func decodeAll[T any](s *Store, p []byte) ([]T, error) {
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []T
	for ok := it.First(); ok; ok = it.Next() {
		var v T
		if err := decode(it.Value(), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, iterErr(it)
}
