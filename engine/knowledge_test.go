package engine

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestChunk(t *testing.T) {
	if got := Chunk(""); len(got) != 0 {
		t.Errorf("empty text: %q", got)
	}
	// Short paragraphs are joined while they fit.
	got := Chunk("First paragraph here.\n\nSecond one.\r\n\r\n\n  Third.  ")
	if len(got) != 1 || got[0] != "First paragraph here.\n\nSecond one.\n\nThird." {
		t.Errorf("short paragraphs: %q", got)
	}
	// Paragraphs that do not fit together start a new passage.
	p := strings.TrimSpace(strings.Repeat("word ", 100))
	got = Chunk(p + "\n\n" + p)
	if len(got) != 2 {
		t.Fatalf("two paragraphs of 100 words: %d passages", len(got))
	}
	// A long paragraph is cut between sentences, a long sentence between
	// words; no word is lost or split.
	long := strings.Repeat("This is one sentence of seven words. ", 60) + strings.Repeat("run ", 450)
	got = Chunk(long)
	words := 0
	for _, c := range got {
		n := len(strings.Fields(c))
		if n > maxPassageWords {
			t.Errorf("passage of %d words", n)
		}
		if c != strings.TrimSpace(c) {
			t.Errorf("passage %q has outer space", c)
		}
		words += n
	}
	if words != 420+450 {
		t.Errorf("words kept %d, want %d", words, 420+450)
	}
	if !strings.HasSuffix(got[0], "words.") {
		t.Errorf("the first passage does not end on a sentence: %q", got[0][len(got[0])-20:])
	}
}

func TestKnowledgeTerms(t *testing.T) {
	terms, counts := KnowledgeTerms("How do I get my REFUNDS? Refund, refunded... Café")
	want := []string{"refund", "cafe"}
	if strings.Join(terms, ",") != strings.Join(want, ",") || counts[0] != 3 || counts[1] != 1 {
		t.Errorf("terms %q counts %v, want %q [3 1]", terms, counts, want)
	}
	q := KnowledgeQuery("the shipping, SHIPPING and the pasword")
	if len(q) != 2 || q[0].Term != "shippi" || q[1].Term != "paswor" || q[1].Word != "pasword" {
		t.Errorf("query %+v", q)
	}
}

func TestBM25(t *testing.T) {
	// A rarer term weighs more; a repeated term saturates; a longer
	// passage weighs a term less.
	if !(BM25IDF(1, 100) > BM25IDF(50, 100)) || BM25IDF(100, 100) < 0 {
		t.Errorf("idf not decreasing or negative")
	}
	idf := BM25IDF(1, 10)
	one, two, ten := BM25Score(idf, 1, 10, 10), BM25Score(idf, 2, 10, 10), BM25Score(idf, 10, 10, 10)
	if !(one < two && two < ten && ten < idf*(bm25K1+1)) {
		t.Errorf("tf: %v %v %v, bound %v", one, two, ten, idf*(bm25K1+1))
	}
	if !(BM25Score(idf, 1, 5, 10) > BM25Score(idf, 1, 20, 10)) {
		t.Errorf("length normalisation")
	}
	// The textbook value: idf ln(1+(10-1+0.5)/1.5), tf 1, dl = avgdl.
	if got, want := BM25Score(idf, 1, 10, 10), math.Log(1+9.5/1.5); math.Abs(got-want) > 1e-12 {
		t.Errorf("score %v, want %v", got, want)
	}
}

func TestFuzzyTermMatch(t *testing.T) {
	for _, c := range []struct {
		word, term string
		want       bool
	}{
		{"pasword", "passwo", true},  // a letter dropped, the term cut
		{"passowrd", "passwo", true}, // two letters swapped
		{"retrun", "return", true},
		{"refnd", "refund", true},
		{"shiping", "shippi", true},
		{"warrenty", "warran", true},
		{"invoce", "invoic", true},
		{"cat", "car", false},         // too short to guess
		{"delivery", "passwo", false}, // another word
		{"refund", "return", false},   // two edits
	} {
		if got := FuzzyTermMatch(c.word, c.term); got != c.want {
			t.Errorf("FuzzyTermMatch(%q, %q) = %v, want %v", c.word, c.term, got, c.want)
		}
	}
}

func TestApplyKnowledge(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := func(v string) *string { return &v }
	e, err := ApplyKnowledge(KnowledgeEntry{Kind: KnowledgeFAQ}, KnowledgeChange{Question: s("  What   is it?\n"), Answer: s(" A thing. ")}, now)
	if err != nil || e.Title != "What is it?" || e.Question != "What   is it?" || e.Answer != "A thing." || !e.UpdatedAt.Equal(now) {
		t.Errorf("faq: %+v, %v", e, err)
	}
	for name, c := range map[string]struct {
		kind KnowledgeKind
		ch   KnowledgeChange
	}{
		"faq without answer":  {KnowledgeFAQ, KnowledgeChange{Question: s("q")}},
		"faq with a title":    {KnowledgeFAQ, KnowledgeChange{Question: s("q"), Answer: s("a"), Title: s("t")}},
		"text without text":   {KnowledgeText, KnowledgeChange{Title: s("t")}},
		"text with an answer": {KnowledgeText, KnowledgeChange{Title: s("t"), Text: s("x"), Answer: s("a")}},
		"bad utf-8":           {KnowledgeText, KnowledgeChange{Title: s("t"), Text: s("\xff")}},
		"long answer":         {KnowledgeFAQ, KnowledgeChange{Question: s("q"), Answer: s(strings.Repeat("a", MaxKnowledgeAnswerBytes+1))}},
		"document text":       {KnowledgeDocument, KnowledgeChange{Title: s("t"), Text: s("x")}},
		"unknown kind":        {"video", KnowledgeChange{Title: s("t")}},
	} {
		if _, err := ApplyKnowledge(KnowledgeEntry{Kind: c.kind}, c.ch, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	e = KnowledgeEntry{Kind: KnowledgeText, Title: "Guide", Text: strings.Repeat("Paragraph text here.\n\n", 200)}
	if ps := KnowledgePassages(&e, ""); len(ps) < 2 || ps[0].Title != "Guide" || ps[0].Kind != KnowledgeText {
		t.Errorf("text passages: %d %+v", len(ps), ps[0])
	}
}

func TestKnowledgeQueryTextAndFAQAnswer(t *testing.T) {
	cust := func(text string) Message {
		return Message{Direction: DirIn, Sender: Sender{Kind: SenderCustomer}, Content: Content{Text: text}}
	}
	out := Message{Direction: DirOut, Sender: Sender{Kind: SenderAI}, Content: Content{Text: "earlier answer"}}
	// Newest first: the customer's messages since the business wrote.
	hist := []Message{cust("when will it arrive?"), cust("I ordered a lamp"), out, cust("old question")}
	if got := KnowledgeQueryText(hist); got != "I ordered a lamp\nwhen will it arrive?" {
		t.Errorf("query text %q", got)
	}
	if got := KnowledgeQueryText([]Message{out}); got != "" {
		t.Errorf("no customer message: %q", got)
	}
	p := KnowledgePassage{Passage: Passage{Kind: KnowledgeFAQ, Answer: "Two days."}, Match: KnowledgeAnswerThreshold}
	if got, ok := FAQAnswer([]KnowledgePassage{p}); !ok || got.Answer != "Two days." {
		t.Errorf("FAQ at the threshold not answered")
	}
	low := p
	low.Match = KnowledgeAnswerThreshold - 0.01
	text := p
	text.Kind = KnowledgeText
	for _, ps := range [][]KnowledgePassage{nil, {low}, {text}} {
		if _, ok := FAQAnswer(ps); ok {
			t.Errorf("answered from %+v", ps)
		}
	}
	r := KnowledgeRating{ConversationID: ID{1}, Seq: 3, UserID: ID{2}}
	same := KnowledgeRating{ConversationID: ID{1}, Seq: 3, UserID: ID{2}}
	if CorrectionEntryID(r) != CorrectionEntryID(same) || CorrectionEntryID(r) == CorrectionEntryID(KnowledgeRating{ConversationID: ID{1}, Seq: 4, UserID: ID{2}}) {
		t.Errorf("correction ids not stable or not distinct")
	}
}
