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
