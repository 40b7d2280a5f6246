package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Assistants in the web app (issue 18), at a desktop's and a phone's
// width, with axe-core: Settings › Assistants adds one, gives it a
// channel account, edits its agent in the shared form and renames it;
// the inbox names each conversation's assistant, filters by it, and the
// chat header hands a conversation to another assistant; deleting the
// assistant after a confirmation gives everything back to the default
// one. Each change is checked through the API.
func TestWebAssistants(t *testing.T) {
	browser := startBrowser(t)
	e := newAIEnv(t)
	const salesPhone = "200000000000009"
	e.connect(engine.ChannelWhatsApp, salesPhone)
	b := newTab(t, browser)
	b.viewport(1440, 900, false)
	b.signIn(e.url, ownerToken)
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	find := func(name string) (assistantResp, bool) {
		for _, a := range e.assistants() {
			if a.Name == name {
				return a, true
			}
		}
		return assistantResp{}, false
	}
	var sales assistantResp
	var front, sold engine.ID

	step("Settings › Assistants adds, assigns, edits and renames", func(t *testing.T) {
		b.t = t
		b.goTo(e.url, "/#settings/assistants")
		b.waitJS("the default assistant", `document.querySelectorAll('#assistants-list li.assistant').length === 1 && !!document.querySelector('#assistants-list li.assistant[data-id="default"]')`)
		b.fill("#assistant-new-name", "Sales")
		b.clickJS("Add assistant", `form.assistant-new button[type="submit"]`)
		b.waitJS("the new assistant's editor", `document.querySelectorAll('#assistants-list li.assistant').length === 2 && !!document.querySelector('#assistant-editor-title') && document.querySelector('#assistant-editor-title').textContent === 'Edit Sales'`)
		var ok bool
		sales, ok = find("Sales")
		require.True(t, ok)

		b.clickJS("the sales number", fmt.Sprintf(`input.assistant-account[data-account=%q]`, salesPhone))
		b.clickJS("Save channel accounts", "#assistant-accounts-save")
		eventually(t, 5*time.Second, func() error {
			if a, _ := find("Sales"); len(a.Accounts) != 1 || a.Accounts[0].AccountID != salesPhone {
				return fmt.Errorf("accounts %v", a.Accounts)
			}
			return nil
		})
		b.waitJS("the list shows the account", fmt.Sprintf(`document.querySelector('#assistants-list li.assistant[data-id=%q] .assistant-acct-list').textContent.includes('whatsapp test')`, sales.ID))

		b.fill("#asst-greeting", "Hello from Sales")
		b.clickJS("Save the agent", "#asst-save")
		eventually(t, 5*time.Second, func() error {
			if a, _ := find("Sales"); a.Agent.Greeting != "Hello from Sales" {
				return fmt.Errorf("greeting %q", a.Agent.Greeting)
			}
			return nil
		})

		b.fill("#assistant-name", "Sales team")
		b.clickJS("Rename", "#assistant-rename")
		b.waitJS("the new name", fmt.Sprintf(`document.querySelector('#assistants-list li.assistant[data-id=%q] .assistant-name').textContent === 'Sales team'`, sales.ID))
		_, ok = find("Sales team")
		require.True(t, ok)
		axeCheck(t, b, "assistants-1440")
		b.screenshot("assistants-1440")
		b.noOverflow(1440)
	})

	step("the inbox names, filters and hands over", func(t *testing.T) {
		b.t = t
		code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.webas.1", "15550401", "Fay", "hi"))
		require.Equal(t, http.StatusOK, code, string(body))
		code, body = e.webhook(engine.ChannelWhatsApp, waTextTo(salesPhone, "wamid.webas.2", "15550402", "hi"))
		require.Equal(t, http.StatusOK, code, string(body))
		front = e.thread(engine.ChannelWhatsApp, phoneID, "15550401")
		sold = e.thread(engine.ChannelWhatsApp, salesPhone, "15550402")
		require.Equal(t, sales.ID, e.conv(sold).AssistantID)

		b.goTo(e.url, "/")
		b.waitJS("both rows named", fmt.Sprintf(`(() => { const m = (id) => document.querySelector('#conv-list li.conv[data-id="' + id + '"] .marker.assistant'); return !!m(%q) && !!m(%q) && m(%q).textContent === 'Sales team' && m(%q).textContent === 'Assistant'; })()`,
			front, sold, sold, front))
		b.choose(`select[data-filter="assistant"]`, sales.ID)
		b.waitJS("only Sales' conversation", fmt.Sprintf(`(() => { const ids = [...document.querySelectorAll('#conv-list li.conv')].map((li) => li.dataset.id); return ids.length === 1 && ids[0] === %q; })()`, sold))
		axeCheck(t, b, "inbox-assistant-1440")
		b.screenshot("inbox-assistant-1440")
		b.choose(`select[data-filter="assistant"]`, "")
		b.waitJS("both rows", `document.querySelectorAll('#conv-list li.conv').length === 2`)

		b.goTo(e.url, "/#c/"+front.String())
		b.waitChat()
		b.waitJS("the header's assistant", `!!document.querySelector('#chat-assistant') && document.querySelector('#chat-assistant').value === 'default'`)
		b.choose("#chat-assistant", sales.ID)
		eventually(t, 5*time.Second, func() error {
			if got := e.conv(front).AssistantID; got != sales.ID {
				return fmt.Errorf("assistant %q", got)
			}
			return nil
		})
		b.waitJS("the row's new name", fmt.Sprintf(`document.querySelector('#conv-list li.conv[data-id=%q] .marker.assistant').textContent === 'Sales team'`, front))
		axeCheck(t, b, "chat-assistant-1440")
		b.screenshot("chat-assistant-1440")
	})

	step("a phone's width", func(t *testing.T) {
		b.t = t
		b.viewport(390, 844, true)
		b.goTo(e.url, "/#c/"+sold.String())
		b.waitChat()
		b.waitJS("the header's assistant", fmt.Sprintf(`document.querySelector('#chat-assistant').value === %q`, sales.ID))
		b.noOverflow(390)
		axeCheck(t, b, "chat-assistant-390")
		b.screenshot("chat-assistant-390")
		b.goTo(e.url, "/#settings/assistants")
		b.waitJS("the list", `document.querySelectorAll('#assistants-list li.assistant').length === 2`)
		b.clickJS("Edit Sales", fmt.Sprintf(`#assistants-list li.assistant[data-id=%q] button[data-act="edit"]`, sales.ID))
		b.waitJS("the editor", `!!document.querySelector('#assistant-editor-title')`)
		b.noOverflow(390)
		axeCheck(t, b, "assistants-390")
		b.screenshot("assistants-390")
	})

	step("delete, after a confirmation", func(t *testing.T) {
		b.t = t
		b.clickJS("Delete Sales", fmt.Sprintf(`#assistants-list li.assistant[data-id=%q] button[data-act="delete"]`, sales.ID))
		b.waitJS("the confirmation", `!document.querySelector('#modal').hidden`)
		b.clickJS("confirm", "#modal-ok")
		b.waitJS("one assistant left", `document.querySelectorAll('#assistants-list li.assistant').length === 1 && !document.querySelector('#assistant-editor-title')`)
		require.Len(t, e.assistants(), 1)
		require.Equal(t, engine.DefaultAssistantID, e.conv(front).AssistantID)
		require.Equal(t, engine.DefaultAssistantID, e.conv(sold).AssistantID)
	})
}
