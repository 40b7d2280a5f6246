package persistence

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The data directory's format. Each record carries its own version (its
// first byte, codec.go); the format is the version of the keyspace as a
// whole: which indexes exist and where things live. It is kept in one
// system key:
//
//	's' 'V'                                  → formatRecord (JSON)
//
// A store with no such key and no other key is new and is written at
// FormatVersion. A store with keys but no format key was written before
// the format was recorded: it is format 1, whatever one-time backfills its
// Parley ran (their markers, 's' 'M' name, say which). Open brings an
// older store up to FormatVersion by running the migrations below in
// order, and refuses a newer one (FormatTooNewError) before writing
// anything.
//
// Formats:
//
//  1. Before the format was recorded (any layout up to the one below).
//  2. Search queue entries keyed n ws conv under 's' 'q' (they were ws conv
//     n under 's' 'Q').
//  3. Every conversation queued for, or in, the search index.
//  4. Contact → conversation index entries for every conversation.
//  5. Media reference index entries ('w' ws 'F') for every message with a
//     stored file.
//  6. Phone and email key entries for every contact.
//  7. Per-channel unread and assignment counters.
//  8. Every conversation handled by an assistant (the default one for
//     those stored before), indexed under DimAssistant.
const FormatVersion = 8

// tFormat is the system key of the format record.
const tFormat = 'V'

func formatKey() []byte { return []byte{spaceSystem, tFormat} }

// formatRecord is the stored format of the data directory.
type formatRecord struct {
	// Format is the data directory's format version.
	Format int `json:"format"`
	// WriterFormat is the highest format known to a Parley that opened
	// the store, and Writer that Parley's build version: the newest
	// Parley that opened it.
	WriterFormat int    `json:"writer_format"`
	Writer       string `json:"writer"`
}

// FormatTooNewError is Open's error for a data directory written by a
// newer Parley, whose format this one does not know. Open returns it
// before writing anything.
type FormatTooNewError struct {
	Dir string
	// Found is the directory's format; Known the newest this Parley
	// understands (FormatVersion).
	Found, Known int
	// Writer is the build version of the newest Parley that opened it.
	Writer string
}

func (e *FormatTooNewError) Error() string {
	by := ""
	if e.Writer != "" {
		by = " (written by Parley " + e.Writer + ")"
	}
	return fmt.Sprintf("data directory %s is format %d%s, this Parley understands up to %d; upgrade Parley or restore a backup",
		e.Dir, e.Found, by, e.Known)
}

// legacyMarkers are the keys by which a store of format 1 records that a
// one-time backfill ran; the migration to the format of the same index
// is then already done. The keys are removed with that migration.
func searchMarkerKey() []byte { return append([]byte{spaceSystem, tMarker}, "search"...) }
func contactConvMarkerKey() []byte {
	return append([]byte{spaceSystem, tMarker}, "contact-conversations"...)
}
func mediaRefsMarkerKey() []byte   { return append([]byte{spaceSystem, tMarker}, "media-refs"...) }
func contactKeysMarkerKey() []byte { return append([]byte{spaceSystem, tMarker}, "contact-keys"...) }

// migration brings a store of format to-1 to format to. Its run must be
// idempotent: a crash in the middle leaves the store at to-1 and the next
// Open runs it again from the start.
type migration struct {
	to   int
	name string
	// legacy is the marker of the one-time backfill a store of format 1
	// may have run already; nil if there was none.
	legacy []byte
	run    func(s *Store, p *migrationProgress) error
}

// migrations are the steps from format 1 to FormatVersion, in order.
var migrations = []migration{
	{2, "search queue layout", nil, (*Store).migrateSearchQueue},
	{3, "search index backfill", searchMarkerKey(), (*Store).backfillSearch},
	{4, "contact conversations index", contactConvMarkerKey(), (*Store).backfillContactConversations},
	{5, "media reference index", mediaRefsMarkerKey(), (*Store).backfillMediaRefs},
	{6, "contact phone and email index", contactKeysMarkerKey(), (*Store).backfillContactKeys},
	{7, "channel counters", nil, (*Store).backfillChannelCounters},
	{8, "conversation assistants", nil, (*Store).backfillAssistants},
}

// migrationProgress counts the records a migration step visits and logs
// how far it got every progressEvery.
type migrationProgress struct {
	log     *slog.Logger
	step    string
	records int
	last    time.Time
}

// progressEvery is how often a long migration step logs its progress.
const progressEvery = 5 * time.Second

// visited counts one record visited.
func (p *migrationProgress) visited() {
	p.records++
	if p.records%1024 == 0 && time.Since(p.last) >= progressEvery {
		p.last = time.Now()
		p.log.Info("Migrating the data directory", "step", p.step, "records", p.records)
	}
}

// buildVersion names the running binary: its module version and VCS
// revision.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "+dirty"
			}
		}
	}
	return v
}

// checkFormatReadOnly refuses, before the store is opened for writing, a
// data directory in a format newer than FormatVersion. It opens an
// existing store read-only; a directory with no store passes.
func checkFormatReadOnly(opts Options, popts *pebble.Options) error {
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	desc, err := pebble.Peek(opts.Dir, fs)
	if errors.Is(err, os.ErrNotExist) || (err == nil && !desc.Exists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("persistence: reading %s: %w", opts.Dir, err)
	}
	ro := *popts
	ro.ReadOnly = true
	ro.Cache = nil
	ro.EventListener = nil
	db, err := pebble.Open(opts.Dir, &ro)
	if err != nil {
		return fmt.Errorf("persistence: opening %s read-only: %w", opts.Dir, err)
	}
	f, _, err := readFormat(db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("persistence: closing %s: %w", opts.Dir, cerr)
	}
	if err != nil {
		return err
	}
	if f.Format > FormatVersion {
		return &FormatTooNewError{Dir: opts.Dir, Found: f.Format, Known: FormatVersion, Writer: f.Writer}
	}
	return nil
}

// readFormat reads the format record of db; a store without one is
// format 1, and a store with no key at all is reported empty.
func readFormat(db *pebble.DB) (f formatRecord, empty bool, err error) {
	val, closer, err := db.Get(formatKey())
	if err == nil {
		derr := decode(val, &f)
		_ = closer.Close()
		if derr != nil {
			return f, false, fmt.Errorf("persistence: reading the data directory's format: %w", derr)
		}
		if f.Format < 1 {
			return f, false, fmt.Errorf("%w: data directory format %d", ErrCorrupt, f.Format)
		}
		return f, false, nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return f, false, fmt.Errorf("persistence: reading the data directory's format: %w", err)
	}
	it, err := db.NewIter(nil)
	if err != nil {
		return f, false, fmt.Errorf("persistence: reading the data directory's format: %w", err)
	}
	empty = !it.First()
	if err := it.Close(); err != nil {
		return f, false, fmt.Errorf("persistence: reading the data directory's format: %w", err)
	}
	return formatRecord{Format: 1}, empty, nil
}

// upgrade brings the store to FormatVersion: it stamps a new store, runs
// the migrations an older one lacks, each committed with its new format,
// and records this binary as the store's writer.
func (s *Store) upgrade() error {
	if err := s.enter(); err != nil {
		return err
	}
	f, empty, err := readFormat(s.db)
	s.leave()
	if err != nil {
		return err
	}
	if f.Format > FormatVersion {
		return &FormatTooNewError{Dir: s.opts.Dir, Found: f.Format, Known: FormatVersion, Writer: f.Writer}
	}
	if empty {
		f.Format = FormatVersion
	}
	from := f.Format
	start := time.Now()
	steps := migrations
	if s.opts.migrations != nil {
		steps = s.opts.migrations
	}
	for _, m := range steps {
		if m.to <= f.Format {
			continue
		}
		if err := s.migrate(m, &f, from); err != nil {
			return fmt.Errorf("persistence: migrating the data directory to format %d (%s): %w", m.to, m.name, err)
		}
	}
	if from < FormatVersion {
		took := time.Since(start)
		s.migrationSeconds = took.Seconds()
		s.log.Info("Migrated the data directory", "from", from, "to", FormatVersion, "duration", took)
	}
	s.format.Store(int64(f.Format))
	if f.Writer == s.opts.Version && f.WriterFormat == FormatVersion {
		return nil
	}
	f.Writer, f.WriterFormat = s.opts.Version, FormatVersion
	b := s.NewBatch()
	b.set(formatKey(), &f)
	return s.CommitUngrouped(b)
}

// migrate runs migration m on a store at format m.to-1 (f) and commits
// the new format, with the removal of m's legacy marker, in one synced
// batch.
func (s *Store) migrate(m migration, f *formatRecord, from int) error {
	done := m.to - from
	total := FormatVersion - from
	log := s.log.With("step", m.name, "done", done-1, "total", total)
	start := time.Now()
	p := &migrationProgress{log: log, step: m.name, last: start}
	legacyDone := false
	if m.legacy != nil {
		var err error
		if _, legacyDone, err = s.getRaw(m.legacy); err != nil {
			return err
		}
	}
	if legacyDone {
		log.Info("Migrating the data directory: already done by an earlier Parley", "to", m.to)
	} else {
		log.Info("Migrating the data directory", "to", m.to)
		if err := m.run(s, p); err != nil {
			return err
		}
	}
	f.Format = m.to
	b := s.NewBatch()
	b.set(formatKey(), f)
	if m.legacy != nil {
		b.del(m.legacy)
	}
	if err := s.CommitUngrouped(b); err != nil {
		return err
	}
	s.migrationSteps.Add(1)
	s.log.Info("Migrated the data directory", "step", m.name, "done", done, "total", total, "records", p.records,
		"duration", time.Since(start))
	return nil
}

// FormatVersion returns the data directory's format, FormatVersion once
// Open has returned.
func (s *Store) FormatVersion() int { return int(s.format.Load()) }

// MigrationSteps returns how many migration steps this Store ran when it
// opened (zero for a store already at FormatVersion).
func (s *Store) MigrationSteps() int { return int(s.migrationSteps.Load()) }

// SetFormatVersion writes v as the data directory's format, as an older
// (or newer) Parley would have left it. For tests of upgrades and
// downgrades: the next Open migrates from v, or refuses it.
func (s *Store) SetFormatVersion(v int) error {
	b := s.NewBatch()
	b.set(formatKey(), &formatRecord{Format: v, WriterFormat: v, Writer: "test"})
	if err := s.Commit(b); err != nil {
		return err
	}
	s.format.Store(int64(v))
	return nil
}

// rewindFormat sets the data directory's format back to before, if it
// is newer, so that the next Open runs the migrations from there.
func (b *Batch) rewindFormat(before int) {
	if b.s.FormatVersion() > before {
		b.set(formatKey(), &formatRecord{Format: before, WriterFormat: FormatVersion, Writer: b.s.opts.Version})
		b.s.format.Store(int64(before))
	}
}
