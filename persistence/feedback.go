package persistence

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// Feedback on AI replies, written by the conversation's actor in the batch
// of the rating (see "Who owns what" in docs/ARCHITECTURE.md). Keys, under
// the workspace prefix:
//
//	'w' ws 'v' conv seq user                      a user's rating of a reply
//	'w' ws 'g' rating ^at conv seq user           → the same rating, newest first per rating
//
// The index holds a copy of the record, so that the report and the
// agent's examples page through it without other reads. A new rating by
// the same user replaces the record and moves its index entry; deleting a
// conversation removes both.
const (
	tFeedback      = 'v'
	tFeedbackIndex = 'g'
)

// feedbackTail is the length of an index key after its rating prefix:
// ^at, conv, seq and user.
const feedbackTail = 8 + 16 + 8 + 16

func feedbackPrefix(ws, conv engine.ID) []byte { return append(wsPrefix(ws, tFeedback), conv[:]...) }

func feedbackKey(ws, conv engine.ID, seq uint64, user engine.ID) []byte {
	return append(appendUint64(feedbackPrefix(ws, conv), seq), user[:]...)
}

func feedbackIndexPrefix(ws engine.ID, r engine.Rating) []byte {
	return appendString(wsPrefix(ws, tFeedbackIndex), string(r))
}

func feedbackIndexKey(f *engine.Feedback) []byte {
	k := appendTimeDesc(feedbackIndexPrefix(f.WorkspaceID, f.Rating), f.At)
	k = append(k, f.ConversationID[:]...)
	k = appendUint64(k, f.Seq)
	return append(k, f.UserID[:]...)
}

// PutFeedback writes rating f and its index entry, removing the index
// entry of old, the same user's previous rating of the message, if any.
func (b *Batch) PutFeedback(old, f *engine.Feedback) {
	if old != nil {
		b.del(feedbackIndexKey(old))
	}
	b.set(feedbackKey(f.WorkspaceID, f.ConversationID, f.Seq, f.UserID), f)
	b.set(feedbackIndexKey(f), f)
}

// deleteConversationFeedback removes the ratings of a conversation's
// replies and their index entries.
func (b *Batch) deleteConversationFeedback(ws, conv engine.ID) {
	b.deleteFeedbackUnder(feedbackPrefix(ws, conv), conv)
}

// deleteFeedbackUnder removes the ratings under prefix p (of conversation
// conv: all of them, or one message's) and their index entries.
func (b *Batch) deleteFeedbackUnder(p []byte, conv engine.ID) {
	if b.err != nil {
		return
	}
	it, err := b.s.iter(p, prefixEnd(p))
	if err != nil {
		b.err = err
		return
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var f engine.Feedback
		if err := decode(it.Value(), &f); err != nil {
			b.err = fmt.Errorf("reading feedback of %s: %w", conv, err)
			return
		}
		b.del(feedbackIndexKey(&f))
	}
	if err := iterErr(it); err != nil {
		b.err = err
		return
	}
	b.delPrefix(p)
}

// Feedback reads a user's rating of message seq; ErrNotFound if none.
func (s *Store) Feedback(ws, conv engine.ID, seq uint64, user engine.ID) (engine.Feedback, error) {
	var f engine.Feedback
	if err := s.get(feedbackKey(ws, conv, seq, user), &f); err != nil {
		return engine.Feedback{}, fmt.Errorf("reading feedback on %s/%d: %w", conv, seq, err)
	}
	return f, nil
}

// OptionalFeedback is Feedback with nil for none.
func (s *Store) OptionalFeedback(ws, conv engine.ID, seq uint64, user engine.ID) (*engine.Feedback, error) {
	f, err := s.Feedback(ws, conv, seq, user)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// FeedbackPage is a page of ratings, newest first.
type FeedbackPage struct {
	Feedback   []engine.Feedback
	NextCursor string
}

// RatedReplies returns up to limit ratings r of the workspace, newest
// first, after cursor (a NextCursor of a previous page, or "").
func (s *Store) RatedReplies(ws engine.ID, r engine.Rating, cursor string, limit int) (FeedbackPage, error) {
	p := feedbackIndexPrefix(ws, r)
	lower := p
	if cursor != "" {
		tail, err := hex.DecodeString(cursor)
		if err != nil || len(tail) != feedbackTail {
			return FeedbackPage{}, ErrBadCursor
		}
		lower = append(append(append([]byte(nil), p...), tail...), 0)
	}
	it, err := s.iter(lower, prefixEnd(p))
	if err != nil {
		return FeedbackPage{}, err
	}
	defer it.Close()
	var page FeedbackPage
	for ok := it.First(); ok; ok = it.Next() {
		if len(page.Feedback) == limit {
			last := &page.Feedback[limit-1]
			page.NextCursor = hex.EncodeToString(feedbackIndexKey(last)[len(p):])
			break
		}
		var f engine.Feedback
		if err := decode(it.Value(), &f); err != nil {
			return FeedbackPage{}, fmt.Errorf("reading rated replies: %w", err)
		}
		page.Feedback = append(page.Feedback, f)
	}
	return page, iterErr(it)
}

// correctionScan bounds how many down ratings Corrections reads to find
// its corrections.
const correctionScan = 200

// Corrections returns up to n corrections of the workspace's down-rated
// replies, newest first (looking at the newest correctionScan down
// ratings).
func (s *Store) Corrections(ws engine.ID, n int) ([]engine.Feedback, error) {
	p := feedbackIndexPrefix(ws, engine.RatingDown)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []engine.Feedback
	seen := 0
	for ok := it.First(); ok && len(out) < n && seen < correctionScan; ok = it.Next() {
		seen++
		var f engine.Feedback
		if err := decode(it.Value(), &f); err != nil {
			return nil, fmt.Errorf("reading corrections: %w", err)
		}
		if f.Correction != "" {
			out = append(out, f)
		}
	}
	return out, iterErr(it)
}
