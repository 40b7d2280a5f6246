package persistence

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Notification settings and Web Push. Keys, under the workspace prefix:
//
//	'w' ws 'o' user                              the user's notification settings
//	'w' ws 'h' user token-hash sha256(endpoint)  a Web Push subscription
//
// and in the system space:
//
//	's' 'H'                                      the server's VAPID key pair
//
// These are account records (docs/ARCHITECTURE.md, "Who owns what"): the
// account routes write them. A subscription is keyed by the token that
// registered it (a signed-in device), so that revoking the token
// (RevokeToken: a logout, a sign-out everywhere, a password reset)
// removes it in the same batch, and by its user, so that DeleteUser
// removes every one of the user's.
const (
	tNotifySettings = 'o'
	tPushSub        = 'h'
	tVAPID          = 'H'
)

// PushSubscription is a browser's Web Push subscription (the Push API's
// PushSubscription), registered by a user from a signed-in device.
type PushSubscription struct {
	WorkspaceID engine.ID `json:"workspace_id"`
	UserID      engine.ID `json:"user_id"`
	// TokenHash is the sha256 of the secret of the token that registered
	// it.
	TokenHash []byte `json:"token_hash"`
	// Endpoint is the push service's https URL.
	Endpoint string `json:"endpoint"`
	// P256dh and Auth are the browser's keys, base64url without padding.
	P256dh    string    `json:"p256dh"`
	Auth      string    `json:"auth"`
	CreatedAt time.Time `json:"created_at"`
}

// VAPIDKeys is the server's VAPID key pair (RFC 8292), base64url without
// padding: the public key is the uncompressed P-256 point browsers
// subscribe with, the private key its scalar.
type VAPIDKeys struct {
	Public  string `json:"public"`
	Private string `json:"private"`
}

func notifySettingsKey(ws, user engine.ID) []byte {
	return append(wsPrefix(ws, tNotifySettings), user[:]...)
}

func pushUserPrefix(ws, user engine.ID) []byte { return append(wsPrefix(ws, tPushSub), user[:]...) }

func pushTokenPrefix(ws, user engine.ID, tokenHash []byte) []byte {
	return append(pushUserPrefix(ws, user), tokenHash...)
}

func pushSubKey(p *PushSubscription) []byte {
	h := sha256.Sum256([]byte(p.Endpoint))
	return append(pushTokenPrefix(p.WorkspaceID, p.UserID, p.TokenHash), h[:]...)
}

func vapidKey() []byte { return []byte{spaceSystem, tVAPID} }

// PutNotificationSettings writes a user's notification settings.
func (b *Batch) PutNotificationSettings(ws, user engine.ID, s *engine.NotificationSettings) {
	b.set(notifySettingsKey(ws, user), s)
}

// NotificationSettings reads a user's notification settings: the
// defaults when the user chose none.
func (s *Store) NotificationSettings(ws, user engine.ID) (engine.NotificationSettings, error) {
	var out engine.NotificationSettings
	err := s.get(notifySettingsKey(ws, user), &out)
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, ErrNotFound):
		return engine.DefaultNotificationSettings(), nil
	}
	return engine.NotificationSettings{}, fmt.Errorf("reading the notification settings of %s: %w", user, err)
}

// PutPushSubscription writes a Web Push subscription (its token hash
// must be set).
func (b *Batch) PutPushSubscription(p *PushSubscription) {
	if len(p.TokenHash) != tokenHashLen {
		if b.err == nil {
			b.err = fmt.Errorf("persistence: push subscription of %s has no token hash", p.UserID)
		}
		return
	}
	b.set(pushSubKey(p), p)
}

// DeletePushSubscription removes one Web Push subscription.
func (b *Batch) DeletePushSubscription(p *PushSubscription) {
	if len(p.TokenHash) == tokenHashLen {
		b.del(pushSubKey(p))
	}
}

// PushSubscriptions lists a user's Web Push subscriptions.
func (s *Store) PushSubscriptions(ws, user engine.ID) ([]PushSubscription, error) {
	out, err := scanAll[PushSubscription](s, pushUserPrefix(ws, user))
	if err != nil {
		return nil, fmt.Errorf("reading the push subscriptions of %s: %w", user, err)
	}
	return out, nil
}

// scanAll decodes every record under prefix p, in key order.
func scanAll[T any](s *Store, p []byte) ([]T, error) {
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []T
	for ok := it.First(); ok; ok = it.Next() {
		var v T
		if err := decode(it.Value(), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, iterErr(it)
}

// deleteNotifications removes a user's notification settings and push
// subscriptions (DeleteUser).
func (b *Batch) deleteNotifications(ws, user engine.ID) {
	b.del(notifySettingsKey(ws, user))
	b.delPrefix(pushUserPrefix(ws, user))
}

// deleteTokenPushSubscriptions removes the push subscriptions registered
// with a token (RevokeToken).
func (b *Batch) deleteTokenPushSubscriptions(ws, user engine.ID, tokenHash []byte) {
	b.delPrefix(pushTokenPrefix(ws, user, tokenHash))
}

// PutVAPIDKeys writes the server's VAPID key pair.
func (b *Batch) PutVAPIDKeys(k *VAPIDKeys) { b.set(vapidKey(), k) }

// VAPIDKeys reads the server's VAPID key pair (ErrNotFound before one
// was written).
func (s *Store) VAPIDKeys() (VAPIDKeys, error) {
	var k VAPIDKeys
	if err := s.get(vapidKey(), &k); err != nil {
		return VAPIDKeys{}, fmt.Errorf("reading the VAPID keys: %w", err)
	}
	return k, nil
}
