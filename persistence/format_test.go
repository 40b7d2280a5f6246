package persistence

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// storedFormat reads the format record as Open left it.
func storedFormat(t *testing.T, s *Store) formatRecord {
	t.Helper()
	var f formatRecord
	require.NoError(t, s.get(formatKey(), &f))
	return f
}

// A new store is written at the current format, with this binary as its
// writer, and no migration runs on it, then or at the next Open.
func TestFormatOfANewStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Version: "v9.9.9"})
	require.NoError(t, err)
	require.Equal(t, FormatVersion, s.FormatVersion())
	require.Zero(t, s.MigrationSteps())
	require.Equal(t, formatRecord{Format: FormatVersion, WriterFormat: FormatVersion, Writer: "v9.9.9"}, storedFormat(t, s))
	s = reopen(t, s, dir)
	require.Zero(t, s.MigrationSteps())
	require.Equal(t, FormatVersion, storedFormat(t, s).Format)
	require.NotEmpty(t, storedFormat(t, s).Writer, "the build's own version when none is given")

	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP parley_store_format_version Format version of the data directory (persistence.FormatVersion once open).
# TYPE parley_store_format_version gauge
parley_store_format_version %d
# HELP parley_store_migration_steps_total Migration steps run on the data directory when this process opened it.
# TYPE parley_store_migration_steps_total counter
parley_store_migration_steps_total 0
`, FormatVersion)), "parley_store_format_version", "parley_store_migration_steps_total"))
}

// unversioned writes a store as a Parley before the format record left it:
// a workspace, a contact with a phone number, a conversation of that
// contact with a media message, none of their later indexes, and the
// markers of the backfills named; then closes it.
func unversioned(t *testing.T, dir string, markers ...[]byte) (ws engine.ID, c engine.Conversation, contact engine.Contact, digest string) {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws = idOf('w', 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	contact = newContact(ws, 1, engine.Profile{Name: "Ana", Phone: "+1 555 000 1111"})
	c = newConv(ws, 1, at(time.Minute))
	c.ContactID, c.ContactName = contact.ID, "Ana"
	digest = digestOf("photo")
	m := mediaMsg(&c, 1, digest)
	c.LastSeq = 1
	commit(t, s, func(b *Batch) {
		b.set(contactKey(ws, contact.ID), &contact)
		b.PutConversation(nil, &c)
		b.PutMessage(&m, engine.ChannelWhatsApp)
	})
	commit(t, s, func(b *Batch) {
		b.delPrefix([]byte{spaceSystem, tSearchQueue})
		b.delPrefix(wsPrefix(ws, tMediaRef))
		b.delPrefix(contactIndexPrefix(ws, cConversation))
		b.delPrefix(contactIndexPrefix(ws, cKey))
		b.del(formatKey())
		for _, k := range markers {
			b.setRaw(k, []byte{1})
		}
	})
	require.NoError(t, s.Close())
	return ws, c, contact, digest
}

// A store with no format record is format 1: Open runs every migration,
// in order, writes the indexes it lacks and stamps the current format;
// the next Open runs none.
func TestUnversionedStoreIsMigrated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ws, c, contact, digest := unversioned(t, dir)
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Equal(t, FormatVersion, s.FormatVersion())
	require.Equal(t, FormatVersion-1, s.MigrationSteps())
	require.Equal(t, FormatVersion, storedFormat(t, s).Format)

	ok, err := s.MediaReferenced(ws, digest)
	require.NoError(t, err)
	require.True(t, ok, "media reference index")
	convs, err := s.ContactConversations(ws, contact.ID)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{c.ID}, convs, "contact conversations index")
	id, found, err := s.ContactByKeys(ws, engine.IdentityKeys(engine.ChannelWhatsApp, "15550001111"))
	require.NoError(t, err)
	require.True(t, found, "contact key index")
	require.Equal(t, contact.ID, id)
	projectAll(t, s, 10)
	require.Equal(t, []engine.ID{c.ID}, hitIDs(search(t, s, ws, "ana")), "search backfill")

	s = reopen(t, s, dir)
	require.Zero(t, s.MigrationSteps())
}

// A store of format 1 whose Parley already ran some backfills (their
// markers set) skips those steps and loses the markers; the others run.
func TestLegacyMarkersSkipTheirStep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ws, _, contact, digest := unversioned(t, dir, contactConvMarkerKey(), mediaRefsMarkerKey())
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Equal(t, FormatVersion, s.FormatVersion())
	ok, err := s.MediaReferenced(ws, digest)
	require.NoError(t, err)
	require.False(t, ok, "the marker said the media references were written")
	convs, err := s.ContactConversations(ws, contact.ID)
	require.NoError(t, err)
	require.Empty(t, convs, "the marker said the contact index was written")
	_, found, err := s.ContactByKeys(ws, engine.IdentityKeys(engine.ChannelWhatsApp, "15550001111"))
	require.NoError(t, err)
	require.True(t, found, "no marker: the contact key step ran")
	require.Empty(t, rawKeys(t, s, []byte{spaceSystem, tMarker}), "the markers are gone")
}

// A migration cut short (here: it fails once its writes are committed,
// as a crash after them would leave it) leaves the store at the format
// before it; the next Open runs it again, and the result is whole and
// written once.
func TestInterruptedMigrationResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ws, _, _, digest := unversioned(t, dir)
	crash := errors.New("power cut")
	steps := append([]migration(nil), migrations...)
	for i := range steps {
		if steps[i].to == 5 {
			run := steps[i].run
			steps[i].run = func(s *Store, p *migrationProgress) error {
				if err := run(s, p); err != nil {
					return err
				}
				return crash
			}
		}
	}
	_, err := Open(Options{Dir: dir, migrations: steps})
	require.ErrorIs(t, err, crash)

	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Equal(t, FormatVersion-4, s.MigrationSteps(), "steps 5 and 6 again, 2 to 4 were committed")
	refs, err := s.MediaRefs(ws, digest, 0)
	require.NoError(t, err)
	require.Len(t, refs, 1)
}

// dirDigest hashes every file of dir, by name.
func dirDigest(t *testing.T, dir string) map[string][sha256.Size]byte {
	t.Helper()
	out := map[string][sha256.Size]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = sha256.Sum256(b)
		return nil
	}))
	return out
}

// A data directory of a newer format than this Parley knows is refused
// with a FormatTooNewError, and not one of its files is changed.
func TestNewerFormatIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws := idOf('w', 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	require.NoError(t, s.SetFormatVersion(FormatVersion+1))
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "in the WAL"}) })
	require.NoError(t, s.Close())
	before := dirDigest(t, dir)

	_, err = Open(Options{Dir: dir})
	var tooNew *FormatTooNewError
	require.ErrorAs(t, err, &tooNew)
	require.Equal(t, FormatVersion+1, tooNew.Found)
	require.Equal(t, FormatVersion, tooNew.Known)
	require.Equal(t, fmt.Sprintf("data directory %s is format %d (written by Parley test), this Parley understands up to %d; upgrade Parley or restore a backup",
		dir, FormatVersion+1, FormatVersion), err.Error())
	require.Equal(t, before, dirDigest(t, dir), "nothing written")
}

// A long step logs how many records it visited every progressEvery, not
// at every record.
func TestMigrationProgressIsLogged(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	p := &migrationProgress{log: slog.New(slog.NewTextHandler(&logs, nil)), step: "media reference index",
		last: time.Now().Add(-progressEvery)}
	for range 3 * 1024 {
		p.visited()
	}
	require.Equal(t, 1, strings.Count(logs.String(), "\n"), logs.String())
	require.Contains(t, logs.String(), `msg="Migrating the data directory" step="media reference index" records=1024`)
}
