package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
)

//go:embed static
var files embed.FS

// static is the app's file tree, rooted at the static directory.
var static = func() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded: cannot fail
	}
	return sub
}()

// asset is one file of the app as served: its bytes and an entity tag.
type asset struct {
	data []byte
	etag string
}

// assets holds every file of the app, read once at start. index.html
// gets a modulepreload link for each module app.js imports, directly or
// through another module: the browser then fetches them all at once
// instead of discovering them one import level at a time (app.js →
// contacts.js → contact_page.js → contact.js → api.js is five round trips
// before the first render otherwise).
var assets = func() map[string]asset {
	m := map[string]asset{}
	err := fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		if name == "index.html" {
			data = withPreloads(data, moduleGraph("js/app.js"))
		}
		sum := sha256.Sum256(data)
		m[name] = asset{data: data, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // the files are embedded: cannot fail
	}
	return m
}()

// importRe matches the static imports of the app's modules, which all
// name a sibling file ("./x.js").
var importRe = regexp.MustCompile(`(?m)^import\s(?:[^'";]*\sfrom\s)?'\./([a-z0-9_]+\.js)';`)

// moduleGraph returns the modules root imports, directly or not, sorted,
// root excluded.
func moduleGraph(root string) []string {
	seen := map[string]bool{root: true}
	var out []string
	queue := []string{root}
	for len(queue) > 0 {
		src, err := fs.ReadFile(static, queue[0])
		queue = queue[1:]
		if err != nil {
			panic(fmt.Sprintf("the app imports a missing module: %v", err))
		}
		for _, m := range importRe.FindAllSubmatch(src, -1) {
			name := "js/" + string(m[1])
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
				queue = append(queue, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// withPreloads inserts a modulepreload link per module before the page's
// module script.
func withPreloads(page []byte, modules []string) []byte {
	const script = `<script type="module" src="/js/app.js"></script>`
	var links bytes.Buffer
	for _, m := range modules {
		fmt.Fprintf(&links, "<link rel=\"modulepreload\" href=\"/%s\">\n", m)
	}
	return bytes.Replace(page, []byte(script), append(links.Bytes(), script...), 1)
}

// securityPolicy keeps the page to its own origin: scripts, styles and
// fonts from the binary; images and media from the API (as blob URLs).
// The service worker (/sw.js) and the manifest come from the same
// origin too (worker-src, manifest-src).
const securityPolicy = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; " +
	"connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; worker-src 'self'; manifest-src 'self'; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// workerPolicy is the service worker's own policy: it fetches nothing
// but its own origin.
const workerPolicy = "default-src 'self'"

func init() {
	// The web app manifest's type (not in every system's MIME table).
	if err := mime.AddExtensionType(".webmanifest", "application/manifest+json"); err != nil {
		panic(err)
	}
}

// Handler serves the app for GET and HEAD requests outside /api/ and
// /webhooks/: a file of the app by its path, or index.html for any other
// path (the app routes on the client). Anything else goes on to the next
// handler. Mount it after every other route so those keep winning.
func Handler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		m := c.Method()
		p := c.Path()
		if (m != fiber.MethodGet && m != fiber.MethodHead) || reserved(p) {
			return c.Next()
		}
		name := strings.TrimPrefix(path.Clean("/"+p), "/")
		a, ok := assets[name]
		if !ok {
			if path.Ext(name) != "" && name != "index.html" {
				return c.Next() // a missing asset is a 404, not the page
			}
			name = "index.html"
			a = assets[name]
		}
		typ := mime.TypeByExtension(path.Ext(name))
		if typ == "" {
			typ = fiber.MIMEOctetStream
		}
		c.Set(fiber.HeaderContentType, typ)
		// Revalidated on every use (a new binary serves new files), and
		// answered 304 when unchanged.
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Set(fiber.HeaderETag, a.etag)
		c.Set("X-Content-Type-Options", "nosniff")
		switch name {
		case "index.html":
			c.Set("Content-Security-Policy", securityPolicy)
			c.Set("Referrer-Policy", "no-referrer")
		case "sw.js":
			c.Set("Content-Security-Policy", workerPolicy)
		}
		if c.Get(fiber.HeaderIfNoneMatch) == a.etag {
			return c.SendStatus(fiber.StatusNotModified)
		}
		return c.Send(a.data)
	}
}

// reserved reports whether p belongs to the API or the webhooks, which
// the app never answers for.
func reserved(p string) bool {
	for _, pre := range []string{"/api/", "/webhooks/"} {
		if strings.HasPrefix(p, pre) || p == strings.TrimSuffix(pre, "/") {
			return true
		}
	}
	return p == "/healthz" || p == "/readyz" || p == "/metrics"
}

//go:embed widget/widget.js
var widgetJS []byte

// WidgetScript is the web chat widget's script (/widget.js): one file,
// no imports, its styles inside its Shadow DOM.
func WidgetScript() []byte { return widgetJS }
