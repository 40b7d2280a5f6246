package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The knowledge base: what an assistant answers from. Entries are FAQ
// pairs, pasted texts, uploaded documents and the team's corrections of
// AI replies; each is cut into passages (KnowledgePassages), which are
// indexed by their terms (KnowledgeTerms) and ranked with BM25
// (BM25Score) against the customer's latest messages. The rules here are
// pure: the store keeps the index, the gateway owns the entries
// (docs/ARCHITECTURE.md, "The knowledge base").

// DefaultAssistant is the id of a workspace's assistant whose settings
// are the workspace's agent settings (DefaultAssistantID).
const DefaultAssistant = DefaultAssistantID

// AssistantOf names the assistant whose knowledge a conversation's AI
// replies draw on: the assistant handling it (Conversation.Assistant).
func AssistantOf(c *Conversation) string { return c.Assistant() }

// KnowledgeKind says what a knowledge entry is.
type KnowledgeKind string

// Knowledge entry kinds.
const (
	KnowledgeFAQ        KnowledgeKind = "faq"
	KnowledgeText       KnowledgeKind = "text"
	KnowledgeDocument   KnowledgeKind = "document"
	KnowledgeCorrection KnowledgeKind = "correction"
)

// Limits of the knowledge base.
const (
	MaxKnowledgeTitleBytes    = 200
	MaxKnowledgeQuestionBytes = 1000
	MaxKnowledgeAnswerBytes   = 8 << 10
	MaxKnowledgeTextBytes     = 256 << 10
	// MaxKnowledgeDocumentTextBytes caps the text read from one
	// uploaded document; the rest is not indexed.
	MaxKnowledgeDocumentTextBytes = 4 << 20
	// MaxKnowledgeEntries is how many entries one assistant keeps.
	MaxKnowledgeEntries = 20_000
	// MaxKnowledgePassages caps the passages of one entry.
	MaxKnowledgePassages = 2000
	// MaxKnowledgeSources is the most sources a message keeps.
	MaxKnowledgeSources = 10
	// KnowledgeTopK is how many passages an agent receives.
	KnowledgeTopK = 3
	// MaxKnowledgeQueryTerms is the most distinct terms a query keeps.
	MaxKnowledgeQueryTerms = 24
	// KnowledgeAnswerThreshold is the share of a question's weight an FAQ
	// entry must hold for the rules agent to answer with it
	// (KnowledgePassage.Match).
	KnowledgeAnswerThreshold = 0.6
	// CorrectionBoost multiplies the score of a correction's passage: the
	// team's word on a question outranks an entry that says the same
	// words.
	CorrectionBoost = 1.5
	// passageWords is the length a passage of a text or document aims
	// at, and maxPassageWords the longest one.
	passageWords    = 120
	maxPassageWords = 200
	// stemRunes is how many runes of a word a term keeps.
	stemRunes = 6
)

// KnowledgeDoc describes an uploaded document's original, kept in the
// media store by its SHA-256.
type KnowledgeDoc struct {
	Filename string `json:"filename"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
}

// KnowledgeRating names the rating a correction entry comes from.
type KnowledgeRating struct {
	ConversationID ID     `json:"conversation_id"`
	Seq            uint64 `json:"seq"`
	UserID         ID     `json:"user_id"`
}

// KnowledgeEntry is one entry of an assistant's knowledge base. An FAQ
// and a correction hold Question and Answer, a text Title and Text, a
// document Title and Document (its text lives in its passages only).
type KnowledgeEntry struct {
	ID          ID               `json:"id"`
	WorkspaceID ID               `json:"workspace_id"`
	Assistant   string           `json:"assistant"`
	Kind        KnowledgeKind    `json:"kind"`
	Title       string           `json:"title"`
	Question    string           `json:"question,omitempty"`
	Answer      string           `json:"answer,omitempty"`
	Text        string           `json:"text,omitempty"`
	Document    *KnowledgeDoc    `json:"document,omitempty"`
	Rating      *KnowledgeRating `json:"rating,omitempty"`
	Passages    int              `json:"passages"`
	CreatedBy   ID               `json:"created_by"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

// KnowledgeChange is a create or an update of an entry: the fields
// given, nil for those left as they are.
type KnowledgeChange struct {
	Title    *string
	Question *string
	Answer   *string
	Text     *string
}

// Passage is one indexed piece of an entry: an FAQ's question and
// answer together, or a part of a text. Answer is an FAQ's or a
// correction's answer alone (what the rules agent replies).
type Passage struct {
	Kind   KnowledgeKind `json:"kind"`
	Title  string        `json:"title"`
	Text   string        `json:"text"`
	Answer string        `json:"answer,omitempty"`
}

// KnowledgePassage is a passage found for a query, with its entry, its
// index in the entry, its BM25 score and Match, the share of the
// query's term weight (IDF) it holds, from 0 to 1.
type KnowledgePassage struct {
	EntryID ID  `json:"entry_id"`
	Index   int `json:"index"`
	Passage
	Score float64 `json:"score"`
	Match float64 `json:"match"`
	// Similarity is the cosine similarity of the passage's and the
	// query's embeddings, when the assistant's embeddings are on.
	Similarity float64 `json:"similarity,omitempty"`
}

// KnowledgeSource names a passage an AI reply was given or answered
// from; the message keeps it (Message.Sources).
type KnowledgeSource struct {
	EntryID ID            `json:"entry_id"`
	Index   int           `json:"passage"`
	Kind    KnowledgeKind `json:"kind"`
	Title   string        `json:"title"`
}

// SourcesOf returns the sources of passages ps.
func SourcesOf(ps []KnowledgePassage) []KnowledgeSource {
	if len(ps) == 0 {
		return nil
	}
	out := make([]KnowledgeSource, len(ps))
	for i, p := range ps {
		out[i] = KnowledgeSource{EntryID: p.EntryID, Index: p.Index, Kind: p.Kind, Title: p.Title}
	}
	return out
}

// CorrectionEntryID is the id of the correction entry of one rating:
// the same rating always names the same entry, so a new correction
// replaces the last.
func CorrectionEntryID(r KnowledgeRating) ID {
	h := sha256.New()
	h.Write([]byte("knowledge-correction"))
	h.Write(r.ConversationID[:])
	h.Write(binary.BigEndian.AppendUint64(nil, r.Seq))
	h.Write(r.UserID[:])
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// ValidAssistantID reports whether s is well formed as an assistant id:
// 1 to MaxAssistantIDBytes bytes of ASCII letters, digits, '-' and '_'
// ("default", or an assistant's id, a ULID).
func ValidAssistantID(s string) bool {
	if s == "" || len(s) > MaxAssistantIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// cleanText checks that s is valid text of at most max bytes and trims
// it; what names the field in the error. Empty is refused when required.
func cleanText(what, s string, max int, required bool) (string, error) {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("%w: %s must be valid text", ErrInvalid, what)
	}
	s = strings.TrimSpace(s)
	if len(s) > max {
		return "", fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, what, max)
	}
	if required && s == "" {
		return "", fmt.Errorf("%w: %s is required", ErrInvalid, what)
	}
	return s, nil
}

// ApplyKnowledge applies change ch to entry e (its Kind set) at now and
// checks the result: an FAQ or a correction needs a question and an
// answer, a text a title and a text, a document a title. The title of
// an FAQ is its question.
func ApplyKnowledge(e KnowledgeEntry, ch KnowledgeChange, now time.Time) (KnowledgeEntry, error) {
	set := func(dst *string, p *string) {
		if p != nil {
			*dst = *p
		}
	}
	set(&e.Title, ch.Title)
	set(&e.Question, ch.Question)
	set(&e.Answer, ch.Answer)
	set(&e.Text, ch.Text)
	var err error
	switch e.Kind {
	case KnowledgeFAQ, KnowledgeCorrection:
		if ch.Text != nil || ch.Title != nil {
			return e, fmt.Errorf("%w: an FAQ entry has a question and an answer, not a title or text", ErrInvalid)
		}
		if e.Question, err = cleanText("question", e.Question, MaxKnowledgeQuestionBytes, true); err != nil {
			return e, err
		}
		if e.Answer, err = cleanText("answer", e.Answer, MaxKnowledgeAnswerBytes, true); err != nil {
			return e, err
		}
		e.Title = strings.Join(strings.Fields(truncateBytes(e.Question, MaxKnowledgeTitleBytes)), " ")
	case KnowledgeText, KnowledgeDocument:
		if ch.Question != nil || ch.Answer != nil {
			return e, fmt.Errorf("%w: a text entry has a title and text, not a question or answer", ErrInvalid)
		}
		if e.Kind == KnowledgeDocument && ch.Text != nil {
			return e, fmt.Errorf("%w: a document's text comes from its file: upload it again to change it", ErrInvalid)
		}
		if e.Title, err = cleanText("title", e.Title, MaxKnowledgeTitleBytes, true); err != nil {
			return e, err
		}
		e.Title = strings.Join(strings.Fields(e.Title), " ")
		if e.Kind == KnowledgeText {
			if e.Text, err = cleanText("text", e.Text, MaxKnowledgeTextBytes, true); err != nil {
				return e, err
			}
		}
	default:
		return e, fmt.Errorf("%w: kind must be faq or text", ErrInvalid)
	}
	e.UpdatedAt = now
	return e, nil
}

// KnowledgePassages cuts entry e into its passages; docText is a
// document's text (ignored for other kinds).
func KnowledgePassages(e *KnowledgeEntry, docText string) []Passage {
	switch e.Kind {
	case KnowledgeFAQ, KnowledgeCorrection:
		return []Passage{{Kind: e.Kind, Title: e.Title, Text: e.Question + "\n" + e.Answer, Answer: e.Answer}}
	case KnowledgeText:
		docText = e.Text
	}
	var out []Passage
	for _, c := range Chunk(docText) {
		if len(out) == MaxKnowledgePassages {
			break
		}
		out = append(out, Passage{Kind: e.Kind, Title: e.Title, Text: c})
	}
	return out
}

// Chunk cuts text into passages of about passageWords words: paragraphs
// (blank-line separated) are kept whole and joined while they fit; a
// paragraph longer than maxPassageWords is cut between sentences, and a
// sentence longer than that between words. Passages never split a word
// and hold no leading or trailing space.
func Chunk(text string) []string {
	text = strings.ToValidUTF8(strings.ReplaceAll(text, "\r\n", "\n"), "")
	var out []string
	var cur []string // paragraphs of the passage being built
	curWords := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, "\n\n"))
			cur, curWords = nil, 0
		}
	}
	add := func(p string, n int) {
		if curWords > 0 && curWords+n > passageWords {
			flush()
		}
		cur = append(cur, p)
		curWords += n
	}
	for _, para := range splitParagraphs(text) {
		words := strings.Fields(para)
		if len(words) == 0 {
			continue
		}
		if len(words) <= maxPassageWords {
			add(strings.Join(words, " "), len(words))
			continue
		}
		flush()
		var sent []string
		n := 0
		for _, s := range splitSentences(words) {
			k := len(strings.Fields(s))
			if n > 0 && n+k > passageWords {
				out = append(out, strings.Join(sent, " "))
				sent, n = nil, 0
			}
			sent = append(sent, s)
			n += k
		}
		if len(sent) > 0 {
			out = append(out, strings.Join(sent, " "))
		}
	}
	flush()
	return out
}

// splitParagraphs splits text at blank lines.
func splitParagraphs(text string) []string {
	var out []string
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		if strings.TrimSpace(line) == "" {
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// splitSentences groups words into sentences (a word ending in '.', '!'
// or '?' ends one) of at most maxPassageWords words.
func splitSentences(words []string) []string {
	var out []string
	start := 0
	for i, w := range words {
		end := strings.HasSuffix(w, ".") || strings.HasSuffix(w, "!") || strings.HasSuffix(w, "?")
		if end || i+1-start == maxPassageWords || i == len(words)-1 {
			out = append(out, strings.Join(words[start:i+1], " "))
			start = i + 1
		}
	}
	return out
}

// knowledgeStopwords are words too common to say what a question is
// about (English, and the greetings of a chat).
var knowledgeStopwords = map[string]bool{}

func init() {
	for w := range strings.FieldsSeq(`a an the and or but if then so of to in on at by for with from as is are was were be been
		being am do does did done doing have has had having i me my mine we us our you your yours he him his she her it its they
		them their this that these those there here what which who whom whose when where why how can could would should will
		shall may might must not no yes any some all each about into over under up down out off again just also too very
		hi hello hey please thanks thank ok okay dear regards want need get got know tell let like im ive id dont doesnt`) {
		knowledgeStopwords[w] = true
	}
}

// stem is the term of a folded word: a final 's' of a longer word
// dropped, then cut to stemRunes runes, so that plurals and most endings
// of one word meet ("refund", "refunds", "refunded" are "refund").
func stem(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		w = w[:len(w)-1]
	}
	n := 0
	for i := range w {
		if n == stemRunes {
			return w[:i]
		}
		n++
	}
	return w
}

// KnowledgeTerms returns the terms of text s with their counts, in order
// of first appearance: the words of Parley's search tokenizer (Fold,
// the same word rules as the search index), stopwords left out, each
// stemmed.
func KnowledgeTerms(s string) (terms []string, counts []int) {
	idx := map[string]int{}
	scanWords(s, nil, func(t tokenSpan) {
		if t.tok == "" || knowledgeStopwords[t.tok] {
			return
		}
		term := stem(t.tok)
		if i, ok := idx[term]; ok {
			counts[i]++
			return
		}
		idx[term] = len(terms)
		terms = append(terms, term)
		counts = append(counts, 1)
	})
	return terms, counts
}

// QueryTerm is one term of a knowledge query, with the word it came from
// (for the typo-tolerant match, FuzzyTermMatch).
type QueryTerm struct {
	Term string
	Word string
}

// KnowledgeQuery returns the distinct terms of query text q, at most
// MaxKnowledgeQueryTerms.
func KnowledgeQuery(q string) []QueryTerm {
	var out []QueryTerm
	seen := map[string]bool{}
	scanWords(q, nil, func(t tokenSpan) {
		if t.tok == "" || knowledgeStopwords[t.tok] || len(out) == MaxKnowledgeQueryTerms {
			return
		}
		term := stem(t.tok)
		if seen[term] {
			return
		}
		seen[term] = true
		out = append(out, QueryTerm{Term: term, Word: t.tok})
	})
	return out
}

// BM25 parameters.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// BM25IDF is the inverse document frequency of a term found in df of n
// passages (never negative).
func BM25IDF(df, n int) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

// BM25Score is the weight of a term held tf times by a passage of length
// dl (in terms), where passages hold avgdl terms on average.
func BM25Score(idf float64, tf, dl int, avgdl float64) float64 {
	if avgdl <= 0 {
		avgdl = 1
	}
	t := float64(tf)
	return idf * t * (bm25K1 + 1) / (t + bm25K1*(1-bm25B+bm25B*float64(dl)/avgdl))
}

// FuzzyTermMatch reports whether a stored term may be query word w
// mistyped: one edit (a letter added, dropped, changed, or two swapped)
// apart, comparing a term cut to stemRunes with w's prefixes of about
// that length. Words shorter than four runes never match fuzzily.
func FuzzyTermMatch(w, term string) bool { return fuzzyRunes([]rune(w), []rune(term)) }

// FuzzyMatcher is FuzzyTermMatch for one word w against many terms: w's
// runes are decoded once and each term's into a buffer reused, so a scan
// of the vocabulary allocates nothing per term.
// The term is given as its UTF-8 bytes (a key's, unconverted).
func FuzzyMatcher(w string) func(term []byte) bool {
	wr := []rune(w)
	var buf []rune
	return func(term []byte) bool {
		buf = buf[:0]
		for len(term) > 0 {
			r, n := utf8.DecodeRune(term)
			buf = append(buf, r)
			term = term[n:]
		}
		return fuzzyRunes(wr, buf)
	}
}

func fuzzyRunes(wr, tr []rune) bool {
	if len(wr) < 4 || len(tr) < 3 {
		return false
	}
	if len(tr) < stemRunes {
		return editWithin1(wr, tr)
	}
	for l := len(tr) - 1; l <= len(tr)+1 && l <= len(wr); l++ {
		if editWithin1(wr[:l], tr) {
			return true
		}
	}
	return false
}

// editWithin1 reports whether a and b are at most one edit apart
// (insertion, deletion, substitution or adjacent transposition).
func editWithin1(a, b []rune) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	switch len(a) - len(b) {
	case 0:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		if i == len(a) {
			return true
		}
		if slices.Equal(a[i+1:], b[i+1:]) {
			return true // substitution
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && slices.Equal(a[i+2:], b[i+2:])
	case 1:
		i := 0
		for i < len(b) && a[i] == b[i] {
			i++
		}
		return slices.Equal(a[i+1:], b[i:])
	}
	return false
}

// KnowledgeQueryText is the text the knowledge base is searched with for
// a conversation: the customer's messages since the business last
// wrote, newest first in history, at most three of them.
func KnowledgeQueryText(history []Message) string {
	var parts []string
	for _, m := range history {
		if m.Direction == DirOut {
			if len(parts) > 0 {
				break
			}
			continue
		}
		if m.Sender.Kind == SenderCustomer && strings.TrimFunc(m.Text, unicode.IsSpace) != "" {
			parts = append(parts, m.Text)
			if len(parts) == 3 {
				break
			}
		}
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "\n")
}

// FAQAnswer returns the answer the rules agent gives from passages (best
// first): the best passage's answer when it is an FAQ or a correction
// holding at least KnowledgeAnswerThreshold of the question.
func FAQAnswer(ps []KnowledgePassage) (KnowledgePassage, bool) {
	if len(ps) == 0 {
		return KnowledgePassage{}, false
	}
	p := ps[0]
	if (p.Kind == KnowledgeFAQ || p.Kind == KnowledgeCorrection) && p.Answer != "" && p.Match >= KnowledgeAnswerThreshold {
		return p, true
	}
	return KnowledgePassage{}, false
}
