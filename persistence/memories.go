package persistence

import (
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Contact memories. Keys, under the workspace prefix:
//
//	'w' ws 'r' contact memory                memory (oldest first: ids are ULIDs)
//
// DeleteContact removes them with the contact.
const tMemory = 'r'

func memoryPrefix(ws, contact engine.ID) []byte { return append(wsPrefix(ws, tMemory), contact[:]...) }

func memoryKey(ws, contact, id engine.ID) []byte { return append(memoryPrefix(ws, contact), id[:]...) }

// PutMemory writes memory m.
func (b *Batch) PutMemory(m *engine.Memory) { b.set(memoryKey(m.WorkspaceID, m.ContactID, m.ID), m) }

// DeleteMemory removes memory m.
func (b *Batch) DeleteMemory(m *engine.Memory) { b.del(memoryKey(m.WorkspaceID, m.ContactID, m.ID)) }

// deleteMemories removes every memory of a contact.
func (b *Batch) deleteMemories(ws, contact engine.ID) {
	p := memoryPrefix(ws, contact)
	b.delPrefix(p)
}

// Memories returns up to limit memories of a contact, oldest first.
func (s *Store) Memories(ws, contact engine.ID, limit int) ([]engine.Memory, error) {
	p := memoryPrefix(ws, contact)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.Memory
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		var m engine.Memory
		if err := decode(it.Value(), &m); err != nil {
			return nil, fmt.Errorf("reading memories of %s: %w", contact, err)
		}
		out = append(out, typed(m))
	}
	return out, iterErr(it)
}

// Memory reads one memory of a contact.
func (s *Store) Memory(ws, contact, id engine.ID) (engine.Memory, error) {
	var m engine.Memory
	if err := s.get(memoryKey(ws, contact, id), &m); err != nil {
		return engine.Memory{}, fmt.Errorf("reading memory %s: %w", id, err)
	}
	return typed(m), nil
}

// typed gives a memory stored before memories had types its type, a
// fact (no migration rewrites them).
func typed(m engine.Memory) engine.Memory {
	if m.Type == "" {
		m.Type = engine.MemoryFact
	}
	return m
}
