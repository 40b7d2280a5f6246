package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The operations tests check deploy/ against the real thing: promtool
// checks the rules, the config and the binary's /metrics output, and a
// real Prometheus scrapes a real Parley under load and answers every
// query of the Grafana dashboard and the alert rules.

const deployDir = "../../deploy"

// tool finds a Prometheus binary; without it the test is skipped, except
// in CI (CI set), where .ci/run installs it and its absence is a failure.
func tool(t *testing.T, name string) string {
	t.Helper()
	return toolFrom(t, name, "prometheus")
}

// toolFrom is tool for a binary of the Debian package pkg.
func toolFrom(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (Debian's %s package): %v", name, pkg, err)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, pkg)
	}
	return p
}

func runTool(t *testing.T, stdin []byte, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
}

func TestDeployRulesAndConfig(t *testing.T) {
	t.Parallel()
	runTool(t, nil, "promtool", "check", "rules", filepath.Join(deployDir, "prometheus", "alerts.yml"))
	runTool(t, nil, "promtool", "check", "config", filepath.Join(deployDir, "prometheus", "prometheus.yml"))
}

// ---- the queries of deploy/ ----

// allowedEmpty are the metrics the AI agent defines (the contract of the
// dashboard and alerts with the agent code). A binary without them still
// answers their queries validly, with no data; every other query must
// return data.
var allowedEmpty = []string{
	"parley_agent_request_duration_seconds_bucket", "parley_agent_request_duration_seconds_count",
	"parley_agent_errors_total", "parley_agent_handoffs_total", "parley_ai_reactivations_total",
}

// grafanaVars are what the dashboard's variables stand for in the test.
var grafanaVars = strings.NewReplacer("$__rate_interval", "15s", "$__range", "5m", "$channel", ".*")

type query struct{ where, expr string }

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "grafana", "parley.json"))
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	var out []query
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, "panel %q has a target with no expr", p.Title)
			out = append(out, query{"panel " + p.Title, grafanaVars.Replace(tg.Expr)})
		}
	}
	require.GreaterOrEqual(t, len(out), 40)
	return out
}

func alertQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	require.NoError(t, err)
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &f))
	var out []query
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, query{"alert " + r.Alert, r.Expr})
		}
	}
	require.GreaterOrEqual(t, len(out), 5)
	return out
}

var metricNameRe = regexp.MustCompile(`\b(?:parley|go|process)_[a-zA-Z0-9_]+\b|\bup\b`)

// ---- a Prometheus of the test's own ----

type promServer struct {
	url string
	cl  *http.Client
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startPrometheus runs Prometheus on a free port with a temporary data
// directory, scraping target every second and evaluating the alert
// rules; it is killed when the test ends.
func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	bin := tool(t, "prometheus")
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	require.NoError(t, err)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: parley
    static_configs:
      - targets: [%q]
`, rules, target)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600))
	addr := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	p := &promServer{url: "http://" + addr, cl: &http.Client{Timeout: 10 * time.Second}}
	waitFor(t, 30*time.Second, func() error {
		select {
		case <-done:
			return errors.New("prometheus exited")
		default:
		}
		resp, err := p.cl.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ready: %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

type promResult struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func (p *promServer) get(t *testing.T, path string, q url.Values) promResult {
	t.Helper()
	resp, err := p.cl.Get(p.url + path + "?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var r promResult
	require.NoError(t, json.Unmarshal(body, &r), string(body))
	return r
}

// query runs an instant query and returns the number of series (or 1 for
// a scalar); a failed query is an error.
func (p *promServer) query(t *testing.T, expr string) (int, error) {
	t.Helper()
	r := p.get(t, "/api/v1/query", url.Values{"query": {expr}})
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	var d struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		// A scalar or string result is a single value, not an array.
		return 1, nil //nolint:nilerr // scalar results are data
	}
	return len(d.Result), nil
}

// waitFor retries f until it returns nil, or fails the test with its
// last error after timeout.
func waitFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.NoError(c, f()) }, timeout, 100*time.Millisecond)
}

// ---- load ----

const otherPhoneID = "999000111"

func waText(phone, user, wamid, text string) []byte {
	return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":%q},"contacts":[{"profile":{"name":"Zoë"},"wa_id":%q}],"messages":[{"from":%q,"id":%q,"timestamp":"%d","type":"text","text":{"body":%q}}]}}]}]}`,
		phone, user, user, wamid, time.Now().Unix(), text)
}

type opsLoad struct {
	t    *testing.T
	url  string
	cl   *http.Client
	sent int
}

func (l *opsLoad) do(method, path string, body []byte, hdr map[string]string) (int, []byte) {
	l.t.Helper()
	code, resp, err := crashRequest(context.Background(), l.cl, method, l.url+path, body, hdr)
	require.NoError(l.t, err)
	return code, resp
}

func (l *opsLoad) api(method, path string, body any) []byte {
	l.t.Helper()
	var b []byte
	if body != nil {
		var err error
		b, err = json.Marshal(body)
		require.NoError(l.t, err)
	}
	code, resp := l.do(method, path, b, apiHeaders())
	require.Less(l.t, code, 300, "%s %s: %s", method, path, resp)
	return resp
}

func (l *opsLoad) webhook(phone, user, text string) {
	l.t.Helper()
	l.sent++
	body := waText(phone, user, fmt.Sprintf("wamid.ops.%d", l.sent), text)
	code, resp := l.do(http.MethodPost, "/webhooks/whatsapp", body, map[string]string{"Content-Type": "application/json",
		"X-Hub-Signature-256": meta.Sign(body, []byte(crashAppSecret))})
	require.Equal(l.t, http.StatusOK, code, string(resp))
}

// generate drives every kind of traffic the dashboard shows: signed
// webhooks on two accounts, refused ones (bad signature, malformed,
// failed handshake), human replies that the fake Graph API accepts or
// refuses for good, CSAT scores and a resolution, with a WebSocket
// subscriber watching.
func (l *opsLoad) generate() {
	t := l.t
	for _, acct := range []string{crashPhoneID, otherPhoneID} {
		l.api(http.MethodPost, "/api/v1/channels", map[string]string{"channel": "whatsapp", "account_id": acct, "name": acct, "access_token": crashAccessToken})
	}
	for i := range 20 {
		l.webhook(crashPhoneID, fmt.Sprintf("1555000%04d", i%5), fmt.Sprintf("hello %d", i))
	}
	l.webhook(otherPhoneID, "15559990000", "on the other number")
	bad := waText(crashPhoneID, "15550000001", "wamid.bad", "x")
	code, _ := l.do(http.MethodPost, "/webhooks/whatsapp", bad, map[string]string{"X-Hub-Signature-256": "sha256=00"})
	require.Equal(t, http.StatusUnauthorized, code)
	junk := []byte(`{"object":"whatsapp_business_account","entry":"nope"}`)
	code, _ = l.do(http.MethodPost, "/webhooks/whatsapp", junk, map[string]string{"X-Hub-Signature-256": meta.Sign(junk, []byte(crashAppSecret))})
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = l.do(http.MethodGet, "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", nil, nil)
	require.Equal(t, http.StatusForbidden, code)

	var list struct {
		Conversations []struct {
			ID               string `json:"id"`
			ChannelAccountID string `json:"channel_account_id"`
		} `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(l.api(http.MethodGet, "/api/v1/conversations?limit=50", nil), &list))
	require.Len(t, list.Conversations, 6)
	for i, c := range list.Conversations {
		// The fake Graph API knows only crashPhoneID: sends from the other
		// number fail for good (invalid parameter).
		l.api(http.MethodPost, "/api/v1/conversations/"+c.ID+"/messages", map[string]string{"text": "Hi, a person here."})
		l.api(http.MethodPost, "/api/v1/conversations/"+c.ID+"/csat", map[string]int{"score": 1 + i%5})
		if i%2 == 0 {
			l.api(http.MethodPost, "/api/v1/conversations/"+c.ID+"/folder", map[string]string{"folder": "solved"})
		}
	}
}

func TestPrometheusScrapesParley(t *testing.T) {
	t.Parallel()
	tool(t, "promtool")
	tool(t, "prometheus")
	graph := newCrashGraph(t)
	graph.faulty.Store(false)
	p := startWithEnv(t, t.TempDir(), graph.srv.URL)
	l := &opsLoad{t: t, url: p.url, cl: &http.Client{Timeout: 15 * time.Second}}

	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(
		strings.Replace(p.url, "http://", "ws://", 1)+"/api/v1/ws?token="+crashOwnerToken, nil)
	require.NoError(t, err)
	frames := make(chan int, 1)
	go func() {
		n := 0
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				frames <- n
				return
			}
			n++
		}
	}()
	defer func() {
		ws.Close()
		require.Positive(t, <-frames, "the subscriber saw events")
	}()
	l.generate()

	// Every send has an outcome: the fake accepts crashPhoneID's, refuses
	// the other number's.
	waitFor(t, 20*time.Second, func() error {
		_, body := l.do(http.MethodGet, "/metrics", nil, nil)
		for _, want := range []string{`parley_actors_sends_total{channel="whatsapp",code="ok",kind="message",result="sent"} 5`,
			`parley_actors_sends_total{channel="whatsapp",code="100",kind="message",result="failed"} 1`} {
			if !bytes.Contains(body, []byte(want)) {
				return fmt.Errorf("no %s in /metrics", want)
			}
		}
		return nil
	})
	_, metrics := l.do(http.MethodGet, "/metrics", nil, nil)
	runTool(t, metrics, "promtool", "check", "metrics")

	var an struct {
		Totals map[string]any `json:"totals"`
	}
	require.NoError(t, json.Unmarshal(l.api(http.MethodGet, "/api/v1/analytics?period=today", nil), &an))
	require.EqualValues(t, 6, an.Totals["conversations_opened"])
	require.EqualValues(t, 3, an.Totals["resolved"])
	require.EqualValues(t, 6, an.Totals["replies_human"])

	prom := startPrometheus(t, strings.TrimPrefix(p.url, "http://"))
	// Keep a trickle of traffic while Prometheus gathers enough samples
	// for rate() over 15 s windows.
	for i := 0; ; i++ {
		l.webhook(crashPhoneID, "15550000000", fmt.Sprintf("trickle %d", i))
		n, err := prom.query(t, `count_over_time(up{job="parley"}[1m]) >= 6 and max_over_time(up{job="parley"}[1m]) == 1`)
		require.NoError(t, err)
		if n > 0 {
			break
		}
		require.Less(t, i, 300, "Prometheus did not scrape Parley")
		time.Sleep(100 * time.Millisecond)
	}

	queries := append(dashboardQueries(t), alertQueries(t)...)
	for _, q := range queries {
		n, err := prom.query(t, q.expr)
		require.NoError(t, err, "%s: %s", q.where, q.expr)
		names := metricNameRe.FindAllString(q.expr, -1)
		require.NotEmpty(t, names, "%s: no metric in %s", q.where, q.expr)
		agent := false
		for _, name := range names {
			if slices.Contains(allowedEmpty, name) {
				agent = true
				continue
			}
			c, err := prom.query(t, name)
			require.NoError(t, err)
			require.Positive(t, c, "%s: Prometheus has no series of %s", q.where, name)
		}
		if strings.HasPrefix(q.where, "panel ") && !agent {
			require.Positive(t, n, "%s returned no data: %s", q.where, q.expr)
		}
	}
	n, err := prom.query(t, `parley_conversations_opened_total{channel="whatsapp"} >= 6`)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the business counters reached Prometheus")

	// The rules loaded and evaluate without error.
	waitFor(t, 15*time.Second, func() error {
		r := prom.get(t, "/api/v1/rules", nil)
		var d struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		require.NoError(t, json.Unmarshal(r.Data, &d))
		count := 0
		for _, g := range d.Groups {
			for _, rule := range g.Rules {
				count++
				if rule.Health != "ok" {
					return fmt.Errorf("rule %s: %s %s", rule.Name, rule.Health, rule.LastError)
				}
			}
		}
		if count != len(alertQueries(t)) {
			return fmt.Errorf("%d rules loaded", count)
		}
		return nil
	})
}
