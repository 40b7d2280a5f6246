package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func TestApplyHealth(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	t1 := t0.Add(10 * time.Minute)
	base := engine.ChannelHealth{Channel: engine.ChannelWhatsApp, AccountID: "1"}
	connected := base
	connected.State, connected.Since, connected.CheckedAt = engine.HealthConnected, t0, t0
	expired := base
	expired.State, expired.Reason, expired.Code, expired.Since, expired.CheckedAt = engine.HealthExpired, "Access token expired", "190", t0, t0
	for _, tc := range []struct {
		name        string
		cur         engine.ChannelHealth
		r           engine.HealthResult
		wantState   engine.HealthState
		wantSince   time.Time
		wantChanged bool
	}{
		{"first check", base, engine.HealthResult{State: engine.HealthConnected}, engine.HealthConnected, t1, true},
		{"still connected: checked, not changed", connected, engine.HealthResult{State: engine.HealthConnected}, engine.HealthConnected, t0, false},
		{"token refused", connected, engine.HealthResult{State: engine.HealthExpired, Reason: "Access token expired", Code: "190"}, engine.HealthExpired, t1, true},
		{"still expired, same reason", expired, engine.HealthResult{State: engine.HealthExpired, Reason: "Access token expired", Code: "190"}, engine.HealthExpired, t0, false},
		{"still expired, another reason: published, since kept", expired, engine.HealthResult{State: engine.HealthExpired, Reason: "API session invalid", Code: "102"}, engine.HealthExpired, t0, true},
		{"back to connected", expired, engine.HealthResult{State: engine.HealthConnected}, engine.HealthConnected, t1, true},
		{"unreachable", connected, engine.HealthResult{State: engine.HealthUnreachable, Code: "network"}, engine.HealthUnreachable, t1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, changed := engine.ApplyHealth(tc.cur, tc.r, t1)
			require.Equal(t, tc.wantState, next.State)
			require.Equal(t, tc.r.Reason, next.Reason)
			require.Equal(t, tc.r.Code, next.Code)
			require.Equal(t, tc.wantSince, next.Since)
			require.Equal(t, t1, next.CheckedAt)
			require.Equal(t, tc.wantChanged, changed)
		})
	}
	// A result with no verdict changes nothing.
	next, changed := engine.ApplyHealth(expired, engine.HealthResult{State: engine.HealthUnknown}, t1)
	require.Equal(t, expired, next)
	require.False(t, changed)
}
