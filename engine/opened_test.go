package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// The customer's message opens a conversation; the first reply after it
// (human or AI) is recorded once; solving and a new message reopen it.
func TestOpenedAndFirstReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := h.do(engine.Receive{ChannelMessageID: "in.1", Content: txt("hello")}, at(time.Minute))
	require.Equal(t, at(time.Minute), res.Conversation.OpenedAt)
	require.True(t, res.Conversation.FirstReplyAt.IsZero())
	h.do(engine.Receive{ChannelMessageID: "in.2", Content: txt("anyone?")}, at(2*time.Minute))
	require.Equal(t, at(time.Minute), h.conv.OpenedAt, "a second message does not reopen")

	h.do(engine.SendHuman{UserID: "u1", Content: txt("hi")}, at(5*time.Minute))
	require.Equal(t, at(5*time.Minute), h.conv.FirstReplyAt)
	h.do(engine.SendHuman{UserID: "u1", Content: txt("more")}, at(6*time.Minute))
	require.Equal(t, at(5*time.Minute), h.conv.FirstReplyAt, "only the first reply counts")

	h.do(engine.MoveFolder{Folder: engine.FolderSolved, UserID: "u1"}, at(7*time.Minute))
	h.do(engine.Receive{ChannelMessageID: "in.3", Content: txt("again")}, at(time.Hour))
	require.Equal(t, engine.FolderOpen, h.conv.Folder)
	require.Equal(t, at(time.Hour), h.conv.OpenedAt, "a message to a solved conversation reopens it")
	require.True(t, h.conv.FirstReplyAt.IsZero())
	h.do(engine.Echo{ChannelMessageID: "out.1", Content: txt("from the phone")}, at(time.Hour+time.Minute))
	require.Equal(t, at(time.Hour+time.Minute), h.conv.FirstReplyAt)
}

// A spam conversation is not opened by a customer message.
func TestSpamIsNotOpened(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(engine.MoveFolder{Folder: engine.FolderSpam}, t0)
	h.do(engine.Receive{ChannelMessageID: "in.1", Content: txt("buy now")}, at(time.Minute))
	require.True(t, h.conv.OpenedAt.IsZero())
}
