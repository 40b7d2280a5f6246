package meta_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/gateway/channels/meta"
)

func TestSignKnownVector(t *testing.T) {
	t.Parallel()
	// RFC 4231, test case 2.
	require.Equal(t,
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		meta.Sign([]byte("what do ya want for nothing?"), []byte("Jefe")))
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	secret := []byte("app-secret-1")
	other := []byte("app-secret-2")
	body := []byte(`{"object":"page","entry":[]}`)
	good := meta.Sign(body, secret)
	hexPart := strings.TrimPrefix(good, "sha256=")

	tests := []struct {
		name    string
		body    []byte
		header  string
		secrets [][]byte
		ok      bool
	}{
		{"good", body, good, [][]byte{secret}, true},
		{"uppercase hex", body, "sha256=" + strings.ToUpper(hexPart), [][]byte{secret}, true},
		{"surrounding space", body, " " + good + " ", [][]byte{secret}, true},
		{"rotation: old secret first", body, good, [][]byte{other, secret}, true},
		{"rotation: new secret first", body, meta.Sign(body, other), [][]byte{secret, other}, true},
		{"empty secret skipped", body, good, [][]byte{nil, {}, secret}, true},

		{"wrong secret", body, good, [][]byte{other}, false},
		{"tampered body", []byte(`{"object":"page","entry":[{}]}`), good, [][]byte{secret}, false},
		{"missing header", body, "", [][]byte{secret}, false},
		{"no prefix", body, hexPart, [][]byte{secret}, false},
		{"sha1 prefix", body, "sha1=" + hexPart, [][]byte{secret}, false},
		{"uppercase prefix", body, "SHA256=" + hexPart, [][]byte{secret}, false},
		{"bad hex", body, "sha256=" + strings.Repeat("zz", 32), [][]byte{secret}, false},
		{"short digest", body, good[:len(good)-2], [][]byte{secret}, false},
		{"long digest", body, good + "00", [][]byte{secret}, false},
		{"prefix only", body, "sha256=", [][]byte{secret}, false},
		{"no secrets", body, good, nil, false},
		{"only empty secrets", []byte{}, meta.Sign([]byte{}, nil), [][]byte{nil, {}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.ok, meta.VerifySignature(tc.body, tc.header, tc.secrets...))
		})
	}
}

// TestVerifySignatureRawBytes: Meta signs the body as sent, with non-ASCII
// escaped as \uXXXX. The raw bytes verify; the same JSON serialised again
// (with the characters themselves) does not.
func TestVerifySignatureRawBytes(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cr3t")
	for _, name := range []string{"wa_text.json", "fb_text.json", "ig_story_reply.json", "wa_image.json"} {
		raw := load(t, name)
		header := meta.Sign(raw, secret)
		require.True(t, meta.VerifySignature(raw, header, secret), name)

		var v any
		require.NoError(t, json.Unmarshal(raw, &v))
		again, err := json.Marshal(v)
		require.NoError(t, err)
		require.False(t, meta.VerifySignature(again, header, secret), name)

		_, err = parsers[name[:2]](raw)
		require.NoError(t, err)
	}

	// Accented text and emoji as UTF-8 bytes sign and verify too.
	body := []byte(`{"text":"Caf` + "\u00e9 \U0001F600" + `"}`)
	require.True(t, meta.VerifySignature(body, meta.Sign(body, secret), secret))
	require.False(t, meta.VerifySignature([]byte(`{"text":"Caf\u00e9 \ud83d\ude00"}`), meta.Sign(body, secret), secret))
}

// A delivery addresses every account its messages, statuses and
// watermarks name, each once.
func TestBatchAccountIDs(t *testing.T) {
	b := meta.Batch{
		Messages:   []meta.Message{{AccountID: "P2"}, {AccountID: "P1"}},
		Statuses:   []meta.Status{{AccountID: "P1"}, {AccountID: "P3"}},
		Watermarks: []meta.Watermark{{AccountID: "P4"}},
	}
	require.Equal(t, []string{"P1", "P2", "P3", "P4"}, b.AccountIDs())
	require.Empty(t, meta.Batch{}.AccountIDs())
}
