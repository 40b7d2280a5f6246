package media

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// refsFunc is a References answering from a function.
type refsFunc func(ws engine.ID, digest string) (bool, error)

func (f refsFunc) MediaReferenced(ws engine.ID, digest string) (bool, error) { return f(ws, digest) }

var noRefs = refsFunc(func(engine.ID, string) (bool, error) { return false, nil })

// TestSweeperStartsOnlyOnStart: NewSweeper starts nothing (no ticker on
// the clock, no sweep however far the clock goes); Start does, once
// however often it is called; Shutdown stops it, and a Start after
// Shutdown starts nothing.
func TestSweeperStartsOnlyOnStart(t *testing.T) {
	t.Parallel()
	store, err := NewStore(t.TempDir(), 1<<20)
	require.NoError(t, err)
	clock := clockwork.NewFakeClock()
	reg := prometheus.NewRegistry()
	sw, err := NewSweeper(SweeperConfig{Store: store, Refs: noRefs, Clock: clock, Interval: time.Minute, Registerer: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	require.NoError(t, clock.BlockUntilContext(ctx, 0), "a sweeper not started has a ticker")
	clock.Advance(time.Hour)
	require.Equal(t, 0.0, testutil.ToFloat64(sw.sweeps), "a sweeper not started sweeps")
	sw.Shutdown() // without Start: returns at once

	sw, err = NewSweeper(SweeperConfig{Store: store, Refs: noRefs, Clock: clock, Interval: time.Minute})
	require.NoError(t, err)
	sw.Start()
	sw.Start()
	require.NoError(t, clock.BlockUntilContext(ctx, 1), "one ticker")
	clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return testutil.ToFloat64(sw.sweeps) == 1 }, 5*time.Second, time.Millisecond)
	sw.Shutdown()
	sw.Shutdown()
	require.NoError(t, clock.BlockUntilContext(ctx, 0), "the ticker is stopped")
	sw.Start()
	require.NoError(t, clock.BlockUntilContext(ctx, 0), "no ticker after Shutdown")
	clock.Advance(time.Minute)
	require.Equal(t, 1.0, testutil.ToFloat64(sw.sweeps))
}

// TestSweeperMetricNames: the metrics keep the names the dashboards and
// alerts in deploy/ use.
func TestSweeperMetricNames(t *testing.T) {
	t.Parallel()
	store, ws, d := storeWithFile(t, t.TempDir(), "text/plain", "released")
	reg := prometheus.NewRegistry()
	sw, err := NewSweeper(SweeperConfig{Store: store, Refs: noRefs, Clock: clockwork.NewFakeClock(), Registerer: reg})
	require.NoError(t, err)
	sw.Release(ws, []string{d, d})
	n, err := testutil.GatherAndCount(reg, "parley_media_files_deleted_total", "parley_media_deleted_bytes_total",
		"parley_media_sweeps_total", "parley_media_sweep_errors_total")
	require.NoError(t, err)
	require.Equal(t, 6, n, "two reasons for each deletion metric, one series each for sweeps and errors")
	require.Equal(t, 1.0, testutil.ToFloat64(sw.filesDeleted.WithLabelValues(released)))
	require.Equal(t, float64(len("released")), testutil.ToFloat64(sw.bytesDeleted.WithLabelValues(released)))

	_, err = NewSweeper(SweeperConfig{Store: store, Refs: noRefs, Clock: clockwork.NewFakeClock(), Registerer: reg})
	require.Error(t, err, "the metrics are registered twice")
}
