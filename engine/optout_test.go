package engine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func TestOptOutKeywordMatchesTheWholeMessage(t *testing.T) {
	t.Parallel()
	ks := engine.DefaultOptOutKeywords
	for _, s := range []string{"STOP", "stop", " Stop! ", "arret", "Arrêt.", "ARRÊT", "stopp", "Baja", "parar",
		"CANCELAR", "disdetta", "unsubscribe", "stop   all", "Opt-out", "désabonnement"} {
		require.True(t, engine.OptOutKeyword(s, ks), "%q is an opt-out", s)
	}
	for _, s := range []string{"", "   ", "!!!", "please stop the noise", "stop it", "stopping", "start", "top",
		"I want to cancel my order"} {
		require.False(t, engine.OptOutKeyword(s, ks), "%q is not an opt-out", s)
	}
	// Configured keywords replace the defaults; accents on either side
	// do not matter.
	require.True(t, engine.OptOutKeyword("Fin", []string{"FÍN"}))
	require.False(t, engine.OptOutKeyword("stop", []string{"FÍN"}))
	require.False(t, engine.OptOutKeyword("stop", nil))
}

// The rule runs in many conversation actors at once (run with -race).
func TestOptOutKeywordConcurrent(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if !engine.OptOutKeyword("Arrêt!", engine.DefaultOptOutKeywords) || engine.OptOutKeyword("héllo", engine.DefaultOptOutKeywords) {
					t.Error("wrong match")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestClassifyOptOutDefaultsAndEmptyLists(t *testing.T) {
	t.Parallel()
	require.Equal(t, engine.OptOutUnsubscribe, engine.ClassifyOptOut("Stop", engine.OptOutSettings{}))
	require.Equal(t, engine.OptOutResubscribe, engine.ClassifyOptOut("start", engine.OptOutSettings{}))
	require.Equal(t, engine.OptOutNone, engine.ClassifyOptOut("hello", engine.OptOutSettings{}))
	off := engine.OptOutSettings{Keywords: []string{}, ResubscribeKeywords: []string{}}
	require.Equal(t, engine.OptOutNone, engine.ClassifyOptOut("stop", off), "an empty list turns the rule off")
}

func TestCleanOptOutSettings(t *testing.T) {
	t.Parallel()
	s, err := engine.CleanOptOutSettings(engine.OptOutSettings{Keywords: []string{" STOP ", "stop", "Baja"},
		Confirmation: "  Bye  "})
	require.NoError(t, err)
	require.Equal(t, []string{"STOP", "Baja"}, s.Keywords, "trimmed and deduplicated by matching form")
	require.Equal(t, "Bye", s.Confirmation)
	require.Nil(t, s.ResubscribeKeywords, "omitted: the defaults")

	bad := []engine.OptOutSettings{
		{Keywords: []string{"!!"}},
		{Keywords: []string{string(make([]byte, engine.MaxOptOutKeywordBytes+1))}},
		{Keywords: []string{"STOP"}, ResubscribeKeywords: []string{"stop"}},
		{Confirmation: string(make([]byte, engine.MaxOptOutConfirmationBytes+1))},
		{ResubscribeConfirmation: "\xff"},
	}
	for _, b := range bad {
		_, err := engine.CleanOptOutSettings(b)
		require.ErrorIs(t, err, engine.ErrInvalid, "%+v", b)
	}
	many := make([]string, engine.MaxOptOutKeywords+1)
	for i := range many {
		many[i] = "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	_, err = engine.CleanOptOutSettings(engine.OptOutSettings{Keywords: many})
	require.ErrorIs(t, err, engine.ErrInvalid)
}

func TestReceiveOptOutKeywordConfirmsWithoutTheAI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := h.do(engine.Receive{ChannelMessageID: "wamid.1", Content: txt("Stop!")}, at(time.Minute))
	require.True(t, res.Conversation.Unsubscribed)
	require.Equal(t, engine.OptOutUnsubscribe, res.OptOut)
	require.Nil(t, res.AskAI, "the AI does not answer an opt-out")
	require.Equal(t, engine.ModeAI, res.Conversation.Mode, "the confirmation does not take the conversation over")
	require.Len(t, res.Send, 1)
	require.Equal(t, engine.DefaultOptOutConfirmation, res.Send[0].Content.Text)
	require.Equal(t, engine.OptOutConfirmationReasoning, res.Send[0].Reasoning)
	require.Len(t, res.Messages, 3, "the message, the system note, the confirmation")
	require.Contains(t, res.Messages[1].Text, "Unsubscribed from broadcasts")

	// START subscribes again, with the workspace's own text.
	h.set.OptOut = engine.OptOutSettings{ResubscribeConfirmation: "Welcome back"}
	res = h.do(engine.Receive{ChannelMessageID: "wamid.2", Content: txt("start")}, at(2*time.Minute))
	require.False(t, res.Conversation.Unsubscribed)
	require.Equal(t, engine.OptOutResubscribe, res.OptOut)
	require.Len(t, res.Send, 1)
	require.Equal(t, "Welcome back", res.Send[0].Content.Text)

	// Any other message goes to the AI as usual.
	res = h.do(engine.Receive{ChannelMessageID: "wamid.3", Content: txt("stop sending me offers please")}, at(3*time.Minute))
	require.Equal(t, engine.OptOutNone, res.OptOut)
	require.NotNil(t, res.AskAI)
}

func TestReceiveOptOutOnlyOnWhatsApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.conv.Channel = engine.ChannelMessenger
	res := h.do(engine.Receive{ChannelMessageID: "m.1", Content: txt("STOP")}, at(time.Minute))
	require.Equal(t, engine.OptOutNone, res.OptOut)
	require.False(t, res.Conversation.Unsubscribed)
	require.Empty(t, res.Send)

	// A blocked WhatsApp contact gets no confirmation either.
	b := newHarness(t)
	b.conv.Blocked = true
	res = b.do(engine.Receive{ChannelMessageID: "w.1", Content: txt("STOP")}, at(time.Minute))
	require.Empty(t, res.Send)
}

func TestSetContactSubscription(t *testing.T) {
	t.Parallel()
	c := engine.Contact{ID: engine.NewID(t0), WorkspaceID: engine.NewID(t0)}
	next, ch, changed := engine.SetContactSubscription(c, true, "STOP", engine.NewID(t0), at(time.Minute))
	require.True(t, changed)
	require.True(t, next.Unsubscribed)
	require.Equal(t, engine.ContactChangeUnsubscribed, ch.Kind)
	require.Equal(t, "STOP", ch.To)
	require.Equal(t, at(time.Minute), ch.At)
	_, _, changed = engine.SetContactSubscription(next, true, "STOP", engine.NewID(t0), at(2*time.Minute))
	require.False(t, changed, "already unsubscribed")
	again, ch, changed := engine.SetContactSubscription(next, false, "START", engine.NewID(t0), at(3*time.Minute))
	require.True(t, changed)
	require.False(t, again.Unsubscribed)
	require.Equal(t, engine.ContactChangeResubscribed, ch.Kind)
}
