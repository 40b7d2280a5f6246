package actors

import (
	"context"
	"fmt"
	"sync"

	"github.com/parleyhq/parley/engine"
)

// Opt-out keyword settings: the runtime owns each workspace's record
// (docs/ARCHITECTURE.md, "Opt-out keywords"). A change is checked
// (engine.CleanOptOutSettings) and committed under optOutDefs' lock,
// which also keeps what was committed in memory: the conversation
// actors read it on every command (engine.Settings.OptOut), so a read
// must not touch the store.
type optOutDefs struct {
	mu    sync.RWMutex
	cache map[engine.ID]engine.OptOutSettings
}

// optOutFor returns workspace ws's opt-out settings as last committed
// for a conversation's rules: the zero value (the defaults) when the
// read failed, which is logged.
func (rt *Runtime) optOutFor(ws engine.ID) engine.OptOutSettings {
	s, err := rt.OptOutSettings(ws)
	if err != nil {
		rt.log.Error("Reading the opt-out settings; using the defaults", "workspace", ws, "err", err)
	}
	return s
}

// OptOutSettings returns workspace ws's opt-out keyword settings as
// saved (nil lists and empty texts are the defaults; see
// engine.OptOutSettings.OptOutEffective).
func (rt *Runtime) OptOutSettings(ws engine.ID) (engine.OptOutSettings, error) {
	rt.optOut.mu.RLock()
	s, ok := rt.optOut.cache[ws]
	rt.optOut.mu.RUnlock()
	if ok {
		return s, nil
	}
	return rt.loadOptOut(ws)
}

// loadOptOut reads workspace ws's settings into the cache.
func (rt *Runtime) loadOptOut(ws engine.ID) (engine.OptOutSettings, error) {
	rt.optOut.mu.Lock()
	defer rt.optOut.mu.Unlock()
	if s, ok := rt.optOut.cache[ws]; ok {
		return s, nil
	}
	s, err := rt.store.OptOutSettings(ws)
	if err != nil {
		return engine.OptOutSettings{}, err
	}
	if rt.optOut.cache == nil {
		rt.optOut.cache = map[engine.ID]engine.OptOutSettings{}
	}
	rt.optOut.cache[ws] = s
	return s, nil
}

// SetOptOutSettings checks and saves workspace ws's opt-out keyword
// settings in one synced batch and returns them as saved; messages
// received after it returns follow them.
func (rt *Runtime) SetOptOutSettings(ctx context.Context, ws engine.ID, s engine.OptOutSettings) (engine.OptOutSettings, error) {
	if err := ctx.Err(); err != nil {
		return engine.OptOutSettings{}, err
	}
	s, err := engine.CleanOptOutSettings(s)
	if err != nil {
		return engine.OptOutSettings{}, err
	}
	rt.optOut.mu.Lock()
	defer rt.optOut.mu.Unlock()
	b := rt.store.NewBatch()
	b.PutOptOutSettings(ws, &s)
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return engine.OptOutSettings{}, fmt.Errorf("saving the opt-out settings: %w", err)
	}
	if rt.optOut.cache == nil {
		rt.optOut.cache = map[engine.ID]engine.OptOutSettings{}
	}
	rt.optOut.cache[ws] = s
	return s, nil
}

// optedOutOfBroadcast tells the broadcast that last reached the
// transaction's conversation, within engine.BroadcastReplyWindow, that
// its recipient opted out (an opt-out keyword in reply), after the
// commit: the recipient's status becomes opted_out.
func (t *txn) optedOutOfBroadcast() {
	a := t.a
	bc, contact, at, ok, err := a.rt.store.LastBroadcast(a.ws, a.id)
	if err != nil {
		a.rt.log.Warn("Reading the conversation's last broadcast for an opt-out", "conversation", a.id, "err", err)
		return
	}
	if !ok || t.now.Sub(at) > engine.BroadcastReplyWindow {
		return
	}
	rt, ws := a.rt, a.ws
	t.post = append(t.post, func() { rt.BroadcastOptOut(ws, bc, contact) })
}
