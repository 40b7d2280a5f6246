package actors_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// An email contact has a conversation per thread: the thread entry is
// kept under the address and the thread, survives a restart, and a
// Message-ID delivered twice is stored once.
func TestEmailThreadsAreConversations(t *testing.T) {
	h := newHarness(t, nil)
	mail := func(thread, id, text string) engine.Inbound {
		return engine.Inbound{WorkspaceID: h.ws, Channel: engine.ChannelEmail, ChannelAccountID: "support@shop.test",
			ExternalUserID: "ann@example.com", ContactName: "Ann", ChannelMessageID: id, Thread: thread,
			Content: engine.Content{Kind: engine.KindText, Text: text}}
	}
	order := h.ingest(mail("order 42", "m1@example.com", "Where is order 42?"))[0].ConversationID
	refund := h.ingest(mail("refund", "m2@example.com", "I want a refund"))[0].ConversationID
	require.NotEqual(t, order, refund, "two threads, two conversations")
	assert.Equal(t, h.conv(order).ContactID, h.conv(refund).ContactID, "one contact")
	assert.Equal(t, "order 42", h.conv(order).Thread)

	h.restart()
	res := h.ingest(mail("order 42", "m3@example.com", "Any news?"), mail("order 42", "m1@example.com", "Where is order 42?"))
	assert.Equal(t, order, res[0].ConversationID, "the thread entry is durable")
	assert.False(t, res[0].Duplicate)
	assert.True(t, res[1].Duplicate, "the same Message-ID is stored once")
	assert.Len(t, h.messages(order), 2)
	assert.Equal(t, "order 42", h.conv(order).Thread)
}
