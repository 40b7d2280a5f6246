package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/email"
	"github.com/parleyhq/parley/gateway/internal/mailtest"
)

// Settings › Channels connects an email account with its SMTP settings
// and edits them, checked in the store; axe finds nothing; the form fits
// a phone.
func TestWebSettingsEmailAccount(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.viewport(1440, 900, false)
	b.signIn(e.url, ownerToken)
	account := func() (engine.ChannelAccount, bool) {
		a, err := e.store.ChannelAccount(engine.ChannelEmail, shopAddr)
		return a, err == nil
	}
	row := fmt.Sprintf(`#channel-accounts tr.account[data-channel="email"][data-account=%q]`, shopAddr)

	b.clickJS("the gear", `#open-settings`)
	b.waitJS("Channels", `location.hash === '#settings/channels' && document.querySelector('#connect-form')`)
	b.waitJS("no email settings for Meta", `document.querySelector('#connect-email').hidden`)
	b.choose("#connect-channel", "email")
	b.waitJS("the email form", `!document.querySelector('#connect-email').hidden && document.querySelector('#connect-form').textContent.includes('Email address') && document.querySelector('#connect-form').textContent.includes('SMTP password') && document.querySelector('#connect-secret').closest('label').hidden`)
	b.fill("#connect-account", "Support@Shop.test")
	b.fill("#connect-name", "Support mail")
	b.fill("#connect-token", "smtp-secret")
	b.fill("#connect-smtp-host", "smtp.shop.test")
	b.fill("#connect-smtp-port", "465")
	b.choose("#connect-smtp-security", "tls")
	b.fill("#connect-from-name", "Shop Support")
	b.fill("#connect-addresses", "help@shop.test, Sales@Shop.test")
	axeCheck(t, b, "settings-channels-email")
	b.clickJS("connect", "#connect-submit")
	b.waitJS("its row", `document.querySelector('`+row+`')`)
	a, ok := account()
	require.True(t, ok, "the account is stored")
	require.Equal(t, "Support mail", a.Name)
	require.Equal(t, "smtp-secret", a.AccessToken)
	require.Equal(t, &engine.EmailSettings{SMTPHost: "smtp.shop.test", SMTPPort: 465, SMTPSecurity: engine.EmailTLS,
		FromName: "Shop Support", Addresses: []string{"help@shop.test", "sales@shop.test"}}, a.Email)

	b.clickJS("edit", row+` button[data-act=edit]`)
	b.waitJS("the edit dialog", `!document.querySelector('#modal').hidden && document.querySelector('#edit-smtp-host').value === 'smtp.shop.test' && document.querySelector('#edit-smtp-security').value === 'tls'`)
	b.fill("#edit-from-name", "Acme Care")
	b.fill("#edit-smtp-port", "2465")
	markStale := func() { // the list is drawn again after a save: wait for the new row
		b.waitJS("the row marked", `(() => { document.querySelector('`+row+`').dataset.stale = '1'; return true; })()`)
	}
	fresh := func() { b.waitJS("the row drawn again", `document.querySelector('`+row+`:not([data-stale])')`) }
	markStale()
	b.clickJS("save", "#modal-ok")
	b.waitJS("saved", `document.querySelector('#modal').hidden && /^(Account saved|Could not)/.test(document.querySelector('#toast').textContent)`)
	require.Equal(t, "Account saved", evalJS[string](b, `document.querySelector('#toast').textContent`))
	require.Eventually(t, func() bool {
		a, _ := account()
		return a.Email != nil && a.Email.FromName == "Acme Care" && a.Email.SMTPPort == 2465
	}, 10e9, 50e6, "the edit is stored")
	a, _ = account()
	require.Equal(t, "smtp-secret", a.AccessToken, "an empty password field keeps the password")

	// The IMAP mailbox, DKIM signing and quoting.
	_, keyPEM := dkimKeyPEM(t)
	fresh()
	b.clickJS("edit", row+` button[data-act=edit]`)
	b.waitJS("the edit dialog, IMAP and DKIM off", `!document.querySelector('#modal').hidden && document.querySelector('#edit-imap').hidden && document.querySelector('#edit-dkim').hidden`)
	b.clickJS("read a mailbox", "#edit-imap-on")
	b.waitJS("the IMAP fields", `!document.querySelector('#edit-imap').hidden`)
	b.fill("#edit-imap-host", "imap.shop.test")
	b.fill("#edit-imap-port", "993")
	b.fill("#edit-imap-password", "imap-secret")
	b.fill("#edit-imap-folder", "Support")
	b.clickJS("sign with DKIM", "#edit-dkim-on")
	b.waitJS("the DKIM fields", `!document.querySelector('#edit-dkim').hidden`)
	b.fill("#edit-dkim-domain", "shop.test")
	b.fill("#edit-dkim-selector", "parley")
	b.waitJS("the key pasted", fmt.Sprintf(`(() => { const el = document.querySelector('#edit-dkim-key'); el.value = %q; el.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`, keyPEM))
	b.clickJS("quote", "#edit-quote")
	b.waitJS("the last toast gone", `document.querySelector('#toast').hidden`)
	axeCheck(t, b, "settings-channels-email-imap")
	markStale()
	b.clickJS("save", "#modal-ok")
	b.waitJS("saved", `document.querySelector('#modal').hidden && /^(Account saved|Could not)/.test(document.querySelector('#toast').textContent)`)
	require.Equal(t, "Account saved", evalJS[string](b, `document.querySelector('#toast').textContent`))
	require.Eventually(t, func() bool { a, _ := account(); return a.Email != nil && a.Email.IMAP != nil }, 10e9, 50e6, "the IMAP settings are stored")
	a, _ = account()
	require.Equal(t, &engine.IMAPSettings{Host: "imap.shop.test", Port: 993, Security: engine.EmailTLS, Password: "imap-secret", Folder: "Support"}, a.Email.IMAP)
	require.NotNil(t, a.Email.DKIM)
	require.Equal(t, "shop.test", a.Email.DKIM.Domain)
	require.Equal(t, "parley", a.Email.DKIM.Selector)
	require.Equal(t, keyPEM, a.Email.DKIM.PrivateKey)
	require.True(t, a.Email.Quote)
	require.Equal(t, "Acme Care", a.Email.FromName, "the rest is kept")

	// The secrets are never sent to the page: an edit keeps them.
	fresh()
	b.clickJS("edit", row+` button[data-act=edit]`)
	b.waitJS("the edit dialog with IMAP and DKIM on", `!document.querySelector('#modal').hidden && !document.querySelector('#edit-imap').hidden && document.querySelector('#edit-imap-host').value === 'imap.shop.test' && document.querySelector('#edit-imap-password').placeholder === 'unchanged' && document.querySelector('#edit-dkim-key').placeholder === 'unchanged' && document.querySelector('#edit-quote').checked`)
	require.False(t, evalJS[bool](b, `document.body.innerHTML.includes('imap-secret') || document.body.innerHTML.includes('PRIVATE KEY-----\n')`), "no secret in the page")
	b.fill("#edit-imap-folder", "Support/New")
	b.clickJS("save", "#modal-ok")
	b.waitJS("saved", `document.querySelector('#modal').hidden`)
	require.Eventually(t, func() bool { a, _ := account(); return a.Email.IMAP.Folder == "Support/New" }, 10e9, 50e6, "the edit is stored")
	a, _ = account()
	require.Equal(t, "imap-secret", a.Email.IMAP.Password, "an empty IMAP password keeps it")
	require.Equal(t, keyPEM, a.Email.DKIM.PrivateKey, "an empty key keeps it")

	b.viewport(390, 844, true)
	b.choose("#connect-channel", "email")
	b.waitJS("the email form on a phone", `!document.querySelector('#connect-email').hidden`)
	b.noOverflow(390)
}

// A mail received over SMTP shows in the inbox as its text, with the
// original mail downloadable; its hostile HTML runs nothing; a reply
// from the composer goes out over SMTP submission.
func TestWebEmailConversation(t *testing.T) {
	browser := startBrowser(t)
	relay := mailtest.New(t)
	e, addr := newEmailEnv(t, relay)
	b := newTab(t, browser)
	b.viewport(1440, 900, false)
	b.signIn(e.url, ownerToken)
	require.NoError(t, sendMail(t, addr, "ann@example.com", []string{shopAddr}, crlf("From: Ann Lee <ann@example.com>\nTo: "+shopAddr+
		"\nSubject: Broken lamp\nMessage-ID: <lamp@example.com>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"+
		`<p onclick="window.pwned=1">My lamp <b>broke</b>.</p><img src=x onerror="window.pwned=1"><script>window.pwned=1</script>`+"\n")))
	conv, ok := e.emailThread("ann@example.com", "broken lamp")
	require.True(t, ok)
	b.waitJS("its row", fmt.Sprintf(`document.querySelector('li.conv[data-id="%s"]')`, conv))
	b.openConv(conv)
	b.waitJS("the text and the original", `[...document.querySelectorAll('#msg-list .msg .text')].some((el) => el.textContent === 'Broken lamp\n\nMy lamp broke.') && document.querySelector('#msg-list a.original') && document.querySelector('#msg-list a.original').href.startsWith('blob:')`)
	require.False(t, evalJS[bool](b, `!!window.pwned || !!document.querySelector('#msg-list img[src="x"], #msg-list script')`), "the mail's HTML ran nothing")
	axeCheck(t, b, "email-conversation")

	b.clickJS("take manual control", "#take-manual")
	b.fill("#compose", "We will send a new one.")
	b.enter()
	require.Eventually(t, func() bool { return len(relay.Messages()) == 1 }, 10*time.Second, 50*time.Millisecond, "the reply went out over SMTP")
	out, err := email.Parse(relay.Messages()[0].Data)
	require.NoError(t, err)
	require.Equal(t, "Re: Broken lamp", out.Subject)
	require.Equal(t, []string{"lamp@example.com"}, out.InReplyTo)
	require.Equal(t, "We will send a new one.", out.Text)
	b.waitJS("sent", `document.querySelector('#msg-list .msg.out .status.sent')`)
}

// dkimKeyPEM is a new Ed25519 key and its PKCS #8 PEM.
func dkimKeyPEM(t *testing.T) (ed25519.PublicKey, string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	return pub, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
