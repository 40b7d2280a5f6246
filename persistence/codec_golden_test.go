package persistence

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// goldenRecords are a header and a message with their stored bytes. The
// bytes pin the binary format (field numbers, wire types, enum tables):
// records written by every past release must keep reading, so a change
// that alters them is a format break, not a test to update.
func goldenRecords() (engine.Conversation, engine.Message) {
	at := time.Date(2026, 11, 23, 12, 30, 0, 5, time.UTC)
	ws, conv := idOf('w', 1), idOf('c', 2)
	c := engine.Conversation{
		ID: conv, WorkspaceID: ws, Channel: engine.ChannelWhatsApp, ChannelAccountID: "1555",
		ContactID: idOf('p', 3), ContactName: "Ana", ExternalUserID: "5511999",
		Folder: engine.FolderOpen, Mode: engine.ModeManual, AIResumesAt: at.Add(15 * time.Minute), ModeEpoch: 2,
		Tags: []string{"vip", "priority"}, AssigneeID: "u1", UnreadCount: 2, LastActivityAt: at,
		Preview: "Olá", LastSeq: 9, LastCustomerSeq: 8, LastOutboundStatus: engine.StatusDelivered,
		LastOutboundSeq: 9, CreatedAt: at.Add(-time.Hour),
	}
	m := engine.Message{
		ID: idOf('m', 4), WorkspaceID: ws, ConversationID: conv, Seq: 9,
		Direction: engine.DirOut, Sender: engine.Sender{Kind: engine.SenderHuman, UserID: "u1"},
		Content:          engine.Content{Kind: engine.KindText, Text: "Olá, tudo bem?"},
		ChannelMessageID: "wamid.X", Status: engine.StatusDelivered, StatusAt: at.Add(time.Second), CreatedAt: at,
	}
	return c, m
}

const (
	goldenHeader  = "026307630000000000000000000000000000020b770000000000000000000000000000010c0112043135353517700000000000000000000000000000031a03416e611e0735353131393939200124022a0698d5a1b00d0a2c023a037669703a087072696f726974793e0275314004460690c7a1b00d0a4a044f6cc3a14c0950085c0360097a06f08ea1b00d0a"
	goldenMessage = "026d076d0000000000000000000000000000040b770000000000000000000000000000010f630000000000000000000000000000021009140218031e0275312001260f4f6cc3a12c207475646f2062656d3f460777616d69642e5848034e0692c7a1b00d0a5e0690c7a1b00d0a"
)

func TestBinaryFormatIsStable(t *testing.T) {
	t.Parallel()
	c, m := goldenRecords()
	for _, tc := range []struct {
		name   string
		v      any
		golden string
	}{
		{"header", &c, goldenHeader},
		{"message", &m, goldenMessage},
	} {
		enc, err := encode(tc.v)
		require.NoError(t, err)
		require.Equal(t, tc.golden, hex.EncodeToString(enc), "%s: the stored format changed", tc.name)
	}
	stored, err := hex.DecodeString(goldenHeader)
	require.NoError(t, err)
	var gc engine.Conversation
	require.NoError(t, decode(stored, &gc))
	require.Equal(t, c, gc)
	stored, err = hex.DecodeString(goldenMessage)
	require.NoError(t, err)
	var gm engine.Message
	require.NoError(t, decode(stored, &gm))
	require.Equal(t, m, gm)
}
