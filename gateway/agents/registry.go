package agents

import (
	"fmt"
	"net/http"
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

// Registry keeps every workspace's agent settings in memory, written
// through to the store, with the agents built from them. It is the
// runtime's ports.AgentResolver: a channel account's override wins over
// its workspace's settings, which win over the built-in rules agent.
type Registry struct {
	store  *persistence.Store
	client *http.Client
	def    resolvedAgent
	mu     sync.RWMutex
	by     map[agentKey]resolvedAgent
}

// NewRegistry loads the stored agent settings. client makes the
// HTTP agents' calls; nil means a client of its own.
func NewRegistry(store *persistence.Store, client *http.Client) (*Registry, error) {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64,
			IdleConnTimeout: 90 * time.Second}}
	}
	r := &Registry{store: store, client: client, by: map[agentKey]resolvedAgent{}}
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

// Resolve returns the agent and policy of a channel account's
// conversations.
func (r *Registry) Resolve(ws engine.ID, ch engine.Channel, acct string) (ports.Agent, ports.AgentPolicy) {
	ra, _ := r.lookup(ws, ch, acct)
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
