package actors_test

// The crash test (docs/ARCHITECTURE.md, invariants 1, 2 and 4): a child process ingests
// under load and prints the id of each message whose Ingest call returned
// (an "ack", what the gateway turns into a 200). The parent SIGKILLs it at
// random moments, ten times, on the same data directory; after every kill
// each acked message must be stored exactly once, and at the end the
// durable AI-reactivation timers set before the crashes must still fire.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

const (
	crashEnvDir     = "PARLEY_CRASH_CHILD_DIR"
	crashEnvSeed    = "PARLEY_CRASH_CHILD_SEED"
	crashEnvRetry   = "PARLEY_CRASH_CHILD_RETRY"  // file of ids of unknown fate to send again
	crashEnvReplay  = "PARLEY_CRASH_CHILD_REPLAY" // file of ids acked by earlier children
	crashEnvSeedTop = "PARLEY_CRASH_SEED"         // reproduce a run of the parent

	crashWorkspace = "01HZZCRASHTEST0000000000WS"
	crashAccount   = "acct"
	crashUsers     = 200
	crashWorkers   = 16
	crashRounds    = 10
	crashMaxBatch  = 5
)

// crashUser is the channel user a channel message id belongs to. It is a
// function of the id so that a retry of an id whose fate is unknown (sent
// to a child that was killed before answering) goes to the same
// conversation, as a channel's retry would.
func crashUser(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return fmt.Sprintf("user-%03d", h.Sum32()%crashUsers)
}

func crashWS(tb testing.TB) engine.ID {
	ws, err := engine.ParseID(crashWorkspace)
	require.NoError(tb, err)
	return ws
}

func crashInbound(ws engine.ID, id string) engine.Inbound {
	return engine.Inbound{
		WorkspaceID: ws, Channel: engine.ChannelWhatsApp, ChannelAccountID: crashAccount,
		ExternalUserID: crashUser(id), ContactName: crashUser(id), ChannelMessageID: id,
		Content: engine.Content{Kind: engine.KindText, Text: "hello from " + id},
	}
}

// TestCrashChild is the child process of TestCrashRecovery; it does nothing
// unless started by it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("the child process of TestCrashRecovery")
	}
	seed, err := strconv.ParseInt(os.Getenv(crashEnvSeed), 10, 64)
	if err != nil {
		crashChildFatal("bad seed: %v", err)
	}
	retries := crashReadIDs(os.Getenv(crashEnvRetry))
	replays := crashReadIDs(os.Getenv(crashEnvReplay))
	// Never outlive a parent that went away without killing us.
	time.AfterFunc(2*time.Minute, func() { os.Exit(3) })

	ws := crashWS(t)
	store, err := persistence.Open(persistence.Options{Dir: dir})
	if err != nil {
		crashChildFatal("open: %v", err)
	}
	rt, err := actors.New(actors.Config{Store: store, Clock: clockwork.NewRealClock()})
	if err != nil {
		crashChildFatal("new runtime: %v", err)
	}
	if err := rt.Start(); err != nil {
		crashChildFatal("start: %v", err)
	}

	var outMu sync.Mutex
	emit := func(s string) { // one write of whole lines, well under PIPE_BUF
		outMu.Lock()
		defer outMu.Unlock()
		if _, err := os.Stdout.WriteString(s); err != nil {
			os.Exit(4)
		}
	}
	// Ids acked by this child, for replays.
	var ackMu sync.Mutex
	acked := make([]string, 0, 1<<14)
	var ingests atomic.Int64
	ctx := context.Background()

	ingest := func(ids []string, seen *[]engine.ID) bool {
		batch := make([]engine.Inbound, len(ids))
		for i, id := range ids {
			batch[i] = crashInbound(ws, id)
		}
		res, err := rt.Ingest(ctx, batch)
		if err != nil {
			emit(fmt.Sprintf("ERR ingest %v\n", err))
			return false
		}
		var b strings.Builder
		for i, r := range res {
			if r.Err != nil {
				emit(fmt.Sprintf("ERR message %s: %v\n", ids[i], r.Err))
				return false
			}
		}
		for i, r := range res {
			kind := "new"
			if r.Duplicate {
				kind = "dup"
			}
			fmt.Fprintf(&b, "ACK %s %s %d %s\n", ids[i], r.ConversationID, r.Seq, kind)
			*seen = append(*seen, r.ConversationID)
		}
		emit(b.String())
		ackMu.Lock()
		acked = append(acked, ids...)
		ackMu.Unlock()
		return true
	}

	emit("READY\n")
	for g := range crashWorkers {
		go func() {
			rng := rand.New(rand.NewSource(seed*1000 + int64(g)))
			var seen []engine.ID
			// First the ids whose fate the last kill left unknown: a
			// channel retries them since it got no 200.
			var mine []string
			for i := g; i < len(retries); i += crashWorkers {
				mine = append(mine, retries[i])
			}
			for len(mine) > 0 {
				k := min(len(mine), 1+rng.Intn(crashMaxBatch))
				if ingest(mine[:k], &seen) {
					mine = mine[k:]
				}
			}
			for n := 0; ; {
				k := 1 + rng.Intn(crashMaxBatch)
				ids := make([]string, 0, k)
				for range k {
					id := ""
					if rng.Intn(10) == 0 { // a replay of an acked id
						if len(replays) > 0 && rng.Intn(2) == 0 {
							id = replays[rng.Intn(len(replays))]
						} else {
							ackMu.Lock()
							if len(acked) > 0 {
								id = acked[rng.Intn(len(acked))]
							}
							ackMu.Unlock()
						}
					}
					if id == "" || crashContains(ids, id) {
						id = fmt.Sprintf("seed-%d-g%d-%d", seed, g, n)
						n++
					}
					ids = append(ids, id)
				}
				ingest(ids, &seen)
				// A takeover every 50 ingests, and after the first, so that
				// even a starved round sets timers.
				if n := ingests.Add(1); (n == 1 || n%50 == 0) && len(seen) > 0 {
					conv := seen[rng.Intn(len(seen))]
					if _, err := rt.Execute(ctx, ws, conv, engine.TakeOver{UserID: "u1"}); err != nil {
						emit(fmt.Sprintf("ERR takeover %s: %v\n", conv, err))
					} else {
						emit(fmt.Sprintf("TAKEOVER %s\n", conv))
					}
				}
			}
		}()
	}
	select {} // until killed
}

func crashContains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func crashChildFatal(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "ERR "+format+"\n", args...)
	os.Exit(2)
}

func crashReadIDs(path string) []string {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		crashChildFatal("reading %s: %v", path, err)
	}
	return strings.Fields(string(b))
}

func crashWriteIDs(t *testing.T, path string, ids []string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(ids, "\n")+"\n"), 0o600))
}

// crashRef is where an acked message was said to be stored.
type crashRef struct {
	conv engine.ID
	seq  uint64
}

func (r crashRef) String() string { return fmt.Sprintf("%s/%d", r.conv, r.seq) }

// crashRound is what one child reported before it was killed.
type crashRound struct {
	acks, fresh, dups int
	takeovers         []engine.ID
	errs              []string
	partial           string
}

// crashRunChild starts a child on dir, lets it ingest for a random while
// after its first takeover (so that every round, however starved the
// machine, commits something and sets a timer), SIGKILLs it and returns
// what it printed.
func crashRunChild(t *testing.T, dir string, seed int64, load time.Duration, retryFile, replayFile string,
	onAck func(id string, ref crashRef, dup bool)) crashRound {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=3m")
	cmd.Env = append(os.Environ(),
		crashEnvDir+"="+dir,
		crashEnvSeed+"="+strconv.FormatInt(seed, 10),
		crashEnvRetry+"="+retryFile,
		crashEnvReplay+"="+replayFile,
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	var round crashRound
	ready := make(chan struct{})
	tookOver := make(chan struct{})
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		r := bufio.NewReader(stdout)
		readyClosed := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A line cut short never reached the end: not an ack.
				round.partial = line
				if !readyClosed {
					close(ready)
				}
				_, _ = io.Copy(io.Discard, r)
				return
			}
			line = strings.TrimSuffix(line, "\n")
			f := strings.Fields(line)
			switch {
			case line == "READY":
				if !readyClosed {
					readyClosed = true
					close(ready)
				}
			case len(f) == 5 && f[0] == "ACK":
				conv, err1 := engine.ParseID(f[2])
				seq, err2 := strconv.ParseUint(f[3], 10, 64)
				if err1 != nil || err2 != nil {
					round.errs = append(round.errs, "bad line: "+line)
					continue
				}
				dup := f[4] == "dup"
				round.acks++
				if dup {
					round.dups++
				} else {
					round.fresh++
				}
				onAck(f[1], crashRef{conv, seq}, dup)
			case len(f) == 2 && f[0] == "TAKEOVER":
				conv, err := engine.ParseID(f[1])
				if err != nil {
					round.errs = append(round.errs, "bad line: "+line)
					continue
				}
				if len(round.takeovers) == 0 {
					close(tookOver)
				}
				round.takeovers = append(round.takeovers, conv)
			case strings.HasPrefix(line, "ERR"):
				round.errs = append(round.errs, line)
			}
			// Anything else is the test framework's own output.
		}
	}()

	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("child not ready after 30s; stderr:\n%s", stderr.String())
	}
	select {
	case <-tookOver:
	case <-eof:
	case <-time.After(30 * time.Second):
		t.Fatalf("no takeover 30s after the child was ready")
	}
	select {
	case <-eof:
		_ = cmd.Wait()
		killed = true
		t.Fatalf("child exited before it was killed: %v\nerrors: %q\nstderr:\n%s", cmd.ProcessState, round.errs, stderr.String())
	case <-time.After(load):
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	<-eof
	_ = cmd.Wait()
	killed = true
	require.NotContains(t, stderr.String(), "DATA RACE", "child stderr:\n%s", stderr.String())
	require.NotContains(t, stderr.String(), "panic:", "child stderr:\n%s", stderr.String())
	return round
}

// crashState is what the parent knows across rounds.
type crashState struct {
	ws        engine.ID
	acked     map[string]crashRef // every id ever acked, and where it was said to be
	lastRound map[string]bool     // the ids acked by the last child
	takenOver map[engine.ID]bool
	// unknown are ids a killed child may have been ingesting: per worker
	// the few after its last acked one. They are sent again next round.
	unknown map[string]bool
}

// crashVerify opens the store in dir and checks every acked message is
// stored exactly once, headers, indexes and timers agree, and every
// conversation taken over is manual with its timer stored.
func crashVerify(t *testing.T, store *persistence.Store, st *crashState) (convs map[engine.ID]engine.Conversation) {
	t.Helper()
	ws := st.ws
	// Every id acked by the last child is found by its dedupe entry where
	// the ack said, and names its message. (Ids acked earlier are checked
	// against the full scan below, which is cheaper than point reads.)
	// Plain checks in the loops: require's reflection is slow under -race.
	for id := range st.lastRound {
		ref := st.acked[id]
		got, ok, err := store.LookupChannelMessage(ws, engine.ChannelWhatsApp, id)
		if err != nil || !ok {
			t.Fatalf("acked message %s is lost (err %v)", id, err)
		}
		if (crashRef{got.ConversationID, got.Seq}) != ref {
			t.Fatalf("acked message %s was at %v, is now at %v", id, ref, got)
		}
		m, err := store.Message(ws, got.ConversationID, got.Seq)
		if err != nil {
			t.Fatalf("acked message %s: index entry without its message: %v", id, err)
		}
		if m.ChannelMessageID != id || m.Text != "hello from "+id {
			t.Fatalf("acked message %s: index names message %q %q", id, m.ChannelMessageID, m.Text)
		}
	}

	// Every conversation: by the list index, plus every acked one.
	convs = map[engine.ID]engine.Conversation{}
	cursor := ""
	for {
		page, err := store.List(ws, persistence.ListQuery{Folder: engine.FolderOpen, Limit: 500, Cursor: cursor})
		require.NoError(t, err)
		for _, c := range page.Conversations {
			convs[c.ID] = c
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	listed := len(convs)
	for _, ref := range st.acked {
		if _, ok := convs[ref.conv]; !ok {
			c, err := store.Conversation(ws, ref.conv)
			require.NoError(t, err, "conversation %s of an acked message", ref.conv)
			convs[c.ID] = c
		}
	}
	require.Equal(t, listed, len(convs), "conversations missing from the list index")
	n, err := store.CountConversations(ws)
	require.NoError(t, err)
	require.Equal(t, n, len(convs), "conversation headers not in the list index")

	// One conversation per channel user, found by its thread entry.
	byUser := map[string]engine.ID{}
	for _, c := range convs {
		prev, dup := byUser[c.ExternalUserID]
		require.False(t, dup, "user %s has two conversations: %s and %s", c.ExternalUserID, prev, c.ID)
		byUser[c.ExternalUserID] = c.ID
		th, ok, err := store.LookupThread(ws, crashAccount, c.ExternalUserID)
		require.NoError(t, err)
		require.True(t, ok, "no thread entry for %s", c.ExternalUserID)
		require.Equal(t, c.ID, th.ConversationID)
	}

	// The message log of each conversation is whole (seq 1..LastSeq, as
	// the header says) and no channel message id is stored twice.
	stored := map[string]crashRef{}
	for _, c := range convs {
		msgs, err := store.Messages(ws, c.ID, 0, int(c.LastSeq)+10) //nolint:gosec // small
		require.NoError(t, err)
		require.Len(t, msgs, int(c.LastSeq), "conversation %s: header and log disagree", c.ID) //nolint:gosec // small
		seqs := map[uint64]bool{}
		for _, m := range msgs {
			if m.ConversationID != c.ID || m.Seq < 1 || m.Seq > c.LastSeq || seqs[m.Seq] {
				t.Fatalf("conversation %s (last seq %d): bad message %s/%d", c.ID, c.LastSeq, m.ConversationID, m.Seq)
			}
			seqs[m.Seq] = true
			if m.ChannelMessageID == "" {
				continue
			}
			if prev, dup := stored[m.ChannelMessageID]; dup {
				t.Fatalf("channel message %s stored twice: at %v and at %s/%d", m.ChannelMessageID, prev, c.ID, m.Seq)
			}
			stored[m.ChannelMessageID] = crashRef{c.ID, m.Seq}
			if m.Text != "hello from "+m.ChannelMessageID {
				t.Fatalf("message %s/%d (%s): text %q", c.ID, m.Seq, m.ChannelMessageID, m.Text)
			}
			ref, ok, err := store.LookupChannelMessage(ws, engine.ChannelWhatsApp, m.ChannelMessageID)
			if err != nil || !ok || (crashRef{ref.ConversationID, ref.Seq}) != (crashRef{c.ID, m.Seq}) {
				t.Fatalf("message %s/%d (%s): dedupe entry %v %v %v", c.ID, m.Seq, m.ChannelMessageID, ref, ok, err)
			}
		}
	}

	// Every id ever acked is stored, once (above), where its ack said.
	for id, ref := range st.acked {
		if got, ok := stored[id]; !ok || got != ref {
			t.Fatalf("acked message %s (at %v) is lost or moved: found %v %v", id, ref, got, ok)
		}
	}

	// Durable timers match the headers exactly.
	timers, _, err := store.DueTimers(time.Now().Add(24*time.Hour), 1<<20)
	require.NoError(t, err)
	timerAt := map[engine.ID]time.Time{}
	for _, tm := range timers {
		require.Equal(t, persistence.TimerAIResume, tm.Kind)
		require.Equal(t, ws, tm.WorkspaceID)
		_, dup := timerAt[tm.ConversationID]
		require.False(t, dup, "two AI timers for conversation %s", tm.ConversationID)
		timerAt[tm.ConversationID] = tm.Due
	}
	for _, c := range convs {
		due, ok := timerAt[c.ID]
		if c.AIResumesAt.IsZero() {
			require.False(t, ok, "conversation %s has a timer and no deadline", c.ID)
			continue
		}
		require.True(t, ok, "conversation %s: AI resumes at %v and no timer is stored", c.ID, c.AIResumesAt)
		require.True(t, due.Equal(c.AIResumesAt), "conversation %s: timer %v, header %v", c.ID, due, c.AIResumesAt)
	}
	for conv := range st.takenOver {
		c, ok := convs[conv]
		require.True(t, ok)
		require.Equal(t, engine.ModeManual, c.Mode, "conversation %s was taken over", conv)
		require.False(t, c.AIResumesAt.IsZero(), "conversation %s was taken over: no AI timer", conv)
	}
	return convs
}

// crashCheckFor polls cond every 20ms until it returns nil or timeout passes.
func crashCheckFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashNextUnknown returns, per worker of the child that used seed, the
// ids after its last acked one: the batch it may have been ingesting when
// killed (committed or not, never acked).
func crashNextUnknown(seed int64, acked map[string]crashRef) []string {
	var out []string
	for g := range crashWorkers {
		next := 0
		for {
			if _, ok := acked[fmt.Sprintf("seed-%d-g%d-%d", seed, g, next)]; !ok {
				break
			}
			next++
		}
		for n := next; n < next+crashMaxBatch; n++ {
			out = append(out, fmt.Sprintf("seed-%d-g%d-%d", seed, g, n))
		}
	}
	return out
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: slow")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv(crashEnvSeedTop); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (set %s to reproduce)", seed, crashEnvSeedTop)
	rng := rand.New(rand.NewSource(seed))
	dir := filepath.Join(t.TempDir(), "data")
	st := &crashState{ws: crashWS(t), acked: map[string]crashRef{}, takenOver: map[engine.ID]bool{}, unknown: map[string]bool{}}

	var totalFresh, totalDups, totalRetriedDup, totalRetriedNew int
	for round := range crashRounds {
		childSeed := seed%1_000_000_000*100 + int64(round)
		// Ids of unknown fate from earlier kills, sent first; and a sample
		// of acked ids to replay, as channels retry.
		unknown := make([]string, 0, len(st.unknown))
		for id := range st.unknown {
			unknown = append(unknown, id)
		}
		sort.Strings(unknown)
		retryFile := filepath.Join(t.TempDir(), "retry")
		crashWriteIDs(t, retryFile, unknown)
		var replay []string
		for id := range st.acked {
			replay = append(replay, id)
			if len(replay) == 2000 {
				break
			}
		}
		replayFile := filepath.Join(t.TempDir(), "replay")
		crashWriteIDs(t, replayFile, replay)

		var ackErrs []string
		st.lastRound = map[string]bool{}
		retriedNew, retriedDup := 0, 0
		load := time.Duration(200+rng.Intn(601)) * time.Millisecond
		r := crashRunChild(t, dir, childSeed, load, retryFile, replayFile, func(id string, ref crashRef, dup bool) {
			st.lastRound[id] = true
			if prev, ok := st.acked[id]; ok {
				if !dup {
					ackErrs = append(ackErrs, fmt.Sprintf("%s acked as new twice (%v then %v)", id, prev, ref))
				} else if prev != ref {
					ackErrs = append(ackErrs, fmt.Sprintf("%s acked at %v then %v", id, prev, ref))
				}
				return
			}
			if st.unknown[id] {
				delete(st.unknown, id)
				if dup {
					retriedDup++
				} else {
					retriedNew++
				}
			} else if dup {
				ackErrs = append(ackErrs, fmt.Sprintf("%s acked as duplicate on its first delivery", id))
			}
			st.acked[id] = ref
		})
		require.Empty(t, r.errs, "round %d: the child reported errors", round)
		if len(ackErrs) > 0 {
			t.Fatalf("round %d: %d inconsistent acks, first: %q", round, len(ackErrs), ackErrs[:min(len(ackErrs), 5)])
		}
		for _, c := range r.takeovers {
			st.takenOver[c] = true
		}
		for _, id := range crashNextUnknown(childSeed, st.acked) {
			st.unknown[id] = true
		}
		totalFresh += r.fresh - retriedNew
		totalDups += r.dups
		totalRetriedDup += retriedDup
		totalRetriedNew += retriedNew

		start := time.Now()
		store, err := persistence.Open(persistence.Options{Dir: dir})
		require.NoError(t, err, "round %d: reopening after SIGKILL", round)
		convs := crashVerify(t, store, st)
		require.NoError(t, store.Close())
		t.Logf("round %d: killed after %v of load: %d acks (%d new, %d duplicates; %d retries of unacked ids: %d were stored, %d not), %d takeovers, partial line %q; store holds %d acked ids in %d conversations (checked in %v)",
			round, load, r.acks, r.fresh-retriedNew, r.dups, retriedDup+retriedNew, retriedDup, retriedNew,
			len(r.takeovers), r.partial, len(st.acked), len(convs), time.Since(start).Round(time.Millisecond))
	}
	t.Logf("total: %d acked ids, %d new acks, %d duplicate acks, %d unacked-but-stored retries deduped, %d unacked retries stored fresh, %d conversations taken over",
		len(st.acked), totalFresh, totalDups, totalRetriedDup, totalRetriedNew, len(st.takenOver))
	require.NotZero(t, totalFresh, "no load: the test proves nothing")
	require.NotZero(t, totalDups, "no replays: dedupe untested")
	require.NotEmpty(t, st.takenOver, "no takeovers: timers untested")

	// After the restarts the durable AI-reactivation timers still fire.
	store, err := persistence.Open(persistence.Options{Dir: dir})
	require.NoError(t, err)
	defer store.Close()
	clock := clockwork.NewFakeClockAt(time.Now())
	rt, err := actors.New(actors.Config{Store: store, Clock: clock})
	require.NoError(t, err)
	require.NoError(t, rt.Start())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, rt.Shutdown(ctx))
	}()
	// The timekeeper waits on the earliest timer, the passivator on its
	// ticker: advance only once both wait on the fake clock.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 2); err != nil {
		// Go on: the check below names the conversations left manual.
		t.Errorf("the timekeeper never waited on the clock for the stored timers: %v", err)
	}
	clock.Advance(16 * time.Minute)
	crashCheckFor(t, 10*time.Second, func() error {
		for conv := range st.takenOver {
			c, err := rt.Conversation(st.ws, conv)
			if err != nil {
				return err
			}
			if c.Mode != engine.ModeAI || !c.AIResumesAt.IsZero() {
				return fmt.Errorf("conversation %s: mode %s, AI resumes at %v", conv, c.Mode, c.AIResumesAt)
			}
		}
		return nil
	})
	for conv := range st.takenOver {
		msgs, err := rt.Messages(st.ws, conv, 0, 1)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Equal(t, engine.SenderSystem, msgs[0].Sender.Kind, "conversation %s: no system event for the AI resuming", conv)
		require.Contains(t, msgs[0].Text, "AI resumed")
	}
	timers, _, err := store.DueTimers(clock.Now().Add(24*time.Hour), 1<<20)
	require.NoError(t, err)
	require.Empty(t, timers, "timers left after they all fired")
}
