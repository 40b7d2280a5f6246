package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// profileEnv is an env whose runtime runs on a fake clock and whose
// gateway registers its metrics in reg; profiles answers the Graph user
// profile calls by user id (a missing id answers with no name).
func profileEnv(t *testing.T, profiles func(user string) (int, string)) (*env, *clockwork.FakeClock, *prometheus.Registry) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) { c.Clock = clock }, func(c *gateway.Config) { c.Registerer = reg })
	e.graph.mu.Lock()
	e.graph.profile = func(r graphReq) (int, string) {
		return profiles(r.Path[strings.LastIndex(r.Path, "/")+1:])
	}
	e.graph.mu.Unlock()
	return e, clock, reg
}

func messengerText(mid, psid, text string) string {
	return fmt.Sprintf(`{"object":"page","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"%s"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"%s","text":"%s"}}]}]}`,
		pageID, psid, pageID, mid, text)
}

func instagramText(mid, igsid, text string) string {
	return fmt.Sprintf(`{"object":"instagram","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"%s"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"%s","text":"%s"}}]}]}`,
		igID, igsid, igID, mid, text)
}

// say posts one inbound message and returns its conversation.
func (e *env) say(ch engine.Channel, mid, user string) engine.ID {
	e.t.Helper()
	account, payload := pageID, messengerText(mid, user, "hello")
	if ch == engine.ChannelInstagram {
		account, payload = igID, instagramText(mid, user, "hello")
	}
	code, body := e.webhook(ch, payload)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return e.thread(ch, account, user)
}

// profileCalls returns the user profile calls the fake Graph API got.
func (e *env) profileCalls() []graphReq {
	e.graph.mu.Lock()
	defer e.graph.mu.Unlock()
	var out []graphReq
	for _, r := range e.graph.reqs {
		if strings.HasPrefix(r.Query, "fields=") {
			out = append(out, r)
		}
	}
	return out
}

// waitLookups waits until parley_profile_lookups_total{result} reaches n.
func waitLookups(t *testing.T, reg *prometheus.Registry, result string, n float64) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if got := counterSum(t, reg, "parley_profile_lookups_total", "result", result); got != n {
			return fmt.Errorf("%s lookups: %v, want %v", result, got, n)
		}
		return nil
	})
}

// listName returns the contact_name of conv's row in the inbox list.
func (e *env) listName(conv engine.ID) string {
	e.t.Helper()
	for _, c := range e.list("").Conversations {
		if c.ID == conv {
			return c.ContactName
		}
	}
	e.t.Fatalf("conversation %s not listed", conv)
	return ""
}

// A Messenger sender unknown to Parley is named from the User Profile
// API: one call, with the Page's token, then the list row and the contact
// carry "First Last"; the next messages cost no call.
func TestMessengerSenderNamedFromProfile(t *testing.T) {
	t.Parallel()
	e, _, reg := profileEnv(t, func(user string) (int, string) {
		if user == "PSID_PETER" {
			return 200, `{"first_name":"Peter","last_name":"Chang","profile_pic":"https://platform-lookaside.fbsbx.com/p.jpg","id":"PSID_PETER"}`
		}
		return 200, `{"id":"` + user + `"}`
	})
	conv := e.say(engine.ChannelMessenger, "m_p_1", "PSID_PETER")
	e.waitConv(conv, "named from the profile", func(c engine.Conversation) bool { return c.ContactName == "Peter Chang" })
	require.Equal(t, "Peter Chang", e.listName(conv))
	require.Equal(t, "Peter Chang", e.contactDetail(e.conv(conv).ContactID).Profile.Name)
	calls := e.profileCalls()
	require.Len(t, calls, 1)
	require.Equal(t, "/v25.0/PSID_PETER", calls[0].Path)
	require.Equal(t, "fields=first_name,last_name,profile_pic", calls[0].Query)
	require.Equal(t, "Bearer tok-"+pageID, calls[0].Auth)
	require.Equal(t, 1.0, counterSum(t, reg, "parley_profile_lookups_total", "result", "found"))

	e.say(engine.ChannelMessenger, "m_p_2", "PSID_PETER")
	require.Len(t, e.profileCalls(), 1, "a named sender costs no call")

	// A sender whose profile has no name is asked once per TTL, however
	// much they write.
	quiet := e.say(engine.ChannelMessenger, "m_q_1", "PSID_QUIET")
	waitLookups(t, reg, "no_name", 1)
	for i := range 3 {
		e.say(engine.ChannelMessenger, fmt.Sprintf("m_q_%d", i+2), "PSID_QUIET")
	}
	require.Len(t, e.profileCalls(), 2)
	require.Empty(t, e.conv(quiet).ContactName)
}

// A named sender's next conversation (the old one deleted) takes the name
// from its contact, with no Graph call; a sender whose profile has no name
// is answered from the cache until the TTL, then asked again.
func TestProfileCacheAndTTL(t *testing.T) {
	t.Parallel()
	e, clock, reg := profileEnv(t, func(user string) (int, string) {
		if user == "IGSID_ANA" {
			return 200, `{"name":"Ana Lima","username":"ana.lima","id":"` + user + `"}`
		}
		return 200, `{"name":null,"username":null,"id":"` + user + `"}`
	})
	conv := e.say(engine.ChannelInstagram, "ig_a_1", "IGSID_ANA")
	e.waitConv(conv, "named", func(c engine.Conversation) bool { return c.ContactName == "Ana Lima" })
	code, body := e.api("DELETE", "/api/v1/conversations/"+conv.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	again := e.say(engine.ChannelInstagram, "ig_a_2", "IGSID_ANA")
	require.NotEqual(t, conv, again)
	require.Equal(t, "Ana Lima", e.conv(again).ContactName, "the contact keeps its name")
	require.Len(t, e.profileCalls(), 1)

	// Two conversations of a nameless sender: the second asks the cache.
	q1 := e.say(engine.ChannelInstagram, "ig_q_1", "IGSID_QUIET")
	waitLookups(t, reg, "no_name", 1)
	code, body = e.api("DELETE", "/api/v1/conversations/"+q1.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	e.say(engine.ChannelInstagram, "ig_q_2", "IGSID_QUIET")
	require.Len(t, e.profileCalls(), 2, "a cached answer costs no call")

	clock.Advance(channels.DefaultProfileTTL + time.Second)
	e.say(engine.ChannelInstagram, "ig_q_3", "IGSID_QUIET")
	waitLookups(t, reg, "no_name", 2)
	require.Len(t, e.profileCalls(), 3, "an expired answer is asked for again")
}

// Instagram's User Profile API is asked on the Instagram host for name and
// username; a sender without a name gets their username.
func TestInstagramSenderNamedFromProfile(t *testing.T) {
	t.Parallel()
	e, _, _ := profileEnv(t, func(user string) (int, string) {
		switch user {
		case "IGSID_NAMED":
			return 200, `{"name":"Peter Chang","username":"peter_chang_ig","profile_pic":"https://scontent.cdninstagram.com/p.jpg","id":"IGSID_NAMED"}`
		default:
			return 200, `{"name":null,"username":"only_handle","profile_pic":null,"id":"` + user + `"}`
		}
	})
	named := e.say(engine.ChannelInstagram, "ig_n_1", "IGSID_NAMED")
	handle := e.say(engine.ChannelInstagram, "ig_h_1", "IGSID_HANDLE")
	e.waitConv(named, "named", func(c engine.Conversation) bool { return c.ContactName == "Peter Chang" })
	e.waitConv(handle, "named by username", func(c engine.Conversation) bool { return c.ContactName == "only_handle" })
	require.Equal(t, "Peter Chang", e.listName(named))
	require.Equal(t, "only_handle", e.listName(handle))
	require.Equal(t, "only_handle", e.contactDetail(e.conv(handle).ContactID).Profile.Name)
	for _, c := range e.profileCalls() {
		require.Equal(t, "fields=name,username,profile_pic", c.Query)
		require.Equal(t, "Bearer tok-"+igID, c.Auth)
		require.True(t, strings.HasPrefix(c.Path, "/v25.0/IGSID_"), c.Path)
	}
	require.Len(t, e.profileCalls(), 2)
}

// Errors: an expired token leaves the sender unnamed and pauses the
// account (another sender costs no call either); no consent is cached
// for that user only; a transient failure is retried after its backoff;
// a rate limit pauses the account. No message waits for any of it.
func TestProfileErrors(t *testing.T) {
	t.Parallel()
	var transientLeft atomic.Int32
	transientLeft.Store(1)
	e, clock, reg := profileEnv(t, func(user string) (int, string) {
		switch user {
		case "PSID_TOKEN":
			return 400, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC"}}`
		case "IGSID_NOCONSENT":
			return 400, `{"error":{"message":"User consent is required to access user profile","type":"IGApiException","code":230,"fbtrace_id":"AbD"}}`
		case "IGSID_FLAKY":
			if transientLeft.Add(-1) >= 0 {
				return 503, `{"error":{"message":"Service temporarily unavailable","type":"OAuthException","code":2,"is_transient":true}}`
			}
			return 200, `{"name":"Flaky Finn","id":"IGSID_FLAKY"}`
		case "IGSID_BUSY":
			return 400, `{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613}}`
		}
		return 200, `{"first_name":"Later","last_name":"Lou","name":"Later Lou","id":"` + user + `"}`
	})

	// 190: unnamed, cached, and the Page asks nothing more for a while.
	tok := e.say(engine.ChannelMessenger, "m_t_1", "PSID_TOKEN")
	waitLookups(t, reg, "denied", 1)
	e.say(engine.ChannelMessenger, "m_t_2", "PSID_TOKEN")
	other := e.say(engine.ChannelMessenger, "m_o_1", "PSID_OTHER")
	require.Len(t, e.profileCalls(), 1)
	require.Empty(t, e.conv(tok).ContactName)
	require.Empty(t, e.conv(other).ContactName)

	// No consent (230): cached for that user; the account goes on.
	nc := e.say(engine.ChannelInstagram, "ig_nc_1", "IGSID_NOCONSENT")
	waitLookups(t, reg, "denied", 2)
	e.say(engine.ChannelInstagram, "ig_nc_2", "IGSID_NOCONSENT")
	require.Len(t, e.profileCalls(), 2)
	require.Empty(t, e.conv(nc).ContactName)

	// Transient (code 2, HTTP 503): no retry before the backoff, then one.
	flaky := e.say(engine.ChannelInstagram, "ig_f_1", "IGSID_FLAKY")
	waitLookups(t, reg, "failed", 1)
	e.say(engine.ChannelInstagram, "ig_f_2", "IGSID_FLAKY")
	require.Len(t, e.profileCalls(), 3)
	clock.Advance(time.Minute + time.Second)
	e.say(engine.ChannelInstagram, "ig_f_3", "IGSID_FLAKY")
	e.waitConv(flaky, "named after the retry", func(c engine.Conversation) bool { return c.ContactName == "Flaky Finn" })
	require.Len(t, e.profileCalls(), 4)

	// Rate limit (613): the account pauses, then asks again.
	e.say(engine.ChannelInstagram, "ig_b_1", "IGSID_BUSY")
	waitLookups(t, reg, "rate_limited", 1)
	later := e.say(engine.ChannelInstagram, "ig_l_1", "IGSID_LATER")
	require.Len(t, e.profileCalls(), 5)
	clock.Advance(5*time.Minute + time.Second)
	e.say(engine.ChannelInstagram, "ig_l_2", "IGSID_LATER")
	e.waitConv(later, "named after the pause", func(c engine.Conversation) bool { return c.ContactName == "Later Lou" })
	require.Len(t, e.profileCalls(), 6)

	// The token's pause ends too: the Page's other sender is asked.
	clock.Advance(time.Hour)
	e.say(engine.ChannelMessenger, "m_o_2", "PSID_OTHER")
	e.waitConv(other, "named after the token pause", func(c engine.Conversation) bool { return c.ContactName == "Later Lou" })
	require.Len(t, e.profileCalls(), 7)
}

// A person's name for the contact is kept: a profile answer arriving
// after the contact was renamed changes neither the contact nor its
// conversation, which shows the contact's name.
func TestProfileKeepsAPersonsName(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	e, _, reg := profileEnv(t, func(user string) (int, string) {
		<-release
		return 200, `{"first_name":"Peter","last_name":"Chang","id":"` + user + `"}`
	})
	conv := e.say(engine.ChannelMessenger, "m_k_1", "PSID_KEEP")
	eventually(t, 5*time.Second, func() error {
		if len(e.profileCalls()) == 0 {
			return fmt.Errorf("no profile call yet")
		}
		return nil
	})
	contact := e.conv(conv).ContactID
	code, body := e.api("PATCH", "/api/v1/contacts/"+contact.String(), ownerToken, map[string]any{"name": "VIP Customer"})
	require.Equal(t, http.StatusOK, code, string(body))
	close(release)
	waitLookups(t, reg, "found", 1)
	e.waitConv(conv, "showing the person's name", func(c engine.Conversation) bool { return c.ContactName == "VIP Customer" })
	require.Equal(t, "VIP Customer", e.contactDetail(contact).Profile.Name)
}
