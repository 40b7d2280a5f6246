package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/internal/mailtest"
)

// Outside the business hours the widget asks for the visitor's email;
// the inbox shows that the conversation's replies go by email, and a
// reply reaches the visitor's mailbox.
func TestWebWidgetOfflineEmail(t *testing.T) {
	browser := startBrowser(t)
	relay := mailtest.New(t)
	e, _ := newEmailEnv(t, relay)
	closedDay := (int(time.Now().UTC().Weekday()) + 3) % 7
	code, body := e.api("POST", "/api/v1/widgets", ownerToken, map[string]any{"name": "Shop", "title": "Boot shop",
		"hours": map[string]any{"time_zone": "UTC", "days": []map[string]any{{"day": closedDay, "open": "09:00", "close": "17:00"}}}})
	require.Equal(t, http.StatusCreated, code, string(body))
	var wv struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &wv))
	site := shopSite(t, e.url, wv.ID)
	code, body = e.api("PATCH", "/api/v1/widgets/"+wv.ID, ownerToken, map[string]any{"allowed_origins": []string{site.URL}})
	require.Equal(t, http.StatusOK, code, string(body))

	b := newTab(t, browser)
	b.do("open the shop", chromedp.Navigate(site.URL+"/"))
	b.waitJS("the launcher", `(() => { const r = document.querySelector('[data-parley-widget]'); return r && r.shadowRoot && r.shadowRoot.querySelector('.launcher'); })()`)
	b.do("open the chat", chromedp.Evaluate[chromedp.Void](shadow+`.querySelector('.launcher').click()`))
	b.waitJS("the offline form asks for an email", shadow+`.querySelector('.fields input[type=email][required]') !== null`)
	b.do("leave a message", chromedp.Evaluate[chromedp.Void](`(() => { const s = `+shadow+`;
		s.querySelector('.fields input[type=email]').value = 'vera@example.com';
		s.querySelector('textarea').value = 'Do you ship to Norway?';
		s.querySelector('button.send').click(); })()`))
	b.waitJS("the message shown", `[...`+shadow+`.querySelectorAll('.m.visitor')].some((m) => m.textContent.includes('Norway'))`)
	b.waitJS("the widget says the answer comes by email", `(`+shadow+`.querySelector('.m.email-to') || {}).textContent === 'We will answer by email at vera@example.com.'`)
	axeCheck(t, b, "widget-offline-email-sent")
	var conv engine.ID
	eventually(t, 5*time.Second, func() error {
		l := e.list("channel=webchat")
		if len(l.Conversations) != 1 {
			return fmt.Errorf("%d conversations", len(l.Conversations))
		}
		conv = l.Conversations[0].ID
		return nil
	})
	require.Equal(t, "vera@example.com", e.conv(conv).EmailTo)

	inbox := newTab(t, browser)
	inbox.signIn(e.url, ownerToken)
	inbox.openConv(conv)
	inbox.waitJS("the header says replies go by email", `(document.querySelector('#chat-sub .tag.email-to') || {}).textContent === 'Replies by email to vera@example.com'`)
	axeCheck(t, inbox, "widget-offline-email")
	e.reply(conv, "Yes, in three days.")
	require.Len(t, relay.Messages(), 1)
	require.Equal(t, []string{"vera@example.com"}, relay.Messages()[0].To)
}
