package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// InboxConfig sizes a generated inbox: Convs conversations of one
// workspace with PerConv messages on average (1 to 2×PerConv−1 each).
type InboxConfig struct {
	Convs, PerConv int
}

// Inbox is a generated data directory, ready for the server.
type Inbox struct {
	DataDir   string
	Workspace Workspace
	Convs     int
	Messages  int
	// Vocab is the message vocabulary, most frequent word first.
	Vocab []string
	// Names are some of the contacts' names.
	Names []string
	// Generated is how long generating took (zero when reused).
	Generated time.Duration
}

// Distribution of the generated conversations over folders and filters.
const (
	inboxVIPEvery    = 20 // one conversation in 20 is tagged vip
	inboxUnreadEvery = 4  // one in 4 has unread messages
	inboxVocab       = 50_000
	inboxPerBatch    = 256 // conversations per committed batch
)

var (
	inboxSyllables = strings.Fields(`pa pe pi po pu ta te ti to tu ka ke ki ko ku la le li lo lu ma me mi mo mu
		na ne ni no nu ra re ri ro ru sa se si so su va ve vi vo vu ção lhe nha gué ñu ré tê`)
	inboxFirst = strings.Fields(`Ana Bruno Carla Diego Elisa Fábio Gabriela Hugo Inês João Karina Lucas Márcia
		Nuno Olívia Paulo Quésia Rafael Sofía Tiago Úrsula Vítor Wanda Yara Zoë`)
	inboxLast = strings.Fields(`Almeida Barbosa Cardoso Duarte Esteves Faria Gonçalves Henriques Ibáñez Jardim
		Lacerda Magalhães Nogueira Orozco Peña Quintana Ribeiro Salgado Teixeira Valente`)
)

// inboxWord is word i of the vocabulary: i written in base
// len(inboxSyllables), a syllable per digit, three at least.
func inboxWord(i int) string {
	var b strings.Builder
	for k := 0; k < 3 || i > 0; k++ {
		b.WriteString(inboxSyllables[i%len(inboxSyllables)])
		i /= len(inboxSyllables)
	}
	return b.String()
}

// GenerateInbox writes cfg's conversations and messages, with their list
// and search indexes, straight into a new store in dataDir (the way the
// actors would commit them, many conversations per batch), and compacts
// it. A directory generated before with the same cfg is reused as is.
func GenerateInbox(ctx context.Context, dataDir string, cfg InboxConfig, progress io.Writer) (*Inbox, error) {
	marker := filepath.Join(dataDir, "INBOX_BENCH")
	want := fmt.Sprintf("convs=%d perconv=%d v1", cfg.Convs, cfg.PerConv)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := &Inbox{DataDir: dataDir, Convs: cfg.Convs}
	for i := range inboxVocab {
		in.Vocab = append(in.Vocab, inboxWord(i))
	}
	reuse := false
	if m, err := os.ReadFile(marker); err == nil && string(m) == want {
		reuse = true
	} else if err := os.RemoveAll(dataDir); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", dataDir, err)
	}
	wss, err := SeedWorkspaces(dataDir, 1, now)
	if err != nil {
		return nil, err
	}
	in.Workspace = wss[0]
	start := time.Now()
	if err := generateInbox(ctx, in, cfg, now, !reuse, progress); err != nil {
		return nil, err
	}
	if reuse {
		return in, nil
	}
	in.Generated = time.Since(start)
	if err := os.WriteFile(marker, []byte(want), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", marker, err)
	}
	return in, nil
}

// generateInbox replays the generator (deterministic) to fill in's names
// and message count, writing the data when write is set.
func generateInbox(ctx context.Context, in *Inbox, cfg InboxConfig, now time.Time, write bool, progress io.Writer) (err error) {
	var s *persistence.Store
	if write {
		if s, err = persistence.Open(persistence.Options{Dir: StoreDir(in.DataDir), NoSync: true}); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, s.Close()) }()
	}
	type conv struct {
		c    engine.Conversation
		msgs []engine.Message
	}
	jobs := make(chan []conv, 4)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for cs := range jobs {
				b := s.NewBatch()
				for i := range cs {
					b.PutConversation(nil, &cs[i].c)
					for k := range cs[i].msgs {
						b.PutMessage(&cs[i].msgs[k], cs[i].c.Channel)
					}
					if err := s.IndexConversation(b, nil, &cs[i].c, cs[i].msgs, nil); err != nil {
						b.Close()
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
	defer func() {
		close(jobs)
		wg.Wait()
		select {
		case werr := <-errs:
			err = errors.Join(err, fmt.Errorf("writing the inbox: %w", werr))
		default:
		}
	}()

	rng := rand.New(rand.NewPCG(7, 11))
	zipf := rand.NewZipf(rng, 1.1, 4, uint64(len(in.Vocab)-1))
	owner := seqID(now, 2).String() // the owner SeedWorkspaces made
	const year = 365 * 24 * time.Hour
	ws := in.Workspace.ID
	var batch []conv
	started := time.Now()
	for i := range cfg.Convs {
		created := now.Add(-year + time.Duration(i)*(year/time.Duration(cfg.Convs)))
		name := inboxFirst[rng.IntN(len(inboxFirst))] + " " + inboxLast[rng.IntN(len(inboxLast))]
		if i%(max(1, cfg.Convs/1000)) == 0 {
			in.Names = append(in.Names, name)
		}
		ch := engine.Channels[rng.IntN(len(engine.Channels))]
		c := engine.NewConversation(seqID(created, uint64(i)+100), ws, ch, "acct-1", seqID(created, uint64(cfg.Convs+i)+100), //nolint:gosec // i >= 0
			fmt.Sprintf("55119%08d", i), created)
		c.ContactName = name
		switch r := rng.IntN(20); {
		case r < 3:
			c.Folder = engine.FolderSolved
		case r == 3:
			c.Folder = engine.FolderSpam
		case r == 4:
			c.Folder = engine.FolderArchived
		}
		if rng.IntN(inboxVIPEvery) == 0 {
			c.Tags = append(c.Tags, "vip")
		}
		if rng.IntN(3) == 0 {
			c.AssigneeID = owner
		}
		n := 1 + rng.IntN(2*cfg.PerConv-1)
		in.Messages += n
		gap := time.Duration(1+rng.IntN(600)) * time.Minute
		var msgs []engine.Message
		for k := range n {
			at := created.Add(time.Duration(k) * gap)
			words := make([]string, 4+rng.IntN(12))
			for w := range words {
				words[w] = in.Vocab[zipf.Uint64()]
			}
			if !write {
				continue
			}
			m := engine.Message{ID: seqID(at, uint64(i)), WorkspaceID: ws, ConversationID: c.ID, Seq: uint64(k + 1), //nolint:gosec // k >= 0
				Direction: engine.DirIn, Sender: engine.Sender{Kind: engine.SenderCustomer},
				Content: engine.Content{Kind: engine.KindText, Text: strings.Join(words, " ")}, CreatedAt: at}
			if k%2 == 1 {
				m.Direction, m.Sender = engine.DirOut, engine.Sender{Kind: engine.SenderAI}
			}
			msgs = append(msgs, m)
			c.LastSeq, c.LastActivityAt, c.Preview = m.Seq, at, m.Content.Preview()
		}
		if rng.IntN(inboxUnreadEvery) == 0 {
			c.UnreadCount = 1 + rng.IntN(3)
		}
		if !write {
			continue
		}
		batch = append(batch, conv{c: c, msgs: msgs})
		if len(batch) == inboxPerBatch || i == cfg.Convs-1 {
			select {
			case jobs <- batch:
			case werr := <-errs:
				return fmt.Errorf("writing the inbox: %w", werr)
			case <-ctx.Done():
				return ctx.Err()
			}
			batch = nil
		}
		if progress != nil && (i+1)%100_000 == 0 {
			fmt.Fprintf(progress, "  generated %d conversations, %d messages (%s)\n", i+1, in.Messages, time.Since(started).Round(time.Second))
		}
	}
	if !write {
		return nil
	}
	close(jobs)
	wg.Wait()
	jobs = make(chan []conv) // the deferred close closes this one
	select {
	case werr := <-errs:
		return fmt.Errorf("writing the inbox: %w", werr)
	default:
	}
	if progress != nil {
		fmt.Fprintf(progress, "  compacting the store\n")
	}
	if err := s.DB().Compact(ctx, []byte{0}, []byte{0xFF}, true); err != nil {
		return fmt.Errorf("compacting: %w", err)
	}
	return nil
}

// Latencies is a sorted sample of latencies.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0 < p < 100).
func (l Latencies) Percentile(p float64) time.Duration { return percentile(l, p) }

// ListShape is one inbox list request measured.
type ListShape struct {
	Name  string
	Query string // the query string of GET /api/v1/conversations
}

// ListShapes are the list requests ListLatency measures: the first page
// of 50, unfiltered and with the filters of the inbox's sidebar.
var ListShapes = []ListShape{
	{"open, no filter", "folder=open"},
	{"open, unread", "folder=open&unread=true"},
	{"open, tag vip", "folder=open&tag=vip"},
	{"open, tag vip + unread", "folder=open&tag=vip&unread=true"},
	{"open, assigned to me", "folder=open&assignee=me"},
	{"solved, no filter", "folder=solved"},
}

// ListResult is the latency of one list shape over HTTP.
type ListResult struct {
	Shape ListShape
	// Latencies are request → whole response read, sorted.
	Latencies Latencies
	// Returned is the conversations on the first page (the last
	// response).
	Returned int
}

// ListLatency requests the first page of each shape n times in a row
// (after n/10 unmeasured requests) on the server at addr with token,
// one request at a time, and returns the latencies.
func ListLatency(ctx context.Context, addr, token string, shapes []ListShape, n int) ([]ListResult, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	var out []ListResult
	for _, sh := range shapes {
		res := ListResult{Shape: sh}
		for i := range n + n/10 {
			t0 := time.Now()
			body, err := apiGet(ctx, client, addr, token, "/api/v1/conversations?"+sh.Query)
			d := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", sh.Query, err)
			}
			if i >= n/10 {
				res.Latencies = append(res.Latencies, d)
			}
			if i == 0 {
				var page struct {
					Conversations []json.RawMessage `json:"conversations"`
				}
				if err := json.Unmarshal(body, &page); err != nil {
					return nil, fmt.Errorf("list %s: reading the page: %w", sh.Query, err)
				}
				res.Returned = len(page.Conversations)
			}
		}
		slices.Sort(res.Latencies)
		out = append(out, res)
	}
	return out, nil
}

// SearchShape is one kind of search query measured.
type SearchShape struct {
	Name    string
	Queries []string
}

// SearchResult is the latency of one search shape at the store.
type SearchResult struct {
	Shape     SearchShape
	Latencies Latencies
	// Hits is the mean number of hits on the first page.
	Hits float64
}

// SearchShapes are the query shapes measured on in's data: words by
// frequency, a name, two words, a prefix.
func (in *Inbox) SearchShapes() []SearchShape {
	pick := func(lo, hi, n int) []string {
		var out []string
		for i := range n {
			out = append(out, in.Vocab[lo+i*(hi-lo)/n])
		}
		return out
	}
	common, mid, rare := pick(0, 20, 20), pick(500, 2000, 100), pick(20_000, inboxVocab, 100)
	var two, prefix []string
	for i := range 100 {
		two = append(two, common[i%len(common)]+" "+mid[(i*7)%len(mid)])
		prefix = append(prefix, string([]rune(mid[i])[:3]))
	}
	return []SearchShape{
		{"common word", common}, {"mid word", mid}, {"rare word", rare},
		{"common + mid word", two}, {"3-letter prefix", prefix}, {"contact name", in.Names},
	}
}

// SearchLatency runs each shape's queries (first page of 20) n times in
// all against the stopped server's store, one at a time.
func SearchLatency(in *Inbox, shapes []SearchShape, n int) (_ []SearchResult, err error) {
	s, err := persistence.Open(persistence.Options{Dir: StoreDir(in.DataDir)})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	return searchLatency(shapes, n, 0, func(q string) (int, error) {
		page, err := s.Search(in.Workspace.ID, persistence.SearchQuery{Text: q, Limit: 20})
		return len(page.Hits), err
	})
}

// SearchHTTPLatency runs each shape's queries (first page of 20) n times
// in all through GET /api/v1/search on the server at addr with token, one
// request at a time after n/10 unmeasured, and returns the latencies
// (request → whole response read).
func SearchHTTPLatency(ctx context.Context, addr, token string, shapes []SearchShape, n int) ([]SearchResult, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	return searchLatency(shapes, n, n/10, func(q string) (int, error) {
		body, err := apiGet(ctx, client, addr, token, "/api/v1/search?limit=20&q="+url.QueryEscape(q))
		if err != nil {
			return 0, err
		}
		var page struct {
			Hits []json.RawMessage `json:"hits"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return 0, fmt.Errorf("reading the page: %w", err)
		}
		return len(page.Hits), nil
	})
}

// searchLatency times search(q) over each shape's queries, warm
// unmeasured then n measured, and counts the hits of the measured ones.
func searchLatency(shapes []SearchShape, n, warm int, search func(q string) (int, error)) ([]SearchResult, error) {
	var out []SearchResult
	for _, sh := range shapes {
		res := SearchResult{Shape: sh}
		hits := 0
		for i := range n + warm {
			q := sh.Queries[i%len(sh.Queries)]
			t0 := time.Now()
			h, err := search(q)
			d := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("search %q: %w", q, err)
			}
			if i >= warm {
				res.Latencies = append(res.Latencies, d)
				hits += h
			}
		}
		slices.Sort(res.Latencies)
		res.Hits = float64(hits) / float64(n)
		out = append(out, res)
	}
	return out, nil
}

// apiGet GETs path on the server at addr with token and returns the
// body of a 200.
func apiGet(ctx context.Context, client *http.Client, addr, token, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body, nil
}

// RestartResult is one start of the server on a generated inbox.
type RestartResult struct {
	// Ready is exec → the first 200 from /readyz; FirstPage is exec →
	// the first inbox page read whole.
	Ready, FirstPage time.Duration
	// RSS is the server's resident memory once the first page is served.
	RSS int64
}

// MeasureRestart starts the binary bin on dataDir, polls /readyz every
// millisecond from the moment the server reports its address, then
// reads the first page of the open inbox with token, and leaves the
// server running (the caller stops it).
func MeasureRestart(ctx context.Context, bin, dataDir, token string) (*Process, RestartResult, error) {
	var r RestartResult
	t0 := time.Now()
	p, err := StartParley(ctx, bin, dataDir)
	if err != nil {
		return nil, r, err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for {
		_, err := apiGet(ctx, client, p.Addr, token, "/readyz")
		if err == nil {
			break
		}
		if time.Since(t0) > 60*time.Second {
			return p, r, fmt.Errorf("/readyz not 200 after 60 s: %w", err)
		}
		time.Sleep(time.Millisecond)
	}
	r.Ready = time.Since(t0)
	if _, err := apiGet(ctx, client, p.Addr, token, "/api/v1/conversations?folder=open"); err != nil {
		return p, r, fmt.Errorf("first page: %w", err)
	}
	r.FirstPage = time.Since(t0)
	r.RSS = ProcessRSS(p.PID())
	return p, r, nil
}

// ProcessRSS is the resident set size of process pid in bytes (from
// /proc; 0 where that cannot be read).
func ProcessRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// ActivateConversations brings n of the open conversations without
// unread messages into memory on the server at addr (each answers
// POST …/read, which its actor handles and which changes nothing stored
// for a conversation already read, so the data stays reusable) and
// returns how many it activated.
func ActivateConversations(ctx context.Context, addr, token string, n int) (int, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	var ids []string
	cursor := ""
	for len(ids) < n {
		body, err := apiGet(ctx, client, addr, token, "/api/v1/conversations?folder=open&limit=100&cursor="+url.QueryEscape(cursor))
		if err != nil {
			return 0, err
		}
		var page struct {
			Conversations []struct {
				ID          string `json:"id"`
				UnreadCount int    `json:"unread_count"`
			} `json:"conversations"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return 0, fmt.Errorf("reading a list page: %w", err)
		}
		for _, c := range page.Conversations {
			if c.UnreadCount == 0 && len(ids) < n {
				ids = append(ids, c.ID)
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for i, id := range ids {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/api/v1/conversations/"+id+"/read", nil)
		if err != nil {
			return i, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return i, fmt.Errorf("marking %s read: %w", id, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return i, fmt.Errorf("marking %s read: %d", id, resp.StatusCode)
		}
	}
	return len(ids), nil
}
