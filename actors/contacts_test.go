package actors_test

import (
	"encoding/json"
	"testing"

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
