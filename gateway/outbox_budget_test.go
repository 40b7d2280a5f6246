package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// The retry budget of an outbound message spans restarts: with a Graph
// API that always answers 500, a message is tried SendAttempts times in
// all, however many times the process restarts while it backs off, and
// then fails.
func TestSendRetryBudgetSpansRestarts(t *testing.T) {
	t.Parallel()
	const attempts = 5
	clock := clockwork.NewFakeClock()
	e := newEnv(t, func(c *actors.Config) { c.Clock = clock; c.SendAttempts = attempts })
	e.graph.send = func(graphReq) (int, string) {
		return http.StatusInternalServerError, `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","code":2,"is_transient":true,"fbtrace_id":"A1"}}`
	}
	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.in.1", "15557654321", "Ana", "hi"))
	require.Equal(t, http.StatusOK, code, string(body))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15557654321")
	code, body = e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, map[string]any{"text": "hello"})
	require.Equal(t, http.StatusCreated, code, string(body))

	calls := func() int { return len(e.graph.requests("/messages")) }
	// waitRecorded waits until n attempts failed and the outbox entry
	// says so (the courier is then backing off).
	waitRecorded := func(n int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			out, err := e.store.Outbox()
			if err != nil {
				return err
			}
			if len(out) != 1 || out[0].Attempts != n || calls() != n {
				return fmt.Errorf("outbox %+v after %d calls, want %d attempts recorded", out, calls(), n)
			}
			return nil
		})
	}
	// nextAttempt moves the clock past the backoff until the next call.
	nextAttempt := func(n int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			if calls() >= n {
				return nil
			}
			clock.Advance(time.Minute)
			return errors.New("no retry yet")
		})
	}

	waitRecorded(1)
	e.stop()
	e.start()
	waitRecorded(2) // the restart tried once more, from its recorded count
	nextAttempt(3)
	waitRecorded(3)
	e.stop()
	e.start()
	waitRecorded(4)
	nextAttempt(5)
	eventually(t, 10*time.Second, func() error {
		ms := e.messages(conv)
		if ms[0].Status != engine.StatusFailed {
			return fmt.Errorf("message %s", ms[0].Status)
		}
		return nil
	})
	require.Contains(t, e.messages(conv)[0].ErrorReason, fmt.Sprintf("gave up after %d attempts", attempts))
	out, err := e.store.Outbox()
	require.NoError(t, err)
	require.Empty(t, out)
	e.stop()
	e.start()
	clock.Advance(time.Hour)
	_, err = e.rt.Execute(context.Background(), e.ws, conv, engine.MarkRead{}) // a barrier: nothing left to send
	require.NoError(t, err)
	require.Equal(t, attempts, calls(), "SendAttempts calls in all, across two restarts")
}
