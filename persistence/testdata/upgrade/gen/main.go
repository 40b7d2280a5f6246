// Command gen made the data directory fixture of upgrade tests
// (../datadir-format1.tar.gz) with an earlier Parley, and the manifest
// (../manifest.json) of what that Parley's API showed just before it
// stopped.
//
// The earlier Parley is commit 4a974d2 (2026-12-02), before the media
// reference index, the contact phone and email index and the recorded
// data directory format: its data directory is format 1. It was built and
// the fixture made with:
//
//	git worktree add /tmp/oldparley 4a974d2
//	(cd /tmp/oldparley && go build -o /tmp/oldparley-bin ./cmd/parley)
//	go run ./persistence/testdata/upgrade/gen -parley /tmp/oldparley-bin -out persistence/testdata/upgrade
//
// gen starts a fake Graph API (the documented formats, as the gateway
// tests' fake does), runs the old binary on a fresh data directory with
// the owner token and Meta app secret of the gateway tests, drives it
// over HTTP (API calls and signed webhooks) and stops it with SIGTERM:
//
//   - WhatsApp, Ana (15550000001): a text and a photo in, the AI's
//     answer out and read; a note, tags vip and priority (starred); her
//     contact gets a company and a custom field.
//   - WhatsApp, Bruno (15550000002): a text in, taken over by a person,
//     who answers with a text and a file: manual, its AI resume timer
//     pending.
//   - Messenger, PSID_1: a French text in, the AI's answer, moved to
//     solved.
//   - Instagram, IGSID_1: a text in, the AI's answer, then a person's
//     reply that Graph answers 500 (a retryable error): the process stops
//     while the send waits for its next attempt, so it stays in the
//     outbox.
//   - A contact made in the API (Carla, email, phone, custom fields, a
//     note).
//
// It needs nothing but the standard library.
package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	appSecret   = "test-app-secret"
	verifyToken = "test-verify-token"
	ownerToken  = "pk_test_owner_token"
	phoneID     = "106540352242922"
	pageID      = "PAGE_1"
	igID        = "IG_1"
	failingUser = "IGSID_1" // Graph answers its sends 500
)

// photo is the WhatsApp photo Ana sends (a 1×1 PNG).
var photo = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

// label is the file a person sends Bruno.
var label = []byte("%PDF-1.4\nshipping label 4417\n%%EOF\n")

type graph struct {
	srv      *httptest.Server
	mu       sync.Mutex
	n        int
	failures int
}

// serve answers as the Graph API does: sends (WhatsApp's answer names
// the message in messages[], Messenger's and Instagram's in message_id),
// media uploads, WhatsApp media lookups and downloads. A send to
// failingUser is answered 500 with a transient Graph error.
func (g *graph) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.n++
	n := g.n
	fail := strings.HasSuffix(r.URL.Path, "/messages") && bytes.Contains(body, []byte(failingUser))
	if fail {
		g.failures++
	}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	last := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	var reply string
	switch {
	case fail:
		w.WriteHeader(http.StatusInternalServerError)
		reply = `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"AbCdEf"}}`
	case last == "messages" && strings.Contains(r.URL.Path, phoneID):
		reply = fmt.Sprintf(`{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"x"}],"messages":[{"id":"wamid.out.%d"}]}`, n)
	case last == "messages":
		reply = fmt.Sprintf(`{"recipient_id":"x","message_id":"m_out_%d"}`, n)
	case last == "media":
		reply = fmt.Sprintf(`{"id":"uploaded-%d"}`, n)
	case strings.HasPrefix(r.URL.Path, "/download/"):
		w.Header().Set("Content-Type", "image/png")
		w.Write(photo)
		return
	default: // media lookup: /{version}/{media-id}
		reply = fmt.Sprintf(`{"url":"%s/download/%s","mime_type":"image/png","sha256":"","file_size":%d,"id":"%s","messaging_product":"whatsapp"}`,
			g.srv.URL, last, len(photo), last)
	}
	io.WriteString(w, reply)
}

func (g *graph) failed() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failures
}

type client struct{ base string }

func (c client) do(method, path, ctype string, body []byte, sig string) (int, []byte) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ownerToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// api calls the API with a JSON body and fails unless it answers 2xx.
func (c client) api(method, path string, body any) []byte {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			log.Fatal(err)
		}
	}
	code, out := c.do(method, path, "application/json", b, "")
	if code/100 != 2 {
		log.Fatalf("%s %s: %d %s", method, path, code, out)
	}
	return out
}

func (c client) webhook(channel, payload string) {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(payload))
	code, out := c.do("POST", "/webhooks/"+channel, "application/json", []byte(payload), "sha256="+hex.EncodeToString(m.Sum(nil)))
	if code != http.StatusOK {
		log.Fatalf("webhook %s: %d %s", channel, code, out)
	}
}

func (c client) sendFile(conv, name string, data []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		log.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	code, out := c.do("POST", "/api/v1/conversations/"+conv+"/messages", mw.FormDataContentType(), buf.Bytes(), "")
	if code/100 != 2 {
		log.Fatalf("sending a file: %d %s", code, out)
	}
}

func waText(wamid, wa, name, text string, ts int64) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},"contacts":[{"profile":{"name":%q},"wa_id":"%s"}],"messages":[{"from":"%s","id":"%s","timestamp":"%d","type":"text","text":{"body":%q}}]}}]}]}`,
		phoneID, name, wa, wa, wamid, ts, text)
}

func waImage(wamid, wa, name, mediaID, caption string, ts int64) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},"contacts":[{"profile":{"name":%q},"wa_id":"%s"}],"messages":[{"from":"%s","id":"%s","timestamp":"%d","type":"image","image":{"id":"%s","mime_type":"image/png","sha256":"","caption":%q}}]}}]}]}`,
		phoneID, name, wa, wa, wamid, ts, mediaID, caption)
}

func waStatus(wamid, status string, ts int64) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},"statuses":[{"id":"%s","status":"%s","timestamp":"%d","recipient_id":"15550000001"}]}}]}]}`,
		phoneID, wamid, status, ts)
}

func pageText(object, account, sender, mid, text string, ms int64) string {
	return fmt.Sprintf(`{"object":%q,"entry":[{"id":"%s","time":%d,"messaging":[{"sender":{"id":"%s"},"recipient":{"id":"%s"},"timestamp":%d,"message":{"mid":"%s","text":%q}}]}]}`,
		object, account, ms, sender, account, ms, mid, text)
}

type conversation struct {
	ID             string   `json:"id"`
	Channel        string   `json:"channel"`
	ExternalUserID string   `json:"external_user_id"`
	Mode           string   `json:"mode"`
	Tags           []string `json:"tags"`
}

type message struct {
	Seq        uint64 `json:"seq"`
	Direction  string `json:"direction"`
	Status     string `json:"status"`
	ExternalID string `json:"channel_message_id"`
	Content    struct {
		Text string `json:"text"`
	} `json:"content"`
}

// conversations lists every conversation of a folder.
func (c client) conversations(folder string) []json.RawMessage {
	var page struct {
		Conversations []json.RawMessage `json:"conversations"`
	}
	if err := json.Unmarshal(c.api("GET", "/api/v1/conversations?limit=100&folder="+folder, nil), &page); err != nil {
		log.Fatal(err)
	}
	return page.Conversations
}

func (c client) find(channel, user string) conversation {
	for _, f := range []string{"open", "solved", "spam", "archived"} {
		for _, raw := range c.conversations(f) {
			var cv conversation
			if err := json.Unmarshal(raw, &cv); err != nil {
				log.Fatal(err)
			}
			if cv.Channel == channel && cv.ExternalUserID == user {
				return cv
			}
		}
	}
	log.Fatalf("no %s conversation with %s", channel, user)
	return conversation{}
}

func (c client) messages(conv string) []message {
	var page struct {
		Messages []message `json:"messages"`
	}
	if err := json.Unmarshal(c.api("GET", "/api/v1/conversations/"+conv+"/messages?limit=100", nil), &page); err != nil {
		log.Fatal(err)
	}
	return page.Messages
}

// waitFor polls cond for up to 20 s.
func waitFor(what string, cond func() bool) {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	log.Fatalf("timed out waiting for %s", what)
}

// answered waits until conversation conv holds n messages and none is
// waiting for the channel.
func (c client) answered(conv string, n int) []message {
	var msgs []message
	waitFor(fmt.Sprintf("%d messages in %s", n, conv), func() bool {
		msgs = c.messages(conv)
		if len(msgs) < n {
			return false
		}
		for _, m := range msgs {
			if m.Direction == "outbound" && (m.Status == "pending" || m.Status == "queued") {
				return false
			}
		}
		return true
	})
	return msgs
}

var runningRe = regexp.MustCompile(`msg="Parley is running" inbox=http://([0-9.:]+)/`)

func main() {
	binary := flag.String("parley", "/tmp/oldparley-bin", "the earlier Parley binary")
	out := flag.String("out", "persistence/testdata/upgrade", "where the fixture and its manifest go")
	flag.Parse()

	g := &graph{}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	defer g.srv.Close()

	work, err := os.MkdirTemp("", "parley-fixture")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	data := filepath.Join(work, "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(*binary, "-addr", addr, "-data-dir", data, "-graph-api-url", g.srv.URL)
	cmd.Env = append(os.Environ(), "PARLEY_META_APP_SECRET="+appSecret, "PARLEY_META_VERIFY_TOKEN="+verifyToken,
		"PARLEY_BOOTSTRAP_TOKEN="+ownerToken)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	running := make(chan struct{})
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(os.Stderr, "parley:", sc.Text())
			if runningRe.MatchString(sc.Text()) {
				once.Do(func() { close(running) })
			}
		}
	}()
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		log.Fatal("the old Parley did not start")
	}
	c := client{base: "http://" + addr}

	for _, a := range [][2]string{{"whatsapp", phoneID}, {"messenger", pageID}, {"instagram", igID}} {
		c.api("POST", "/api/v1/channels", map[string]string{"channel": a[0], "account_id": a[1],
			"name": a[0] + " test", "access_token": "tok-" + a[1]})
	}
	now := time.Now()
	ts := now.Unix()

	// Ana on WhatsApp: text, photo, the AI's answer read, note, tags.
	c.webhook("whatsapp", waText("wamid.ana.1", "15550000001", "Ana Lima", "Hello, my order 4417 arrived damaged", ts))
	ana := c.find("whatsapp", "15550000001")
	msgs := c.answered(ana.ID, 2)
	c.webhook("whatsapp", waImage("wamid.ana.2", "15550000001", "Ana Lima", "MEDIA_ANA_1", "the box looked like this", ts+1))
	waitFor("Ana's photo", func() bool {
		raw := c.api("GET", "/api/v1/conversations/"+ana.ID+"/messages?limit=100", nil)
		return bytes.Contains(raw, []byte(`"storage_key"`))
	})
	for _, m := range msgs {
		if m.Direction == "outbound" && strings.HasPrefix(m.ExternalID, "wamid.") {
			c.webhook("whatsapp", waStatus(m.ExternalID, "delivered", ts+2))
			c.webhook("whatsapp", waStatus(m.ExternalID, "read", ts+3))
		}
	}
	c.api("PUT", "/api/v1/conversations/"+ana.ID+"/tags/vip", nil)
	c.api("POST", "/api/v1/conversations/"+ana.ID+"/star", map[string]bool{"starred": true})
	c.api("POST", "/api/v1/conversations/"+ana.ID+"/notes", map[string]string{"text": "Replacement approved"})
	var anaConv struct {
		ContactID string `json:"contact_id"`
	}
	if err := json.Unmarshal(c.api("GET", "/api/v1/conversations/"+ana.ID, nil), &anaConv); err != nil {
		log.Fatal(err)
	}
	c.api("PATCH", "/api/v1/contacts/"+anaConv.ContactID, map[string]any{"company": "Lima Imports",
		"custom_fields": map[string]string{"order": "4417"}})

	// Bruno on WhatsApp: taken over, a person answers with text and a file.
	c.webhook("whatsapp", waText("wamid.bruno.1", "15550000002", "Bruno Costa", "Where is my parcel?", ts+4))
	bruno := c.find("whatsapp", "15550000002")
	c.answered(bruno.ID, 2)
	c.api("POST", "/api/v1/conversations/"+bruno.ID+"/takeover", nil)
	c.api("POST", "/api/v1/conversations/"+bruno.ID+"/messages", map[string]string{"text": "A person here: your parcel left the depot this morning."})
	c.sendFile(bruno.ID, "label-4417.pdf", label)
	c.answered(bruno.ID, 4)

	// Messenger: answered by the AI, moved to solved.
	c.webhook("messenger", pageText("page", pageID, "PSID_1", "m_in_1", "Bonjour, ma commande zéphyrine est en retard", now.UnixMilli()+5000))
	msgr := c.find("messenger", "PSID_1")
	c.answered(msgr.ID, 2)
	c.api("POST", "/api/v1/conversations/"+msgr.ID+"/folder", map[string]string{"folder": "solved"})

	// Instagram: the AI's answer fails while Graph answers 500 for this
	// user, so does the person's reply, which is left in the outbox.
	c.webhook("instagram", pageText("instagram", igID, failingUser, "ig_in_1", "Hola, quiero cambiar la talla", now.UnixMilli()+6000))
	ig := c.find("instagram", failingUser)
	waitFor("the AI's send to fail", func() bool { return g.failed() >= 1 })
	c.api("POST", "/api/v1/conversations/"+ig.ID+"/messages", map[string]string{"text": "Claro, ¿qué talla necesitas?"})
	waitFor("the person's send to be retried", func() bool { return g.failed() >= 4 })

	// A contact made in the API, with a note.
	var carla struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(c.api("POST", "/api/v1/contacts", map[string]any{"name": "Carla Mendes",
		"email": "carla@example.com", "phone": "+1 555 000 0003", "company": "Mendes & Filhos",
		"custom_fields": map[string]string{"plan": "gold", "region": "south"}}), &carla); err != nil {
		log.Fatal(err)
	}
	c.api("POST", "/api/v1/contacts/"+carla.ID+"/notes", map[string]string{"text": "Call back on Monday"})

	// What the API shows now, for the test to compare.
	manifest := map[string]any{"commit": "4a974d2", "stopped_at": time.Now().UTC(), "owner_token": ownerToken,
		"failing_user": failingUser}
	convs := map[string]any{}
	all := []json.RawMessage{}
	for _, f := range []string{"open", "solved", "spam", "archived"} {
		for _, raw := range c.conversations(f) {
			all = append(all, raw)
			var cv conversation
			if err := json.Unmarshal(raw, &cv); err != nil {
				log.Fatal(err)
			}
			convs[cv.ID] = json.RawMessage(c.api("GET", "/api/v1/conversations/"+cv.ID+"/messages?limit=100", nil))
		}
	}
	manifest["conversations"] = all
	manifest["messages"] = convs
	manifest["contacts"] = json.RawMessage(c.api("GET", "/api/v1/contacts?limit=100", nil))
	details := map[string]json.RawMessage{}
	var contacts struct {
		Contacts []struct {
			ID string `json:"id"`
		} `json:"contacts"`
	}
	if err := json.Unmarshal(manifest["contacts"].(json.RawMessage), &contacts); err != nil {
		log.Fatal(err)
	}
	for _, ct := range contacts.Contacts {
		details[ct.ID] = json.RawMessage(c.api("GET", "/api/v1/contacts/"+ct.ID, nil))
	}
	manifest["contact_details"] = details

	// Stop gracefully while the Instagram reply waits for its next try.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		log.Fatal(err)
	}
	<-logDone
	if err := cmd.Wait(); err != nil {
		log.Fatalf("the old Parley stopped with %v", err)
	}

	mf, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "manifest.json"), append(mf, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	tarball := filepath.Join(*out, "datadir-format1.tar.gz")
	abs, err := filepath.Abs(tarball)
	if err != nil {
		log.Fatal(err)
	}
	tar := exec.Command("tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf", abs, "-C", data, ".")
	tar.Stderr = os.Stderr
	if err := tar.Run(); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s and manifest.json", tarball)
}
