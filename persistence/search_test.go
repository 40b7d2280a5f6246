package persistence

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// searchWriter writes conversations the way the actors do: each change is
// one batch with the messages, the header and IndexConversation.
type searchWriter struct {
	tb    testing.TB
	s     *Store
	ws    engine.ID
	convs map[engine.ID]*engine.Conversation
	n     int
}

func newSearchWriter(tb testing.TB, s *Store, ws engine.ID) *searchWriter {
	return &searchWriter{tb: tb, s: s, ws: ws, convs: map[engine.ID]*engine.Conversation{}}
}

// create starts a conversation with contact name, active at act, with
// the given message texts (one second apart, the last at act).
func (w *searchWriter) create(name string, act time.Time, texts ...string) *engine.Conversation {
	w.tb.Helper()
	w.n++
	c := newConv(w.ws, w.n, act)
	c.ContactName = name
	msgs := make([]engine.Message, len(texts))
	for i, text := range texts {
		msgs[i] = newMsg(&c, uint64(i+1), "") //nolint:gosec // small
		msgs[i].Text = text
		msgs[i].CreatedAt = act.Add(time.Duration(i+1-len(texts)) * time.Second)
	}
	c.LastSeq = uint64(len(texts))
	w.write(nil, &c, msgs, nil)
	w.convs[c.ID] = &c
	return &c
}

// say adds a message to c at time at.
func (w *searchWriter) say(c *engine.Conversation, at time.Time, text string) engine.Message {
	w.tb.Helper()
	old := c.Clone()
	c.LastSeq++
	c.LastActivityAt = at
	m := newMsg(c, c.LastSeq, "")
	m.Text, m.CreatedAt = text, at
	w.write(&old, c, []engine.Message{m}, nil)
	return m
}

func (w *searchWriter) write(old, c *engine.Conversation, msgs []engine.Message, p *engine.Profile) {
	w.tb.Helper()
	b := w.s.NewBatch()
	for i := range msgs {
		b.PutMessage(&msgs[i], c.Channel)
	}
	b.PutConversation(old, c)
	require.NoError(w.tb, w.s.IndexConversation(b, old, c, msgs, p))
	require.NoError(w.tb, w.s.Commit(b))
}

// search runs q (limit 100) and returns the hits.
func search(tb testing.TB, s *Store, ws engine.ID, q string) []SearchHit {
	tb.Helper()
	page, err := s.Search(ws, SearchQuery{Text: q, Limit: 100})
	require.NoError(tb, err, "query %q", q)
	require.Empty(tb, page.NextCursor)
	return page.Hits
}

// searchPlans are work bounds that send queries down every path of the
// plan with little data: complete terms ordered by seeks, intersections,
// membership scans, plain scans, and bounds so small that pages stop
// early (partial).
var searchPlans = []searchBounds{
	defaultSearchBounds,
	{selective: 2, intersect: 0, seekMax: 1000, scanEntries: 1 << 30, scanChecks: 1 << 30},
	{selective: 2, intersect: 40, seekMax: 1000, scanEntries: 1 << 30, scanChecks: 1 << 30},
	{selective: 2, intersect: 40, seekMax: 1, scanEntries: 1 << 30, scanChecks: 1 << 30},
	{selective: 12, intersect: 0, seekMax: 1, scanEntries: 1 << 30, scanChecks: 1 << 30},
	{selective: 0, intersect: 0, seekMax: 0, scanEntries: 1 << 30, scanChecks: 1 << 30},
	{selective: 12, intersect: 0, seekMax: 2, scanEntries: 5, scanChecks: 4},
	{selective: 0, intersect: 0, seekMax: 0, scanEntries: 3, scanChecks: 2},
}

func hitIDs(hits []SearchHit) []engine.ID {
	out := make([]engine.ID, len(hits))
	for i, h := range hits {
		out[i] = h.ConversationID
	}
	return out
}

func TestSearchContactName(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	jose := w.create("José Ñandú", at(time.Hour), "hola")
	w.create("Maria Jose", at(2*time.Hour), "oi")

	for _, q := range []string{"jose nandu", "JOSÉ ñandú", "nan", "Ñ", "josé n"} {
		hits := search(t, s, w.ws, q)
		require.Len(t, hits, 1, "query %q", q)
		require.Equal(t, jose.ID, hits[0].ConversationID)
		require.Equal(t, FieldName, hits[0].Field)
		require.Equal(t, "José Ñandú", hits[0].Snippet)
		require.Zero(t, hits[0].Seq)
		require.True(t, hits[0].At.Equal(at(time.Hour)))
	}
	require.Len(t, search(t, s, w.ws, "jose"), 2)
	require.Empty(t, search(t, s, w.ws, "andu"), "prefix, not substring")
}

func TestSearchContactFields(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	w := newSearchWriter(t, s, ws)
	w.create("Ana", at(time.Hour), "hi")
	w.n++
	c := newConv(ws, w.n, at(2*time.Hour))
	c.ExternalUserID = "15550102030" // a WhatsApp user id is the number
	w.write(nil, &c, nil, nil)
	w.convs[c.ID] = &c

	for _, q := range []string{"5550102030", "555", "+1 (555) 010-2030", "2030"} {
		hits := search(t, s, ws, q)
		require.Equal(t, []engine.ID{c.ID}, hitIDs(hits), "query %q", q)
		require.Equal(t, FieldPhone, hits[0].Field)
		require.Equal(t, "15550102030", hits[0].Snippet)
	}

	// A profile brings phone, email and company.
	old := c.Clone()
	w.write(&old, &c, nil, &engine.Profile{Name: "Beatriz Lima", Phone: "+55 (11) 98765-4321",
		Email: "bia.lima@acme.com.br", Company: "Açme Indústria"})
	for q, field := range map[string]SearchField{
		"beatriz":           FieldName,
		"acme":              FieldCompany,
		"industria":         FieldCompany,
		"bia.lima@acme":     FieldEmail,
		"lima@acme.com.br":  FieldEmail,
		"98765-4321":        FieldPhone,
		"11 98765 4321":     FieldPhone,
		"+55 11 98765-4321": FieldPhone,
		"beatriz acme":      FieldName,
	} {
		hits := search(t, s, ws, q)
		require.Equal(t, []engine.ID{c.ID}, hitIDs(hits), "query %q", q)
		require.Equal(t, field, hits[0].Field, "query %q", q)
	}
	hits := search(t, s, ws, "acme")
	require.Equal(t, "Açme Indústria", hits[0].Snippet)

	// An email channel's address is its email.
	w.n++
	e := newConv(ws, w.n, at(3*time.Hour))
	e.Channel, e.ExternalUserID = engine.ChannelEmail, "Zoe.Keller@Example.org"
	w.write(nil, &e, nil, nil)
	hits = search(t, s, ws, "zoe.keller@example.org")
	require.Equal(t, []engine.ID{e.ID}, hitIDs(hits))
	require.Equal(t, FieldEmail, hits[0].Field)
	require.Equal(t, []engine.ID{e.ID}, hitIDs(search(t, s, ws, "keller")))

	// A new profile replaces the old one's entries.
	old = c.Clone()
	w.write(&old, &c, nil, &engine.Profile{Name: "Beatriz Lima", Company: "Globex"})
	require.Empty(t, search(t, s, ws, "acme"))
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "globex")))
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "5550102030")), "the identity stays")
}

func TestSearchMessageText(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	c := w.create("Ana", at(time.Hour),
		"Olá! Gostaria de saber o PRAZO de entrega do meu pedido número 48213, obrigada.",
		"Meu endereço é Rua das Flores, 12",
		"Obrigada pela ajuda")
	hits := search(t, s, w.ws, "prazo")
	require.Len(t, hits, 1)
	require.Equal(t, FieldMessage, hits[0].Field)
	require.Equal(t, uint64(1), hits[0].Seq)
	require.Contains(t, hits[0].Snippet, "PRAZO de entrega")
	require.True(t, hits[0].At.Equal(at(time.Hour).Add(-2*time.Second)), hits[0].At)
	require.True(t, hits[0].LastActivityAt.Equal(at(time.Hour)))

	// The newest message holding the word gives the snippet.
	hits = search(t, s, w.ws, "obrigada")
	require.Equal(t, uint64(3), hits[0].Seq)
	require.Equal(t, "Obrigada pela ajuda", hits[0].Snippet)

	// Words from different messages: the conversation matches; the
	// message holding most of them is shown.
	hits = search(t, s, w.ws, "flores pedido")
	require.Equal(t, []engine.ID{c.ID}, hitIDs(hits))
	hits = search(t, s, w.ws, "prazo pedido flores")
	require.Equal(t, uint64(1), hits[0].Seq)

	// A contact word and a message word: the message is shown.
	hits = search(t, s, w.ws, "ana endereco")
	require.Equal(t, FieldMessage, hits[0].Field)
	require.Equal(t, uint64(2), hits[0].Seq)
	require.Contains(t, hits[0].Snippet, "endereço")

	// System events are not indexed; media captions, file names are.
	old := c.Clone()
	c.LastSeq += 2
	sys := newMsg(c, c.LastSeq-1, "")
	sys.Kind, sys.Sender, sys.Direction, sys.Text = engine.KindSystem, engine.Sender{Kind: engine.SenderSystem}, engine.DirInternal, "AI resumed"
	doc := newMsg(c, c.LastSeq, "")
	doc.Kind, doc.Text = engine.KindDocument, ""
	doc.Media = &engine.Media{Caption: "Nota fiscal", Filename: "nf-48213.pdf"}
	w.write(&old, c, []engine.Message{sys, doc}, nil)
	require.Empty(t, search(t, s, w.ws, "resumed"))
	require.Equal(t, doc.Seq, search(t, s, w.ws, "fiscal")[0].Seq)
	require.Equal(t, doc.Seq, search(t, s, w.ws, "nf 48213")[0].Seq)
}

func TestSearchMessagesInAnyOrder(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	w.n++
	c := newConv(w.ws, w.n, at(time.Hour))
	var msgs []engine.Message
	for seq := uint64(3); seq >= 1; seq-- {
		m := newMsg(&c, seq, "")
		m.Text = fmt.Sprintf("entrega %d", seq)
		msgs = append(msgs, m)
	}
	c.LastSeq = 3
	w.write(nil, &c, msgs, nil)
	require.Equal(t, uint64(3), search(t, s, w.ws, "entrega")[0].Seq)
}

func TestSearchStatusUpdateDoesNotReindex(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	c := w.create("Ana", at(time.Hour), "entrega hoje", "entrega amanhã")
	// An update of message 1 (a status change) passes it again.
	old := c.Clone()
	m, err := s.Message(w.ws, c.ID, 1)
	require.NoError(t, err)
	m.Status = engine.StatusRead
	w.write(&old, c, []engine.Message{m}, nil)
	require.Equal(t, uint64(2), search(t, s, w.ws, "entrega")[0].Seq)
}

func TestSearchNewestFirst(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	var convs []*engine.Conversation
	for i := range 5 {
		convs = append(convs, w.create(fmt.Sprintf("Cliente %d", i), at(time.Duration(i)*time.Minute), "quero um reembolso"))
	}
	want := []engine.ID{convs[4].ID, convs[3].ID, convs[2].ID, convs[1].ID, convs[0].ID}
	require.Equal(t, want, hitIDs(search(t, s, w.ws, "reembolso")))
	// A new message (on another subject) makes a conversation the newest.
	w.say(convs[1], at(time.Hour), "bom dia")
	want = []engine.ID{convs[1].ID, convs[4].ID, convs[3].ID, convs[2].ID, convs[0].ID}
	require.Equal(t, want, hitIDs(search(t, s, w.ws, "reembolso")))
	require.Equal(t, want, hitIDs(search(t, s, w.ws, "cliente")))
	// Both paths order the same way.
	for _, b := range searchPlans {
		got, _ := pages(t, s, w.ws, "reem", 100, b)
		require.Equal(t, want, got, "bounds %+v", b)
	}
}

func TestSearchAnd(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	both := w.create("Ana", at(time.Minute), "I want a refund", "for order 12")
	w.create("Bob", at(2*time.Minute), "refund please")
	w.create("Cid", at(3*time.Minute), "where is my order")
	bothOne := w.create("Dee", at(4*time.Minute), "refund my order now")
	want := []engine.ID{bothOne.ID, both.ID}
	require.Equal(t, want, hitIDs(search(t, s, w.ws, "refund order")))
	require.Equal(t, want, hitIDs(search(t, s, w.ws, "ORDER ref")))
	require.Empty(t, search(t, s, w.ws, "refund order xyz"))
	for _, b := range searchPlans {
		got, _ := pages(t, s, w.ws, "refund order", 100, b)
		require.Equal(t, want, got, "bounds %+v", b)
	}
	hits := search(t, s, w.ws, "refund order")
	require.Equal(t, "refund my order now", hits[0].Snippet)

	// A rare word drives, the common one is checked on its conversations.
	zebra := w.create("Eve", at(time.Second), "zebra", "no refund")
	w.create("Fay", at(2*time.Second), "zebra crossing")
	for _, b := range searchPlans {
		got, _ := pages(t, s, w.ws, "zebra refund", 100, b)
		require.Equal(t, []engine.ID{zebra.ID}, got, "bounds %+v", b)
		got, _ = pages(t, s, w.ws, "zebra ref", 1, b)
		require.Equal(t, []engine.ID{zebra.ID}, got, "bounds %+v", b)
	}
	page, err := s.search(w.ws, SearchQuery{Text: "zebra ref", Limit: 1},
		searchBounds{selective: 2, intersect: 0, seekMax: 1000, scanEntries: 1 << 30, scanChecks: 1 << 30})
	require.NoError(t, err)
	require.Equal(t, []engine.ID{zebra.ID}, hitIDs(page.Hits))
	require.Empty(t, page.NextCursor, "the driver's candidates are checked before a cursor is given")
}

func TestSearchWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w1 := newSearchWriter(t, s, idOf('w', 1))
	w2 := newSearchWriter(t, s, idOf('w', 2))
	c1 := w1.create("Paula", at(time.Minute), "segredo um")
	c2 := w2.create("Paula", at(time.Minute), "segredo dois")
	require.Equal(t, []engine.ID{c1.ID}, hitIDs(search(t, s, w1.ws, "segredo")))
	require.Equal(t, []engine.ID{c2.ID}, hitIDs(search(t, s, w2.ws, "segredo")))
	require.Equal(t, []engine.ID{c2.ID}, hitIDs(search(t, s, w2.ws, "paula")))
	require.Empty(t, search(t, s, w2.ws, "um"))
	require.Empty(t, search(t, s, idOf('w', 3), "paula"))
	for _, b := range searchPlans {
		got, _ := pages(t, s, w1.ws, "segredo", 100, b)
		require.Equal(t, []engine.ID{c1.ID}, got, "bounds %+v", b)
	}
}

// pages runs q through every page with bounds b, checking that no page
// repeats a conversation, and returns the concatenated hits.
func pages(tb testing.TB, s *Store, ws engine.ID, q string, limit int, b searchBounds) (all []engine.ID, partials int) {
	tb.Helper()
	cursor := ""
	for range 10_000 {
		page, err := s.search(ws, SearchQuery{Text: q, Limit: limit, Cursor: cursor}, b)
		require.NoError(tb, err)
		require.LessOrEqual(tb, len(page.Hits), limit)
		if page.Partial {
			partials++
		} else if page.NextCursor != "" {
			require.Len(tb, page.Hits, limit, "a full page unless partial")
		}
		all = append(all, hitIDs(page.Hits)...)
		if page.NextCursor == "" {
			return all, partials
		}
		cursor = page.NextCursor
	}
	tb.Fatal("pagination does not end")
	return nil, 0
}

func TestSearchPagination(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	var want []engine.ID
	for i := range 57 {
		// Pairs of conversations share an activity time: the id breaks
		// the tie.
		c := w.create("Cliente", at(time.Duration(i/2)*time.Minute), "pedido atrasado")
		want = append(want, c.ID)
		w.create("Outro", at(time.Duration(i/2)*time.Minute), "nada a ver")
		w.create("Outro", at(time.Duration(i/2)*time.Minute), "pedido entregue")
	}
	slices.SortFunc(want, func(a, b engine.ID) int {
		pa, pb := posOf(w.convs[a].LastActivityAt, a), posOf(w.convs[b].LastActivityAt, b)
		return bytes.Compare(pa[:], pb[:])
	})
	for _, b := range searchPlans {
		for _, limit := range []int{1, 10, 57, 100} {
			got, partials := pages(t, s, w.ws, "pedido atrasado", limit, b)
			require.Equal(t, want, got, "limit %d, bounds %+v", limit, b)
			if b.scanEntries > 1000 {
				require.Zero(t, partials)
			}
		}
	}
	// Work bounds small enough to stop pages early: partial pages, and
	// still every hit once, in order.
	got, partials := pages(t, s, w.ws, "pedido atrasado", 10, searchPlans[len(searchPlans)-1])
	require.Equal(t, want, got)
	require.NotZero(t, partials)
}

func TestSearchUnindex(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	w := newSearchWriter(t, s, ws)
	gone := w.create("Zé Gone", at(time.Minute), "apagar tudo", "+1 (555) 010-2030")
	keep := w.create("Zé Keep", at(2*time.Minute), "manter tudo")
	require.Len(t, search(t, s, ws, "tudo"), 2)

	ids, err := s.ChannelMessageIDs(ws, gone.ID)
	require.NoError(t, err)
	b := s.NewBatch()
	b.DeleteConversation(gone, ids)
	require.NoError(t, s.UnindexConversation(b, ws, gone.ID))
	require.NoError(t, s.Commit(b))

	for _, q := range []string{"tudo", "ze", "apagar", "5550102030", "gone"} {
		for _, bounds := range searchPlans {
			got, _ := pages(t, s, ws, q, 100, bounds)
			for _, id := range got {
				require.Equal(t, keep.ID, id, "query %q", q)
			}
		}
	}
	// Nothing of the conversation is left in the search keyspace.
	for _, k := range rawKeys(t, s, wsPrefix(ws, tSearch)) {
		require.False(t, bytes.Contains(k, gone.ID[:]), "left %x", k)
	}
}

func TestSearchReindex(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	c := w.create("Rita Lee", at(time.Minute), "mutantes", "ovelha negra")
	// Written without the index (as before it existed).
	w.n++
	plain := newConv(w.ws, w.n, at(2*time.Minute))
	plain.ContactName = "Rita Pavone"
	plain.LastSeq = 2
	m1, m2 := newMsg(&plain, 1, ""), newMsg(&plain, 2, "")
	m1.Text, m2.Text = "cuore", "ovelha"
	commit(t, s, func(b *Batch) {
		b.PutConversation(nil, &plain)
		b.PutMessage(&m1, plain.Channel)
		b.PutMessage(&m2, plain.Channel)
	})
	w.convs[plain.ID] = &plain
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, w.ws, "rita")))
	indexed, err := s.SearchIndexed(w.ws, plain.ID)
	require.NoError(t, err)
	require.False(t, indexed)
	indexed, err = s.SearchIndexed(w.ws, c.ID)
	require.NoError(t, err)
	require.True(t, indexed)
	before := rawKeys(t, s, wsPrefix(w.ws, tSearch))
	for _, conv := range []*engine.Conversation{c, &plain} {
		b := s.NewBatch()
		require.NoError(t, s.ReindexConversation(b, conv, nil))
		require.NoError(t, s.Commit(b))
	}
	require.Equal(t, []engine.ID{plain.ID, c.ID}, hitIDs(search(t, s, w.ws, "rita")))
	require.Equal(t, []engine.ID{plain.ID, c.ID}, hitIDs(search(t, s, w.ws, "ovelha")))
	require.Equal(t, uint64(2), search(t, s, w.ws, "ovelha")[0].Seq)
	// Reindexing an indexed conversation changes nothing.
	var without [][]byte
	for _, k := range rawKeys(t, s, wsPrefix(w.ws, tSearch)) {
		if !bytes.Contains(k, plain.ID[:]) {
			without = append(without, k)
		}
	}
	require.Equal(t, before, without)
}

func TestSearchRename(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	w := newSearchWriter(t, s, idOf('w', 1))
	c := w.create("Carla Souza", at(time.Minute), "falar com souza amanhã")
	old := c.Clone()
	c.ContactName = "Carla Mendes"
	w.write(&old, c, nil, nil)
	require.Len(t, search(t, s, w.ws, "mendes"), 1)
	hits := search(t, s, w.ws, "souza")
	require.Len(t, hits, 1, "still in a message")
	require.Equal(t, FieldMessage, hits[0].Field)
	// A rename and, in the same batch, a message with the old name.
	old = c.Clone()
	c.ContactName = "Carla Prado"
	c.LastSeq++
	m := newMsg(c, c.LastSeq, "")
	m.Text = "mendes aqui"
	w.write(&old, c, []engine.Message{m}, nil)
	require.Len(t, search(t, s, w.ws, "prado"), 1)
	require.Len(t, search(t, s, w.ws, "mendes"), 1)
	require.Equal(t, FieldMessage, search(t, s, w.ws, "mendes")[0].Field)
	old = c.Clone()
	c.ContactName = ""
	w.write(&old, c, nil, nil)
	require.Empty(t, search(t, s, w.ws, "prado"))
}

func TestSearchBadInput(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	for _, q := range []string{"", "   ", "!!! 😀", strings.Repeat("a", engine.MaxQueryBytes+1), "\xff", "a b c d e f g h i"} {
		_, err := s.Search(ws, SearchQuery{Text: q})
		require.ErrorIs(t, err, engine.ErrInvalid, "query %q", q)
	}
	for _, c := range []string{"!", "AAAA", encodeSearchCursor(searchPos{})[1:], "A" + encodeSearchCursor(searchPos{})} {
		_, err := s.Search(ws, SearchQuery{Text: "x", Cursor: c})
		require.ErrorIs(t, err, ErrBadCursor, "cursor %q", c)
	}
	page, err := s.Search(ws, SearchQuery{Text: "x", Cursor: encodeSearchCursor(searchPos{}), Limit: 1000})
	require.NoError(t, err)
	require.Empty(t, page.Hits)
}

// TestSearchModel checks random searches over random conversations
// against a brute-force model, on both query paths and across pages.
func TestSearchModel(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	s := openStore(t)
	ws := idOf('w', 1)
	w := newSearchWriter(t, s, ws)
	vocab := []string{"pedido", "pedimos", "pé", "entrega", "entregue", "Ñandú", "nada", "olá", "obrigada",
		"reembolso", "refund", "order", "ordem", "東京", "café", "cafeteria", "São", "saldo", "555-0102"}
	names := []string{"José", "Maria José", "Ana", "Ñusta", "Pedro Café", ""}
	texts := map[engine.ID][]string{}
	words := func() string {
		n := 1 + rng.IntN(4)
		ws := make([]string, n)
		for i := range ws {
			ws[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(ws, " ")
	}
	var convs []*engine.Conversation
	for range 60 {
		var ms []string
		for range rng.IntN(4) {
			ms = append(ms, words())
		}
		c := w.create(names[rng.IntN(len(names))], at(time.Duration(rng.IntN(100))*time.Minute), ms...)
		texts[c.ID] = append([]string{c.ContactName}, ms...)
		convs = append(convs, c)
	}
	for range 60 { // later activity: new messages, renames
		c := convs[rng.IntN(len(convs))]
		if rng.IntN(4) == 0 {
			old := c.Clone()
			c.ContactName = names[rng.IntN(len(names))]
			c.LastActivityAt = c.LastActivityAt.Add(time.Minute)
			w.write(&old, c, nil, nil)
			texts[c.ID][0] = c.ContactName
			continue
		}
		text := words()
		w.say(c, c.LastActivityAt.Add(time.Duration(1+rng.IntN(50))*time.Minute), text)
		texts[c.ID] = append(texts[c.ID], text)
	}
	model := func(q string) []engine.ID {
		terms := engine.NormalizeQuery(q)
		var out []engine.ID
		for _, c := range convs {
			var toks []string
			for _, t := range texts[c.ID] {
				toks = append(toks, engine.Tokens(t)...)
			}
			toks = append(toks, engine.PhoneTokens(c.ExternalUserID)...)
			all := true
			for _, term := range terms {
				if !slices.ContainsFunc(toks, func(tok string) bool { return strings.HasPrefix(tok, term) }) {
					all = false
				}
			}
			if all {
				out = append(out, c.ID)
			}
		}
		slices.SortFunc(out, func(a, b engine.ID) int {
			pa, pb := posOf(w.convs[a].LastActivityAt, a), posOf(w.convs[b].LastActivityAt, b)
			return bytes.Compare(pa[:], pb[:])
		})
		return out
	}
	queries := []string{"p", "pe", "ped", "PEDIDO", "pedido entrega", "entreg", "nandu", "ñ", "nada nandu", "ola", "cafe",
		"café pedro", "jose", "maria jose", "sao", "東", "refund order", "ord", "5550102", "555", "zzz", "o", "e r"}
	for range 20 {
		first := []rune(vocab[rng.IntN(len(vocab))])[:1]
		queries = append(queries, string(first)+" "+vocab[rng.IntN(len(vocab))])
	}
	for _, q := range queries {
		want := model(q)
		for _, b := range searchPlans {
			for _, limit := range []int{3, 100} {
				got, _ := pages(t, s, ws, q, limit, b)
				if len(want) == 0 {
					require.Empty(t, got, "query %q bounds %+v", q, b)
					continue
				}
				require.Equal(t, want, got, "query %q bounds %+v limit %d", q, b, limit)
			}
		}
		// Every hit's snippet shows a match (or is a contact field).
		for _, h := range search(t, s, ws, q) {
			require.NotEmpty(t, h.Snippet, "query %q", q)
		}
	}
}

func TestSearchClosed(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Search(idOf('w', 1), SearchQuery{Text: "x"})
	require.ErrorIs(t, err, ErrClosed)
}

// TestSearchConcurrentWrites searches while conversations change: every
// hit must match, with no error, whatever the interleaving.
func TestSearchConcurrentWrites(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	w := newSearchWriter(t, s, ws)
	var convs []*engine.Conversation
	for i := range 20 {
		convs = append(convs, w.create(fmt.Sprintf("Cliente %d", i), at(time.Duration(i)*time.Second), "primeira mensagem"))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			c := convs[i%len(convs)]
			w.say(c, c.LastActivityAt.Add(time.Minute), fmt.Sprintf("mensagem %d sobre entrega", i))
		}
	}()
	for {
		select {
		case <-done:
			require.Len(t, search(t, s, ws, "entrega"), len(convs))
			return
		default:
		}
		for _, b := range searchPlans[:3] {
			page, err := s.search(ws, SearchQuery{Text: "mensagem entrega", Limit: 5}, b)
			require.NoError(t, err)
			for _, h := range page.Hits {
				require.Equal(t, FieldMessage, h.Field)
				require.Contains(t, h.Snippet, "entrega")
			}
		}
	}
}
