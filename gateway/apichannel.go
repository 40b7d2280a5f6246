package gateway

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
	"github.com/parleyhq/parley/gateway/media"
)

// The custom API channel (README, "API channel"): an integrator posts its
// users' messages, its deliveries' statuses and its contacts' details to
// /api/v1/api-channel/{account}/..., authenticated by the account's
// inbound token, and receives the workspace's replies on its webhook
// (channels.Sender through package apichannel). Inbound messages take the
// same path as a Meta webhook's: Runtime.Ingest (the conversation actor,
// deduplicated by the channel message id), then the media queue.

// apiChannelPrefix is where an integrator's routes live.
const apiChannelPrefix = "/api/v1/api-channel/:account"

// apiChannelRoutes registers the integrator's routes; they authenticate with the
// account's inbound token, not a user's, so they come before the
// authenticated group.
func (s *Server) apiChannelRoutes(a *fiber.App) {
	a.Post(apiChannelPrefix+"/messages", s.apiInbound)
	a.Post(apiChannelPrefix+"/statuses", s.apiStatus)
	a.Post(apiChannelPrefix+"/contacts", s.apiContact)
}

var errBadInboundToken = errorf(fiber.StatusUnauthorized, "unauthorized", "a valid inbound token of this API channel account is required (Authorization: Bearer <inbound_token>)")

// apiAccount authenticates an integrator's request: the account of the
// path, with its inbound token as the bearer.
func (s *Server) apiAccount(c *fiber.Ctx) (engine.ChannelAccount, error) {
	acct, ok := s.cfg.Accounts.Get(engine.ChannelAPI, c.Params("account"))
	secret, bearer := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || !bearer || subtle.ConstantTimeCompare([]byte(secret), []byte(acct.AccessToken)) != 1 {
		s.metrics.apiChannelRequests.WithLabelValues(apiEndpoint(c), "unauthorized").Inc()
		return acct, errBadInboundToken
	}
	return acct, nil
}

// apiContactBody is who an inbound message is from, or whom a contact
// update is about.
type apiContactBody struct {
	ExternalID string  `json:"external_id"`
	Name       *string `json:"name"`
	Email      *string `json:"email"`
	Phone      *string `json:"phone"`
	AvatarURL  *string `json:"avatar_url"`
}

// apiAttachmentBody is a file an inbound message names by URL.
type apiAttachmentBody struct {
	URL      string `json:"url"`
	MimeType string `json:"mime_type"`
	Filename string `json:"filename"`
}

// apiMessageBody is an inbound message.
type apiMessageBody struct {
	SourceID   string             `json:"source_id"`
	Contact    apiContactBody     `json:"contact"`
	Text       string             `json:"text"`
	Attachment *apiAttachmentBody `json:"attachment"`
	SentAt     *time.Time         `json:"sent_at"`
}

// apiMessageAnswer is what an inbound message is answered with.
type apiMessageAnswer struct {
	Message   engine.Message `json:"message"`
	Duplicate bool           `json:"duplicate"`
}

// apiInbound stores an integrator's inbound message once (a replay of its
// source_id answers the stored message with 200) and answers 201 once it
// is committed.
func (s *Server) apiInbound(c *fiber.Ctx) error {
	acct, err := s.apiAccount(c)
	if err != nil {
		return err
	}
	var (
		body    apiMessageBody
		patch   *engine.ContactPatch
		content engine.Content
	)
	if strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEMultipartForm) {
		if body, patch, err = parseAPIMessage([]byte(c.FormValue("payload")), true); err != nil {
			return s.apiRefused(c, err)
		}
		if content, err = s.uploadContent(c, acct.WorkspaceID); err != nil {
			return s.apiRefused(c, err)
		}
		// Pinned until the message holding it is committed (or refused:
		// the file is then an orphan for the sweeper).
		defer s.media.Unpin(acct.WorkspaceID, content.Media.SHA256)
		content.Media.Caption = body.Text
	} else {
		if body, patch, err = parseAPIMessage(c.Body(), false); err != nil {
			return s.apiRefused(c, err)
		}
		content = apiContent(&body)
	}
	sentAt := s.cfg.Runtime.Clock().Now().UTC()
	if body.SentAt != nil {
		sentAt = body.SentAt.UTC()
	}
	name := ""
	if body.Contact.Name != nil {
		name = strings.TrimSpace(*body.Contact.Name)
	}
	in := engine.Inbound{WorkspaceID: acct.WorkspaceID, Channel: engine.ChannelAPI, ChannelAccountID: acct.AccountID,
		ExternalUserID: body.Contact.ExternalID, ContactName: name,
		ChannelMessageID: apichannel.InboundMessageID(acct.AccountID, body.SourceID), Content: content, SentAt: sentAt}
	if err := in.Validate(); err != nil {
		return s.apiRefused(c, fromEngine(err))
	}
	res, err := s.cfg.Runtime.Ingest(c.UserContext(), []engine.Inbound{in})
	if err != nil {
		return s.retryLater(c, err)
	}
	r := res[0]
	switch {
	case r.Err != nil && errors.Is(r.Err, engine.ErrInvalid):
		return s.apiRefused(c, fromEngine(r.Err))
	case r.Err != nil:
		return s.retryLater(c, r.Err)
	}
	if !r.Duplicate {
		if m := content.Media; m != nil && m.StorageKey == "" && m.URL != "" {
			s.enqueueMedia(mediaJob{ws: acct.WorkspaceID, conv: r.ConversationID, seq: r.Seq, account: acct, media: *m})
		}
		if patch != nil {
			// Checked by parseAPIMessage, so a refusal here is the
			// contact actor's (overload, shutdown): the message stays,
			// and a retry of it is a duplicate that changes nothing.
			if err := s.patchAPIContact(c, acct, body.Contact.ExternalID, *patch); err != nil {
				return err
			}
		}
	}
	msg, err := s.cfg.Store.Message(acct.WorkspaceID, r.ConversationID, r.Seq)
	if err != nil {
		return err
	}
	status, result := fiber.StatusCreated, "created"
	if r.Duplicate {
		status, result = fiber.StatusOK, "duplicate"
	}
	s.metrics.apiChannelRequests.WithLabelValues("messages", result).Inc()
	return c.Status(status).JSON(apiMessageAnswer{Message: msg, Duplicate: r.Duplicate})
}

// apiRefused counts a refused integrator request and returns its error.
func (s *Server) apiRefused(c *fiber.Ctx, err error) error {
	s.metrics.apiChannelRequests.WithLabelValues(apiEndpoint(c), "refused").Inc()
	return err
}

// apiEndpoint is the last element of an integrator's route: messages,
// statuses or contacts.
func apiEndpoint(c *fiber.Ctx) string {
	p := c.Route().Path
	return p[strings.LastIndexByte(p, '/')+1:]
}

// checkAPIBody checks an integrator's body against the document's schema
// of its endpoint.
func checkAPIBody(endpoint string, body []byte) error {
	schemas, err := bodySchemas()
	if err != nil {
		return err
	}
	return checkBody(schemas["POST /api/v1/api-channel/{account}/"+endpoint], body)
}

// parseAPIMessage reads an inbound message's JSON (the payload part of a
// multipart body when withFile) and checks what the schema cannot: the
// ids are not blank, the message says something, a file is given once,
// and the contact's details are valid. It returns the contact change the
// details ask for (nil for none; the name is the channel's profile name,
// which goes through the conversation instead).
func parseAPIMessage(raw []byte, withFile bool) (apiMessageBody, *engine.ContactPatch, error) {
	var b apiMessageBody
	if err := decodeJSONBytes(raw, &b); err != nil {
		return b, nil, err
	}
	if err := checkAPIBody("messages", raw); err != nil {
		return b, nil, err
	}
	switch {
	case strings.TrimSpace(b.SourceID) == "":
		return b, nil, errorf(fiber.StatusBadRequest, "invalid", "source_id must not be blank")
	case strings.TrimSpace(b.Contact.ExternalID) == "":
		return b, nil, errorf(fiber.StatusBadRequest, "invalid", "contact.external_id must not be blank")
	case withFile && b.Attachment != nil:
		return b, nil, errorf(fiber.StatusBadRequest, "invalid", "send a file either as the multipart file part or as attachment.url, not both")
	case !withFile && b.Attachment == nil && strings.TrimSpace(b.Text) == "":
		return b, nil, errorf(fiber.StatusBadRequest, "invalid", "text or attachment is required")
	case b.Attachment != nil:
		u, err := url.Parse(b.Attachment.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return b, nil, errorf(fiber.StatusBadRequest, "invalid", "attachment.url must be an absolute http or https URL")
		}
	}
	p := contactPatch(&b.Contact, false)
	if p != nil {
		if _, err := engine.PatchContact(engine.Contact{Source: engine.SourceAPI}, *p, time.Time{}); err != nil {
			return b, nil, fromEngine(err)
		}
	}
	return b, p, nil
}

// parseAPIContact reads a contact update: an external id and at least one
// valid field to change.
func parseAPIContact(raw []byte) (apiContactBody, engine.ContactPatch, error) {
	var b apiContactBody
	if err := decodeJSONBytes(raw, &b); err != nil {
		return b, engine.ContactPatch{}, err
	}
	if err := checkAPIBody("contacts", raw); err != nil {
		return b, engine.ContactPatch{}, err
	}
	if strings.TrimSpace(b.ExternalID) == "" {
		return b, engine.ContactPatch{}, errorf(fiber.StatusBadRequest, "invalid", "external_id must not be blank")
	}
	p := contactPatch(&b, true)
	if p == nil {
		return b, engine.ContactPatch{}, errorf(fiber.StatusBadRequest, "invalid", "name, email, phone or avatar_url is required")
	}
	if _, err := engine.PatchContact(engine.Contact{Source: engine.SourceAPI}, *p, time.Time{}); err != nil {
		return b, engine.ContactPatch{}, fromEngine(err)
	}
	return b, *p, nil
}

// parseAPIStatus reads a delivery status: a message id Parley gave and
// one of the statuses an integrator reports.
func parseAPIStatus(raw []byte) (apiStatusBody, error) {
	var b apiStatusBody
	if err := decodeJSONBytes(raw, &b); err != nil {
		return b, err
	}
	if err := checkAPIBody("statuses", raw); err != nil {
		return b, err
	}
	if _, err := engine.ParseID(b.MessageID); err != nil {
		return b, errorf(fiber.StatusBadRequest, "invalid", "message_id must be the id of a message Parley delivered (message.id of the delivery)")
	}
	switch b.Status {
	case engine.StatusSent, engine.StatusDelivered, engine.StatusRead, engine.StatusFailed:
	default:
		return b, errorf(fiber.StatusBadRequest, "invalid", "status must be sent, delivered, read or failed")
	}
	b.Reason = strings.TrimSpace(b.Reason)
	return b, nil
}

// apiContent is the content of a JSON inbound message: its text, or the
// file its attachment names (fetched after the commit) with the text as
// its caption.
func apiContent(b *apiMessageBody) engine.Content {
	if b.Attachment == nil {
		return engine.Content{Kind: engine.KindText, Text: b.Text}
	}
	mimeType := media.SanitizeMime(b.Attachment.MimeType)
	kind := engine.KindDocument
	switch {
	case strings.HasPrefix(mimeType, "image/"):
		kind = engine.KindImage
	case strings.HasPrefix(mimeType, "video/"):
		kind = engine.KindVideo
	case strings.HasPrefix(mimeType, "audio/"):
		kind = engine.KindAudio
	}
	return engine.Content{Kind: kind, Media: &engine.Media{URL: b.Attachment.URL, MimeType: mimeType,
		Filename: b.Attachment.Filename, Caption: b.Text}}
}

// contactPatch is the profile change a contact body asks for (the name
// only when withName: an inbound message's name is the channel's
// profile name, which goes through the conversation instead); nil when it
// asks for none.
func contactPatch(b *apiContactBody, withName bool) *engine.ContactPatch {
	p := engine.ContactPatch{Email: b.Email, Phone: b.Phone, AvatarURL: b.AvatarURL}
	if withName {
		p.Name = b.Name
	}
	if p.Name == nil && p.Email == nil && p.Phone == nil && p.AvatarURL == nil {
		return nil
	}
	return &p
}

// patchAPIContact applies p to the contact of the account's conversation
// with external user ext, through the contact's actor
// (docs/ARCHITECTURE.md, invariant 11).
func (s *Server) patchAPIContact(c *fiber.Ctx, acct engine.ChannelAccount, ext string, p engine.ContactPatch) error {
	th, ok, err := s.cfg.Store.LookupThread(acct.WorkspaceID, acct.AccountID, ext)
	if err != nil {
		return err
	}
	if !ok {
		return s.apiRefused(c, errorf(fiber.StatusNotFound, "unknown_contact", "no conversation with this external_id on this account yet: post a message first"))
	}
	if _, err := s.cfg.Runtime.UpdateContact(c.UserContext(), acct.WorkspaceID, th.ContactID, p); err != nil {
		return s.apiRefused(c, fromEngine(err))
	}
	return nil
}

// apiContact applies a contact update: external_id and the fields to
// change.
func (s *Server) apiContact(c *fiber.Ctx) error {
	acct, err := s.apiAccount(c)
	if err != nil {
		return err
	}
	body, p, err := parseAPIContact(c.Body())
	if err != nil {
		return s.apiRefused(c, err)
	}
	if err := s.patchAPIContact(c, acct, body.ExternalID, p); err != nil {
		return err
	}
	th, _, err := s.cfg.Store.LookupThread(acct.WorkspaceID, acct.AccountID, body.ExternalID)
	if err != nil {
		return err
	}
	ct, err := s.cfg.Store.Contact(acct.WorkspaceID, th.ContactID)
	if err != nil {
		return fromEngine(err)
	}
	s.metrics.apiChannelRequests.WithLabelValues("contacts", "updated").Inc()
	return c.JSON(ct)
}

// apiStatusBody is a delivery status of an outbound message.
type apiStatusBody struct {
	MessageID string                `json:"message_id"`
	Status    engine.DeliveryStatus `json:"status"`
	Reason    string                `json:"reason"`
	At        *time.Time            `json:"at"`
}

// apiStatus applies a status the integrator reports for one of the
// account's outbound messages; statuses only move forward
// (docs/ARCHITECTURE.md, invariant 3), so an older one changes nothing.
// The channel message id is scoped to the account
// (apichannel.OutboundMessageID), so a status reaches this account's
// messages only. A status that comes before Parley has recorded the
// delivery (the integrator answered it from within its webhook) is kept
// and applied once it is: it is answered 202 with pending true.
func (s *Server) apiStatus(c *fiber.Ctx) error {
	acct, err := s.apiAccount(c)
	if err != nil {
		return err
	}
	body, err := parseAPIStatus(c.Body())
	if err != nil {
		return s.apiRefused(c, err)
	}
	extID := apichannel.OutboundMessageID(acct.AccountID, body.MessageID)
	at := s.cfg.Runtime.Clock().Now().UTC()
	if body.At != nil {
		at = body.At.UTC()
	}
	rep := engine.StatusReport{WorkspaceID: acct.WorkspaceID, Channel: engine.ChannelAPI, ChannelMessageID: extID,
		Status: body.Status, At: at}
	if body.Status == engine.StatusFailed {
		rep.ErrorCode, rep.ErrorReason = "integrator", body.Reason
		if rep.ErrorReason == "" {
			rep.ErrorReason = "the integrator reported the message failed"
		}
	}
	if err := s.cfg.Runtime.ApplyStatus(c.UserContext(), []engine.StatusReport{rep}); err != nil {
		return s.retryLater(c, err)
	}
	ref, ok, err := s.cfg.Store.LookupChannelMessage(acct.WorkspaceID, engine.ChannelAPI, extID)
	if err != nil {
		return err
	}
	if !ok {
		s.metrics.apiChannelRequests.WithLabelValues("statuses", "pending").Inc()
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"pending": true})
	}
	msg, err := s.cfg.Store.Message(acct.WorkspaceID, ref.ConversationID, ref.Seq)
	if err != nil {
		return fromEngine(err)
	}
	s.metrics.apiChannelRequests.WithLabelValues("statuses", "applied").Inc()
	return c.JSON(fiber.Map{"message": msg, "pending": false})
}

// newAPISecret returns a random secret with a prefix naming what it is.
func newAPISecret(prefix string) string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}

// newAPIAccountID names a new API channel account.
func newAPIAccountID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "api_" + hex.EncodeToString(b[:])
}

// checkWebhookURL refuses a webhook URL whose host is a non-public
// address written out (or localhost) unless private addresses are
// allowed; a name resolving to one is refused when it is called.
func (s *Server) checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || s.apiClient.AllowPrivate() {
		return nil // Validate says what is wrong with a bad URL
	}
	host := strings.ToLower(u.Hostname())
	ip, perr := netip.ParseAddr(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || (perr == nil && !apichannel.PublicAddr(ip)) {
		return errorf(fiber.StatusBadRequest, "private_address",
			"webhook_url points to a loopback, private or link-local address, which Parley does not call (start it with -api-channel-allow-private to allow it)")
	}
	return nil
}

// apiAccountSecrets are the secrets of an API channel account, shown when
// it is created or they are rotated, never again.
type apiAccountSecrets struct {
	InboundToken  string `json:"inbound_token,omitempty"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// createAPIAccount connects an API channel account: its id, inbound
// token and signing secret are generated; the answer shows the secrets
// once.
func (s *Server) createAPIAccount(c *fiber.Ctx, body *accountBody) error {
	if body.AccountID != nil || body.AccessToken != nil || body.AppSecret != nil || body.RotateInboundToken != nil || body.RotateWebhookSecret != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "an api channel account takes name and webhook_url; its account_id, inbound token and webhook secret are generated")
	}
	if body.WebhookURL == nil {
		return errorf(fiber.StatusBadRequest, "invalid", "webhook_url is required for an api channel account")
	}
	if err := s.checkWebhookURL(*body.WebhookURL); err != nil {
		return err
	}
	now := time.Now().UTC()
	acct := engine.ChannelAccount{WorkspaceID: who(c).WorkspaceID, Channel: engine.ChannelAPI, AccountID: newAPIAccountID(),
		AccessToken: newAPISecret("pin_"), AppSecret: newAPISecret("whsec_"), WebhookURL: *body.WebhookURL, CreatedAt: now, UpdatedAt: now}
	if body.Name != nil {
		acct.Name = *body.Name
	}
	if err := s.ops.withinLimit(acct.WorkspaceID, engine.PlanChannelAccounts, 1, func() error { return s.cfg.Accounts.Put(acct) }); err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(s.viewAccountWith(c, acct, apiAccountSecrets{acct.AccessToken, acct.AppSecret}))
}

// updateAPIAccount applies an update to an API channel account: name,
// webhook_url, and new secrets when asked (shown in the answer, once).
func (s *Server) updateAPIAccount(c *fiber.Ctx, acct engine.ChannelAccount, body *accountBody) error {
	if body.AccessToken != nil || body.AppSecret != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "an api channel account's secrets are generated: rotate them with rotate_inbound_token or rotate_webhook_secret")
	}
	var shown apiAccountSecrets
	if body.Name != nil {
		acct.Name = *body.Name
	}
	if body.WebhookURL != nil {
		if err := s.checkWebhookURL(*body.WebhookURL); err != nil {
			return err
		}
		acct.WebhookURL = *body.WebhookURL
	}
	if body.RotateInboundToken != nil && *body.RotateInboundToken {
		acct.AccessToken = newAPISecret("pin_")
		shown.InboundToken = acct.AccessToken
	}
	if body.RotateWebhookSecret != nil && *body.RotateWebhookSecret {
		acct.AppSecret = newAPISecret("whsec_")
		shown.WebhookSecret = acct.AppSecret
	}
	acct.UpdatedAt = time.Now().UTC()
	if err := s.cfg.Accounts.Put(acct); err != nil {
		return fromEngine(err)
	}
	return c.JSON(s.viewAccountWith(c, acct, shown))
}

// apiAccountView is an API channel account as the API shows it: the
// common view, its webhook URL and the URL its integrator posts to, and
// the secrets only when just made.
type apiAccountView struct {
	accountView
	WebhookURL string `json:"webhook_url"`
	InboundURL string `json:"inbound_url"`
	apiAccountSecrets
}

// viewAccountWith shows an account, with the secrets given when it is an
// API channel account.
func (s *Server) viewAccountWith(c *fiber.Ctx, a engine.ChannelAccount, secrets apiAccountSecrets) any {
	v := s.viewAccount(a)
	if a.Channel != engine.ChannelAPI {
		return v
	}
	return apiAccountView{accountView: v, WebhookURL: a.WebhookURL,
		InboundURL: s.publicBase(c) + "/api/v1/api-channel/" + a.AccountID, apiAccountSecrets: secrets}
}

// publicBase is the server's address as users reach it: -public-url, or
// the address the request came to.
func (s *Server) publicBase(c *fiber.Ctx) string {
	base := s.media.PublicURL()
	if base == "" {
		base = c.BaseURL()
	}
	return strings.TrimRight(base, "/")
}

// errNotAPIField refuses API channel fields on a Meta account.
var errNotAPIField = errorf(fiber.StatusBadRequest, "invalid", "webhook_url, rotate_inbound_token and rotate_webhook_secret are for api channel accounts only")
