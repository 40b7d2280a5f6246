package realtime

import "testing"

// FuzzClientFrame feeds arbitrary WebSocket client frames to the frame
// parser: it never panics, and what it accepts is a ping, a subscribe
// with a valid filter or a presence report of a known state.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{`{"type":"ping"}`, `{"type":"subscribe","filter":{"channel":"whatsapp","folder":"open"},"resume":{"epoch":"e","seq":3}}`,
		`{"type":"subscribe","filter":{"conversation_id":"bad"}}`, `{"type":"x"}`, `[`, `{"type":"ping","extra":1}`, "\xff",
		`{"type":"presence","state":"active"}`, `{"type":"presence","state":"away"}`, `{"type":"presence","state":"busy"}`, `{"type":"presence"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseClientFrame(b)
		if err != nil {
			return
		}
		if fr.Type != "ping" && fr.Type != "subscribe" && fr.Type != "presence" {
			t.Fatalf("accepted frame type %q", fr.Type)
		}
		if fr.Type == "presence" && fr.State != "active" && fr.State != "away" && fr.State != "online" {
			t.Fatalf("accepted presence state %q", fr.State)
		}
		if _, err := fr.Filter.actors(); err != nil {
			t.Fatalf("accepted a bad filter: %v", err)
		}
	})
}
