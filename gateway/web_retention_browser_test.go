package gateway_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Settings › Data retention saves the policy (a bad value shows the
// server's message and stores nothing), and a contact's page exports its
// data as a ZIP, puts it on legal hold (the erase button is off while
// held), releases it and erases it after the typed confirmation. At a
// phone's and a desktop's width, with axe-core.
func TestWebRetention(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	for i, size := range []struct {
		w, h  int64
		phone bool
	}{{390, 844, true}, {1440, 900, false}} {
		t.Run(strconv.FormatInt(size.w, 10), func(t *testing.T) {
			b.t = t
			b.viewport(size.w, size.h, size.phone)
			b.signIn(e.url, ownerToken)
			b.do("open Settings › Data retention", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/retention'`))
			b.waitJS("the section", `document.querySelector('#retention-form') && document.querySelector('#retention-run')`)
			before, err := e.store.RetentionPolicy(e.ws)
			require.NoError(t, err)
			b.fill("#retention-messages", "40000")
			b.clickJS("save", "#retention-save")
			b.waitJS("the refusal", `document.querySelector('#retention-status').textContent.includes('36500') || document.querySelector('#retention-messages').matches(':invalid')`)
			p, err := e.store.RetentionPolicy(e.ws)
			require.NoError(t, err)
			require.Equal(t, before, p, "nothing stored")
			b.fill("#retention-messages", strconv.Itoa(365+i))
			b.fill("#retention-closed", "730")
			b.clickJS("save", "#retention-save")
			b.waitJS("saved", `document.querySelector('#retention-status').textContent === 'Saved.'`)
			p, err = e.store.RetentionPolicy(e.ws)
			require.NoError(t, err)
			require.Equal(t, engine.RetentionPolicy{MessageDays: 365 + i, ClosedConversationDays: 730}, engine.RetentionPolicy{MessageDays: p.MessageDays, ClosedConversationDays: p.ClosedConversationDays})
			b.noOverflow(int(size.w))
			axeCheck(t, b, "settings retention")

			wa := fmt.Sprintf("1555098%d", i)
			e.webhook(engine.ChannelWhatsApp, waText("wamid.webret."+wa, wa, "Erin Erase", "please forget me"))
			conv := e.thread(engine.ChannelWhatsApp, phoneID, wa)
			contact := e.conv(conv).ContactID
			b.do("open the contact", chromedp.Evaluate[chromedp.Void](`location.hash = '#contacts/`+contact.String()+`'`))
			b.waitJS("its data card", `document.querySelector('#ct-data') && document.querySelector('#ct-hold-state').textContent.includes('Not on legal hold')`)
			b.clickJS("export", "#ct-data-export")
			b.waitJS("the export", `Number(document.querySelector('#ct-data-status').dataset.size) > 0`)
			b.clickJS("hold", "#ct-hold")
			b.waitJS("the hold dialog", `!document.querySelector('#modal').hidden && document.querySelector('#ct-hold-reason')`)
			b.fill("#ct-hold-reason", "court order")
			b.clickJS("confirm", "#modal-ok")
			b.waitJS("held", `document.querySelector('#ct-hold-state').textContent.includes('court order') && document.querySelector('#ct-erase').disabled`)
			_, held, err := e.store.LegalHold(e.ws, contact)
			require.NoError(t, err)
			require.True(t, held)
			b.noOverflow(int(size.w))
			axeCheck(t, b, "contact data")
			b.clickJS("release", "#ct-hold")
			b.waitJS("released", `document.querySelector('#ct-hold-state').textContent.includes('Not on legal hold') && !document.querySelector('#ct-erase').disabled`)

			b.clickJS("erase", "#ct-erase")
			b.waitJS("the erase dialog", `!document.querySelector('#modal').hidden && document.querySelector('#ct-erase-confirm')`)
			b.fill("#ct-erase-confirm", "ERASE")
			b.clickJS("confirm", "#modal-ok")
			b.waitJS("back to the list", `location.hash !== '#contacts/`+contact.String()+`'`)
			_, err = e.store.Contact(e.ws, contact)
			require.Error(t, err, "the contact is erased")
			_, err = e.store.Conversation(e.ws, conv)
			require.Error(t, err, "its conversation is erased")
		})
	}
}
