package tlsconf

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRedirect feeds arbitrary Host headers and paths to the HTTPS
// redirect: it never panics, and it either refuses the request (400) or
// redirects to https:// on the same host name and port 8443, never to
// another host.
func FuzzRedirect(f *testing.F) {
	for _, s := range [][2]string{{"inbox.example.com", "/"}, {"inbox.example.com:80", "/a?b=c"}, {"[::1]:80", "/x"},
		{"10.0.0.1", "//evil.example/"}, {"evil.example@inbox", "/"}, {"a/b", "/"}, {"", "/"}, {"a?b", "/"}, {"[fe80::1%25eth0]", "/"}} {
		f.Add(s[0], s[1])
	}
	h := Redirect("8443")
	f.Fuzz(func(t *testing.T, host, path string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		req.URL.Path = path
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusBadRequest {
			return
		}
		if rec.Code != http.StatusMovedPermanently {
			t.Fatalf("status %d for host %q", rec.Code, host)
		}
		loc, err := url.Parse(rec.Header().Get("Location"))
		if err != nil {
			t.Fatalf("Location %q: %v", rec.Header().Get("Location"), err)
		}
		want := host
		if h, _, err := net.SplitHostPort(host); err == nil {
			want = h
		}
		want = strings.Trim(want, "[]")
		if i := strings.IndexByte(want, '%'); i >= 0 {
			want = want[:i]
		}
		if loc.Scheme != "https" || loc.Port() != "8443" || !strings.EqualFold(loc.Hostname(), want) {
			t.Fatalf("host %q redirected to %q", host, loc)
		}
	})
}
