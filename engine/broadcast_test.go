package engine_test

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func TestBroadcastRecipientStatusIsMonotonic(t *testing.T) {
	cases := []struct {
		cur, next engine.RecipientStatus
		ok        bool
	}{
		{engine.RecipientQueued, engine.RecipientSending, true},
		{engine.RecipientSending, engine.RecipientSent, true},
		{engine.RecipientSent, engine.RecipientDelivered, true},
		{engine.RecipientRead, engine.RecipientDelivered, false}, // a late report
		{engine.RecipientDelivered, engine.RecipientFailed, false},
		{engine.RecipientSent, engine.RecipientFailed, true},
		{engine.RecipientFailed, engine.RecipientDelivered, true}, // delivered after all
		{engine.RecipientQueued, engine.RecipientReplied, false},
		{engine.RecipientRead, engine.RecipientReplied, true},
		{engine.RecipientReplied, engine.RecipientRead, false},
		{engine.RecipientSkipped, engine.RecipientSent, false},
		{engine.RecipientOptedOut, engine.RecipientReplied, false},
		{engine.RecipientDelivered, engine.RecipientOptedOut, true},
		{engine.RecipientFailed, engine.RecipientQueued, true}, // a retry
		{engine.RecipientSent, engine.RecipientQueued, false},
	}
	for _, c := range cases {
		_, ok := engine.NextRecipientStatus(c.cur, c.next)
		require.Equal(t, c.ok, ok, "%s → %s", c.cur, c.next)
	}
}

func TestBroadcastCountsRollUp(t *testing.T) {
	var c engine.BroadcastCounts
	for range 3 {
		c.Add(engine.RecipientQueued)
	}
	c.Add(engine.RecipientSkipped)
	c.Move(engine.RecipientQueued, engine.RecipientSending)
	c.Move(engine.RecipientSending, engine.RecipientRead)
	c.Move(engine.RecipientRead, engine.RecipientReplied)
	c.Move(engine.RecipientQueued, engine.RecipientFailed)
	require.Equal(t, engine.BroadcastCounts{Total: 4, Queued: 1, Sent: 1, Delivered: 1, Read: 1, Failed: 1, Replied: 1, Skipped: 1}, c)
}

func TestBroadcastStateMachine(t *testing.T) {
	b := &engine.Broadcast{State: engine.BroadcastScheduled}
	st, err := engine.BroadcastTransition(b, engine.BroadcastPause)
	require.NoError(t, err)
	b.State = st
	st, err = engine.BroadcastTransition(b, engine.BroadcastResume)
	require.NoError(t, err)
	require.Equal(t, engine.BroadcastScheduled, st, "never started: back to scheduled")
	b.State, b.StartedAt = engine.BroadcastPaused, time.Now()
	st, _ = engine.BroadcastTransition(b, engine.BroadcastResume)
	require.Equal(t, engine.BroadcastSending, st)
	b.State = engine.BroadcastCompleted
	for _, a := range []engine.BroadcastAction{engine.BroadcastPause, engine.BroadcastResume, engine.BroadcastCancel, engine.BroadcastStart} {
		_, err := engine.BroadcastTransition(b, a)
		require.ErrorIs(t, err, engine.ErrBroadcastState, a)
	}
}

func TestBroadcastOnError(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	d := engine.BroadcastOnError("131056", 1, 0, now)
	require.Equal(t, engine.BroadcastRetryRecipient, d.Action)
	require.Equal(t, now.Add(6*time.Second), d.RetryAt)
	require.Equal(t, now.Add(12*time.Second), engine.BroadcastOnError("131056", 2, 0, now).RetryAt)
	d = engine.BroadcastOnError("130429", 1, 2, now)
	require.Equal(t, engine.BroadcastBackoff, d.Action)
	require.Equal(t, 3, d.BackoffLevel)
	require.Equal(t, now.Add(4*time.Second), d.BackoffUntil)
	require.Equal(t, engine.BroadcastBackoff, engine.BroadcastOnError("131048", 1, 0, now).Action)
	require.Equal(t, engine.BroadcastFail, engine.BroadcastOnError("131026", 1, 0, now).Action)
	require.Equal(t, engine.BroadcastFail, engine.BroadcastOnError("131056", engine.BroadcastMaxAttempts, 0, now).Action)
	require.LessOrEqual(t, engine.BroadcastOnError("130429", 1, 20, now).BackoffUntil, now.Add(engine.BroadcastBackoffMax))
}

func TestBroadcastPacerOnInjectedTime(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	p := engine.NewBroadcastPacer(100)
	sent := 0
	for i := range 1000 { // 10 s in 10 ms steps
		sent += p.Allowed(now.Add(time.Duration(i)*10*time.Millisecond), 1000)
	}
	require.InDelta(t, 1000, sent, 20, "100/s for 10 s")
	p.SetLevel(1, now.Add(10*time.Second))
	sent = 0
	for i := range 1000 {
		sent += p.Allowed(now.Add(10*time.Second+time.Duration(i)*10*time.Millisecond), 1000)
	}
	require.InDelta(t, 500, sent, 20, "a backoff level halves the rate")
}

func TestBroadcastAudienceRules(t *testing.T) {
	wa, skip := engine.BroadcastAddress(&engine.Contact{Identities: []engine.Identity{{Channel: engine.ChannelWhatsApp, ExternalID: "15550000001"}}})
	require.Equal(t, "15550000001", wa)
	require.Empty(t, skip)
	wa, _ = engine.BroadcastAddress(&engine.Contact{Profile: engine.Profile{Phone: "+1 (555) 000-0002"}})
	require.Equal(t, "15550000002", wa)
	_, skip = engine.BroadcastAddress(&engine.Contact{Profile: engine.Profile{Phone: "+15550000003"}, Unsubscribed: true})
	require.Equal(t, engine.SkipUnsubscribed, skip)
	_, skip = engine.BroadcastAddress(&engine.Contact{Profile: engine.Profile{Phone: "+15550000003"}, Blocked: true})
	require.Equal(t, engine.SkipBlocked, skip)
	_, skip = engine.BroadcastAddress(&engine.Contact{Profile: engine.Profile{Email: "a@b.c"}})
	require.Equal(t, engine.SkipNoWhatsApp, skip)

	rows, err := engine.ParseBroadcastCSV("phone,name\n+44 20 7946 0958,\"Smith, Jo\"\n0044 20 7946 0959\nnope,X\n\n")
	require.NoError(t, err)
	require.Equal(t, []engine.BroadcastCSVRow{{Line: 2, Phone: "+442079460958", Name: "Smith, Jo"},
		{Line: 3, Phone: "+442079460959"}, {Line: 4, Name: "X"}}, rows)
	_, err = engine.ParseBroadcastCSV("a,\"b\n")
	require.ErrorIs(t, err, engine.ErrInvalid)
}

func TestBroadcastScheduledTime(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	got, err := engine.ParseBroadcastTime("2026-12-24T09:00:00", paris)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 24, 8, 0, 0, 0, time.UTC), got)
	got, err = engine.ParseBroadcastTime("2026-12-24T09:00:00Z", paris)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC), got)
	_, err = engine.ParseBroadcastTime("soon", paris)
	require.ErrorIs(t, err, engine.ErrInvalid)
}

func TestBroadcastInFlightLimit(t *testing.T) {
	// One second of sends at the broadcast's rate, at least 20.
	for rps, want := range map[int]int{1: 20, 20: 20, 80: 80, 1000: 1000} {
		if got := engine.BroadcastInFlightLimit(rps); got != want {
			t.Errorf("BroadcastInFlightLimit(%d) = %d, want %d", rps, got, want)
		}
	}
}
