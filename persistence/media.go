package persistence

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/parleyhq/parley/engine"
)

// Media references. A media file is stored once per workspace under its
// SHA-256 digest, so messages of several conversations may share it. Each
// message whose media has a storage key holds one reference:
//
//	'w' ws 'F' sha256 conv seq               → (nothing)
//
// written in the batch that writes the message (PutMessage) and removed in
// the batch that deletes it (ReleaseMessageMedia, DeleteConversation). A
// file with no reference left may be deleted: the caller checks
// MediaReferenced after the deleting batch is committed.
const tMediaRef = 'F'

// digestLen is the length of a SHA-256 digest.
const digestLen = 32

func mediaRefPrefix(ws engine.ID, digest [digestLen]byte) []byte {
	return append(wsPrefix(ws, tMediaRef), digest[:]...)
}

func mediaRefKey(ws engine.ID, digest [digestLen]byte, conv engine.ID, seq uint64) []byte {
	return appendUint64(append(mediaRefPrefix(ws, digest), conv[:]...), seq)
}

// parseDigest decodes a hex SHA-256 digest.
func parseDigest(s string) ([digestLen]byte, bool) {
	var d [digestLen]byte
	if len(s) != 2*digestLen {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, false
	}
	return d, true
}

// MediaDigest returns the hex SHA-256 digest of the stored file media
// names (from its storage key, "<workspace>/<sha256>"), or "" when media
// has no stored file (nil, or an inbound file not fetched yet).
func MediaDigest(media *engine.Media) string {
	if media == nil || media.StorageKey == "" {
		return ""
	}
	_, d, ok := strings.Cut(media.StorageKey, "/")
	if _, valid := parseDigest(d); !ok || !valid {
		return ""
	}
	return d
}

// putMediaRef writes the reference of message m to its file, if it has
// one. Rewriting a message (a status change) sets the same key again.
func (b *Batch) putMediaRef(m *engine.Message) {
	if d, ok := parseDigest(MediaDigest(m.Media)); ok {
		b.setRaw(mediaRefKey(m.WorkspaceID, d, m.ConversationID, m.Seq), nil)
	}
}

// ReleaseMessageMedia removes the reference message m holds on its media
// file, in the batch that deletes or strips the message, and returns the
// file's digest ("" when m has none). Once the batch is committed, the
// file may be deleted if MediaReferenced reports no other reference.
func (b *Batch) ReleaseMessageMedia(m *engine.Message) string {
	digest := MediaDigest(m.Media)
	if d, ok := parseDigest(digest); ok {
		b.del(mediaRefKey(m.WorkspaceID, d, m.ConversationID, m.Seq))
	}
	return digest
}

// releaseConversationMedia removes the references of every message of
// conversation conv (see DeleteConversation).
func (b *Batch) releaseConversationMedia(ws, conv engine.ID) {
	if b.err != nil {
		return
	}
	uses, err := b.s.ConversationMedia(ws, conv)
	if err != nil {
		b.err = err
		return
	}
	for _, u := range uses {
		d, _ := parseDigest(u.Digest)
		b.del(mediaRefKey(ws, d, conv, u.Seq))
	}
}

// MediaUse is a message of a conversation with a stored media file.
type MediaUse struct {
	Seq    uint64
	Digest string // hex SHA-256
}

// ConversationMedia returns the messages of conversation conv that hold a
// stored media file, newest first, read from the messages themselves.
func (s *Store) ConversationMedia(ws, conv engine.ID) ([]MediaUse, error) {
	var uses []MediaUse
	err := s.eachMessageMedia(messagePrefix(ws, conv), nil, func(_ engine.ID, seq uint64, digest string) error {
		uses = append(uses, MediaUse{Seq: seq, Digest: digest})
		return nil
	})
	return uses, err
}

// eachMessageMedia calls f for every message under prefix p (one
// conversation's, or a whole workspace's) that holds a stored media
// file, with the message's conversation and seq; visited, if not nil, is
// called for every message read.
func (s *Store) eachMessageMedia(p []byte, visited func(), f func(conv engine.ID, seq uint64, digest string) error) error {
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return err
	}
	defer it.Close()
	wsLen := len(wsPrefix(engine.ZeroID, tMessage))
	for ok := it.First(); ok; ok = it.Next() {
		if visited != nil {
			visited()
		}
		key := it.Key()
		if len(key) != wsLen+16+8 {
			return fmt.Errorf("%w: message key of %d bytes", ErrCorrupt, len(key))
		}
		var m engine.Message
		var slim struct {
			Media *engine.Media `json:"media"`
		}
		bin, err := decodePart(it.Value(), &m, fieldMask(mfMedia), &slim)
		if errors.Is(err, ErrCorrupt) {
			// A message that does not decode is skipped, as the pages skip
			// it (its bytes are quarantined): whatever file it referenced
			// keeps its reference, so a corrupt record never deletes media.
			continue
		}
		if err != nil {
			return fmt.Errorf("reading message media: %w", err)
		}
		if !bin {
			m.Media = slim.Media
		}
		digest := MediaDigest(m.Media)
		if digest == "" {
			continue
		}
		var conv engine.ID
		copy(conv[:], key[wsLen:])
		seq := math.MaxUint64 - binary.BigEndian.Uint64(key[wsLen+16:])
		if err := f(conv, seq, digest); err != nil {
			return err
		}
	}
	return iterErr(it)
}

// MediaRefs returns up to limit messages referencing the file with digest
// (hex SHA-256) in workspace ws, in digest, conversation and seq order;
// limit <= 0 means all of them.
func (s *Store) MediaRefs(ws engine.ID, digest string, limit int) ([]MessageRef, error) {
	d, ok := parseDigest(digest)
	if !ok {
		return nil, fmt.Errorf("persistence: bad media digest %q", digest)
	}
	p := mediaRefPrefix(ws, d)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var refs []MessageRef
	for ok := it.First(); ok && (limit <= 0 || len(refs) < limit); ok = it.Next() {
		rest := it.Key()[len(p):]
		if len(rest) != 16+8 {
			return nil, fmt.Errorf("%w: media reference key of %d bytes", ErrCorrupt, len(it.Key()))
		}
		var r MessageRef
		copy(r.ConversationID[:], rest)
		r.Seq = binary.BigEndian.Uint64(rest[16:])
		refs = append(refs, r)
	}
	return refs, iterErr(it)
}

// MediaReferenced reports whether any message of workspace ws references
// the file with digest (hex SHA-256).
func (s *Store) MediaReferenced(ws engine.ID, digest string) (bool, error) {
	refs, err := s.MediaRefs(ws, digest, 1)
	if err != nil || len(refs) > 0 {
		return len(refs) > 0, err
	}
	// A knowledge document's original is referenced by its entry.
	return s.knowledgeDocReferenced(ws, digest)
}

// backfillMediaRefs (the migration to format 5) writes the references of
// messages written before the media reference index existed, so that no
// file they hold is taken for an orphan. It runs in Open, before the
// store is used: deleting files relies on the index being whole. Its
// batches are committed on their own, outside the committers' groups and
// counters.
func (s *Store) backfillMediaRefs(p *migrationProgress) error {
	wss, err := s.Workspaces()
	if err != nil {
		return err
	}
	b := s.NewBatch()
	pending, total := 0, 0
	for _, w := range wss {
		err := s.eachMessageMedia(wsPrefix(w.ID, tMessage), p.visited, func(conv engine.ID, seq uint64, digest string) error {
			d, _ := parseDigest(digest)
			b.setRaw(mediaRefKey(w.ID, d, conv, seq), nil)
			total++
			if pending++; pending < backfillBatch {
				return nil
			}
			if err := s.CommitUngrouped(b); err != nil {
				return err
			}
			b, pending = s.NewBatch(), 0
			return nil
		})
		if err != nil {
			b.Close()
			return fmt.Errorf("backfilling media references of workspace %s: %w", w.ID, err)
		}
	}
	if err := s.CommitUngrouped(b); err != nil {
		return err
	}
	if total > 0 {
		s.log.Info("Backfilled media references", "references", total)
	}
	return nil
}

// ForgetMediaRefs makes the store look as if it was written before the
// media reference index: it removes the references of workspace ws and
// sets the data directory's format back to before the index, so that the
// next Open backfills them. For tests of upgrades.
func (s *Store) ForgetMediaRefs(ws engine.ID) error {
	b := s.NewBatch()
	b.delPrefix(wsPrefix(ws, tMediaRef))
	b.rewindFormat(4)
	return s.Commit(b)
}
