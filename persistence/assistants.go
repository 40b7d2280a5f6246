package persistence

import (
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Assistants live per workspace (docs/ARCHITECTURE.md, key layout):
//
//	'w' ws '2' 'a' id                        assistant (engine.Assistant, JSON)
//
// The default assistant's settings stay the workspace's agent settings
// ('w' ws 'G' "" "", agents.go); its record, when written, holds only
// its name. The conversations of an assistant are found through the
// list index dimension DimAssistant.
const (
	tAssistants      = '2'
	subAssistantByID = 'a'
)

func assistantKey(ws engine.ID, id string) []byte {
	return appendString(append(wsPrefix(ws, tAssistants), subAssistantByID), id)
}

// PutAssistant writes assistant a.
func (b *Batch) PutAssistant(a *engine.Assistant) {
	b.set(assistantKey(a.WorkspaceID, a.ID), a)
}

// DeleteAssistant removes assistant id of workspace ws.
func (b *Batch) DeleteAssistant(ws engine.ID, id string) {
	b.del(assistantKey(ws, id))
}

// Assistants lists the stored assistants of workspace ws by id.
func (s *Store) Assistants(ws engine.ID) ([]engine.Assistant, error) {
	p := append(wsPrefix(ws, tAssistants), subAssistantByID)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.Assistant
	for ok := it.First(); ok; ok = it.Next() {
		var a engine.Assistant
		if err := decode(it.Value(), &a); err != nil {
			return nil, fmt.Errorf("reading assistant: %w", err)
		}
		out = append(out, a)
	}
	return out, iterErr(it)
}

// AssistantConversations returns the conversations of workspace ws that
// assistant id handles, in every folder, read from the list index.
func (s *Store) AssistantConversations(ws engine.ID, id string) ([]engine.ID, error) {
	var out []engine.ID
	for _, f := range engine.Folders {
		p := listPrefix(ws, f, DimAssistant(id))
		it, err := s.iter(p, prefixEnd(p))
		if err != nil {
			return nil, err
		}
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if len(k) != len(p)+listSuffixLen {
				_ = it.Close()
				return nil, fmt.Errorf("%w: list key of %d bytes", ErrCorrupt, len(k))
			}
			var conv engine.ID
			copy(conv[:], k[len(k)-len(conv):])
			out = append(out, conv)
		}
		if err := iterErr(it); err != nil {
			_ = it.Close()
			return nil, err
		}
		_ = it.Close()
	}
	return out, nil
}

// AssistantCounts returns how many conversations each assistant handles,
// in every folder, by assistant id: read from the list counters.
func (s *Store) AssistantCounts(ws engine.ID) (map[string]int64, error) {
	return s.prefixCounts(ws, dimAssistantPrefix)
}

// backfillAssistants is migration 8 (format.go): every conversation
// stored before assistants gets the default assistant
// (engine.DefaultAssistantID), its header rewritten with the list index
// entries and counters of that dimension, so that the inbox filters by
// assistant. A header that has an assistant already is skipped, so a
// run after a crash writes only what is missing.
func (s *Store) backfillAssistants(p *migrationProgress) error {
	return s.backfillConversations(p, func(b *Batch, ws, conv engine.ID, header []byte) (bool, error) {
		var c engine.Conversation
		if err := decode(header, &c); err != nil {
			// Lists skip it too (and quarantine it when they meet it).
			s.log.Error("a conversation header does not decode: left without an assistant", "conversation", conv, "err", err)
			return false, nil
		}
		if c.AssistantID != "" {
			return false, nil
		}
		next := c.Clone()
		next.AssistantID = engine.DefaultAssistantID
		b.PutConversation(&c, &next)
		return true, nil
	})
}

// ForgetAssistants makes conversation conv look as if it was stored
// before assistants and sets the data directory's format back to before
// them, so that the next Open runs migration 8. For tests of upgrades.
func (s *Store) ForgetAssistants(ws, conv engine.ID) error {
	c, err := s.Conversation(ws, conv)
	if err != nil {
		return err
	}
	old := c.Clone()
	c.AssistantID = ""
	b := s.NewBatch()
	b.PutConversation(&old, &c)
	b.rewindFormat(7)
	return s.Commit(b)
}
