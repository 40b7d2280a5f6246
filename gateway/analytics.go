package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// analyticsDays is how many UTC days each period covers, today included.
var analyticsDays = map[string]persistence.Day{"today": 1, "week": 7, "month": 30, "quarter": 90}

// figuresJSON is one set of business figures. Averages and rates are null
// when there is nothing to average.
type figuresJSON struct {
	Opened           int64    `json:"conversations_opened"`
	FirstResponses   int64    `json:"first_responses"`
	FirstResponseAvg *float64 `json:"first_response_avg_seconds"`
	Resolved         int64    `json:"resolved"`
	ResolutionAvg    *float64 `json:"resolution_avg_seconds"`
	ResolutionRate   *float64 `json:"resolution_rate"`
	RepliesAI        int64    `json:"replies_ai"`
	RepliesHuman     int64    `json:"replies_human"`
	AIShare          *float64 `json:"ai_share"`
	CSATRatings      int64    `json:"csat_ratings"`
	CSATAverage      *float64 `json:"csat_average"`
}

func ratio(num, den int64, scale float64) *float64 {
	if den == 0 {
		return nil
	}
	v := float64(num) * scale / float64(den)
	return &v
}

func figures(f *persistence.Figures) figuresJSON {
	g := f.Get
	return figuresJSON{
		Opened: g(persistence.FigOpened), FirstResponses: g(persistence.FigFirstReplies),
		FirstResponseAvg: ratio(g(persistence.FigFirstReplyMillis), g(persistence.FigFirstReplies), 1e-3),
		Resolved:         g(persistence.FigResolved),
		ResolutionAvg:    ratio(g(persistence.FigResolutionMillis), g(persistence.FigResolved), 1e-3),
		ResolutionRate:   ratio(g(persistence.FigResolved), g(persistence.FigOpened), 1),
		RepliesAI:        g(persistence.FigRepliesAI), RepliesHuman: g(persistence.FigRepliesHuman),
		AIShare:     ratio(g(persistence.FigRepliesAI), g(persistence.FigRepliesAI)+g(persistence.FigRepliesHuman), 1),
		CSATRatings: g(persistence.FigCSATRatings),
		CSATAverage: ratio(g(persistence.FigCSATSum), g(persistence.FigCSATRatings), 1),
	}
}

// dayJSON is the figures of one UTC day.
type dayJSON struct {
	Date string `json:"date"` // YYYY-MM-DD
	figuresJSON
}

// analytics serves the business figures of a period (UTC days, today
// included), for one channel or all, with a per-channel breakdown and
// the figures of each day (oldest first, every day of the period). The
// figures are running totals kept per day and channel in the same commit
// as the change that moved them, so a request reads at most
// days × channels × figures keys, whatever the traffic.
func (s *Server) analytics(c *fiber.Ctx) error {
	period := c.Query("period", "week")
	days, ok := analyticsDays[period]
	if !ok {
		return errorf(fiber.StatusBadRequest, "bad_query", "period must be today, week, month or quarter")
	}
	ch := engine.Channel(c.Query("channel"))
	if ch != "" && !ch.Valid() {
		return errorf(fiber.StatusBadRequest, "bad_query", "unknown channel")
	}
	to := persistence.DayOf(s.cfg.Runtime.Clock().Now())
	from := to - days + 1
	byDay, err := s.cfg.Store.AnalyticsByDay(who(c).WorkspaceID, from, to)
	if err != nil {
		return err
	}
	var total persistence.Figures
	byCh := map[engine.Channel]*persistence.Figures{}
	series := make([]dayJSON, len(byDay))
	for d, chans := range byDay {
		var day persistence.Figures
		for name, f := range chans {
			if ch != "" && name != ch {
				continue
			}
			sum := byCh[name]
			if sum == nil {
				sum = &persistence.Figures{}
				byCh[name] = sum
			}
			for i := range f {
				day[i] += f[i]
				sum[i] += f[i]
				total[i] += f[i]
			}
		}
		series[d] = dayJSON{Date: (from + persistence.Day(d)).Start().Format(time.DateOnly), figuresJSON: figures(&day)}
	}
	out := make(map[string]figuresJSON, len(byCh))
	for name, f := range byCh {
		out[string(name)] = figures(f)
	}
	return c.JSON(fiber.Map{
		"period": period, "from": from.Start(), "to": (to + 1).Start(), "channel": string(ch),
		"totals": figures(&total), "channels": out, "days": series,
	})
}
