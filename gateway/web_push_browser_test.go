package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
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

// pushServiceStub stands in for the browser's push service, which a
// headless Chromium has none of: PushManager.subscribe answers with the
// subscription of a device of the test's push service (its endpoint and
// keys in window.__device) and records the key it was asked to
// subscribe with. Everything else (the permission, the service worker,
// the app, the server's push) is real.
const pushServiceStub = `(() => {
  if (!window.PushManager) return;
  let sub = null;
  PushManager.prototype.getSubscription = async function () { return sub; };
  PushManager.prototype.subscribe = async function (opts) {
    const key = new Uint8Array(opts.applicationServerKey);
    window.__subscribedWith = btoa(String.fromCharCode(...key)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const d = window.__device;
    sub = { endpoint: d.endpoint, options: { applicationServerKey: key.buffer },
      toJSON: () => ({ endpoint: d.endpoint, expirationTime: null, keys: { p256dh: d.p256dh, auth: d.auth } }),
      unsubscribe: async () => { sub = null; return true; } };
    return sub;
  };
})();`

// TestWebPushSettings drives Settings › Notifications as an agent, at a
// desktop's and a phone's width: the app is installable (the manifest
// linked, parsed, its icons loading), its service worker registers at
// scope /, each toggle is saved as the API then shows it, push on this
// device is enabled (subscribed with the server's key, registered, an
// assignment's push reaching it) and disabled, and the browser column
// decides whether a new conversation notifies.
func TestWebPushSettings(t *testing.T) {
	browser := startBrowser(t)
	e, svc, _ := pushEnv(t)
	agent := e.addUser("ana@example.com", engine.RoleAgent, "correct horse battery")
	b := newTab(t, browser)
	b.do("record notifications", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, src := range []string{notifyRecorder, pushServiceStub} {
			if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
				return err
			}
		}
		return nil
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
		require.Nil(t, evalJS[any](b, `document.querySelector('#notify-email-off')`), "an SMTP relay is configured: email is available")
		require.Equal(t, "Assigned to me: Push", evalJS[string](b, toggle("assigned", "push")+`.getAttribute('aria-label')`))
		b.waitJS("push on this device offered", `document.querySelector('#push-state').dataset.state === 'off' && !document.querySelector('#push-enable').hidden`)

		// Enable push on this device: subscribed with the server's key,
		// registered with the server.
		dev := svc.NewDevice(fmt.Sprintf("ana-%s", screen))
		evalJS[bool](b, fmt.Sprintf(`(window.__device = { endpoint: %s, p256dh: %s, auth: %s }, true)`, jsString(dev.Endpoint), jsString(dev.P256dh), jsString(dev.Auth)))
		b.clickJS("enable push", "#push-enable")
		b.waitJS("push on", `document.querySelector('#push-state').dataset.state === 'on' && !document.querySelector('#push-disable').hidden && document.querySelector('#push-enable').hidden`)
		keys, err := e.store.VAPIDKeys()
		require.NoError(t, err)
		require.Equal(t, keys.Public, evalJS[string](b, `window.__subscribedWith`), "subscribed with the server's VAPID key")
		subs := e.pushSubs(agent.Token).Subscriptions
		require.Len(t, subs, 1)
		require.Equal(t, dev.Endpoint, subs[0].Endpoint)
		require.True(t, subs[0].Current)
		b.screenshot("notifications-push-on-" + screen)

		// The owner assigns the agent a conversation: the push reaches
		// this device, decrypted by its keys.
		assigned := e.writes(t, fmt.Sprintf("1555888200%d", i), fmt.Sprintf("Pushy %d", i), "need help")
		code, body := e.api("POST", "/api/v1/conversations/"+assigned.String()+"/assign", ownerToken, map[string]any{"user_id": agent.User.ID.String()})
		require.Equal(t, http.StatusOK, code, string(body))
		eventually(t, 10*time.Second, func() error {
			for _, p := range svc.Pushes() {
				if p.Device == dev.ID && strings.Contains(string(p.Payload), fmt.Sprintf("Assigned to you: Pushy %d", i)) {
					return nil
				}
			}
			return fmt.Errorf("no push to %s", dev.ID)
		})

		// Disable: gone from the server.
		b.clickJS("disable push", "#push-disable")
		b.waitJS("push off", `document.querySelector('#push-state').dataset.state === 'off' && !document.querySelector('#push-enable').hidden`)
		require.Empty(t, e.pushSubs(agent.Token).Subscriptions)

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

		// A customer asks for a person: the handoff of an unassigned
		// conversation notifies everyone (on by default).
		handy := fmt.Sprintf("Handy %d", i)
		e.writes(t, fmt.Sprintf("1555888300%d", i), handy, "I want to talk to a human")
		b.waitJS("the handoff's notification", `window.__notes.some((x) => x.title === 'Needs a person: `+handy+`')`)
	})
}
