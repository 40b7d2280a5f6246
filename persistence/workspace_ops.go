package persistence

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// The operator's records of workspaces, their monthly plan counters, and
// the removal of a workspace's data (docs/ARCHITECTURE.md, "Operator admin
// API, plans and limits"):
//
//	's' '!' ws                               engine.WorkspaceOperatorRecord (JSON)
//	'w' ws '9' 'u' resource month            monthly usage counter (merge counter, int64)
//
// The operator record lives in the system space so that it outlives the
// workspace's own range, which the deletion removes first; it goes last,
// with the workspace record, in the deletion's final batch.
const (
	tWorkspaceOps = '!'
	tPlanUsage    = '9'

	planUsageCounter = 'u'
)

func workspaceOpsKey(ws engine.ID) []byte {
	return append([]byte{spaceSystem, tWorkspaceOps}, ws[:]...)
}

func planUsageKey(ws engine.ID, r engine.PlanResource, month string) []byte {
	b := append(wsPrefix(ws, tPlanUsage), planUsageCounter)
	return appendString(appendString(b, string(r)), month)
}

// PutWorkspaceOperatorRecord writes the operator's record of a workspace.
func (b *Batch) PutWorkspaceOperatorRecord(r *engine.WorkspaceOperatorRecord) {
	b.set(workspaceOpsKey(r.WorkspaceID), r)
}

// WorkspaceOperatorRecord reads the operator's record of ws; a workspace
// created before there were any (the one made at first start) has none:
// ErrNotFound.
func (s *Store) WorkspaceOperatorRecord(ws engine.ID) (engine.WorkspaceOperatorRecord, error) {
	var r engine.WorkspaceOperatorRecord
	if err := s.get(workspaceOpsKey(ws), &r); err != nil {
		return r, fmt.Errorf("reading the operator record of workspace %s: %w", ws, err)
	}
	return r, nil
}

// WorkspaceOperatorRecords lists every operator record.
func (s *Store) WorkspaceOperatorRecords() ([]engine.WorkspaceOperatorRecord, error) {
	return scanAll[engine.WorkspaceOperatorRecord](s, []byte{spaceSystem, tWorkspaceOps})
}

// AddPlanUsage adds delta to ws's counter of r in month (see
// engine.PlanMonth). Counters merge, so concurrent adds need no lock.
func (b *Batch) AddPlanUsage(ws engine.ID, r engine.PlanResource, month string, delta int64) {
	if b.err == nil {
		b.err = b.b.Merge(planUsageKey(ws, r, month), binary.BigEndian.AppendUint64(nil, uint64(delta)), nil) //nolint:gosec // see sumMerger
	}
}

// PlanUsage reads ws's counter of r in month (0 when none was added).
func (s *Store) PlanUsage(ws engine.ID, r engine.PlanResource, month string) (int64, error) {
	v, ok, err := s.getRaw(planUsageKey(ws, r, month))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("reading a plan counter: %w", errBadCounter)
	}
	return int64(binary.BigEndian.Uint64(v)), nil //nolint:gosec // see sumMerger
}

// CountUsers counts the users of ws, stopping at max.
func (s *Store) CountUsers(ws engine.ID, max int) (int, error) {
	return s.countPrefix(wsPrefix(ws, tUser), max)
}

// CountWorkspaceChannelAccounts counts the channel accounts of ws,
// stopping at max.
func (s *Store) CountWorkspaceChannelAccounts(ws engine.ID, max int) (int, error) {
	return s.countPrefix(wsPrefix(ws, tWsAccount), max)
}

// CountWorkspaceInvitations counts the invitations to ws not yet accepted
// (expired ones included until they are removed), stopping at max.
func (s *Store) CountWorkspaceInvitations(ws engine.ID, max int) (int, error) {
	p := []byte{spaceSystem, tInvitation}
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok && n < max; ok = it.Next() {
		var inv Invitation
		if err := decode(it.Value(), &inv); err != nil {
			continue // a corrupt invitation counts for no one
		}
		if inv.WorkspaceID == ws {
			n++
		}
	}
	return n, iterErr(it)
}

// CountWorkspaceKeys counts the keys of ws's own range ('w' ws), the bulk
// of what a deletion removes: its progress total.
func (s *Store) CountWorkspaceKeys(ws engine.ID) (int64, error) {
	p := append([]byte{spaceWorkspace}, ws[:]...)
	n, err := s.countPrefix(p, int(^uint(0)>>1))
	return int64(n), err
}

// DeleteWorkspaceRangeChunk removes up to batch keys of ws's own range
// ('w' ws), oldest key order first, with one DeleteRange over the keys it
// counted, and writes rec (the deletion's progress, with Done advanced by
// the keys removed) in the same synced batch. It returns how many keys it
// removed: 0 when the range is empty.
func (s *Store) DeleteWorkspaceRangeChunk(ws engine.ID, batch int, rec *engine.WorkspaceOperatorRecord) (int, error) {
	p := append([]byte{spaceWorkspace}, ws[:]...)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return 0, err
	}
	n := 0
	var last []byte
	for ok := it.First(); ok && n < batch; ok = it.Next() {
		last = append(last[:0], it.Key()...)
		n++
	}
	full := n == batch && it.Next()
	if err := iterErr(it); err != nil {
		it.Close()
		return 0, err
	}
	it.Close()
	if n == 0 {
		return 0, nil
	}
	end := prefixEnd(p)
	if full {
		end = append(last, 0) // the smallest key after last
	}
	b := s.NewBatch()
	if b.err = b.b.DeleteRange(p, end, nil); b.err == nil && rec != nil {
		if d := rec.Deletion; d != nil {
			d.Done += int64(n)
			d.Total = max(d.Total, d.Done) // what was written since the count
		}
		b.PutWorkspaceOperatorRecord(rec)
	}
	if err := s.Commit(b); err != nil {
		return 0, fmt.Errorf("deleting workspace %s: %w", ws, err)
	}
	return n, nil
}

// systemKeysKept are the system tables no workspace owns: the format
// record, the server's VAPID keys, the webhook delivery sequence, and the
// migration markers.
var systemKeysKept = []byte{tFormat, tVAPID, tWebhookSeq, tMarker}

// DeleteWorkspaceSystemKeys removes, in synced batches of up to max keys,
// every system-space key that belongs to ws: those whose key holds ws
// (timers, outbox entries, search queue entries, quarantined copies of
// its records), those whose record names it (tokens, credentials,
// invitations, password links, channel accounts, outgoing webhook
// deliveries), and what is keyed by one of those (a token's last use, a
// channel account's health and IMAP cursors). The workspace record and
// the operator record stay: DeleteWorkspaceRecords removes them last.
// Each batch also writes rec with Done advanced. It returns how many keys
// it removed.
func (s *Store) DeleteWorkspaceSystemKeys(ws engine.ID, max int, rec *engine.WorkspaceOperatorRecord) (int, error) {
	wsName := []byte(ws.String())
	var doomed [][]byte
	p := []byte{spaceSystem}
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return 0, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < 2 || bytes.IndexByte(systemKeysKept, k[1]) >= 0 ||
			bytes.Equal(k, workspaceKey(ws)) || bytes.Equal(k, workspaceOpsKey(ws)) {
			continue
		}
		if !bytes.Contains(k[2:], ws[:]) && !bytes.Contains(it.Value(), wsName) {
			continue
		}
		doomed = append(doomed, bytes.Clone(k))
		switch k[1] {
		case tToken:
			doomed = append(doomed, tokenUseKey(k[2:]))
		case tAccount:
			var a engine.ChannelAccount
			if decode(it.Value(), &a) == nil && a.WorkspaceID == ws {
				doomed = append(doomed, healthKey(a.Channel, a.AccountID))
				cp := imapCursorKey(a.AccountID, "")
				doomed = append(doomed, cp[:len(cp)-2]) // the cursors' prefix: see below
			}
		}
	}
	if err := iterErr(it); err != nil {
		it.Close()
		return 0, err
	}
	it.Close()
	removed := 0
	for len(doomed) > 0 {
		n := min(max, len(doomed))
		b := s.NewBatch()
		for _, k := range doomed[:n] {
			if len(k) > 2 && k[1] == tIMAP {
				b.delPrefix(k) // every folder's cursor of the account
				continue
			}
			b.del(k)
		}
		if rec != nil {
			if d := rec.Deletion; d != nil {
				d.Done += int64(n)
				d.Total += int64(n) // the total counted only the workspace's range
			}
			b.PutWorkspaceOperatorRecord(rec)
		}
		if err := s.Commit(b); err != nil {
			return removed, fmt.Errorf("deleting workspace %s: %w", ws, err)
		}
		removed += n
		doomed = doomed[n:]
	}
	return removed, nil
}

// DeleteWorkspaceRecords removes the workspace record and the operator
// record of ws: the last batch of its deletion.
func (s *Store) DeleteWorkspaceRecords(ws engine.ID) error {
	b := s.NewBatch()
	b.del(workspaceKey(ws))
	b.del(workspaceOpsKey(ws))
	if err := s.Commit(b); err != nil {
		return fmt.Errorf("deleting workspace %s: %w", ws, err)
	}
	return nil
}

// ScanForWorkspace calls f with every key of the store that holds ws, or
// whose value names it (its 16 bytes or its text form): what a deleted
// workspace must leave none of. It is for tests and checks, not for
// requests: it reads the whole store.
func (s *Store) ScanForWorkspace(ws engine.ID, f func(key []byte)) error {
	name := []byte(ws.String())
	it, err := s.iter(nil, nil)
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if bytes.Contains(it.Key(), ws[:]) || bytes.Contains(it.Value(), ws[:]) || bytes.Contains(it.Value(), name) {
			f(bytes.Clone(it.Key()))
		}
	}
	return iterErr(it)
}
