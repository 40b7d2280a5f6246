package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Settings › Opt-out keywords: an owner changes the keywords and the
// confirmation (checked through the API and by a customer's message
// afterwards), puts the defaults back; an agent sees them read-only.
// Desktop and phone, axe-core on each screen.
func TestWebOptOutSettings(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	agent := e.addUser("agent@example.com", engine.RoleAgent, "correct horse battery")
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	for i, w := range widths {
		ok := t.Run("owner at "+w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			b.goTo(e.url, "/#settings/opt-out")
			want := "STOP" // the defaults, then what the last width saved
			if i > 0 {
				want = "Fin"
			}
			b.waitJS("the form", `document.querySelector('#optout-keywords')?.value.includes('`+want+`')`)
			b.noOverflow(int(w.w))
			axeCheck(t, b, "settings-optout-"+w.name)
			b.fill("#optout-keywords", "BASTA, Fin")
			b.fill("#optout-confirmation", "Ciao "+w.name)
			b.clickJS("save", "#optout-save")
			eventually(t, 5*time.Second, func() error {
				if got := e.optOut(ownerToken); strings.Join(got.Keywords, ",") != "BASTA,Fin" || got.Confirmation != "Ciao "+w.name {
					return fmt.Errorf("saved %+v", got)
				}
				return nil
			})
		})
		if !ok {
			t.FailNow()
		}
	}
	// The saved keywords are what the rule follows.
	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.optweb.1", "15550501", "Ann", "basta"))
	require.Equal(t, http.StatusOK, code, string(body))
	sent := e.waitSent(1)
	require.Equal(t, "Ciao phone", sent[0])

	t.Run("the defaults back", func(t *testing.T) {
		b.t = t
		b.goTo(e.url, "/#settings/opt-out")
		b.waitJS("the form", `document.querySelector('#optout-keywords')?.value === 'BASTA, Fin'`)
		b.clickJS("the defaults", "#optout-defaults")
		b.clickJS("save", "#optout-save")
		eventually(t, 5*time.Second, func() error {
			if got := e.optOut(ownerToken); got.Keywords[0] != "STOP" || got.Confirmation != engine.DefaultOptOutConfirmation {
				return fmt.Errorf("saved %+v", got)
			}
			return nil
		})
	})
	t.Run("an agent reads them", func(t *testing.T) {
		a := newTab(t, browser)
		a.signIn(e.url, agent.Token)
		a.goTo(e.url, "/#settings/opt-out")
		a.waitJS("the form, read-only", `document.querySelector('#optout-keywords')?.readOnly && !document.querySelector('#optout-save')`)
	})
}
