package engine

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Search text normalisation. Text is indexed as tokens and a query is
// split into terms by the same rules, so that a term matches a token when
// the token starts with the term (prefix matching):
//
//   - Folding: compatibility decomposition (NFKD), combining marks
//     removed, recomposed (NFC), lower-cased, and a few letters that do
//     not decompose spelled out (ß→ss, ø→o, æ→ae, œ→oe, ł→l, đ→d, ...).
//     "José Ñandú", "JOSE NANDU" and "ｊｏｓé" all fold to the same tokens.
//   - Words: maximal runs of letters, digits and marks. Han, Hiragana and
//     Katakana characters are one token each (those scripts do not put
//     spaces between words). Anything else (punctuation, emoji, symbols)
//     separates tokens and is never a token.
//   - Emails: an address is indexed whole ("jose.nandu@example.com"), from
//     each segment of its local part ("nandu@example.com"), by its domain
//     ("example.com") and by its words.
//   - Phone numbers in text (7 to 15 digits in two or more groups, as in
//     "+1 (555) 010-2030") are indexed by their digits joined, from each
//     group's start ("15550102030", "5550102030", "0102030"), besides the
//     groups themselves. PhoneTokens indexes a phone field by every suffix
//     of its digits, so any tail of the number matches.
//
// Tokens longer than MaxTokenBytes are cut (at a rune boundary); a text
// yields at most MaxTokensPerText distinct tokens.
const (
	MaxTokenBytes    = 64
	MaxTokensPerText = 1024
)

// foldPool holds NFKD → drop marks → NFC transformers; a chain keeps
// state, so each goroutine takes its own.
var foldPool = sync.Pool{New: func() any {
	return transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// letterFolds spells out letters that lower-casing and decomposition
// leave apart from their plain Latin reading.
var letterFolds = strings.NewReplacer(
	"ß", "ss", "ø", "o", "æ", "ae", "œ", "oe", "ł", "l", "đ", "d",
	"ð", "d", "þ", "th", "ı", "i", "ς", "σ", "ħ", "h", "ŧ", "t",
)

// Fold returns s lower-cased with accents and compatibility forms
// removed: the form every token and term is compared in.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, " ")
	}
	t := foldPool.Get().(transform.Transformer)
	out, _, err := transform.String(t, s)
	foldPool.Put(t)
	if err != nil {
		out = s
	}
	return letterFolds.Replace(strings.ToLower(out))
}

// wordRune reports whether r belongs to a word: a letter, a digit or a
// mark (an accent written as a separate code point stays in its word).
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)
}

// soloRune reports whether r is a word by itself: a character of a script
// written without spaces between words.
func soloRune(r rune) bool {
	return r >= 0x3040 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// tokenSpan is a token and the byte range of the text it comes from.
type tokenSpan struct {
	tok        string
	start, end int
}

// ClipToken cuts tok to MaxTokenBytes at a rune boundary, as the search
// index keeps tokens.
func ClipToken(tok string) string { return truncateBytes(tok, MaxTokenBytes) }

// splitFolded splits an already folded string into tokens, and emits each
// with the span [start, end) of the original text it came from.
func splitFolded(f string, start, end int, emit func(tokenSpan)) {
	i := 0
	for i < len(f) {
		r, n := utf8.DecodeRuneInString(f[i:])
		switch {
		case soloRune(r):
			emit(tokenSpan{f[i : i+n], start, end})
			i += n
		case wordRune(r):
			j := i + n
			for j < len(f) {
				r2, n2 := utf8.DecodeRuneInString(f[j:])
				if !wordRune(r2) || soloRune(r2) {
					break
				}
				j += n2
			}
			emit(tokenSpan{ClipToken(f[i:j]), start, end})
			i = j
		default:
			i += n
		}
	}
}

// scanWords emits the word tokens of s; skip, when not nil, reports byte
// offsets whose word is to be left out (a query leaves out the words of
// the emails and phone numbers it keeps whole).
func scanWords(s string, skip func(int) bool, emit func(tokenSpan)) {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !wordRune(r) || (r == utf8.RuneError && n == 1) {
			i += n
			continue
		}
		j := i + n
		if !soloRune(r) {
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if !wordRune(r2) || soloRune(r2) || (r2 == utf8.RuneError && n2 == 1) {
					break
				}
				j += n2
			}
		}
		if skip == nil || !skip(i) {
			splitFolded(Fold(s[i:j]), i, j, emit)
		}
		i = j
	}
}

// emailLocalByte and emailDomainByte are the ASCII bytes an address may
// hold around its '@' (letters of any script are allowed too).
func emailLocalByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func emailDomainByte(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// emailSpan is an address found in text: local part [start, at), domain
// (at, end).
type emailSpan struct{ start, at, end int }

// findEmails returns the addresses in s. A query (partial) accepts an
// address with an empty or unfinished domain ("jose@", "jose@exa").
func findEmails(s string, partial bool) []emailSpan {
	var out []emailSpan
	from := 0
	for {
		k := strings.IndexByte(s[from:], '@')
		if k < 0 {
			return out
		}
		at := from + k
		from = at + 1
		start := at
		for start > 0 {
			r, n := utf8.DecodeLastRuneInString(s[:start])
			if r < utf8.RuneSelf && !emailLocalByte(byte(r)) || r >= utf8.RuneSelf && !wordRune(r) {
				break
			}
			start -= n
		}
		end := at + 1
		for end < len(s) {
			r, n := utf8.DecodeRuneInString(s[end:])
			if r < utf8.RuneSelf && !emailDomainByte(byte(r)) || r >= utf8.RuneSelf && !wordRune(r) {
				break
			}
			end += n
		}
		for start < at && !isWordStart(s[start]) {
			start++ // an address does not start with '.', '+', ...
		}
		for end > at+1 && (s[end-1] == '.' || s[end-1] == '-') {
			end-- // a sentence's full stop is not part of the domain
		}
		if start == at {
			continue
		}
		if !partial && !strings.Contains(s[at+1:end], ".") {
			continue
		}
		out = append(out, emailSpan{start, at, end})
		from = end
	}
}

func isWordStart(c byte) bool { return c >= utf8.RuneSelf || isAlnum(c) }

// maxLocalSegments caps the tokens an address gets for the segments of
// its local part.
const maxLocalSegments = 4

// emailTokens emits the whole-address tokens of address e of s.
func emailTokens(s string, e emailSpan, emit func(tokenSpan)) {
	local, domain := Fold(s[e.start:e.at]), Fold(s[e.at+1:e.end])
	whole := func(local string) string {
		if len(local) >= MaxTokenBytes {
			return ClipToken(local) // the domain would be cut off anyway
		}
		return ClipToken(local + "@" + domain)
	}
	emit(tokenSpan{whole(local), e.start, e.end})
	for i, n := 1, 0; i < len(local) && n < maxLocalSegments; i++ {
		if c := local[i-1]; (c == '.' || c == '_' || c == '+' || c == '-') && isWordStart(local[i]) {
			emit(tokenSpan{whole(local[i:]), e.start, e.end})
			n++
		}
	}
	if domain != "" {
		emit(tokenSpan{ClipToken(domain), e.at + 1, e.end})
	}
}

// phoneSpan is a phone number found in text: its byte range and the
// digits of each of its groups.
type phoneSpan struct {
	start, end int
	groups     []string
}

// phoneSep are the bytes written between the digit groups of a number.
func phoneSep(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/'
}

// findPhones returns the phone numbers in s: 7 to 15 ASCII digits in at
// least two groups separated by spaces, dashes, dots, slashes or
// parentheses, with an optional leading '+' or '('.
func findPhones(s string) []phoneSpan {
	var out []phoneSpan
	i := 0
	for i < len(s) {
		c := s[i]
		startable := isDigit(c) || (c == '+' || c == '(') && i+1 < len(s) && (isDigit(s[i+1]) || s[i+1] == '(')
		if !startable || i > 0 && (isAlnum(s[i-1]) || s[i-1] >= utf8.RuneSelf) {
			i++
			continue
		}
		start := i
		var groups []string
		digits := 0
		j := i
		for j < len(s) && (s[j] == '+' || s[j] == '(') {
			j++
		}
		end := j
		for j < len(s) {
			g := j
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j == g {
				break
			}
			groups = append(groups, s[g:j])
			digits += j - g
			end = j
			if j < len(s) && (isAlnum(s[j]) || s[j] >= utf8.RuneSelf) {
				break // digits glued to a word: not a phone number
			}
			k := j
			for k < len(s) && k-j < 3 && phoneSep(s[k]) {
				k++
			}
			if k == j || k >= len(s) || !isDigit(s[k]) {
				if k < len(s) && s[j] == ')' {
					end = j + 1
				}
				break
			}
			j = k
		}
		if len(groups) >= 2 && digits >= 7 && digits <= 15 {
			out = append(out, phoneSpan{start, end, groups})
		}
		i = max(end, i+1)
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// phoneTokens emits the joined digits of p from each group's start.
func phoneTokens(p phoneSpan, emit func(tokenSpan)) {
	for g := range p.groups {
		if g > 0 && len(p.groups[g:]) == 1 {
			break // the last group alone is a word token already
		}
		emit(tokenSpan{ClipToken(strings.Join(p.groups[g:], "")), p.start, p.end})
	}
}

// spans emits every token of s with its span, words first, then the
// addresses and the phone numbers.
func spans(s string, emit func(tokenSpan)) {
	scanWords(s, nil, emit)
	if strings.IndexByte(s, '@') >= 0 {
		for _, e := range findEmails(s, false) {
			emailTokens(s, e, emit)
		}
	}
	for _, p := range findPhones(s) {
		phoneTokens(p, emit)
	}
}

// Tokens returns the distinct search tokens of text s, in order of first
// appearance, at most MaxTokensPerText of them.
func Tokens(s string) []string {
	var out []string
	seen := map[string]struct{}{}
	spans(s, func(t tokenSpan) {
		if t.tok == "" || len(out) >= MaxTokensPerText {
			return
		}
		if _, ok := seen[t.tok]; ok {
			return
		}
		seen[t.tok] = struct{}{}
		out = append(out, t.tok)
	})
	return out
}

// PhoneTokens returns the tokens of a phone number field: every suffix of
// at least three of its digits (so "2030", "0102030" and "5550102030" all
// find "+1 (555) 010-2030"), and its Tokens.
func PhoneTokens(s string) []string {
	var digits []byte
	for i := 0; i < len(s) && len(digits) < 20; i++ {
		if isDigit(s[i]) {
			digits = append(digits, s[i])
		}
	}
	var out []string
	for i := 0; i+3 <= len(digits); i++ {
		out = append(out, string(digits[i:]))
	}
	for _, t := range Tokens(s) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// MaxQueryBytes is the longest query NormalizeQuery is meant for; longer
// queries are refused by the search.
const MaxQueryBytes = 256

// NormalizeQuery splits search query q into terms, folded like tokens.
// An email address in q ("jose@exa") is one term; so is a phone number
// written in groups ("+1 (555) 010-2030" → "15550102030"); other text
// gives one term per word. Duplicate terms, and terms that another term
// starts with (they add nothing to an AND of prefixes), are dropped.
// The result is empty when q has nothing to search for.
func NormalizeQuery(q string) []string {
	q = strings.ToValidUTF8(q, " ")
	type covered struct{ start, end int }
	var whole []covered
	var terms []string
	if strings.IndexByte(q, '@') >= 0 {
		for _, e := range findEmails(q, true) {
			local, domain := Fold(q[e.start:e.at]), Fold(q[e.at+1:e.end])
			terms = append(terms, ClipToken(local+"@"+domain))
			whole = append(whole, covered{e.start, e.end})
		}
	}
	for _, p := range findPhones(q) {
		terms = append(terms, ClipToken(strings.Join(p.groups, "")))
		whole = append(whole, covered{p.start, p.end})
	}
	skip := func(i int) bool {
		for _, c := range whole {
			if i >= c.start && i < c.end {
				return true
			}
		}
		return false
	}
	scanWords(q, skip, func(t tokenSpan) { terms = append(terms, t.tok) })
	// In sorted order, the terms that start with t follow t directly: t
	// is subsumed when the next different term starts with it.
	sorted := slices.Clone(terms)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	drop := map[string]bool{"": true}
	for i := 0; i+1 < len(sorted); i++ {
		if strings.HasPrefix(sorted[i+1], sorted[i]) {
			drop[sorted[i]] = true
		}
	}
	out := terms[:0:0]
	for _, t := range terms {
		if !drop[t] {
			drop[t] = true // keep the first of duplicates only
			out = append(out, t)
		}
	}
	return out
}

// matchesAny reports whether token tok starts with one of terms.
func matchesAny(tok string, terms []string) bool {
	for _, t := range terms {
		if strings.HasPrefix(tok, t) {
			return true
		}
	}
	return false
}

// FindMatch returns the byte range of the first place in text where a
// token starts with one of terms.
func FindMatch(text string, terms []string) (start, end int, ok bool) {
	start, end = -1, -1
	spans(text, func(t tokenSpan) {
		if (start < 0 || t.start < start) && matchesAny(t.tok, terms) {
			start, end = t.start, t.end
		}
	})
	return start, end, start >= 0
}

// MatchCount returns how many of terms match a token of text.
func MatchCount(text string, terms []string) int {
	hit := make([]bool, len(terms))
	n := 0
	spans(text, func(t tokenSpan) {
		for i, term := range terms {
			if !hit[i] && strings.HasPrefix(t.tok, term) {
				hit[i] = true
				n++
			}
		}
	})
	return n
}

// SnippetRunes is the length Snippet aims for.
const SnippetRunes = 80

// Snippet returns about n runes of text around the first match of terms
// (from the start of text when nothing matches), with runs of white space
// made single spaces and "…" where text was cut. Case and accents are the
// text's own.
func Snippet(text string, terms []string, n int) string {
	start, _, ok := FindMatch(text, terms)
	if !ok {
		start = 0
	}
	// Up to a quarter of the room goes before the match, cut at a space
	// when one is near.
	from := start
	for k := 0; k < n/4 && from > 0; k++ {
		_, size := utf8.DecodeLastRuneInString(text[:from])
		from -= size
	}
	if from > 0 {
		if sp := strings.IndexAny(text[from:start], " \t\n"); sp >= 0 {
			from += sp + 1
		}
	}
	to := from
	for k := 0; k < n && to < len(text); k++ {
		_, size := utf8.DecodeRuneInString(text[to:])
		to += size
	}
	if to < len(text) {
		if sp := strings.LastIndexAny(text[from:to], " \t\n"); sp > (to-from)/2 {
			to = from + sp
		}
	}
	var b strings.Builder
	if from > 0 {
		b.WriteString("…")
	}
	b.WriteString(strings.Join(strings.Fields(text[from:to]), " "))
	if to < len(text) {
		b.WriteString("…")
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// SearchText returns the text of message content that search indexes:
// the text, a media caption and file name, a location's name and
// address, a tapped button's title.
func (c Content) SearchText() string {
	parts := make([]string, 0, 4)
	if c.Text != "" {
		parts = append(parts, c.Text)
	}
	if m := c.Media; m != nil {
		if m.Caption != "" && m.Caption != c.Text {
			parts = append(parts, m.Caption)
		}
		if m.Filename != "" {
			parts = append(parts, m.Filename)
		}
	}
	if l := c.Location; l != nil {
		if l.Name != "" {
			parts = append(parts, l.Name)
		}
		if l.Address != "" {
			parts = append(parts, l.Address)
		}
	}
	if i := c.Interactive; i != nil && i.Title != "" {
		parts = append(parts, i.Title)
	}
	return strings.Join(parts, "\n")
}
