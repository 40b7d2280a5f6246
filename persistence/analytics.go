package persistence

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Analytics: 'w' ws 'Y' day channel 0x00 figure → int64, kept with the
// counter merge operator (see counters.go). The conversation actor adds
// its deltas in the batch of the change that caused them, so the figures
// are exact and durable, and reading a period costs one short scan:
// (days × channels × figures) keys, about 2,000 for a month.
const tAnalytics = 'Y'

// Figure names one running total of the analytics.
type Figure byte

// The figures. Durations are summed in milliseconds.
const (
	// FigOpened counts conversations opened (or reopened) by a customer.
	FigOpened Figure = iota + 1
	// FigFirstReplies counts first replies after an opening;
	// FigFirstReplyMillis sums their delays.
	FigFirstReplies
	FigFirstReplyMillis
	// FigResolved counts moves to solved; FigResolutionMillis sums the
	// times from the opening to them.
	FigResolved
	FigResolutionMillis
	// FigRepliesAI and FigRepliesHuman count outbound messages by author.
	FigRepliesAI
	FigRepliesHuman
	// FigCSATRatings counts CSAT scores recorded; FigCSATSum sums them.
	FigCSATRatings
	FigCSATSum
	numFigures
)

// Day is a UTC calendar day, counted from 1970-01-01.
type Day uint32

// DayOf returns the UTC day of t.
func DayOf(t time.Time) Day { return Day(max(t.Unix(), 0) / 86400) } //nolint:gosec // bounded by the clamp

// Start returns the first instant of d.
func (d Day) Start() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func analyticsPrefix(ws engine.ID) []byte { return wsPrefix(ws, tAnalytics) }

func analyticsKey(ws engine.ID, day Day, ch engine.Channel, f Figure) []byte {
	b := binary.BigEndian.AppendUint32(analyticsPrefix(ws), uint32(day))
	b = append(b, ch...)
	return append(b, 0, byte(f))
}

// AddFigure adds delta to figure f of channel ch on day.
func (b *Batch) AddFigure(ws engine.ID, day Day, ch engine.Channel, f Figure, delta int64) {
	if b.err == nil && delta != 0 {
		b.err = b.b.Merge(analyticsKey(ws, day, ch, f), binary.BigEndian.AppendUint64(nil, uint64(delta)), nil) //nolint:gosec // see MergeNewer
	}
}

// Figures are the analytics totals of one channel (or all) over a period,
// indexed by Figure.
type Figures [numFigures]int64

// Get returns figure f.
func (fs *Figures) Get(f Figure) int64 { return fs[f] }

// Analytics sums the figures of days from to to (inclusive), per channel.
func (s *Store) Analytics(ws engine.ID, from, to Day) (map[engine.Channel]*Figures, error) {
	out := map[engine.Channel]*Figures{}
	err := s.scanAnalytics(ws, from, to, func(_ Day, ch engine.Channel, f Figure, v int64) {
		fs := out[ch]
		if fs == nil {
			fs = &Figures{}
			out[ch] = fs
		}
		fs[f] += v
	})
	return out, err
}

// AnalyticsByDay returns the figures of each day from from to to
// (inclusive) per channel: element i is day from+i, empty when nothing
// happened that day.
func (s *Store) AnalyticsByDay(ws engine.ID, from, to Day) ([]map[engine.Channel]*Figures, error) {
	if to < from {
		return nil, nil
	}
	out := make([]map[engine.Channel]*Figures, to-from+1)
	for i := range out {
		out[i] = map[engine.Channel]*Figures{}
	}
	err := s.scanAnalytics(ws, from, to, func(d Day, ch engine.Channel, f Figure, v int64) {
		fs := out[d-from][ch]
		if fs == nil {
			fs = &Figures{}
			out[d-from][ch] = fs
		}
		fs[f] += v
	})
	return out, err
}

// scanAnalytics calls fn with every stored figure of days from to to, in
// day order.
func (s *Store) scanAnalytics(ws engine.ID, from, to Day, fn func(Day, engine.Channel, Figure, int64)) error {
	p := analyticsPrefix(ws)
	lo := binary.BigEndian.AppendUint32(append([]byte(nil), p...), uint32(from))
	hi := binary.BigEndian.AppendUint32(append([]byte(nil), p...), uint32(to)+1)
	it, err := s.iter(lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()
		rest := key[len(p)+4:]
		i := bytes.IndexByte(rest, 0)
		v := it.Value()
		if i < 0 || i+2 != len(rest) || rest[i+1] == 0 || rest[i+1] >= byte(numFigures) || len(v) != 8 {
			return fmt.Errorf("%w: analytics key %x", ErrCorrupt, key)
		}
		day := Day(binary.BigEndian.Uint32(key[len(p) : len(p)+4]))
		fn(day, engine.Channel(rest[:i]), Figure(rest[i+1]), int64(binary.BigEndian.Uint64(v))) //nolint:gosec // see MergeNewer
	}
	return iterErr(it)
}
