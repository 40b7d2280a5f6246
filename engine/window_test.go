package engine_test

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

var text = engine.Content{Kind: engine.KindText, Text: "hello"}

func TestWhatsAppServiceWindow(t *testing.T) {
	t.Parallel()
	base := engine.NewConversation(engine.NewID(t0), engine.NewID(t0), engine.ChannelWhatsApp, "a", engine.NewID(t0), "u", t0)
	tests := []struct {
		name    string
		ch      engine.Channel
		inbound time.Time
		now     time.Time
		wantErr error
	}{
		{"inside", engine.ChannelWhatsApp, t0, t0.Add(23 * time.Hour), nil},
		{"at 24h", engine.ChannelWhatsApp, t0, t0.Add(24 * time.Hour), engine.ErrOutsideWindow},
		{"never wrote", engine.ChannelWhatsApp, time.Time{}, t0, engine.ErrOutsideWindow},
		{"messenger not checked here", engine.ChannelMessenger, t0, t0.Add(48 * time.Hour), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := base.Clone()
			c.Channel, c.LastInboundAt = tc.ch, tc.inbound
			res, err := engine.Apply(c, engine.SendHuman{UserID: "u1", Content: text}, tc.now, engine.NewID, engine.Settings{}, nil)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Empty(t, res.Messages)
				return
			}
			require.NoError(t, err)
			require.Len(t, res.Send, 1)
		})
	}
}

func TestRetryAndAIReplyRespectWindow(t *testing.T) {
	t.Parallel()
	c := engine.NewConversation(engine.NewID(t0), engine.NewID(t0), engine.ChannelWhatsApp, "a", engine.NewID(t0), "u", t0)
	res, err := engine.Apply(c, engine.Receive{ChannelMessageID: "in", Content: text}, t0, engine.NewID, engine.Settings{}, nil)
	require.NoError(t, err)
	c = res.Conversation
	req := res.AskAI
	require.NotNil(t, req)
	late := t0.Add(25 * time.Hour)
	res, err = engine.Apply(c, engine.AIReply{Request: *req, Content: text}, late, engine.NewID, engine.Settings{}, nil)
	require.NoError(t, err)
	require.True(t, res.Discarded, "an AI reply after the window closed is not sent")

	res, err = engine.Apply(c, engine.SendHuman{UserID: "u1", Content: text}, t0.Add(time.Hour), engine.NewID, engine.Settings{}, nil)
	require.NoError(t, err)
	c = res.Conversation
	sent := res.Messages[0]
	res, err = engine.Apply(c, engine.UpdateStatus{Seq: sent.Seq, Status: engine.StatusFailed, At: t0}, t0.Add(time.Hour), engine.NewID, engine.Settings{},
		func(seq uint64) (engine.Message, bool) { return sent, seq == sent.Seq })
	require.NoError(t, err)
	c = res.Conversation
	failed := res.Messages[0]
	lookup := func(seq uint64) (engine.Message, bool) { return failed, seq == failed.Seq }
	_, err = engine.Apply(c, engine.Retry{Seq: sent.Seq}, late, engine.NewID, engine.Settings{}, lookup)
	require.ErrorIs(t, err, engine.ErrOutsideWindow)
}

func TestAttachMediaAndContactName(t *testing.T) {
	t.Parallel()
	c := engine.NewConversation(engine.NewID(t0), engine.NewID(t0), engine.ChannelWhatsApp, "a", engine.NewID(t0), "u", t0)
	img := engine.Content{Kind: engine.KindImage, Media: &engine.Media{Ref: "media-1", MimeType: "image/jpeg"}}
	res, err := engine.Apply(c, engine.Receive{ChannelMessageID: "in", Content: img}, t0, engine.NewID, engine.Settings{}, nil)
	require.NoError(t, err)
	c = res.Conversation
	stored := res.Messages[0]
	lookup := func(seq uint64) (engine.Message, bool) { return stored, seq == stored.Seq }
	res, err = engine.Apply(c, engine.AttachMedia{Seq: stored.Seq, StorageKey: "ws/abc", Size: 42, SHA256: "abc"}, t0, engine.NewID, engine.Settings{}, lookup)
	require.NoError(t, err)
	m := res.Messages[0]
	require.Equal(t, "ws/abc", m.Media.StorageKey)
	require.Equal(t, int64(42), m.Media.Size)
	require.Equal(t, "image/jpeg", m.Media.MimeType)
	require.Equal(t, "media-1", m.Media.Ref)
	require.Empty(t, stored.Media.StorageKey, "the input message is not modified")
	require.Equal(t, engine.EventMessageUpdated, res.Events[0].Type)

	_, err = engine.Apply(c, engine.AttachMedia{Seq: 99, StorageKey: "x"}, t0, engine.NewID, engine.Settings{}, lookup)
	require.ErrorIs(t, err, engine.ErrNoSuchMessage)
	_, err = engine.Apply(c, engine.AttachMedia{Seq: stored.Seq}, t0, engine.NewID, engine.Settings{}, lookup)
	require.ErrorIs(t, err, engine.ErrInvalid)

	res, err = engine.Apply(c, engine.UpdateContactName{Name: "Ana María"}, t0, engine.NewID, engine.Settings{}, nil)
	require.NoError(t, err)
	require.Equal(t, "Ana María", res.Conversation.ContactName)
	_, err = engine.Apply(c, engine.UpdateContactName{Name: "\xff"}, t0, engine.NewID, engine.Settings{}, nil)
	require.ErrorIs(t, err, engine.ErrInvalid)
}
