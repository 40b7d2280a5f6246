package persistence

import (
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Canned replies. Keys, under the workspace prefix:
//
//	'w' ws 'R' id                            canned reply (oldest first: ids are ULIDs)
//
// A store written before canned replies existed simply has none: the
// prefix needs no migration.
const tCannedReply = 'R'

func cannedReplyKey(ws, id engine.ID) []byte { return append(wsPrefix(ws, tCannedReply), id[:]...) }

// PutCannedReply writes canned reply r (new or changed).
func (b *Batch) PutCannedReply(r *engine.CannedReply) {
	b.set(cannedReplyKey(r.WorkspaceID, r.ID), r)
}

// DeleteCannedReply removes canned reply id of workspace ws.
func (b *Batch) DeleteCannedReply(ws, id engine.ID) { b.del(cannedReplyKey(ws, id)) }

// CannedReplies returns every canned reply of a workspace, oldest first.
func (s *Store) CannedReplies(ws engine.ID) ([]engine.CannedReply, error) {
	return readAll[engine.CannedReply](s, wsPrefix(ws, tCannedReply), "canned replies")
}

// readAll decodes every record under prefix p, in key order; what names
// them in an error.
func readAll[T any](s *Store, p []byte, what string) ([]T, error) {
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []T
	for ok := it.First(); ok; ok = it.Next() {
		var r T
		if err := decode(it.Value(), &r); err != nil {
			return nil, fmt.Errorf("reading %s: %w", what, err)
		}
		out = append(out, r)
	}
	return out, iterErr(it)
}

// CannedReply reads one canned reply of a workspace.
func (s *Store) CannedReply(ws, id engine.ID) (engine.CannedReply, error) {
	var r engine.CannedReply
	if err := s.get(cannedReplyKey(ws, id), &r); err != nil {
		return engine.CannedReply{}, fmt.Errorf("reading canned reply %s: %w", id, err)
	}
	return r, nil
}
