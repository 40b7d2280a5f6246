package gateway_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// One person in two workspaces, in the browser: signed in, they see the
// workspace they joined last, its name in the header and its
// conversations only, live; the header's switcher moves them to the
// other workspace, whose conversations (and live updates) replace the
// first's, and the first's new conversations no longer appear.
func TestWebWorkspaceSwitcher(t *testing.T) {
	browser := startBrowser(t)
	e := newAPIEnv(t, nil, nil, 0)
	hook := newIntegrator(t)
	const pass = "ana's password"
	ana := e.addUser("ana@example.com", engine.RoleAdmin, pass)
	wsB, ownerB := e.workspaceOf("Bravo")
	code := e.invite(ownerB, "ana@example.com", engine.RoleAgent)
	st, body := e.api("POST", "/api/v1/auth/accept-invite", "", map[string]any{"code": code, "name": "Ana", "password": pass})
	require.Equal(t, 201, st, string(body))
	acct := e.connectAPIAs(ownerB, hook.srv.URL+"/b")

	inA := func(wa, name string) engine.ID {
		t.Helper()
		st, body := e.webhook(engine.ChannelWhatsApp, waText("wamid."+wa, wa, name, "hello from "+name))
		require.Equal(t, 200, st, string(body))
		return e.thread(engine.ChannelWhatsApp, phoneID, wa)
	}
	inB := func(person, name string) engine.ID {
		t.Helper()
		e.apiInbound(acct, map[string]any{"source_id": "m-" + person, "text": "hello from " + name,
			"contact": map[string]any{"external_id": person, "name": name}})
		th, ok, err := e.store.LookupThread(wsB, acct.AccountID, person)
		require.NoError(t, err)
		require.True(t, ok)
		return th.ConversationID
	}
	a1, b1 := inA("15558101", "Alpha One"), inB("bravo-1", "Bravo One")

	b := newTab(t, browser)
	b.do("open the app", chromedp.Navigate(e.url+"/"))
	b.passwordSignIn("ana@example.com", pass)
	b.waitJS("Bravo's conversation", rowVisible(b1))
	require.False(t, evalJS[bool](b, "!!"+rowVisible(a1)), "Alpha's conversation is not in Bravo's inbox")
	b.waitJS("the switcher on Bravo", fmt.Sprintf(`(() => { const s = document.querySelector('#ws-switch');
		return s && s.options.length === 2 && s.value === %q && s.selectedOptions[0].textContent === 'Bravo'; })()`, wsB.String()))
	b.screenshot("workspace-switcher")
	b2 := inB("bravo-2", "Bravo Two")
	b.waitJS("Bravo's new conversation, live", rowVisible(b2))

	require.True(t, evalJS[bool](b, fmt.Sprintf(`(() => { const s = document.querySelector('#ws-switch');
		s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, e.ws.String())), "switch to Alpha")
	b.waitJS("Alpha's inbox", fmt.Sprintf(`document.body.dataset.ready === 'true' && document.querySelector('#ws-switch') &&
		document.querySelector('#ws-switch').value === %q && %s`, e.ws.String(), rowVisible(a1)))
	require.False(t, evalJS[bool](b, "!!"+rowVisible(b1)), "Bravo's conversations left with Bravo")
	require.False(t, evalJS[bool](b, "!!"+rowVisible(b2)))
	// Live updates follow: Bravo's next conversation stays away, Alpha's
	// (sent after it) appears.
	b3 := inB("bravo-3", "Bravo Three")
	a2 := inA("15558102", "Alpha Two")
	b.waitJS("Alpha's new conversation, live", rowVisible(a2))
	require.False(t, evalJS[bool](b, "!!"+rowVisible(b3)), "Bravo's live update reached Alpha's inbox")
	// The session moved: the token the app holds is Alpha's.
	st, body = e.api("GET", "/api/v1/me", b.token(), nil)
	require.Equal(t, 200, st, string(body))
	require.Contains(t, string(body), ana.User.ID.String())
	// And the next sign-in lands in Alpha.
	st, _, body = e.login("ana@example.com", pass)
	require.Equal(t, 200, st, string(body))
	require.Equal(t, e.ws, decodeAs[session](t, body).User.WorkspaceID)
}
