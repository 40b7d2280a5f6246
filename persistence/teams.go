package persistence

import (
	"github.com/parleyhq/parley/engine"
)

// Teams. Keys, under the workspace prefix:
//
//	'w' ws '+' 't' team                      team (engine.Team)
//	'w' ws '+' 'c' team                      → the user id the team's round robin gave the last conversation
//
// Both are written by the teams' owner (gateway/teams.go) under its
// mutex; a conversation's team is on its header, with a list index
// dimension (DimTeam), written by its actor. A store written before
// teams existed has none of these keys: they need no migration.
const (
	tTeam = '+'

	tmDef    = 't'
	tmCursor = 'c'
)

func teamPrefix(ws engine.ID, sub byte) []byte { return append(wsPrefix(ws, tTeam), sub) }

func teamKey(ws, id engine.ID) []byte { return append(teamPrefix(ws, tmDef), id[:]...) }

func teamCursorKey(ws, id engine.ID) []byte { return append(teamPrefix(ws, tmCursor), id[:]...) }

// PutTeam writes team t (new or changed).
func (b *Batch) PutTeam(t *engine.Team) { b.set(teamKey(t.WorkspaceID, t.ID), t) }

// DeleteTeam removes team id of ws with its cursor. Conversations still
// naming it keep the id until a person changes their team; the list
// filter finds them under it, and the web app shows them without a name.
func (b *Batch) DeleteTeam(ws, id engine.ID) {
	b.del(teamKey(ws, id))
	b.del(teamCursorKey(ws, id))
}

// SetTeamCursor records the member the team's round robin picked last.
func (b *Batch) SetTeamCursor(ws, id engine.ID, user string) {
	b.setRaw(teamCursorKey(ws, id), []byte(user))
}

// Teams returns every team of a workspace, in id (creation) order.
func (s *Store) Teams(ws engine.ID) ([]engine.Team, error) {
	return readAll[engine.Team](s, teamPrefix(ws, tmDef), "teams")
}

// Team reads team id of ws; ErrNotFound if there is none.
func (s *Store) Team(ws, id engine.ID) (engine.Team, error) {
	var t engine.Team
	err := s.get(teamKey(ws, id), &t)
	return t, err
}

// TeamCursor returns the member the team's round robin picked last (""
// before the first pick).
func (s *Store) TeamCursor(ws, id engine.ID) (string, error) {
	v, ok, err := s.getRaw(teamCursorKey(ws, id))
	if err != nil || !ok {
		return "", err
	}
	return string(v), nil
}
