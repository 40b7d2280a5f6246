package meta_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// CheckAccount reads the account's own node with its token, on the
// channel's host, with few fields.
func TestCheckAccountRequests(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ch        engine.Channel
		wantPath  string
		wantQuery string
	}{
		{engine.ChannelWhatsApp, "/v25.0/106540352242922", "fields=id,display_phone_number,verified_name"},
		{engine.ChannelMessenger, "/v25.0/106540352242922", "fields=id,name"},
		{engine.ChannelInstagram, "/ig/v25.0/106540352242922", "fields=id,username"},
	} {
		client, got := profileServer(t, http.StatusOK, `{"id":"106540352242922","name":"x"}`)
		require.NoError(t, client.CheckAccount(context.Background(), tc.ch, "106540352242922", "tok"))
		require.Equal(t, [3]string{tc.wantPath, tc.wantQuery, "Bearer tok"}, *got, tc.ch)
		require.Equal(t, engine.HealthResult{State: engine.HealthConnected}, meta.HealthOf(nil))
	}
}

// Each documented Graph answer gets its health state, reason and code.
func TestHealthOfGraphAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		want       engine.HealthState
		wantCode   string
		wantReason string
	}{
		{"success", 200, `{"id":"1","display_phone_number":"+1 555","verified_name":"Shop"}`, engine.HealthConnected, "", ""},
		{"token expired", 400, `{"error":{"message":"Error validating access token: Session has expired on Friday, 05-Dec-25 10:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC"}}`,
			engine.HealthExpired, "190", "Access token expired or invalid (Error validating access token: Session has expired on Friday, 05-Dec-25 10:00:00 PST.)"},
		{"token invalid", 401, `{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}`,
			engine.HealthExpired, "190", "Access token expired or invalid (Invalid OAuth access token - Cannot parse access token)"},
		{"session invalid", 400, `{"error":{"message":"Session key invalid or no longer valid","type":"OAuthException","code":102,"fbtrace_id":"AbC"}}`,
			engine.HealthExpired, "102", "API session invalid (Session key invalid or no longer valid)"},
		{"permission revoked", 403, `{"error":{"message":"(#10) Application does not have permission for this action","type":"OAuthException","code":10,"fbtrace_id":"AbC"}}`,
			engine.HealthError, "10", "Permission denied (Application does not have permission for this action)"},
		{"permission missing", 403, `{"error":{"message":"(#200) Requires pages_messaging permission","type":"OAuthException","code":200,"fbtrace_id":"AbC"}}`,
			engine.HealthError, "200", "Permission not granted (Requires pages_messaging permission)"},
		{"unknown id", 400, `{"error":{"message":"Unsupported get request. Object with ID '1' does not exist","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"AbC"}}`,
			engine.HealthError, "100", "Invalid parameter (Unsupported get request. Object with ID '1' does not exist)"},
		{"meta down, no body", 503, `<html>Service Unavailable</html>`, engine.HealthUnreachable, "http_503", "Meta answered HTTP 503 Service Unavailable"},
		{"meta temporary code", 500, `{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1,"fbtrace_id":"AbC"}}`,
			engine.HealthUnreachable, "1", "Unknown error at Meta (An unknown error has occurred.)"},
		{"rate limited", 400, `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"fbtrace_id":"AbC"}}`,
			engine.HealthUnreachable, "4", "App API call rate limit reached (Application request limit reached)"},
		{"page rate limited", 400, `{"error":{"message":"(#32) Page request limit reached","type":"OAuthException","code":32,"fbtrace_id":"AbC"}}`,
			engine.HealthUnreachable, "32", "Page request limit reached"},
		{"success without an id", 200, `{"data":[]}`, engine.HealthError, meta.CodeBadResponse, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, _ := profileServer(t, tc.status, tc.body)
			r := meta.HealthOf(client.CheckAccount(context.Background(), engine.ChannelWhatsApp, "1", "tok"))
			require.Equal(t, tc.want, r.State)
			require.Equal(t, tc.wantCode, r.Code)
			if tc.wantReason != "" {
				require.Equal(t, tc.wantReason, r.Reason)
			}
			if tc.want != engine.HealthConnected {
				require.NotEmpty(t, r.Reason)
			}
		})
	}
}

// A Graph API that does not answer in time, or cannot be reached, is
// unreachable.
func TestHealthOfTransport(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	client := meta.NewClient(meta.ClientConfig{BaseURL: slow.URL, HTTP: slow.Client()})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := meta.HealthOf(client.CheckAccount(ctx, engine.ChannelMessenger, "PAGE", "tok"))
	require.Equal(t, engine.HealthUnreachable, r.State)
	require.Equal(t, meta.CodeTimeout, r.Code)

	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	client = meta.NewClient(meta.ClientConfig{BaseURL: url})
	r = meta.HealthOf(client.CheckAccount(context.Background(), engine.ChannelWhatsApp, "1", "tok"))
	require.Equal(t, engine.HealthUnreachable, r.State)
	require.Equal(t, meta.CodeNetwork, r.Code)
}

// Of a send's errors, only those about the account itself set its
// health; a success means connected.
func TestSendHealth(t *testing.T) {
	t.Parallel()
	send := func(status int, body string) error {
		client, _ := profileServer(t, status, body)
		_, err := client.SendMessenger(context.Background(), "PAGE", "tok", "PSID", engine.Content{Kind: engine.KindText, Text: "hi"}, "", nil)
		return err
	}
	r, ok := meta.SendHealth(nil)
	require.True(t, ok)
	require.Equal(t, engine.HealthConnected, r.State)

	r, ok = meta.SendHealth(send(400, `{"error":{"message":"Error validating access token: The user has not authorized application 1.","type":"OAuthException","code":190,"error_subcode":458,"fbtrace_id":"AbC"}}`))
	require.True(t, ok)
	require.Equal(t, engine.HealthExpired, r.State)
	require.Equal(t, "190", r.Code)

	r, ok = meta.SendHealth(send(400, `{"error":{"message":"(#131031) Business Account locked","type":"OAuthException","code":131031,"fbtrace_id":"AbC"}}`))
	require.True(t, ok)
	require.Equal(t, engine.HealthError, r.State)

	for _, body := range []string{
		`{"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2018278,"fbtrace_id":"AbC"}}`,
		`{"error":{"message":"(#551) This person isn't available right now.","type":"OAuthException","code":551,"error_subcode":1545041,"fbtrace_id":"AbC"}}`,
		`{"error":{"message":"(#100) No matching user found","type":"OAuthException","code":100,"error_subcode":2018001,"fbtrace_id":"AbC"}}`,
	} {
		_, ok = meta.SendHealth(send(400, body))
		require.False(t, ok, "a refusal of one message or recipient says nothing of the account: %s", body)
	}
	_, ok = meta.SendHealth(send(502, `bad gateway`))
	require.False(t, ok, "a passing failure is left to a check")
	_, ok = meta.SendHealth(errors.New("dial tcp: connection refused"))
	require.False(t, ok)
}
