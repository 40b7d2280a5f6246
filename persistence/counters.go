package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/parleyhq/parley/engine"
)

// Counters: 'w' ws 'N' folder dim → int64, kept with Pebble's merge
// operator: every list index entry added merges +1 into its counter, every
// one removed -1, in the same batch. So folder counts (and mine,
// unassigned, unread...) are point reads, exact, and never recounted.
const tCounter = 'N'

// counterMerger adds 8-byte big-endian signed deltas.
var counterMerger = &pebble.Merger{
	Name: "parley.counter.v1",
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		m := &sumMerger{}
		return m, m.MergeNewer(value)
	},
}

type sumMerger struct{ sum int64 }

var errBadCounter = errors.New("persistence: counter operand is not 8 bytes")

func (m *sumMerger) MergeNewer(v []byte) error {
	if len(v) != 8 {
		return errBadCounter
	}
	m.sum += int64(binary.BigEndian.Uint64(v)) //nolint:gosec // two's complement round trip
	return nil
}

func (m *sumMerger) MergeOlder(v []byte) error { return m.MergeNewer(v) }

func (m *sumMerger) Finish(bool) ([]byte, io.Closer, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(m.sum)), nil, nil //nolint:gosec // see MergeNewer
}

func counterKey(ws engine.ID, folder engine.Folder, dim string) []byte {
	return appendString(appendString(wsPrefix(ws, tCounter), string(folder)), dim)
}

func (b *Batch) addCounter(ws engine.ID, folder engine.Folder, dim string, delta int64) {
	if b.err == nil {
		b.err = b.b.Merge(counterKey(ws, folder, dim), binary.BigEndian.AppendUint64(nil, uint64(delta)), nil) //nolint:gosec // see MergeNewer
	}
}

// Count returns how many conversations of folder carry list dimension dim
// ("*" for all; "unread", "unassigned", "asg:<user>", "ch:<channel>",
// "mode:<mode>", "tag:<tag>"), or counter dimension DimChannel(ch, dim).
func (s *Store) Count(ws engine.ID, folder engine.Folder, dim string) (int64, error) {
	v, ok, err := s.getRaw(counterKey(ws, folder, dim))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: counter of %d bytes", ErrCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil //nolint:gosec // see MergeNewer
}

// Dimension names for Count.
const (
	DimAll        = dimAll
	DimUnread     = "unread"
	DimUnassigned = "unassigned"
)

// DimAssignee is the Count dimension of conversations assigned to user.
func DimAssignee(user string) string { return "asg:" + user }

// DimCampaign is the dimension of the conversations campaign key (an ad id
// or a ref, engine.Campaign.Key) brought.
func DimCampaign(key string) string { return dimCampaignPrefix + key }

const dimCampaignPrefix = "cmp:"

// DimAssistant is the dimension of the conversations assistant id
// (engine.Conversation.AssistantID) handles.
func DimAssistant(id string) string { return dimAssistantPrefix + id }

const dimAssistantPrefix = "ast:"

// DimTeam is the dimension of the conversations assigned to team id
// (engine.Conversation.TeamID).
func DimTeam(id string) string { return "team:" + id }

// DimChannel is the Count dimension of the conversations of channel ch
// that carry dim: DimAll (all of the channel's, a list index dimension),
// or DimUnread, DimUnassigned or a DimAssignee (the inbox's filter counts
// under a channel tab: counters with no list index entries).
func DimChannel(ch engine.Channel, dim string) string {
	if dim == DimAll {
		return "ch:" + string(ch)
	}
	return "ch:" + string(ch) + "&" + dim
}

// counterDims are the dimensions whose counters c counts in: its list
// index dimensions and its channel's unread and assignee dimensions.
func counterDims(c *engine.Conversation) []string {
	if c == nil {
		return nil
	}
	return append(listDims(c), channelDims(c)...)
}

// channelDims are the DimChannel counter dimensions of c: its channel's
// unread, and unassigned or assignee.
func channelDims(c *engine.Conversation) []string {
	dims := make([]string, 0, 2)
	if c.UnreadCount > 0 {
		dims = append(dims, DimChannel(c.Channel, DimUnread))
	}
	if c.AssigneeID == "" {
		dims = append(dims, DimChannel(c.Channel, DimUnassigned))
	} else {
		dims = append(dims, DimChannel(c.Channel, DimAssignee(c.AssigneeID)))
	}
	return dims
}

// backfillChannelCounters is migration 7 (format.go): it sets the
// DimChannel counters from the conversations written before they existed.
// It runs in Open, before anything else writes: the counts are summed in
// memory (a few per workspace, folder, channel and assignee) and set, not
// merged, in one batch, so running it again after a crash sets the same
// values.
func (s *Store) backfillChannelCounters(p *migrationProgress) error {
	wss, err := s.Workspaces()
	if err != nil {
		return err
	}
	sums := map[string]int64{}
	for _, w := range wss {
		pre := wsPrefix(w.ID, tConversation)
		it, err := s.iter(pre, prefixEnd(pre))
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			p.visited()
			var c engine.Conversation
			if err := decode(it.Value(), &c); err != nil {
				// Lists skip it too (and quarantine it when they meet it).
				s.log.Error("a conversation header does not decode: left out of the channel counters", "key", fmt.Sprintf("%x", it.Key()), "err", err)
				continue
			}
			for _, d := range channelDims(&c) {
				sums[string(counterKey(w.ID, c.Folder, d))]++
			}
		}
		if err := iterErr(it); err != nil {
			_ = it.Close()
			return err
		}
		_ = it.Close()
	}
	b := s.NewBatch()
	for k, n := range sums {
		b.setRaw([]byte(k), binary.BigEndian.AppendUint64(nil, uint64(n))) //nolint:gosec // see MergeNewer
	}
	if err := s.CommitUngrouped(b); err != nil {
		return err
	}
	if len(sums) > 0 {
		s.log.Info("Backfilled the channel counters", "counters", len(sums))
	}
	return nil
}

// TagCount is a tag and how many conversations carry it.
type TagCount struct {
	Tag           string `json:"tag"`
	Conversations int64  `json:"conversations"`
}

// Tags returns the tags the conversations of workspace ws carry, in every
// folder, by name, with how many conversations carry each: read from the
// tag counters, a few keys per tag.
func (s *Store) Tags(ws engine.ID) ([]TagCount, error) {
	counts, err := s.prefixCounts(ws, "tag:")
	if err != nil {
		return nil, err
	}
	out := make([]TagCount, 0, len(counts))
	for tag, n := range counts {
		out = append(out, TagCount{Tag: tag, Conversations: n})
	}
	slices.SortFunc(out, func(a, b TagCount) int { return strings.Compare(a.Tag, b.Tag) })
	return out, nil
}

// CampaignCount is a campaign key (engine.Campaign.Key) and how many
// conversations it brought.
type CampaignCount struct {
	Campaign      string `json:"campaign"`
	Conversations int64  `json:"conversations"`
}

// Campaigns returns the campaigns the conversations of workspace ws came
// through (each conversation counted under its newest), in every folder,
// by key, with how many conversations each: read from the campaign
// counters, a few keys per campaign.
func (s *Store) Campaigns(ws engine.ID) ([]CampaignCount, error) {
	counts, err := s.prefixCounts(ws, dimCampaignPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]CampaignCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, CampaignCount{Campaign: k, Conversations: n})
	}
	slices.SortFunc(out, func(a, b CampaignCount) int { return strings.Compare(a.Campaign, b.Campaign) })
	return out, nil
}

// prefixCounts sums, over every folder, the counters of the dimensions
// that start with prefix, by the rest of their name; those at zero are
// left out.
func (s *Store) prefixCounts(ws engine.ID, prefix string) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, f := range engine.Folders {
		p := appendString(wsPrefix(ws, tCounter), string(f))
		p = append(p, prefix...)
		it, err := s.iter(p, prefixEnd(p))
		if err != nil {
			return nil, err
		}
		for ok := it.First(); ok; ok = it.Next() {
			name, rest, ok := decodeString(it.Key()[len(p):])
			v := it.Value()
			if !ok || len(rest) != 0 || len(v) != 8 {
				_ = it.Close()
				return nil, fmt.Errorf("%w: %s counter %x", ErrCorrupt, prefix, it.Key())
			}
			counts[name] += int64(binary.BigEndian.Uint64(v)) //nolint:gosec // see MergeNewer
		}
		if err := iterErr(it); err != nil {
			_ = it.Close()
			return nil, err
		}
		_ = it.Close()
	}
	for k, n := range counts {
		if n <= 0 {
			delete(counts, k)
		}
	}
	return counts, nil
}
