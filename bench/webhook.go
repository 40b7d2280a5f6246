package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"time"

	"github.com/parleyhq/parley/gateway/channels/meta"
)

// Fixed identities of the webhook benchmark.
const (
	BenchAppSecret = "bench-app-secret"
	BenchToken     = "pk_bench_owner"
	BenchPhoneID   = "100000000000001"
)

// WhatsAppTextWebhook returns a signed WhatsApp Cloud API webhook with one
// text message from user number u, with message id wamid.
func WhatsAppTextWebhook(wamid string, user int) ([]byte, http.Header) {
	return WhatsAppWebhook(BenchPhoneID, wamid, user, "Hello, I would like to know whether my order has shipped. Gracias! 😀")
}

// WhatsAppWebhook returns a signed WhatsApp Cloud API webhook to phone
// number id phoneID with one text message from user number u. text must
// need no JSON escaping.
func WhatsAppWebhook(phoneID, wamid string, user int, text string) ([]byte, http.Header) {
	wa := fmt.Sprintf("1555%07d", user)
	body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"WABA_1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550000000","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Customer %d"},"wa_id":"%s"}],"messages":[{"from":"%s","id":"%s","timestamp":"1750000000","type":"text","text":{"body":"%s"}}]}}]}]}`,
		phoneID, user, wa, wa, wamid, text)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Hub-Signature-256", meta.Sign(body, []byte(BenchAppSecret)))
	return body, h
}

// Process is a server under test started from a binary.
type Process struct {
	cmd  *exec.Cmd
	Addr string
}

var addrRe = regexp.MustCompile(`(?:inbox=http://|listening on )([0-9.]+:[0-9]+)`)

// StartProcess runs bin with args and env and waits until it logs its
// address.
func StartProcess(ctx context.Context, bin string, args, env []string) (*Process, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-found:
		return &Process{cmd: cmd, Addr: a}, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, errors.New("the server did not report its address")
	}
}

// PID is the process's id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Kill kills the process (SIGKILL: no shutdown runs) and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// Stop asks the process to stop (SIGINT) and waits.
func (p *Process) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return errors.New("the server did not stop in 30 s")
	}
}

// ConnectWhatsApp connects the benchmark's WhatsApp number to the
// workspace of the bootstrap token.
func ConnectWhatsApp(ctx context.Context, addr string) error {
	body := fmt.Appendf(nil, `{"channel":"whatsapp","account_id":"%s","name":"bench","access_token":"tok"}`, BenchPhoneID)
	code, resp, err := apiCall(ctx, http.MethodPost, "http://"+addr+"/api/v1/channels", body)
	if err != nil {
		return err
	}
	if code != http.StatusCreated && code != http.StatusConflict {
		return fmt.Errorf("connecting the channel: %d %s", code, resp)
	}
	return nil
}

// SetAgent sets the workspace's AI agent kind ("off", "rules"...). The
// ingest runs turn it off: they measure storing inbound messages, not
// the AI's replies and their sends.
func SetAgent(ctx context.Context, addr, kind string) error {
	code, resp, err := apiCall(ctx, http.MethodPut, "http://"+addr+"/api/v1/agent", fmt.Appendf(nil, `{"kind":%q}`, kind))
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("setting the agent: %d %s", code, resp)
	}
	return nil
}
