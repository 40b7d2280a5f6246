package persistence

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func newContact(ws engine.ID, n int, p engine.Profile) engine.Contact {
	created := at(time.Duration(n) * time.Second)
	return engine.Contact{ID: engine.NewID(created), WorkspaceID: ws, Profile: p, Source: engine.SourceManual,
		CreatedAt: created, UpdatedAt: created}
}

func contactNames(cs []engine.Contact) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Profile.Name
	}
	return out
}

func searchContacts(t *testing.T, s *Store, ws engine.ID, q string) []string {
	t.Helper()
	page, err := s.SearchContacts(ws, engine.NormalizeQuery(q), "", 100)
	require.NoError(t, err)
	return contactNames(page.Contacts)
}

// The token index follows every write of a contact in its own batch:
// create, rename, delete; search is by prefix, case and accents aside,
// every term must match, newest first, and no workspace sees another's.
func TestContactSearchIndex(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf(1, 1), idOf(1, 2)
	jose := newContact(ws, 1, engine.Profile{Name: "José Ñandú", Email: "jose.nandu@example.com", Phone: "+1 (555) 010-2030", Company: "Acme Labs"})
	joan := newContact(ws, 2, engine.Profile{Name: "Joana Silva", Company: "Acme"})
	wa := newContact(ws, 3, engine.Profile{Name: "Wally"})
	wa.Identities = []engine.Identity{{Channel: engine.ChannelWhatsApp, ExternalID: "447700900123"}}
	foreign := newContact(other, 4, engine.Profile{Name: "José Other"})
	commit(t, s, func(b *Batch) {
		for _, c := range []*engine.Contact{&jose, &joan, &wa, &foreign} {
			b.PutContact(nil, c)
		}
	})
	require.Equal(t, []string{"José Ñandú"}, searchContacts(t, s, ws, "jose"))
	require.Equal(t, []string{"José Ñandú"}, searchContacts(t, s, ws, "NANDU"))
	require.Equal(t, []string{"Joana Silva", "José Ñandú"}, searchContacts(t, s, ws, "jo"), "newest first")
	require.Equal(t, []string{"Joana Silva", "José Ñandú"}, searchContacts(t, s, ws, "acme"))
	require.Equal(t, []string{"José Ñandú"}, searchContacts(t, s, ws, "acme lab"))
	require.Equal(t, []string{"José Ñandú"}, searchContacts(t, s, ws, "nandu@exa"))
	require.Equal(t, []string{"José Ñandú"}, searchContacts(t, s, ws, "0102030"), "a tail of the phone")
	require.Equal(t, []string{"José Ñandú"}, searchContacts(t, s, ws, "+1 555 010 2030"))
	require.Equal(t, []string{"Wally"}, searchContacts(t, s, ws, "900123"), "a WhatsApp id is a phone")
	require.Empty(t, searchContacts(t, s, ws, "jose silva"), "every term must match")
	require.Empty(t, searchContacts(t, s, ws, "other"), "another workspace's contact")

	// Rename: the old tokens go, the new ones come, in the same batch.
	old := joan
	joan.Profile.Name = "Marta Silva"
	commit(t, s, func(b *Batch) { b.PutContact(&old, &joan) })
	require.Empty(t, searchContacts(t, s, ws, "joana"))
	require.Equal(t, []string{"José Ñandú"}, searchContacts(t, s, ws, "jo"))
	require.Equal(t, []string{"Marta Silva"}, searchContacts(t, s, ws, "marta sil"))
	old = jose
	jose.Profile.Name = "Pedro Ñandú"
	commit(t, s, func(b *Batch) { b.PutContact(&old, &jose) })
	require.Equal(t, []string{"Pedro Ñandú"}, searchContacts(t, s, ws, "pedro"))

	// Delete: nothing of the contact is left in the index.
	commit(t, s, func(b *Batch) { b.DeleteContact(&jose) })
	require.Empty(t, searchContacts(t, s, ws, "pedro"))
	require.Empty(t, rawKeys(t, s, append(contactIndexPrefix(ws, cToken), "nandu"...)))
}

func TestContactListAndSearchPages(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf(1, 1)
	commit(t, s, func(b *Batch) {
		for i := range 25 {
			c := newContact(ws, i, engine.Profile{Name: fmt.Sprintf("Maria %02d", i)})
			b.PutContact(nil, &c)
		}
	})
	for _, q := range []string{"", "mar"} {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10)
			var page ContactPage
			var err error
			if q == "" {
				page, err = s.Contacts(ws, cursor, 10)
			} else {
				page, err = s.SearchContacts(ws, engine.NormalizeQuery(q), cursor, 10)
			}
			require.NoError(t, err)
			got = append(got, contactNames(page.Contacts)...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		require.Len(t, got, 25, q)
		require.Equal(t, "Maria 24", got[0], "newest first")
		require.Equal(t, "Maria 00", got[24])
	}
	_, err := s.Contacts(ws, "nope", 10)
	require.ErrorIs(t, err, ErrBadCursor)
	_, err = s.SearchContacts(ws, []string{"m"}, "nope", 10)
	require.ErrorIs(t, err, ErrBadCursor)
}

// A conversation is listed under its contact from its first commit, and
// moves (with its thread entry) when its header names another contact.
func TestContactConversationIndex(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf(1, 1)
	a, b := idOf(2, 1), idOf(2, 2)
	c := newConv(ws, 1, at(0))
	c.ContactID = a
	putConvs(t, s, []engine.Conversation{c})
	got, err := s.ContactConversations(ws, a)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{c.ID}, got)

	moved := c.Clone()
	moved.ContactID = b
	commit(t, s, func(batch *Batch) { batch.PutConversation(&c, &moved) })
	got, err = s.ContactConversations(ws, a)
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = s.ContactConversations(ws, b)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{c.ID}, got)
	th, ok, err := s.LookupThread(ws, c.ChannelAccountID, c.ExternalUserID)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, b, th.ContactID, "the thread names the new contact")

	commit(t, s, func(batch *Batch) { batch.DeleteConversation(&moved, nil) })
	got, err = s.ContactConversations(ws, b)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestNotes(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, contact := idOf(1, 1), idOf(2, 1)
	var notes []engine.Note
	commit(t, s, func(b *Batch) {
		for i := range 3 {
			n := engine.Note{ID: engine.NewID(at(time.Duration(i) * time.Second)), WorkspaceID: ws, ContactID: contact,
				AuthorID: idOf(3, 1), Text: fmt.Sprintf("note %d", i), Mentions: []engine.ID{}, CreatedAt: at(time.Duration(i) * time.Second)}
			notes = append(notes, n)
			b.PutNote(&n)
		}
	})
	got, err := s.Notes(ws, contact, 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "note 2", got[0].Text, "newest first")
	commit(t, s, func(b *Batch) { b.DeleteNote(&notes[2]) })
	_, err = s.Note(ws, contact, notes[2].ID)
	require.ErrorIs(t, err, ErrNotFound)
	n, err := s.Note(ws, contact, notes[0].ID)
	require.NoError(t, err)
	require.Equal(t, "note 0", n.Text)
	_, err = s.Note(idOf(1, 2), contact, notes[0].ID)
	require.ErrorIs(t, err, ErrNotFound, "another workspace")
}

// A term matching more contacts than a search reads makes the page
// partial; the page holds the newest matches it found, and a second,
// rarer term still finds its contact.
func TestContactSearchPartial(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf(1, 1)
	n := contactTermMax + 100
	for i := 0; i < n; i += 2000 {
		commit(t, s, func(b *Batch) {
			for j := i; j < min(i+2000, n); j++ {
				name := fmt.Sprintf("Maria %d", j)
				if j == 7 {
					name = "Maria Zuleika"
				}
				c := newContact(ws, j, engine.Profile{Name: name})
				b.PutContact(nil, &c)
			}
		})
	}
	page, err := s.SearchContacts(ws, engine.NormalizeQuery("maria"), "", 10)
	require.NoError(t, err)
	require.True(t, page.Partial)
	require.Len(t, page.Contacts, 10)
	page, err = s.SearchContacts(ws, engine.NormalizeQuery("maria zul"), "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"Maria Zuleika"}, contactNames(page.Contacts))
	require.False(t, page.Partial, "maria was cut, but zul was complete and maria was checked on its record")
}

// The phone and email key index follows every write of a contact in its
// batch; a match is checked on the record, and the backfill indexes
// contacts stored before the index.
func TestContactKeyIndex(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf(1, 1), idOf(1, 2)
	put := func(old, c *engine.Contact) {
		t.Helper()
		b := s.NewBatch()
		b.PutContact(old, c)
		require.NoError(t, s.Commit(b))
	}
	match := func(w engine.ID, keys ...string) engine.ID {
		t.Helper()
		id, ok, err := s.ContactByKeys(w, keys)
		require.NoError(t, err)
		if !ok {
			return engine.ZeroID
		}
		return id
	}
	wa := engine.IdentityKeys(engine.ChannelWhatsApp, "15550001111")
	ana := newContact(ws, 1, engine.Profile{Name: "Ana", Phone: "+1 555 000 1111", Email: "Ana@Example.com"})
	put(nil, &ana)
	require.Equal(t, ana.ID, match(ws, wa...))
	require.Equal(t, ana.ID, match(ws, "e:ana@example.com"))
	require.Equal(t, engine.ZeroID, match(other, wa...), "workspaces are apart")

	moved := ana
	moved.Profile.Phone = "+44 7700 900123"
	put(&ana, &moved)
	require.Equal(t, engine.ZeroID, match(ws, wa...), "the old number left the index")
	require.Equal(t, ana.ID, match(ws, engine.IdentityKeys(engine.ChannelWhatsApp, "447700900123")...))

	// A stale entry (as a backfill racing a change could leave) is not a match.
	b := s.NewBatch()
	b.setRaw(contactKeyKey(ws, wa[0], ana.ID), nil)
	require.NoError(t, s.Commit(b))
	require.Equal(t, engine.ZeroID, match(ws, wa...))

	b = s.NewBatch()
	b.DeleteContact(&moved)
	require.NoError(t, s.Commit(b))
	ids, err := s.ContactsByKey(ws, "e:ana@example.com", 10)
	require.NoError(t, err)
	require.Empty(t, ids, "a deleted contact leaves the index")
}
