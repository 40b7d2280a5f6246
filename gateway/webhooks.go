package gateway

import (
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/gateway/channels/meta"
)

// verifyWebhook answers Meta's subscription handshake.
func (s *Server) verifyWebhook(c *fiber.Ctx) error {
	mode := c.Query("hub.mode")
	token := c.Query("hub.verify_token")
	challenge := c.Query("hub.challenge")
	want := s.cfg.VerifyToken
	if mode != "subscribe" || want == "" || challenge == "" ||
		subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		s.metrics.webhookVerifyFailures.WithLabelValues(c.Params("channel")).Inc()
		return errorf(fiber.StatusForbidden, "forbidden", "verification failed")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlain)
	return c.SendString(challenge)
}

type parser func([]byte) (meta.Batch, error)

var parsers = map[engine.Channel]parser{
	engine.ChannelWhatsApp:  meta.ParseWhatsApp,
	engine.ChannelMessenger: meta.ParseMessenger,
	engine.ChannelInstagram: meta.ParseInstagram,
}

// receiveWebhook checks the signature over the raw body, parses the
// delivery, stores every message and status, and answers 200 only once
// all of it is committed.
func (s *Server) receiveWebhook(c *fiber.Ctx) error {
	ch := engine.Channel(c.Params("channel"))
	parse, ok := parsers[ch]
	if !ok {
		return errNotFound
	}
	s.metrics.webhookRequests.WithLabelValues(string(ch)).Inc()
	body := c.Body()
	sig := c.Get(meta.SignatureHeader)
	trusted := s.cfg.AppSecret != "" && meta.VerifySignature(body, sig, []byte(s.cfg.AppSecret))
	batch, err := parse(body)
	if !trusted && !s.signedForAccounts(ch, body, sig, batch, err) {
		s.metrics.webhookSignatureFailures.WithLabelValues(string(ch)).Inc()
		return errBadSignature
	}
	defer s.observeWebhook(ch, time.Now())
	if err != nil {
		s.metrics.webhookRejected.WithLabelValues(string(ch)).Inc()
		return errorf(fiber.StatusBadRequest, "bad_payload", "%s", err.Error())
	}
	for _, e := range batch.Errors {
		s.log.Error("Channel reported an error", "channel", ch, "code", e.Code, "title", e.Title, "details", e.Details)
	}
	if len(batch.TemplateStatuses) > 0 {
		if err := s.applyTemplateStatuses(batch.TemplateStatuses, trusted, body, sig); err != nil {
			return s.retryLater(c, err)
		}
	}
	ctx := c.UserContext()
	ins, jobs, ownEchoes := s.inbound(ch, batch.Messages)
	if len(ins) > 0 {
		res, err := s.cfg.Runtime.Ingest(ctx, ins)
		if err != nil {
			return s.retryLater(c, err)
		}
		for i, r := range res {
			switch {
			case r.Err != nil && errors.Is(r.Err, engine.ErrInvalid):
				return errorf(fiber.StatusBadRequest, "bad_payload", "message %s: %s", ins[i].ChannelMessageID, r.Err.Error())
			case r.Err != nil:
				return s.retryLater(c, r.Err)
			case !r.Duplicate && !r.Held && jobs[i] != nil:
				j := *jobs[i]
				j.conv, j.seq = r.ConversationID, r.Seq
				s.enqueueMedia(j)
			}
			if r.Err == nil && !r.Duplicate && actors.Unnamed(r.ContactName, ins[i].ExternalUserID) {
				s.profiles.Want(&ins[i], r.ConversationID)
			}
		}
	}
	reports := append(ownEchoes, s.statuses(ch, batch.Statuses)...)
	if len(reports) > 0 {
		if err := s.cfg.Runtime.ApplyStatus(ctx, reports); err != nil {
			return s.retryLater(c, err)
		}
	}
	for _, w := range batch.Watermarks {
		acct, ok := s.cfg.Accounts.Get(ch, w.AccountID)
		if !ok {
			s.metrics.webhookUnknownAccount.WithLabelValues(string(ch)).Inc()
			continue
		}
		wm := actors.Watermark{WorkspaceID: acct.WorkspaceID, Channel: ch, ChannelAccountID: w.AccountID,
			ExternalUserID: w.UserID, Status: w.Status, At: w.At}
		if len(w.MessageIDs) == 0 {
			if err := s.cfg.Runtime.ApplyWatermark(ctx, wm); err != nil {
				return s.retryLater(c, err)
			}
		}
		for _, id := range w.MessageIDs {
			wm.MessageID = id
			if err := s.cfg.Runtime.ApplyWatermark(ctx, wm); err != nil {
				return s.retryLater(c, err)
			}
		}
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

var errBadSignature = errorf(fiber.StatusUnauthorized, "bad_signature", "missing or invalid X-Hub-Signature-256, or not signed for every account the delivery addresses")

// signedForAccounts reports whether a delivery that the server-wide app
// secret did not sign is signed by the accounts it addresses: each
// connected account the parsed batch names must have an app secret of its
// own that the signature is valid under, so that one workspace's secret
// cannot write into another's conversations (docs/ARCHITECTURE.md,
// invariant 9). Accounts not connected store nothing and are left aside.
// A delivery that names no connected account (or does not parse) stores
// nothing either; it passes with any account's secret, so that Meta's
// deliveries of fields Parley does not read, and the 400 of a bad
// payload, still reach an account's own app.
func (s *Server) signedForAccounts(ch engine.Channel, body []byte, sig string, batch meta.Batch, parseErr error) bool {
	checked := map[string]bool{}
	addressed := false
	if parseErr == nil {
		for _, id := range batch.AccountIDs() {
			acct, ok := s.cfg.Accounts.Get(ch, id)
			if !ok {
				continue
			}
			addressed = true
			if acct.AppSecret == "" {
				return false
			}
			valid, seen := checked[acct.AppSecret]
			if !seen {
				valid = meta.VerifySignature(body, sig, []byte(acct.AppSecret))
				checked[acct.AppSecret] = valid
			}
			if !valid {
				return false
			}
		}
	}
	return addressed || meta.VerifySignature(body, sig, s.cfg.Accounts.AppSecrets()...)
}

// retryLater answers an error that a redelivery may not meet: 503 with
// Retry-After for overload and shutdown, 500 otherwise. Meta retries both.
func (s *Server) retryLater(c *fiber.Ctx, err error) error {
	if errors.Is(err, actors.ErrOverloaded) || errors.Is(err, actors.ErrShuttingDown) {
		s.metrics.webhookOverloaded.Inc()
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	return fromEngine(err)
}

// inbound maps parsed messages to the runtime's inbound values, with the
// media each needs fetched. Echoes of our own sends come back as status
// reports instead: the message is already stored.
func (s *Server) inbound(ch engine.Channel, msgs []meta.Message) ([]engine.Inbound, []*mediaJob, []engine.StatusReport) {
	ins := make([]engine.Inbound, 0, len(msgs))
	jobs := make([]*mediaJob, 0, len(msgs))
	var own []engine.StatusReport
	for _, m := range msgs {
		acct, ok := s.cfg.Accounts.Get(ch, m.AccountID)
		if !ok {
			s.metrics.webhookUnknownAccount.WithLabelValues(string(ch)).Inc()
			s.log.Warn("Webhook for an account not connected", "channel", ch, "account", m.AccountID)
			continue
		}
		if m.Echo && strings.HasPrefix(m.Metadata, channels.MetadataPrefix) {
			own = append(own, engine.StatusReport{WorkspaceID: acct.WorkspaceID, Channel: ch,
				ChannelMessageID: m.ID, Status: engine.StatusSent, At: m.Timestamp})
			continue
		}
		ins = append(ins, engine.Inbound{
			WorkspaceID: acct.WorkspaceID, Channel: ch, ChannelAccountID: m.AccountID,
			ExternalUserID: m.UserID, ContactName: m.UserName, ChannelMessageID: m.ID,
			Content: m.Content, SentAt: m.Timestamp, Echo: m.Echo, Referral: m.Referral,
		})
		var job *mediaJob
		if m.Content.Media != nil && (m.Content.Media.Ref != "" || m.Content.Media.URL != "") {
			job = &mediaJob{ws: acct.WorkspaceID, account: acct, media: *m.Content.Media}
		}
		jobs = append(jobs, job)
	}
	return ins, jobs, own
}

func (s *Server) statuses(ch engine.Channel, sts []meta.Status) []engine.StatusReport {
	out := make([]engine.StatusReport, 0, len(sts))
	for _, st := range sts {
		acct, ok := s.cfg.Accounts.Get(ch, st.AccountID)
		if !ok {
			s.metrics.webhookUnknownAccount.WithLabelValues(string(ch)).Inc()
			continue
		}
		out = append(out, engine.StatusReport{WorkspaceID: acct.WorkspaceID, Channel: ch, ChannelMessageID: st.ID,
			Status: st.Status, At: st.Timestamp, ErrorCode: st.ErrorCode, ErrorReason: st.ErrorReason})
	}
	return out
}
