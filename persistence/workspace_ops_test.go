package persistence

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// fillWorkspace stores n conversations of ws with a message each (their
// list, search queue and timer entries with them), a user with an issued
// token and a credential, an invitation, a channel account with its
// health, an outbox entry and a plan counter.
func fillWorkspace(tb testing.TB, s *Store, ws engine.ID, tag byte, n int) {
	tb.Helper()
	var convs []engine.Conversation
	for i := range n {
		c := newConv(ws, i, at(time.Duration(i)*time.Second))
		c.ID = idOf(tag, i)
		c.FollowUpAt = at(time.Hour)
		convs = append(convs, c)
	}
	putConvs(tb, s, convs)
	commit(tb, s, func(b *Batch) {
		for i := range convs {
			m := newMsg(&convs[i], 1, fmt.Sprintf("wamid.%c.%d", tag, i))
			b.PutMessage(&m, engine.ChannelWhatsApp)
		}
		w := engine.Workspace{ID: ws, Name: string(tag), CreatedAt: t0}
		b.PutWorkspace(&w)
		u := engine.User{ID: idOf('U', int(tag)), WorkspaceID: ws, Role: engine.RoleOwner, Email: fmt.Sprintf("%c@x.test", tag)}
		b.PutUser(&u)
		b.IssueToken(fmt.Sprintf("secret-%c", tag), &IssuedToken{ID: idOf('K', int(tag)), Kind: TokenAPI,
			Token: engine.Token{WorkspaceID: ws, UserID: u.ID, Role: engine.RoleOwner}})
		b.PutTokenUse(HashSecret(fmt.Sprintf("secret-%c", tag)), t0)
		b.PutCredential(u.Email, &Credential{WorkspaceID: ws, UserID: u.ID, PasswordHash: "h"})
		b.PutInvitation(fmt.Sprintf("inv-%c", tag), &Invitation{WorkspaceID: ws, Email: "i@x.test", Role: engine.RoleAgent})
		a := engine.ChannelAccount{WorkspaceID: ws, Channel: engine.ChannelWhatsApp, AccountID: fmt.Sprintf("phone-%c", tag)}
		b.PutChannelAccount(&a)
		b.PutChannelHealth(&engine.ChannelHealth{Channel: a.Channel, AccountID: a.AccountID})
		b.PutOutbox(ws, convs[0].ID, 1)
		b.AddPlanUsage(ws, engine.PlanAIRepliesPerMonth, "2025-03", 1)
		b.PutWorkspaceOperatorRecord(&engine.WorkspaceOperatorRecord{WorkspaceID: ws, State: engine.WorkspaceDeleting,
			Deletion: &engine.WorkspaceDeletion{}})
	})
}

// Deleting a workspace in small batches removes every key of it, in its
// range and in the system space, and no key of another; the progress is
// written with each batch.
func TestDeleteWorkspaceKeys(t *testing.T) {
	s := openStore(t)
	doomed, kept := idOf('w', 1), idOf('w', 2)
	fillWorkspace(t, s, doomed, 'a', 40)
	fillWorkspace(t, s, kept, 'b', 40)
	count := func(ws engine.ID) int {
		n := 0
		require.NoError(t, s.ScanForWorkspace(ws, func([]byte) { n++ }))
		return n
	}
	keptBefore := count(kept)
	total, err := s.CountWorkspaceKeys(doomed)
	require.NoError(t, err)
	require.Greater(t, total, int64(200))

	rec, err := s.WorkspaceOperatorRecord(doomed)
	require.NoError(t, err)
	sys, err := s.DeleteWorkspaceSystemKeys(doomed, 3, &rec)
	require.NoError(t, err)
	require.GreaterOrEqual(t, sys, 9, "token, its index use, credential, invitation, account, health, outbox, timers, queue")
	batches := 0
	for {
		n, err := s.DeleteWorkspaceRangeChunk(doomed, 50, &rec)
		require.NoError(t, err)
		if n == 0 {
			break
		}
		require.LessOrEqual(t, n, 50)
		batches++
		stored, err := s.WorkspaceOperatorRecord(doomed)
		require.NoError(t, err)
		require.Equal(t, rec.Deletion.Done, stored.Deletion.Done, "the progress is written with the batch")
	}
	require.GreaterOrEqual(t, batches, int(total/50))
	require.Equal(t, total+int64(sys), rec.Deletion.Done)
	require.NoError(t, s.DeleteWorkspaceRecords(doomed))
	require.Zero(t, count(doomed))
	require.Equal(t, keptBefore, count(kept), "the other workspace is whole")
	_, err = s.TokenBySecret("secret-b")
	require.NoError(t, err)
	_, err = s.TokenBySecret("secret-a")
	require.ErrorIs(t, err, ErrNotFound)
}

// BenchmarkDeleteWorkspace measures the removal of a workspace's range in
// batches of 5,000 keys (the gateway's size): keys removed a second.
func BenchmarkDeleteWorkspace(b *testing.B) {
	for range b.N {
		b.StopTimer()
		s := openStore(b)
		ws := idOf('w', 9)
		fillWorkspace(b, s, ws, 'z', 20_000)
		rec, err := s.WorkspaceOperatorRecord(ws)
		require.NoError(b, err)
		b.StartTimer()
		start := time.Now()
		keys := 0
		for {
			n, err := s.DeleteWorkspaceRangeChunk(ws, 5000, &rec)
			require.NoError(b, err)
			if n == 0 {
				break
			}
			keys += n
		}
		b.ReportMetric(float64(keys)/time.Since(start).Seconds(), "keys/s")
	}
}
