package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// notifyRecorder wraps the browser's Notification before the app loads:
// it records each notification shown (title, body, the object, to click
// it) and each permission request, and otherwise leaves the real API to
// do its work. It observes the browser API, not the app.
const notifyRecorder = `(() => {
  const Real = window.Notification;
  window.__notes = [];
  window.__asked = 0;
  class Recorded extends Real {
    constructor(title, opts) {
      super(title, opts);
      window.__notes.push({ title, body: (opts && opts.body) || '', n: this });
    }
    static requestPermission(...a) { window.__asked++; return Real.requestPermission(...a); }
  }
  window.Notification = Recorded;
})();`

// setNotifyPermission sets the page's notification permission as the
// user's choice in the browser would.
func (b *tab) setNotifyPermission(origin string, s cdpbrowser.PermissionSetting) {
	b.t.Helper()
	b.do("notifications "+string(s), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: s, Origin: origin})
		return err
	}))
}

// unreadCount is the open folder's unread count as the API tells it to
// user token.
func (e *env) unreadCount(token string) int64 {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/conversations?limit=1", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[listResp](e.t, body).Counts["unread"]
}

// noteShown is a JS expression: a notification titled title was shown,
// with body.
func noteShown(title, body string) string {
	return fmt.Sprintf(`window.__notes.some((x) => x.title === %s && x.body === %s)`, jsString(title), jsString(body))
}

func TestWebNotifications(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	maria := e.addUser("maria.lopez@example.com", engine.RoleAgent, "correct horse battery")
	bob := e.addUser("bob@example.com", engine.RoleAdmin, "correct horse battery")
	b := newTab(t, browser)
	b.do("record notifications", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: notifyRecorder})
		return err
	}))

	// Not asked on load: the offer waits for a click.
	b.signIn(e.url, maria.Token)
	b.waitJS("the offer to turn notifications on", `document.querySelector('#notify-banner button.link')`)
	require.Equal(t, 0, evalJS[int](b, `window.__asked`), "the permission is not asked on load")
	require.Equal(t, "default", evalJS[string](b, `Notification.permission`))
	require.Equal(t, "Parley inbox", evalJS[string](b, `document.title`), "nothing unread: the plain title")
	b.setNotifyPermission(e.url, cdpbrowser.PermissionSettingGranted) // the user's answer to the prompt
	b.clickJS("turn notifications on", `#notify-banner button.link`)
	b.waitJS("the offer gone once answered", `!document.querySelector('#notify-banner')`)
	require.Equal(t, 1, evalJS[int](b, `window.__asked`), "asked once, on the click")

	for i, w := range widths {
		t.Run(w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			// A new conversation: the title counts it, and it notifies
			// (none is open).
			wa := [2]string{fmt.Sprintf("1555444100%d", i), fmt.Sprintf("1555444200%d", i)}
			names := [2]string{fmt.Sprintf("Ada Notify %d", i), fmt.Sprintf("Bo Notify %d", i)}
			var convs [2]engine.ID
			for j := range wa {
				code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.n%d%d", i, j), wa[j], names[j], "hello from "+names[j]))
				require.Equal(t, http.StatusOK, code, string(body))
				convs[j] = e.thread(engine.ChannelWhatsApp, phoneID, wa[j])
				unread := e.unreadCount(maria.Token)
				require.EqualValues(t, j+1, unread)
				b.waitJS("the title counts the unread", fmt.Sprintf(`document.title === '(%d) Parley inbox'`, unread))
				b.waitJS("a new conversation notifies", noteShown("New conversation: "+names[j], "hello from "+names[j]))
			}

			// Reading one takes it off the count.
			b.openConv(convs[0])
			require.Eventually(t, func() bool { return e.unreadCount(maria.Token) == 1 }, 5e9, 5e7, "read through the UI")
			b.waitJS("the title follows the read", `document.title === '(1) Parley inbox'`)

			// Bob assigns Bo's conversation (not the one open) to Maria.
			seen := evalJS[int](b, `window.__notes.length`)
			code, body := e.api("POST", "/api/v1/conversations/"+convs[1].String()+"/assign", bob.Token, map[string]any{"user_id": maria.User.ID.String()})
			require.Equal(t, http.StatusOK, code, string(body))
			require.Equal(t, maria.User.ID.String(), e.conv(convs[1]).AssigneeID)
			assigned := "Assigned to you: " + names[1]
			b.waitJS("the assignment notifies", noteShown(assigned, "hello from "+names[1]))
			b.waitJS("and shows a toast", fmt.Sprintf(`!document.querySelector('#toast').hidden && document.querySelector('#toast').textContent === %s`, jsString(assigned)))

			// Bob mentions Maria in a note on it.
			text := fmt.Sprintf("@maria.lopez can you take this one? (%d)", i)
			code, body = e.api("POST", "/api/v1/conversations/"+convs[1].String()+"/notes", bob.Token, map[string]string{"text": text})
			require.Equal(t, http.StatusCreated, code, string(body))
			require.Equal(t, []engine.ID{maria.User.ID}, decodeAs[engine.Note](t, body).Mentions)
			mentioned := "User bob@example.com mentioned you in " + names[1]
			b.waitJS("the mention notifies", noteShown(mentioned, text))
			b.waitJS("and shows a toast", fmt.Sprintf(`document.querySelector('#toast').textContent === %s`, jsString(mentioned+": "+text)))
			b.screenshot("notify-toast-" + w.name)

			// An assignment of the conversation in view does not notify.
			code, body = e.api("POST", "/api/v1/conversations/"+convs[0].String()+"/assign", bob.Token, map[string]any{"user_id": maria.User.ID.String()})
			require.Equal(t, http.StatusOK, code, string(body))
			// Later changes to a conversation already mine are no new
			// assignment: a tag, a customer's message.
			code, body = e.api("PUT", "/api/v1/conversations/"+convs[1].String()+"/tags/vip", bob.Token, nil)
			require.Equal(t, http.StatusOK, code, string(body))
			code, body = e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.n%d2", i), wa[1], names[1], "still there?"))
			require.Equal(t, http.StatusOK, code, string(body))

			// A mention on the contact after them, as a marker: once it shows,
			// the assignment before it was applied.
			ct := e.conv(convs[0]).ContactID
			marker := fmt.Sprintf("@maria.lopez marker %d", i)
			code, body = e.api("POST", "/api/v1/contacts/"+ct.String()+"/notes", bob.Token, map[string]string{"text": marker})
			require.Equal(t, http.StatusCreated, code, string(body))
			b.waitJS("the marker mention notifies", noteShown("User bob@example.com mentioned you", marker))
			require.Equal(t, seen+3, evalJS[int](b, `window.__notes.length`),
				"the assignment, the mention and the marker: nothing for the conversation in view, nor for later changes to one assigned")

			// Clicking the mention's notification opens its conversation.
			b.do("click the notification", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
				`window.__notes.find((x) => x.title === %s).n.dispatchEvent(new Event('click')), undefined`, jsString(mentioned))))
			b.waitJS("its conversation open", fmt.Sprintf(`location.hash === '#c/%s' && document.querySelector('#chat-name').textContent === %s`, convs[1], jsString(names[1])))
			require.Eventually(t, func() bool { return e.unreadCount(maria.Token) == 0 }, 5e9, 5e7, "both read through the UI")
			b.waitJS("nothing unread: the plain title", `document.title === 'Parley inbox'`)
			if w.phone {
				b.clickJS("back to the list", "#back")
			}
		})
	}

	// A dismissed offer stays dismissed in this browser.
	b.t = t
	b.setNotifyPermission(e.url, cdpbrowser.PermissionSettingPrompt)
	b.signIn(e.url, maria.Token)
	b.waitJS("the offer again, while not answered", `document.querySelector('#notify-banner')`)
	b.screenshot("notify-offer")
	b.clickJS("dismiss it", `#notify-banner button[aria-label="Dismiss"]`)
	b.waitJS("gone", `!document.querySelector('#notify-banner')`)
	b.signIn(e.url, maria.Token)
	require.False(t, evalJS[bool](b, `!!document.querySelector('#notify-banner')`), "still dismissed after a reload")
	require.Equal(t, 0, evalJS[int](b, `window.__asked`), "dismissing asks nothing")
}
