package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// The newcomer's path (issue 16), as a person takes it: Parley built and
// started as `make run` does, on a fresh data directory; the setup link
// read from its log; the owner's name, email and password set in the
// browser; a WhatsApp number connected in Settings › Channels against a
// fake Graph API, its webhook URL and verify token copied from the page;
// Meta's handshake and a signed message; the reply typed in the chat,
// sent to the Graph API; the status webhooks; the ticks. The test makes
// no API call of its own: only the webhooks Meta would send.

// graphSends is a Graph API for WhatsApp sends only, as documented
// (POST /{version}/{phone number id}/messages answered with a wamid): it
// records the text and token of each send.
type graphSends struct {
	srv  *httptest.Server
	mu   sync.Mutex
	sent []graphSend
}

type graphSend struct {
	Path, Auth, To, Text, WAMID string
}

func newGraphSends(t testing.TB) *graphSends {
	g := &graphSends{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/messages") {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"Unsupported request","type":"GraphMethodException","code":100}}`)
			return
		}
		var msg struct {
			To   string `json:"to"`
			Text struct {
				Body string `json:"body"`
			} `json:"text"`
		}
		_ = json.Unmarshal(body, &msg)
		g.mu.Lock()
		s := graphSend{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), To: msg.To, Text: msg.Text.Body,
			WAMID: fmt.Sprintf("wamid.newcomer.%d", len(g.sent)+1)}
		g.sent = append(g.sent, s)
		g.mu.Unlock()
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":%q}]}`, msg.To, msg.To, s.WAMID)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// sentText is the send of text, if the Graph API got one.
func (g *graphSends) sentText(text string) (graphSend, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.sent {
		if s.Text == text {
			return s, true
		}
	}
	return graphSend{}, false
}

// startParley builds cmd/parley and runs it as `make run` does, with
// args, and returns its log lines as they come. It is stopped (SIGTERM)
// when the test ends.
func startParley(t testing.TB, args ...string) <-chan string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build cmd/parley")
	}
	bin := filepath.Join(t.TempDir(), "parley")
	build := exec.Command(goTool, "build", "-o", bin, "../cmd/parley")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building parley: %s", out)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = cmd.Wait()
	})
	return lines
}

// logged waits for the log line re matches and returns its first group.
func logged(t testing.TB, lines <-chan string, re *regexp.Regexp) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "parley stopped before logging %s", re)
			if m := re.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		case <-timeout:
			t.Fatalf("parley did not log %s", re)
		}
	}
}

func TestWebNewcomer(t *testing.T) {
	browser := startBrowser(t)
	graph := newGraphSends(t)
	const (
		number      = "106540352242999"
		accessToken = "EAAG-newcomer-system-user-token"
		secret      = "the-app-secret-typed-in-the-ui"
		verify      = "a-verify-token-of-my-own"
		customer    = "15557000123"
	)
	lines := startParley(t, "-addr", "127.0.0.1:0", "-data-dir", t.TempDir(), "-graph-api-url", graph.srv.URL,
		"-meta-verify-token", verify)
	link := logged(t, lines, regexp.MustCompile(`msg="Open this one-time link within 24 hours[^"]*" setup=(\S+/#setup/setup_\S+)`))
	base := strings.SplitN(link, "/#", 2)[0]

	b := newTab(t, browser)
	b.viewport(1440, 900, false)
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("the setup link: name, email, password", func(t *testing.T) {
		b.t = t
		b.do("open the link", chromedp.Navigate(link))
		b.fill("#setup-name", "Nora Newcomer")
		b.fill("#setup-email", "nora@example.com")
		b.fill("#setup-password", "nora's own password")
		b.clickJS("save", "#setup-submit")
		b.waitJS("the inbox, signed in", `document.body.dataset.ready === 'true' && document.querySelector('#me-name').textContent === 'Nora Newcomer'`)
		b.waitJS("no conversation yet", `!document.querySelector('#list-empty').hidden`)
	})

	var hookURL, hookToken string
	step("Settings › Channels: connect the WhatsApp number, copy the webhook URL and verify token", func(t *testing.T) {
		b.t = t
		b.clickJS("the gear", "#open-settings")
		b.waitJS("Channels", `location.hash === '#settings/channels' && document.querySelector('#no-accounts')`)
		b.choose("#connect-channel", "whatsapp")
		b.fill("#connect-account", number)
		b.fill("#connect-name", "Support line")
		b.fill("#connect-token", accessToken)
		b.fill("#connect-secret", secret)
		b.clickJS("connect", "#connect-submit")
		b.waitJS("its row", fmt.Sprintf(`document.querySelector('#channel-accounts tr.account[data-channel=whatsapp][data-account=%q]')`, number))
		b.do("let the page use the clipboard", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			for _, name := range []string{"clipboard-read", "clipboard-write"} {
				if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
					Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: base}); err != nil {
					return err
				}
			}
			return nil
		}))
		copyOf := func(label string) string {
			b.clickJS("copy the "+label, fmt.Sprintf(`button[aria-label="Copy %s"]`, label))
			b.waitJS("copied", fmt.Sprintf(`document.querySelector('button[aria-label="Copy %s"]').dataset.copied === 'true'`, label))
			return evalJS[string](b, `navigator.clipboard.readText()`)
		}
		b.waitJS("the webhook URLs", `document.querySelector('button[aria-label="Copy WhatsApp callback URL"]')`)
		hookURL = copyOf("WhatsApp callback URL")
		hookToken = copyOf("Verify token")
		require.Equal(t, base+"/webhooks/whatsapp", hookURL)
		require.Equal(t, verify, hookToken)
		b.clickJS("back to the inbox", "#settings-back")
	})

	call := func(req *http.Request) (int, string) {
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	post := func(t *testing.T, payload string) {
		req, err := http.NewRequest(http.MethodPost, hookURL, strings.NewReader(payload))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", meta.Sign([]byte(payload), []byte(secret)))
		code, body := call(req)
		require.Equal(t, http.StatusOK, code, body)
	}

	step("Meta's handshake, then a signed message shows in the inbox", func(t *testing.T) {
		b.t = t
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {hookToken}, "hub.challenge": {"1158201444"}}
		req, err := http.NewRequest(http.MethodGet, hookURL+"?"+q.Encode(), nil)
		require.NoError(t, err)
		code, body := call(req)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, "1158201444", body)

		post(t, fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":%q},"contacts":[{"profile":{"name":"Rosa Diaz"},"wa_id":%q}],"messages":[{"from":%q,"id":"wamid.rosa.1","timestamp":"%d","type":"text","text":{"body":"Hi! Do you deliver on Sundays?"}}]}}]}]}`,
			number, customer, customer, time.Now().Unix()))
		b.waitJS("the row", `[...document.querySelectorAll('#conv-list li.conv')].some((r) => r.textContent.includes('Rosa Diaz') && r.textContent.includes('deliver on Sundays'))`)
		b.clickJS("open it", `#conv-list li.conv`)
		b.waitJS("the message", `document.querySelector('#msg-list').textContent.includes('Hi! Do you deliver on Sundays?')`)
	})

	const reply = "Yes, every Sunday from 9 to 1."
	var sent graphSend
	step("the owner replies; the Graph API gets the send", func(t *testing.T) {
		b.t = t
		b.clickJS("take manual control", "#take-manual")
		b.do("type and press Enter", chromedp.WaitVisible(chromedp.CSS("#compose")), chromedp.SendKeys(chromedp.CSS("#compose"), reply), chromedp.KeyEvent(kb.Enter))
		eventually(t, 10*time.Second, func() error {
			var ok bool
			if sent, ok = graph.sentText(reply); !ok {
				return fmt.Errorf("no send of the reply yet")
			}
			return nil
		})
		require.Equal(t, "Bearer "+accessToken, sent.Auth, "sent with the token typed in Settings")
		require.True(t, strings.HasSuffix(sent.Path, "/"+number+"/messages"), sent.Path)
		require.Equal(t, customer, sent.To)
	})

	step("status webhooks: the ticks show sent, delivered, read", func(t *testing.T) {
		b.t = t
		mine := fmt.Sprintf(`[...document.querySelectorAll('.msg.out')].find((m) => m.textContent.includes(%q))`, reply)
		b.waitJS("one tick", mine+`?.dataset.status === 'sent'`)
		for _, st := range []string{"delivered", "read"} {
			post(t, fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":%q},"statuses":[{"id":%q,"status":%q,"timestamp":"%d","recipient_id":%q}]}}]}]}`,
				number, sent.WAMID, st, time.Now().Unix(), customer))
			b.waitJS(st+" ticks", mine+`?.dataset.status === '`+st+`' && `+mine+`.querySelector('.status.`+st+`')`)
		}
		b.screenshot("newcomer-read")
	})
}
