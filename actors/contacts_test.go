package actors_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// An event addressed to a user reaches only that user's subscriptions,
// whatever their filters; contact and note events pass the conversation
// filters but not another conversation's; a payload is the event's data.
func TestBroadcasterAddressedAndDataEvents(t *testing.T) {
	t.Parallel()
	b := actors.NewBroadcaster("e", 16, 16)
	ws := engine.NewID(t0)
	ana, bob := engine.NewID(t0), engine.NewID(t0)
	conv, otherConv := engine.NewID(t0), engine.NewID(t0)
	subscribe := func(f actors.Filter) *actors.Subscription {
		s, _, err := b.Subscribe(ws, f, nil)
		require.NoError(t, err)
		return s
	}
	anaAll := subscribe(actors.Filter{UserID: ana})
	anaSpam := subscribe(actors.Filter{UserID: ana, Folder: engine.FolderSpam})
	anaOther := subscribe(actors.Filter{UserID: ana, ConversationID: otherConv})
	bobAll := subscribe(actors.Filter{UserID: bob})
	note := map[string]any{"note": map[string]string{"text": "hi"}}
	b.Publish([]engine.Event{
		{Type: engine.EventNoteCreated, WorkspaceID: ws, ConversationID: conv, At: t0, Data: note},
		{Type: engine.EventNoteMentioned, WorkspaceID: ws, ConversationID: conv, At: t0, UserID: ana, Data: note},
		{Type: engine.EventImportProgress, WorkspaceID: ws, At: t0, Data: map[string]int{"rows": 1}},
	})
	types := func(s *actors.Subscription) []engine.EventType {
		var out []engine.EventType
		for {
			select {
			case env := <-s.C:
				out = append(out, env.Event.Type)
			default:
				return out
			}
		}
	}
	require.Equal(t, []engine.EventType{engine.EventNoteCreated, engine.EventNoteMentioned, engine.EventImportProgress}, types(anaAll))
	require.Equal(t, []engine.EventType{engine.EventNoteCreated, engine.EventNoteMentioned, engine.EventImportProgress}, types(anaSpam))
	require.Equal(t, []engine.EventType{engine.EventNoteMentioned}, types(anaOther), "a mention passes every filter")
	require.Equal(t, []engine.EventType{engine.EventNoteCreated, engine.EventImportProgress}, types(bobAll))

	// Wire form: data is the payload; no conversation_id when there is none.
	_, replay, err := b.Subscribe(ws, actors.Filter{}, new(uint64))
	require.NoError(t, err)
	require.Len(t, replay, 2, "bob's resume does not replay ana's mention")
	var wire map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(replay[1].JSON(), &wire))
	require.JSONEq(t, `{"rows":1}`, string(wire["data"]))
	require.NotContains(t, wire, "conversation_id")
}

// ReassignContact moves a conversation to another contact through its
// actor, active or passivated: the header, the contact's conversation
// index and the thread follow, the next message keeps the new contact,
// and clients cannot send it as an inbox action.
func TestReassignContact(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	conv := h.say("u1", "m1", "hello")
	from := h.conv(conv).ContactID
	to := engine.NewID(t0)
	ctx := context.Background()

	_, err := h.rt.Execute(ctx, h.ws, conv, engine.ReassignContact{ContactID: to})
	require.ErrorIs(t, err, engine.ErrInvalid, "not an inbox action")
	passivated := 0
	require.Eventually(t, func() bool {
		passivated += h.rt.PassivateIdle(t0.Add(time.Hour))
		return passivated == 1
	}, 5*time.Second, time.Millisecond, "the conversation's actor is passivated")

	sub, _, err := h.rt.Subscribe(h.ws, actors.Filter{}, nil)
	require.NoError(t, err)
	defer sub.Close()
	c, err := h.rt.ReassignContact(ctx, h.ws, conv, engine.ReassignContact{ContactID: to})
	require.NoError(t, err)
	require.Equal(t, to, c.ContactID)
	require.Equal(t, engine.EventConversationUpdated, (<-sub.C).Event.Type)
	convs, err := h.store.ContactConversations(h.ws, to)
	require.NoError(t, err)
	require.Equal(t, []engine.ID{conv}, convs)
	convs, err = h.store.ContactConversations(h.ws, from)
	require.NoError(t, err)
	require.Empty(t, convs)
	th, ok, err := h.store.LookupThread(h.ws, "phone-1", "u1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, to, th.ContactID)

	h.say("u1", "m2", "again")
	require.Equal(t, to, h.conv(conv).ContactID, "the actor kept the new contact")
	require.Equal(t, "Customer u1", h.conv(conv).ContactName, "the header keeps the channel's name")
	_, err = h.rt.ReassignContact(ctx, h.ws, engine.NewID(t0), engine.ReassignContact{ContactID: to})
	require.ErrorIs(t, err, actors.ErrNotFound)
}
