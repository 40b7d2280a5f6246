package actors_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

const day = 24 * time.Hour

// setRetention stores the harness's workspace (the worker walks the
// stored workspaces) and its retention policy.
func (h *harness) setRetention(p engine.RetentionPolicy) {
	h.t.Helper()
	b := h.store.NewBatch()
	b.PutWorkspace(&engine.Workspace{ID: h.ws, Name: "w"})
	b.PutRetentionPolicy(h.ws, &p)
	require.NoError(h.t, h.store.Commit(b))
}

func texts(ms []engine.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

// TestRetentionResumesAfterRestart: a run cut short after its first batch
// (the process stops) leaves its progress committed; after a restart the
// next run goes on from the conversation after the last one done, not
// from the first, and leaves every conversation with only its messages
// inside the horizon.
func TestRetentionResumesAfterRestart(t *testing.T) {
	h := newHarness(t, func(c *actors.Config) {
		c.RetentionBatch, c.RetentionPace, c.RetentionEvery = 2, -1, 10000*time.Hour
	})
	h.setRetention(engine.RetentionPolicy{MessageDays: 30})
	var convs []engine.ID
	for i := range 6 {
		convs = append(convs, h.say(fmt.Sprintf("1555000%d", i), fmt.Sprintf("old-%d", i), "old words"))
	}
	h.advance(10 * day)
	for i := range 6 {
		h.say(fmt.Sprintf("1555000%d", i), fmt.Sprintf("new-%d", i), "fresh words")
	}
	h.advance(25 * day) // the first messages are 35 days old, the second 25
	slices.SortFunc(convs, func(a, b engine.ID) int { return bytes.Compare(a[:], b[:]) })

	ctx, cancel := context.WithCancel(context.Background())
	actors.SetRetentionBatchDone(t, func(_ engine.ID, p persistence.RetentionProgress) { cancel() })
	_, err := h.rt.RunRetention(ctx)
	require.ErrorIs(t, err, context.Canceled)
	prog, ok, err := h.store.RetentionProgress(h.ws)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, convs[1], prog.After, "the first batch is the two smallest ids")
	require.True(t, prog.FinishedAt.IsZero())
	require.EqualValues(t, 2, prog.Messages)

	h.restart()
	var afters []engine.ID
	actors.SetRetentionBatchDone(t, func(_ engine.ID, p persistence.RetentionProgress) { afters = append(afters, p.After) })
	rep, err := h.rt.RunRetention(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 4, rep.Messages, "the two conversations done before the restart are not visited again")
	require.Equal(t, convs[3], afters[0], "the run resumed after the last batch done")
	prog, _, err = h.store.RetentionProgress(h.ws)
	require.NoError(t, err)
	require.False(t, prog.FinishedAt.IsZero())
	require.EqualValues(t, 6, prog.Messages)
	for _, c := range convs {
		require.Equal(t, []string{"fresh words"}, texts(h.messages(c)), "conversation %s", c)
		require.NotEmpty(t, h.conv(c).Preview, "the newest message stays, and so does the preview")
	}

	// The next run starts over from the first conversation and finds
	// nothing more to delete until time passes.
	afters = nil
	rep, err = h.rt.RunRetention(context.Background())
	require.NoError(t, err)
	require.Zero(t, rep.Messages)
	require.Equal(t, convs[1], afters[0])
}

// TestRetentionClosedConversationsAndLegalHold: a solved conversation
// idle longer than the closed-conversation period goes whole, an open one
// keeps its recent messages, and a contact on legal hold keeps everything.
func TestRetentionClosedConversationsAndLegalHold(t *testing.T) {
	h := newHarness(t, func(c *actors.Config) { c.RetentionPace, c.RetentionEvery = -1, 10000*time.Hour })
	h.setRetention(engine.RetentionPolicy{MessageDays: 30, ClosedConversationDays: 60})
	solved := h.say("15551001", "s-1", "solved long ago")
	h.exec(solved, engine.MoveFolder{Folder: engine.FolderSolved})
	held := h.say("15551002", "h-1", "held words")
	h.exec(held, engine.MoveFolder{Folder: engine.FolderSolved})
	open := h.say("15551003", "o-1", "open old words")
	heldContact := h.conv(held).ContactID
	_, ok, err := h.rt.SetLegalHold(context.Background(), h.ws, heldContact, &engine.LegalHold{Reason: "litigation", SetAt: t0})
	require.NoError(t, err)
	require.True(t, ok)
	h.advance(65 * day)
	h.say("15551003", "o-2", "open new words")

	rep, err := h.rt.RunRetention(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Conversations)
	require.EqualValues(t, 3, rep.Messages) // the solved conversation's two (its text, "moved to solved"), the open one's old one
	_, err = h.rt.Conversation(h.ws, solved)
	require.ErrorIs(t, err, actors.ErrNotFound)
	require.Equal(t, []string{"open new words"}, texts(h.messages(open)))
	require.Contains(t, texts(h.messages(held)), "held words")
	require.Len(t, h.messages(held), 2)

	// Released, the held conversation goes at the next run, and the
	// contact can be erased.
	_, ok, err = h.rt.SetLegalHold(context.Background(), h.ws, heldContact, nil)
	require.NoError(t, err)
	require.False(t, ok)
	rep, err = h.rt.RunRetention(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Conversations)
	_, err = h.rt.Conversation(h.ws, held)
	require.ErrorIs(t, err, actors.ErrNotFound)
}

// TestEraseRefusedOnLegalHold: erasure answers ErrLegalHold while the
// hold stands and changes nothing.
func TestEraseRefusedOnLegalHold(t *testing.T) {
	h := newHarness(t, nil)
	conv := h.say("15552001", "e-1", "keep me")
	contact := h.conv(conv).ContactID
	_, _, err := h.rt.SetLegalHold(context.Background(), h.ws, contact, &engine.LegalHold{SetAt: t0})
	require.NoError(t, err)
	_, err = h.rt.EraseContact(context.Background(), h.ws, contact)
	require.ErrorIs(t, err, actors.ErrLegalHold)
	require.Equal(t, []string{"keep me"}, texts(h.messages(conv)))
	_, _, err = h.rt.SetLegalHold(context.Background(), h.ws, contact, nil)
	require.NoError(t, err)
	e, err := h.rt.EraseContact(context.Background(), h.ws, contact)
	require.NoError(t, err)
	require.Equal(t, 1, e.Conversations)
	require.Equal(t, 1, e.Messages)
	_, err = h.rt.Conversation(h.ws, conv)
	require.ErrorIs(t, err, actors.ErrNotFound)
	_, err = h.store.Contact(h.ws, contact)
	require.ErrorIs(t, err, persistence.ErrNotFound)
}
