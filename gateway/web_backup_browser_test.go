package gateway_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Settings › Backups (owners): Download a backup makes one through the
// API and reports the files of its manifest and when it began; an admin
// is not offered the section. At a phone's and a desktop's width, with
// axe-core.
func TestWebBackup(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	code, body := e.webhook(engine.ChannelWhatsApp, waText("wamid.webbackup.1", "15550401", "Vera", "in the backup"))
	require.Equal(t, 200, code, string(body))
	admin := e.addUser("backup-web-admin@example.com", engine.RoleAdmin, "backup web admin pw")
	b := newTab(t, browser)
	for _, size := range []struct {
		w, h  int64
		phone bool
	}{{390, 844, true}, {1440, 900, false}} {
		t.Run(strconv.FormatInt(size.w, 10), func(t *testing.T) {
			b.t = t
			b.viewport(size.w, size.h, size.phone)
			b.signIn(e.url, ownerToken)
			before := time.Now().Add(-time.Second)
			b.do("open Settings › Backups", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/backups'`))
			b.waitJS("the section", `document.querySelector('#settings-main h2') && document.querySelector('#settings-main h2').textContent === 'Backups' && document.querySelector('#backup-download')`)
			b.clickJS("download a backup", "#backup-download")
			b.waitJS("the report", `document.querySelector('#backup-status').dataset.files > 0`)
			require.Contains(t, evalJS[string](b, `document.querySelector('#backup-status').textContent`), "Backup downloaded: ")
			created, err := time.Parse(time.RFC3339Nano, evalJS[string](b, `document.querySelector('#backup-status').dataset.createdAt`))
			require.NoError(t, err)
			require.True(t, created.After(before), "the backup began at %v", created)
			b.noOverflow(int(size.w))
			axeCheck(t, b, "settings backups")
		})
	}
	t.Run("an admin has no Backups", func(t *testing.T) {
		b.t = t
		b.signIn(e.url, admin.Token)
		b.do("open Settings › Backups", chromedp.Evaluate[chromedp.Void](`location.hash = '#settings/backups'`))
		b.waitJS("Settings", `!document.querySelector('#settings').hidden && document.querySelector('#settings-nav')`)
		entries := `[...document.querySelectorAll('#settings-nav a, #settings-nav button, #settings-nav option')].map((x) => x.textContent.trim())`
		b.waitJS("the admin's sections", entries+`.includes('Channels')`)
		require.False(t, evalJS[bool](b, entries+`.includes('Backups')`))
		require.Nil(t, evalJS[any](b, `document.querySelector('#backup-download')`))
	})
}
