package persistence

import (
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
)

// The audit log. Keys, under the workspace prefix:
//
//	'w' ws 'z' id                            audit entry (ids are ULIDs: oldest first)
//
// The table is written only by AppendAudit, with a new id each time:
// there is no update or delete path. A store written before the audit
// log existed simply has none.
const tAudit = 'z'

func auditKey(ws, id engine.ID) []byte { return append(wsPrefix(ws, tAudit), id[:]...) }

// AppendAudit appends audit entry e to the workspace's log.
func (b *Batch) AppendAudit(e *engine.AuditEntry) {
	b.set(auditKey(e.WorkspaceID, e.ID), e)
}

// AuditQuery selects audit entries: each set field must match. Entries
// come newest first, starting below Before (the cursor) when it is set.
type AuditQuery struct {
	// Actor is a user id, or a token id.
	Actor    engine.ID
	Action   string
	Resource string
	Since    time.Time
	Until    time.Time
	Before   engine.ID
	Limit    int
}

// auditScanLimit bounds how many entries one query reads while filtering,
// so that a filter matching nothing cannot walk an unbounded log.
const auditScanLimit = 20000

// AuditEntries returns up to q.Limit entries of workspace ws matching q,
// newest first, and the cursor of the next page (the Before of the next
// query; zero at the log's start).
func (s *Store) AuditEntries(ws engine.ID, q AuditQuery) ([]engine.AuditEntry, engine.ID, error) {
	lower := wsPrefix(ws, tAudit)
	upper := prefixEnd(lower)
	if q.Before != (engine.ID{}) {
		upper = auditKey(ws, q.Before)
	}
	if !q.Since.IsZero() {
		// ULIDs start with their millisecond: nothing older sorts above.
		var since engine.ID
		if err := since.SetTime(uint64(q.Since.UnixMilli())); err == nil { //nolint:gosec // times after 1970
			lower = auditKey(ws, since)
		}
	}
	it, err := s.iter(lower, upper)
	if err != nil {
		return nil, engine.ID{}, err
	}
	defer it.Close()
	var out []engine.AuditEntry
	var last engine.ID
	scanned := 0
	for ok := it.Last(); ok; ok = it.Prev() {
		if len(out) == q.Limit || scanned == auditScanLimit {
			return out, last, iterErr(it)
		}
		scanned++
		var e engine.AuditEntry
		if err := decode(it.Value(), &e); err != nil {
			return nil, engine.ID{}, fmt.Errorf("reading audit log: %w", err)
		}
		last = e.ID
		if q.match(&e) {
			out = append(out, e)
		}
	}
	return out, engine.ID{}, iterErr(it)
}

func (q AuditQuery) match(e *engine.AuditEntry) bool {
	if q.Actor != (engine.ID{}) && q.Actor != e.UserID && q.Actor != e.TokenID {
		return false
	}
	if q.Action != "" && q.Action != e.Action {
		return false
	}
	if q.Resource != "" {
		found := false
		for _, v := range e.Resource {
			if v == q.Resource {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if !q.Since.IsZero() && e.At.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !e.At.Before(q.Until) {
		return false
	}
	return true
}
