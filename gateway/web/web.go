package web

import (
	"embed"
	"io/fs"
	"mime"
	"path"
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
		data, err := fs.ReadFile(static, name)
		if name == "" || err != nil {
			if path.Ext(name) != "" && name != "index.html" {
				return c.Next() // a missing asset is a 404, not the page
			}
			name = "index.html"
			if data, err = fs.ReadFile(static, name); err != nil {
				return err
			}
		}
		typ := mime.TypeByExtension(path.Ext(name))
		if typ == "" {
			typ = fiber.MIMEOctetStream
		}
		c.Set(fiber.HeaderContentType, typ)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Set("X-Content-Type-Options", "nosniff")
		switch name {
		case "index.html":
			c.Set("Content-Security-Policy", securityPolicy)
			c.Set("Referrer-Policy", "no-referrer")
		case "sw.js":
			c.Set("Content-Security-Policy", workerPolicy)
		}
		return c.Send(data)
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
