package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/persistence"
)

type accountKey struct {
	ch engine.Channel
	id string
}

// Accounts is the set of connected channel accounts, kept in memory for
// webhook routing and sends, written through to the store.
type Accounts struct {
	store *persistence.Store
	mu    sync.RWMutex
	by    map[accountKey]engine.ChannelAccount
	// secrets are the distinct app secrets of the accounts, rebuilt on
	// every change (webhooks read them on every request).
	secrets [][]byte
	// health, once the gateway attaches its monitor, hears of every
	// account change and send result.
	health atomic.Pointer[channels.Health]
	// imap, once the gateway starts its IMAP pollers, hears of every
	// account change.
	imap atomic.Pointer[imapPollers]
}

// NewAccounts loads the connected channel accounts.
func NewAccounts(store *persistence.Store) (*Accounts, error) {
	all, err := store.ChannelAccounts()
	if err != nil {
		return nil, fmt.Errorf("loading channel accounts: %w", err)
	}
	a := &Accounts{store: store, by: make(map[accountKey]engine.ChannelAccount, len(all))}
	for _, acct := range all {
		a.by[accountKey{acct.Channel, acct.AccountID}] = acct
	}
	a.rebuildLocked()
	return a, nil
}

func (a *Accounts) rebuildLocked() {
	var out [][]byte
	for _, acct := range a.by {
		if acct.Channel != engine.ChannelAPI && acct.AppSecret != "" && !slices.ContainsFunc(out, func(s []byte) bool { return string(s) == acct.AppSecret }) {
			out = append(out, []byte(acct.AppSecret))
		}
	}
	a.secrets = out
}

// Get returns a connected account.
func (a *Accounts) Get(ch engine.Channel, id string) (engine.ChannelAccount, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	acct, ok := a.by[accountKey{ch, id}]
	return acct, ok
}

// AppSecrets returns the distinct app secrets configured on accounts. The
// slice is shared: do not modify it.
func (a *Accounts) AppSecrets() [][]byte {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.secrets
}

// All lists every connected account, of every workspace.
func (a *Accounts) All() []engine.ChannelAccount {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]engine.ChannelAccount, 0, len(a.by))
	for _, acct := range a.by {
		out = append(out, acct)
	}
	return out
}

// ReportSend hands the result of a send on acct to the health monitor
// (channels.Health.Report), when one is attached; the channel sender
// calls it after each send call.
func (a *Accounts) ReportSend(acct engine.ChannelAccount, err error) {
	if h := a.health.Load(); h != nil {
		h.Report(acct, err)
	}
}

// changed tells the health monitor, when one is attached, that an
// account was connected, changed or disconnected.
func (a *Accounts) changed(ch engine.Channel, id string) {
	if h := a.health.Load(); h != nil {
		h.AccountChanged(ch, id)
	}
	if p := a.imap.Load(); p != nil {
		p.changed(ch, id)
	}
}

// Workspace lists a workspace's accounts.
func (a *Accounts) Workspace(ws engine.ID) []engine.ChannelAccount {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []engine.ChannelAccount
	for _, acct := range a.by {
		if acct.WorkspaceID == ws {
			out = append(out, acct)
		}
	}
	slices.SortFunc(out, func(x, y engine.ChannelAccount) int {
		return strings.Compare(string(x.Channel)+"/"+x.AccountID, string(y.Channel)+"/"+y.AccountID)
	})
	return out
}

// errWidgetAccount sends widget changes to their own routes.
var errWidgetAccount = errorf(fiber.StatusBadRequest, "invalid", "web chat widgets are made and changed under /api/v1/widgets")

// errAccountTaken is returned when an account is connected to another
// workspace.
var errAccountTaken = errorf(fiber.StatusConflict, "account_taken", "this channel account is connected to another workspace")

// Put stores an account (new or changed) and makes it live.
func (a *Accounts) Put(acct engine.ChannelAccount) error {
	if err := acct.Validate(); err != nil {
		return err
	}
	if err := a.put(acct); err != nil {
		return err
	}
	a.changed(acct.Channel, acct.AccountID)
	return nil
}

func (a *Accounts) put(acct engine.ChannelAccount) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.by[accountKey{acct.Channel, acct.AccountID}]; ok && cur.WorkspaceID != acct.WorkspaceID {
		return errAccountTaken
	}
	b := a.store.NewBatch()
	b.PutChannelAccount(&acct)
	if err := a.store.Commit(b); err != nil {
		return fmt.Errorf("storing channel account: %w", err)
	}
	a.by[accountKey{acct.Channel, acct.AccountID}] = acct
	a.rebuildLocked()
	return nil
}

// Delete disconnects an account of workspace ws.
func (a *Accounts) Delete(ws engine.ID, ch engine.Channel, id string) error {
	if err := a.delete(ws, ch, id); err != nil {
		return err
	}
	a.changed(ch, id)
	return nil
}

func (a *Accounts) delete(ws engine.ID, ch engine.Channel, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct, ok := a.by[accountKey{ch, id}]
	if !ok || acct.WorkspaceID != ws {
		return errNotFound
	}
	b := a.store.NewBatch()
	b.DeleteChannelAccount(&acct)
	if err := a.store.Commit(b); err != nil {
		return fmt.Errorf("deleting channel account: %w", err)
	}
	delete(a.by, accountKey{ch, id})
	a.rebuildLocked()
	return nil
}

// accountView is an account as the API shows it: never its secrets.
type accountView struct {
	Channel      engine.Channel `json:"channel"`
	AccountID    string         `json:"account_id"`
	Name         string         `json:"name"`
	HasAppSecret bool           `json:"has_app_secret"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	// Health is the account's health record (channels.Health).
	Health channels.HealthView `json:"health"`
	// Email is an email account's settings (its SMTP password, the
	// access token, its IMAP password and DKIM key are never shown).
	Email *emailView `json:"email,omitempty"`
	// WABAID is a WhatsApp account's WhatsApp Business Account id.
	WABAID string `json:"waba_id,omitempty"`
	// MessagingTier is a WhatsApp number's messaging tier (broadcasts).
	MessagingTier string `json:"messaging_tier,omitempty"`
}

// emailView shows an email account's settings without their secrets:
// the IMAP password and the DKIM private key become has_password and
// has_private_key.
type emailView struct {
	*engine.EmailSettings
	IMAP *imapView `json:"imap,omitempty"`
	DKIM *dkimView `json:"dkim,omitempty"`
}

type imapView struct {
	engine.IMAPSettings
	HasPassword bool `json:"has_password"`
}

type dkimView struct {
	engine.DKIMSettings
	HasPrivateKey bool `json:"has_private_key"`
}

func viewEmail(e *engine.EmailSettings) *emailView {
	if e == nil {
		return nil
	}
	v := &emailView{EmailSettings: e}
	if e.IMAP != nil {
		v.IMAP = &imapView{IMAPSettings: *e.IMAP, HasPassword: e.IMAP.Password != ""}
		v.IMAP.Password = ""
	}
	if e.DKIM != nil {
		v.DKIM = &dkimView{DKIMSettings: *e.DKIM, HasPrivateKey: e.DKIM.PrivateKey != ""}
		v.DKIM.PrivateKey = ""
	}
	return v
}

// keepEmailSecrets gives next, an email account's new settings, the IMAP
// password and DKIM key of cur when next leaves them empty for the same
// server or domain: a form that never sees the secrets sends them back
// empty.
func keepEmailSecrets(cur, next *engine.EmailSettings) {
	if cur == nil || next == nil {
		return
	}
	if next.IMAP != nil && cur.IMAP != nil && next.IMAP.Password == "" && next.IMAP.Host == cur.IMAP.Host {
		next.IMAP.Password = cur.IMAP.Password
	}
	if next.DKIM != nil && cur.DKIM != nil && next.DKIM.PrivateKey == "" && next.DKIM.Domain == cur.DKIM.Domain {
		next.DKIM.PrivateKey = cur.DKIM.PrivateKey
	}
}

func (s *Server) viewAccount(a engine.ChannelAccount) accountView {
	h := s.health.Get(a.Channel, a.AccountID)
	if h.WorkspaceID != a.WorkspaceID {
		h = engine.ChannelHealth{} // a record of an earlier connection of the id
	}
	return accountView{a.Channel, a.AccountID, a.Name, a.AppSecret != "", a.CreatedAt, a.UpdatedAt, channels.ViewHealth(h), viewEmail(a.Email), a.WABAID, a.MessagingTier}
}

type accountBody struct {
	Channel     *engine.Channel `json:"channel"`
	AccountID   *string         `json:"account_id"`
	Name        *string         `json:"name"`
	AccessToken *string         `json:"access_token"`
	AppSecret   *string         `json:"app_secret"`
	// Email replaces an email account's settings as a whole.
	Email *engine.EmailSettings `json:"email"`
	// The API channel's fields (apichannel.go).
	WebhookURL          *string `json:"webhook_url"`
	RotateInboundToken  *bool   `json:"rotate_inbound_token"`
	RotateWebhookSecret *bool   `json:"rotate_webhook_secret"`
	// WABAID is a WhatsApp account's WhatsApp Business Account id.
	WABAID *string `json:"waba_id"`
	// MessagingTier is a WhatsApp number's messaging tier (broadcasts).
	MessagingTier *string `json:"messaging_tier"`
}

func (s *Server) listChannels(c *fiber.Ctx) error {
	accts := s.cfg.Accounts.Workspace(who(c).WorkspaceID)
	out := make([]any, 0, len(accts))
	for _, a := range accts {
		out = append(out, s.viewAccountWith(c, a, apiAccountSecrets{}))
	}
	return c.JSON(fiber.Map{"channels": out})
}

func (s *Server) createChannel(c *fiber.Ctx) error {
	var body accountBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.Channel != nil && *body.Channel == engine.ChannelAPI {
		return s.createAPIAccount(c, &body)
	}
	if body.Channel != nil && *body.Channel == engine.ChannelWebChat {
		return errWidgetAccount
	}
	if body.WebhookURL != nil || body.RotateInboundToken != nil || body.RotateWebhookSecret != nil {
		return errNotAPIField
	}
	if body.Channel == nil || body.AccountID == nil || body.AccessToken == nil {
		return errorf(fiber.StatusBadRequest, "invalid", "channel, account_id and access_token are required")
	}
	p := who(c)
	if _, ok := s.cfg.Accounts.Get(*body.Channel, *body.AccountID); ok {
		return errorf(fiber.StatusConflict, "exists", "this channel account is already connected")
	}
	now := time.Now().UTC()
	acct := engine.ChannelAccount{WorkspaceID: p.WorkspaceID, Channel: *body.Channel, AccountID: *body.AccountID,
		AccessToken: *body.AccessToken, CreatedAt: now, UpdatedAt: now}
	if body.Name != nil {
		acct.Name = *body.Name
	}
	if body.AppSecret != nil {
		acct.AppSecret = *body.AppSecret
	}
	acct.Email = body.Email
	if body.WABAID != nil {
		acct.WABAID = strings.TrimSpace(*body.WABAID)
	}
	if body.MessagingTier != nil {
		acct.MessagingTier = strings.ToUpper(strings.TrimSpace(*body.MessagingTier))
	}
	if err := s.ops.withinLimit(p.WorkspaceID, engine.PlanChannelAccounts, 1, func() error { return s.cfg.Accounts.Put(acct) }); err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(s.viewAccount(acct))
}

func (s *Server) channelParam(c *fiber.Ctx) (engine.ChannelAccount, error) {
	// An email account's id is its address: its @ may come escaped.
	id, err := url.PathUnescape(c.Params("account"))
	if err != nil {
		return engine.ChannelAccount{}, errNotFound
	}
	acct, ok := s.cfg.Accounts.Get(engine.Channel(c.Params("channel")), id)
	if !ok || acct.WorkspaceID != who(c).WorkspaceID {
		return acct, errNotFound
	}
	return acct, nil
}

func (s *Server) getChannel(c *fiber.Ctx) error {
	acct, err := s.channelParam(c)
	if err != nil {
		return err
	}
	return c.JSON(s.viewAccountWith(c, acct, apiAccountSecrets{}))
}

func (s *Server) updateChannel(c *fiber.Ctx) error {
	acct, err := s.channelParam(c)
	if err != nil {
		return err
	}
	var body accountBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if (body.Channel != nil && *body.Channel != acct.Channel) || (body.AccountID != nil && *body.AccountID != acct.AccountID) {
		return errorf(fiber.StatusBadRequest, "invalid", "channel and account_id cannot change; connect a new account instead")
	}
	if acct.Channel == engine.ChannelAPI {
		return s.updateAPIAccount(c, acct, &body)
	}
	if acct.Channel == engine.ChannelWebChat {
		return errWidgetAccount
	}
	if body.WebhookURL != nil || body.RotateInboundToken != nil || body.RotateWebhookSecret != nil {
		return errNotAPIField
	}
	if body.Name != nil {
		acct.Name = *body.Name
	}
	if body.AccessToken != nil {
		acct.AccessToken = *body.AccessToken
	}
	if body.AppSecret != nil {
		acct.AppSecret = *body.AppSecret
	}
	if body.Email != nil {
		keepEmailSecrets(acct.Email, body.Email)
		acct.Email = body.Email
	}
	if body.WABAID != nil {
		acct.WABAID = strings.TrimSpace(*body.WABAID)
	}
	if body.MessagingTier != nil {
		acct.MessagingTier = strings.ToUpper(strings.TrimSpace(*body.MessagingTier))
	}
	acct.UpdatedAt = time.Now().UTC()
	if err := s.cfg.Accounts.Put(acct); err != nil {
		return fromEngine(err)
	}
	return c.JSON(s.viewAccount(acct))
}

func (s *Server) deleteChannel(c *fiber.Ctx) error {
	acct, err := s.channelParam(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Accounts.Delete(acct.WorkspaceID, acct.Channel, acct.AccountID); err != nil {
		if errors.Is(err, errNotFound) {
			return err
		}
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// healthCheckTimeout bounds the wait of a "Check now".
const healthCheckTimeout = 20 * time.Second

// checkChannel checks an account's health at once (Check now) and
// answers the account with its new health.
func (s *Server) checkChannel(c *fiber.Ctx) error {
	acct, err := s.channelParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), healthCheckTimeout)
	defer cancel()
	if _, err := s.health.CheckNow(ctx, acct.Channel, acct.AccountID); err != nil {
		if errors.Is(err, channels.ErrHealthStopped) {
			return errShuttingDown
		}
		return errorf(fiber.StatusServiceUnavailable, "check_timeout", "the check did not finish in time; retry later")
	}
	return c.JSON(s.viewAccountWith(c, acct, apiAccountSecrets{}))
}
