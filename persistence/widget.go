package persistence

import (
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Web chat widget visitors. Keys, under the workspace prefix:
//
//	'w' ws '6' 'v' visitor                   visitor session (engine.Visitor)
//
// A widget itself is a channel account (webchat) with its settings; its
// conversations are threads like every channel's. A store written before
// the widget existed has no visitors: the prefix needs no migration.
const (
	tWidget     = '6'
	widgetVisit = 'v'
)

func visitorKey(ws, id engine.ID) []byte {
	return append(append(wsPrefix(ws, tWidget), widgetVisit), id[:]...)
}

// PutVisitor writes visitor v.
func (b *Batch) PutVisitor(v *engine.Visitor) { b.set(visitorKey(v.WorkspaceID, v.ID), v) }

// Visitor reads visitor id of workspace ws (ErrNotFound when unknown).
func (s *Store) Visitor(ws, id engine.ID) (engine.Visitor, error) {
	var v engine.Visitor
	if err := s.get(visitorKey(ws, id), &v); err != nil {
		return engine.Visitor{}, fmt.Errorf("reading visitor %s: %w", id, err)
	}
	return v, nil
}

// visitorDeleteChunk bounds the deletes of one batch of
// DeleteWidgetVisitors.
const visitorDeleteChunk = 1000

// DeleteWidgetVisitors removes the visitor sessions of widget of
// workspace ws, in synced batches of at most visitorDeleteChunk, and
// returns how many it removed. Run after the widget is deleted (no new
// session of it is made then), it leaves none; cut short, running it
// again finishes.
func (s *Store) DeleteWidgetVisitors(ws engine.ID, widget string) (int, error) {
	p := append(wsPrefix(ws, tWidget), widgetVisit)
	var keys [][]byte
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return 0, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		var v engine.Visitor
		if err := decode(it.Value(), &v); err != nil {
			it.Close()
			return 0, fmt.Errorf("reading a visitor: %w", err)
		}
		if v.WidgetID == widget {
			keys = append(keys, append([]byte(nil), it.Key()...))
		}
	}
	if err := iterErr(it); err != nil {
		it.Close()
		return 0, err
	}
	it.Close()
	done := 0
	for len(keys) > 0 {
		n := min(len(keys), visitorDeleteChunk)
		b := s.NewBatch()
		for _, k := range keys[:n] {
			b.del(k)
		}
		if err := s.Commit(b); err != nil {
			return done, fmt.Errorf("deleting the visitors of widget %s: %w", widget, err)
		}
		done += n
		keys = keys[n:]
	}
	return done, nil
}
