package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func TestSetAssistant(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := h.do(engine.SetAssistant{AssistantID: "b"}, t0)
	require.Equal(t, "b", res.Conversation.AssistantID)
	require.Equal(t, []engine.EventType{engine.EventConversationUpdated}, eventTypes(res))
	h.noop(engine.SetAssistant{AssistantID: "b"}, t0)
	_, err := engine.Apply(res.Conversation, engine.SetAssistant{}, t0, engine.NewID, engine.Settings{}, nil)
	require.ErrorIs(t, err, engine.ErrInvalid)
}

func TestConversationAssistantReadsOldHeadersAsDefault(t *testing.T) {
	t.Parallel()
	require.Equal(t, engine.DefaultAssistantID, (&engine.Conversation{}).Assistant())
	require.Equal(t, "b", (&engine.Conversation{AssistantID: "b"}).Assistant())
}

func TestAssistantValidate(t *testing.T) {
	t.Parallel()
	ok := engine.Assistant{ID: "a1", Name: "Sales", Settings: engine.AgentSettings{Kind: engine.AgentRulesKind},
		Accounts: []engine.AccountRef{{Channel: engine.ChannelWhatsApp, AccountID: "1"}}}
	require.NoError(t, ok.Validate())
	require.True(t, ok.Handles(engine.ChannelWhatsApp, "1"))
	require.False(t, ok.Handles(engine.ChannelInstagram, "1"))
	for name, change := range map[string]func(a *engine.Assistant){
		"no name":       func(a *engine.Assistant) { a.Name = "  " },
		"long name":     func(a *engine.Assistant) { a.Name = strings.Repeat("n", engine.MaxAssistantNameBytes+1) },
		"two lines":     func(a *engine.Assistant) { a.Name = "a\nb" },
		"no id":         func(a *engine.Assistant) { a.ID = "" },
		"bad channel":   func(a *engine.Assistant) { a.Accounts = []engine.AccountRef{{Channel: "fax", AccountID: "1"}} },
		"twice":         func(a *engine.Assistant) { a.Accounts = append(a.Accounts, a.Accounts[0]) },
		"bad kind":      func(a *engine.Assistant) { a.Settings.Kind = "oracle" },
		"stripe":        func(a *engine.Assistant) { a.Settings.StripeWebhookSecret = "whsec_x" },
		"account's":     func(a *engine.Assistant) { a.Settings.Channel, a.Settings.AccountID = engine.ChannelWhatsApp, "1" },
		"default lists": func(a *engine.Assistant) { a.ID = engine.DefaultAssistantID },
	} {
		a := ok
		a.Accounts = append([]engine.AccountRef(nil), ok.Accounts...)
		change(&a)
		err := a.Validate()
		require.Error(t, err, name)
		require.True(t, errors.Is(err, engine.ErrInvalid), name)
	}
	def := engine.Assistant{ID: engine.DefaultAssistantID, Name: "Assistant"}
	require.NoError(t, def.Validate(), "the default's settings are the workspace's, not on its record")
}
