package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// echoAgent answers every customer message at once.
type echoAgent struct{}

func (echoAgent) Reply(context.Context, actors.AIContext) (actors.AIAnswer, error) {
	return actors.AIAnswer{Content: engine.Content{Kind: engine.KindText, Text: "Thanks, we are on it."}}, nil
}

type analyticsBody struct {
	Period   string                    `json:"period"`
	Totals   map[string]any            `json:"totals"`
	Channels map[string]map[string]any `json:"channels"`
}

func (e *env) analytics(query string) analyticsBody {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/analytics?"+query, ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var a analyticsBody
	require.NoError(e.t, json.Unmarshal(body, &a), string(body))
	return a
}

// The business figures follow what happens in the inbox: openings, the
// first reply (AI or human) of each, replies by author, resolutions and
// CSAT scores; they survive a restart (they are stored, not counted in
// memory).
func TestAnalyticsFigures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *actors.Config) { c.Agent = echoAgent{} })
	zero := e.analytics("period=today")
	require.EqualValues(t, 0, zero.Totals["conversations_opened"])
	require.Nil(t, zero.Totals["first_response_avg_seconds"], "no average of nothing")

	e.webhook(engine.ChannelWhatsApp, waText("wamid.a.1", "15550101", "Ana", "where is my order?"))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.b.1", "15550102", "Bo", "hello"))
	a, b := e.thread(engine.ChannelWhatsApp, phoneID, "15550101"), e.thread(engine.ChannelWhatsApp, phoneID, "15550102")
	eventually(t, 10*time.Second, func() error {
		if got := e.analytics("period=today").Totals["replies_ai"]; got != float64(2) {
			return fmt.Errorf("AI replies %v", got)
		}
		return nil
	})
	post := func(conv engine.ID, path string, body any) {
		t.Helper()
		code, resp := e.api("POST", "/api/v1/conversations/"+conv.String()+path, ownerToken, body)
		require.Less(t, code, 300, string(resp))
	}
	post(a, "/messages", map[string]string{"text": "A person here: it ships today."})
	post(a, "/csat", map[string]int{"score": 4})
	post(b, "/csat", map[string]int{"score": 2})
	post(a, "/folder", map[string]string{"folder": "solved"})

	check := func() {
		t.Helper()
		got := e.analytics("period=week")
		require.Equal(t, "week", got.Period)
		tot := got.Totals
		require.EqualValues(t, 2, tot["conversations_opened"])
		require.EqualValues(t, 2, tot["first_responses"], "the AI's replies were the first ones; the human's was not")
		require.EqualValues(t, 1, tot["resolved"])
		require.EqualValues(t, 0.5, tot["resolution_rate"])
		require.EqualValues(t, 2, tot["replies_ai"])
		require.EqualValues(t, 1, tot["replies_human"])
		require.InDelta(t, 2.0/3, tot["ai_share"], 1e-9)
		require.EqualValues(t, 2, tot["csat_ratings"])
		require.EqualValues(t, 3, tot["csat_average"])
		require.GreaterOrEqual(t, tot["first_response_avg_seconds"], 0.0)
		require.Less(t, tot["first_response_avg_seconds"], 10.0)
		require.NotNil(t, tot["resolution_avg_seconds"])
		require.Equal(t, tot, map[string]any(got.Channels["whatsapp"]))
		require.Empty(t, e.analytics("period=month&channel=instagram").Channels)
	}
	check()

	// A message to the solved conversation reopens it.
	e.webhook(engine.ChannelWhatsApp, waText("wamid.a.2", "15550101", "Ana", "one more thing"))
	require.EqualValues(t, 3, e.analytics("period=today").Totals["conversations_opened"])

	e.stop()
	e.start()
	require.EqualValues(t, 3, e.analytics("period=today").Totals["conversations_opened"], "the figures are durable")
}

func TestAnalyticsBadQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, q := range []string{"period=year", "channel=fax", "period=week&channel=WhatsApp"} {
		code, body := e.api("GET", "/api/v1/analytics?"+q, ownerToken, nil)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Equal(t, "bad_query", errorCode(t, body))
	}
}

type analyticsDay struct {
	Date               string   `json:"date"`
	Opened             int64    `json:"conversations_opened"`
	Resolved           int64    `json:"resolved"`
	RepliesAI          int64    `json:"replies_ai"`
	RepliesHuman       int64    `json:"replies_human"`
	ResolutionRate     *float64 `json:"resolution_rate"`
	FirstResponseCount int64    `json:"first_responses"`
}

// Each period comes with its figures day by day, oldest first, every day
// of the period (a day with nothing has zeros), for the channel asked
// for; the days add up to the totals.
func TestAnalyticsDays(t *testing.T) {
	t.Parallel()
	noon := time.Now().UTC().Truncate(24 * time.Hour).Add(12 * time.Hour)
	clock := clockwork.NewFakeClockAt(noon)
	e := newEnv(t, func(c *actors.Config) { c.Agent, c.Clock, c.AIDebounce = echoAgent{}, clock, -1 })
	days := func(query string) ([]analyticsDay, map[string]any) {
		t.Helper()
		code, body := e.api("GET", "/api/v1/analytics?"+query, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var v struct {
			Totals map[string]any `json:"totals"`
			Days   []analyticsDay `json:"days"`
		}
		require.NoError(t, json.Unmarshal(body, &v), string(body))
		return v.Days, v.Totals
	}
	e.webhook(engine.ChannelWhatsApp, waText("wamid.d.1", "15550201", "Ana", "hello"))
	e.webhook(engine.ChannelMessenger, messengerText("mid.d.1", "psid-d-1", "hi"))
	eventually(t, 10*time.Second, func() error {
		if _, tot := days("period=today"); tot["replies_ai"] != float64(2) {
			return fmt.Errorf("AI replies %v", tot["replies_ai"])
		}
		return nil
	})
	clock.Advance(48 * time.Hour)
	e.webhook(engine.ChannelWhatsApp, waText("wamid.d.2", "15550202", "Bo", "hi"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550202")
	code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/folder", ownerToken, map[string]string{"folder": "solved"})
	require.Equal(t, http.StatusOK, code, string(body))

	week, tot := days("period=week")
	require.Len(t, week, 7)
	for i, d := range week {
		require.Equal(t, noon.Add(time.Duration(i-4)*24*time.Hour).Format(time.DateOnly), d.Date)
	}
	require.Equal(t, analyticsDay{Date: week[4].Date, Opened: 2, RepliesAI: 2, FirstResponseCount: 2, ResolutionRate: ptr(0.0)}, week[4])
	require.Equal(t, analyticsDay{Date: week[5].Date}, week[5], "a quiet day has zeros")
	require.EqualValues(t, 1, week[6].Opened)
	require.EqualValues(t, 1, week[6].Resolved)
	require.EqualValues(t, 3, tot["conversations_opened"])

	wa, _ := days("period=week&channel=whatsapp")
	require.EqualValues(t, 1, wa[4].Opened, "the messenger opening is not whatsapp's")
	require.EqualValues(t, 1, wa[6].Opened)

	today, _ := days("period=today")
	require.Len(t, today, 1)
	require.Equal(t, noon.Add(48*time.Hour).Format(time.DateOnly), today[0].Date)
	quarter, _ := days("period=quarter")
	require.Len(t, quarter, 90)
}

func ptr[T any](v T) *T { return &v }
