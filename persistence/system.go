package persistence

import (
	"crypto/sha256"
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// System tables (not under a workspace prefix, because they are how a
// request finds its workspace):
//
//	's' 'W' ws                       workspace
//	's' 'K' sha256(token)            API token
//	's' 'A' channel account-id       channel account (routing webhooks)
//
// and per workspace:
//
//	'w' ws 'U' user                  user
//	'w' ws 'a' channel account-id    → nothing (the workspace's accounts)
const (
	tWorkspace   = 'W'
	tToken       = 'K'
	tAccount     = 'A'
	tUser        = 'U'
	tWsAccount   = 'a'
	tokenHashLen = sha256.Size
)

func workspaceKey(ws engine.ID) []byte { return append([]byte{spaceSystem, tWorkspace}, ws[:]...) }

func tokenKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return append([]byte{spaceSystem, tToken}, h[:]...)
}

func accountKey(ch engine.Channel, accountID string) []byte {
	return appendString(appendString([]byte{spaceSystem, tAccount}, string(ch)), accountID)
}

func wsAccountKey(ws engine.ID, ch engine.Channel, accountID string) []byte {
	return appendString(appendString(wsPrefix(ws, tWsAccount), string(ch)), accountID)
}

func userKey(ws, user engine.ID) []byte { return append(wsPrefix(ws, tUser), user[:]...) }

// PutWorkspace writes a workspace.
func (b *Batch) PutWorkspace(w *engine.Workspace) { b.set(workspaceKey(w.ID), w) }

// PutUser writes a user.
func (b *Batch) PutUser(u *engine.User) { b.set(userKey(u.WorkspaceID, u.ID), u) }

// PutToken stores a token under the hash of its secret.
func (b *Batch) PutToken(secret string, t *engine.Token) { b.set(tokenKey(secret), t) }

// PutChannelAccount writes a channel account and its workspace index
// entry.
func (b *Batch) PutChannelAccount(a *engine.ChannelAccount) {
	b.set(accountKey(a.Channel, a.AccountID), a)
	b.setRaw(wsAccountKey(a.WorkspaceID, a.Channel, a.AccountID), nil)
}

// DeleteChannelAccount removes a channel account.
func (b *Batch) DeleteChannelAccount(a *engine.ChannelAccount) {
	b.del(accountKey(a.Channel, a.AccountID))
	b.del(wsAccountKey(a.WorkspaceID, a.Channel, a.AccountID))
}

// Workspace reads a workspace.
func (s *Store) Workspace(ws engine.ID) (engine.Workspace, error) {
	var w engine.Workspace
	if err := s.get(workspaceKey(ws), &w); err != nil {
		return w, fmt.Errorf("reading workspace %s: %w", ws, err)
	}
	return w, nil
}

// Workspaces lists every workspace.
func (s *Store) Workspaces() ([]engine.Workspace, error) {
	p := []byte{spaceSystem, tWorkspace}
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.Workspace
	for ok := it.First(); ok; ok = it.Next() {
		var w engine.Workspace
		if err := decode(it.Value(), &w); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, iterErr(it)
}

// User reads a user.
func (s *Store) User(ws, id engine.ID) (engine.User, error) {
	var u engine.User
	if err := s.get(userKey(ws, id), &u); err != nil {
		return u, fmt.Errorf("reading user %s: %w", id, err)
	}
	return u, nil
}

// TokenBySecret finds the token whose secret is given.
func (s *Store) TokenBySecret(secret string) (engine.Token, error) {
	var t engine.Token
	if err := s.get(tokenKey(secret), &t); err != nil {
		return t, fmt.Errorf("reading token: %w", err)
	}
	return t, nil
}

// ChannelAccount reads a channel account by channel and account id.
func (s *Store) ChannelAccount(ch engine.Channel, accountID string) (engine.ChannelAccount, error) {
	var a engine.ChannelAccount
	if err := s.get(accountKey(ch, accountID), &a); err != nil {
		return a, fmt.Errorf("reading channel account %s/%s: %w", ch, accountID, err)
	}
	return a, nil
}

// ChannelAccounts lists every channel account of every workspace.
func (s *Store) ChannelAccounts() ([]engine.ChannelAccount, error) {
	p := []byte{spaceSystem, tAccount}
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.ChannelAccount
	for ok := it.First(); ok; ok = it.Next() {
		var a engine.ChannelAccount
		if err := decode(it.Value(), &a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, iterErr(it)
}
