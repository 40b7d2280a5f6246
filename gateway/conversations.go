package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// listConversations serves the inbox list: one folder, newest activity
// first, with filters and cursor pagination, and the counts the folder
// tabs and the mine/unassigned filters show.
func (s *Server) listConversations(c *fiber.Ctx) error {
	p := who(c)
	q := persistence.ListQuery{Folder: engine.Folder(c.Query("folder", string(engine.FolderOpen))),
		Channel: engine.Channel(c.Query("channel")), Tag: c.Query("tag"), Mode: engine.Mode(c.Query("mode")),
		Cursor: c.Query("cursor"), Campaign: c.Query("campaign"), Assistant: c.Query("assistant")}
	if !q.Folder.Valid() {
		return errorf(fiber.StatusBadRequest, "bad_query", "folder must be open, pending, solved, spam or archived")
	}
	if len(q.Campaign) > engine.MaxCampaignKeyBytes || !utf8.ValidString(q.Campaign) {
		return errorf(fiber.StatusBadRequest, "bad_query", "campaign must be an ad id or a ref of at most %d bytes", engine.MaxCampaignKeyBytes)
	}
	if len(q.Assistant) > engine.MaxAssistantIDBytes || !utf8.ValidString(q.Assistant) {
		return errorf(fiber.StatusBadRequest, "bad_query", "assistant must be an assistant id of at most %d bytes", engine.MaxAssistantIDBytes)
	}
	if q.Channel != "" && !q.Channel.Valid() {
		return errorf(fiber.StatusBadRequest, "bad_query", "unknown channel")
	}
	if q.Mode != "" && !q.Mode.Valid() {
		return errorf(fiber.StatusBadRequest, "bad_query", "mode must be ai or manual")
	}
	var err error
	if q.Unread, err = boolQuery(c, "unread"); err != nil {
		return err
	}
	if q.NeedsHuman, err = boolQuery(c, "needs_human"); err != nil {
		return err
	}
	priority, err := boolQuery(c, "priority")
	if err != nil {
		return err
	}
	if priority {
		if q.Tag != "" && q.Tag != engine.PriorityTag {
			return errorf(fiber.StatusBadRequest, "bad_query", "priority and tag cannot be combined")
		}
		q.Tag = engine.PriorityTag
	}
	switch a := c.Query("assignee"); a {
	case "":
	case "me":
		q.Assignee = p.UserID.String()
	case "unassigned":
		q.Unassigned = true
	default:
		if _, err := engine.ParseID(a); err != nil {
			return errorf(fiber.StatusBadRequest, "bad_query", "assignee must be me, unassigned or a user id")
		}
		q.Assignee = a
	}
	now := s.cfg.Runtime.Clock().Now()
	switch c.Query("period") {
	case "", "all":
	case "today":
		y, m, d := now.Date()
		q.Since = time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	case "week":
		q.Since = now.AddDate(0, 0, -7)
	case "month":
		q.Since = now.AddDate(0, -1, 0)
	default:
		return errorf(fiber.StatusBadRequest, "bad_query", "period must be today, week, month or all")
	}
	// The contact's stage and owner: checked in the contacts' own index
	// (persistence.ListQuery.Contact).
	if q.Contact, err = contactFilter(c); err != nil {
		return err
	}
	// The contact's segment: checked in the segment's members index.
	if q.Segment, err = s.segmentQuery(c); err != nil {
		return err
	}
	// The conversation's team: one team's index dimension, or the
	// caller's teams checked on the headers.
	switch tm := c.Query("team"); tm {
	case "":
	case "mine":
		if q.Teams, err = s.teams.myTeams(p.WorkspaceID, p.UserID); err != nil {
			return err
		}
	default:
		id, err := engine.ParseID(tm)
		if err != nil {
			return errorf(fiber.StatusBadRequest, "bad_query", "team must be mine or a team id")
		}
		if _, err := s.cfg.Store.Team(p.WorkspaceID, id); err != nil {
			if errors.Is(err, persistence.ErrNotFound) {
				return errorf(fiber.StatusBadRequest, "bad_query", "no such team in this workspace")
			}
			return err
		}
		q.Teams = []string{id.String()}
	}
	limit, err := uintQuery(c, "limit", 50)
	if err != nil {
		return err
	}
	if limit == 0 || limit > 200 {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to 200")
	}
	q.Limit = int(limit)
	var page persistence.ListPage
	if q.Teams == nil || len(q.Teams) > 0 {
		page, err = s.cfg.Runtime.List(p.WorkspaceID, q)
	} // else team=mine for a user in no team: nothing to list
	if err != nil {
		if errors.Is(err, persistence.ErrBadCursor) {
			return errorf(fiber.StatusBadRequest, "bad_query", "bad cursor")
		}
		return fromEngine(err)
	}
	items := page.Conversations
	if items == nil {
		items = []engine.Conversation{}
	}
	counts, err := s.counts(p.WorkspaceID, p.UserID.String(), q.Channel)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"conversations": items, "next_cursor": page.NextCursor, "counts": counts})
}

// listTags answers GET /api/v1/tags: the tags of the workspace's
// conversations (every folder), by name, each with how many carry it; the
// star is the tag "priority".
func (s *Server) listTags(c *fiber.Ctx) error {
	tags, err := s.cfg.Store.Tags(who(c).WorkspaceID)
	if err != nil {
		return fmt.Errorf("listing tags: %w", err)
	}
	return c.JSON(fiber.Map{"tags": tags})
}

// listCampaigns answers GET /api/v1/campaigns: the campaigns (ad ids and
// refs) the workspace's conversations came through, every folder, each
// with how many conversations it brought (counted under their newest).
func (s *Server) listCampaigns(c *fiber.Ctx) error {
	cps, err := s.cfg.Store.Campaigns(who(c).WorkspaceID)
	if err != nil {
		return fmt.Errorf("listing campaigns: %w", err)
	}
	return c.JSON(fiber.Map{"campaigns": cps})
}

func boolQuery(c *fiber.Ctx, name string) (bool, error) {
	v := c.Query(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf(fiber.StatusBadRequest, "bad_query", "%s must be true or false", name)
	}
	return b, nil
}

// counts are the inbox badges: conversations per folder, and in the open
// folder the unread, mine and unassigned ones; those of channel ch only
// when ch is set (the channel tab the list shows). Each is a counter read.
func (s *Server) counts(ws engine.ID, me string, ch engine.Channel) (map[string]int64, error) {
	st := s.cfg.Store
	out := make(map[string]int64, 7)
	dim := func(d string) string {
		if ch == "" {
			return d
		}
		return persistence.DimChannel(ch, d)
	}
	for _, f := range engine.Folders {
		n, err := st.Count(ws, f, dim(persistence.DimAll))
		if err != nil {
			return nil, err
		}
		out[string(f)] = n
	}
	for name, d := range map[string]string{"unread": persistence.DimUnread, "mine": persistence.DimAssignee(me),
		"unassigned": persistence.DimUnassigned} {
		n, err := st.Count(ws, engine.FolderOpen, dim(d))
		if err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, nil
}

// action runs cmd on the conversation of the route and answers with the
// conversation as it is after the change.
func (s *Server) action(c *fiber.Ctx, cmd engine.Command) error {
	id, err := convParam(c)
	if err != nil {
		return err
	}
	res, err := s.cfg.Runtime.Execute(c.UserContext(), who(c).WorkspaceID, id, cmd)
	if err != nil {
		return fromEngine(err)
	}
	if res.Conversation.Deleted {
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.JSON(res.Conversation)
}

func (s *Server) takeOver(c *fiber.Ctx) error {
	return s.action(c, engine.TakeOver{UserID: who(c).UserID.String()})
}

func (s *Server) resumeAI(c *fiber.Ctx) error {
	return s.action(c, engine.ResumeAI{UserID: who(c).UserID.String()})
}

func (s *Server) pauseAI(c *fiber.Ctx) error {
	return s.action(c, engine.PauseAI{UserID: who(c).UserID.String()})
}

func (s *Server) markRead(c *fiber.Ctx) error   { return s.action(c, engine.MarkRead{}) }
func (s *Server) markUnread(c *fiber.Ctx) error { return s.action(c, engine.MarkUnread{}) }

type folderBody struct {
	Folder engine.Folder `json:"folder"`
}

func (s *Server) moveFolder(c *fiber.Ctx) error {
	var b folderBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return s.action(c, engine.MoveFolder{Folder: b.Folder, UserID: who(c).UserID.String()})
}

type starBody struct {
	Starred bool `json:"starred"`
}

func (s *Server) star(c *fiber.Ctx) error {
	var b starBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return s.action(c, engine.SetTag{Tag: engine.PriorityTag, Remove: !b.Starred})
}

func (s *Server) addTag(c *fiber.Ctx) error {
	return s.action(c, engine.SetTag{Tag: c.Params("tag")})
}

func (s *Server) removeTag(c *fiber.Ctx) error {
	return s.action(c, engine.SetTag{Tag: c.Params("tag"), Remove: true})
}

type assignBody struct {
	UserID *string `json:"user_id"`
}

func (s *Server) assign(c *fiber.Ctx) error {
	var b assignBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	user := ""
	if b.UserID != nil && *b.UserID != "" {
		id, err := engine.ParseID(*b.UserID)
		if err != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "user_id is not a user id")
		}
		if _, err := s.cfg.Store.User(who(c).WorkspaceID, id); err != nil {
			return errorf(fiber.StatusBadRequest, "invalid", "no such user in this workspace")
		}
		user = id.String()
	}
	return s.action(c, engine.Assign{UserID: user, By: who(c).UserID})
}

type followUpBody struct {
	At     *time.Time `json:"at"`
	Preset string     `json:"preset"`
}

var followUpPresets = map[string]time.Duration{"1h": time.Hour, "3h": 3 * time.Hour, "12h": 12 * time.Hour, "24h": 24 * time.Hour}

func (s *Server) scheduleFollowUp(c *fiber.Ctx) error {
	var b followUpBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	var at time.Time
	switch d, ok := followUpPresets[b.Preset]; {
	case b.At != nil && b.Preset == "":
		at = *b.At
	case b.At == nil && ok:
		at = s.cfg.Runtime.Clock().Now().Add(d)
	default:
		return errorf(fiber.StatusBadRequest, "invalid", "give either at (RFC 3339) or preset (1h, 3h, 12h, 24h)")
	}
	return s.action(c, engine.ScheduleFollowUp{At: at, UserID: who(c).UserID.String()})
}

func (s *Server) cancelFollowUp(c *fiber.Ctx) error {
	return s.action(c, engine.CancelFollowUp{UserID: who(c).UserID.String()})
}

type csatBody struct {
	Score int `json:"score"`
}

func (s *Server) setCSAT(c *fiber.Ctx) error {
	var b csatBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return s.action(c, engine.SetCSAT{Score: b.Score})
}

func (s *Server) block(c *fiber.Ctx) error   { return s.action(c, engine.SetBlocked{Blocked: true}) }
func (s *Server) unblock(c *fiber.Ctx) error { return s.action(c, engine.SetBlocked{Blocked: false}) }

type subscribedBody struct {
	Unsubscribed bool `json:"unsubscribed"`
}

func (s *Server) unsubscribe(c *fiber.Ctx) error {
	var b subscribedBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return s.action(c, engine.SetUnsubscribed{Unsubscribed: b.Unsubscribed})
}

// deleteConversation removes a conversation for good: messages, index
// entries, media references, and the media files no other message
// references.
func (s *Server) deleteConversation(c *fiber.Ctx) error {
	id, err := convParam(c)
	if err != nil {
		return err
	}
	ws := who(c).WorkspaceID
	// Media files are content-addressed per workspace and may be shared
	// by several messages: collect this conversation's before the delete
	// releases their references, and delete after it those that no
	// message references any more.
	var digests []string
	var before uint64
	for {
		msgs, err := s.cfg.Runtime.Messages(ws, id, before, 200)
		if err != nil {
			return fromEngine(err)
		}
		for _, m := range msgs {
			if d := persistence.MediaDigest(m.Media); d != "" {
				digests = append(digests, d)
			}
			before = m.Seq
		}
		if len(msgs) < 200 {
			break
		}
	}
	if _, err := s.cfg.Runtime.Execute(c.UserContext(), ws, id, engine.Delete{}); err != nil {
		return fromEngine(err)
	}
	s.sweeper.Release(ws, digests)
	return c.SendStatus(fiber.StatusNoContent)
}
