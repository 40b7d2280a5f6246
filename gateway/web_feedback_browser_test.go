package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Feedback on AI replies in the web app (issue 18), at a phone's and a
// desktop's width, with axe-core: the built-in agent's greeting has
// thumbs; a thumbs up is stored, a thumbs down opens the correction box
// and its correction replaces the rating; Settings › AI feedback lists
// the answer with its question and correction.
func TestWebAIFeedback(t *testing.T) {
	browser := startBrowser(t)
	e := newAIEnv(t)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	owner, err := e.store.TokenBySecret(ownerToken)
	require.NoError(t, err)
	for i, w := range []struct {
		name  string
		w, h  int64
		phone bool
	}{{"phone", 390, 844, true}, {"desktop", 1440, 900, false}} {
		t.Run(w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			user := fmt.Sprintf("1555013900%d", i)
			question := fmt.Sprintf("do you open on sundays %d?", i)
			code, body := e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.webfb.%d", i), user, "Rita", question))
			require.Equal(t, http.StatusOK, code, string(body))
			conv := e.thread(engine.ChannelWhatsApp, phoneID, user)
			var aiSeq uint64
			eventually(t, 5*time.Second, func() error {
				for _, m := range e.messages(conv) {
					if m.Sender.Kind == engine.SenderAI {
						aiSeq = m.Seq
						return nil
					}
				}
				return fmt.Errorf("no AI reply yet")
			})
			rating := func() engine.Feedback {
				f, err := e.store.Feedback(e.ws, conv, aiSeq, owner.UserID)
				require.NoError(t, err)
				return f
			}

			b.goTo(e.url, "/#c/"+conv.String())
			b.waitChat()
			sel := fmt.Sprintf(`.msg.ai[data-seq="%d"] .fb`, aiSeq)
			b.waitJS("the thumbs", fmt.Sprintf(`!!document.querySelector('%s .fb-up')`, sel))
			b.clickJS("thumbs up", sel+" .fb-up")
			b.waitJS("thumbs up pressed", fmt.Sprintf(`document.querySelector('%s .fb-up').getAttribute('aria-pressed') === 'true'`, sel))
			require.Equal(t, engine.RatingUp, rating().Rating)

			b.clickJS("thumbs down", sel+" .fb-down")
			b.waitJS("the correction box", fmt.Sprintf(`!document.querySelector('%s .fb-form').hidden`, sel))
			axeCheck(t, b, fmt.Sprintf("feedback-chat-%d", w.w))
			b.noOverflow(int(w.w))
			b.fill(sel+" textarea", "We open on Sundays from 10 to 14.")
			b.clickJS("Send feedback", sel+` button[type="submit"]`)
			b.waitJS("thumbs down pressed", fmt.Sprintf(`document.querySelector('%s .fb-down').getAttribute('aria-pressed') === 'true' && document.querySelector('%s .fb-form').hidden`, sel, sel))
			f := rating()
			require.Equal(t, engine.RatingDown, f.Rating)
			require.Equal(t, "We open on Sundays from 10 to 14.", f.Correction)
			require.Equal(t, question, f.Question)

			b.goTo(e.url, "/#settings/feedback")
			item := fmt.Sprintf(`#feedback-report .fb-item[data-conv="%s"][data-seq="%d"]`, conv, aiSeq)
			b.waitJS("the report", fmt.Sprintf(`(() => { const el = document.querySelector('%s'); return !!el && el.textContent.includes(%q) && el.textContent.includes(%q); })()`,
				item, question, "We open on Sundays from 10 to 14."))
			require.Equal(t, i+1, evalJS[int](b, `document.querySelectorAll('#feedback-report .fb-item').length`))
			axeCheck(t, b, fmt.Sprintf("feedback-report-%d", w.w))
			b.noOverflow(int(w.w))
		})
	}
}
