package persistence

import (
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Agent settings live per workspace:
//
//	'w' ws 'G' channel account-id    agent settings ("" "" for the workspace default)
const tAgentSettings = 'G'

func agentSettingsKey(ws engine.ID, ch engine.Channel, accountID string) []byte {
	return appendString(appendString(wsPrefix(ws, tAgentSettings), string(ch)), accountID)
}

// PutAgentSettings writes agent settings (the workspace default, or one
// channel account's override).
func (b *Batch) PutAgentSettings(s *engine.AgentSettings) {
	b.set(agentSettingsKey(s.WorkspaceID, s.Channel, s.AccountID), s)
}

// DeleteAgentSettings removes a channel account's override (or the
// workspace default).
func (b *Batch) DeleteAgentSettings(ws engine.ID, ch engine.Channel, accountID string) {
	b.del(agentSettingsKey(ws, ch, accountID))
}

// AgentSettings lists the agent settings of a workspace: the default (if
// set) first, then the overrides by channel and account.
func (s *Store) AgentSettings(ws engine.ID) ([]engine.AgentSettings, error) {
	p := wsPrefix(ws, tAgentSettings)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.AgentSettings
	for ok := it.First(); ok; ok = it.Next() {
		var a engine.AgentSettings
		if err := decode(it.Value(), &a); err != nil {
			return nil, fmt.Errorf("reading agent settings: %w", err)
		}
		out = append(out, a)
	}
	return out, iterErr(it)
}
