package gateway

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzForwardedFor feeds arbitrary X-Forwarded-For values from a trusted
// proxy to the reduction that picks the client's address: it never
// panics, and the address is the peer or one the header names; when the
// rightmost entry is a valid address outside the trusted ranges, it is
// that one.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{"", "203.0.113.5", "198.51.100.7, 203.0.113.5, 10.1.2.3", "10.0.0.1,10.0.0.2",
		"nonsense, 10.0.0.9", "::ffff:203.0.113.9", "fe80::1%eth0", ",,,", "2001:db8::1 , 127.0.0.1"} {
		f.Add(s, "")
	}
	f.Add("203.0.113.5", "10.0.0.7")
	proxies, err := parseTrustedProxies([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		f.Fatal(err)
	}
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, first, second string) {
		values := [][]byte{[]byte(first)}
		if second != "" {
			values = append(values, []byte(second))
		}
		got := proxies.client(peer, values)
		if !got.IsValid() {
			t.Fatalf("invalid address for %q %q", first, second)
		}
		var hops []string
		for _, v := range values {
			hops = append(hops, strings.Split(string(v), ",")...)
		}
		named := got == peer
		for _, h := range hops {
			if a, err := netip.ParseAddr(strings.TrimSpace(h)); err == nil && a.Unmap() == got {
				named = true
			}
		}
		if !named {
			t.Fatalf("%v is neither the peer nor in %q %q", got, first, second)
		}
		last, err := netip.ParseAddr(strings.TrimSpace(hops[len(hops)-1]))
		if err == nil && !proxies.contains(last) && got != last.Unmap() {
			t.Fatalf("rightmost untrusted %v, got %v", last, got)
		}
	})
}
