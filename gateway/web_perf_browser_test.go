package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// BenchmarkWebInbox measures the web inbox in headless Chromium against
// Parley as `make run` starts it, with 10,000 conversations and one of
// them 1,000 messages long:
//
//   - FirstPaint10k: navigation to the first rows painted (the app's
//     parley:first-paint mark), first-paint-ms (the mean) and
//     first-paint-best-ms (the best: the app's own cost on a busy
//     machine);
//   - Open1000: a click on the long conversation's row to its newest
//     message painted, open-1000-ms;
//   - Scroll2000: the list scrolled by 600 px a frame until 2,000 rows
//     are loaded and the last is in view (40 pages fetched on the way):
//     scroll-2000-ms in all, worst-frame-ms (the longest gap between
//     two animation frames), long-tasks (tasks of 50 ms or more),
//     worst-render-ms (the app's longest list render), page-fetch-ms (a
//     page's request) and the time Chromium spent in layout, style and
//     script (layout-ms, style-ms, script-ms, from Performance.getMetrics).
//
// go test ./gateway -run '^$' -bench BenchmarkWebInbox -benchtime 5x
//
// Figures differ between machines: bench/results/browser.md has them.
func BenchmarkWebInbox(b *testing.B) {
	browser := startBrowser(b)
	const (
		token  = "pk_bench_owner_token"
		secret = "bench-app-secret"
		total  = 10000
		long   = "16660000001"
	)
	graph := newGraphSends(b)
	lines := startParley(b, "-addr", "127.0.0.1:0", "-data-dir", b.TempDir(), "-graph-api-url", graph.srv.URL,
		"-bootstrap-token", token, "-meta-app-secret", secret)
	url := "http://" + logged(b, lines, regexp.MustCompile(`msg="Parley is running" inbox=http://([0-9.:]+)/`))
	send := func(method, path, tok string, body []byte, header ...string) {
		req, err := http.NewRequest(method, url+path, bytes.NewReader(body))
		require.NoError(b, err)
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		require.Less(b, resp.StatusCode, 300, "%s: %s", path, out)
	}
	acct, _ := json.Marshal(map[string]string{"channel": "whatsapp", "account_id": phoneID, "name": "bench", "access_token": "tok"})
	send(http.MethodPost, "/api/v1/channels", token, acct)
	// No AI: the figures are the inbox's, not those of 10,000 replies.
	send(http.MethodPut, "/api/v1/agent", token, []byte(`{"kind":"off"}`))
	webhook := func(payload string) {
		send(http.MethodPost, "/webhooks/whatsapp", "", []byte(payload), "X-Hub-Signature-256", meta.Sign([]byte(payload), []byte(secret)))
	}
	// The long conversation first, 200 messages a webhook, then the rest:
	// it sits deep in the list, as an old customer who writes a lot.
	for n := 0; n < 1000; n += 200 {
		senders := make([]string, 200)
		for i := range senders {
			senders[i] = long
		}
		webhook(waBatch(fmt.Sprintf("wamid.long%d", n), senders, func(int) string { return "Long Talker" },
			func(i int) string { return fmt.Sprintf("long message %d", n+i+1) }))
	}
	for n := 1; n < total; n += 200 {
		senders := make([]string, min(200, total-n))
		for i := range senders {
			senders[i] = fmt.Sprintf("1666%07d", n+i+1)
		}
		webhook(waBatch(fmt.Sprintf("wamid.seed%d", n), senders, func(i int) string { return fmt.Sprintf("Customer %d", n+i) },
			func(i int) string { return fmt.Sprintf("hello number %d", n+i) }))
	}
	// The long one answers last: its row is on top, ready to open.
	webhook(waText("wamid.long.last", long, "Long Talker", "long message 1001"))

	t := &tab{t: b, ctx: browser} // the first tab: in the foreground, its frames not throttled
	t.do("sign in with the API token", chromedp.Navigate(url+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('parley.token', `+jsString(token)+`), undefined`))
	t.viewport(1440, 900, false)
	load := func() {
		t.goTo(url, "/")
		t.waitJS("the first page of rows", `document.body.dataset.ready === 'true' && document.querySelectorAll('#conv-list li.conv').length === 50 && performance.getEntriesByName('parley:first-paint').length`)
	}
	load()
	require.Equal(b, fmt.Sprint(total), evalJS[string](t, `document.querySelector('.folder[data-folder="open"] .count').textContent`),
		"the Open folder counts every conversation")

	b.Run("FirstPaint10k", func(b *testing.B) {
		t.t = b
		var sum, best float64
		for b.Loop() {
			stopProfile := t.profile("first-paint")
			load()
			stopProfile()
			ms := evalJS[float64](t, `performance.getEntriesByName('parley:first-paint')[0].startTime`)
			sum += ms
			if best == 0 || ms < best {
				best = ms
			}
		}
		b.ReportMetric(sum/float64(b.N), "first-paint-ms")
		b.ReportMetric(best, "first-paint-best-ms")
	})

	b.Run("Open1000", func(b *testing.B) {
		t.t = b
		var sum float64
		for b.Loop() {
			b.StopTimer()
			load()
			b.StartTimer()
			sum += evalJS[float64](t, `new Promise((done) => {
				const t0 = performance.now();
				document.querySelector('#conv-list li.conv').click();
				const check = () => {
					const last = document.querySelector('#msg-list .msg:last-of-type');
					if (last && last.textContent.includes('long message 1001')) requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0)));
					else requestAnimationFrame(check);
				};
				requestAnimationFrame(check);
			})`)
		}
		b.ReportMetric(sum/float64(b.N), "open-1000-ms")
	})

	b.Run("Scroll2000", func(b *testing.B) {
		t.t = b
		var total, worst, longTasks, render, fetch, layout, style, script float64
		for b.Loop() {
			b.StopTimer()
			load()
			b.StartTimer()
			stopProfile := t.profile("scroll-2000")
			before := t.metrics()
			r := evalLong[map[string]float64](t, `new Promise((done) => {
				const l = document.querySelector('#conv-list');
				let tasks = 0, render = 0;
				const obs = new PerformanceObserver((list) => { tasks += list.getEntries().length; });
				obs.observe({ type: 'longtask' });
				const renders = new PerformanceObserver((list) => {
					for (const e of list.getEntries()) if (e.name === 'parley:list-render') render = Math.max(render, e.duration);
				});
				renders.observe({ type: 'measure' });
				performance.clearResourceTimings();
				const t0 = performance.now();
				let last = t0, worst = 0;
				const step = (now) => {
					worst = Math.max(worst, now - last);
					last = now;
					if (l.children.length >= 2000 && l.scrollTop + l.clientHeight >= l.scrollHeight - 1) {
						obs.disconnect();
						renders.disconnect();
						const pages = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/conversations?'));
						done({ total: now - t0, worst, tasks, render, pages: pages.length, fetch: pages.reduce((a, e) => a + e.duration, 0) / pages.length });
						return;
					}
					l.scrollTop += 600;
					requestAnimationFrame(step);
				};
				requestAnimationFrame(step);
			})`)
			stopProfile()
			after := t.metrics()
			layout += after["LayoutDuration"] - before["LayoutDuration"]
			style += after["RecalcStyleDuration"] - before["RecalcStyleDuration"]
			script += after["ScriptDuration"] - before["ScriptDuration"]
			total += r["total"]
			worst = max(worst, r["worst"])
			longTasks += r["tasks"]
			render = max(render, r["render"])
			fetch += r["fetch"]
		}
		b.ReportMetric(total/float64(b.N), "scroll-2000-ms")
		b.ReportMetric(worst, "worst-frame-ms")
		b.ReportMetric(longTasks/float64(b.N), "long-tasks")
		b.ReportMetric(render, "worst-render-ms")
		b.ReportMetric(fetch/float64(b.N), "page-fetch-ms")
		b.ReportMetric(1000*layout/float64(b.N), "layout-ms")
		b.ReportMetric(1000*style/float64(b.N), "style-ms")
		b.ReportMetric(1000*script/float64(b.N), "script-ms")
	})
}

// profile starts the page's JavaScript CPU profiler when
// PARLEY_CPUPROFILE names a directory; the function it returns stops it
// and writes <dir>/<name>.cpuprofile (open it in Chromium's DevTools,
// Performance panel).
func (b *tab) profile(name string) func() {
	b.t.Helper()
	dir := os.Getenv("PARLEY_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	b.do("start the profiler", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, profiler.Enable, cdp.Empty{}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, profiler.Start, cdp.Empty{})
		return err
	}))
	return func() {
		b.t.Helper()
		b.do("stop the profiler", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			r, err := chromedp.Call(ctx, profiler.Stop, cdp.Empty{})
			if err != nil {
				return err
			}
			js, err := json.Marshal(r.Profile)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name+".cpuprofile"), js, 0o644)
		}))
	}
}

// metrics are Chromium's counters for the page (Performance.getMetrics):
// LayoutDuration, RecalcStyleDuration, ScriptDuration (seconds), ...
func (b *tab) metrics() map[string]float64 {
	b.t.Helper()
	out := map[string]float64{}
	b.do("read the performance metrics", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, performance.Enable, performance.EnableParams{}); err != nil {
			return err
		}
		r, err := chromedp.Call(ctx, performance.GetMetrics, cdp.Empty{})
		if err != nil {
			return err
		}
		for _, m := range r.Metrics {
			out[m.Name] = m.Value
		}
		return nil
	}))
	return out
}

// evalLong is evalJS for a measurement that may take minutes on a busy
// machine.
func evalLong[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, expr)
	return v
}
