// Package apichannel speaks Parley's custom API channel to its
// integrators: it delivers outbound messages to an account's webhook URL
// as signed JSON (Client.Deliver), checks the webhook with a signed ping
// (Client.Ping), downloads the files inbound messages name by URL
// (Client.Download), and classifies what the webhook answered into the
// courier's send errors and the account's health. Every connection it
// makes goes through a dialer that refuses loopback, private, link-local
// and other non-public addresses unless ClientConfig.AllowPrivate is set
// (the SSRF guard: an admin's webhook URL must not reach the server's own
// network).
//
// Concurrency: a Client is safe for concurrent use; it starts no
// goroutine.
package apichannel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// Headers of a webhook delivery.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256, keyed by
	// the account's secret, of the timestamp, a dot and the raw body.
	SignatureHeader = "X-Parley-Signature"
	// TimestampHeader carries the delivery's Unix time in seconds.
	TimestampHeader = "X-Parley-Timestamp"
	// EventHeader names the event (message.created, ping).
	EventHeader = "X-Parley-Event"
	// DeliveryHeader carries the message id (the same on every retry of
	// one message) or the ping's id.
	DeliveryHeader = "X-Parley-Delivery"
)

// Events a webhook receives.
const (
	EventMessageCreated = "message.created"
	EventPing           = "ping"
)

// Send error codes of a delivery (ports.SendError.Code) besides
// "http_<status>".
const (
	CodeNetwork        = "network"
	CodeTimeout        = "timeout"
	CodeBlockedAddress = "blocked_address"
	CodeBadURL         = "bad_webhook_url"
)

// InboundMessageID is the channel message id of an inbound message: the
// account's id and the integrator's source id, so that two accounts of a
// workspace may use the same source ids.
func InboundMessageID(account, sourceID string) string { return account + "/" + sourceID }

// OutboundMessageID is the channel message id of a message delivered to
// the account's webhook: the account's id, "#" and the message's id.
// Account ids hold no "/" or "#", so it never names an inbound message,
// and a status an integrator posts reaches its own account's messages
// only.
func OutboundMessageID(account, messageID string) string { return account + "#" + messageID }

// DefaultTimeout bounds one delivery when the caller's context does not.
const DefaultTimeout = 30 * time.Second

// DefaultMaxMediaBytes bounds a file downloaded for an inbound message.
const DefaultMaxMediaBytes = 100 << 20

// maxAnswerBody is how much of a webhook's answer is read (the reason of
// a refusal quotes its start).
const maxAnswerBody = 4 << 10

// userAgent names Parley to integrators.
const userAgent = "Parley-Webhook/1 (+https://github.com/parleyhq/parley)"

// ClientConfig configures a Client.
type ClientConfig struct {
	// AllowPrivate lets webhook URLs and inbound file URLs reach
	// loopback, private and link-local addresses (tests, and integrators
	// on the server's own network).
	AllowPrivate bool
	// Timeout bounds one request; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxMediaBytes bounds a download; zero means DefaultMaxMediaBytes.
	MaxMediaBytes int64
	// Now dates the deliveries; nil means time.Now.
	Now func() time.Time
	// Registerer takes the client's metrics; nil means none.
	Registerer prometheus.Registerer
}

// Client delivers to integrators' webhooks.
type Client struct {
	cfg  ClientConfig
	http *http.Client
	// deliveries counts message deliveries by result: delivered (2xx),
	// unreachable (a temporary failure: the courier retries), refused
	// (another answer) or blocked (a non-public address).
	deliveries *prometheus.CounterVec
}

// Delivery results, the result label of parley_api_channel_deliveries_total.
var deliveryResults = []string{"delivered", "unreachable", "refused", "blocked"}

// NewClient returns a client whose connections keep to cfg.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxMediaBytes <= 0 {
		cfg.MaxMediaBytes = DefaultMaxMediaBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !cfg.AllowPrivate {
		dialer.Control = refusePrivate
	}
	tr := &http.Transport{
		// No proxy: a proxy would dial on the guard's behalf.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	c := &Client{cfg: cfg, http: &http.Client{Transport: tr, Timeout: cfg.Timeout,
		// A redirect is answered as it is: following it would let a
		// webhook send Parley's signed body elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_api_channel_deliveries_total",
			Help: "Outbound API channel messages posted to integrators' webhooks, by result (delivered, unreachable: retried, refused, blocked: a non-public address)."},
			[]string{"result"})}
	for _, r := range deliveryResults {
		c.deliveries.WithLabelValues(r)
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(c.deliveries)
	}
	return c
}

// AllowPrivate reports whether the client reaches non-public addresses.
func (c *Client) AllowPrivate() bool { return c.cfg.AllowPrivate }

// errBlocked is returned by the dialer for a non-public address.
var errBlocked = errors.New("apichannel: the address is not public")

// refusePrivate is the dialer's Control: it runs on the address actually
// dialled (after DNS), so a name resolving to a private address is
// refused too.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errBlocked, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !PublicAddr(ip) {
		return fmt.Errorf("%w: %s", errBlocked, host)
	}
	return nil
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// PublicAddr reports whether ip is a public unicast address: not
// loopback, private (RFC 1918, fc00::/7), link-local, unspecified,
// multicast or carrier-grade NAT.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast() &&
		!ip.IsInterfaceLocalMulticast() && !ip.IsUnspecified() && !ip.IsMulticast() && !cgnat.Contains(ip)
}

// Sign returns the signature header value of a delivery: "sha256=" and
// the hex HMAC-SHA256 of timestamp, ".", body, keyed by secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether sig is body's signature at timestamp under
// secret, in constant time (what an integrator does; tests use it).
func Verify(secret []byte, timestamp string, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, timestamp, body)))
}

// Attachment is a file of an outbound message, fetched from URL (a signed
// link that expires after 24 hours).
type Attachment struct {
	URL      string `json:"url"`
	MimeType string `json:"mime_type,omitempty"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
}

// OutMessage is the message of a message.created delivery.
type OutMessage struct {
	ID          string        `json:"id"`
	Seq         uint64        `json:"seq"`
	Sender      engine.Sender `json:"sender"`
	Kind        string        `json:"kind"`
	Text        string        `json:"text,omitempty"`
	Attachments []Attachment  `json:"attachments"`
	CreatedAt   time.Time     `json:"created_at"`
}

// OutContact is the contact of a message.created delivery.
type OutContact struct {
	ExternalID string `json:"external_id"`
	Name       string `json:"name,omitempty"`
}

// Delivery is the JSON body of a webhook delivery.
type Delivery struct {
	Event          string      `json:"event"`
	AccountID      string      `json:"account_id"`
	ConversationID string      `json:"conversation_id,omitempty"`
	Contact        *OutContact `json:"contact,omitempty"`
	Message        *OutMessage `json:"message,omitempty"`
	SentAt         time.Time   `json:"sent_at"`
}

// NewDelivery builds the message.created delivery of msg in conv; link
// gives the signed URL of a stored file.
func NewDelivery(conv engine.Conversation, msg engine.Message, link func(*engine.Media) (string, error)) (Delivery, error) {
	m := &OutMessage{ID: msg.ID.String(), Seq: msg.Seq, Sender: msg.Sender, Kind: string(msg.Kind), Text: msg.Text,
		Attachments: []Attachment{}, CreatedAt: msg.CreatedAt.UTC()}
	if md := msg.Media; md != nil {
		u := md.URL
		if md.StorageKey != "" {
			l, err := link(md)
			if err != nil {
				return Delivery{}, err
			}
			u = l
		}
		m.Attachments = append(m.Attachments, Attachment{URL: u, MimeType: md.MimeType, Filename: md.Filename,
			Size: md.Size, SHA256: md.SHA256, Caption: md.Caption})
	}
	return Delivery{Event: EventMessageCreated, AccountID: conv.ChannelAccountID, ConversationID: conv.ID.String(),
		Contact: &OutContact{ExternalID: conv.ExternalUserID, Name: conv.ContactName}, Message: m}, nil
}

// Deliver posts d, signed with acct's secret, to acct's webhook URL, with
// id as the delivery id. A 2xx answer is a success; anything else is a
// *ports.SendError: 408, 429, 5xx, timeouts and network errors
// temporary, other answers (4xx, 3xx) and a refused address permanent,
// with a reason that quotes the answer's start.
func (c *Client) Deliver(ctx context.Context, acct engine.ChannelAccount, id string, d Delivery) error {
	d.SentAt = c.cfg.Now().UTC()
	body, err := json.Marshal(d)
	if err != nil {
		return &ports.SendError{Code: "encode", Reason: "encoding the delivery: " + err.Error()}
	}
	err = c.post(ctx, acct, d.Event, id, body)
	c.deliveries.WithLabelValues(deliveryResult(err)).Inc()
	return err
}

// deliveryResult is the metric's result of a delivery's error.
func deliveryResult(err error) string {
	var se *ports.SendError
	switch {
	case err == nil:
		return "delivered"
	case errors.As(err, &se) && se.Code == CodeBlockedAddress:
		return "blocked"
	case errors.As(err, &se) && !se.Temporary:
		return "refused"
	}
	return "unreachable"
}

// Ping posts a signed ping event to acct's webhook: the health check of
// an API channel account.
func (c *Client) Ping(ctx context.Context, acct engine.ChannelAccount) error {
	now := c.cfg.Now().UTC()
	body, err := json.Marshal(Delivery{Event: EventPing, AccountID: acct.AccountID, SentAt: now})
	if err != nil {
		return &ports.SendError{Code: "encode", Reason: "encoding the ping: " + err.Error()}
	}
	return c.post(ctx, acct, EventPing, "ping-"+strconv.FormatInt(now.UnixNano(), 36), body)
}

func (c *Client) post(ctx context.Context, acct engine.ChannelAccount, event, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, acct.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return &ports.SendError{Code: CodeBadURL, Reason: "the account's webhook URL is not usable: " + err.Error()}
	}
	ts := strconv.FormatInt(c.cfg.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, Sign([]byte(acct.AppSecret), ts, body))
	req.Header.Set(EventHeader, event)
	req.Header.Set(DeliveryHeader, id)
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(err)
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody))
	return statusError(resp.StatusCode, answer)
}

// transportError classifies a request that got no answer.
func transportError(err error) *ports.SendError {
	var ne net.Error
	switch {
	case errors.Is(err, errBlocked):
		return &ports.SendError{Code: CodeBlockedAddress,
			Reason: "the webhook URL resolves to a loopback, private or link-local address, which Parley does not call (-api-channel-allow-private allows it)"}
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return &ports.SendError{Code: CodeTimeout, Reason: truncate("The webhook did not answer in time: " + err.Error()), Temporary: true}
	}
	return &ports.SendError{Code: CodeNetwork, Reason: truncate("Could not reach the webhook: " + err.Error()), Temporary: true}
}

// statusError classifies an answer: nil for a 2xx.
func statusError(status int, answer []byte) error {
	if status >= 200 && status <= 299 {
		return nil
	}
	reason := fmt.Sprintf("The webhook answered HTTP %d", status)
	if a := strings.TrimSpace(strings.ToValidUTF8(string(answer), "")); a != "" {
		reason += ": " + a
	}
	temporary := status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
	return &ports.SendError{Code: "http_" + strconv.Itoa(status), Reason: truncate(reason), Temporary: temporary}
}

func truncate(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// HealthOf is what a delivery or a ping says of the account: connected
// after a 2xx, unreachable after a temporary failure, error after a
// refusal or a blocked address.
func HealthOf(err error) engine.HealthResult {
	if err == nil {
		return engine.HealthResult{State: engine.HealthConnected}
	}
	var se *ports.SendError
	if !errors.As(err, &se) {
		return engine.HealthResult{State: engine.HealthUnreachable, Reason: truncate(err.Error()), Code: CodeNetwork}
	}
	st := engine.HealthError
	if se.Temporary {
		st = engine.HealthUnreachable
	}
	return engine.HealthResult{State: st, Reason: se.Reason, Code: se.Code}
}

// Download fetches a file an inbound message names by URL, through the
// guarded dialer, with no credential. It returns the bytes and the
// answer's Content-Type.
func (c *Client) Download(ctx context.Context, rawURL string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("apichannel: download: %w", err)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("apichannel: download: %w", transportError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, "", fmt.Errorf("apichannel: download: HTTP %d", resp.StatusCode)
	}
	limit := c.cfg.MaxMediaBytes
	if resp.ContentLength > limit {
		return nil, "", fmt.Errorf("apichannel: download: %d bytes, the limit is %d", resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("apichannel: download: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, "", fmt.Errorf("apichannel: download: more than %d bytes", limit)
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// Checker is the channels.HealthChecker of API channel accounts: a signed
// ping to the webhook.
type Checker struct {
	Client *Client
}

// Check implements channels.HealthChecker.
func (k Checker) Check(ctx context.Context, acct engine.ChannelAccount) engine.HealthResult {
	return HealthOf(k.Client.Ping(ctx, acct))
}
