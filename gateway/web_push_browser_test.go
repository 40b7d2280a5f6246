package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// toggle is a JS expression: the Notifications screen's checkbox of kind
// and medium.
func toggle(kind, medium string) string {
	return fmt.Sprintf(`document.querySelector('input.notify-toggle[data-kind=%q][data-medium=%q]')`, kind, medium)
}

// TestWebPushSettings drives Settings › Notifications as an agent, at a
// desktop's and a phone's width: the app is installable (the manifest
// linked, parsed, its icons loading), its service worker registers at
// scope /, each toggle is saved as the API then shows it, email says it
// is unavailable without an SMTP relay, push on this device is offered,
// and the browser column decides whether a new conversation notifies.
func TestWebPushSettings(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	agent := e.addUser("ana@example.com", engine.RoleAgent, "correct horse battery")
	b := newTab(t, browser)
	b.do("record notifications", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: notifyRecorder})
		return err
	}))
	b.setNotifyPermission(e.url, cdpbrowser.PermissionSettingGranted)
	b.signIn(e.url, agent.Token)

	// Installable: the manifest is linked and parses, its icons load.
	manifest := evalJS[map[string]any](b, `(async () => {
		const link = document.querySelector('link[rel=manifest]');
		const m = await (await fetch(link.href)).json();
		const icons = await Promise.all(m.icons.map(async (i) => (await fetch(i.src)).ok));
		return { name: m.name, display: m.display, start: m.start_url, icons: icons.every(Boolean) && icons.length };
	})()`)
	require.Equal(t, "Parley inbox", manifest["name"])
	require.Equal(t, "standalone", manifest["display"])
	require.Equal(t, "/", manifest["start"])
	require.EqualValues(t, 4, manifest["icons"])
	// The service worker registers, at scope /, and is active.
	sw := evalJS[map[string]any](b, `(async () => {
		const reg = await Promise.race([navigator.serviceWorker.ready, new Promise((r) => setTimeout(() => r(null), 10000))]);
		return reg ? { scope: reg.scope, active: !!reg.active, script: reg.active && reg.active.scriptURL } : {};
	})()`)
	require.Equal(t, e.url+"/", sw["scope"])
	require.Equal(t, true, sw["active"])
	require.Equal(t, e.url+"/sw.js", sw["script"])

	b.atEachWidth(t, "notification settings", func(t *testing.T, i int, screen string) {
		b.do("open the settings", chromedp.Navigate(e.url+"/#settings/notifications"))
		b.waitJS("the notifications screen", toggle("assigned", "push"))
		b.noOverflow(int(widths[i].w))
		require.True(t, evalJS[bool](b, toggle("assigned", "push")+`.checked`), "the defaults: assignments by push")
		require.Equal(t, i > 0, evalJS[bool](b, toggle("new_conversation", "push")+`.checked`), "off by default, on once turned on")
		require.Contains(t, evalJS[string](b, `document.querySelector('#notify-email-off').textContent`), "Email is unavailable")
		require.Equal(t, "Assigned to me: Push", evalJS[string](b, toggle("assigned", "push")+`.getAttribute('aria-label')`))
		b.waitJS("push on this device offered", `document.querySelector('#push-state').dataset.state === 'off' && !document.querySelector('#push-enable').hidden`)

		// Each toggle is saved: the API shows it.
		want := !evalJS[bool](b, toggle("new_conversation", "push")+`.checked`)
		b.clickJS("new conversations by push", `input.notify-toggle[data-kind="new_conversation"][data-medium="push"]`)
		b.waitJS("saved", `document.querySelector('#notify-status').textContent.startsWith('Saved')`)
		eventually(t, 5*time.Second, func() error {
			if e.notificationSettings(agent.Token).Settings.NewConversation.Push != want {
				return fmt.Errorf("not saved")
			}
			return nil
		})
		b.clickJS("new conversations in the browser: off", `input.notify-toggle[data-kind="new_conversation"][data-medium="browser"]`)
		b.waitJS("saved off", `document.querySelector('#notify-status').textContent === 'Saved: New conversation, browser off'`)
		require.False(t, e.notificationSettings(agent.Token).Settings.NewConversation.Browser)
		b.screenshot("notifications-settings-" + screen)

		// Browser off: a new conversation shows no notification.
		b.clickJS("back to the inbox", "#settings-back")
		quiet := e.writes(t, fmt.Sprintf("1555888000%d", i), fmt.Sprintf("Quiet %d", i), "hello")
		b.waitJS("its row", rowVisible(quiet))
		loud := fmt.Sprintf("Loud %d", i)
		require.False(t, evalJS[bool](b, `window.__notes.some((x) => x.title.startsWith('New conversation: Quiet'))`), "browser column off")

		// On again from the screen: the next one notifies.
		b.do("open the settings", chromedp.Navigate(e.url+"/#settings/notifications"))
		b.clickJS("new conversations in the browser: on", `input.notify-toggle[data-kind="new_conversation"][data-medium="browser"]`)
		b.waitJS("saved on", `document.querySelector('#notify-status').textContent === 'Saved: New conversation, browser on'`)
		b.clickJS("back to the inbox", "#settings-back")
		e.writes(t, fmt.Sprintf("1555888100%d", i), loud, "hello again")
		b.waitJS("the notification", `window.__notes.some((x) => x.title === 'New conversation: `+loud+`')`)
		require.True(t, e.notificationSettings(agent.Token).Settings.NewConversation.Browser)
	})
}
