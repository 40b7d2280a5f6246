package persistence

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// Search benchmark data: conversations whose messages draw words from a
// Zipf-distributed vocabulary (common Portuguese, Spanish and English
// words first, then made-up words with accents: a long tail like real
// chat text), contacts with accented names, WhatsApp numbers, some
// profiles with a company and an email.
//
// Scale: PARLEY_SEARCH_BENCH_CONVS conversations (default 20000) of
// PARLEY_SEARCH_BENCH_MSGS messages on average (default 10). With
// PARLEY_SEARCH_BENCH_DIR the store is kept there and reused by the next
// run with the same scale.

var benchCommonWords = strings.Fields(`olá oi bom dia boa tarde noite obrigado obrigada por favor
	pedido entrega prazo quando onde como quanto preço valor pagamento pix cartão boleto
	não sim ok certo você está estou meu minha seu sua nosso produto compra loja site
	hola gracias buenos días por favor pedido envío cuándo dónde cuánto precio está
	hello thanks please order delivery when where how much price payment refund
	cancelar cancelamento troca devolução reembolso atraso atrasado chegou chegar
	endereço rua número cep cidade estado frete grátis desconto cupom promoção
	tamanho cor modelo estoque disponível quero gostaria preciso ajuda atendimento
	problema defeito garantia nota fiscal código rastreio rastreamento transportadora
	amanhã hoje ontem semana mês horário aberto fechado sábado domingo segunda`)

var benchSyllables = strings.Fields(`ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge go gu
	la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su
	ta te ti to tu va ve vi vo za ze zi zo ção ções ñu ña ñe lé ré tê lú xá qui gue nha lhe`)

var benchFirstNames = strings.Fields(`José Maria João Ana Antônio Francisca Carlos Paulo Adriana Lúcia
	Luiz Marcos Luís Gabriel Rafael Juliana Márcia Fernanda Patrícia Aline Sandra Camila
	Amanda Bruna Jéssica Letícia Júlia Luciana Vanessa Mariana Gabriela Vitória Larissa
	Iñaki Begoña Nuño Sofía Mateo Lucía Martín Valentina Zoë Chloé Björn Søren Åsa Łukasz`)

var benchLastNames = strings.Fields(`Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima
	Gomes Costa Ribeiro Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa
	Rocha Dias Nascimento Andrade Moreira Nunes Marques Machado Mendes Freitas Cardoso
	Ramos Gonçalves Santana Teixeira Araújo Muñoz Núñez Peña Ibáñez Castaño Müller Ødegaard`)

// The vocabulary grows with the data (as real vocabularies do): 60000
// words, or one per 20 messages when that is more.
const benchVocabMin = 60_000

type searchBench struct {
	s        *Store
	ws       engine.ID
	convs    int
	messages int
	vocab    []string
	convUses []int32 // conversations each word appears in
	names    []string
	phones   []string
	emails   []string
	firsts   []string
}

func benchScale() (convs, perConv int) {
	convs, perConv = 20_000, 10
	if v, err := strconv.Atoi(os.Getenv("PARLEY_SEARCH_BENCH_CONVS")); err == nil && v > 0 {
		convs = v
	}
	if v, err := strconv.Atoi(os.Getenv("PARLEY_SEARCH_BENCH_MSGS")); err == nil && v > 0 {
		perConv = v
	}
	return convs, perConv
}

// benchWord returns made-up word i of the long tail: i scrambled, written
// in base len(benchSyllables) with a syllable per digit (two at least).
func benchWord(i int) string {
	x := (i*7919 + 13) % 1_000_003
	var b strings.Builder
	for k := 0; k < 2 || x > 0; k++ {
		b.WriteString(benchSyllables[x%len(benchSyllables)])
		x /= len(benchSyllables)
	}
	return b.String()
}

func benchID(t time.Time, i int) engine.ID {
	var id engine.ID
	_ = id.SetTime(uint64(t.UnixMilli()))         //nolint:gosec // after 1970
	binary.BigEndian.PutUint64(id[8:], uint64(i)) //nolint:gosec // i >= 0
	return id
}

// genSearchBench generates the data; with write false it only replays
// the generator (to know the words and names of a kept store).
func genSearchBench(tb testing.TB, s *Store, convs, perConv int, write bool) *searchBench {
	tb.Helper()
	sb := &searchBench{s: s, ws: benchID(t0, 0), convs: convs, firsts: benchFirstNames}
	seen := map[string]bool{}
	sb.vocab = append(sb.vocab, benchCommonWords...)
	for _, w := range benchCommonWords {
		seen[w] = true
	}
	vocab := max(benchVocabMin, convs*perConv/20)
	for i := 0; len(sb.vocab) < vocab; i++ {
		if w := benchWord(i); !seen[w] {
			seen[w] = true
			sb.vocab = append(sb.vocab, w)
		}
	}
	sb.convUses = make([]int32, len(sb.vocab))
	lastConv := make([]int32, len(sb.vocab))
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.07, 2, uint64(len(sb.vocab)-1))
	const year = 365 * 24 * time.Hour

	type convGen struct {
		c    engine.Conversation
		n    int // messages
		gap  time.Duration
		prof *engine.Profile
	}
	gens := make([]convGen, convs)
	for i := range gens {
		created := t0.Add(time.Duration(i) * (year / time.Duration(convs)))
		name := benchFirstNames[rng.IntN(len(benchFirstNames))] + " " + benchLastNames[rng.IntN(len(benchLastNames))]
		ch, ext := engine.ChannelWhatsApp, fmt.Sprintf("55%02d9%08d", 11+rng.IntN(80), rng.IntN(100_000_000))
		switch rng.IntN(10) {
		case 0:
			ch, ext = engine.ChannelEmail, strings.ToLower(engine.Fold(strings.ReplaceAll(name, " ", ".")))+fmt.Sprintf("%d@example.com", i)
			sb.emails = append(sb.emails, ext)
		case 1, 2:
			ch, ext = engine.ChannelInstagram, fmt.Sprintf("ig-%d", i)
		default:
			sb.phones = append(sb.phones, ext)
		}
		id := benchID(created, i+1)
		c := engine.NewConversation(id, sb.ws, ch, "acct-1", benchID(created, convs+i+1), ext, created)
		c.ContactName = name
		sb.names = append(sb.names, name)
		g := convGen{c: c, n: 1 + rng.IntN(2*perConv-1), gap: time.Duration(1+rng.IntN(3*24*60)) * time.Minute}
		if rng.IntN(5) == 0 {
			g.prof = &engine.Profile{Name: name, Company: "Empresa " + benchWord(rng.IntN(5000)), Email: fmt.Sprintf("contato%d@%s.com.br", i, benchWord(i%977))}
		}
		gens[i] = g
		sb.messages += g.n
	}
	text := func(conv int) string {
		n := 4 + rng.IntN(13)
		words := make([]string, n)
		for k := range words {
			w := int(zipf.Uint64())
			words[k] = sb.vocab[w]
			if lastConv[w] != int32(conv+1) { //nolint:gosec // conv < 2^31
				lastConv[w] = int32(conv + 1) //nolint:gosec // as above
				sb.convUses[w]++
			}
		}
		if rng.IntN(4) == 0 {
			words[0] = strings.ToUpper(words[0][:1]) + words[0][1:]
		}
		if rng.IntN(5) == 0 { // an order number
			words = append(words, "nº", strconv.Itoa(10_000+rng.IntN(90_000)))
		}
		return strings.Join(words, " ") + "."
	}
	// Messages are written in rounds: round r adds message r of every
	// conversation that has one, many conversations per batch, as the
	// actors would (one IndexConversation per conversation per batch).
	rounds := 2 * perConv
	const perBatch = 256
	type job struct {
		old, cur engine.Conversation
		msg      engine.Message
		prof     *engine.Profile
		created  bool
	}
	var wg sync.WaitGroup
	jobs := make(chan []job, 4)
	errs := make(chan error, 2)
	if write {
		for range 2 {
			wg.Go(func() {
				for js := range jobs {
					b := s.NewBatch()
					for k := range js {
						j := &js[k]
						b.PutMessage(&j.msg, j.cur.Channel)
						var old *engine.Conversation
						if !j.created {
							old = &j.old
						}
						b.PutConversation(old, &j.cur)
						if err := s.IndexConversation(b, old, &j.cur, []engine.Message{j.msg}, j.prof); err != nil {
							errs <- err
							return
						}
					}
					if err := s.Commit(b); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	for r := range rounds {
		var js []job
		for i := range gens {
			g := &gens[i]
			if r >= g.n {
				continue
			}
			old := g.c
			at := g.c.CreatedAt.Add(time.Duration(r) * g.gap)
			g.c.LastSeq++
			g.c.LastActivityAt = at
			m := engine.Message{ID: benchID(at, i), WorkspaceID: sb.ws, ConversationID: g.c.ID, Seq: g.c.LastSeq,
				Direction: engine.DirIn, Sender: engine.Sender{Kind: engine.SenderCustomer},
				Content: engine.Content{Kind: engine.KindText, Text: text(i)}, CreatedAt: at}
			if r%2 == 1 {
				m.Direction, m.Sender = engine.DirOut, engine.Sender{Kind: engine.SenderAI}
			}
			if !write {
				continue
			}
			j := job{old: old, cur: g.c, msg: m, created: r == 0}
			if r == 0 {
				j.prof = g.prof
			}
			js = append(js, j)
			if len(js) == perBatch {
				jobs <- js
				js = nil
			}
		}
		if len(js) > 0 {
			jobs <- js
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
	return sb
}

// openSearchBench opens (or generates) the benchmark store.
func openSearchBench(b *testing.B) *searchBench {
	b.Helper()
	convs, perConv := benchScale()
	dir := os.Getenv("PARLEY_SEARCH_BENCH_DIR")
	marker := fmt.Sprintf("convs=%d msgs=%d v3", convs, perConv)
	reuse := false
	if dir == "" {
		dir = b.TempDir()
	} else if m, err := os.ReadFile(dir + "/SEARCH_BENCH"); err == nil && string(m) == marker {
		reuse = true
	} else {
		require.NoError(b, os.RemoveAll(dir))
	}
	s, err := Open(Options{Dir: dir, NoSync: true})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	start := time.Now()
	sb := genSearchBench(b, s, convs, perConv, !reuse)
	if !reuse {
		b.Logf("generated %d conversations, %d messages in %s", sb.convs, sb.messages, time.Since(start).Round(time.Second))
		start = time.Now()
		require.NoError(b, s.DB().Compact(context.Background(), []byte{0}, []byte{0xFF}, true))
		b.Logf("compacted in %s", time.Since(start).Round(time.Second))
		require.NoError(b, os.WriteFile(dir+"/SEARCH_BENCH", []byte(marker), 0o600))
	}
	return sb
}

// usedWords returns up to n words used in between lo and hi
// conversations, spread over the vocabulary.
func (sb *searchBench) usedWords(lo, hi int32, n int) []string {
	var out []string
	for i, u := range sb.convUses {
		if u >= lo && u <= hi && len(engine.Tokens(sb.vocab[i])) == 1 {
			out = append(out, sb.vocab[i])
		}
	}
	if len(out) > n {
		step := len(out) / n
		var spread []string
		for i := 0; i < len(out) && len(spread) < n; i += step {
			spread = append(spread, out[i])
		}
		out = spread
	}
	return out
}

// BenchmarkSearch reports p50 and p99 latency of Store.Search (first
// page, 20 hits) for several query shapes, each run over many concrete
// queries, and the index size per message.
func BenchmarkSearch(b *testing.B) {
	sb := openSearchBench(b)
	db := sb.s.DB()
	idx, err := db.EstimateDiskUsage(wsPrefix(sb.ws, tSearch), prefixEnd(wsPrefix(sb.ws, tSearch)))
	require.NoError(b, err)
	msgs, err := db.EstimateDiskUsage(wsPrefix(sb.ws, tMessage), prefixEnd(wsPrefix(sb.ws, tMessage)))
	require.NoError(b, err)
	total := db.Metrics().DiskSpaceUsage()
	b.Logf("scale: %d conversations, %d messages; search index %d MB (%.0f B/message), messages %d MB, store %d MB",
		sb.convs, sb.messages, idx>>20, float64(idx)/float64(sb.messages), msgs>>20, total>>20)

	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(xs []string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = xs[rng.IntN(len(xs))]
		}
		return out
	}
	top := sb.vocab[:40]
	prefix3 := func(ws []string) []string {
		out := make([]string, len(ws))
		for i, w := range ws {
			r := []rune(w)
			out[i] = string(r[:min(3, len(r))])
		}
		return out
	}
	pairs := func(a, c []string) []string {
		if len(a) == 0 || len(c) == 0 {
			return nil
		}
		out := make([]string, 200)
		for i := range out {
			out[i] = a[rng.IntN(len(a))] + " " + c[rng.IntN(len(c))]
		}
		return out
	}
	phoneTails := make([]string, 0, 200)
	for _, p := range pick(sb.phones, 200) {
		phoneTails = append(phoneTails, p[len(p)-8:])
	}
	mid := sb.usedWords(int32(sb.convs/200), int32(sb.convs/50), 200) //nolint:gosec // small
	rare := sb.usedWords(1, 20, 200)
	shapes := []struct {
		name    string
		queries []string
		page    int // the page measured; 0 and 1 mean the first
	}{
		{"one-letter", strings.Fields("a b c d e f g h i j l m n o p q r s t u v x z"), 0},
		{"common-prefix", prefix3(top), 0},
		{"common-word", top, 0},
		{"mid-word", mid, 0},
		{"rare-word", rare, 0},
		{"rare-prefix", prefix3(rare), 0},
		{"two-common", pairs(top, top), 0},
		{"common+rare", pairs(top, rare), 0},
		{"two-mid", pairs(mid, mid), 0},
		{"name", pick(sb.names, 200), 0},
		{"first-name-prefix", prefix3(sb.firsts), 0},
		{"phone-tail", phoneTails, 0},
		{"email", pick(sb.emails, 200), 0},
		{"common-word-page5", top, 5},
		{"name-page3", pick(sb.names, 200), 3},
	}
	for _, sh := range shapes {
		if len(sh.queries) == 0 {
			continue
		}
		b.Run(sh.name, func(b *testing.B) {
			var lat []time.Duration
			hits, partial := 0, 0
			i := 0
			for b.Loop() {
				q := sh.queries[i%len(sh.queries)]
				i++
				cursor := ""
				for range sh.page - 1 { // pages before the measured one
					page, err := sb.s.Search(sb.ws, SearchQuery{Text: q, Limit: 20, Cursor: cursor})
					if err != nil {
						b.Fatalf("query %q: %v", q, err)
					}
					cursor = page.NextCursor
				}
				start := time.Now()
				page, err := sb.s.Search(sb.ws, SearchQuery{Text: q, Limit: 20, Cursor: cursor})
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatalf("query %q: %v", q, err)
				}
				hits += len(page.Hits)
				if page.Partial {
					partial++
				}
			}
			slices.Sort(lat)
			ms := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
			b.ReportMetric(float64(hits)/float64(len(lat)), "hits/query")
			b.ReportMetric(float64(partial)/float64(len(lat)), "partial/query")
		})
	}
}

// BenchmarkSearchIndexWrite measures the write-path cost of indexing one
// typical message (building the batch, no commit), next to the message
// and header writes it joins.
func BenchmarkSearchIndexWrite(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), NoSync: true})
	require.NoError(b, err)
	defer func() { require.NoError(b, s.Close()) }()
	ws := benchID(t0, 0)
	c := engine.NewConversation(benchID(t0, 1), ws, engine.ChannelWhatsApp, "acct-1", benchID(t0, 2), "5511999999999", t0)
	c.ContactName = "Mariana Albuquerque de Souza"
	c.LastSeq = 41
	old := c
	c.LastSeq, c.LastActivityAt = 42, at(time.Minute)
	m := newMsg(&c, 42, "wamid.1")
	m.Text = "Olá! Gostaria de saber o prazo de entrega do meu pedido número 48213, obrigada."
	for _, index := range []bool{false, true} {
		b.Run(fmt.Sprintf("index=%v", index), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bt := s.NewBatch()
				bt.PutMessage(&m, c.Channel)
				bt.PutConversation(&old, &c)
				if index {
					if err := s.IndexConversation(bt, &old, &c, []engine.Message{m}, nil); err != nil {
						b.Fatal(err)
					}
				}
				bt.Close()
			}
		})
	}
}
