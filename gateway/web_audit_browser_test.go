package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Settings › Audit log: an owner sees the workspace's actions newest
// first, filters them, loads more and exports them (the export is itself
// recorded); an agent is not offered the section; desktop and phone
// widths, each checked by axe-core.
func TestWebAuditLog(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	bob := e.addUser("bob@example.com", engine.RoleAgent, "correct horse battery")
	for i := 0; i < 55; i++ {
		code, body := e.apiUA("PATCH", "/api/v1/channels/whatsapp/"+phoneID, ownerToken, "AuditScript/2", map[string]any{"name": fmt.Sprintf("Sales %d", i)})
		require.Equal(t, http.StatusOK, code, string(body))
	}
	b := newTab(t, browser)
	b.viewport(1440, 900, false)
	b.signIn(e.url, ownerToken)
	b.do("open the audit log", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/audit'`))
	b.waitJS("the first page", `document.querySelectorAll('#audit-rows tr.audit-row').length === 50 && !document.querySelector('#audit-more').hidden`)
	require.Equal(t, "PATCH /api/v1/channels/:channel/:account", evalJS[string](b, `document.querySelector('#audit-rows tr.audit-row').dataset.action`))
	require.Contains(t, evalJS[string](b, `document.querySelector('#audit-rows tr.audit-row').textContent`), "AuditScript/2")
	axeCheck(t, b, "audit-1440")

	b.clickJS("load more", "#audit-more")
	b.waitJS("the rest", `document.querySelectorAll('#audit-rows tr.audit-row').length > 55 && document.querySelector('#audit-more').hidden`)

	b.fill("#audit-action", "POST /api/v1/auth/accept-invite")
	b.clickJS("filter", "#audit-apply")
	b.waitJS("the filtered rows", `document.querySelectorAll('#audit-rows tr.audit-row').length === 1 && document.querySelector('#audit-rows tr.audit-row').dataset.action === 'POST /api/v1/auth/accept-invite'`)

	b.clickJS("export CSV", "#audit-csv")
	eventually(t, 10*time.Second, func() error {
		p := e.audit(ownerToken, "action=GET+%2Fapi%2Fv1%2Faudit")
		if len(p.Entries) == 0 {
			return fmt.Errorf("the export is not recorded yet")
		}
		return nil
	})

	b.viewport(390, 844, true)
	b.waitJS("the filtered rows at 390", `document.querySelectorAll('#audit-rows tr.audit-row').length === 1`)
	b.noOverflow(390)
	axeCheck(t, b, "audit-390")

	// An agent is not offered the audit log.
	b.viewport(1440, 900, false)
	b.signIn(e.url, bob.Token)
	b.do("open settings", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings'`))
	b.waitJS("the settings nav", `document.querySelectorAll('#settings-nav a').length > 0`)
	require.False(t, evalJS[bool](b, `!!document.querySelector('#settings-nav a[data-section="audit"]')`))
}
