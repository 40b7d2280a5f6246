package gateway

import (
	"bytes"
	"io"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// The server streams request bodies (fiber.Config.StreamRequestBody) so
// that a CSV import is parsed as it arrives instead of being held whole.
// With streaming on, the HTTP server no longer refuses a body over the
// limit by itself; two steps keep the limit:
//
//   - headerReceived runs once a request's head is read, before any of
//     its body: a Content-Length over the route's limit marks the request
//     and sets its length to zero, so nothing of the body is read;
//   - limitBody, the first middleware, answers a marked request 413 and
//     closes the connection (the unread body is still on it), and reads a
//     streamed body (chunked, or longer than the server's prefetch) whole
//     up to the limit for every route but the streamed ones, so handlers
//     see c.Body() as before.
const oversizeHeader = "X-Parley-Body-Too-Large"

// streamedRoutes are the routes that read their body as a stream, with
// their own limits.
var streamedRoutes = map[string]int{
	fiber.MethodPost + " /api/v1/contacts/import": maxImportBytes,
}

func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(oversizeHeader) // only the server sets it
	path := h.RequestURI()
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	limit := s.cfg.BodyLimit
	if l, ok := streamedRoutes[string(h.Method())+" "+string(path)]; ok {
		limit = l
	}
	if h.ContentLength() > limit {
		h.Set(oversizeHeader, "1")
		h.SetContentLength(0)
	}
	return fasthttp.RequestConfig{}
}

// limitBody refuses marked requests and reads streamed bodies of the
// other routes whole, up to limit bytes.
func limitBody(limit int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := c.Request()
		if c.Get(oversizeHeader) != "" {
			c.Context().SetConnectionClose()
			return fiber.ErrRequestEntityTooLarge
		}
		if _, ok := streamedRoutes[c.Method()+" "+c.Path()]; ok || !req.IsBodyStream() {
			return c.Next()
		}
		if req.Header.ContentLength() >= 0 {
			// A known length within the limit (headerReceived marked
			// longer ones): the rest is read into the request's own
			// pooled buffer.
			_ = req.Body()
			return c.Next()
		}
		body, err := io.ReadAll(io.LimitReader(req.BodyStream(), int64(limit)+1))
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "cannot read the request body")
		}
		if len(body) > limit {
			c.Context().SetConnectionClose()
			return fiber.ErrRequestEntityTooLarge
		}
		req.SetBodyRaw(body)
		return c.Next()
	}
}
