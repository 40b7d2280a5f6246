package gateway

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCleanDevice feeds arbitrary User-Agent headers to cleanDevice: what
// it keeps as a session's device is valid UTF-8 without control
// characters, at most maxDevice bytes, and a prefix of the header's
// printable text.
func FuzzCleanDevice(f *testing.F) {
	for _, s := range []string{"", "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36", "a\x00b\r\nc", "\xff\xfe",
		strings.Repeat("é", 200), " padded "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := cleanDevice(ua)
		if !utf8.ValidString(got) || len(got) > maxDevice {
			t.Fatalf("cleanDevice(%q) = %q", ua, got)
		}
		if strings.IndexFunc(got, unicode.IsControl) >= 0 {
			t.Fatalf("cleanDevice(%q) = %q keeps a control character", ua, got)
		}
		printable := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == utf8.RuneError {
				return -1
			}
			return r
		}, ua)
		if !strings.Contains(printable, got) {
			t.Fatalf("cleanDevice(%q) = %q is not from the header", ua, got)
		}
	})
}
