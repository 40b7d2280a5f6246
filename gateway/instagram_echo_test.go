package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// igMessage is an Instagram webhook with one message from IGSID_1 to our
// account, or with echo, from our account to IGSID_1.
func igMessage(mid, text string, echo bool) string {
	from, to, flag := "IGSID_1", igID, ""
	if echo {
		from, to, flag = igID, "IGSID_1", `"is_echo":true,`
	}
	return fmt.Sprintf(`{"object":"instagram","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"%s"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"%s",%s"text":%q}}]}]}`,
		igID, from, to, mid, flag, text)
}

// aiReplyInFlight starts Parley with an agent, has IGSID_1 write text on
// Instagram and returns once the agent's reply is being sent: the Send
// API holds its answer (message id outID) until hold is closed.
func aiReplyInFlight(t *testing.T, outID, text string) (e *env, conv engine.ID, hold chan struct{}) {
	t.Helper()
	e = newEnv(t, func(c *actors.Config) { c.Agent = echoAgent{}; c.AIDebounce = -1 })
	hold = make(chan struct{})
	e.graph.mu.Lock()
	e.graph.hold = hold
	e.graph.send = func(graphReq) (int, string) {
		return http.StatusOK, `{"recipient_id":"IGSID_1","message_id":"` + outID + `"}`
	}
	e.graph.mu.Unlock()
	code, body := e.webhook(engine.ChannelInstagram, igMessage("ig_in_1", text, false))
	require.Equal(t, http.StatusOK, code, string(body))
	conv = e.thread(engine.ChannelInstagram, igID, "IGSID_1")
	eventually(t, 10*time.Second, func() error {
		if n := len(e.graph.requests("/" + igID + "/messages")); n != 1 {
			return fmt.Errorf("%d sends", n)
		}
		return nil
	})
	return e, conv, hold
}

// Instagram echoes carry no metadata: the echo of the AI's reply that
// arrives before the Send API has answered is that reply coming back. It
// is held until the answer brings its id, then merged: one message, and
// the conversation stays with the AI. An echo with another id held
// meanwhile was a person writing from the Instagram app: it is stored as
// theirs once the send is answered, and takes over.
func TestInstagramEchoBeforeSendAnswer(t *testing.T) {
	t.Parallel()
	e, conv, hold := aiReplyInFlight(t, "ig_out_1", "Do you ship to Lima?")
	// Instagram echoes the reply, and a person's message from the app,
	// before the Send API answers.
	for _, echo := range []string{igMessage("ig_out_1", "Thanks, we are on it.", true), igMessage("ig_app_1", "Written in the app", true)} {
		code, body := e.webhook(engine.ChannelInstagram, echo)
		require.Equal(t, http.StatusOK, code, string(body))
	}
	c := e.conv(conv)
	require.Equal(t, engine.ModeAI, c.Mode, "nothing is decided while the send is in flight")
	require.Len(t, e.messages(conv), 2, "the customer's message and the AI's reply, still sending")

	close(hold) // the Send API answers with ig_out_1
	eventually(t, 10*time.Second, func() error {
		ms := e.messages(conv)
		if len(ms) != 3 {
			return fmt.Errorf("%d messages", len(ms))
		}
		return nil
	})
	ms := e.messages(conv) // newest first
	var texts []string
	for _, m := range ms {
		texts = append(texts, string(m.Sender.Kind)+": "+m.Text)
	}
	require.Equal(t, []string{"human: Written in the app", "ai: Thanks, we are on it.", "customer: Do you ship to Lima?"}, texts)
	require.Equal(t, "ig_out_1", ms[1].ChannelMessageID)
	require.Equal(t, engine.StatusSent, ms[1].Status)
	require.Equal(t, "ig_app_1", ms[0].ChannelMessageID)
	require.Equal(t, engine.ModeManual, e.conv(conv).Mode, "the person's message takes over")

	// Redeliveries of both echoes store nothing more.
	for _, echo := range []string{igMessage("ig_out_1", "Thanks, we are on it.", true), igMessage("ig_app_1", "Written in the app", true)} {
		code, body := e.webhook(engine.ChannelInstagram, echo)
		require.Equal(t, http.StatusOK, code, string(body))
	}
	require.Len(t, e.messages(conv), 3)
}

// The echo of the AI's reply alone, before the answer: merged, and the
// conversation never leaves the AI.
func TestInstagramOwnEchoKeepsTheAI(t *testing.T) {
	t.Parallel()
	e, conv, hold := aiReplyInFlight(t, "ig_out_7", "hi")
	code, body := e.webhook(engine.ChannelInstagram, igMessage("ig_out_7", "Thanks, we are on it.", true))
	require.Equal(t, http.StatusOK, code, string(body))
	close(hold)
	eventually(t, 10*time.Second, func() error {
		if m := e.messages(conv)[0]; m.Status != engine.StatusSent {
			return fmt.Errorf("status %s", m.Status)
		}
		return nil
	})
	ms := e.messages(conv)
	require.Len(t, ms, 2)
	require.Equal(t, "ig_out_7", ms[0].ChannelMessageID)
	c := e.conv(conv)
	require.Equal(t, engine.ModeAI, c.Mode)
	require.True(t, c.AIResumesAt.IsZero())
	for _, m := range ms {
		require.False(t, strings.HasPrefix(m.Text, "Taken over"), m.Text)
	}
}
