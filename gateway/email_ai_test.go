package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/gateway/channels/email"
	"github.com/parleyhq/parley/gateway/internal/mailtest"
)

// The AI answers a mail as an email: the account's greeting, the answer,
// its sign-off and the customer's mail quoted, threaded under the
// customer's mail (In-Reply-To, References), signed with the account's
// DKIM key (checked by go-msgauth's verifier against the published
// record); the DKIM key is never shown.
func TestEmailAIReplyIsAnEmail(t *testing.T) {
	relay := mailtest.New(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))

	e := &env{t: t, dir: t.TempDir(), graph: newFakeGraph(t), clock: clockwork.NewRealClock(),
		client: &http.Client{Timeout: 30 * time.Second}, emailTLS: relay.TLSConfig(),
		tweak: func(c *actors.Config) {
			reg, err := agents.NewRegistry(c.Store, nil)
			require.NoError(t, err)
			c.Agents, c.AIDebounce = reg, -1
		},
		gwTweak: func(c *gateway.Config) {}}
	e.start()
	t.Cleanup(e.stop)
	host, port, err := net.SplitHostPort(relay.Addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	code, body := e.api("POST", "/api/v1/channels", ownerToken, map[string]any{"channel": "email", "account_id": shopAddr, "access_token": relay.Password,
		"email": map[string]any{"smtp_host": host, "smtp_port": p, "smtp_security": "starttls", "smtp_username": relay.User, "from_name": "Shop Support",
			"greeting": "Hello {name},", "sign_off": "Best regards,\nShop Support", "quote": true,
			"dkim": map[string]any{"domain": "shop.test", "selector": "parley", "private_key": keyPEM}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	assert.NotContains(t, string(body), "PRIVATE KEY", "the DKIM key is never shown")
	assert.Contains(t, string(body), `"has_private_key":true`)
	code, body = e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "rules", "greeting": "Your order ships on Monday."})
	require.Equal(t, http.StatusOK, code, string(body))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = e.gw.ServeSMTP(ln, "mx.shop.test", 0) }()
	require.NoError(t, sendMail(t, ln.Addr().String(), "ann@example.com", []string{shopAddr},
		mailFrom("Ann Lee <ann@example.com>", "Order 42", "m1@example.com", "References: <root@example.com>\nDate: Wed, 04 Mar 2026 09:30:00 +0000\n",
			"Where is my order?")))
	var got mailtest.Message
	eventually(t, 10*time.Second, func() error {
		msgs := relay.Messages()
		if len(msgs) != 1 {
			return errors.New("no mail yet")
		}
		got = msgs[0]
		return nil
	})
	out, err := email.Parse(got.Data)
	require.NoError(t, err)
	assert.Equal(t, "Re: Order 42", out.Subject)
	assert.Equal(t, []string{"m1@example.com"}, out.InReplyTo)
	assert.Equal(t, []string{"root@example.com", "m1@example.com"}, out.References)
	raw := string(got.Data)
	for _, want := range []string{"Hello Ann,", "Your order ships on Monday.", "Best regards,", "On Wed, 4 Mar 2026 at 09:30 UTC, Ann Lee wrote:", "> Where is my order?"} {
		assert.Contains(t, raw, want)
	}
	assert.Less(t, strings.Index(raw, "Hello Ann,"), strings.Index(raw, "Your order ships"), "the greeting first")

	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	lookups := 0
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(got.Data), &dkim.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
		lookups++
		if domain != "parley._domainkey.shop.test" {
			return nil, errors.New("no such record: " + domain)
		}
		return []string{record}, nil
	}})
	require.NoError(t, err)
	require.Len(t, verifications, 1)
	require.NoError(t, verifications[0].Err, "the signature verifies")
	assert.Equal(t, "shop.test", verifications[0].Domain)
	assert.Equal(t, 1, lookups)

	// A mail changed on the way fails the check.
	tampered := bytes.Replace(got.Data, []byte("Subject: Re: Order 42"), []byte("Subject: Re: Order 43"), 1)
	verifications, err = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{record}, nil }})
	require.NoError(t, err)
	require.Len(t, verifications, 1)
	assert.Error(t, verifications[0].Err)
}
