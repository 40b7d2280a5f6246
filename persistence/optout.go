package persistence

import (
	"errors"
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Opt-out keyword settings. Key, under the workspace prefix:
//
//	'w' ws '&'                               opt-out settings (engine.OptOutSettings)
//
// A workspace without the record uses the defaults; a store written
// before opt-out keywords existed needs no migration.
const tOptOut = '&'

func optOutKey(ws engine.ID) []byte { return wsPrefix(ws, tOptOut) }

// PutOptOutSettings writes workspace ws's opt-out settings.
func (b *Batch) PutOptOutSettings(ws engine.ID, s *engine.OptOutSettings) {
	b.set(optOutKey(ws), s)
}

// OptOutSettings reads workspace ws's opt-out settings: the zero value
// (the defaults) when none were saved.
func (s *Store) OptOutSettings(ws engine.ID) (engine.OptOutSettings, error) {
	var o engine.OptOutSettings
	if err := s.get(optOutKey(ws), &o); errors.Is(err, ErrNotFound) {
		return engine.OptOutSettings{}, nil
	} else if err != nil {
		return engine.OptOutSettings{}, fmt.Errorf("reading the opt-out settings: %w", err)
	}
	return o, nil
}
