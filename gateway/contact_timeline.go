package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/markdown"
)

// A contact's whole activity and files, a page at a time: the detail
// (GET /contacts/{id}) holds only the newest, from the newest messages
// of the most recent conversations.
//
//	GET /api/v1/contacts/{id}/activity?before=&limit=  → {activity, next_before}
//	GET /api/v1/contacts/{id}/files?before=&limit=     → {files, next_before}
//
// Items come newest first, ordered by time and then by a key unique to
// each item (so that items of the same time are neither lost nor
// repeated between pages); before is the next_before of the page
// before, "" when there is no more.
const (
	defaultTimelinePage = 20
	maxTimelinePage     = 100
	// timelineScanPage is how many messages one read of a conversation
	// takes while a page is gathered.
	timelineScanPage = 200
)

// timelineCursor is a position in a contact's timeline: the items after
// it are those older than at, or as old with a smaller key.
type timelineCursor struct {
	at  time.Time
	key string
}

// maxCursorKeyBytes bounds the key in a cursor (an item key is a letter,
// a conversation id and a sequence number).
const maxCursorKeyBytes = 64

var errBadTimelineCursor = errors.New("bad timeline cursor")

// String encodes the cursor for a client: opaque, URL-safe.
func (c timelineCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.at.UnixNano(), 10) + "|" + c.key))
}

// parseTimelineCursor decodes a cursor a client sent back.
func parseTimelineCursor(s string) (timelineCursor, error) {
	if len(s) > 2*maxCursorKeyBytes {
		return timelineCursor{}, errBadTimelineCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return timelineCursor{}, errBadTimelineCursor
	}
	ns, key, ok := strings.Cut(string(raw), "|")
	if !ok || key == "" || len(key) > maxCursorKeyBytes {
		return timelineCursor{}, errBadTimelineCursor
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != ns {
		return timelineCursor{}, errBadTimelineCursor
	}
	return timelineCursor{at: time.Unix(0, n).UTC(), key: key}, nil
}

// after reports whether item a comes after the cursor (older, or as old
// with a smaller key).
func (c *timelineCursor) after(a *activityItem) bool {
	if c == nil {
		return true
	}
	if t := a.At.UnixNano(); t != c.at.UnixNano() {
		return t < c.at.UnixNano()
	}
	return a.key < c.key
}

// newestFirst orders timeline items: newest first, then by key, largest
// first.
func newestFirst(a, b activityItem) int {
	if c := b.At.Compare(a.At); c != 0 {
		return c
	}
	return strings.Compare(b.key, a.key)
}

func messageItemKey(conv engine.ID, seq uint64) string {
	return fmt.Sprintf("m%s%020d", conv, seq)
}

// timelineQuery reads the page's parameters.
func timelineQuery(c *fiber.Ctx) (*timelineCursor, int, error) {
	limit, err := uintQuery(c, "limit", defaultTimelinePage)
	if err != nil {
		return nil, 0, err
	}
	if limit == 0 || limit > maxTimelinePage {
		return nil, 0, errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to %d", maxTimelinePage)
	}
	before := c.Query("before")
	if before == "" {
		return nil, int(limit), nil
	}
	cur, err := parseTimelineCursor(before)
	if err != nil {
		return nil, 0, errorf(fiber.StatusBadRequest, "bad_query", "before must be the next_before of a page")
	}
	return &cur, int(limit), nil
}

// page gathers at least the n first items of contact id's timeline after cur (files
// only, with files): its notes and conversations, and each
// conversation's messages read newest first until n items of it are
// found.
func (h *contacts) page(ws, id engine.ID, cur *timelineCursor, n int, files bool) ([]activityItem, error) {
	if _, err := h.contact(ws, id); err != nil {
		return nil, err
	}
	var items []activityItem
	keep := func(a activityItem) bool {
		if !cur.after(&a) {
			return false
		}
		items = append(items, a)
		return true
	}
	if !files {
		notes, err := h.store.Notes(ws, id, 1<<30)
		if err != nil {
			return nil, fmt.Errorf("reading the notes of %s: %w", id, err)
		}
		for i := range notes {
			keep(noteActivity(&notes[i]))
		}
		changes, err := h.store.ContactChanges(ws, id)
		if err != nil {
			return nil, fmt.Errorf("reading the changes of %s: %w", id, err)
		}
		for i := range changes {
			keep(changeActivity(&changes[i]))
		}
		writes, err := h.store.AIContactWrites(ws, id)
		if err != nil {
			return nil, fmt.Errorf("reading the AI's writes on %s: %w", id, err)
		}
		for i := range writes {
			keep(aiWriteActivity(&writes[i]))
		}
		segChanges, err := h.store.SegmentChanges(ws, id)
		if err != nil {
			return nil, fmt.Errorf("reading the segment changes of %s: %w", id, err)
		}
		for i := range segChanges {
			keep(segmentActivity(&segChanges[i]))
		}
	}
	convs, err := h.conversations(ws, id)
	if err != nil {
		return nil, err
	}
	for i := range convs {
		conv := &convs[i]
		if !files {
			keep(convActivity(conv))
		}
		found := 0
		for before := uint64(0); found < n; {
			msgs, err := h.store.Messages(ws, conv.ID, before, timelineScanPage)
			if err != nil {
				return nil, fmt.Errorf("reading the messages of %s: %w", conv.ID, err)
			}
			for k := range msgs {
				if a, ok := messageActivity(conv, &msgs[k]); ok && (!files || a.File != nil) && keep(a) {
					found++
				}
			}
			if len(msgs) < timelineScanPage || msgs[len(msgs)-1].Seq <= 1 {
				break
			}
			before = msgs[len(msgs)-1].Seq
		}
	}
	slices.SortFunc(items, newestFirst)
	return items, nil
}

// pageOf cuts items to a page of n and the cursor of the next one.
func pageOf(items []activityItem, n int) ([]activityItem, string) {
	if len(items) <= n {
		return items, ""
	}
	items = items[:n]
	last := items[n-1]
	return items, timelineCursor{at: last.At, key: last.key}.String()
}

// timelinePage serves a page of the activity, or of the files with
// files.
func (h *contacts) timelinePage(files bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ws := who(c).WorkspaceID
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		cur, n, err := timelineQuery(c)
		if err != nil {
			return err
		}
		items, err := h.page(ws, id, cur, n+1, files)
		if err != nil {
			return err
		}
		items, next := pageOf(items, n)
		if files {
			out := make([]contactFile, len(items))
			for i, a := range items {
				out[i] = *a.File
			}
			return c.JSON(fiber.Map{"files": out, "next_before": next})
		}
		for _, a := range items {
			if a.Note != nil {
				a.Note.HTML = markdown.Render(a.Note.Text) // as renderNotes: derived, never stored
			}
		}
		if items == nil {
			items = []activityItem{}
		}
		return c.JSON(fiber.Map{"activity": items, "next_before": next})
	}
}
