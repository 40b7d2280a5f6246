package gateway

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// hstsValue is the Strict-Transport-Security header of HTTPS responses:
// browsers keep to HTTPS for a year.
const hstsValue = "max-age=31536000"

// trustedProxies holds the address ranges of the reverse proxies whose
// X-Forwarded-For and X-Forwarded-Proto headers are believed.
type trustedProxies []netip.Prefix

// parseTrustedProxies reads addresses and CIDR ranges ("10.0.0.0/8",
// "127.0.0.1", "::1").
func parseTrustedProxies(list []string) (trustedProxies, error) {
	var out trustedProxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an IP address nor a CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// strings returns the ranges in the form fiber.Config.TrustedProxies takes.
func (t trustedProxies) strings() []string {
	out := make([]string, len(t))
	for i, p := range t {
		out[i] = p.String()
	}
	return out
}

func (t trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient reduces the X-Forwarded-For header of a request from a
// trusted proxy to the one address Fiber's c.IP() then returns: the
// rightmost address that is not itself a trusted proxy. Addresses left of
// it were written by the client and prove nothing. Requests from any
// other peer keep their header, which Fiber ignores for them
// (EnableTrustedProxyCheck).
func (s *Server) forwardedClient(c *fiber.Ctx) error {
	if len(s.proxies) == 0 {
		return c.Next()
	}
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok || !s.proxies.contains(peer) {
		return c.Next()
	}
	client := s.proxies.client(peer, c.Context().Request.Header.PeekAll(fiber.HeaderXForwardedFor))
	c.Request().Header.Set(fiber.HeaderXForwardedFor, client.String())
	return c.Next()
}

// client returns the client's address from the X-Forwarded-For values
// of a request whose peer is a trusted proxy: walking from the right, the
// first address that is not a trusted proxy, or the leftmost one if all
// are; a malformed entry ends the walk (nothing left of it is believed).
// With no address at all it is the peer.
func (t trustedProxies) client(peer netip.Addr, values [][]byte) netip.Addr {
	client := peer.Unmap()
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(string(v), ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !t.contains(client) {
			break
		}
	}
	return client
}

// secureHeaders sets the headers every response carries: no MIME
// sniffing, no referrer, no framing, and over HTTPS (directly, or at a
// trusted proxy that says so) Strict-Transport-Security. The web app
// adds its Content-Security-Policy (gateway/web).
func (s *Server) secureHeaders(c *fiber.Ctx) error {
	h := &c.Response().Header
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	h.Set(fiber.HeaderXFrameOptions, "DENY")
	if c.Protocol() == "https" {
		h.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
	}
	return c.Next()
}
