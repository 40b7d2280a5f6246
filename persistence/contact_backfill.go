package persistence

import (
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// backfillContactConversations (the migration to format 4) writes the
// contact → conversation entries of conversations written before that
// index existed, so that a contact's profile lists them. It walks every
// conversation header, in batches of bounded size, and writes only the
// missing entries.
func (s *Store) backfillContactConversations(p *migrationProgress) error {
	return s.backfillConversations(p, func(b *Batch, ws, conv engine.ID, header []byte) (bool, error) {
		var c engine.Conversation
		var h struct {
			ContactID engine.ID `json:"contact_id"`
		}
		bin, err := decodePart(header, &c, fieldMask(cfContactID), &h)
		if err != nil {
			return false, fmt.Errorf("reading conversation %s: %w", conv, err)
		}
		if !bin {
			c.ContactID = h.ContactID
		}
		if c.ContactID == engine.ZeroID {
			return false, nil
		}
		k := contactConvKey(ws, c.ContactID, conv)
		if _, ok, err := s.getRaw(k); err != nil || ok {
			return false, err
		}
		b.setRaw(k, nil)
		return true, nil
	})
}

// ForgetContactConversations makes the store look as if it was written
// before the contact → conversation index: it removes the entries of
// contact and sets the data directory's format back to before the index,
// so that the next Open backfills them. For tests of upgrades.
func (s *Store) ForgetContactConversations(ws, contact engine.ID) error {
	b := s.NewBatch()
	b.delPrefix(contactConvPrefix(ws, contact))
	b.rewindFormat(3)
	return s.Commit(b)
}

// backfillContactKeys (the migration to format 6) writes the phone and
// email key entries (engine.ContactKeys) of contacts written before that
// index existed, so that identity resolution and imports find them. It
// runs in Open, before any contact actor exists (docs/ARCHITECTURE.md,
// invariant 11).
func (s *Store) backfillContactKeys(p *migrationProgress) error {
	return s.backfillRecords(p, tContact, func(b *Batch, ws, id engine.ID, v []byte) (bool, error) {
		var c engine.Contact
		if err := decode(v, &c); err != nil {
			return false, fmt.Errorf("reading contact %s: %w", id, err)
		}
		wrote := false
		for _, k := range engine.ContactKeys(&c) {
			key := contactKeyKey(ws, k, id)
			if _, ok, err := s.getRaw(key); err != nil {
				return false, err
			} else if !ok {
				b.setRaw(key, nil)
				wrote = true
			}
		}
		return wrote, nil
	})
}
