package agents

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

type agentKey struct {
	ws   engine.ID
	ch   engine.Channel
	acct string
}

// resolvedAgent is one settings record with the agent built from it.
type resolvedAgent struct {
	s      engine.AgentSettings
	agent  ports.Agent
	policy ports.AgentPolicy
}

type assistantKey struct {
	ws engine.ID
	id string
}

// Registry keeps every workspace's agent settings and assistants in
// memory, written through to the store, with the agents built from them.
// It owns both (docs/ARCHITECTURE.md, "Who owns what"): each change's
// read-check-write and its commit run under its lock. It is the
// runtime's ports.AgentResolver and ports.AssistantPicker: a channel
// account's override wins over the settings of the conversation's
// assistant, then the workspace's (the default assistant's), then the
// built-in rules agent.
type Registry struct {
	store  *persistence.Store
	client *http.Client
	def    resolvedAgent
	mu     sync.RWMutex
	by     map[agentKey]resolvedAgent
	// assistants holds the stored assistant records (the default's only
	// once renamed); agents the agents built from the others' settings;
	// accounts which assistant lists a channel account.
	assistants map[assistantKey]engine.Assistant
	agents     map[assistantKey]resolvedAgent
	accounts   map[agentKey]string
}

// NewRegistry loads the stored agent settings. client makes the
// HTTP agents' calls; nil means a client of its own.
func NewRegistry(store *persistence.Store, client *http.Client) (*Registry, error) {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64,
			IdleConnTimeout: 90 * time.Second}}
	}
	r := &Registry{store: store, client: client, by: map[agentKey]resolvedAgent{},
		assistants: map[assistantKey]engine.Assistant{}, agents: map[assistantKey]resolvedAgent{}, accounts: map[agentKey]string{}}
	r.def = r.build(DefaultSettings(engine.ZeroID))
	wss, err := store.Workspaces()
	if err != nil {
		return nil, fmt.Errorf("loading agent settings: %w", err)
	}
	for _, w := range wss {
		all, err := store.AgentSettings(w.ID)
		if err != nil {
			return nil, fmt.Errorf("loading agent settings: %w", err)
		}
		for _, s := range all {
			r.by[agentKey{s.WorkspaceID, s.Channel, s.AccountID}] = r.build(s)
		}
		as, err := store.Assistants(w.ID)
		if err != nil {
			return nil, fmt.Errorf("loading assistants: %w", err)
		}
		for _, a := range as {
			r.setAssistant(a)
		}
	}
	return r, nil
}

// DefaultSettings are the settings of a workspace that set none: the
// built-in rules agent.
func DefaultSettings(ws engine.ID) engine.AgentSettings {
	return engine.AgentSettings{WorkspaceID: ws, Kind: engine.AgentRulesKind}
}

func (r *Registry) build(s engine.AgentSettings) resolvedAgent {
	ra := resolvedAgent{s: s, policy: ports.AgentPolicy{Kind: string(s.Kind), Debounce: s.Debounce, Rules: s.Rules,
		Restricted: s.Restricted, RestrictedReply: s.RestrictedReply, RestrictedTo: s.RestrictedTo}}
	switch s.Kind {
	case engine.AgentRulesKind:
		ra.agent = NewRules(s)
	case engine.AgentOpenAIKind:
		ra.agent = NewOpenAI(r.client, s)
	case engine.AgentWebhookKind:
		ra.agent = NewWebhook(r.client, s)
	}
	return ra
}

func (r *Registry) lookup(ws engine.ID, ch engine.Channel, acct string) (resolvedAgent, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lookupLocked(ws, ch, acct)
}

func (r *Registry) lookupLocked(ws engine.ID, ch engine.Channel, acct string) (resolvedAgent, bool) {
	if ra, ok := r.by[agentKey{ws, ch, acct}]; ok {
		return ra, false
	}
	if ra, ok := r.by[agentKey{ws, "", ""}]; ok {
		return ra, ch != ""
	}
	ra := r.def
	ra.s.WorkspaceID = ws
	return ra, ch != ""
}

// Resolve returns the agent and policy of a conversation of a channel
// account handled by assistant: the account's override if it has one,
// else the assistant's settings (the workspace's for the default
// assistant, and for an assistant deleted since).
func (r *Registry) Resolve(ws engine.ID, ch engine.Channel, acct, assistant string) (ports.Agent, ports.AgentPolicy) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if ra, ok := r.by[agentKey{ws, ch, acct}]; ok {
		return ra.agent, ra.policy
	}
	if ra, ok := r.agents[assistantKey{ws, assistant}]; ok {
		return ra.agent, ra.policy
	}
	ra, _ := r.lookupLocked(ws, "", "")
	return ra.agent, ra.policy
}

// Build returns the agent and policy settings s would have, without
// storing or applying them (the agent test console calls the agent the
// runtime would). A nil agent means the AI is off.
func (r *Registry) Build(s engine.AgentSettings) (ports.Agent, ports.AgentPolicy) {
	ra := r.build(s)
	return ra.agent, ra.policy
}

// Settings returns the settings in force for a channel account (ch and
// acct empty: the workspace), and whether they are inherited from the
// workspace (or the default) rather than set for it.
func (r *Registry) Settings(ws engine.ID, ch engine.Channel, acct string) (engine.AgentSettings, bool) {
	ra, inherited := r.lookup(ws, ch, acct)
	return ra.s, inherited
}

// Put validates, stores and applies settings.
func (r *Registry) Put(s engine.AgentSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	ra := r.build(s)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.store.NewBatch()
	b.PutAgentSettings(&s)
	if err := r.store.Commit(b); err != nil {
		return fmt.Errorf("storing agent settings: %w", err)
	}
	r.by[agentKey{s.WorkspaceID, s.Channel, s.AccountID}] = ra
	return nil
}

// Delete removes a channel account's override; its conversations follow
// the workspace's settings again.
func (r *Registry) Delete(ws engine.ID, ch engine.Channel, acct string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.store.NewBatch()
	b.DeleteAgentSettings(ws, ch, acct)
	if err := r.store.Commit(b); err != nil {
		return fmt.Errorf("deleting agent settings: %w", err)
	}
	delete(r.by, agentKey{ws, ch, acct})
	return nil
}

// setAssistant keeps a (stored) in memory; r.mu is held or r is not
// shared yet.
func (r *Registry) setAssistant(a engine.Assistant) {
	k := assistantKey{a.WorkspaceID, a.ID}
	if old, ok := r.assistants[k]; ok {
		for _, ref := range old.Accounts {
			delete(r.accounts, agentKey{a.WorkspaceID, ref.Channel, ref.AccountID})
		}
	}
	r.assistants[k] = a
	if a.ID == engine.DefaultAssistantID {
		return
	}
	s := a.Settings
	s.WorkspaceID = a.WorkspaceID
	r.agents[k] = r.build(s)
	for _, ref := range a.Accounts {
		r.accounts[agentKey{a.WorkspaceID, ref.Channel, ref.AccountID}] = a.ID
	}
}

// AssistantFor returns the id of the assistant that handles the new
// conversations of a channel account: the one that lists it, else the
// default assistant.
func (r *Registry) AssistantFor(ws engine.ID, ch engine.Channel, acct string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if id, ok := r.accounts[agentKey{ws, ch, acct}]; ok {
		return id
	}
	return engine.DefaultAssistantID
}

// assistantLocked returns assistant id of ws as the API shows it: the
// default one with its stored name (or DefaultAssistantName) and the
// workspace's settings in force.
func (r *Registry) assistantLocked(ws engine.ID, id string) (engine.Assistant, bool) {
	a, ok := r.assistants[assistantKey{ws, id}]
	if id != engine.DefaultAssistantID {
		return a, ok
	}
	if !ok {
		a = engine.Assistant{ID: id, WorkspaceID: ws, Name: engine.DefaultAssistantName}
	}
	ra, _ := r.lookupLocked(ws, "", "")
	a.Settings = ra.s
	return a, true
}

// Assistant returns assistant id of workspace ws (see Assistants).
func (r *Registry) Assistant(ws engine.ID, id string) (engine.Assistant, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.assistantLocked(ws, id)
}

// Assistants returns the assistants of workspace ws: the default one
// first (its settings the workspace's), then the others by name.
func (r *Registry) Assistants(ws engine.ID) []engine.Assistant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	def, _ := r.assistantLocked(ws, engine.DefaultAssistantID)
	var out []engine.Assistant
	for k, a := range r.assistants {
		if k.ws == ws && k.id != engine.DefaultAssistantID {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b engine.Assistant) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), strings.Compare(a.ID, b.ID))
	})
	return append([]engine.Assistant{def}, out...)
}

// ErrTooManyAssistants is PutAssistant's error for a workspace at
// engine.MaxAssistants.
var ErrTooManyAssistants = errors.New("too many assistants")

// PutAssistant validates, stores and applies assistant a (new or
// changed). The channel accounts it lists are taken from any other
// assistant that listed them, in the same batch. For the default
// assistant, a.Settings are the workspace's agent settings, stored as
// such.
func (r *Registry) PutAssistant(a engine.Assistant) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.putAssistantLocked(a)
}

// ChangeAssistant changes assistant id of ws by change, run on the
// assistant as last committed, and stores it as PutAssistant does, all
// under the registry's lock: two changes at once never lose one. It
// returns the assistant stored; persistence.ErrNotFound when there is
// none.
func (r *Registry) ChangeAssistant(ws engine.ID, id string, change func(a *engine.Assistant) error) (engine.Assistant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.assistantLocked(ws, id)
	if !ok {
		return a, persistence.ErrNotFound
	}
	a.Accounts = slices.Clone(a.Accounts)
	if err := change(&a); err != nil {
		return a, err
	}
	if err := r.putAssistantLocked(a); err != nil {
		return a, err
	}
	stored, _ := r.assistantLocked(ws, id)
	return stored, nil
}

func (r *Registry) putAssistantLocked(a engine.Assistant) error {
	if err := a.Validate(); err != nil {
		return err
	}
	isDefault := a.ID == engine.DefaultAssistantID
	if isDefault {
		a.Settings.WorkspaceID, a.Settings.Channel, a.Settings.AccountID = a.WorkspaceID, "", ""
		if err := a.Settings.Validate(); err != nil {
			return err
		}
	}
	k := assistantKey{a.WorkspaceID, a.ID}
	if _, exists := r.assistants[k]; !exists && !isDefault {
		n := 0
		for k2 := range r.assistants {
			if k2.ws == a.WorkspaceID && k2.id != engine.DefaultAssistantID {
				n++
			}
		}
		if n+1 >= engine.MaxAssistants {
			return fmt.Errorf("%w: at most %d per workspace", ErrTooManyAssistants, engine.MaxAssistants)
		}
	}
	b := r.store.NewBatch()
	var changed []engine.Assistant
	for _, ref := range a.Accounts {
		other, ok := r.accounts[agentKey{a.WorkspaceID, ref.Channel, ref.AccountID}]
		if !ok || other == a.ID || slices.ContainsFunc(changed, func(x engine.Assistant) bool { return x.ID == other }) {
			continue
		}
		o := r.assistants[assistantKey{a.WorkspaceID, other}]
		o.Accounts = slices.DeleteFunc(slices.Clone(o.Accounts), func(x engine.AccountRef) bool { return a.Handles(x.Channel, x.AccountID) })
		o.UpdatedAt = a.UpdatedAt
		changed = append(changed, o)
	}
	for i := range changed {
		b.PutAssistant(&changed[i])
	}
	rec := a
	if isDefault {
		rec.Settings = engine.AgentSettings{}
		b.PutAgentSettings(&a.Settings)
	}
	b.PutAssistant(&rec)
	if err := r.store.Commit(b); err != nil {
		return fmt.Errorf("storing assistant: %w", err)
	}
	for _, o := range changed {
		r.setAssistant(o)
	}
	r.setAssistant(rec)
	if isDefault {
		r.by[agentKey{a.WorkspaceID, "", ""}] = r.build(a.Settings)
	}
	return nil
}

// DeleteAssistant removes assistant id (never the default one): its
// channel accounts go back to the default assistant at once. Its
// conversations are the caller's to move first (engine.SetAssistant,
// through their actors); one left behind is answered with the
// workspace's settings (Resolve).
func (r *Registry) DeleteAssistant(ws engine.ID, id string) error {
	if id == engine.DefaultAssistantID {
		return fmt.Errorf("%w: the default assistant cannot be deleted", engine.ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := assistantKey{ws, id}
	a, ok := r.assistants[k]
	if !ok {
		return persistence.ErrNotFound
	}
	b := r.store.NewBatch()
	b.DeleteAssistant(ws, id)
	if err := r.store.Commit(b); err != nil {
		return fmt.Errorf("deleting assistant: %w", err)
	}
	for _, ref := range a.Accounts {
		delete(r.accounts, agentKey{ws, ref.Channel, ref.AccountID})
	}
	delete(r.assistants, k)
	delete(r.agents, k)
	return nil
}
