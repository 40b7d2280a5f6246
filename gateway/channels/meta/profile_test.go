package meta_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// profileServer answers every request with status and body and records
// the last request's path, query and Authorization header.
func profileServer(t *testing.T, status int, body string) (*meta.Client, *[3]string) {
	t.Helper()
	var got [3]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = [3]string{r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization")}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return meta.NewClient(meta.ClientConfig{BaseURL: srv.URL, InstagramBaseURL: srv.URL + "/ig", HTTP: srv.Client()}), &got
}

func TestFetchProfileMessenger(t *testing.T) {
	t.Parallel()
	cl, got := profileServer(t, 200, `{"first_name":"Peter","last_name":"Chang","profile_pic":"https://platform-lookaside.fbsbx.com/p.jpg","id":"24681357"}`)
	p, err := cl.FetchProfile(t.Context(), engine.ChannelMessenger, "EAApage", "24681357")
	require.NoError(t, err)
	require.Equal(t, meta.Profile{FirstName: "Peter", LastName: "Chang", ProfilePic: "https://platform-lookaside.fbsbx.com/p.jpg"}, p)
	require.Equal(t, "Peter Chang", p.DisplayName())
	require.Equal(t, [3]string{"/v25.0/24681357", "fields=first_name,last_name,profile_pic", "Bearer EAApage"}, *got)
}

func TestFetchProfileInstagram(t *testing.T) {
	t.Parallel()
	cl, got := profileServer(t, 200, `{"name":"Peter Chang","username":"peter_chang_ig","profile_pic":"https://scontent.cdninstagram.com/p.jpg","id":"1357"}`)
	p, err := cl.FetchProfile(t.Context(), engine.ChannelInstagram, "IGtoken", "1357")
	require.NoError(t, err)
	require.Equal(t, "Peter Chang", p.DisplayName())
	require.Equal(t, [3]string{"/ig/v25.0/1357", "fields=name,username,profile_pic", "Bearer IGtoken"}, *got)

	// name can be null (not set): the username stands in.
	cl, _ = profileServer(t, 200, `{"name":null,"username":"peter_chang_ig","profile_pic":null,"id":"1357"}`)
	p, err = cl.FetchProfile(t.Context(), engine.ChannelInstagram, "IGtoken", "1357")
	require.NoError(t, err)
	require.Equal(t, "peter_chang_ig", p.DisplayName())
}

func TestParseProfileCleansNames(t *testing.T) {
	t.Parallel()
	p, err := meta.ParseProfile(engine.ChannelMessenger, []byte(`{"first_name":"  Ana\nMar\u00eda\u0000 ","last_name":"`+strings.Repeat("é", 200)+`"}`))
	require.NoError(t, err)
	require.Equal(t, "Ana María", p.FirstName)
	require.LessOrEqual(t, len(p.DisplayName()), 256)
	require.True(t, strings.HasPrefix(p.DisplayName(), "Ana María éé"))

	p, err = meta.ParseProfile(engine.ChannelMessenger, []byte(`{"id":"1"}`))
	require.NoError(t, err)
	require.Empty(t, p.DisplayName())

	_, err = meta.ParseProfile(engine.ChannelInstagram, []byte(`{"name":42}`))
	require.ErrorIs(t, err, meta.ErrBadResponse)
	_, err = meta.ParseProfile(engine.ChannelWhatsApp, []byte(`{}`))
	require.Error(t, err)
}

func TestFetchProfileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   meta.ProfileError
	}{
		{"token expired", 400, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A1"}}`, meta.ProfilePermanent},
		{"no user consent", 400, `{"error":{"message":"User consent is required to access user profile","type":"IGApiException","code":230,"fbtrace_id":"A2"}}`, meta.ProfilePermanent},
		{"permission", 403, `{"error":{"message":"(#10) Requires pages_messaging permission","type":"OAuthException","code":10}}`, meta.ProfilePermanent},
		{"unknown user", 400, `{"error":{"message":"Unsupported get request. Object with ID '1' does not exist","type":"GraphMethodException","code":100,"error_subcode":33}}`, meta.ProfilePermanent},
		{"app rate limit", 400, `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"is_transient":true}}`, meta.ProfileRateLimited},
		{"call rate limit", 400, `{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613}}`, meta.ProfileRateLimited},
		{"too many requests", 429, `slow down`, meta.ProfileRateLimited},
		{"service unavailable", 503, `{"error":{"message":"Service temporarily unavailable","type":"OAuthException","code":2,"is_transient":true}}`, meta.ProfileTemporary},
		{"bad success", 200, `[1,2]`, meta.ProfilePermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl, _ := profileServer(t, tc.status, tc.body)
			_, err := cl.FetchProfile(t.Context(), engine.ChannelMessenger, "tok", "1")
			require.Error(t, err)
			require.Equal(t, tc.want, meta.ProfileErrorKind(err), "%v", err)
		})
	}
	cl, _ := profileServer(t, 200, `{}`)
	_, err := cl.FetchProfile(t.Context(), engine.ChannelWhatsApp, "tok", "1")
	require.Error(t, err)
	_, err = cl.FetchProfile(t.Context(), engine.ChannelMessenger, "tok", "")
	require.Error(t, err)
	require.Equal(t, meta.ProfileTemporary, meta.ProfileErrorKind(errors.New("connection refused")))
}

func FuzzParseProfile(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"first_name":"A","last_name":"B"}`, `{"name":null,"username":"u"}`,
		`{"name":"\ud800\u0007x"}`, `{"first_name":1}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, instagram bool) {
		ch := engine.ChannelMessenger
		if instagram {
			ch = engine.ChannelInstagram
		}
		p, err := meta.ParseProfile(ch, body)
		if err != nil {
			if !errors.Is(err, meta.ErrBadResponse) {
				t.Fatalf("error does not wrap ErrBadResponse: %v", err)
			}
			return
		}
		// Whatever Meta sends, the name fits a contact name.
		in := engine.Inbound{WorkspaceID: engine.ID{1}, Channel: ch, ChannelAccountID: "a", ExternalUserID: "u",
			ChannelMessageID: "m", ContactName: p.DisplayName(), Content: engine.Content{Kind: engine.KindText, Text: "x"}}
		if err := in.Validate(); err != nil {
			t.Fatalf("display name %q: %v", p.DisplayName(), err)
		}
		if strings.TrimSpace(p.DisplayName()) != p.DisplayName() {
			t.Fatalf("display name %q not trimmed", p.DisplayName())
		}
	})
}
