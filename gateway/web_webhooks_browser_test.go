package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// Settings › Webhooks, at 1440 and 390 px with axe: an owner subscribes a
// local receiver to two events through the form, copies the secret shown
// once, which verifies the deliveries the receiver then gets; the
// deliveries list shows them delivered with their status code, and
// Redeliver sends one again; Turn off is stored; Delete asks first. An
// agent has no Webhooks section.
func TestWebWebhooks(t *testing.T) {
	browser := startBrowser(t)
	e := newEnvWith(t, nil, allowPrivateHooks)
	agent := e.addUser("hooks-web-agent@example.com", engine.RoleAgent, "hooks web agent 1")
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	for i, w := range widths {
		screen := w.name
		step := func(name string, f func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; f(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)
		r := newHookReceiver(t)
		var hook engine.Webhook

		step("add a webhook", func(t *testing.T) {
			b.goTo(e.url, "/#settings/webhooks")
			b.waitJS("the form", `document.querySelector('#settings-main .settings-section[data-section=webhooks] form.webhook-form') && document.querySelector('#webhooks-list h3')`)
			b.setValue("#webhook-url", r.srv.URL+"/in")
			b.clickJS("conversation_status_changed", `.webhook-event input[value=conversation_status_changed]`)
			b.clickJS("add", `form.webhook-form button[type=submit]`)
			b.waitJS("the secret", `document.querySelector('#webhook-secret input.copy-value')?.value.length === 48`)
			b.waitJS("the row", `document.querySelectorAll('#webhooks-list li.webhook').length === 1`)
			code, body := e.api("GET", "/api/v1/webhooks", ownerToken, nil)
			require.Equal(t, http.StatusOK, code, string(body))
			hooks := decodeAs[struct {
				Webhooks []engine.Webhook `json:"webhooks"`
			}](t, body).Webhooks
			require.Len(t, hooks, 1)
			hook = hooks[0]
			require.Equal(t, r.srv.URL+"/in", hook.URL)
			require.Equal(t, []engine.WebhookEvent{engine.WebhookMessageCreated, engine.WebhookConversationStatusChanged}, hook.Events)
			require.True(t, hook.Active)
			r.mu.Lock()
			r.secret = evalJS[string](b, `document.querySelector('#webhook-secret input.copy-value').value`)
			r.mu.Unlock()
			b.noOverflow(int(w.w))
			axeCheck(t, b, "settings-webhooks-"+screen)
			b.screenshot("settings-webhooks-" + screen)
		})

		step("deliveries, redeliver", func(t *testing.T) {
			e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.hooksweb.%d", i), fmt.Sprintf("1555777000%d", i), "Ola", "where is it?"))
			eventually(t, 10*time.Second, func() error {
				if evs, _, bad := r.got(); len(evs) != 1 || bad != 0 {
					return fmt.Errorf("received %v, %d refused signatures", evs, bad)
				}
				return nil
			})
			b.clickJS("Deliveries", `#webhooks-list li.webhook button[data-act=deliveries]`)
			b.waitJS("the delivered row", `document.querySelector('#webhooks-list tr.delivery[data-state=delivered]')?.textContent.includes('200')`)
			require.Equal(t, "true", evalJS[string](b, `document.querySelector('#webhooks-list button[data-act=deliveries]').getAttribute('aria-expanded')`))
			b.noOverflow(int(w.w))
			axeCheck(t, b, "settings-webhooks-deliveries-"+screen)
			b.clickJS("Redeliver", `#webhooks-list tr.delivery button`)
			eventually(t, 10*time.Second, func() error {
				if evs, _, _ := r.got(); len(evs) != 2 || evs[1] != "message_created" {
					return fmt.Errorf("received %v", evs)
				}
				return nil
			})
			b.waitJS("two rows", `document.querySelectorAll('#webhooks-list tr.delivery').length === 2`)
		})

		step("turn off and delete", func(t *testing.T) {
			b.clickJS("Turn off", `#webhooks-list li.webhook button[data-act=toggle]`)
			b.waitJS("off", `document.querySelector('#webhooks-list li.webhook')?.dataset.active === 'false' && document.querySelector('#webhooks-list .webhook-state').textContent === 'Off'`)
			code, body := e.api("GET", "/api/v1/webhooks/"+hook.ID.String(), ownerToken, nil)
			require.Equal(t, http.StatusOK, code, string(body))
			require.False(t, decodeAs[engine.Webhook](t, body).Active)
			b.clickJS("Delete", `#webhooks-list li.webhook button[data-act=delete]`)
			b.clickJS("confirm", "#modal-ok")
			b.waitJS("gone", `document.querySelectorAll('#webhooks-list li.webhook').length === 0`)
			code, _ = e.api("GET", "/api/v1/webhooks/"+hook.ID.String(), ownerToken, nil)
			require.Equal(t, http.StatusNotFound, code)
		})
	}

	b.t = t
	b.goTo(e.url, "/#settings/team")
	b.waitJS("the owner's sections", `[...document.querySelectorAll('#settings-select option')].some((o) => o.value === 'webhooks')`)
	a := newTab(t, browser)
	a.signIn(e.url, agent.Token)
	a.goTo(e.url, "/#settings/team")
	a.waitJS("the sections", `[...document.querySelectorAll('#settings-select option')].some((o) => o.value === 'team')`)
	require.NotContains(t, evalJS[string](a, `[...document.querySelectorAll('#settings-select option')].map((o) => o.value).join()`), "webhooks")
}
