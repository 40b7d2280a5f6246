package realtime

import "testing"

// FuzzClientFrame feeds arbitrary WebSocket client frames to the frame
// parser: it never panics, and what it accepts is a ping or a subscribe
// with a valid filter.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{`{"type":"ping"}`, `{"type":"subscribe","filter":{"channel":"whatsapp","folder":"open"},"resume":{"epoch":"e","seq":3}}`,
		`{"type":"subscribe","filter":{"conversation_id":"bad"}}`, `{"type":"x"}`, `[`, `{"type":"ping","extra":1}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseClientFrame(b)
		if err != nil {
			return
		}
		if fr.Type != "ping" && fr.Type != "subscribe" {
			t.Fatalf("accepted frame type %q", fr.Type)
		}
		if _, err := fr.Filter.actors(); err != nil {
			t.Fatalf("accepted a bad filter: %v", err)
		}
	})
}
