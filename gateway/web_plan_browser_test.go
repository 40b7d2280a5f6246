package gateway_test

import (
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Settings › Plan & usage (owners and admins) shows each limit of the
// workspace's plan with its use and a bar; inviting a teammate past the
// seat limit in Settings › Team shows the plan_limit message with a link
// to it. At a phone's and a desktop's width, with axe-core.
func TestWebPlanUsage(t *testing.T) {
	browser := startBrowser(t)
	e := newOperatorEnv(t, nil)
	_, tok := e.createWorkspace("Planned", "planned@shop.test", &engine.PlanLimits{Seats: 2, Contacts: 1, AIRepliesPerMonth: 100})
	b := newTab(t, browser)
	for i, size := range []struct {
		w, h  int64
		phone bool
	}{{390, 844, true}, {1440, 900, false}} {
		t.Run(strconv.FormatInt(size.w, 10), func(t *testing.T) {
			b.t = t
			b.viewport(size.w, size.h, size.phone)
			b.signIn(e.url, tok)
			b.do("open Settings › Plan & usage", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/plan'`))
			b.waitJS("the usage", `document.querySelectorAll('#plan-usage .plan-usage').length === 5`)
			row := func(res, attr string) string {
				return evalJS[string](b, `document.querySelector('#plan-usage .plan-usage[data-resource="`+res+`"]').dataset.`+attr)
			}
			require.Equal(t, "Plan: starter", evalJS[string](b, `document.querySelector('#plan-title').textContent`))
			require.Equal(t, "2", row("seats", "limit"))
			require.Equal(t, "1", row("seats", "used"), "the owner: invitations are not users")
			require.Equal(t, "unlimited", row("channel_accounts", "state"))
			require.Equal(t, "ok", row("ai_replies_per_month", "state"))
			require.Equal(t, 100.0, evalJS[float64](b, `document.querySelector('#plan-ai_replies_per_month-bar').max`))
			b.noOverflow(int(size.w))
			axeCheck(t, b, "settings plan")

			// Team: the first invitation takes the last seat, the next
			// one is refused with the plan's message.
			b.do("open Settings › Team", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/team'`))
			if i == 0 {
				b.fill("#invite-email", "first@shop.test")
				b.clickJS("invite", "#invite-submit")
				b.waitJS("the link", `document.querySelector('#invite-result input, #invite-result code')`)
			}
			b.fill("#invite-email", "second"+strconv.Itoa(i)+"@shop.test")
			b.clickJS("invite", "#invite-submit")
			b.waitJS("the refusal", `document.querySelector('#invite-form .error').textContent.includes('plan allows 2 users')`)
			require.True(t, evalJS[bool](b, `!!document.querySelector('#invite-form .error a[href="#settings/plan"]')`))
			b.noOverflow(int(size.w))
			axeCheck(t, b, "settings team plan limit")
		})
	}
	n, err := e.store.CountUsers(e.ws, 10)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the default workspace is untouched")
}
