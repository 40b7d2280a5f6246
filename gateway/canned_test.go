package gateway_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/stretchr/testify/require"
)

type cannedPage struct {
	CannedReplies []engine.CannedReply `json:"canned_replies"`
}

func (e *env) cannedReplies(token string) []engine.CannedReply {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/canned-replies", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[cannedPage](e.t, body).CannedReplies
}

// Admins and owners create, change and delete canned replies, every role
// lists them; agents get 403 on changes; a short code is unique per
// workspace (409) and tidied; bad bodies get a 400 JSON error and store
// nothing; another workspace sees none of them and finds none by id.
func TestCannedRepliesAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("canned-agent@example.com", engine.RoleAgent, "canned agent pw 1")
	admin := e.addUser("canned-admin@example.com", engine.RoleAdmin, "canned admin pw 1")
	require.Empty(t, e.cannedReplies(agent.Token))

	code, body := e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]string{
		"short_code": " Hello ", "title": "  Greeting \n  text ", "body": "\r\nHi {{contact.first_name}},\r\nthis is {{agent.name}}.\n"})
	require.Equal(t, http.StatusCreated, code, string(body))
	hello := decodeAs[engine.CannedReply](t, body)
	require.Equal(t, "hello", hello.ShortCode)
	require.Equal(t, "Greeting text", hello.Title)
	require.Equal(t, "Hi {{contact.first_name}},\nthis is {{agent.name}}.", hello.Body)
	require.Equal(t, e.ws, hello.WorkspaceID)
	require.Equal(t, e.ownerID(), hello.CreatedBy)

	code, body = e.api("POST", "/api/v1/canned-replies", admin.Token, map[string]string{"short_code": "bye", "title": "Goodbye", "body": "Bye!"})
	require.Equal(t, http.StatusCreated, code, string(body))
	bye := decodeAs[engine.CannedReply](t, body)

	// Agents use them, and do not manage them.
	require.Equal(t, []string{"bye", "hello"}, shortCodes(e.cannedReplies(agent.Token)))
	code, body = e.api("GET", "/api/v1/canned-replies/"+hello.ID.String(), agent.Token, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, hello, decodeAs[engine.CannedReply](t, body))
	before := e.storeDigest()
	e.callAll([][3]string{
		{"POST", "/api/v1/canned-replies", `{"short_code":"a","title":"a","body":"a"}`},
		{"PATCH", "/api/v1/canned-replies/" + hello.ID.String(), `{"title":"mine"}`},
		{"DELETE", "/api/v1/canned-replies/" + hello.ID.String(), ""},
	}, agent.Token, func(r [3]string, code int, body []byte) {
		require.Equal(t, http.StatusForbidden, code, "%v: %s", r, body)
		require.Equal(t, "forbidden", errorCode(t, body))
	})

	// A short code is unique, case aside, on create and on update.
	code, body = e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]string{"short_code": "HELLO", "title": "t", "body": "b"})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "short_code_taken", errorCode(t, body))
	code, body = e.api("PATCH", "/api/v1/canned-replies/"+bye.ID.String(), ownerToken, map[string]string{"short_code": "Hello"})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "short_code_taken", errorCode(t, body))

	for _, bad := range []string{``, `[`, `null`, `{}`, `{"short_code":"x","title":"t"}`, `{"short_code":"x","title":"t","body":"b","extra":1}`,
		`{"short_code":"two words","title":"t","body":"b"}`, `{"short_code":"/x","title":"t","body":"b"}`, `{"short_code":"","title":"t","body":"b"}`,
		`{"short_code":"` + strings.Repeat("a", engine.MaxCannedShortCodeBytes+1) + `","title":"t","body":"b"}`,
		`{"short_code":"x","title":"   ","body":"b"}`, `{"short_code":"x","title":"t","body":" \n "}`,
		`{"short_code":"x","title":"t","body":"` + strings.Repeat("a", engine.MaxCannedBodyBytes+1) + `"}`,
		`{"short_code":"x","title":"t","body":"bell\u0007"}`, "{\"short_code\":\"x\",\"title\":\"t\",\"body\":\"\xff\"}",
		`{"short_code":5,"title":"t","body":"b"}`, `{"short_code":null,"title":"t","body":"b"}`} {
		code, body = e.api("POST", "/api/v1/canned-replies", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	for _, bad := range []string{`{}`, `{"title":null}`, `{"title":""}`, `{"body":7}`, `{"short_code":"a b"}`, `{"nope":"x"}`} {
		code, body = e.api("PATCH", "/api/v1/canned-replies/"+bye.ID.String(), ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	require.Equal(t, before, e.storeDigest(), "refused requests stored nothing")

	// Another workspace sees none of them, and cannot touch them.
	const otherToken = "pk_test_canned_other"
	e.newWorkspace(otherToken)
	require.Empty(t, e.cannedReplies(otherToken))
	e.callAll([][3]string{
		{"GET", "/api/v1/canned-replies/" + hello.ID.String(), ""},
		{"PATCH", "/api/v1/canned-replies/" + hello.ID.String(), `{"title":"theirs"}`},
		{"DELETE", "/api/v1/canned-replies/" + hello.ID.String(), ""},
	}, otherToken, func(r [3]string, code int, body []byte) {
		require.Equal(t, http.StatusNotFound, code, "%v: %s", r, body)
		require.Equal(t, "not_found", errorCode(t, body))
	})
	// Its own short codes are its own.
	code, body = e.api("POST", "/api/v1/canned-replies", otherToken, map[string]string{"short_code": "hello", "title": "B's", "body": "B"})
	require.Equal(t, http.StatusCreated, code, string(body))

	// Update: the fields given; the same short code is no conflict.
	code, body = e.api("PATCH", "/api/v1/canned-replies/"+bye.ID.String(), admin.Token, map[string]string{"short_code": "bye", "body": "See you {{contact.name}}"})
	require.Equal(t, http.StatusOK, code, string(body))
	got := decodeAs[engine.CannedReply](t, body)
	require.Equal(t, "Goodbye", got.Title)
	require.Equal(t, "See you {{contact.name}}", got.Body)
	require.Equal(t, bye.CreatedAt, got.CreatedAt)
	mine := e.cannedReplies(ownerToken)
	require.Len(t, mine, 2)
	require.Equal(t, got, mine[0])
	require.Equal(t, hello, mine[1], "the other workspace changed nothing here")

	code, _ = e.api("DELETE", "/api/v1/canned-replies/"+hello.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, body = e.api("DELETE", "/api/v1/canned-replies/"+hello.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusNotFound, code, string(body))
	code, body = e.api("GET", "/api/v1/canned-replies/not-an-id", ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code, string(body))
	require.Equal(t, []string{"bye"}, shortCodes(e.cannedReplies(agent.Token)))
	require.Equal(t, []string{"hello"}, shortCodes(e.cannedReplies(otherToken)))

	// They survive a restart (synced to the store, read back).
	e.stop()
	e.start()
	require.Equal(t, []engine.CannedReply{got}, e.cannedReplies(ownerToken))
}

func shortCodes(rs []engine.CannedReply) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ShortCode
	}
	return out
}

// Two admins creating the same short code at once: exactly one is
// stored, every other gets 409 and the list holds one.
//
// Not parallel: it sets the hook that runs between a create's check of
// the short codes and its commit, and widens that window to 20 ms, so
// that without the mutex the creates would all find the code free.
func TestCannedReplyShortCodeRace(t *testing.T) {
	e := newEnv(t, nil)
	var inside, most atomic.Int32
	gateway.SetCannedChecked(t, func() {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		inside.Add(-1)
	})
	const n = 32
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i], _ = e.api("POST", "/api/v1/canned-replies", ownerToken, map[string]string{"short_code": "same", "title": "t", "body": "b"})
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for _, c := range codes {
		if c == http.StatusCreated {
			created++
		} else {
			require.Equal(t, http.StatusConflict, c)
		}
	}
	require.Equal(t, 1, created)
	require.Len(t, e.cannedReplies(ownerToken), 1)
	require.EqualValues(t, 1, most.Load(), "one create at a time between its check and its commit")
}
