package persistence

import (
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// Figures add up per day and channel, a period reads only its days, and
// another workspace's figures never show.
func TestAnalyticsFigures(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf('w', 1), idOf('w', 2)
	d := DayOf(t0)
	require.Equal(t, t0.Truncate(24*time.Hour), d.Start())
	commit(t, s, func(b *Batch) {
		b.AddFigure(ws, d-1, engine.ChannelWhatsApp, FigOpened, 5)
		b.AddFigure(ws, d, engine.ChannelWhatsApp, FigOpened, 2)
		b.AddFigure(ws, d, engine.ChannelInstagram, FigOpened, 1)
		b.AddFigure(ws, d+1, engine.ChannelWhatsApp, FigOpened, 100)
		b.AddFigure(other, d, engine.ChannelWhatsApp, FigOpened, 1000)
	})
	commit(t, s, func(b *Batch) {
		b.AddFigure(ws, d, engine.ChannelWhatsApp, FigOpened, 1)
		b.AddFigure(ws, d, engine.ChannelWhatsApp, FigCSATSum, -3)
	})
	got, err := s.Analytics(ws, d, d)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.EqualValues(t, 3, got[engine.ChannelWhatsApp].Get(FigOpened))
	require.EqualValues(t, -3, got[engine.ChannelWhatsApp].Get(FigCSATSum))
	require.EqualValues(t, 1, got[engine.ChannelInstagram].Get(FigOpened))
	got, err = s.Analytics(ws, d-6, d)
	require.NoError(t, err)
	require.EqualValues(t, 8, got[engine.ChannelWhatsApp].Get(FigOpened))
	got, err = s.Analytics(idOf('w', 3), d-30, d)
	require.NoError(t, err)
	require.Empty(t, got)
}

// AnalyticsByDay gives every day of the period in order, per channel,
// an empty map for a quiet day, nothing of the days around it or of
// another workspace.
func TestAnalyticsByDay(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, other := idOf('w', 1), idOf('w', 2)
	d := DayOf(t0)
	commit(t, s, func(b *Batch) {
		b.AddFigure(ws, d-3, engine.ChannelWhatsApp, FigOpened, 7)
		b.AddFigure(ws, d-2, engine.ChannelWhatsApp, FigOpened, 2)
		b.AddFigure(ws, d-2, engine.ChannelInstagram, FigResolved, 1)
		b.AddFigure(ws, d, engine.ChannelWhatsApp, FigOpened, 4)
		b.AddFigure(ws, d+1, engine.ChannelWhatsApp, FigOpened, 100)
		b.AddFigure(other, d-1, engine.ChannelWhatsApp, FigOpened, 1000)
	})
	got, err := s.AnalyticsByDay(ws, d-2, d)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.EqualValues(t, 2, got[0][engine.ChannelWhatsApp].Get(FigOpened))
	require.EqualValues(t, 1, got[0][engine.ChannelInstagram].Get(FigResolved))
	require.Empty(t, got[1], "a quiet day (another workspace's figures aside)")
	require.Len(t, got[2], 1)
	require.EqualValues(t, 4, got[2][engine.ChannelWhatsApp].Get(FigOpened))
	got, err = s.AnalyticsByDay(ws, d, d-1)
	require.NoError(t, err)
	require.Empty(t, got)
}

// The store's collector passes Prometheus' lint and reports the timers
// and outbox entries it holds.
func TestStoreCollector(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	c := newConv(idOf('w', 1), 1, t0)
	c.FollowUpAt = at(time.Hour)
	commit(t, s, func(b *Batch) {
		b.PutConversation(nil, &c)
		b.PutOutbox(c.WorkspaceID, c.ID, 1)
		b.PutOutbox(c.WorkspaceID, c.ID, 2)
	})
	timers, outbox, err := s.CountKeys()
	require.NoError(t, err)
	require.Equal(t, 1, timers)
	require.Equal(t, 2, outbox)

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(s.Collector()))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP parley_outbox_entries Outbound messages accepted and not yet answered by the channel (counted up to 100000).
# TYPE parley_outbox_entries gauge
parley_outbox_entries 2
# HELP parley_timers_pending Durable timers waiting to fire (counted up to 100000).
# TYPE parley_timers_pending gauge
parley_timers_pending 1
`), "parley_outbox_entries", "parley_timers_pending"))
	n, err := testutil.GatherAndCount(reg, "parley_store_commit_duration_seconds", "parley_pebble_disk_usage_bytes", "parley_pebble_level_tables")
	require.NoError(t, err)
	require.Equal(t, 1+1+7, n)
}
