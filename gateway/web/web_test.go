package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	app := fiber.New()
	app.Get("/api/v1/thing", func(c *fiber.Ctx) error { return c.SendString("api") })
	app.Use(Handler())
	for _, tc := range []struct {
		method, path string
		status       int
		typ, body    string
	}{
		{"GET", "/", 200, "text/html", `<script type="module" src="/js/app.js">`},
		{"GET", "/c/some-conversation", 200, "text/html", "<title>Parley inbox</title>"},
		{"GET", "/js/app.js", 200, "javascript", "import"},
		{"GET", "/app.css", 200, "text/css", ":root"},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/js/missing.js", 404, "", ""},
		{"GET", "/manifest.webmanifest", 200, "application/manifest+json", `"display": "standalone"`},
		{"GET", "/sw.js", 200, "javascript", "notificationclick"},
		{"GET", "/icons/icon-192.png", 200, "image/png", "PNG"},
		{"GET", "/icons/icon.svg", 200, "image/svg+xml", "<svg"},
		{"GET", "/../../etc/passwd", 200, "text/html", "<title>"},
		{"GET", "/api/v1/thing", 200, "", "api"},
		{"GET", "/api/v1/other", 404, "", ""},
		{"GET", "/webhooks/whatsapp", 404, "", ""},
		{"POST", "/", 404, "", ""},
	} {
		resp, err := app.Test(httptest.NewRequest(tc.method, tc.path, nil))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, tc.status, resp.StatusCode, "%s %s", tc.method, tc.path)
		require.Contains(t, resp.Header.Get("Content-Type"), tc.typ, tc.path)
		require.Contains(t, string(body), tc.body, tc.path)
		if tc.status == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
		}
	}
}

// Every script the page loads is in the binary: no CDN, nothing fetched
// from outside.
func TestNoExternalReferences(t *testing.T) {
	n := 0
	err := fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		data, err := fs.ReadFile(static, name)
		require.NoError(t, err, name)
		// The SVG namespace is a name, not a request.
		text := strings.ReplaceAll(string(data), "http://www.w3.org/2000/svg", "")
		for _, bad := range []string{"http://", "//cdn", "@import url(", "fonts.googleapis"} {
			require.NotContains(t, text, bad, name)
		}
		return nil
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 10, "every file of the app is checked")
}

// TestManifest: the installable app's manifest is linked from the page,
// parses, and names icons of the app that decode at their stated sizes;
// the service worker is served with a policy of its own origin.
func TestManifest(t *testing.T) {
	page, err := fs.ReadFile(static, "index.html")
	require.NoError(t, err)
	require.Contains(t, string(page), `<link rel="manifest" href="/manifest.webmanifest">`)
	raw, err := fs.ReadFile(static, "manifest.webmanifest")
	require.NoError(t, err)
	var m struct {
		Name       string `json:"name"`
		ShortName  string `json:"short_name"`
		StartURL   string `json:"start_url"`
		Display    string `json:"display"`
		ThemeColor string `json:"theme_color"`
		Icons      []struct{ Src, Sizes, Type, Purpose string }
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	require.NoError(t, dec.Decode(&m))
	require.NotEmpty(t, m.Name)
	require.NotEmpty(t, m.ShortName)
	require.Equal(t, "/", m.StartURL)
	require.Equal(t, "#2563eb", m.ThemeColor)
	require.Equal(t, "standalone", m.Display)
	require.Len(t, m.Icons, 4)
	for _, ic := range m.Icons {
		data, err := fs.ReadFile(static, strings.TrimPrefix(ic.Src, "/"))
		require.NoError(t, err, ic.Src)
		if ic.Type != "image/png" {
			require.Contains(t, string(data), "<svg", ic.Src)
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		require.NoError(t, err, ic.Src)
		require.Equal(t, ic.Sizes, fmt.Sprintf("%dx%d", cfg.Width, cfg.Height), ic.Src)
	}

	app := fiber.New()
	app.Use(Handler())
	resp, err := app.Test(httptest.NewRequest("GET", "/sw.js", nil))
	require.NoError(t, err)
	require.Equal(t, "default-src 'self'", resp.Header.Get("Content-Security-Policy"))
	resp, err = app.Test(httptest.NewRequest("GET", "/", nil))
	require.NoError(t, err)
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "worker-src 'self'")
	require.Contains(t, csp, "manifest-src 'self'")
}

// The page preloads every module the app imports, at any depth, so that
// the browser fetches them in one round instead of one per import level;
// and every module of the directory is one the app imports.
func TestModulePreloads(t *testing.T) {
	app := fiber.New()
	app.Use(Handler())
	resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	mods, err := fs.Glob(static, "js/*.js")
	require.NoError(t, err)
	require.Greater(t, len(mods), 20)
	for _, m := range mods {
		if m == "js/app.js" {
			continue
		}
		require.Contains(t, string(page), fmt.Sprintf(`<link rel="modulepreload" href="/%s">`, m))
	}
	require.Less(t, bytes.Index(page, []byte(`rel="modulepreload"`)), bytes.Index(page, []byte(`<script type="module"`)),
		"the preloads come before the script")
	require.Equal(t, []string{"js/b.js", "js/c.js"}, moduleGraphOf(t, map[string]string{
		"js/a.js": "import { x } from './b.js';\nimport './c.js';\n// import './d.js';\n",
		"js/b.js": "import * as c from './c.js';\n",
		"js/c.js": "export const y = 1;\n",
	}, "js/a.js"))
}

// moduleGraphOf runs moduleGraph over the given files instead of the app.
func moduleGraphOf(t *testing.T, files map[string]string, root string) []string {
	t.Helper()
	saved := static
	t.Cleanup(func() { static = saved })
	m := fstest.MapFS{}
	for name, src := range files {
		m[name] = &fstest.MapFile{Data: []byte(src)}
	}
	static = m
	return moduleGraph(root)
}

// Every file carries an entity tag and a request that has it gets a 304
// without the body.
func TestETags(t *testing.T) {
	app := fiber.New()
	app.Use(Handler())
	for _, p := range []string{"/", "/js/app.js", "/app.css"} {
		resp, err := app.Test(httptest.NewRequest("GET", p, nil))
		require.NoError(t, err)
		tag := resp.Header.Get("ETag")
		require.Regexp(t, `^"[0-9a-f]{24}"$`, tag, p)
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set("If-None-Match", tag)
		resp, err = app.Test(req)
		require.NoError(t, err)
		require.Equal(t, 304, resp.StatusCode, p)
		body, _ := io.ReadAll(resp.Body)
		require.Empty(t, body, p)
		req = httptest.NewRequest("GET", p, nil)
		req.Header.Set("If-None-Match", `"stale"`)
		resp, err = app.Test(req)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, p)
	}
}
