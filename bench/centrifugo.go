package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
	json "github.com/goccy/go-json"
)

// Centrifugo is a Centrifugo server (the reference realtime server the
// fan-out runs are compared with) started from its binary on 127.0.0.1
// with a generated configuration: an HTTP API key, an HS256 secret for
// connection tokens, and channels ws0, ws1… that any connected client may
// subscribe to, without history.
type Centrifugo struct {
	// Addr is the server's host:port.
	Addr string
	// Version is what the binary reports (`centrifugo version`).
	Version string
	dir     string
	apiKey  string
	secret  []byte
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has exited
	client  *http.Client  // for API calls other than the run's publishes
}

// PID is the server's process id.
func (c *Centrifugo) PID() int { return c.cmd.Process.Pid }

// StartCentrifugo writes a configuration into a temporary directory and
// runs bin on a free port of 127.0.0.1 until Stop.
func StartCentrifugo(ctx context.Context, bin string) (*Centrifugo, error) {
	bin, err := filepath.Abs(bin) // it runs in its own directory
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput() //nolint:gosec // the binary the user named
	if err != nil {
		return nil, fmt.Errorf("%s version: %w: %s", bin, err, out)
	}
	dir, err := os.MkdirTemp("", "parley-centrifugo")
	if err != nil {
		return nil, err
	}
	c := &Centrifugo{Version: centrifugoVersion(string(out)), dir: dir, apiKey: "bench-api-key",
		secret: []byte("bench-hmac-secret-0123456789abcdef"), client: &http.Client{Timeout: 10 * time.Second}}
	if err := c.start(ctx, bin); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

var versionRe = regexp.MustCompile(`v?\d+\.\d+\.\d+`)

// centrifugoVersion finds the version in `centrifugo version`'s output
// ("Centrifugo v6.9.1 (Go version: …)").
func centrifugoVersion(out string) string {
	v := versionRe.FindString(out)
	if v == "" {
		return "(unknown version)"
	}
	return "v" + strings.TrimPrefix(v, "v")
}

func (c *Centrifugo) start(ctx context.Context, bin string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	conf := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"client": map[string]any{
			"allowed_origins": []string{"*"},
			"token":           map[string]any{"hmac_secret_key": string(c.secret)},
		},
		"channel":     map[string]any{"without_namespace": map[string]any{"allow_subscribe_for_client": true}},
		"http_api":    map[string]any{"key": c.apiKey},
		"usage_stats": map[string]any{"disabled": true},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return err
	}
	path := filepath.Join(c.dir, "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "--config", path)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	c.cmd, c.Addr, c.exited = cmd, fmt.Sprintf("127.0.0.1:%d", port), make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	// Ready once the API answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.api(ctx, httpPoster{c.client}, "info", []byte(`{}`))
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("centrifugo exited before answering: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-c.exited
			return fmt.Errorf("centrifugo did not answer in 30 s: %w", err)
		}
	}
}

// Stop asks the server to stop (SIGINT), waits, and removes its
// configuration.
func (c *Centrifugo) Stop() error {
	defer os.RemoveAll(c.dir)
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("centrifugo did not stop in 30 s")
	}
}

// api calls method of the server HTTP API with a JSON body and wants an
// answer without error.
func (c *Centrifugo) api(ctx context.Context, client poster, method string, body []byte) error {
	h := http.Header{"Content-Type": {"application/json"}, "X-Api-Key": {c.apiKey}}
	b, err := client.postOK(ctx, "http://"+c.Addr+"/api/"+method, body, h)
	if err != nil {
		return err
	}
	// Errors come in a 200 answer: {"error":{"code":…,"message":…}}.
	if bytes.HasPrefix(b, []byte(`{"error"`)) {
		return fmt.Errorf("centrifugo %s: %s", method, b)
	}
	return nil
}

// Token is an HS256 connection token (JWT) for user sub.
func (c *Centrifugo) Token(sub string) string {
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"sub": sub, "exp": time.Now().Add(24 * time.Hour).Unix()})
	unsigned := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

// defaultCentrifugoEvent is the data published when no Parley event was
// sampled: a minimal message.created event.
var defaultCentrifugoEvent = []byte(`{"seq":1,"type":"message.created","data":{"message":{"text":"pbm:0:0 fan-out probe"}}}`)

// markRe finds a message's mark in a sampled event.
var markRe = regexp.MustCompile(`pb[mw]:[0-9]+:[0-9]+`)

// RunCentrifugoFanout runs cfg's shape against c with the same sender
// schedule, clients and accounting as RunFanout: workspace i is channel
// ws<i> (only the number of cfg.Workspaces counts, and cfg.Addr is not
// used), each message is published through the server HTTP API with
// event as its data, the sampled mark(s) in it replaced by the message's
// own, and each subscriber is a WebSocket client of Centrifugo's JSON
// protocol subscribed to its channel. Nil event publishes a minimal
// message.created event. Events counts publications; there is no event
// sequence to check.
func RunCentrifugoFanout(ctx context.Context, c *Centrifugo, cfg FanoutConfig, event []byte) (*FanoutResult, error) {
	if event == nil {
		event = defaultCentrifugoEvent
	}
	if !bytes.Contains(event, typeCreated) || !markRe.Match(event) || !json.Valid(event) {
		return nil, fmt.Errorf("centrifugo fan-out: the event is not a marked message.created event: %.200s", event)
	}
	cfg.Addr = c.Addr
	return runFanout(ctx, cfg, &centrifugoFanout{c: c, nws: len(cfg.Workspaces), parts: markRe.Split(string(event), -1)})
}

// centrifugoFanout publishes through Centrifugo's HTTP API and
// subscribes over its WebSocket JSON protocol.
type centrifugoFanout struct {
	c   *Centrifugo
	nws int
	// parts of the event around its marks.
	parts []string
}

var (
	pushStart = []byte(`{"push":`)
	ping      = []byte(`{}`)
)

func (p *centrifugoFanout) post(ctx context.Context, client poster, k int, _ bool, text string) error {
	mark, _, _ := strings.Cut(text, " ")
	body := make([]byte, 0, 64+len(p.parts)*len(mark)+len(p.parts[0])*2)
	body = append(body, `{"channel":"ws`...)
	body = strconv.AppendInt(body, int64(k%p.nws), 10)
	body = append(body, `","data":`...)
	for i, part := range p.parts {
		if i > 0 {
			body = append(body, mark...)
		}
		body = append(body, part...)
	}
	body = append(body, '}')
	return p.c.api(ctx, client, "publish", body)
}

func (p *centrifugoFanout) connect(ctx context.Context, d *websocket.Dialer, s *subscriber) (*websocket.Conn, error) {
	conn, _, err := d.DialContext(ctx, "ws://"+p.c.Addr+"/connection/websocket", nil)
	if err != nil {
		return nil, err
	}
	// Connect and subscribe in one frame (commands are newline
	// separated), then read both replies.
	cmds := fmt.Sprintf(`{"id":1,"connect":{"token":%q,"name":"parley-bench"}}`+"\n"+`{"id":2,"subscribe":{"channel":"ws%d"}}`,
		p.c.Token(fmt.Sprintf("bench-%p", s)), s.ws)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(cmds)); err != nil {
		return conn, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	for answered := 0; answered < 2; {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			return conn, err
		}
		for line := range bytes.SplitSeq(frame, []byte("\n")) {
			var reply struct {
				ID    int             `json:"id"`
				Error json.RawMessage `json:"error"`
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if err := json.Unmarshal(line, &reply); err != nil {
				return conn, fmt.Errorf("centrifugo reply %q: %w", line, err)
			}
			if reply.Error != nil {
				return conn, fmt.Errorf("centrifugo refused command %d: %s", reply.ID, reply.Error)
			}
			if reply.ID == 1 || reply.ID == 2 {
				answered++
			}
		}
	}
	return conn, nil
}

// read records the publications of a frame (replies are separated by
// newlines) and answers a server ping ({}) with a pong ({}).
func (p *centrifugoFanout) read(s *subscriber, frame []byte, at time.Duration) []byte {
	n := bytes.Count(frame, pushStart)
	s.events += int64(n)
	if s.record(frame, at) == 1 && n == 1 && !bytes.ContainsRune(frame, '\n') {
		s.noteCreated(frame)
	}
	if bytes.Equal(frame, ping) || bytes.HasPrefix(frame, []byte("{}\n")) || bytes.Contains(frame, []byte("\n{}")) {
		return ping
	}
	return nil
}
