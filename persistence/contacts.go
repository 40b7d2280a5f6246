package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parleyhq/parley/engine"
)

// Contact indexes and notes. Keys, under the workspace prefix:
//
//	'w' ws 'C' 't' token contact             contact search: contact holds token
//	'w' ws 'C' 'v' contact conv              conversations of a contact
//	'w' ws 'C' 'k' key contact               contact keys: contact has key (engine.ContactKeys: e:, p:, d:, stripe:)
//	'w' ws 'n' contact note                  note (newest last: note ids are ULIDs)
//
// The token entries of a contact are the tokens of its name, email,
// company and phone numbers (engine.Contact.SearchTokens); PutContact
// brings them from the old record to the new one in the same batch, so
// they need no forward index: the record says what its entries are. The
// contact list itself is the contact records, whose ULID keys sort by
// creation time.
const (
	tContactIndex = 'C'
	tNote         = 'n'

	cToken        = 't'
	cConversation = 'v'
	cKey          = 'k'
)

// Contact search and list bounds.
const (
	// contactTermMax is how many contacts one search term collects; a
	// term matching more (a one-letter prefix in a large CRM) makes the
	// search partial.
	contactTermMax = 20_000
	// MaxContactPage is the largest page of contacts a query returns.
	MaxContactPage = 500
	// maxContactConversations bounds the conversations of one contact
	// read by ContactConversations.
	maxContactConversations = 1000
)

func contactIndexPrefix(ws engine.ID, sub byte) []byte {
	return append(wsPrefix(ws, tContactIndex), sub)
}

func contactTokenKey(ws engine.ID, tok string, contact engine.ID) []byte {
	return append(appendString(contactIndexPrefix(ws, cToken), tok), contact[:]...)
}

func contactKeyPrefix(ws engine.ID, key string) []byte {
	return appendString(contactIndexPrefix(ws, cKey), key)
}

func contactKeyKey(ws engine.ID, key string, contact engine.ID) []byte {
	return append(contactKeyPrefix(ws, key), contact[:]...)
}

func contactConvPrefix(ws, contact engine.ID) []byte {
	return append(contactIndexPrefix(ws, cConversation), contact[:]...)
}

func contactConvKey(ws, contact, conv engine.ID) []byte {
	return append(contactConvPrefix(ws, contact), conv[:]...)
}

func notePrefix(ws, contact engine.ID) []byte { return append(wsPrefix(ws, tNote), contact[:]...) }

func noteKey(ws, contact, note engine.ID) []byte { return append(notePrefix(ws, contact), note[:]...) }

// indexContact brings the search token entries of a contact from old
// (nil for a new contact) to c.
func (b *Batch) indexContact(old, c *engine.Contact) {
	var was []string
	if old != nil {
		was = old.SearchTokens()
	}
	now := c.SearchTokens()
	for _, t := range was {
		if !slices.Contains(now, t) {
			b.del(contactTokenKey(c.WorkspaceID, t, c.ID))
		}
	}
	for _, t := range now {
		if !slices.Contains(was, t) {
			b.setRaw(contactTokenKey(c.WorkspaceID, t, c.ID), nil)
		}
	}
	var wasKeys []string
	if old != nil {
		wasKeys = engine.ContactKeys(old)
	}
	nowKeys := engine.ContactKeys(c)
	for _, k := range wasKeys {
		if !slices.Contains(nowKeys, k) {
			b.del(contactKeyKey(c.WorkspaceID, k, c.ID))
		}
	}
	for _, k := range nowKeys {
		if !slices.Contains(wasKeys, k) {
			b.setRaw(contactKeyKey(c.WorkspaceID, k, c.ID), nil)
		}
	}
}

// moveContactConversation keeps the contact → conversation index and the
// thread entry in step with the contact a conversation header names.
func (b *Batch) moveContactConversation(old, c *engine.Conversation) {
	if old != nil && old.ContactID == c.ContactID {
		return
	}
	if old != nil {
		b.del(contactConvKey(old.WorkspaceID, old.ContactID, old.ID))
	}
	b.setRaw(threadKey(c.WorkspaceID, c.ChannelAccountID, engine.ThreadUser(c.ExternalUserID, c.Thread)), threadValue(c.ID, c.ContactID))
	b.setRaw(contactConvKey(c.WorkspaceID, c.ContactID, c.ID), nil)
}

// DeleteContact removes contact c: its record, its search entries, its
// notes, its memories, its stage and owner entries and changes, its AI
// writes, its form submissions (by contact) and the identity entries that
// name it. A merge deletes the source before it writes the target, so the
// identities the target takes over point at the target once the batch is
// committed.
func (b *Batch) DeleteContact(c *engine.Contact) {
	b.del(contactKey(c.WorkspaceID, c.ID))
	for _, t := range c.SearchTokens() {
		b.del(contactTokenKey(c.WorkspaceID, t, c.ID))
	}
	for _, k := range engine.ContactKeys(c) {
		b.del(contactKeyKey(c.WorkspaceID, k, c.ID))
	}
	for _, id := range c.Identities {
		b.del(identityKey(c.WorkspaceID, id.Channel, id.ExternalID))
	}
	p := notePrefix(c.WorkspaceID, c.ID)
	b.delPrefix(p)
	b.deleteMemories(c.WorkspaceID, c.ID)
	b.deleteStageOwner(c)
	b.deleteAIContactWrites(c.WorkspaceID, c.ID)
	b.deleteContactSubmissions(c.WorkspaceID, c.ID)
	// Its segment memberships and due entry were removed by its actor
	// (nothing left to match); its segment activity goes with it.
	b.delPrefix(segmentChangePrefix(c.WorkspaceID, c.ID))
	b.del(legalHoldKey(c.WorkspaceID, c.ID))
}

// PutNote writes note n.
func (b *Batch) PutNote(n *engine.Note) {
	stored := *n
	stored.HTML = "" // derived from Text whenever it is handed out
	b.set(noteKey(n.WorkspaceID, n.ContactID, n.ID), &stored)
}

// DeleteNote removes note n.
func (b *Batch) DeleteNote(n *engine.Note) { b.del(noteKey(n.WorkspaceID, n.ContactID, n.ID)) }

// ContactPage is one page of contacts, newest first; NextCursor (the id
// of the last contact) is empty on the last page. Partial is set when
// every term of a search matched more contacts than a search reads, so
// some matches may be missing: the caller should ask for a longer query.
type ContactPage struct {
	Contacts   []engine.Contact
	NextCursor string
	Partial    bool
}

// parseContactCursor reads a contact list cursor: the id of the last
// contact of the previous page.
func parseContactCursor(cursor string) (engine.ID, error) {
	if cursor == "" {
		return engine.ZeroID, nil
	}
	id, err := engine.ParseID(cursor)
	if err != nil {
		return engine.ZeroID, ErrBadCursor
	}
	return id, nil
}

func clampContactLimit(limit int) int {
	switch {
	case limit <= 0:
		return 50
	case limit > MaxContactPage:
		return MaxContactPage
	}
	return limit
}

// Contacts returns a page of a workspace's contacts, newest first, after
// cursor (a NextCursor of a previous page, or "" for the first).
func (s *Store) Contacts(ws engine.ID, cursor string, limit int) (ContactPage, error) {
	before, err := parseContactCursor(cursor)
	if err != nil {
		return ContactPage{}, err
	}
	limit = clampContactLimit(limit)
	p := wsPrefix(ws, tContact)
	upper := prefixEnd(p)
	if before != engine.ZeroID {
		upper = contactKey(ws, before)
	}
	it, err := s.iter(p, upper)
	if err != nil {
		return ContactPage{}, err
	}
	defer it.Close()
	var page ContactPage
	for ok := it.Last(); ok; ok = it.Prev() {
		if len(page.Contacts) == limit {
			page.NextCursor = page.Contacts[limit-1].ID.String()
			break
		}
		var c engine.Contact
		if err := decode(it.Value(), &c); err != nil {
			return ContactPage{}, fmt.Errorf("reading contacts: %w", err)
		}
		page.Contacts = append(page.Contacts, c)
	}
	return page, iterErr(it)
}

// termContacts returns the contacts with a token that starts with term
// (exact: only the token term itself), at most contactTermMax of them,
// and whether that is all of them.
func (s *Store) termContacts(ws engine.ID, term string, exact bool) (map[engine.ID]struct{}, bool, error) {
	p := appendPrefix(contactIndexPrefix(ws, cToken), term)
	if exact {
		p = appendString(contactIndexPrefix(ws, cToken), term)
	}
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	out := map[engine.ID]struct{}{}
	for ok := it.First(); ok; ok = it.Next() {
		if len(out) == contactTermMax {
			return out, false, iterErr(it)
		}
		k := it.Key()
		if len(k) < len(p)+16 {
			return nil, false, fmt.Errorf("%w: contact token key of %d bytes", ErrCorrupt, len(k))
		}
		var id engine.ID
		copy(id[:], k[len(k)-16:])
		out[id] = struct{}{}
	}
	return out, true, iterErr(it)
}

// SearchContacts returns a page of the contacts of ws whose name, phone,
// email or company has, for every term, a token starting with it (terms
// from engine.NormalizeQuery), newest first, after cursor.
//
// Plan: each term's contacts are collected from the token index (at most
// contactTermMax each); the smallest complete set is the candidates, the
// other complete sets filter them, and a term whose set is incomplete is
// checked on the candidate's record.
func (s *Store) SearchContacts(ws engine.ID, terms []string, cursor string, limit int) (ContactPage, error) {
	before, err := parseContactCursor(cursor)
	if err != nil {
		return ContactPage{}, err
	}
	limit = clampContactLimit(limit)
	if len(terms) == 0 {
		return ContactPage{}, nil
	}
	type termSet struct {
		term     string
		ids      map[engine.ID]struct{}
		complete bool
	}
	sets := make([]termSet, 0, len(terms))
	for _, t := range terms {
		ids, complete, err := s.termContacts(ws, t, false)
		if err != nil {
			return ContactPage{}, err
		}
		sets = append(sets, termSet{t, ids, complete})
	}
	// The candidates come from the smallest set, complete ones first.
	slices.SortFunc(sets, func(a, b termSet) int {
		if a.complete != b.complete {
			if a.complete {
				return -1
			}
			return 1
		}
		return len(a.ids) - len(b.ids)
	})
	var page ContactPage
	page.Partial = !sets[0].complete
	cands := make([]engine.ID, 0, len(sets[0].ids))
	for id := range sets[0].ids {
		if before != engine.ZeroID && bytes.Compare(id[:], before[:]) >= 0 {
			continue
		}
		if !slices.ContainsFunc(sets[1:], func(ts termSet) bool {
			_, in := ts.ids[id]
			return ts.complete && !in
		}) {
			cands = append(cands, id)
		}
	}
	slices.SortFunc(cands, func(a, b engine.ID) int { return bytes.Compare(b[:], a[:]) })
	var unchecked []string
	for _, ts := range sets[1:] {
		if !ts.complete {
			unchecked = append(unchecked, ts.term)
		}
	}
	for _, id := range cands {
		c, err := s.Contact(ws, id)
		if err != nil {
			return ContactPage{}, err
		}
		if !holdsTerms(&c, unchecked) {
			continue
		}
		if len(page.Contacts) == limit {
			page.NextCursor = page.Contacts[limit-1].ID.String()
			break
		}
		page.Contacts = append(page.Contacts, c)
	}
	return page, nil
}

// holdsTerms reports whether contact c has a token starting with each of
// terms.
func holdsTerms(c *engine.Contact, terms []string) bool {
	if len(terms) == 0 {
		return true
	}
	toks := c.SearchTokens()
	for _, t := range terms {
		if !slices.ContainsFunc(toks, func(tok string) bool { return strings.HasPrefix(tok, t) }) {
			return false
		}
	}
	return true
}

// ContactsByToken returns the contacts holding search token tok exactly
// (tok is clipped as the index keeps tokens), at most contactTermMax of
// them; imports find duplicates by email and phone with it.
func (s *Store) ContactsByToken(ws engine.ID, tok string) ([]engine.ID, error) {
	ids, _, err := s.termContacts(ws, engine.ClipToken(tok), true)
	if err != nil {
		return nil, err
	}
	out := make([]engine.ID, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b engine.ID) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// ContactsByKey returns the contacts holding key (engine.ContactKeys),
// oldest first, at most limit of them.
func (s *Store) ContactsByKey(ws engine.ID, key string, limit int) ([]engine.ID, error) {
	return s.idsUnder(contactKeyPrefix(ws, key), limit, "contact key")
}

// idsUnder returns the ids that end the keys under prefix p (each key p
// and a 16-byte id), in key order, at most limit of them; what names the
// entries in the error of a key of another length.
func (s *Store) idsUnder(p []byte, limit int, what string) ([]engine.ID, error) {
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.ID
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		if len(k) != len(p)+16 {
			return nil, fmt.Errorf("%w: %s entry of %d bytes", ErrCorrupt, what, len(k))
		}
		var id engine.ID
		copy(id[:], k[len(p):])
		out = append(out, id)
	}
	return out, iterErr(it)
}

// ContactByKeys returns the oldest contact holding the first of keys that
// any contact holds: identity resolution's match of an inbound sender and
// an import's match of a row. Each match is checked on the contact's
// record (an entry the backfill wrote may be stale).
func (s *Store) ContactByKeys(ws engine.ID, keys []string) (engine.ID, bool, error) {
	for _, k := range keys {
		ids, err := s.ContactsByKey(ws, k, maxKeyMatches)
		if err != nil {
			return engine.ZeroID, false, err
		}
		for _, id := range ids {
			c, err := s.Contact(ws, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return engine.ZeroID, false, err
			}
			if slices.Contains(engine.ContactKeys(&c), k) {
				return id, true, nil
			}
		}
	}
	return engine.ZeroID, false, nil
}

// maxKeyMatches bounds the contacts ContactByKeys reads for one key.
const maxKeyMatches = 16

// ContactConversations returns the ids of a contact's conversations,
// oldest first, at most 1000.
func (s *Store) ContactConversations(ws, contact engine.ID) ([]engine.ID, error) {
	var out []engine.ID
	err := s.eachContactConversation(ws, contact, func(id engine.ID) bool {
		out = append(out, id)
		return len(out) < maxContactConversations
	})
	return out, err
}

// eachContactConversation calls f with each conversation of contact, in
// id order, until f returns false.
func (s *Store) eachContactConversation(ws, contact engine.ID, f func(engine.ID) bool) error {
	p := contactConvPrefix(ws, contact)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != len(p)+16 {
			return fmt.Errorf("%w: contact conversation key of %d bytes", ErrCorrupt, len(k))
		}
		var id engine.ID
		copy(id[:], k[len(p):])
		if !f(id) {
			break
		}
	}
	return iterErr(it)
}

// Notes returns up to limit notes of a contact, newest first.
func (s *Store) Notes(ws, contact engine.ID, limit int) ([]engine.Note, error) {
	p := notePrefix(ws, contact)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.Note
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		var n engine.Note
		if err := decode(it.Value(), &n); err != nil {
			return nil, fmt.Errorf("reading notes of %s: %w", contact, err)
		}
		out = append(out, n)
	}
	return out, iterErr(it)
}

// Note reads one note of a contact.
func (s *Store) Note(ws, contact, id engine.ID) (engine.Note, error) {
	var n engine.Note
	if err := s.get(noteKey(ws, contact, id), &n); err != nil {
		return engine.Note{}, fmt.Errorf("reading note %s: %w", id, err)
	}
	return n, nil
}
