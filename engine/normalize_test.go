package engine

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// matches reports whether every term of query q starts a token of tokens,
// which is what the search does per conversation.
func matches(tokens []string, q string) bool {
	terms := NormalizeQuery(q)
	if len(terms) == 0 {
		return false
	}
	for _, t := range terms {
		if !slices.ContainsFunc(tokens, func(tok string) bool { return strings.HasPrefix(tok, t) }) {
			return false
		}
	}
	return true
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"José Ñandú":    "jose nandu",
		"JOSÉ":          "jose",
		"Straße":        "strasse",
		"STRASSE":       "strasse",
		"Øresund Æble":  "oresund aeble",
		"Łódź":          "lodz",
		"İstanbul":      "istanbul",
		"ｊｏｓé":          "jose",
		"Ὀδυσσεύς":      "οδυσσευσ",
		"crème brûlée":  "creme brulee",
		"plain ascii 1": "plain ascii 1",
		"e\u0301cole":   "ecole", // decomposed input
	} {
		require.Equal(t, want, Fold(in), "Fold(%q)", in)
	}
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"José Ñandú", []string{"jose", "nandu"}},
		{"Hello, hello... HELLO!", []string{"hello"}},
		{"", nil},
		{"😀👍🏽 !!! ---", nil},
		{"don't stop", []string{"don", "t", "stop"}},
		{"pedido nº 48213", []string{"pedido", "no", "48213"}},
		{"東京タワー", []string{"東", "京", "タ", "ワ", "ー"}},
		{"서울 특별시", []string{"서울", "특별시"}},
		{"e\u0301cole", []string{"ecole"}},
		{"\xff\xfebad\xffutf8", []string{"bad", "utf8"}},
	} {
		require.Equal(t, tc.want, Tokens(tc.in), "Tokens(%q)", tc.in)
	}
}

func TestTokensEmailAndPhone(t *testing.T) {
	toks := Tokens("Write to José.Ñandú+shop@Example.COM. Or call +1 (555) 010-2030 today")
	for _, want := range []string{
		"jose.nandu+shop@example.com", "nandu+shop@example.com", "shop@example.com", "example.com",
		"jose", "nandu", "shop", "example", "com",
		"15550102030", "5550102030", "0102030", "1", "555", "010", "2030",
	} {
		require.Contains(t, toks, want)
	}
	require.NotContains(t, toks, "com.")
	// Not phone numbers: too few digits, one group, digits glued to words.
	for _, s := range []string{"call 555 010", "ref 5550102030", "x12 345 67"} {
		for _, tok := range Tokens(s) {
			require.False(t, len(tok) >= 7 && !strings.Contains(s, tok), "%q gave phone token %q", s, tok)
		}
	}
}

func TestQueryMatches(t *testing.T) {
	for _, tc := range []struct {
		text  string
		phone bool // text is a phone field
		q     string
		want  bool
	}{
		{text: "José Ñandú", q: "jose nandu", want: true},
		{text: "José Ñandú", q: "JOSÉ", want: true},
		{text: "José Ñandú", q: "nan", want: true},
		{text: "José Ñandú", q: "Ñ", want: true},
		{text: "José Ñandú", q: "josé ñandú", want: true},
		{text: "jose nandu", q: "José", want: true},
		{text: "José Ñandú", q: "andu", want: false}, // prefix, not substring
		{text: "José Ñandú", q: "jose maria", want: false},
		{text: "José Ñandú", q: "ñandú jo", want: true},
		{text: "Call +1 (555) 010-2030", q: "5550102030", want: true},
		{text: "Call +1 (555) 010-2030", q: "555", want: true},
		{text: "Call +1 (555) 010-2030", q: "+1 555 010 2030", want: true},
		{text: "Call +1 (555) 010-2030", q: "(555) 010-2030", want: true},
		{text: "Call +1 (555) 010-2030", q: "555-010", want: true},
		{text: "+1 (555) 010-2030", phone: true, q: "5550102030", want: true},
		{text: "+1 (555) 010-2030", phone: true, q: "555", want: true},
		{text: "+1 (555) 010-2030", phone: true, q: "2030", want: true},
		{text: "15550102030", phone: true, q: "5550102030", want: true},
		{text: "15550102030", phone: true, q: "(555) 010-2030", want: true},
		{text: "15550102030", phone: true, q: "555 010 2031", want: false},
		{text: "mail jose.nandu@example.com", q: "jose.nandu@example.com", want: true},
		{text: "mail jose.nandu@example.com", q: "JOSÉ.Nandu@exa", want: true},
		{text: "mail jose.nandu@example.com", q: "nandu@example", want: true},
		{text: "mail jose.nandu@example.com", q: "jose@example.com", want: false},
		{text: "mail jose.nandu@example.com", q: "example", want: true},
		{text: "mail jose.nandu@example.com", q: "@example", want: true},
		{text: "東京タワーへ行く", q: "東京", want: true},
		{text: "東京タワーへ行く", q: "大阪", want: false},
		{text: "Olá, obrigada!", q: "OBRIG", want: true},
		{text: "Straße 5", q: "strasse", want: true},
	} {
		toks := Tokens(tc.text)
		if tc.phone {
			toks = PhoneTokens(tc.text)
		}
		require.Equal(t, tc.want, matches(toks, tc.q), "%q ~ %q (tokens %q, terms %q)", tc.text, tc.q, toks, NormalizeQuery(tc.q))
	}
}

func TestNormalizeQuery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"  ", nil},
		{"!!! 😀", nil},
		{"Maria", []string{"maria"}},
		{"mar maria", []string{"maria"}},   // "mar" adds nothing to "maria"
		{"maria MARIA", []string{"maria"}}, // duplicates
		{"refund order", []string{"refund", "order"}},
		{"+1 (555) 010-2030", []string{"15550102030"}},
		{"call 555-010-2030 now", []string{"5550102030", "call", "now"}},
		{"jose@acme", []string{"jose@acme"}},
		{"to: Jose@Acme.com please", []string{"jose@acme.com", "to", "please"}},
		{"東京", []string{"東", "京"}},
		{strings.Repeat("a", 100), []string{strings.Repeat("a", MaxTokenBytes)}},
	} {
		got := NormalizeQuery(tc.in)
		if len(tc.want) == 0 {
			require.Empty(t, got, "NormalizeQuery(%q)", tc.in)
			continue
		}
		require.Equal(t, tc.want, got, "NormalizeQuery(%q)", tc.in)
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("palavra ", 30) + "Gostaria de saber o prazo do PEDIDO número 48213, obrigada. " + strings.Repeat("fim ", 30)
	s := Snippet(long, NormalizeQuery("pedido"), SnippetRunes)
	require.Contains(t, s, "PEDIDO número 48213")
	require.True(t, strings.HasPrefix(s, "…") && strings.HasSuffix(s, "…"), s)
	require.LessOrEqual(t, utf8.RuneCountInString(s), SnippetRunes+2)

	require.Equal(t, "Olá José, tudo bem?", Snippet("Olá  José,\n tudo bem?", NormalizeQuery("jose"), SnippetRunes))
	require.Equal(t, "no match here", Snippet("no match here", NormalizeQuery("zzz"), SnippetRunes))
	s = Snippet("Ligue para +1 (555) 010-2030 amanhã", NormalizeQuery("5550102030"), 20)
	require.Contains(t, s, "+1 (555)")

	start, end, ok := FindMatch("Ver o Ñandú", []string{"nan"})
	require.True(t, ok)
	require.Equal(t, "Ñandú", "Ver o Ñandú"[start:end])
	require.Equal(t, 2, MatchCount("refund for order 12", []string{"order", "ref", "zzz"}))
}

func TestSearchText(t *testing.T) {
	c := Content{Kind: KindDocument, Media: &Media{Caption: "Fatura de março", Filename: "fatura-03.pdf"}}
	require.Equal(t, "Fatura de março\nfatura-03.pdf", c.SearchText())
	c = Content{Kind: KindLocation, Location: &Location{Name: "Loja Centro", Address: "Rua A, 1"}}
	require.Equal(t, "Loja Centro\nRua A, 1", c.SearchText())
	require.Empty(t, Content{Kind: KindSticker}.SearchText())
}

// FuzzTokens checks that tokenizing never panics, yields bounded, valid,
// distinct tokens, and that searching for any token finds its text.
func FuzzTokens(f *testing.F) {
	for _, s := range []string{
		"José Ñandú", "+1 (555) 010-2030", "jose.nandu+x@example.com", "東京タワー", "😀 e\u0301cole",
		"\xff\x00a@b.c", "((((+1", "a@", "@@@", "1.2.3.4.5.6.7.8", "İSTANBUL ǅ ﬁ ½",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := Tokens(s)
		require.LessOrEqual(t, len(toks), MaxTokensPerText)
		seen := map[string]bool{}
		for _, tok := range toks {
			require.NotEmpty(t, tok)
			require.True(t, utf8.ValidString(tok), "%q", tok)
			require.LessOrEqual(t, len(tok), MaxTokenBytes)
			require.NotContains(t, tok, "\x00")
			require.False(t, seen[tok], "duplicate %q", tok)
			seen[tok] = true
		}
		for i, tok := range toks {
			if i == 8 {
				break
			}
			require.True(t, matches(toks, tok), "token %q of %q not found by itself (terms %q)", tok, s, NormalizeQuery(tok))
		}
		_ = PhoneTokens(s)
		terms := NormalizeQuery(s)
		for _, term := range terms {
			require.NotEmpty(t, term)
			require.True(t, utf8.ValidString(term))
		}
		snip := Snippet(s, terms, SnippetRunes)
		require.True(t, utf8.ValidString(snip))
		if start, end, ok := FindMatch(s, terms); ok {
			require.True(t, 0 <= start && start < end && end <= len(s))
		}
	})
}
