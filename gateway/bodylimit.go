package gateway

import (
	"bytes"
	"errors"
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
//     streamed body (chunked, or longer than the server's 8 KiB prefetch)
//     whole up to the limit for every route but the streamed ones, so
//     handlers see c.Body() as before, within a bound on the memory all
//     such bodies hold at once (Config.BodyMemory).
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
	var conf fasthttp.RequestConfig
	if l, ok := streamedRoutes[string(h.Method())+" "+string(path)]; ok {
		limit = l
		// A streamed body may be several times the size of others:
		// its reading gets longer than ReadTimeout, counted from now.
		conf.ReadTimeout = streamedReadFactor * s.cfg.ReadTimeout
	}
	if h.ContentLength() > limit {
		h.Set(oversizeHeader, "1")
		h.SetContentLength(0)
	}
	return conf
}

// streamedReadFactor times Config.ReadTimeout is how long the body of a
// streamed route (a CSV import, up to 32 MiB) may take to arrive: five
// minutes by default, about 110 KB/s for the largest import.
const streamedReadFactor = 10

// bodyStep is how much memory a body of unknown length (chunked) reserves
// at first; it grows by doubling, each new buffer reserved whole.
const bodyStep = 16 << 10

// errBodyMemory refuses a body when the bodies being read already hold
// Config.BodyMemory: the client (Meta for webhooks) retries later.
var errBodyMemory = errorf(fiber.StatusServiceUnavailable, "overloaded", "too many request bodies in flight; retry later")

// limitBody refuses marked requests and reads streamed bodies of the
// other routes whole, up to BodyLimit bytes. The bodies it reads are not
// authenticated yet (a webhook's signature is checked over the whole
// body; a token only after this middleware), so together they may hold
// at most BodyMemory bytes: a body of known length reserves it up front,
// a chunked one each buffer it grows into; past the bound the request is answered 503
// with Retry-After and its connection closed. What is reserved is given
// back when the request ends.
func (s *Server) limitBody(c *fiber.Ctx) error {
	req := c.Request()
	if c.Get(oversizeHeader) != "" {
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	}
	if _, ok := streamedRoutes[c.Method()+" "+c.Path()]; ok || !req.IsBodyStream() {
		return c.Next()
	}
	var reserved int64
	defer func() {
		if reserved > 0 {
			s.bodyMemory.Release(reserved)
			s.metrics.bodyMemoryBytes.Sub(float64(reserved))
		}
	}()
	reserve := func(n int64) bool {
		if !s.bodyMemory.TryAcquire(n) {
			return false
		}
		reserved += n
		s.metrics.bodyMemoryBytes.Add(float64(n))
		return true
	}
	body, err := readBody(req, s.cfg.BodyLimit, reserve)
	if err != nil {
		// The rest of the body is still on the connection. A client still
		// sending it would see the connection reset before it reads the
		// answer: a bounded part of the rest is read and dropped first
		// (into a small buffer, holding nothing), then the connection is
		// closed.
		if errors.Is(err, fiber.ErrRequestEntityTooLarge) {
			_, _ = io.CopyN(io.Discard, req.BodyStream(), int64(s.cfg.BodyLimit))
		}
		c.Context().SetConnectionClose()
		if errors.Is(err, errBodyMemory) {
			s.metrics.bodyMemoryRefusals.Inc()
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return err
	}
	req.SetBodyRaw(body)
	return c.Next()
}

// readBody reads a streamed body whole, up to limit bytes, reserving its
// memory with reserve first.
func readBody(req *fasthttp.Request, limit int, reserve func(int64) bool) ([]byte, error) {
	r := req.BodyStream()
	if n := req.Header.ContentLength(); n >= 0 {
		// A known length within the limit (headerReceived marked
		// longer ones).
		if !reserve(int64(n)) {
			return nil, errBodyMemory
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, fiber.NewError(fiber.StatusBadRequest, "cannot read the request body")
		}
		return body, nil
	}
	var body []byte
	for {
		if len(body) == cap(body) {
			if len(body) > limit {
				return nil, fiber.ErrRequestEntityTooLarge
			}
			// The whole new buffer is reserved: the one it replaces
			// is garbage, not free, until the next collection.
			grown := min(max(2*cap(body), bodyStep), limit+1)
			if !reserve(int64(grown)) {
				return nil, errBodyMemory
			}
			body = append(make([]byte, 0, grown), body...)
		}
		n, err := r.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fiber.NewError(fiber.StatusBadRequest, "cannot read the request body")
		}
	}
	if len(body) > limit {
		return nil, fiber.ErrRequestEntityTooLarge
	}
	return body, nil
}
