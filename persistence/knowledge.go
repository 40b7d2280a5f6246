package persistence

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// The knowledge base (docs/ARCHITECTURE.md, "The knowledge base"). Keys,
// under the workspace prefix, asst an assistant id (an escaped string):
//
//	'w' ws '1' 'e' asst entry                 entry record (ids are ULIDs: oldest first)
//	'w' ws '1' 'p' asst entry idx             passage (idx: 4 bytes) with its terms and length
//	'w' ws '1' 't' asst term entry idx        posting → kind, term count, passage length (uvarints)
//	'w' ws '1' 'd' asst term                  → passages holding term (uvarint)
//	'w' ws '1' 'v' asst term                  the term is held by some passage (set once, for
//	                                           the typo match's scan: 'd' keys are rewritten often)
//	'w' ws '1' 's' asst                       → passages, total length (uvarints)
//	'w' ws '1' 'f' sha256 asst entry          a document's original in the media store
//
// One batch writes an entry with its passages, postings, term counts and
// totals (PutKnowledge), so the BM25 figures always agree with the
// postings. The caller serialises the changes of an assistant's entries:
// PutKnowledge reads the counts it updates.
//
// A store written before the knowledge base existed simply has none: the
// prefix needs no migration.
const tKnowledge = '1'

const (
	kEntry   = 'e'
	kPassage = 'p'
	kPosting = 't'
	kDF      = 'd'
	kVocab   = 'v'
	kStats   = 's'
	kDocRef  = 'f'
)

// maxPostingsPerTerm bounds the postings one query term reads: a term
// held by more passages says little about any of them.
const maxPostingsPerTerm = 50_000

// A query term held by more than commonShare of the passages, and by
// more than commonDF of them, is left out of a query that has a rarer
// term (SearchKnowledge).
const (
	commonDF    = 1000
	commonShare = 0.1
)

// fuzzyCandidates bounds the terms a mistyped word is compared with.
const fuzzyCandidates = 20_000

func knowledgePrefix(ws engine.ID, sub byte, asst string) []byte {
	return appendString(append(wsPrefix(ws, tKnowledge), sub), asst)
}

func knowledgeEntryKey(ws engine.ID, asst string, id engine.ID) []byte {
	return append(knowledgePrefix(ws, kEntry, asst), id[:]...)
}

func knowledgePassagePrefix(ws engine.ID, asst string, id engine.ID) []byte {
	return append(knowledgePrefix(ws, kPassage, asst), id[:]...)
}

func knowledgePostingPrefix(ws engine.ID, asst, term string) []byte {
	return appendString(knowledgePrefix(ws, kPosting, asst), term)
}

func knowledgeDFKey(ws engine.ID, asst, term string) []byte {
	return appendString(knowledgePrefix(ws, kDF, asst), term)
}

func knowledgeStatsKey(ws engine.ID, asst string) []byte { return knowledgePrefix(ws, kStats, asst) }

func knowledgeDocRefPrefix(ws engine.ID, digest [digestLen]byte) []byte {
	return append(append(wsPrefix(ws, tKnowledge), kDocRef), digest[:]...)
}

// passageID is an entry id and a passage's index in it.
type passageID [20]byte

func makePassageID(entry engine.ID, idx int) passageID {
	var p passageID
	copy(p[:], entry[:])
	binary.BigEndian.PutUint32(p[16:], uint32(idx)) //nolint:gosec // at most MaxKnowledgePassages
	return p
}

func (p passageID) entry() engine.ID {
	var id engine.ID
	copy(id[:], p[:16])
	return id
}

func (p passageID) index() int { return int(binary.BigEndian.Uint32(p[16:])) }

// passageRecord is a stored passage.
type passageRecord struct {
	engine.Passage
	Terms  []string `json:"terms"`
	Counts []int    `json:"counts"`
	Len    int      `json:"len"`
}

// indexText is the text a passage is indexed by: its title and its text
// (an FAQ's title is its question, which its text starts with).
func indexText(p engine.Passage) string {
	if p.Kind == engine.KnowledgeFAQ || p.Kind == engine.KnowledgeCorrection {
		return p.Text
	}
	return p.Title + "\n" + p.Text
}

var knowledgeKindCodes = []engine.KnowledgeKind{engine.KnowledgeFAQ, engine.KnowledgeText, engine.KnowledgeDocument, engine.KnowledgeCorrection}

func knowledgeKindCode(k engine.KnowledgeKind) uint64 {
	return uint64(slices.Index(knowledgeKindCodes, k) + 1)
}

func kindOfCode(c uint64) engine.KnowledgeKind {
	if c == 0 || c > uint64(len(knowledgeKindCodes)) {
		return ""
	}
	return knowledgeKindCodes[c-1]
}

// PutKnowledge writes entry e (of workspace ws and assistant asst) with
// passages ps into b, replacing what entry id had: its passages, their
// postings, the term counts and the assistant's totals. e nil deletes
// entry id. The counts are read from the store: the caller holds the
// assistant's entries (one writer at a time) until b is committed.
func (s *Store) PutKnowledge(b *Batch, ws engine.ID, asst string, id engine.ID, e *engine.KnowledgeEntry, ps []engine.Passage) error {
	old, err := s.knowledgePassages(ws, asst, id)
	if err != nil {
		return err
	}
	df := map[string]int{}
	var dPassages, dLen int
	for i, r := range old {
		pid := makePassageID(id, i)
		for _, t := range r.Terms {
			b.del(append(knowledgePostingPrefix(ws, asst, t), pid[:]...))
			df[t]--
		}
		b.del(append(knowledgePassagePrefix(ws, asst, id), pid[16:]...))
		b.deleteKnowledgeVector(ws, asst, pid)
		dPassages--
		dLen -= r.Len
	}
	if e != nil {
		for i, p := range ps {
			terms, counts := engine.KnowledgeTerms(indexText(p))
			n := 0
			for _, c := range counts {
				n += c
			}
			pid := makePassageID(id, i)
			r := passageRecord{Passage: p, Terms: terms, Counts: counts, Len: n}
			b.set(append(knowledgePassagePrefix(ws, asst, id), pid[16:]...), &r)
			for j, t := range terms {
				v := binary.AppendUvarint(nil, knowledgeKindCode(p.Kind))
				v = binary.AppendUvarint(v, uint64(counts[j])) //nolint:gosec // a count
				v = binary.AppendUvarint(v, uint64(n))         //nolint:gosec // a length
				b.setRaw(append(knowledgePostingPrefix(ws, asst, t), pid[:]...), v)
				df[t]++
			}
			dPassages++
			dLen += n
		}
		b.set(knowledgeEntryKey(ws, asst, id), e)
	} else {
		b.del(knowledgeEntryKey(ws, asst, id))
	}
	for t, d := range df {
		if d == 0 {
			continue
		}
		cur, err := s.uvarintAt(knowledgeDFKey(ws, asst, t))
		if err != nil {
			return err
		}
		if n := int(cur) + d; n > 0 { //nolint:gosec // a count
			b.setRaw(knowledgeDFKey(ws, asst, t), binary.AppendUvarint(nil, uint64(n)))
			if cur == 0 {
				b.setRaw(appendString(knowledgePrefix(ws, kVocab, asst), t), nil)
			}
		} else {
			b.del(knowledgeDFKey(ws, asst, t))
			b.del(appendString(knowledgePrefix(ws, kVocab, asst), t))
		}
	}
	n, total, err := s.knowledgeStats(ws, asst)
	if err != nil {
		return err
	}
	n, total = max(n+dPassages, 0), max(total+dLen, 0)
	if n == 0 {
		b.del(knowledgeStatsKey(ws, asst))
	} else {
		v := binary.AppendUvarint(nil, uint64(n))  //nolint:gosec // a count
		v = binary.AppendUvarint(v, uint64(total)) //nolint:gosec // a count
		b.setRaw(knowledgeStatsKey(ws, asst), v)
	}
	return b.err
}

// PutKnowledgeDocRef records that entry id of assistant asst keeps the
// media file with digest as its original (MediaReferenced then holds
// it).
func (b *Batch) PutKnowledgeDocRef(ws engine.ID, digest, asst string, id engine.ID) {
	if d, ok := parseDigest(digest); ok {
		b.setRaw(append(appendString(knowledgeDocRefPrefix(ws, d), asst), id[:]...), nil)
	}
}

// DeleteKnowledgeDocRef removes what PutKnowledgeDocRef wrote.
func (b *Batch) DeleteKnowledgeDocRef(ws engine.ID, digest, asst string, id engine.ID) {
	if d, ok := parseDigest(digest); ok {
		b.del(append(appendString(knowledgeDocRefPrefix(ws, d), asst), id[:]...))
	}
}

// knowledgeDocReferenced reports whether a knowledge entry keeps the
// file with digest.
func (s *Store) knowledgeDocReferenced(ws engine.ID, digest string) (bool, error) {
	d, ok := parseDigest(digest)
	if !ok {
		return false, nil
	}
	n, err := s.countKeysUpTo(knowledgeDocRefPrefix(ws, d), 1)
	return n > 0, err
}

func (s *Store) uvarintAt(key []byte) (uint64, error) {
	v, ok, err := s.getRaw(key)
	if err != nil || !ok {
		return 0, err
	}
	n, _ := binary.Uvarint(v)
	return n, nil
}

// knowledgeStats returns the passages of an assistant and their total
// length.
func (s *Store) knowledgeStats(ws engine.ID, asst string) (n, total int, err error) {
	v, ok, err := s.getRaw(knowledgeStatsKey(ws, asst))
	if err != nil || !ok {
		return 0, 0, err
	}
	a, k := binary.Uvarint(v)
	if k <= 0 {
		return 0, 0, nil
	}
	t, _ := binary.Uvarint(v[k:])
	return int(a), int(t), nil //nolint:gosec // counts
}

// KnowledgeStats returns how many passages assistant asst's knowledge
// base holds and their total length in terms.
func (s *Store) KnowledgeStats(ws engine.ID, asst string) (passages, terms int, err error) {
	return s.knowledgeStats(ws, asst)
}

func (s *Store) knowledgePassages(ws engine.ID, asst string, id engine.ID) ([]passageRecord, error) {
	return readAll[passageRecord](s, knowledgePassagePrefix(ws, asst, id), "knowledge passages")
}

// KnowledgeEntries returns the entries of assistant asst, oldest first.
func (s *Store) KnowledgeEntries(ws engine.ID, asst string) ([]engine.KnowledgeEntry, error) {
	return readAll[engine.KnowledgeEntry](s, knowledgePrefix(ws, kEntry, asst), "knowledge entries")
}

// CountKnowledgeEntries counts the entries of assistant asst, up to
// limit.
func (s *Store) CountKnowledgeEntries(ws engine.ID, asst string, limit int) (int, error) {
	return s.countKeysUpTo(knowledgePrefix(ws, kEntry, asst), limit)
}

// KnowledgeEntry reads one entry.
func (s *Store) KnowledgeEntry(ws engine.ID, asst string, id engine.ID) (engine.KnowledgeEntry, error) {
	var e engine.KnowledgeEntry
	if err := s.get(knowledgeEntryKey(ws, asst, id), &e); err != nil {
		return e, fmt.Errorf("reading knowledge entry %s: %w", id, err)
	}
	return e, nil
}

// KnowledgeEntryPassages returns the passages of one entry, in order.
func (s *Store) KnowledgeEntryPassages(ws engine.ID, asst string, id engine.ID) ([]engine.Passage, error) {
	rs, err := s.knowledgePassages(ws, asst, id)
	out := make([]engine.Passage, len(rs))
	for i, r := range rs {
		out[i] = r.Passage
	}
	return out, err
}

// scored is a passage's running score.
type scored struct {
	score, match float64
	kind         engine.KnowledgeKind
}

// SearchKnowledge returns the k passages of assistant asst that best
// answer query text q, best first, ranked by BM25 over the passages'
// terms (engine.KnowledgeQuery, engine.BM25Score). A query word the
// base does not hold is matched to the stored terms one typing slip away
// (engine.FuzzyTermMatch). A correction's score is multiplied by
// engine.CorrectionBoost. The time taken is observed in
// parley_knowledge_retrieval_seconds.
func (s *Store) SearchKnowledge(ws engine.ID, asst string, q string, k int) ([]engine.KnowledgePassage, error) {
	start := time.Now()
	defer func() { s.knowledgeSeconds.Observe(time.Since(start).Seconds()) }()
	all, weight, err := s.bm25Ranked(ws, asst, q, k)
	if err != nil {
		return nil, err
	}
	out := make([]engine.KnowledgePassage, 0, len(all))
	for _, r := range all {
		p, err := s.knowledgePassage(ws, asst, r, weight)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// SearchKnowledgeHybrid is SearchKnowledge for an assistant with
// embeddings: the engine.FusionDepth best passages by BM25 and the as
// many nearest to query vector qv (cosine similarity over the vectors
// of settings fingerprint fp) are fused by reciprocal rank
// (engine.FuseRanks), and the k best returned, each with its BM25 score
// and match (zero when BM25 did not find it) and its Similarity.
func (s *Store) SearchKnowledgeHybrid(ws engine.ID, asst string, q string, qv []float32, fp uint64, k int) ([]engine.KnowledgePassage, error) {
	start := time.Now()
	defer func() { s.knowledgeSeconds.Observe(time.Since(start).Seconds()) }()
	if k <= 0 {
		return nil, nil
	}
	lex, weight, err := s.bm25Ranked(ws, asst, q, max(k, engine.FusionDepth))
	if err != nil {
		return nil, err
	}
	near, err := s.nearestPassages(ws, asst, fp, qv, max(k, engine.FusionDepth))
	if err != nil {
		return nil, err
	}
	byID := make(map[passageID]*scored, len(lex))
	lexIDs := make([]passageID, len(lex))
	for i, r := range lex {
		byID[r.pid], lexIDs[i] = r.sc, r.pid
	}
	fused, _ := engine.FuseRanks(lexIDs, near)
	out := make([]engine.KnowledgePassage, 0, min(k, len(fused)))
	for _, pid := range fused[:min(k, len(fused))] {
		sc := byID[pid]
		if sc == nil {
			sc = &scored{}
		}
		p, err := s.knowledgePassage(ws, asst, ranked{pid, sc}, weight)
		if err != nil {
			return nil, err
		}
		if v, ok, err := s.getRaw(knowledgeVectorKey(ws, asst, pid)); err != nil {
			return nil, err
		} else if ok && len(v) == 16+4*len(qv) {
			vec := make([]float32, len(qv))
			for i := range vec {
				vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(v[16+4*i:]))
			}
			p.Similarity = engine.Cosine(qv, vec)
		}
		out = append(out, p)
	}
	return out, nil
}

// ranked is a passage with its running score.
type ranked struct {
	pid passageID
	sc  *scored
}

// knowledgePassage reads the passage of r, with its score and its match
// (its share of the query's weight).
func (s *Store) knowledgePassage(ws engine.ID, asst string, r ranked, weight float64) (engine.KnowledgePassage, error) {
	var rec passageRecord
	if err := s.get(append(knowledgePassagePrefix(ws, asst, r.pid.entry()), r.pid[16:]...), &rec); err != nil {
		return engine.KnowledgePassage{}, fmt.Errorf("reading knowledge passage: %w", err)
	}
	m := 0.0
	if weight > 0 {
		m = min(r.sc.match/weight, 1)
	}
	return engine.KnowledgePassage{EntryID: r.pid.entry(), Index: r.pid.index(), Passage: rec.Passage,
		Score: r.sc.score, Match: m}, nil
}

// bm25Ranked returns the k passages of assistant asst best ranked by
// BM25 for query text q, best first, and the query's total term weight.
func (s *Store) bm25Ranked(ws engine.ID, asst string, q string, k int) ([]ranked, float64, error) {
	terms := engine.KnowledgeQuery(q)
	if len(terms) == 0 || k <= 0 {
		return nil, 0, nil
	}
	n, total, err := s.knowledgeStats(ws, asst)
	if err != nil || n == 0 {
		return nil, 0, err
	}
	avgdl := float64(total) / float64(n)
	// Each term's passage count first (a mistyped word's stored term),
	// then the postings of the rarest first: a term held by more than
	// commonShare of a large base (and commonDF passages) is left out
	// when the query has a rarer one, as it would add little to any
	// score for much reading.
	type resolved struct {
		term string
		df   int
	}
	rs := make([]resolved, 0, len(terms))
	for _, qt := range terms {
		term := qt.Term
		df, err := s.uvarintAt(knowledgeDFKey(ws, asst, term))
		if err != nil {
			return nil, 0, err
		}
		if df == 0 {
			if term, df, err = s.fuzzyTerm(ws, asst, qt.Word); err != nil {
				return nil, 0, err
			}
		}
		rs = append(rs, resolved{term, int(df)}) //nolint:gosec // a count
	}
	slices.SortStableFunc(rs, func(a, b resolved) int { return a.df - b.df })
	scores := make(map[passageID]*scored, 64)
	var weight float64
	found := false
	for _, r := range rs {
		if found && r.df > commonDF && float64(r.df) > commonShare*float64(n) {
			continue
		}
		idf := engine.BM25IDF(r.df, n)
		weight += idf
		if r.df == 0 {
			continue
		}
		found = true
		if err := s.postings(ws, asst, r.term, func(pid passageID, kind engine.KnowledgeKind, tf, dl int) {
			sc := scores[pid]
			if sc == nil {
				sc = &scored{kind: kind}
				scores[pid] = sc
			}
			sc.score += engine.BM25Score(idf, tf, dl, avgdl)
			sc.match += idf
		}); err != nil {
			return nil, 0, err
		}
	}
	better := func(a, b ranked) int {
		switch {
		case a.sc.score > b.sc.score:
			return -1
		case a.sc.score < b.sc.score:
			return 1
		}
		return slices.Compare(a.pid[:], b.pid[:])
	}
	// The k best, kept sorted as the candidates go by.
	all := make([]ranked, 0, k+1)
	for pid, sc := range scores {
		if sc.kind == engine.KnowledgeCorrection {
			sc.score *= engine.CorrectionBoost
		}
		r := ranked{pid, sc}
		if len(all) == k && better(r, all[k-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(all, r, better)
		all = slices.Insert(all, i, r)
		if len(all) > k {
			all = all[:k]
		}
	}
	return all, weight, nil
}

// postings calls f with each posting of term, up to maxPostingsPerTerm.
func (s *Store) postings(ws engine.ID, asst, term string, f func(pid passageID, kind engine.KnowledgeKind, tf, dl int)) error {
	p := knowledgePostingPrefix(ws, asst, term)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return err
	}
	defer it.Close()
	read := 0
	for ok := it.First(); ok && read < maxPostingsPerTerm; ok = it.Next() {
		key := it.Key()
		if len(key) != len(p)+len(passageID{}) {
			continue
		}
		var pid passageID
		copy(pid[:], key[len(p):])
		v := it.Value()
		kind, a := binary.Uvarint(v)
		if a <= 0 {
			continue
		}
		tf, b := binary.Uvarint(v[a:])
		if b <= 0 {
			continue
		}
		dl, c := binary.Uvarint(v[a+b:])
		if c <= 0 {
			continue
		}
		f(pid, kindOfCode(kind), int(tf), int(dl)) //nolint:gosec // counts
		read++
	}
	return iterErr(it)
}

// fuzzyTerm returns the stored term of assistant asst that word may be
// a mistyping of (engine.FuzzyTermMatch, the same first letter), the one
// held by the most passages, and its passage count; "", 0 when none.
func (s *Store) fuzzyTerm(ws engine.ID, asst, word string) (string, uint64, error) {
	r, size := utf8.DecodeRuneInString(word)
	if r == utf8.RuneError || utf8.RuneCountInString(word) < 4 {
		return "", 0, nil
	}
	p := appendPrefix(knowledgePrefix(ws, kVocab, asst), word[:size])
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return "", 0, err
	}
	var matches []string
	seen := 0
	base := len(knowledgePrefix(ws, kVocab, asst))
	match := engine.FuzzyMatcher(word)
	for ok := it.First(); ok && seen < fuzzyCandidates; ok = it.Next() {
		seen++
		k := it.Key()[base:]
		// A term without a 0 byte is stored as itself and its end mark
		// (appendString): matched in place; any other decoded first.
		if len(k) >= 2 && k[len(k)-2] == 0 && k[len(k)-1] == 0x01 && bytes.IndexByte(k[:len(k)-2], 0) < 0 {
			if match(k[:len(k)-2]) {
				matches = append(matches, string(k[:len(k)-2]))
			}
		} else if term, _, ok := decodeString(k); ok && match([]byte(term)) {
			matches = append(matches, term)
		}
	}
	if err := iterErr(it); err != nil {
		it.Close()
		return "", 0, err
	}
	it.Close()
	var best string
	var bestDF uint64
	for _, term := range matches {
		df, err := s.uvarintAt(knowledgeDFKey(ws, asst, term))
		if err != nil {
			return "", 0, err
		}
		if df > bestDF {
			best, bestDF = term, df
		}
	}
	return best, bestDF, nil
}
