package persistence

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Automations (docs/ARCHITECTURE.md, "Automations"). Keys, under the
// workspace prefix:
//
//	'w' ws '4' 'r' id                        rule (engine.Automation)
//	'w' ws '4' 'p' run                       pending run (engine.AutomationRun)
//	'w' ws '4' 'd' rule key                  → run id: the rule ran on the trigger key
//	'w' ws '4' 'l' rule ^at run              run log entry, newest first
//	'w' ws '4' 'c' rule action               → user id: the owner a round-robin gave last
//
// A store written before automations existed simply has none: the
// prefixes need no migration.
const tAutomation = '4'

const (
	autoRule    = 'r'
	autoPending = 'p'
	autoDone    = 'd'
	autoLog     = 'l'
	autoCursor  = 'c'
)

func autoPrefix(ws engine.ID, sub byte) []byte { return append(wsPrefix(ws, tAutomation), sub) }

func autoRuleKey(ws, id engine.ID) []byte { return append(autoPrefix(ws, autoRule), id[:]...) }

func autoPendingKey(ws, id engine.ID) []byte { return append(autoPrefix(ws, autoPending), id[:]...) }

func autoDoneKey(ws, rule engine.ID, key string) []byte {
	return appendString(append(autoPrefix(ws, autoDone), rule[:]...), key)
}

func autoLogPrefix(ws, rule engine.ID) []byte { return append(autoPrefix(ws, autoLog), rule[:]...) }

func autoLogKey(r *engine.AutomationRun) []byte {
	return append(appendTimeDesc(autoLogPrefix(r.WorkspaceID, r.RuleID), r.At), r.ID[:]...)
}

func autoCursorKey(ws, rule engine.ID, action int) []byte {
	return appendUint64(append(autoPrefix(ws, autoCursor), rule[:]...), uint64(action)) //nolint:gosec // an index
}

// PutAutomation writes rule r (new or changed).
func (b *Batch) PutAutomation(r *engine.Automation) { b.set(autoRuleKey(r.WorkspaceID, r.ID), r) }

// DeleteAutomation removes rule id with its run records, log and
// round-robin state (its pending runs are removed by their key).
func (b *Batch) DeleteAutomation(ws, id engine.ID) {
	b.del(autoRuleKey(ws, id))
	b.delPrefix(append(autoPrefix(ws, autoDone), id[:]...))
	b.delPrefix(autoLogPrefix(ws, id))
	b.delPrefix(append(autoPrefix(ws, autoCursor), id[:]...))
}

// PutAutomationPending writes a planned run, waiting for its actor.
func (b *Batch) PutAutomationPending(r *engine.AutomationRun) {
	b.set(autoPendingKey(r.WorkspaceID, r.ID), r)
}

// DeleteAutomationPending removes pending run id.
func (b *Batch) DeleteAutomationPending(ws, id engine.ID) { b.del(autoPendingKey(ws, id)) }

// SetAutomationCursor records the owner a round-robin gave last.
func (b *Batch) SetAutomationCursor(ws, rule engine.ID, action int, user engine.ID) {
	b.setRaw(autoCursorKey(ws, rule, action), user[:])
}

// FinishAutomationRun records finished run r: its pending entry goes,
// its log entry and its rule × trigger key record are written.
func (b *Batch) FinishAutomationRun(r *engine.AutomationRun) {
	b.del(autoPendingKey(r.WorkspaceID, r.ID))
	b.setRaw(autoDoneKey(r.WorkspaceID, r.RuleID, r.Trigger.Key), r.ID[:])
	b.set(autoLogKey(r), r)
}

// Automations returns the rules of a workspace, oldest first.
func (s *Store) Automations(ws engine.ID) ([]engine.Automation, error) {
	return readAll[engine.Automation](s, autoPrefix(ws, autoRule), "automations")
}

// Automation reads one rule.
func (s *Store) Automation(ws, id engine.ID) (engine.Automation, error) {
	var r engine.Automation
	if err := s.get(autoRuleKey(ws, id), &r); err != nil {
		return engine.Automation{}, fmt.Errorf("reading automation %s: %w", id, err)
	}
	return r, nil
}

// AutomationPending returns the pending runs of a workspace, oldest
// first.
func (s *Store) AutomationPending(ws engine.ID) ([]engine.AutomationRun, error) {
	return readAll[engine.AutomationRun](s, autoPrefix(ws, autoPending), "pending automation runs")
}

// AutomationRan reports whether rule ran on trigger key.
func (s *Store) AutomationRan(ws, rule engine.ID, key string) (bool, error) {
	err := s.view(autoDoneKey(ws, rule, key), func([]byte) error { return nil })
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// AutomationCursor returns the owner a round-robin gave last (nil for
// none yet).
func (s *Store) AutomationCursor(ws, rule engine.ID, action int) (*engine.ID, error) {
	var id engine.ID
	err := s.view(autoCursorKey(ws, rule, action), func(v []byte) error {
		if len(v) != len(id) {
			return errors.New("persistence: bad automation cursor")
		}
		copy(id[:], v)
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &id, nil
}

// CountContactsOwnedBy counts the contacts owned by user, stopping at
// max.
func (s *Store) CountContactsOwnedBy(ws, user engine.ID, max int) (int, error) {
	return s.countPrefix(contactOwnerPrefix(ws, user), max)
}

// AutomationRuns returns up to limit runs of rule, newest first, after
// cursor (empty: from the newest), and the cursor of the next page
// (empty at the end).
func (s *Store) AutomationRuns(ws, rule engine.ID, cursor string, limit int) ([]engine.AutomationRun, string, error) {
	p := autoLogPrefix(ws, rule)
	lower := p
	if cursor != "" {
		c, err := hex.DecodeString(cursor)
		if err != nil || len(c) != 8+len(engine.ID{}) {
			return nil, "", ErrBadCursor
		}
		lower = append(append([]byte{}, p...), c...)
		lower = append(lower, 0) // just after the cursor's entry
	}
	it, err := s.iter(lower, prefixEnd(p))
	if err != nil {
		return nil, "", err
	}
	defer it.Close()
	var out []engine.AutomationRun
	next, lastKey := "", []byte(nil)
	for ok := it.First(); ok; ok = it.Next() {
		if len(out) == limit {
			next = hex.EncodeToString(lastKey[len(p):])
			break
		}
		var r engine.AutomationRun
		if err := decode(it.Value(), &r); err != nil {
			return nil, "", fmt.Errorf("reading automation runs: %w", err)
		}
		out = append(out, r)
		lastKey = append(lastKey[:0], it.Key()...)
	}
	if err := iterErr(it); err != nil {
		return nil, "", err
	}
	return out, next, nil
}
