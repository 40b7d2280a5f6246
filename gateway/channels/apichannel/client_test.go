package apichannel_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
	"github.com/stretchr/testify/require"
)

// The signature is what an integrator computes from the documented
// recipe: "sha256=" and the hex HMAC-SHA256, keyed by the secret, of the
// timestamp header, a dot and the raw body.
func TestSignMatchesTheDocumentedRecipe(t *testing.T) {
	secret, ts, body := []byte("whsec_test"), "1750000000", []byte(`{"event":"message.created","text":"¡hola! 🎉"}`)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	require.Equal(t, want, apichannel.Sign(secret, ts, body))
	require.True(t, apichannel.Verify(secret, ts, body, want))
	require.False(t, apichannel.Verify(secret, "1750000001", body, want), "the timestamp is signed")
	require.False(t, apichannel.Verify([]byte("whsec_other"), ts, body, want))
	require.False(t, apichannel.Verify(secret, ts, append(body, ' '), want))
}

// The default client refuses loopback and private addresses at dial time
// (so a name resolving to one is refused too), as a permanent error the
// account's health calls error; AllowPrivate lets them through.
func TestClientRefusesNonPublicAddresses(t *testing.T) {
	t.Parallel()
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { calls++ }))
	t.Cleanup(srv.Close)
	acct := engine.ChannelAccount{Channel: engine.ChannelAPI, AccountID: "api_1", AppSecret: "s", WebhookURL: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	err := apichannel.NewClient(apichannel.ClientConfig{}).Ping(ctx, acct)
	var se *ports.SendError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, apichannel.CodeBlockedAddress, se.Code)
	require.False(t, se.Temporary)
	require.Equal(t, engine.HealthError, apichannel.HealthOf(err).State)
	localhost := acct
	localhost.WebhookURL = "http://localhost:" + srv.URL[len("http://127.0.0.1:"):]
	err = apichannel.NewClient(apichannel.ClientConfig{}).Ping(ctx, localhost)
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, apichannel.CodeBlockedAddress, se.Code, "a name resolving to loopback")
	_, _, err = apichannel.NewClient(apichannel.ClientConfig{}).Download(ctx, srv.URL+"/f")
	require.ErrorContains(t, err, "loopback")
	require.Zero(t, calls)

	require.NoError(t, apichannel.NewClient(apichannel.ClientConfig{AllowPrivate: true}).Ping(ctx, acct))
	require.Equal(t, 1, calls)

	for _, a := range []string{"10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "100.64.0.1", "::1", "fd00::1", "fe80::1", "0.0.0.0", "::ffff:127.0.0.1"} {
		require.False(t, apichannel.PublicAddr(netip.MustParseAddr(a)), a)
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "2606:4700::1111"} {
		require.True(t, apichannel.PublicAddr(netip.MustParseAddr(a)), a)
	}
}

// A webhook's answer is classified for the courier: 2xx delivered; 408,
// 429 and 5xx temporary (retried); a redirect is not followed (the signed
// body stays where it was sent) and, like 4xx, is permanent.
func TestDeliverClassifiesAnswers(t *testing.T) {
	t.Parallel()
	status := http.StatusOK
	elsewhere := 0
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere++ }))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if status == http.StatusTemporaryRedirect {
			w.Header().Set("Location", other.URL)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	c := apichannel.NewClient(apichannel.ClientConfig{AllowPrivate: true})
	acct := engine.ChannelAccount{Channel: engine.ChannelAPI, AccountID: "api_1", AppSecret: "s", WebhookURL: srv.URL}
	for _, tc := range []struct {
		status    int
		ok        bool
		temporary bool
	}{{200, true, false}, {204, true, false}, {500, false, true}, {503, false, true}, {429, false, true}, {408, false, true},
		{400, false, false}, {401, false, false}, {404, false, false}, {http.StatusTemporaryRedirect, false, false}} {
		status = tc.status
		err := c.Deliver(context.Background(), acct, "m1", apichannel.Delivery{Event: apichannel.EventMessageCreated, AccountID: "api_1"})
		if tc.ok {
			require.NoError(t, err, tc.status)
			continue
		}
		var se *ports.SendError
		require.True(t, errors.As(err, &se), "%d: %v", tc.status, err)
		require.Equal(t, tc.temporary, se.Temporary, tc.status)
		require.Contains(t, se.Reason, "HTTP")
	}
	require.Zero(t, elsewhere, "a redirect is not followed")
}
