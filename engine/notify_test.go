package engine_test

import (
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func notified(ns []engine.Notification) map[engine.ID]engine.NotifyKind {
	out := map[engine.ID]engine.NotifyKind{}
	for _, n := range ns {
		out[n.UserID] = n.Kind
	}
	return out
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	a, b, gone := engine.NewID(t0), engine.NewID(t0), engine.NewID(t0)
	users := []engine.User{{ID: a, Name: "Ann"}, {ID: b, Name: "Bob"}}
	conv := &engine.Conversation{ID: engine.NewID(t0)}
	assigned := &engine.Conversation{ID: conv.ID, AssigneeID: b.String()}
	note := engine.Note{AuthorID: a, Text: "@bob look"}
	for _, tc := range []struct {
		name string
		ev   engine.Event
		want map[engine.ID]engine.NotifyKind
	}{
		{"a new conversation tells everyone", engine.Event{Type: engine.EventConversationCreated, Conversation: conv},
			map[engine.ID]engine.NotifyKind{a: engine.NotifyNewConversation, b: engine.NotifyNewConversation}},
		{"an assignment tells the assignee", engine.Event{Type: engine.EventConversationUpdated, Conversation: assigned,
			Assigned: &engine.Assignment{UserID: b.String(), By: a}}, map[engine.ID]engine.NotifyKind{b: engine.NotifyAssigned}},
		{"not when they took it themselves", engine.Event{Type: engine.EventConversationUpdated, Conversation: assigned,
			Assigned: &engine.Assignment{UserID: b.String(), By: b}}, map[engine.ID]engine.NotifyKind{}},
		{"an assignee who left is no one", engine.Event{Type: engine.EventConversationUpdated, Conversation: assigned,
			Assigned: &engine.Assignment{UserID: gone.String(), By: a}}, map[engine.ID]engine.NotifyKind{}},
		{"another update tells no one", engine.Event{Type: engine.EventConversationUpdated, Conversation: assigned},
			map[engine.ID]engine.NotifyKind{}},
		{"a mention tells the mentioned", engine.Event{Type: engine.EventNoteMentioned, UserID: b,
			Data: engine.NoteEventData{Note: note, UserID: &b}}, map[engine.ID]engine.NotifyKind{b: engine.NotifyMentioned}},
		{"a handoff of an assigned conversation tells its assignee", engine.Event{Type: engine.EventHandoff, Conversation: assigned},
			map[engine.ID]engine.NotifyKind{b: engine.NotifyNeedsHuman}},
		{"an unassigned handoff tells everyone", engine.Event{Type: engine.EventHandoff, Conversation: conv},
			map[engine.ID]engine.NotifyKind{a: engine.NotifyNeedsHuman, b: engine.NotifyNeedsHuman}},
		{"a message tells no one", engine.Event{Type: engine.EventMessageCreated, Conversation: conv}, map[engine.ID]engine.NotifyKind{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, notified(engine.Notifications(&tc.ev, users)))
		})
	}
	ns := engine.Notifications(&engine.Event{Type: engine.EventNoteMentioned, UserID: b, Data: engine.NoteEventData{Note: note}}, users)
	require.Equal(t, a, ns[0].By)
	require.Equal(t, note.Text, ns[0].Text)
}

func TestDefaultNotificationSettings(t *testing.T) {
	t.Parallel()
	s := engine.DefaultNotificationSettings()
	for _, k := range []engine.NotifyKind{engine.NotifyAssigned, engine.NotifyMentioned} {
		require.Equal(t, engine.NotifyMedia{Browser: true, Push: true, Email: true}, s.Media(k))
	}
	require.Equal(t, engine.NotifyMedia{Browser: true}, s.Media(engine.NotifyNewConversation))
	require.Equal(t, engine.NotifyMedia{}, s.Media("other"))
}
