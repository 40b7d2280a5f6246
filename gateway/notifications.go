package gateway

import (
	"crypto/ecdh"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Notification settings and Web Push subscriptions of the caller.
//
//	GET    /api/v1/me/notifications        → {settings, email_available}
//	PUT    /api/v1/me/notifications        {settings: {kind: {medium: bool}}} (the ones given) → the same
//	GET    /api/v1/push/key                → {public_key}: the VAPID key browsers subscribe with
//	GET    /api/v1/push/subscriptions      → {subscriptions}: the caller's devices
//	POST   /api/v1/push/subscriptions      {endpoint, keys: {p256dh, auth}} → 201
//	DELETE /api/v1/push/subscriptions      this device's (the calling token's), or ?endpoint= that one → 204
//
// They are account records (docs/ARCHITECTURE.md, "Who owns what"):
// written here under the account routes' mutex.
const (
	// maxPushSubscriptions caps a user's devices; a new one beyond it
	// replaces the oldest.
	maxPushSubscriptions = 20
	// maxPushEndpoint bounds an endpoint URL.
	maxPushEndpoint = 2048
)

func (s *Server) notificationRoutes(api fiber.Router, u *users) {
	api.Get("/me/notifications", u.authed, u.getNotifications)
	api.Put("/me/notifications", u.authed, u.putNotifications)
	api.Get("/push/key", u.authed, u.pushKey)
	api.Get("/push/subscriptions", u.authed, u.listPushSubscriptions)
	api.Post("/push/subscriptions", u.authed, u.subscribePush)
	api.Delete("/push/subscriptions", u.authed, u.unsubscribePush)
}

type notificationsView struct {
	Settings engine.NotificationSettings `json:"settings"`
	// EmailAvailable says whether the server has an SMTP relay for
	// notification emails (-notify-smtp-url): without one, the email
	// column is kept but nothing is sent.
	EmailAvailable bool `json:"email_available"`
}

func (u *users) notificationsView(ws, user engine.ID) (notificationsView, error) {
	st, err := u.store.NotificationSettings(ws, user)
	if err != nil {
		return notificationsView{}, err
	}
	return notificationsView{Settings: st, EmailAvailable: u.srv.notifier.EmailEnabled()}, nil
}

func (u *users) getNotifications(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	v, err := u.notificationsView(me.user.WorkspaceID, me.user.ID)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// mediaUpdate and settingsUpdate are a PUT body: the kinds and media
// given change, the others stay.
type mediaUpdate struct {
	Browser *bool `json:"browser"`
	Push    *bool `json:"push"`
	Email   *bool `json:"email"`
}

type settingsUpdate struct {
	NewConversation *mediaUpdate `json:"new_conversation"`
	Assigned        *mediaUpdate `json:"assigned"`
	Mentioned       *mediaUpdate `json:"mentioned"`
	NeedsHuman      *mediaUpdate `json:"needs_human"`
}

type notificationsBody struct {
	Settings settingsUpdate `json:"settings"`
}

// parseNotificationsBody reads a PUT /api/v1/me/notifications body:
// strict JSON valid against its schema (at least one kind, each with at
// least one medium). Every refusal is a 400.
func parseNotificationsBody(raw []byte) (notificationsBody, error) {
	var b notificationsBody
	if err := decodeJSONBytes(raw, &b); err != nil {
		return b, err
	}
	return b, checkSchema("PUT /api/v1/me/notifications", raw)
}

// checkSchema checks raw against the body schema of an operation
// ("METHOD /template").
func checkSchema(op string, raw []byte) error {
	schemas, err := bodySchemas()
	if err != nil {
		return err
	}
	return checkBody(schemas[op], raw)
}

func (m *mediaUpdate) apply(to *engine.NotifyMedia) {
	if m == nil {
		return
	}
	for _, f := range []struct {
		from *bool
		to   *bool
	}{{m.Browser, &to.Browser}, {m.Push, &to.Push}, {m.Email, &to.Email}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
}

func (u *users) putNotifications(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	body, err := parseNotificationsBody(c.Body())
	if err != nil {
		return err
	}
	ws, id := me.user.WorkspaceID, me.user.ID
	u.mu.Lock()
	defer u.mu.Unlock()
	st, err := u.store.NotificationSettings(ws, id)
	if err != nil {
		return err
	}
	up := body.Settings
	up.NewConversation.apply(&st.NewConversation)
	up.Assigned.apply(&st.Assigned)
	up.Mentioned.apply(&st.Mentioned)
	up.NeedsHuman.apply(&st.NeedsHuman)
	b := u.store.NewBatch()
	b.PutNotificationSettings(ws, id, &st)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	return c.JSON(notificationsView{Settings: st, EmailAvailable: u.srv.notifier.EmailEnabled()})
}

func (u *users) pushKey(c *fiber.Ctx) error {
	if _, err := u.caller(c); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"public_key": u.srv.notifier.PublicKey()})
}

// pushView is a subscription as the API shows it: where it goes and
// whether the calling device registered it, never its keys.
type pushView struct {
	Endpoint  string    `json:"endpoint"`
	CreatedAt time.Time `json:"created_at"`
	Current   bool      `json:"current"`
}

func (u *users) listPushSubscriptions(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	subs, err := u.store.PushSubscriptions(me.user.WorkspaceID, me.user.ID)
	if err != nil {
		return err
	}
	hash := callerHash(c)
	out := make([]pushView, 0, len(subs))
	for _, s := range subs {
		out = append(out, pushView{Endpoint: s.Endpoint, CreatedAt: s.CreatedAt, Current: string(s.TokenHash) == string(hash)})
	}
	return c.JSON(fiber.Map{"subscriptions": out})
}

// callerHash is the sha256 of the calling token's secret, what its push
// subscriptions are keyed by (a token written without one, such as the
// bootstrap token, is hashed from the request).
func callerHash(c *fiber.Ctx) []byte {
	if h := who(c).Hash; len(h) > 0 {
		return h
	}
	secret, _ := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	return persistence.HashSecret(secret)
}

type pushKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// pushBody is the Push API's PushSubscription as toJSON gives it.
type pushBody struct {
	Endpoint string   `json:"endpoint"`
	Keys     pushKeys `json:"keys"`
	// ExpirationTime is ignored: the push service answers 410 once the
	// subscription has expired.
	ExpirationTime *float64 `json:"expirationTime"`
}

// parsePushBody reads a POST /api/v1/push/subscriptions body: strict
// JSON, valid against its schema, then checkPushSubscription. Every
// refusal is a 400.
func parsePushBody(raw []byte) (pushBody, error) {
	var b pushBody
	if err := decodeJSONBytes(raw, &b); err != nil {
		return b, err
	}
	if err := checkSchema("POST /api/v1/push/subscriptions", raw); err != nil {
		return b, err
	}
	return b, checkPushSubscription(&b)
}

// checkPushSubscription validates a subscription as the Push API makes
// it: an https endpoint, a P-256 public key (65 bytes, uncompressed) and
// a 16-byte auth secret, both base64url (padding allowed).
func checkPushSubscription(b *pushBody) error {
	if len(b.Endpoint) > maxPushEndpoint {
		return errorf(fiber.StatusBadRequest, "invalid", "endpoint is longer than %d bytes", maxPushEndpoint)
	}
	e, err := url.Parse(b.Endpoint)
	if err != nil || e.Scheme != "https" || e.Host == "" || e.User != nil || e.Fragment != "" {
		return errorf(fiber.StatusBadRequest, "invalid", "endpoint must be an https URL")
	}
	p256dh, err := decodeB64URL(b.Keys.P256dh)
	if err != nil || len(p256dh) != 65 {
		return errorf(fiber.StatusBadRequest, "invalid", "keys.p256dh must be a P-256 public key, 65 bytes in base64url")
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "keys.p256dh is not a point of P-256")
	}
	auth, err := decodeB64URL(b.Keys.Auth)
	if err != nil || len(auth) != 16 {
		return errorf(fiber.StatusBadRequest, "invalid", "keys.auth must be 16 bytes in base64url")
	}
	return nil
}

func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (u *users) subscribePush(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	body, err := parsePushBody(c.Body())
	if err != nil {
		return err
	}
	ws, id := me.user.WorkspaceID, me.user.ID
	sub := persistence.PushSubscription{WorkspaceID: ws, UserID: id, TokenHash: callerHash(c), Endpoint: body.Endpoint,
		P256dh: strings.TrimRight(body.Keys.P256dh, "="), Auth: strings.TrimRight(body.Keys.Auth, "="), CreatedAt: u.clock.Now().UTC()}
	u.mu.Lock()
	defer u.mu.Unlock()
	subs, err := u.store.PushSubscriptions(ws, id)
	if err != nil {
		return err
	}
	b := u.store.NewBatch()
	// The same endpoint registered by another session of the user (a
	// new sign-in on the same browser) is this one now: one push per
	// device. Beyond the cap, the oldest goes.
	kept := subs[:0]
	for i := range subs {
		if subs[i].Endpoint == sub.Endpoint {
			b.DeletePushSubscription(&subs[i])
			continue
		}
		kept = append(kept, subs[i])
	}
	for len(kept) >= maxPushSubscriptions {
		oldest := 0
		for i := range kept {
			if kept[i].CreatedAt.Before(kept[oldest].CreatedAt) {
				oldest = i
			}
		}
		b.DeletePushSubscription(&kept[oldest])
		kept = append(kept[:oldest], kept[oldest+1:]...)
	}
	b.PutPushSubscription(&sub)
	if err := u.store.Commit(b); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(pushView{Endpoint: sub.Endpoint, CreatedAt: sub.CreatedAt, Current: true})
}

func (u *users) unsubscribePush(c *fiber.Ctx) error {
	me, err := u.caller(c)
	if err != nil {
		return err
	}
	endpoint := c.Query("endpoint")
	hash := callerHash(c)
	u.mu.Lock()
	defer u.mu.Unlock()
	subs, err := u.store.PushSubscriptions(me.user.WorkspaceID, me.user.ID)
	if err != nil {
		return err
	}
	b := u.store.NewBatch()
	for i := range subs {
		if endpoint == "" && string(subs[i].TokenHash) == string(hash) || endpoint != "" && subs[i].Endpoint == endpoint {
			b.DeletePushSubscription(&subs[i])
		}
	}
	if err := u.store.Commit(b); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
