package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

type activityPage struct {
	Activity   []activityItem `json:"activity"`
	NextBefore string         `json:"next_before"`
}

type filesPage struct {
	Files      []contactFile `json:"files"`
	NextBefore string        `json:"next_before"`
}

// pages reads every page of path (…/activity or …/files) with limit and
// returns each page's length and the items' descriptions in order.
func pages[T any](e *env, path string, limit int, items func(T) ([]string, string)) (sizes []int, all []string) {
	e.t.Helper()
	before := ""
	for range 1000 {
		code, body := e.api("GET", fmt.Sprintf("%s?limit=%d&before=%s", path, limit, url.QueryEscape(before)), ownerToken, nil)
		require.Equal(e.t, http.StatusOK, code, string(body))
		got, next := items(decodeAs[T](e.t, body))
		sizes = append(sizes, len(got))
		all = append(all, got...)
		if before = next; before == "" {
			return sizes, all
		}
	}
	e.t.Fatal("the pages never end")
	return nil, nil
}

// A contact's whole activity and files come a page at a time through
// the before cursor: every item once, newest first, past the detail's
// bound of 100, notes with their html; bad cursors and limits are 400s.
func TestContactActivityAndFilesPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	conv, ana := e.waContact("wamid.tl.1", "15550707", "Ana")
	const notes = 55
	for i := range notes {
		code, body := e.api("POST", "/api/v1/contacts/"+ana.String()+"/notes", ownerToken, map[string]string{"text": fmt.Sprintf("note **%d**", i)})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	for _, f := range []string{"solved", "open", "archived"} {
		code, body := e.api("POST", "/api/v1/conversations/"+conv.String()+"/folder", ownerToken, map[string]string{"folder": f})
		require.Equal(t, http.StatusOK, code, string(body))
	}
	for i := range 3 {
		code, body := e.upload("/api/v1/conversations/"+conv.String()+"/messages", "file", fmt.Sprintf("doc-%d.pdf", i), "application/pdf", fmt.Appendf(nil, "%%PDF %d", i), nil)
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	want := notes + 1 + 3 + 3 // notes, the conversation, folder changes, files
	require.Len(t, e.contactDetail(ana).Activity, 50+7, "the detail holds the newest 50 notes")

	path := "/api/v1/contacts/" + ana.String() + "/activity"
	var last time.Time
	sizes, all := pages(e, path, 7, func(p activityPage) ([]string, string) {
		var out []string
		for _, a := range p.Activity {
			if !last.IsZero() {
				require.False(t, a.At.After(last), "newest first across pages")
			}
			last = a.At
			switch a.Type {
			case "note":
				require.NotNil(t, a.Note)
				require.Contains(t, a.Note.HTML, "<strong>", "a note has its html")
				out = append(out, "note "+a.Note.ID.String())
			case "file":
				out = append(out, "file "+a.File.Filename)
			case "folder.changed":
				out = append(out, "folder "+a.Folder)
			default:
				out = append(out, a.Type+" "+a.ConversationID)
			}
		}
		return out, p.NextBefore
	})
	require.Len(t, all, want, "every item")
	seen := map[string]bool{}
	for _, s := range all {
		require.False(t, seen[s], "%s twice", s)
		seen[s] = true
	}
	for i, n := range sizes[:len(sizes)-1] {
		require.Equal(t, 7, n, "page %d is full", i)
	}
	require.True(t, seen["conversation.created "+conv.String()], "the oldest item")
	require.True(t, seen["folder archived"])
	one := func(p activityPage) ([]string, string) {
		var out []string
		for _, a := range p.Activity {
			out = append(out, a.Type+a.At.String())
		}
		return out, p.NextBefore
	}
	_, big := pages(e, path, 100, one)
	require.Len(t, big, want, "the same with pages of 100")

	_, files := pages(e, "/api/v1/contacts/"+ana.String()+"/files", 2, func(p filesPage) ([]string, string) {
		var out []string
		for _, f := range p.Files {
			require.Equal(t, conv.String(), f.ConversationID)
			out = append(out, f.Filename)
		}
		return out, p.NextBefore
	})
	require.Equal(t, []string{"doc-2.pdf", "doc-1.pdf", "doc-0.pdf"}, files, "newest first")

	// Bad queries: 400 with the error, an unknown contact 404.
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "before=nope", "before=" + url.QueryEscape("MTIz"), "before=LTF8YQ"} {
		for _, what := range []string{"activity", "files"} {
			code, body := e.api("GET", "/api/v1/contacts/"+ana.String()+"/"+what+"?"+q, ownerToken, nil)
			require.Equal(t, http.StatusBadRequest, code, "%s?%s: %s", what, q, body)
			require.Equal(t, "bad_query", errorCode(t, body))
		}
	}
	for _, id := range []string{engine.NewID(time.Now()).String(), "nope"} {
		code, body := e.api("GET", "/api/v1/contacts/"+id+"/activity", ownerToken, nil)
		require.Equal(t, http.StatusNotFound, code, string(body))
		errorCode(t, body)
	}
	e.newWorkspace("tok-other-ws")
	code, body := e.api("GET", path, "tok-other-ws", nil)
	require.Equal(t, http.StatusNotFound, code, "another workspace's contact: %s", body)
}

// The list's contacts carry what their conversations say: the latest
// activity and their tags (each once, sorted), in a search too; a
// contact without conversations has neither.
func TestContactListCarriesActivityAndTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	convA, ana := e.waContact("wamid.la.1", "15550808", "Ana Tagged")
	code, body := e.webhook(engine.ChannelInstagram, fmt.Sprintf(`{"object":"instagram","entry":[{"id":"%s","time":1750000000000,"messaging":[{"sender":{"id":"IGSID_LA"},"recipient":{"id":"%s"},"timestamp":1750000000000,"message":{"mid":"ig_la_1","text":"hi"}}]}]}`, igID, igID))
	require.Equal(t, http.StatusOK, code, string(body))
	convB := e.thread(engine.ChannelInstagram, igID, "IGSID_LA")
	code, body = e.api("POST", "/api/v1/contacts/"+ana.String()+"/merge", ownerToken, map[string]string{"from": e.conv(convB).ContactID.String()})
	require.Equal(t, http.StatusOK, code, string(body))
	for _, tag := range [][2]string{{convA.String(), "vip"}, {convB.String(), "billing"}, {convB.String(), "vip"}} {
		code, body := e.api("PUT", "/api/v1/conversations/"+tag[0]+"/tags/"+tag[1], ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
	}
	lone := e.createContact(ownerToken, map[string]any{"name": "Ana Alone"})
	latest := e.conv(convA).LastActivityAt
	if b := e.conv(convB).LastActivityAt; b.After(latest) {
		latest = b
	}
	type item struct {
		ID             engine.ID `json:"id"`
		LastActivityAt time.Time `json:"last_activity_at"`
		Tags           []string  `json:"tags"`
	}
	for _, q := range []string{"limit=10", "q=ana"} {
		code, body := e.api("GET", "/api/v1/contacts?"+q, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		got := map[engine.ID]item{}
		for _, it := range decodeAs[struct{ Contacts []item }](t, body).Contacts {
			got[it.ID] = it
		}
		require.Contains(t, got, ana, q)
		require.Equal(t, []string{"billing", "vip"}, got[ana].Tags, q)
		require.True(t, got[ana].LastActivityAt.Equal(latest), "%s: %v, want %v", q, got[ana].LastActivityAt, latest)
		require.Contains(t, got, lone.ID, q)
		require.Empty(t, got[lone.ID].Tags, q)
		require.True(t, got[lone.ID].LastActivityAt.IsZero(), q)
		require.NotContains(t, string(body), `"last_activity_at":"0001`, "no zero time")
	}
}
