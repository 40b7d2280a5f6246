package persistence

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// Pipelines, and contacts by stage and owner. Keys, under the workspace
// prefix:
//
//	'w' ws 'B' id                            pipeline (oldest first: ids are ULIDs)
//	'w' ws 'C' 's' stage contact             contact stands in stage
//	'w' ws 'C' 'o' owner contact             contact is owned by owner
//	'w' ws 'C' 'b' stage owner contact       both, for the list filtered by both
//	'w' ws 'C' 'a' contact change            contact's stage and owner changes (activity)
//
// PutContact keeps the three contact entries in step with the record, in
// the record's batch; contact ids are ULIDs, so each prefix read
// backwards lists the newest contacts first. A store written before
// pipelines existed has none of these keys: the prefixes need no
// migration, and a workspace's default pipeline is created on first use
// (actors/pipelines.go).
const (
	tPipeline = 'B'

	cStage      = 's'
	cOwner      = 'o'
	cStageOwner = 'b'
	cChange     = 'a'
)

func pipelineKey(ws, id engine.ID) []byte { return append(wsPrefix(ws, tPipeline), id[:]...) }

func contactStagePrefix(ws, stage engine.ID) []byte {
	return append(contactIndexPrefix(ws, cStage), stage[:]...)
}

func contactOwnerPrefix(ws, owner engine.ID) []byte {
	return append(contactIndexPrefix(ws, cOwner), owner[:]...)
}

func contactStageOwnerPrefix(ws, stage, owner engine.ID) []byte {
	return append(append(contactIndexPrefix(ws, cStageOwner), stage[:]...), owner[:]...)
}

func contactChangePrefix(ws, contact engine.ID) []byte {
	return append(contactIndexPrefix(ws, cChange), contact[:]...)
}

// PutPipeline writes pipeline p (new or changed).
func (b *Batch) PutPipeline(p *engine.Pipeline) { b.set(pipelineKey(p.WorkspaceID, p.ID), p) }

// DeletePipeline removes pipeline id of workspace ws.
func (b *Batch) DeletePipeline(ws, id engine.ID) { b.del(pipelineKey(ws, id)) }

// Pipelines returns every pipeline of a workspace, oldest first.
func (s *Store) Pipelines(ws engine.ID) ([]engine.Pipeline, error) {
	return readAll[engine.Pipeline](s, wsPrefix(ws, tPipeline), "pipelines")
}

// PutContactChange writes an entry of a contact's stage and owner
// activity.
func (b *Batch) PutContactChange(ch *engine.ContactChange) {
	b.set(append(contactChangePrefix(ch.WorkspaceID, ch.ContactID), ch.ID[:]...), ch)
}

// ContactChanges returns a contact's stage and owner changes, oldest
// first.
func (s *Store) ContactChanges(ws, contact engine.ID) ([]engine.ContactChange, error) {
	return readAll[engine.ContactChange](s, contactChangePrefix(ws, contact), "contact changes")
}

// stageOwnerKeys returns the stage and owner index entries of contact c.
func stageOwnerKeys(c *engine.Contact) [][]byte {
	var out [][]byte
	if c.Stage != nil {
		out = append(out, append(contactStagePrefix(c.WorkspaceID, c.Stage.StageID), c.ID[:]...))
	}
	if c.OwnerID != nil {
		out = append(out, append(contactOwnerPrefix(c.WorkspaceID, *c.OwnerID), c.ID[:]...))
	}
	if c.Stage != nil && c.OwnerID != nil {
		out = append(out, append(contactStageOwnerPrefix(c.WorkspaceID, c.Stage.StageID, *c.OwnerID), c.ID[:]...))
	}
	return out
}

// indexStageOwner brings the stage and owner entries of a contact from
// old (nil for a new contact) to c.
func (b *Batch) indexStageOwner(old, c *engine.Contact) {
	now := stageOwnerKeys(c)
	var was [][]byte
	if old != nil {
		was = stageOwnerKeys(old)
	}
	for _, k := range was {
		if !containsKey(now, k) {
			b.del(k)
		}
	}
	for _, k := range now {
		if !containsKey(was, k) {
			b.setRaw(k, nil)
		}
	}
}

func containsKey(ks [][]byte, k []byte) bool {
	for _, o := range ks {
		if string(o) == string(k) {
			return true
		}
	}
	return false
}

// deleteStageOwner removes the stage and owner entries and the change
// log of contact c.
func (b *Batch) deleteStageOwner(c *engine.Contact) {
	for _, k := range stageOwnerKeys(c) {
		b.del(k)
	}
	b.delPrefix(contactChangePrefix(c.WorkspaceID, c.ID))
}

// ContactFilter narrows the contact list to a stage, an owner or both
// (zero: any).
type ContactFilter struct {
	Stage, Owner engine.ID
}

// FilteredContacts returns a page of the contacts of ws that stand in
// f.Stage and are owned by f.Owner (either may be zero: any, not both),
// newest first, after cursor. One read of the index prefix and one read
// per contact of the page.
func (s *Store) FilteredContacts(ws engine.ID, f ContactFilter, cursor string, limit int) (ContactPage, error) {
	before, err := parseContactCursor(cursor)
	if err != nil {
		return ContactPage{}, err
	}
	limit = clampContactLimit(limit)
	var p []byte
	switch {
	case f.Stage != engine.ZeroID && f.Owner != engine.ZeroID:
		p = contactStageOwnerPrefix(ws, f.Stage, f.Owner)
	case f.Stage != engine.ZeroID:
		p = contactStagePrefix(ws, f.Stage)
	case f.Owner != engine.ZeroID:
		p = contactOwnerPrefix(ws, f.Owner)
	default:
		return s.Contacts(ws, cursor, limit)
	}
	return s.contactIndexPage(ws, p, before, limit, "the stage or owner index")
}

// contactIndexPage reads a page of contacts from an index whose keys are
// p followed by a contact id (newest last: ids are ULIDs), newest first,
// before the contact before (zero: from the newest), limit of them; what
// names the index in errors. One read of the index and one per contact.
func (s *Store) contactIndexPage(ws engine.ID, p []byte, before engine.ID, limit int, what string) (ContactPage, error) {
	upper := prefixEnd(p)
	if before != engine.ZeroID {
		upper = append(p[:len(p):len(p)], before[:]...)
	}
	it, err := s.iter(p, upper)
	if err != nil {
		return ContactPage{}, err
	}
	defer it.Close()
	var page ContactPage
	for ok := it.Last(); ok; ok = it.Prev() {
		k := it.Key()
		if len(k) != len(p)+16 {
			return ContactPage{}, fmt.Errorf("%w: key of %d bytes in %s", ErrCorrupt, len(k), what)
		}
		if len(page.Contacts) == limit {
			page.NextCursor = page.Contacts[limit-1].ID.String()
			break
		}
		var id engine.ID
		copy(id[:], k[len(p):])
		c, err := s.Contact(ws, id)
		if err != nil {
			return ContactPage{}, fmt.Errorf("reading contact %s of %s: %w", id, what, err)
		}
		page.Contacts = append(page.Contacts, c)
	}
	return page, iterErr(it)
}

// CountContactsInStage counts the contacts standing in stage, stopping
// at max.
func (s *Store) CountContactsInStage(ws, stage engine.ID, max int) (int, error) {
	return s.countPrefix(contactStagePrefix(ws, stage), max)
}

// CountContactsInStageOwnedBy counts the contacts standing in stage and
// owned by owner, stopping at max.
func (s *Store) CountContactsInStageOwnedBy(ws, stage, owner engine.ID, max int) (int, error) {
	return s.countPrefix(contactStageOwnerPrefix(ws, stage, owner), max)
}

// ContactsOwnedBy returns the ids of up to max contacts owned by user.
func (s *Store) ContactsOwnedBy(ws, user engine.ID, max int) ([]engine.ID, error) {
	return s.idsUnder(contactOwnerPrefix(ws, user), max, "contact owner")
}

func (s *Store) countPrefix(p []byte, max int) (int, error) {
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok && n < max; ok = it.Next() {
		n++
	}
	return n, iterErr(it)
}

// contactIndexed reports whether contact stands in f.Stage and/or is
// owned by f.Owner, by the entry of the stage and owner index that says
// so, read from r.
func contactIndexed(r pebble.Reader, ws engine.ID, f ContactFilter, contact engine.ID) (bool, error) {
	var k []byte
	switch {
	case f.Stage != engine.ZeroID && f.Owner != engine.ZeroID:
		k = contactStageOwnerPrefix(ws, f.Stage, f.Owner)
	case f.Stage != engine.ZeroID:
		k = contactStagePrefix(ws, f.Stage)
	default:
		k = contactOwnerPrefix(ws, f.Owner)
	}
	_, closer, err := r.Get(append(k, contact[:]...))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the stage and owner index: %w", err)
	}
	closer.Close()
	return true, nil
}
