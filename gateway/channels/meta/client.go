package meta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-json"
	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
)

// Defaults for ClientConfig.
const (
	DefaultBaseURL          = "https://graph.facebook.com"
	DefaultInstagramBaseURL = "https://graph.instagram.com"
	DefaultVersion          = "v25.0"
	DefaultMaxMediaBytes    = 100 << 20
	DefaultHTTPTimeout      = 2 * time.Minute
)

// userAgent names Parley to Meta; some Meta media hosts refuse requests
// without a User-Agent.
const userAgent = "Parley (+https://github.com/parleyhq/parley)"

// maxAPIBody bounds the JSON bodies read from the Graph API (media files
// are bounded by MaxMediaBytes instead).
const maxAPIBody = 1 << 20

// ClientConfig configures a Client. Zero values mean the documented
// defaults.
type ClientConfig struct {
	// BaseURL is the Graph API host for WhatsApp and Messenger sends and
	// WhatsApp media, without the version; empty means
	// https://graph.facebook.com.
	BaseURL string
	// InstagramBaseURL is the Instagram Login API host for Instagram
	// sends; empty means https://graph.instagram.com.
	InstagramBaseURL string
	// Version is the pinned Graph API version; empty means v25.0.
	Version string
	// HTTP makes the requests; nil means a client with a 2 minute overall
	// timeout. Callers bound each call with its context.
	HTTP *http.Client
	// MaxMediaBytes bounds a media download or upload; zero or negative
	// means 100 MiB.
	MaxMediaBytes int64
	// Clock drives the rate limiter; nil means the real clock.
	Clock clockwork.Clock
	// Limits are the per-account send rates the Client keeps to before
	// each send; zero fields mean Meta's documented defaults, negative
	// ones turn a limit off.
	Limits RateLimits
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() ClientConfig { return ClientConfig{}.withDefaults() }

func (c ClientConfig) withDefaults() ClientConfig {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.InstagramBaseURL == "" {
		c.InstagramBaseURL = DefaultInstagramBaseURL
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.MaxMediaBytes <= 0 {
		c.MaxMediaBytes = DefaultMaxMediaBytes
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// Validate reports a configuration the Client cannot work with: base URLs
// that are not absolute http(s) URLs, or a version that is not "v<n>.<m>".
// Zero values are valid (they mean the defaults).
func (c ClientConfig) Validate() error {
	c = c.withDefaults()
	for name, raw := range map[string]string{"BaseURL": c.BaseURL, "InstagramBaseURL": c.InstagramBaseURL} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("meta: config: %s %q is not an absolute http(s) URL", name, raw)
		}
	}
	if !strings.HasPrefix(c.Version, "v") || strings.ContainsAny(c.Version, "/?# ") {
		return fmt.Errorf("meta: config: Version %q is not like v25.0", c.Version)
	}
	return nil
}

// Client calls Meta's send and media APIs for WhatsApp Cloud API,
// Messenger and Instagram (Instagram Login). It keeps to the per-account
// rate limits before each send. A Client is safe for concurrent use.
//
// The send methods return the channel's message id, or an error: a
// *GraphError for a Graph error response, one of the package's sentinel
// errors, or a wrapped transport error. Classify turns any of them into an
// *ports.SendError.
type Client struct {
	cfg     ClientConfig
	http    *http.Client
	limiter *RateLimiter
}

// NewClient returns a Client for cfg with the defaults applied. It starts
// nothing. Check cfg with Validate first: an invalid URL only shows up as
// failed requests.
func NewClient(cfg ClientConfig) *Client {
	cfg = cfg.withDefaults()
	return &Client{cfg: cfg, http: cfg.HTTP, limiter: NewRateLimiter(cfg.Clock, cfg.Limits)}
}

// SetAccountRates gives accounts their own send rate (RateLimiter.SetAccountRates).
func (c *Client) SetAccountRates(f func(LimitKey) float64) { c.limiter.SetAccountRates(f) }

// Media is a downloaded media file.
type Media struct {
	Data     []byte
	MimeType string
	// SHA256 is the hex SHA-256 of Data.
	SHA256 string
	Size   int64
}

// ---- WhatsApp ----

type outWAMessage struct {
	MessagingProduct string           `json:"messaging_product"`
	RecipientType    string           `json:"recipient_type"`
	To               string           `json:"to"`
	Type             string           `json:"type"`
	Context          *outWAContext    `json:"context,omitempty"`
	Text             *outWAText       `json:"text,omitempty"`
	Image            *outWAMedia      `json:"image,omitempty"`
	Video            *outWAMedia      `json:"video,omitempty"`
	Audio            *outWAMedia      `json:"audio,omitempty"`
	Document         *outWAMedia      `json:"document,omitempty"`
	Sticker          *outWAMedia      `json:"sticker,omitempty"`
	Reaction         *outWAReaction   `json:"reaction,omitempty"`
	Location         *engine.Location `json:"location,omitempty"`
	Contacts         json.RawMessage  `json:"contacts,omitempty"`
	Template         *outWATemplate   `json:"template,omitempty"`
	BizOpaque        string           `json:"biz_opaque_callback_data,omitempty"`
}

type outWAContext struct {
	MessageID string `json:"message_id"`
}

type outWAText struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url"`
}

type outWAMedia struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

type outWAReaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"` // empty removes the reaction
}

// SendWhatsApp sends c to the WhatsApp user to (a wa_id or phone number)
// from the business number phoneNumberID (Cloud API POST
// /{phone-number-id}/messages). Text goes
// with preview_url false; media goes by c.Media.Ref (a media id from
// UploadWhatsAppMedia) or else c.Media.URL (a link Meta fetches), with the
// caption on image, video and document and the filename on document;
// reactions, locations and contact cards (c.Contacts, WhatsApp's JSON) are
// sent as such, and a template (engine.KindTemplate) as the send API's
// template object with its header and body parameters. c.ReplyTo becomes context.message_id and callbackData
// biz_opaque_callback_data. It waits for the number's and the recipient's
// rate limits first, and returns messages[0].id.
func (c *Client) SendWhatsApp(ctx context.Context, phoneNumberID, token, to string, content engine.Content, callbackData string) (string, error) {
	msg := outWAMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, BizOpaque: callbackData}
	if content.ReplyTo != "" && content.Kind != engine.KindReaction {
		msg.Context = &outWAContext{MessageID: content.ReplyTo}
	}
	msg.Type = string(content.Kind)
	switch content.Kind {
	case engine.KindText:
		if content.Text == "" {
			return "", fmt.Errorf("%w: empty text", ErrUnsupportedContent)
		}
		msg.Text = &outWAText{Body: content.Text}
	case engine.KindImage, engine.KindVideo, engine.KindAudio, engine.KindDocument, engine.KindSticker:
		m := content.Media
		if m == nil || (m.Ref == "" && m.URL == "") {
			return "", fmt.Errorf("%w: %s without a media id or URL", ErrUnsupportedContent, content.Kind)
		}
		wm := &outWAMedia{ID: m.Ref}
		if wm.ID == "" {
			wm.Link = m.URL
		}
		caption := m.Caption
		if caption == "" {
			caption = content.Text
		}
		switch content.Kind {
		case engine.KindImage:
			wm.Caption, msg.Image = caption, wm
		case engine.KindVideo:
			wm.Caption, msg.Video = caption, wm
		case engine.KindDocument:
			wm.Caption, wm.Filename, msg.Document = caption, m.Filename, wm
		case engine.KindAudio:
			msg.Audio = wm
		case engine.KindSticker:
			msg.Sticker = wm
		}
	case engine.KindReaction:
		if content.Reaction == nil || content.Reaction.TargetChannelMessageID == "" {
			return "", fmt.Errorf("%w: reaction without a target message", ErrUnsupportedContent)
		}
		msg.Reaction = &outWAReaction{MessageID: content.Reaction.TargetChannelMessageID, Emoji: content.Reaction.Emoji}
	case engine.KindLocation:
		if content.Location == nil {
			return "", fmt.Errorf("%w: location without coordinates", ErrUnsupportedContent)
		}
		msg.Location = content.Location
	case engine.KindContacts:
		if len(content.Contacts) == 0 || !json.Valid(content.Contacts) {
			return "", fmt.Errorf("%w: contacts without valid contact cards", ErrUnsupportedContent)
		}
		msg.Contacts = json.RawMessage(content.Contacts)
	case engine.KindTemplate:
		t, err := outTemplate(content.Template)
		if err != nil {
			return "", err
		}
		msg.Template, msg.Context = t, nil
	default:
		return "", fmt.Errorf("%w: %q on WhatsApp", ErrUnsupportedContent, content.Kind)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return "", fmt.Errorf("meta: encoding whatsapp message: %w", err)
	}
	if err := c.limiter.WaitPair(ctx, phoneNumberID, to); err != nil {
		return "", fmt.Errorf("meta: waiting for the whatsapp pair rate limit: %w", err)
	}
	if err := c.limiter.Wait(ctx, LimitKey{engine.ChannelWhatsApp, phoneNumberID}, SendStandard); err != nil {
		return "", fmt.Errorf("meta: waiting for the whatsapp rate limit: %w", err)
	}
	var resp struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := c.call(ctx, "send whatsapp message", http.MethodPost, c.graphURL(phoneNumberID, "messages"), token,
		"application/json", body, &resp); err != nil {
		return "", err
	}
	if len(resp.Messages) == 0 || resp.Messages[0].ID == "" {
		return "", fmt.Errorf("%w: send whatsapp message: no messages[0].id", ErrBadResponse)
	}
	return resp.Messages[0].ID, nil
}

// UploadWhatsAppMedia uploads a file for phoneNumberID and returns its
// media id, for SendWhatsApp's c.Media.Ref. The file is read whole into
// memory (at most MaxMediaBytes, else ErrMediaTooLarge) so the request
// has a length.
func (c *Client) UploadWhatsAppMedia(ctx context.Context, phoneNumberID, token, filename, mimeType string, r io.Reader) (string, error) {
	body, ctype, err := c.multipartBody(
		[][2]string{{"messaging_product", "whatsapp"}, {"type", mimeType}},
		"file", filename, mimeType, r)
	if err != nil {
		return "", err
	}
	var resp struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, "upload whatsapp media", http.MethodPost, c.graphURL(phoneNumberID, "media"), token,
		ctype, body, &resp); err != nil {
		return "", err
	}
	if resp.ID == "" {
		return "", fmt.Errorf("%w: upload whatsapp media: no id", ErrBadResponse)
	}
	return resp.ID, nil
}

// waMediaInfoResp is GET /{media-id}. file_size comes as a number or, in
// some examples, a string.
type waMediaInfoResp struct {
	URL      string        `json:"url"`
	MimeType string        `json:"mime_type"`
	SHA256   string        `json:"sha256"`
	FileSize mediaFileSize `json:"file_size"`
	ID       string        `json:"id"`
}

// FetchWhatsAppMedia downloads an inbound WhatsApp media file: it asks
// the Graph API for the media URL, then fetches it with the same token.
// The file must be at most MaxMediaBytes (ErrMediaTooLarge) and match the
// declared file_size and sha256 (ErrMediaChecksum).
func (c *Client) FetchWhatsAppMedia(ctx context.Context, mediaID, token string) (Media, error) {
	if mediaID == "" {
		return Media{}, errors.New("meta: fetch whatsapp media: empty media id")
	}
	var info waMediaInfoResp
	if err := c.call(ctx, "fetch whatsapp media info", http.MethodGet, c.graphURL(mediaID, ""), token, "", nil, &info); err != nil {
		return Media{}, err
	}
	if info.URL == "" {
		return Media{}, fmt.Errorf("%w: fetch whatsapp media info: no url", ErrBadResponse)
	}
	if int64(info.FileSize) > c.cfg.MaxMediaBytes {
		return Media{}, fmt.Errorf("%w: media %s declares %d bytes, the limit is %d", ErrMediaTooLarge, mediaID, info.FileSize, c.cfg.MaxMediaBytes)
	}
	m, err := c.download(ctx, "download whatsapp media", info.URL, token)
	if err != nil {
		return Media{}, err
	}
	if info.MimeType != "" {
		m.MimeType = info.MimeType
	}
	if info.FileSize > 0 && m.Size != int64(info.FileSize) {
		return Media{}, fmt.Errorf("%w: media %s: got %d bytes, Meta declared %d", ErrMediaChecksum, mediaID, m.Size, info.FileSize)
	}
	if info.SHA256 != "" {
		want, ok := decodeDigest(info.SHA256)
		if !ok {
			return Media{}, fmt.Errorf("%w: media %s: unreadable sha256 %q", ErrMediaChecksum, mediaID, info.SHA256)
		}
		if hex.EncodeToString(want) != m.SHA256 {
			return Media{}, fmt.Errorf("%w: media %s", ErrMediaChecksum, mediaID)
		}
	}
	return m, nil
}

// Download fetches a Messenger or Instagram attachment URL (token, when
// not empty, goes as a Bearer token). The file must be at most
// MaxMediaBytes (ErrMediaTooLarge); MimeType is the response's
// Content-Type.
func (c *Client) Download(ctx context.Context, rawURL, token string) (Media, error) {
	return c.download(ctx, "download media", rawURL, token)
}

func (c *Client) download(ctx context.Context, op, rawURL, token string) (Media, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Media{}, fmt.Errorf("meta: %s: %w", op, err)
	}
	req.Header.Set("User-Agent", userAgent)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Media{}, fmt.Errorf("meta: %s: %w", op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
		if rerr != nil {
			return Media{}, fmt.Errorf("meta: %s: reading HTTP %d response: %w", op, resp.StatusCode, rerr)
		}
		return Media{}, parseGraphError(resp.StatusCode, data)
	}
	limit := c.cfg.MaxMediaBytes
	if resp.ContentLength > limit {
		return Media{}, fmt.Errorf("%w: %s: %d bytes, the limit is %d", ErrMediaTooLarge, op, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Media{}, fmt.Errorf("meta: %s: %w", op, err)
	}
	if int64(len(data)) > limit {
		return Media{}, fmt.Errorf("%w: %s: more than %d bytes", ErrMediaTooLarge, op, limit)
	}
	sum := sha256.Sum256(data)
	return Media{
		Data:     data,
		MimeType: resp.Header.Get("Content-Type"),
		SHA256:   hex.EncodeToString(sum[:]),
		Size:     int64(len(data)),
	}, nil
}

// ---- Messenger and Instagram ----

type outPageRequest struct {
	Recipient     outRecipient    `json:"recipient"`
	MessagingType string          `json:"messaging_type,omitempty"`
	Message       *outPageMessage `json:"message,omitempty"`
	SenderAction  string          `json:"sender_action,omitempty"`
	Payload       *outIGReaction  `json:"payload,omitempty"`
}

type outRecipient struct {
	ID string `json:"id"`
}

type outPageMessage struct {
	Text       string         `json:"text,omitempty"`
	Attachment *outAttachment `json:"attachment,omitempty"`
	Metadata   string         `json:"metadata,omitempty"`
}

type outAttachment struct {
	Type    string     `json:"type"`
	Payload outPayload `json:"payload"`
}

type outPayload struct {
	URL        string `json:"url,omitempty"`
	IsReusable bool   `json:"is_reusable,omitempty"`
}

type outIGReaction struct {
	MessageID string `json:"message_id"`
	Reaction  string `json:"reaction,omitempty"`
}

// outAttachmentType maps a media kind to a Messenger/Instagram attachment
// type; stickers go as images.
func outAttachmentType(k engine.MessageKind) (string, bool) {
	switch k {
	case engine.KindImage, engine.KindSticker:
		return "image", true
	case engine.KindVideo:
		return "video", true
	case engine.KindAudio:
		return "audio", true
	case engine.KindDocument:
		return "file", true
	}
	return "", false
}

// SendMessenger sends c to the user psid from the Page pageID with
// messaging_type RESPONSE (Send API POST /{page-id}/messages). Text goes as message.text;
// media goes as an attachment, uploaded from media when it is not nil
// (multipart, at most MaxMediaBytes, saved as reusable) or else by
// c.Media.URL. Attachments carry no caption: send it as its own text
// message. metadata comes back on the echo. It waits for the Page's rate
// limit first (10/s for audio and video) and returns message_id.
func (c *Client) SendMessenger(ctx context.Context, pageID, token, psid string, content engine.Content, metadata string, media io.Reader) (string, error) {
	req := outPageRequest{Recipient: outRecipient{ID: psid}, MessagingType: "RESPONSE", Message: &outPageMessage{Metadata: metadata}}
	var body []byte
	ctype := "application/json"
	switch content.Kind {
	case engine.KindText:
		if content.Text == "" {
			return "", fmt.Errorf("%w: empty text", ErrUnsupportedContent)
		}
		req.Message.Text = content.Text
	default:
		at, ok := outAttachmentType(content.Kind)
		if !ok {
			return "", fmt.Errorf("%w: %q on Messenger", ErrUnsupportedContent, content.Kind)
		}
		if media != nil {
			req.Message.Attachment = &outAttachment{Type: at, Payload: outPayload{IsReusable: true}}
			recipient, err := json.Marshal(req.Recipient)
			if err != nil {
				return "", fmt.Errorf("meta: encoding messenger recipient: %w", err)
			}
			message, err := json.Marshal(req.Message)
			if err != nil {
				return "", fmt.Errorf("meta: encoding messenger message: %w", err)
			}
			var filename, mimeType string
			if content.Media != nil {
				filename, mimeType = content.Media.Filename, content.Media.MimeType
			}
			if filename == "" {
				filename = "file"
			}
			body, ctype, err = c.multipartBody([][2]string{
				{"recipient", string(recipient)},
				{"messaging_type", req.MessagingType},
				{"message", string(message)},
			}, "filedata", filename, mimeType, media)
			if err != nil {
				return "", err
			}
			break
		}
		if content.Media == nil || content.Media.URL == "" {
			return "", fmt.Errorf("%w: %s without a URL or file on Messenger", ErrUnsupportedContent, content.Kind)
		}
		req.Message.Attachment = &outAttachment{Type: at, Payload: outPayload{URL: content.Media.URL, IsReusable: true}}
	}
	if body == nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return "", fmt.Errorf("meta: encoding messenger message: %w", err)
		}
	}
	if err := c.limiter.Wait(ctx, LimitKey{engine.ChannelMessenger, pageID}, ClassOf(engine.ChannelMessenger, content.Kind)); err != nil {
		return "", fmt.Errorf("meta: waiting for the messenger rate limit: %w", err)
	}
	return c.sendPageStyle(ctx, "send messenger message", c.graphURL(pageID, "messages"), token, ctype, body, "")
}

// SendInstagram sends c to the user igsid from the Instagram professional
// account igAccountID through the Instagram Login API (POST
// graph.instagram.com/{ig-id}/messages).
// Text goes as message.text, media as an attachment by c.Media.URL (no
// caption), and reactions as sender_action react/unreact: Instagram only
// has the "love" reaction, so any emoji sends it and an empty one takes it
// off. A reaction's answer has no message id; the returned id is then
// "reaction:" plus the target message id. It waits for the account's rate
// limit first and returns message_id.
func (c *Client) SendInstagram(ctx context.Context, igAccountID, token, igsid string, content engine.Content) (string, error) {
	req := outPageRequest{Recipient: outRecipient{ID: igsid}}
	fallbackID := ""
	switch content.Kind {
	case engine.KindText:
		if content.Text == "" {
			return "", fmt.Errorf("%w: empty text", ErrUnsupportedContent)
		}
		req.Message = &outPageMessage{Text: content.Text}
	case engine.KindReaction:
		r := content.Reaction
		if r == nil || r.TargetChannelMessageID == "" {
			return "", fmt.Errorf("%w: reaction without a target message", ErrUnsupportedContent)
		}
		req.Payload = &outIGReaction{MessageID: r.TargetChannelMessageID}
		if r.Emoji == "" {
			req.SenderAction = "unreact"
		} else {
			req.SenderAction, req.Payload.Reaction = "react", "love"
		}
		fallbackID = "reaction:" + r.TargetChannelMessageID
	default:
		at, ok := outAttachmentType(content.Kind)
		if !ok {
			return "", fmt.Errorf("%w: %q on Instagram", ErrUnsupportedContent, content.Kind)
		}
		if content.Media == nil || content.Media.URL == "" {
			return "", fmt.Errorf("%w: %s without a URL on Instagram", ErrUnsupportedContent, content.Kind)
		}
		req.Message = &outPageMessage{Attachment: &outAttachment{Type: at, Payload: outPayload{URL: content.Media.URL}}}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("meta: encoding instagram message: %w", err)
	}
	if err := c.limiter.Wait(ctx, LimitKey{engine.ChannelInstagram, igAccountID}, ClassOf(engine.ChannelInstagram, content.Kind)); err != nil {
		return "", fmt.Errorf("meta: waiting for the instagram rate limit: %w", err)
	}
	return c.sendPageStyle(ctx, "send instagram message", c.urlFor(c.cfg.InstagramBaseURL, igAccountID, "messages"), token,
		"application/json", body, fallbackID)
}

// sendPageStyle posts a Messenger-style send and returns message_id (or
// fallbackID when the answer has none and fallbackID is set).
func (c *Client) sendPageStyle(ctx context.Context, op, u, token, ctype string, body []byte, fallbackID string) (string, error) {
	var resp struct {
		RecipientID string `json:"recipient_id"`
		MessageID   string `json:"message_id"`
	}
	if err := c.call(ctx, op, http.MethodPost, u, token, ctype, body, &resp); err != nil {
		return "", err
	}
	if resp.MessageID == "" {
		if fallbackID != "" {
			return fallbackID, nil
		}
		return "", fmt.Errorf("%w: %s: no message_id", ErrBadResponse, op)
	}
	return resp.MessageID, nil
}

// ---- plumbing ----

func (c *Client) graphURL(node, edge string) string { return c.urlFor(c.cfg.BaseURL, node, edge) }

// urlFor builds {base}/{version}/{node}[/{edge}], escaping node.
func (c *Client) urlFor(base, node, edge string) string {
	u := strings.TrimRight(base, "/") + "/" + c.cfg.Version + "/" + url.PathEscape(node)
	if edge != "" {
		u += "/" + edge
	}
	return u
}

// call makes one Graph API request and decodes a success into out. A
// non-2xx answer or an error object is returned as a *GraphError, a
// failed request as a wrapped transport error, and an undecodable success
// as ErrBadResponse.
func (c *Client) call(ctx context.Context, op, method, u, token, ctype string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("meta: %s: %w", op, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("meta: %s: %w", op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return fmt.Errorf("meta: %s: reading HTTP %d response: %w", op, resp.StatusCode, err)
	}
	if ge := parseGraphError(resp.StatusCode, data); ge != nil {
		return ge
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadResponse, op, err)
		}
	}
	return nil
}

// multipartBody builds a multipart/form-data body with fields, then the
// file read from r (at most MaxMediaBytes) under fileField.
func (c *Client) multipartBody(fields [][2]string, fileField, filename, mimeType string, r io.Reader) ([]byte, string, error) {
	if r == nil {
		return nil, "", fmt.Errorf("%w: no file to upload", ErrUnsupportedContent)
	}
	data, err := io.ReadAll(io.LimitReader(r, c.cfg.MaxMediaBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("meta: reading the file to upload: %w", err)
	}
	if int64(len(data)) > c.cfg.MaxMediaBytes {
		return nil, "", fmt.Errorf("%w: upload of more than %d bytes", ErrMediaTooLarge, c.cfg.MaxMediaBytes)
	}
	var buf bytes.Buffer
	buf.Grow(len(data) + 1024)
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return nil, "", fmt.Errorf("meta: building upload: %w", err)
		}
	}
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="`+quoteEscaper.Replace(fileField)+`"; filename="`+quoteEscaper.Replace(filename)+`"`)
	h.Set("Content-Type", mimeType)
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("meta: building upload: %w", err)
	}
	if _, err := part.Write(data); err != nil {
		return nil, "", fmt.Errorf("meta: building upload: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("meta: building upload: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// quoteEscaper escapes a multipart header parameter the way
// mime/multipart does, and drops line breaks that would end the header.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")

// decodeDigest reads a SHA-256 digest written as hex or base64 (standard
// or URL alphabet, padded or not).
func decodeDigest(s string) ([]byte, bool) {
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, true
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == sha256.Size {
			return b, true
		}
	}
	return nil, false
}

// mediaFileSize is a JSON integer that may come quoted.
type mediaFileSize int64

func (n *mediaFileSize) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("meta: file_size %s: %w", b, err)
	}
	*n = mediaFileSize(v)
	return nil
}
