package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/stretchr/testify/require"
)

// The agent settings API shows what is applied, defaults filled in, for
// the workspace and for a channel account's override; and what it shows
// can be PUT back without changing what is applied.
func TestAgentSettingsShowAppliedDefaults(t *testing.T) {
	t.Parallel()
	var reg *agents.Registry
	e := newEnv(t, func(c *actors.Config) {
		r, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		reg, c.Agents = r, r // the runtime's default debounce (2 s) stays
	})
	require.Equal(t, 2*time.Second, e.rt.AIDebounce())
	get := func(path string) map[string]any {
		t.Helper()
		code, body := e.api("GET", path, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var v map[string]any
		require.NoError(t, json.Unmarshal(body, &v))
		return v
	}
	put := func(path string, body any) map[string]any {
		t.Helper()
		code, raw := e.api("PUT", path, ownerToken, body)
		require.Equal(t, http.StatusOK, code, string(raw))
		var v map[string]any
		require.NoError(t, json.Unmarshal(raw, &v))
		return v
	}
	applied := func(v map[string]any) {
		t.Helper()
		require.Equal(t, float64(2000), v["debounce_ms"], "the runtime's default window")
		require.Equal(t, float64(30), v["timeout_seconds"], "the agent call's default timeout")
		require.Equal(t, engine.DefaultCSATSurvey, v["csat_survey"])
		require.Len(t, v["handoff_keywords"], len(engine.DefaultHandoffKeywords))
	}
	const ch = "/api/v1/channels/whatsapp/" + phoneID + "/agent"
	applied(get("/api/v1/agent"))
	applied(get(ch))
	// An override that sets other fields inherits the applied defaults.
	applied(put(ch, map[string]any{"greeting": "Hola"}))
	applied(get(ch))
	applied(put("/api/v1/agent", map[string]any{"greeting": "Hi"}))

	// What GET shows, PUT back, changes nothing that is applied.
	_, pol := reg.Resolve(e.ws, "", "", engine.DefaultAssistantID)
	require.Zero(t, pol.Debounce, "follows the runtime's default")
	v := get("/api/v1/agent")
	for _, k := range []string{"has_api_key", "stripe_webhook_secret_set", "inherited", "updated_at"} {
		delete(v, k)
	}
	put("/api/v1/agent", v)
	applied(get("/api/v1/agent"))
	_, pol = reg.Resolve(e.ws, "", "", engine.DefaultAssistantID)
	require.Equal(t, 2*time.Second, pol.Debounce)

	// No wait shows as 0, and 0 puts back no wait.
	require.Equal(t, float64(0), put(ch, map[string]any{"debounce_ms": -5})["debounce_ms"])
	require.Equal(t, float64(0), get(ch)["debounce_ms"])
	_, pol = reg.Resolve(e.ws, engine.ChannelWhatsApp, phoneID, engine.DefaultAssistantID)
	require.Negative(t, pol.Debounce)
	put(ch, map[string]any{"debounce_ms": 0})
	_, pol = reg.Resolve(e.ws, engine.ChannelWhatsApp, phoneID, engine.DefaultAssistantID)
	require.Negative(t, pol.Debounce, "0 is no wait, as shown")
	require.Equal(t, float64(2000), get("/api/v1/agent")["debounce_ms"], "the workspace keeps its own")
}
