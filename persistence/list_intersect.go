package persistence

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// A filtered list is the intersection of the list index dimensions of its
// filters (every filter of ListQuery is a dimension). The entries of one
// conversation have the same suffix (^activity conv) in every dimension,
// so the dimensions are merged by their suffixes, leapfrogging: the
// iterator of the smallest dimension (by its counter) proposes a suffix,
// every other one seeks to it, and one that lands further on proposes its
// suffix to the others. Each step skips at least one entry of some
// dimension, so a page costs about its length over the filters'
// combined selectivity in seeks, and no header is read but the page's.

// listSuffixLen is the length of a list index key after its prefix.
const listSuffixLen = 24

// dims returns the list index dimensions q filters on; dimAll when none.
func (q *ListQuery) dims() []string {
	var out []string
	if q.Tag != "" {
		out = append(out, "tag:"+q.Tag)
	}
	if q.Assignee != "" {
		out = append(out, DimAssignee(q.Assignee))
	}
	if q.Unread {
		out = append(out, DimUnread)
	}
	if q.Unassigned {
		out = append(out, DimUnassigned)
	}
	if q.Channel != "" {
		out = append(out, DimChannel(q.Channel, dimAll))
	}
	if q.Mode != "" {
		out = append(out, "mode:"+string(q.Mode))
	}
	if q.Campaign != "" {
		out = append(out, DimCampaign(q.Campaign))
	}
	if q.Assistant != "" {
		out = append(out, DimAssistant(q.Assistant))
	}
	if len(q.Teams) == 1 {
		out = append(out, DimTeam(q.Teams[0]))
	}
	if len(out) == 0 {
		out = append(out, dimAll)
	}
	return out
}

// dimIter walks one dimension's entries within the query's bounds.
type dimIter struct {
	p          []byte // the dimension's prefix
	it         *pebble.Iterator
	ok         bool
	positioned bool
}

func (d *dimIter) suffix() ([]byte, error) {
	k := d.it.Key()
	if len(k) != len(d.p)+listSuffixLen {
		return nil, fmt.Errorf("%w: list key of %d bytes", ErrCorrupt, len(k))
	}
	return k[len(d.p):], nil
}

// nextBeforeSeek is how many entries an iterator steps over before it
// seeks instead: a step is far cheaper than a seek, which goes down the
// LSM's index blocks, and the next match is often a few entries away.
const nextBeforeSeek = 16

// advance moves d to its first entry at or after suffix, from an entry
// before it (or from nowhere).
func (d *dimIter) advance(suffix []byte) error {
	if d.positioned {
		for range nextBeforeSeek {
			if !d.ok {
				return nil
			}
			s, err := d.suffix()
			if err != nil || bytes.Compare(s, suffix) >= 0 {
				return err
			}
			d.ok = d.it.Next()
		}
	}
	d.positioned = true
	d.ok = d.it.SeekGE(append(d.p[:len(d.p):len(d.p)], suffix...))
	return nil
}

// listMerge intersects the dimensions of a query.
type listMerge struct {
	its    []dimIter
	target []byte // the suffix every iterator is at, after next
}

// openListMerge opens one iterator per dimension in dims (q.dims()) on
// snap, the smallest dimension (counts from counts) first. after is the
// suffix of the cursor entry (nil for the first page).
func openListMerge(snap *pebble.Snapshot, ws engine.ID, q *ListQuery, dims []string, counts map[string]int64, after []byte) (*listMerge, error) {
	slices.SortStableFunc(dims, func(a, b string) int { return cmp.Compare(counts[a], counts[b]) })
	m := &listMerge{}
	for _, d := range dims {
		p := listPrefix(ws, q.Folder, d)
		lower := p
		if after != nil {
			lower = append(append(append([]byte(nil), p...), after...), 0) // strictly after the cursor entry
		}
		upper := prefixEnd(p)
		if !q.Since.IsZero() {
			upper = appendTimeDesc(append([]byte(nil), p...), q.Since.Add(-1))
		}
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			m.close()
			return nil, fmt.Errorf("persistence: iterator: %w", err)
		}
		m.its = append(m.its, dimIter{p: p, it: it})
	}
	return m, nil
}

func (m *listMerge) close() {
	for _, d := range m.its {
		_ = d.it.Close()
	}
}

// next moves to the next suffix every dimension holds (first: the
// first one) and returns it, or nil at the end. The suffix is valid
// until the next call.
//
// Every iterator but the lead only moves forward to a target, so it is
// always at its first entry at or after every target it was given: one
// already past the current target need not move.
func (m *listMerge) next(first bool) ([]byte, error) {
	lead := &m.its[0]
	if first {
		lead.ok, lead.positioned = lead.it.First(), true
	} else {
		lead.ok = lead.it.Next()
	}
	for {
		if !lead.ok {
			return nil, m.err()
		}
		target, err := lead.suffix()
		if err != nil {
			return nil, err
		}
		m.target = append(m.target[:0], target...)
		var ahead []byte // the suffix of an iterator past the target
		for i := 1; i < len(m.its) && ahead == nil; i++ {
			d := &m.its[i]
			if err := d.advance(m.target); err != nil {
				return nil, err
			}
			if !d.ok {
				return nil, m.err()
			}
			s, err := d.suffix()
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(s, m.target) {
				ahead = s
			}
		}
		if ahead == nil {
			return m.target, nil
		}
		// d has nothing before its suffix: the lead moves there.
		if err := lead.advance(ahead); err != nil {
			return nil, err
		}
	}
}

func (m *listMerge) err() error {
	for _, d := range m.its {
		if err := d.it.Error(); err != nil {
			return fmt.Errorf("persistence: iterating: %w", err)
		}
	}
	return nil
}

// dimCounts reads the counters of dims (q.dims()), to order the merge.
func (s *Store) dimCounts(ws engine.ID, q *ListQuery, dims []string) (map[string]int64, error) {
	out := make(map[string]int64, len(dims))
	if len(dims) == 1 {
		return out, nil
	}
	for _, d := range dims {
		n, err := s.Count(ws, q.Folder, d)
		if err != nil {
			return nil, err
		}
		out[d] = n
	}
	return out, nil
}
