package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// Errors returned by the Store.
var (
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("persistence: closed")
	// ErrNotFound is returned by point reads of a record that does not
	// exist.
	ErrNotFound = errors.New("persistence: not found")
)

// Options configure a Store. The zero value of each field means the
// default documented on it.
type Options struct {
	// Dir is the data directory. Required.
	Dir string
	// FS is the filesystem; nil means the real one. Tests use vfs.NewMem
	// or a fault-injecting wrapper.
	FS vfs.FS
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// CacheBytes is Pebble's block cache size; zero means 64 MiB.
	CacheBytes int64
	// Committers is the number of goroutines that commit grouped batches
	// in parallel; zero means 2. Each drains every batch queued when it
	// becomes free, so under load batches from many conversations share
	// one synced write. Negative means no grouping: each Commit writes
	// its own batch (Pebble still groups concurrent WAL syncs).
	Committers int
	// MaxGroupBytes caps the size of one grouped write; zero means 4 MiB.
	MaxGroupBytes int
	// NoSync turns fsync off. Only for benchmarks that measure the
	// difference; a Store with NoSync breaks "acked means durable".
	NoSync bool
	// migrations replaces the list of migrations, for tests that
	// interrupt one; nil means migrations (format.go).
	migrations []migration
	// Version is the running Parley's build version, recorded in the data
	// directory's format record (format.go); empty means the module
	// version and VCS revision from the binary's build information.
	Version string
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = 64 << 20
	}
	if o.Committers == 0 {
		o.Committers = 2
	}
	if o.MaxGroupBytes == 0 {
		o.MaxGroupBytes = 4 << 20
	}
	if o.Version == "" {
		o.Version = buildVersion()
	}
	return o
}

// memTableSize is Pebble's memtable size: large enough that sustained
// ingest flushes rarely.
const memTableSize = 64 << 20

// Store is Parley's Pebble database.
type Store struct {
	db     *pebble.DB
	opts   Options
	log    *slog.Logger
	cache  *pebble.Cache
	queue  chan *commitReq
	quit   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
	// gate orders Commit's enqueue against Close: Commit enqueues under
	// RLock after checking closed; Close takes the Lock before stopping the
	// committers, so every enqueued batch is seen by their final drain.
	gate sync.RWMutex
	// stats, read by Stats.
	commits, groups atomic.Uint64
	// searchSeq makes search queue keys unique (see enqueueSearch).
	searchSeq atomic.Uint64
	// searchAfter is where the next search projection reads the queue
	// from (see searchTasks).
	searchMu      sync.Mutex
	searchAfter   []byte
	searchWrapped time.Time
	// searchBehindOwed: the last read of the queue skipped looking
	// behind searchAfter (SearchLookBehindDue).
	searchBehindOwed bool
	// searchHook is called after a commit that queued search work.
	searchHook atomic.Pointer[func()]
	// tokens spares the search projection rewriting unchanged entries.
	tokens *tokenCache
	feed   searchFeed
	// misuse counts single deletes Pebble found over keys set twice.
	misuse *atomic.Uint64
	// commitSeconds times each synced write (see Collector).
	commitSeconds prometheus.Histogram
	// knowledgeSeconds times each knowledge search (SearchKnowledge).
	knowledgeSeconds prometheus.Histogram
	// corrupt counts and remembers the corrupt records reads skipped
	// (quarantine.go).
	corrupt corruptLog
	// format is the data directory's format; migrationSteps and
	// migrationSeconds what Open did to bring it there (format.go).
	format           atomic.Int64
	migrationSteps   atomic.Int64
	migrationSeconds float64
}

type commitReq struct {
	b    *pebble.Batch
	done chan error
}

// Open opens (or creates) the store in opts.Dir, starts its committers
// and brings the data directory to FormatVersion (format.go): a new one
// is stamped, an older one migrated step by step, and one written by a
// newer Parley is refused with a *FormatTooNewError before anything is
// written.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, errors.New("persistence: Options.Dir is required")
	}
	misuse := new(atomic.Uint64)
	popts := pebbleOptions(opts, misuse)
	if err := checkFormatReadOnly(opts, popts); err != nil {
		return nil, err
	}
	// Pebble reserves room for its memtables inside the block cache: size
	// the cache so CacheBytes stays free for blocks.
	cache := pebble.NewCache(opts.CacheBytes + 2*memTableSize)
	popts.Cache = cache
	db, err := pebble.Open(opts.Dir, popts)
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("persistence: opening %s: %w", opts.Dir, err)
	}
	s := &Store{
		db: db, opts: opts, log: opts.Logger, cache: cache,
		queue: make(chan *commitReq, 4096), quit: make(chan struct{}),
		commitSeconds: newCommitHistogram(), knowledgeSeconds: newKnowledgeHistogram(), tokens: newTokenCache(), misuse: misuse,
	}
	s.searchSeq.Store(uint64(time.Now().UnixNano())) //nolint:gosec // a positive clock reading
	for i := range max(opts.Committers, 0) {
		s.wg.Add(1)
		go pprof.Do(context.Background(), pprof.Labels("parley", "committer"), func(context.Context) {
			defer s.wg.Done()
			s.commitLoop(i)
		})
	}
	if err := s.upgrade(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// pebbleOptions are the Pebble options of a store, without its cache.
func pebbleOptions(opts Options, misuse *atomic.Uint64) *pebble.Options {
	popts := &pebble.Options{
		FS:     opts.FS,
		Logger: pebbleLogger{opts.Logger},
		// Concurrent writers are grouped by the committers; a larger
		// memtable keeps flushes rarer under sustained ingest.
		MemTableSize: memTableSize,
		Merger:       counterMerger,
	}
	popts.EventListener = &pebble.EventListener{PossibleAPIMisuse: func(info pebble.PossibleAPIMisuseInfo) {
		if info.Kind == pebble.NondeterministicSingleDelete {
			// A key set twice and then single-deleted: the older set
			// may come back (see Batch.singleDel).
			misuse.Add(1)
			opts.Logger.Error("Pebble found a single delete over a key set twice", "key", fmt.Sprintf("%x", info.UserKey))
		}
	}}
	// Bloom filters spare most Gets of absent keys (the dedupe lookup of
	// every new inbound message) a read of each level's data blocks.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return popts
}

// DB returns the underlying Pebble database, for metrics and benchmarks.
func (s *Store) DB() *pebble.DB { return s.db }

// Close stops the committers once the queued batches are written, then
// closes Pebble. It is safe to call more than once.
func (s *Store) Close() error {
	s.gate.Lock()
	if !s.closed.CompareAndSwap(false, true) {
		s.gate.Unlock()
		return nil
	}
	s.gate.Unlock()
	close(s.quit)
	s.wg.Wait()
	err := s.db.Close()
	s.cache.Unref()
	if err != nil {
		return fmt.Errorf("persistence: closing: %w", err)
	}
	return nil
}

// Commit writes b durably (fsync) and returns once it is on disk. Batches
// committed concurrently are grouped into one synced Pebble write. b is
// closed by Commit whether it succeeds or not.
func (s *Store) Commit(b *Batch) error {
	if b == nil {
		return nil
	}
	if err := b.commitable(); err != nil {
		b.Close()
		return err
	}
	if b.b.Empty() {
		b.Close()
		return nil
	}
	if s.opts.Committers < 0 {
		return s.CommitUngrouped(b)
	}
	s.gate.RLock()
	if s.closed.Load() {
		s.gate.RUnlock()
		b.Close()
		return ErrClosed
	}
	r := &commitReq{b: b.b, done: make(chan error, 1)}
	b.b = nil
	s.queue <- r // the committers run until Close, which waits for this RLock
	s.gate.RUnlock()
	err := <-r.done
	if err == nil {
		s.committed(b)
	}
	return err
}

// OnSearchQueued sets f, called after each commit of a batch that queued
// conversations for the search projection (ProjectSearch), so that the
// projection's runner can wake up.
func (s *Store) OnSearchQueued(f func()) { s.searchHook.Store(&f) }

// committed feeds the search projection what batch b, now committed,
// wrote for it, and wakes it.
func (s *Store) committed(b *Batch) {
	if len(b.fed) > 0 {
		s.feed.add(b.fed)
		b.fed = nil
	}
	if !b.searchQueued {
		return
	}
	if f := s.searchHook.Load(); f != nil {
		(*f)()
	}
}

// CommitUngrouped commits b straight to Pebble with fsync, bypassing the
// committers' grouping. Benchmarks use it to measure the raw ceiling that
// grouped commits are compared with.
func (s *Store) CommitUngrouped(b *Batch) error { return s.commitDirect(b, s.writeOpts()) }

// commitDirect commits b straight to Pebble with opts.
func (s *Store) commitDirect(b *Batch, opts *pebble.WriteOptions) error {
	defer b.Close()
	if err := b.commitable(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	var recs []groupRecord
	if err := s.commitSorted(b.b, opts, &recs); err != nil {
		return fmt.Errorf("persistence: commit: %w", err)
	}
	s.committed(b)
	return nil
}

// sortedFrom is the number of records from which a batch committed on
// its own is copied in key order first (see mergeSorted): the search
// projection's batches hold hundreds of keys of many conversations.
const sortedFrom = 32

// commitSorted commits b, in key order when it is large.
func (s *Store) commitSorted(b *pebble.Batch, opts *pebble.WriteOptions, scratch *[]groupRecord) error {
	if b.Count() < sortedFrom {
		return b.Commit(opts)
	}
	m, err := s.merged([]*pebble.Batch{b}, scratch)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Commit(opts)
}

// merged returns one batch of the whole size of srcs holding their
// records in key order (see mergeSorted), or, when a batch holds a
// record kind the sorted merge leaves alone, the batches one after the
// other as they came.
func (s *Store) merged(srcs []*pebble.Batch, scratch *[]groupRecord) (*pebble.Batch, error) {
	size := 0
	for _, b := range srcs {
		size += b.Len()
	}
	dst := s.db.NewBatchWithSize(size)
	if sorted, err := mergeSorted(dst, srcs, scratch); err == nil && sorted {
		return dst, nil
	}
	dst.Reset()
	for _, b := range srcs {
		if err := dst.Apply(b, nil); err != nil {
			_ = dst.Close()
			return nil, err
		}
	}
	return dst, nil
}

func (s *Store) writeOpts() *pebble.WriteOptions {
	if s.opts.NoSync {
		return pebble.NoSync
	}
	return pebble.Sync
}

func (s *Store) commitLoop(int) {
	group := make([]*commitReq, 0, 256)
	var scratch groupScratch
	for {
		var first *commitReq
		select {
		case first = <-s.queue:
		case <-s.quit:
			// Drain what is already queued so accepted work lands.
			for {
				select {
				case r := <-s.queue:
					s.commitGroup(append(group[:0], r), &scratch)
					continue
				default:
				}
				return
			}
		}
		group = append(group[:0], first)
		size := first.b.Len()
	drain:
		for size < s.opts.MaxGroupBytes {
			select {
			case r := <-s.queue:
				group = append(group, r)
				size += r.b.Len()
			default:
				break drain
			}
		}
		s.commitGroup(group, &scratch)
		clear(group) // do not keep the closed batches reachable
	}
}

func (s *Store) commitGroup(group []*commitReq, scratch *groupScratch) {
	s.groups.Add(1)
	s.commits.Add(uint64(len(group)))
	var err error
	start := time.Now()
	if len(group) == 1 {
		err = s.commitSorted(group[0].b, s.writeOpts(), &scratch.recs)
	} else {
		srcs := scratch.srcs[:0]
		for _, r := range group {
			srcs = append(srcs, r.b)
		}
		var m *pebble.Batch
		if m, err = s.merged(srcs, &scratch.recs); err == nil {
			err = m.Commit(s.writeOpts())
			_ = m.Close()
		}
		clear(srcs)
		scratch.srcs = srcs[:0]
	}
	s.observeCommit(time.Since(start))
	if err != nil {
		err = fmt.Errorf("persistence: commit: %w", err)
		s.log.Error("Commit failed", "batches", len(group), "err", err)
	}
	for _, r := range group {
		_ = r.b.Close()
		r.done <- err
	}
}

// Stats are counters of the store's own work.
type Stats struct {
	// Commits counts batches committed; Groups counts the synced writes
	// they were grouped into.
	Commits, Groups uint64
	// SingleDeleteMisuse counts keys Pebble's flushes and compactions
	// found set twice before a single delete (zero unless a bug broke
	// the rule of Batch.singleDel).
	SingleDeleteMisuse uint64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Groups: s.groups.Load(), SingleDeleteMisuse: s.misuse.Load()}
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	panic(fmt.Sprintf(format, args...))
}

// enter admits a read; Close waits for admitted reads. leave ends it.
func (s *Store) enter() error {
	s.gate.RLock()
	if s.closed.Load() {
		s.gate.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.gate.RUnlock() }

// get reads key into v; ErrNotFound if absent.
func (s *Store) get(key []byte, v any) error {
	return s.view(key, func(val []byte) error { return decode(val, v) })
}

// view calls f with the value at key, valid only during the call;
// ErrNotFound if absent.
func (s *Store) view(key []byte, f func(val []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	val, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("persistence: get: %w", err)
	}
	defer closer.Close()
	return f(val)
}

// getRaw returns a copy of the value at key, or nil, false.
func (s *Store) getRaw(key []byte) ([]byte, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.leave()
	val, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("persistence: get: %w", err)
	}
	out := append([]byte(nil), val...)
	closer.Close()
	return out, true, nil
}

// Checkpoint writes a consistent copy of the store into dir, which must
// not exist: Pebble's checkpoint (sstables hard-linked, the MANIFEST and
// the WAL copied up to a point that every commit acknowledged before the
// call is behind). It runs beside writes; commits made during it may or
// may not be in the copy, whole or not at all, as each is one batch.
func (s *Store) Checkpoint(dir string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("persistence: checkpoint into %s: %w", dir, err)
	}
	return nil
}
