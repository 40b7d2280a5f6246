package persistence

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// Search index: conversations by contact name, phone, email, company and
// message text (see engine.Tokens for how text becomes tokens and
// engine.NormalizeQuery for queries). Keys, under the workspace prefix:
//
//	'w' ws 'S' 't' token conv                inverted: conv holds token
//	'w' ws 'S' 'f' conv 0x00 'k'             contact fields indexed for conv
//	'w' ws 'S' 'f' conv 0x01 token 'c'       forward: token is in conv's contact
//	                                         fields → field mask (1 byte)
//	'w' ws 'S' 'f' conv 0x01 token 'm'       forward: token is in conv's messages
//	                                         → seq of the newest such (8 bytes)
//	'w' ws 'S' 'A' conv                      → last activity (8 bytes, unix nanos)
//	'w' ws 'S' 'a' ^activity conv            conversations, most recent activity first
//
// The index holds one entry per (token, conversation), not per message: a
// word repeated in a thousand messages of a conversation is two keys,
// rewritten in place. Writing a message only sets keys (no reads); the
// forward entries know the newest message of each token, which gives the
// snippet, and every token of a conversation, which makes deleting it
// exact.
const (
	tSearch = 'S'

	sInverted   = 't'
	sForward    = 'f'
	sActivityOf = 'A'
	sActivity   = 'a'

	fRecord = 0x00
	fToken  = 0x01

	kindContact = 'c'
	kindMessage = 'm'
)

// SearchField names where a search hit matched.
type SearchField string

// Search fields.
const (
	FieldName    SearchField = "name"
	FieldPhone   SearchField = "phone"
	FieldEmail   SearchField = "email"
	FieldCompany SearchField = "company"
	FieldMessage SearchField = "message"
)

// Contact field bits of a forward contact entry.
const (
	maskName    byte = 1
	maskPhone   byte = 2
	maskEmail   byte = 4
	maskCompany byte = 8
)

// fieldOrder is the order a contact hit's field is chosen in.
var fieldOrder = []struct {
	mask  byte
	field SearchField
}{{maskName, FieldName}, {maskCompany, FieldCompany}, {maskEmail, FieldEmail}, {maskPhone, FieldPhone}}

// Work bounds of one Search call. They keep a query's cost bounded
// whatever the data and the query: at most
// len(terms)*selectiveMax+intersectMax inverted entries read in order,
// seekMax activity lookups, scanMaxEntries activity entries read in order
// and scanMaxChecks forward seeks. The plan (see Store.Search) picks the
// cheapest way to fill a page within them.
const (
	// selectiveMax is how many inverted entries of each term are read
	// first. A term with at most this many is complete: its conversations
	// are the candidates.
	selectiveMax = 10_000
	// intersectMax is how many more inverted entries a query of several
	// words reads, over all its terms, when none is complete or the
	// complete ones have more than seekMax conversations: two common
	// names ("josé silva") have few conversations in common, which the
	// intersection finds where a scan would not.
	intersectMax = 60_000
	// seekMax is the most candidates ordered by looking their activity
	// up one by one; more are ordered by scanning the activity list and
	// keeping the candidates met.
	seekMax = 2_000
	// scanMaxEntries bounds the activity entries a scan reads, and
	// scanMaxChecks the term checks (one forward seek each) it makes.
	// When one is reached the page is returned as it is, with Partial
	// set and a cursor to continue from.
	scanMaxEntries = 150_000
	scanMaxChecks  = 6_000
	// hitScanMax bounds the forward entries read per term to build a
	// hit's snippet.
	hitScanMax = 256
	// maxSearchTerms is the most words a query may have.
	maxSearchTerms = 8
)

// appendPrefix writes s escaped like appendString but without the
// terminator: the keys of every string that starts with s start with it.
func appendPrefix(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xFF)
		} else {
			b = append(b, s[i])
		}
	}
	return b
}

// decodeString reads an appendString-encoded string from the front of b.
func decodeString(b []byte) (string, []byte, bool) {
	var s []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			s = append(s, b[i])
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case 0xFF:
			s = append(s, 0)
			i++
		case 0x01:
			return string(s), b[i+2:], true
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

func searchPrefix(ws engine.ID, sub byte) []byte { return append(wsPrefix(ws, tSearch), sub) }

func invertedKey(ws engine.ID, tok string, conv engine.ID) []byte {
	return append(appendString(searchPrefix(ws, sInverted), tok), conv[:]...)
}

func invertedTermPrefix(ws engine.ID, term string) []byte {
	return appendPrefix(searchPrefix(ws, sInverted), term)
}

func forwardPrefix(ws, conv engine.ID) []byte { return append(searchPrefix(ws, sForward), conv[:]...) }

func forwardRecordKey(ws, conv engine.ID) []byte {
	return append(forwardPrefix(ws, conv), fRecord, 'k')
}

func forwardTokenKey(ws, conv engine.ID, tok string, kind byte) []byte {
	return append(appendString(append(forwardPrefix(ws, conv), fToken), tok), kind)
}

func forwardTermPrefix(ws, conv engine.ID, term string) []byte {
	return appendPrefix(append(forwardPrefix(ws, conv), fToken), term)
}

func activityOfKey(ws, conv engine.ID) []byte {
	return append(searchPrefix(ws, sActivityOf), conv[:]...)
}

func activityKey(ws engine.ID, act time.Time, conv engine.ID) []byte {
	return append(appendTimeDesc(searchPrefix(ws, sActivity), act), conv[:]...)
}

// searchPos is a conversation's place in search order: most recent
// activity first, then by id. It is the tail of its activity key.
type searchPos [24]byte

func posOf(act time.Time, conv engine.ID) searchPos {
	var p searchPos
	binary.BigEndian.PutUint64(p[:8], math.MaxUint64-uint64(act.UnixNano())) //nolint:gosec // see appendTime
	copy(p[8:], conv[:])
	return p
}

func (p searchPos) activity() time.Time {
	return time.Unix(0, int64(math.MaxUint64-binary.BigEndian.Uint64(p[:8]))) //nolint:gosec // written from UnixNano
}

// contactRecord is what a conversation's contact fields were indexed
// from: the conversation's contact name, its channel identity (a WhatsApp
// number, an email address) and the contact profile given last.
type contactRecord struct {
	Name           string          `json:"name,omitempty"`
	Channel        engine.Channel  `json:"channel,omitempty"`
	ExternalUserID string          `json:"external_user_id,omitempty"`
	Profile        *contactProfile `json:"profile,omitempty"`
}

type contactProfile struct {
	Name    string `json:"name,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Email   string `json:"email,omitempty"`
	Company string `json:"company,omitempty"`
}

type fieldValue struct {
	mask  byte
	value string
}

// values lists the record's indexed fields.
func (r *contactRecord) values() []fieldValue {
	var out []fieldValue
	add := func(mask byte, v string) {
		if v != "" && !slices.Contains(out, fieldValue{mask, v}) {
			out = append(out, fieldValue{mask, v})
		}
	}
	add(maskName, r.Name)
	if p := r.Profile; p != nil {
		add(maskName, p.Name)
		add(maskCompany, p.Company)
		add(maskEmail, p.Email)
		add(maskPhone, p.Phone)
	}
	switch r.Channel {
	case engine.ChannelWhatsApp:
		add(maskPhone, r.ExternalUserID)
	case engine.ChannelEmail:
		add(maskEmail, r.ExternalUserID)
	}
	return out
}

func fieldTokens(f fieldValue) []string {
	if f.mask == maskPhone {
		return engine.PhoneTokens(f.value)
	}
	return engine.Tokens(f.value)
}

// tokens returns the record's tokens with the fields each is in.
func (r *contactRecord) tokens() map[string]byte {
	out := map[string]byte{}
	for _, f := range r.values() {
		for _, t := range fieldTokens(f) {
			out[t] |= f.mask
		}
	}
	return out
}

// searchable reports whether message m is indexed: system events are not.
func searchable(m *engine.Message) bool {
	return m.Kind != engine.KindSystem && m.Sender.Kind != engine.SenderSystem
}

// indexMessages sets the index entries of messages msgs of one
// conversation: per token, the inverted entry and the forward entry with
// the newest seq holding it. Only sets: a token already indexed for the
// conversation is overwritten in place.
func (b *Batch) indexMessages(ws, conv engine.ID, msgs []*engine.Message) {
	newest := map[string]uint64{}
	var order []string
	for _, m := range msgs {
		if !searchable(m) {
			continue
		}
		for _, t := range engine.Tokens(m.SearchText()) {
			seq, ok := newest[t]
			if !ok {
				order = append(order, t)
			}
			newest[t] = max(seq, m.Seq)
		}
	}
	r := convRef{ws, conv}
	for _, t := range order {
		seq := newest[t]
		if b.proj != nil {
			// Written already, and recently enough for snippets.
			if had, ok := b.s.tokens.seq(r, t); ok && seq < had+snippetLag {
				continue
			}
			b.proj.learn(r, t, seq)
		}
		b.setRaw(invertedKey(ws, t, conv), nil)
		b.setRaw(forwardTokenKey(ws, conv, t, kindMessage), appendUint64(nil, seq))
	}
}

// IndexConversation brings the search index of conversation cur up to
// date in batch b. Call it once per batch that writes the conversation,
// next to Batch.PutConversation, with:
//
//   - old, the header before the batch (nil for a new conversation), and
//     cur, the header after it;
//   - msgs, the messages the batch writes, in any order: those with a
//     seq above old.LastSeq (all of them for a new conversation) are
//     indexed, the others (status updates) are skipped, so passing every
//     written message is fine;
//   - profile, the contact's profile when the caller knows it changed
//     (phone, email, company, name), nil otherwise.
//
// The conversation's contact name and channel identity (a WhatsApp
// number, an email channel's address) come from cur. It reads the
// conversation's indexed contact fields when they may change (a new
// profile, a new contact name); otherwise it only writes.
func (s *Store) IndexConversation(b *Batch, old, cur *engine.Conversation, msgs []engine.Message, profile *engine.Profile) error {
	if b.err != nil {
		return nil // the batch is refused at commit anyway
	}
	ws, conv := cur.WorkspaceID, cur.ID
	if old == nil || !old.LastActivityAt.Equal(cur.LastActivityAt) {
		if old != nil {
			b.del(activityKey(ws, old.LastActivityAt, conv))
		}
		b.setRaw(activityKey(ws, cur.LastActivityAt, conv), nil)
		b.setRaw(activityOfKey(ws, conv), appendTime(nil, cur.LastActivityAt))
	}
	// Contact fields first: entries they drop are deleted before the
	// messages below set theirs, so a token moving from the contact name
	// into a message in this batch stays indexed.
	if old == nil || old.ContactName != cur.ContactName || profile != nil {
		if err := s.indexContact(b, old == nil, cur, profile); err != nil {
			return err
		}
	}
	var fresh []*engine.Message
	for i := range msgs {
		if m := &msgs[i]; m.ConversationID == conv && (old == nil || m.Seq > old.LastSeq) {
			fresh = append(fresh, m)
		}
	}
	if len(fresh) > 0 {
		b.indexMessages(ws, conv, fresh)
	}
	b.setRaw(forwardStateKey(ws, conv), searchStateValue(cur))
	if b.proj != nil {
		b.proj.indexed(convRef{ws, conv}, indexedView(cur, cur.LastSeq, cur.ContactName, cur.LastActivityAt))
	}
	return nil
}

// indexContact rewrites the contact field entries of conversation cur.
func (s *Store) indexContact(b *Batch, created bool, cur *engine.Conversation, profile *engine.Profile) error {
	ws, conv := cur.WorkspaceID, cur.ID
	var was contactRecord
	known := false
	if !created {
		v, ok, err := s.getRaw(forwardRecordKey(ws, conv))
		if err != nil {
			return err
		}
		if ok {
			if err := decode(v, &was); err != nil {
				return fmt.Errorf("reading search record of %s: %w", conv, err)
			}
			known = true
		}
	}
	next := was
	next.Name = cur.ContactName
	next.Channel, next.ExternalUserID = cur.Channel, cur.ExternalUserID
	if profile != nil {
		next.Profile = &contactProfile{Name: profile.Name, Phone: profile.Phone, Email: profile.Email, Company: profile.Company}
	}
	oldToks, newToks := was.tokens(), next.tokens()
	for t := range oldToks {
		if _, ok := newToks[t]; ok {
			continue
		}
		b.del(forwardTokenKey(ws, conv, t, kindContact))
		// The inverted entry stays while the conversation's messages
		// hold the token too.
		_, inMessages, err := s.getRaw(forwardTokenKey(ws, conv, t, kindMessage))
		if err != nil {
			return err
		}
		if !inMessages {
			b.del(invertedKey(ws, t, conv))
		}
	}
	for t, mask := range newToks {
		if was, ok := oldToks[t]; ok && was == mask {
			continue
		}
		b.setRaw(forwardTokenKey(ws, conv, t, kindContact), []byte{mask})
		b.setRaw(invertedKey(ws, t, conv), nil)
	}
	if !known || !equalRecords(&was, &next) {
		b.set(forwardRecordKey(ws, conv), &next)
	}
	return nil
}

func equalRecords(a, b *contactRecord) bool {
	if a.Name != b.Name || a.Channel != b.Channel || a.ExternalUserID != b.ExternalUserID {
		return false
	}
	if a.Profile == nil || b.Profile == nil {
		return a.Profile == b.Profile
	}
	return *a.Profile == *b.Profile
}

// UnindexConversation removes every search entry of conversation conv in
// batch b. Call it next to Batch.DeleteConversation.
func (s *Store) UnindexConversation(b *Batch, ws, conv engine.ID) error {
	r := convRef{ws, conv}
	s.tokens.forget(r)
	if b.proj != nil {
		b.proj.drop(r)
	}
	p := forwardPrefix(ws, conv)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return err
	}
	last := ""
	for ok := it.SeekGE(append(bytes.Clone(p), fToken)); ok; ok = it.Next() {
		tok, _, ok := decodeString(it.Key()[len(p)+1:])
		if !ok {
			_ = it.Close()
			return fmt.Errorf("%w: search key %x", ErrCorrupt, it.Key())
		}
		if tok != last { // a token's 'c' and 'm' entries are adjacent
			b.del(invertedKey(ws, tok, conv))
			last = tok
		}
	}
	if err := iterErr(it); err != nil {
		_ = it.Close()
		return err
	}
	_ = it.Close()
	v, ok, err := s.getRaw(activityOfKey(ws, conv))
	if err != nil {
		return err
	}
	if ok && len(v) == 8 {
		b.del(activityKey(ws, timeOf(v), conv))
	}
	b.del(activityOfKey(ws, conv))
	b.delPrefix(p)
	return nil
}

// ReindexConversation rebuilds the search entries of conversation c in
// batch b from its stored messages: for conversations written before
// they were indexed, or after a change of engine.Tokens. It reads every
// message of c; profile is as for IndexConversation.
func (s *Store) ReindexConversation(b *Batch, c *engine.Conversation, profile *engine.Profile) error {
	if err := s.UnindexConversation(b, c.WorkspaceID, c.ID); err != nil {
		return err
	}
	var msgs []engine.Message
	for before := uint64(0); ; {
		page, err := s.Messages(c.WorkspaceID, c.ID, before, 500)
		if err != nil {
			return err
		}
		msgs = append(msgs, page...)
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].Seq
	}
	// Entries set after the deletions above win within the batch.
	return s.IndexConversation(b, nil, c, msgs, profile)
}

// SearchIndexed reports whether conversation conv has search entries
// (IndexConversation was called for it): a startup migration reindexes
// those that do not.
func (s *Store) SearchIndexed(ws, conv engine.ID) (bool, error) {
	_, ok, err := s.getRaw(activityOfKey(ws, conv))
	return ok, err
}

// SearchQuery is a search over a workspace's conversations.
//
// Text is split into terms (engine.NormalizeQuery): case and accents do
// not matter, and each term matches the words it starts ("nan" finds
// "Ñandú"). A conversation matches when every term matches its contact's
// name, phone, email or company, or the text of one of its messages (not
// necessarily the same message).
type SearchQuery struct {
	Text   string
	Cursor string
	Limit  int // 1 to 100; zero means 20
}

// SearchHit is one matching conversation: where it matched and a snippet
// of the match.
type SearchHit struct {
	ConversationID engine.ID
	// Field is where the snippet comes from: a contact field when every
	// term matches the contact, else "message".
	Field SearchField
	// Seq is the message of the snippet; 0 for a contact field.
	Seq uint64
	// Snippet is about engine.SnippetRunes runes of the field or message
	// around the first match, in its own case and accents.
	Snippet string
	// At is when the message was created, or the conversation's last
	// activity for a contact field.
	At             time.Time
	LastActivityAt time.Time
}

// SearchPage is one page of hits, conversations with the most recent
// activity first (the inbox's own order), one hit per conversation.
// NextCursor is empty on the last page. Partial is set when the search
// stopped at its work bound before filling the page: more hits may
// follow from NextCursor.
type SearchPage struct {
	Hits       []SearchHit
	NextCursor string
	Partial    bool
}

const searchCursorVersion = 1

func encodeSearchCursor(p searchPos) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{searchCursorVersion}, p[:]...))
}

func decodeSearchCursor(s string) (searchPos, error) {
	var p searchPos
	c, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(c) != 1+len(p) || c[0] != searchCursorVersion {
		return p, ErrBadCursor
	}
	copy(p[:], c[1:])
	return p, nil
}

// Search returns a page of the conversations of workspace ws that match
// q, most recent activity first. An empty query, one with nothing to
// search for, longer than engine.MaxQueryBytes or with more than 8 words
// is refused with an error wrapping engine.ErrInvalid; a cursor this
// store did not hand out with ErrBadCursor.
//
// Plan. Each term's inverted entries are read, up to selectiveMax; for
// several words of which none is complete (or the complete ones have
// many conversations), further, up to intersectMax in all. If a term is complete, the conversations of the smallest
// complete one, less those missing from the other complete ones, are the
// candidates; the other terms are checked on them (a forward seek each).
// Up to seekMax candidates are ordered by looking their activity up;
// more are met by scanning conversations by activity. With no complete
// term, conversations are scanned by activity and each is checked: then
// every term matches more than selectiveMax conversations, so the
// scan meets matches often.
func (s *Store) Search(ws engine.ID, q SearchQuery) (SearchPage, error) {
	return s.search(ws, q, defaultSearchBounds)
}

// searchBounds are a search's work bounds (see the constants); tests
// lower them to reach every path with little data.
type searchBounds struct{ selective, intersect, seekMax, scanEntries, scanChecks int }

var defaultSearchBounds = searchBounds{
	selective: selectiveMax, intersect: intersectMax, seekMax: seekMax,
	scanEntries: scanMaxEntries, scanChecks: scanMaxChecks,
}

func (s *Store) search(ws engine.ID, q SearchQuery, bounds searchBounds) (SearchPage, error) {
	if len(q.Text) > engine.MaxQueryBytes || !utf8.ValidString(q.Text) {
		return SearchPage{}, fmt.Errorf("%w: a search query is valid UTF-8 of at most %d bytes", engine.ErrInvalid, engine.MaxQueryBytes)
	}
	terms := engine.NormalizeQuery(q.Text)
	switch {
	case len(terms) == 0:
		return SearchPage{}, fmt.Errorf("%w: the search query has no letters or digits", engine.ErrInvalid)
	case len(terms) > maxSearchTerms:
		return SearchPage{}, fmt.Errorf("%w: a search query has at most %d words", engine.ErrInvalid, maxSearchTerms)
	}
	switch {
	case q.Limit <= 0:
		q.Limit = 20
	case q.Limit > 100:
		q.Limit = 100
	}
	var after *searchPos
	if q.Cursor != "" {
		p, err := decodeSearchCursor(q.Cursor)
		if err != nil {
			return SearchPage{}, err
		}
		after = &p
	}
	// Messages the search skipped as corrupt are quarantined once the
	// snapshot is released (deferred first, so it runs last).
	var bad []corruptRecord
	defer func() { s.quarantine(bad) }()
	if err := s.enter(); err != nil {
		return SearchPage{}, err
	}
	defer s.leave()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	r := &searcher{snap: snap, ws: ws, terms: terms, limit: q.Limit, after: after, bounds: bounds}
	defer r.close()
	page, err := r.run()
	bad = r.bad
	if err != nil {
		return SearchPage{}, fmt.Errorf("searching: %w", err)
	}
	return page, nil
}

// searcher runs one search over a snapshot.
type searcher struct {
	snap   *pebble.Snapshot
	ws     engine.ID
	terms  []string
	limit  int
	after  *searchPos
	bounds searchBounds
	fwd    *pebble.Iterator // forward entries, opened on first use
	// bad are the messages skipped because they do not decode.
	bad []corruptRecord
}

func (r *searcher) close() {
	if r.fwd != nil {
		_ = r.fwd.Close()
	}
}

// candidate is a conversation that matches, or may.
type candidate struct {
	pos  searchPos
	conv engine.ID
}

func (r *searcher) iter(lower, upper []byte) (*pebble.Iterator, error) {
	it, err := r.snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("persistence: iterator: %w", err)
	}
	return it, nil
}

// termSet is what the inverted index says about a term: the
// conversations holding it (unsorted, maybe repeated for a term several
// tokens start with), all of them when full.
type termSet struct {
	term  string
	convs []engine.ID
	full  bool
	last  []byte // the last key read, to read further from
}

func (r *searcher) run() (SearchPage, error) {
	// Read each term's conversations, up to the selective bound; longer
	// terms first, as they tend to be rarer.
	order := slices.Clone(r.terms)
	slices.SortStableFunc(order, func(a, b string) int { return len(b) - len(a) })
	sets := make([]termSet, len(order))
	for i, t := range order {
		sets[i].term = t
		if err := r.gather(&sets[i], r.bounds.selective); err != nil {
			return SearchPage{}, err
		}
		if sets[i].full && len(sets[i].convs) == 0 {
			return SearchPage{}, nil // a term nothing holds: no match
		}
	}
	driver := smallestFull(sets)
	incomplete := slices.ContainsFunc(sets, func(ts termSet) bool { return !ts.full })
	if len(sets) > 1 && incomplete && (driver < 0 || len(sets[driver].convs) > r.bounds.seekMax) {
		// Several words, none complete, or the complete ones too many to
		// look up ("josé silva": two common names, few conversations
		// with both): read the others further, within one budget for
		// all, so that more are complete and intersect.
		budget := r.bounds.intersect
		for i := range sets {
			n := len(sets[i].convs)
			if err := r.gather(&sets[i], n+max(budget, 0)); err != nil {
				return SearchPage{}, err
			}
			budget -= len(sets[i].convs) - n
		}
		driver = smallestFull(sets)
	}
	var hits []candidate
	var page SearchPage
	var err error
	if driver < 0 {
		hits, page.Partial, page.NextCursor, err = r.scan(nil, r.terms)
	} else {
		// The driver's conversations, less those missing from the other
		// complete sets, are the candidates; the other terms are checked
		// on them.
		member := make(map[engine.ID]struct{}, len(sets[driver].convs))
		for _, id := range sets[driver].convs {
			member[id] = struct{}{}
		}
		var check []string
		for i, ts := range sets {
			switch {
			case i == driver:
			case ts.full:
				keep := make(map[engine.ID]struct{}, min(len(member), len(ts.convs)))
				for _, id := range ts.convs {
					if _, ok := member[id]; ok {
						keep[id] = struct{}{}
					}
				}
				member = keep
			default:
				check = append(check, ts.term)
			}
		}
		slices.Sort(check) // forward seeks within a conversation go forward
		if len(member) <= r.bounds.seekMax {
			hits, err = r.seekOrder(member, check)
		} else {
			hits, page.Partial, page.NextCursor, err = r.scan(member, check)
		}
	}
	if err != nil {
		return SearchPage{}, err
	}
	if len(hits) > r.limit {
		hits = hits[:r.limit]
		page.NextCursor = encodeSearchCursor(hits[len(hits)-1].pos)
	}
	for _, c := range hits {
		h, ok, err := r.hit(c)
		if err != nil {
			return SearchPage{}, err
		}
		if ok {
			page.Hits = append(page.Hits, h)
		}
	}
	return page, nil
}

// smallestFull returns the index of the complete set with the fewest
// entries, or -1.
func smallestFull(sets []termSet) int {
	best := -1
	for i, ts := range sets {
		if ts.full && (best < 0 || len(ts.convs) < len(sets[best].convs)) {
			best = i
		}
	}
	return best
}

// gather reads the inverted entries of ts.term on from where it stopped,
// until ts holds limit entries or all of them (then ts.full is set).
func (r *searcher) gather(ts *termSet, limit int) error {
	if ts.full || len(ts.convs) >= limit && ts.last != nil {
		return nil
	}
	p := invertedTermPrefix(r.ws, ts.term)
	lower := p
	if ts.last != nil {
		lower = append(bytes.Clone(ts.last), 0) // strictly after
	}
	it, err := r.iter(lower, prefixEnd(p))
	if err != nil {
		return err
	}
	defer it.Close()
	ok := it.First()
	for ; ok && len(ts.convs) < limit; ok = it.Next() {
		k := it.Key()
		if len(k) < len(p)+2+16 {
			return fmt.Errorf("%w: search key %x", ErrCorrupt, k)
		}
		var id engine.ID
		copy(id[:], k[len(k)-16:])
		ts.convs = append(ts.convs, id)
		ts.last = append(ts.last[:0], k...)
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("persistence: iterating: %w", err)
	}
	if ts.last == nil {
		ts.last = bytes.Clone(p) // nothing read: remember where to start
	}
	ts.full = !ok
	return nil
}

// seekOrder looks up the activity of each candidate conversation, and
// returns, in search order, up to limit+1 of those after the cursor that
// hold every term of check.
func (r *searcher) seekOrder(member map[engine.ID]struct{}, check []string) ([]candidate, error) {
	cands := make([]engine.ID, 0, len(member))
	for id := range member {
		cands = append(cands, id)
	}
	slices.SortFunc(cands, func(a, b engine.ID) int { return a.Compare(b) }) // seeks go forward
	p := searchPrefix(r.ws, sActivityOf)
	it, err := r.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	list := make([]candidate, 0, len(cands))
	for _, conv := range cands {
		k := activityOfKey(r.ws, conv)
		if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) || len(it.Value()) != 8 {
			continue // not indexed by IndexConversation (yet)
		}
		act := time.Unix(0, int64(binary.BigEndian.Uint64(it.Value()))) //nolint:gosec // written from UnixNano
		c := candidate{pos: posOf(act, conv), conv: conv}
		if r.after == nil || bytes.Compare(c.pos[:], r.after[:]) > 0 {
			list = append(list, c)
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("persistence: iterating: %w", err)
	}
	slices.SortFunc(list, func(a, b candidate) int { return bytes.Compare(a.pos[:], b.pos[:]) })
	if len(check) == 0 {
		return list[:min(len(list), r.limit+1)], nil
	}
	var out []candidate
	for _, c := range list {
		if len(out) > r.limit {
			break
		}
		ok, err := r.holdsAll(c.conv, check)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// scan walks conversations by activity from the cursor, and returns up
// to limit+1 of those that are members (when member is not nil) and hold
// every term of check. It stops at the work bounds with partial set and
// a cursor after the last conversation it looked at.
func (r *searcher) scan(member map[engine.ID]struct{}, check []string) (hits []candidate, partial bool, cursor string, err error) {
	p := searchPrefix(r.ws, sActivity)
	lower := p
	if r.after != nil {
		lower = append(append(bytes.Clone(p), r.after[:]...), 0)
	}
	it, err := r.iter(lower, prefixEnd(p))
	if err != nil {
		return nil, false, "", err
	}
	defer it.Close()
	entries, checks := 0, 0
	var last searchPos
	size := 2 * (r.limit + 1)
	batch := make([]candidate, 0, 1024)
	byID := make([]int, 0, 1024)
	match := make([]bool, 0, 1024)
	ok := it.First()
	for ok {
		batch = batch[:0]
		for ; ok && len(batch) < size && entries < r.bounds.scanEntries; ok = it.Next() {
			k := it.Key()
			if len(k) != len(p)+24 {
				return nil, false, "", fmt.Errorf("%w: search key %x", ErrCorrupt, k)
			}
			entries++
			var c candidate
			copy(c.pos[:], k[len(p):])
			copy(c.conv[:], k[len(p)+8:])
			last = c.pos
			if member != nil {
				if _, in := member[c.conv]; !in {
					continue
				}
			}
			batch = append(batch, c)
		}
		// Check in id order, so that the forward seeks go one way.
		byID = byID[:0]
		for i := range batch {
			byID = append(byID, i)
		}
		if len(check) > 0 {
			slices.SortFunc(byID, func(a, b int) int { return batch[a].conv.Compare(batch[b].conv) })
		}
		match = append(match[:0], make([]bool, len(batch))...)
		for _, i := range byID {
			m := true
			if len(check) > 0 {
				if m, err = r.holdsAll(batch[i].conv, check); err != nil {
					return nil, false, "", err
				}
				checks += len(check)
			}
			match[i] = m
		}
		for i, c := range batch {
			if match[i] {
				hits = append(hits, c)
				if len(hits) > r.limit {
					return hits, false, "", nil
				}
			}
		}
		if ok && (checks >= r.bounds.scanChecks || entries >= r.bounds.scanEntries) {
			return hits, true, encodeSearchCursor(last), nil
		}
		size = min(2*size, 1024)
	}
	if err := it.Error(); err != nil {
		return nil, false, "", fmt.Errorf("persistence: iterating: %w", err)
	}
	return hits, false, "", nil
}

func (r *searcher) forward() (*pebble.Iterator, error) {
	if r.fwd == nil {
		p := searchPrefix(r.ws, sForward)
		it, err := r.iter(p, prefixEnd(p))
		if err != nil {
			return nil, err
		}
		r.fwd = it
	}
	return r.fwd, nil
}

// holdsAll reports whether conversation conv has a token starting with
// each of terms (one seek per term).
func (r *searcher) holdsAll(conv engine.ID, terms []string) (bool, error) {
	it, err := r.forward()
	if err != nil {
		return false, err
	}
	for _, t := range terms {
		p := forwardTermPrefix(r.ws, conv, t)
		if !it.SeekGE(p) || !bytes.HasPrefix(it.Key(), p) {
			if err := it.Error(); err != nil {
				return false, fmt.Errorf("persistence: iterating: %w", err)
			}
			return false, nil
		}
	}
	return true, nil
}

// termMatch is what a conversation's forward entries say about a term:
// the contact fields holding it and the newest message holding it.
type termMatch struct {
	mask byte
	seq  uint64
}

func (r *searcher) termMatch(conv engine.ID, term string) (termMatch, error) {
	it, err := r.forward()
	if err != nil {
		return termMatch{}, err
	}
	var m termMatch
	p := forwardTermPrefix(r.ws, conv, term)
	n := 0
	for ok := it.SeekGE(p); ok && bytes.HasPrefix(it.Key(), p) && n < hitScanMax; ok = it.Next() {
		n++
		k, v := it.Key(), it.Value()
		switch k[len(k)-1] {
		case kindContact:
			if len(v) == 1 {
				m.mask |= v[0]
			}
		case kindMessage:
			if len(v) == 8 {
				m.seq = max(m.seq, binary.BigEndian.Uint64(v))
			}
		}
	}
	if err := it.Error(); err != nil {
		return termMatch{}, fmt.Errorf("persistence: iterating: %w", err)
	}
	return m, nil
}

// hit builds the hit of matching conversation c: a contact field when
// every term matches the contact, else the message holding the most terms
// among the newest message of each term the contact does not hold.
func (r *searcher) hit(c candidate) (SearchHit, bool, error) {
	h := SearchHit{ConversationID: c.conv, LastActivityAt: c.pos.activity()}
	var seqs []uint64
	var rest []string // terms the contact does not hold
	for _, t := range r.terms {
		m, err := r.termMatch(c.conv, t)
		if err != nil {
			return SearchHit{}, false, err
		}
		if m.mask == 0 {
			if m.seq == 0 {
				return SearchHit{}, false, nil // a stale entry: no match after all
			}
			rest = append(rest, t)
			if !slices.Contains(seqs, m.seq) {
				seqs = append(seqs, m.seq)
			}
		}
	}
	if len(rest) == 0 {
		return r.contactHit(h)
	}
	// The newest message holding a term is at most snippetLag-1 messages
	// after the seq its forward entry holds: look at each window, newest
	// first (each stops below the one after it, so no message is read
	// twice), for the newest message holding the most terms.
	slices.Sort(seqs)
	best := -1
	for i := len(seqs) - 1; i >= 0 && best < len(rest); i-- {
		hi := seqs[i] + snippetLag - 1
		if hi < seqs[i] {
			hi = math.MaxUint64
		}
		if i+1 < len(seqs) {
			hi = min(hi, seqs[i+1]-1)
		}
		err := r.window(c.conv, seqs[i], hi, func(msg *engine.Message) bool {
			text := msg.SearchText()
			if n := engine.MatchCount(text, rest); n > best {
				best = n
				h.Field, h.Seq, h.At = FieldMessage, msg.Seq, msg.CreatedAt
				h.Snippet = engine.Snippet(text, r.terms, engine.SnippetRunes)
			}
			return best < len(rest)
		})
		if err != nil {
			return SearchHit{}, false, err
		}
	}
	if best < 0 {
		return SearchHit{}, false, nil
	}
	return h, true, nil
}

// window calls f with the searchable messages of conv from seq lo to hi,
// newest first, while f returns true.
func (r *searcher) window(conv engine.ID, lo, hi uint64, f func(*engine.Message) bool) error {
	upper := messageKey(r.ws, conv, lo-1) // keys hold ^seq: older sorts later
	lower := messageKey(r.ws, conv, hi)
	it, err := r.snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("persistence: iterating: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var msg engine.Message
		err := decode(it.Value(), &msg)
		if errors.Is(err, ErrCorrupt) {
			r.bad = append(r.bad, skipped(corruptMessage, it.Key(), it.Value(), err))
			continue
		}
		if err != nil {
			return fmt.Errorf("reading messages of %s: %w", conv, err)
		}
		if !searchable(&msg) {
			continue
		}
		if !f(&msg) {
			break
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("persistence: iterating: %w", err)
	}
	return nil
}

func (r *searcher) contactHit(h SearchHit) (SearchHit, bool, error) {
	var rec contactRecord
	val, closer, err := r.snap.Get(forwardRecordKey(r.ws, h.ConversationID))
	if errors.Is(err, pebble.ErrNotFound) {
		return SearchHit{}, false, nil
	}
	if err != nil {
		return SearchHit{}, false, fmt.Errorf("persistence: get: %w", err)
	}
	err = decode(val, &rec)
	closer.Close()
	if err != nil {
		return SearchHit{}, false, fmt.Errorf("reading search record of %s: %w", h.ConversationID, err)
	}
	// The field of the first term, in the order name, company, email,
	// phone; the snippet is that field's value.
	first := r.terms[0]
	values := rec.values()
	for _, fo := range fieldOrder {
		for _, f := range values {
			if f.mask != fo.mask || !slices.ContainsFunc(fieldTokens(f), func(tok string) bool { return len(tok) >= len(first) && tok[:len(first)] == first }) {
				continue
			}
			h.Field, h.At = fo.field, h.LastActivityAt
			h.Snippet = engine.Snippet(f.value, r.terms, engine.SnippetRunes)
			return h, true, nil
		}
	}
	return SearchHit{}, false, nil
}
