// Package notify tells users about what concerns them away from the web
// app's open tab: Web Push to their subscribed devices (RFC 8030 with
// RFC 8291 aes128gcm encryption and RFC 8292 VAPID, through
// github.com/SherClockHolmes/webpush-go) and email through an SMTP relay
// (github.com/emersion/go-smtp, the MIME by github.com/emersion/go-message).
//
// It is fed by the events published after their commit (a tap on the
// broadcaster, which must never wait): the interesting ones are queued
// to a bounded queue, full means dropped and counted. A few workers,
// outside the actors, work out who is concerned (engine.Notifications)
// and what each chose (their notification settings), and send.
package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Label values of parley_notifications_sent_total.
const (
	MediumPush  = "push"
	MediumEmail = "email"

	// ResultSent: the push service or the relay took it.
	ResultSent = "sent"
	// ResultGone: the push service no longer knows the subscription
	// (404, 410); it was removed.
	ResultGone = "gone"
	// ResultFailed: not sent (an error, or the retries ran out).
	ResultFailed = "failed"
	// ResultRetried: an email attempt failed and will be tried again.
	ResultRetried = "retried"

	queueEvents = "events"
	queueEmail  = "email"
)

// Defaults and bounds.
const (
	// DefaultWorkers is how many events are worked on at once.
	DefaultWorkers = 2
	// eventQueueLen bounds the events waiting for a worker.
	eventQueueLen = 1024
	// pushTTL is how long a push service keeps a notification for a
	// device that is offline: an hour, after which it is stale.
	pushTTL = 3600
	// pushTimeout bounds one push request.
	pushTimeout = 15 * time.Second
	// previewRunes bounds the text of a notification.
	previewRunes = 100
)

// Config configures a Notifier.
type Config struct {
	// Store holds the users, their settings and push subscriptions, and
	// the VAPID keys. Required.
	Store *persistence.Store
	// Clock times the email retries; nil means the real clock.
	Clock clockwork.Clock
	// PublicURL is the server's address as users reach it, the base of
	// the conversation links in notifications; "" leaves them relative
	// (a push opens them on the server's own origin; an email then has
	// none).
	PublicURL string
	// Subscriber is the contact the push services see in the VAPID
	// claims (a mailto: address or an https URL); "" means
	// "mailto:" + the email's From, or the public URL.
	Subscriber string
	// HTTPClient sends the push requests; nil means a client with a
	// timeout.
	HTTPClient *http.Client
	// SMTP is the email relay; nil turns email notifications off.
	SMTP *SMTP
	// From is the From address of the emails (required with SMTP).
	From string
	// SMTPTLS configures TLS with the relay (tests trust their own CA);
	// nil means the system roots.
	SMTPTLS *tls.Config
	// Workers bounds the events worked on at once; zero means
	// DefaultWorkers.
	Workers int
	// Logger receives the log; nil discards it.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Notifier sends push and email notifications. Start it, feed it with
// Tap, stop it with Shutdown.
type Notifier struct {
	cfg    Config
	keys   persistence.VAPIDKeys
	client *http.Client
	log    *slog.Logger
	m      *metrics
	mail   *mailer
	events chan engine.Event

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
	stopOnce  sync.Once
}

// New returns a Notifier. It reads the VAPID key pair from the store, or
// generates one and stores it: the same key for the life of the data
// directory, since every subscription is bound to it.
func New(cfg Config) (*Notifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: Config.Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	keys, err := vapidKeys(cfg.Store)
	if err != nil {
		return nil, err
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: pushTimeout}
	}
	n := &Notifier{cfg: cfg, keys: keys, client: client, log: cfg.Logger, m: newMetrics(cfg.Registerer),
		events: make(chan engine.Event, eventQueueLen)}
	if cfg.SMTP != nil {
		if n.mail, err = newMailer(*cfg.SMTP, cfg.From, cfg.SMTPTLS, cfg.Clock, cfg.Logger, n.m); err != nil {
			return nil, err
		}
	}
	if n.cfg.Subscriber == "" {
		switch {
		case n.mail != nil:
			n.cfg.Subscriber = "mailto:" + n.mail.from.Address
		case strings.HasPrefix(cfg.PublicURL, "https://"):
			n.cfg.Subscriber = cfg.PublicURL
		default:
			n.cfg.Subscriber = "https://github.com/parleyhq/parley"
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

func vapidKeys(store *persistence.Store) (persistence.VAPIDKeys, error) {
	keys, err := store.VAPIDKeys()
	if err == nil {
		return keys, nil
	}
	if !errors.Is(err, persistence.ErrNotFound) {
		return keys, fmt.Errorf("notify: %w", err)
	}
	keys.Private, keys.Public, err = webpush.GenerateVAPIDKeys()
	if err != nil {
		return keys, fmt.Errorf("notify: generating the VAPID keys: %w", err)
	}
	b := store.NewBatch()
	b.PutVAPIDKeys(&keys)
	if err := store.Commit(b); err != nil {
		return keys, fmt.Errorf("notify: storing the VAPID keys: %w", err)
	}
	return keys, nil
}

// PublicKey is the VAPID public key browsers subscribe with
// (applicationServerKey), base64url without padding.
func (n *Notifier) PublicKey() string { return n.keys.Public }

// EmailEnabled reports whether an SMTP relay is configured.
func (n *Notifier) EmailEnabled() bool { return n.mail != nil }

// Start starts the workers. Calling it again does nothing.
func (n *Notifier) Start() {
	n.startOnce.Do(func() {
		for range n.cfg.Workers {
			n.wg.Add(1)
			go pprof.Do(n.ctx, pprof.Labels("parley", "notify"), func(ctx context.Context) {
				defer n.wg.Done()
				n.work(ctx)
			})
		}
		if n.mail != nil {
			n.wg.Add(1)
			go pprof.Do(n.ctx, pprof.Labels("parley", "notify-mail"), func(ctx context.Context) {
				defer n.wg.Done()
				n.mail.run(ctx)
			})
		}
	})
}

// Shutdown stops the workers and the email retries; what is queued is
// dropped (a notification is worth nothing late).
func (n *Notifier) Shutdown() {
	n.stopOnce.Do(func() {
		n.startOnce.Do(func() {})
		n.cancel()
		if n.mail != nil {
			n.mail.stop()
		}
		n.wg.Wait()
	})
}

// Tap takes published events (actors.Broadcaster.AddTap): those that
// may notify someone are queued, never waiting; a full queue drops them.
func (n *Notifier) Tap(events []engine.Event) {
	if n.ctx.Err() != nil {
		return // shut down
	}
	for i := range events {
		ev := &events[i]
		switch {
		case ev.Type == engine.EventConversationCreated, ev.Type == engine.EventNoteMentioned, ev.Type == engine.EventHandoff,
			ev.Type == engine.EventConversationUpdated && ev.Assigned != nil:
		default:
			continue
		}
		queued := *ev
		if ev.Type == engine.EventConversationCreated {
			// Its first message comes in the same state change: the
			// header after it has the preview.
			for j := i + 1; j < len(events); j++ {
				if events[j].ConversationID == ev.ConversationID && events[j].Conversation != nil {
					queued.Conversation = events[j].Conversation
				}
			}
		}
		select {
		case n.events <- queued:
		default:
			n.m.drops.WithLabelValues(queueEvents).Inc()
		}
	}
}

func (n *Notifier) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-n.events:
			if err := n.handle(ctx, &ev); err != nil && ctx.Err() == nil {
				n.log.Warn("Notification not sent", "event", ev.Type, "conversation", ev.ConversationID, "err", err)
			}
		}
	}
}

// handle notifies the users concerned by ev, each as they chose.
func (n *Notifier) handle(ctx context.Context, ev *engine.Event) error {
	users, err := n.cfg.Store.Users(ev.WorkspaceID)
	if err != nil {
		return fmt.Errorf("reading the users: %w", err)
	}
	var errs []error
	for _, note := range engine.Notifications(ev, users) {
		settings, err := n.cfg.Store.NotificationSettings(ev.WorkspaceID, note.UserID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		media := settings.Media(note.Kind)
		if !media.Push && !(media.Email && n.mail != nil) {
			continue
		}
		msg := n.message(&note, users)
		if media.Push {
			if err := n.push(ctx, ev.WorkspaceID, note.UserID, &msg); err != nil {
				errs = append(errs, err)
			}
		}
		if media.Email && n.mail != nil {
			if to := email(users, note.UserID); to != "" {
				n.mail.enqueue(mailJob{email: Email{To: to, Subject: msg.Title, Text: msg.Body, Link: n.absolute(msg.URL)}})
			}
		}
	}
	return errors.Join(errs...)
}

// Payload is what a push notification carries (the service worker
// shows it): a title, a short body (never more than a preview of a
// message or note) and the conversation's address.
type Payload struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	// URL is the conversation in the web app: absolute with a public
	// URL, else a path on the server's origin.
	URL string `json:"url"`
	// Tag groups the notifications of one conversation.
	Tag  string            `json:"tag"`
	Kind engine.NotifyKind `json:"kind"`
}

func (n *Notifier) message(note *engine.Notification, users []engine.User) Payload {
	name := "a conversation"
	preview := ""
	if c := note.Conversation; c != nil {
		name = c.ContactName
		if name == "" {
			name = c.ExternalUserID
		}
		preview = c.Preview
	}
	p := Payload{Kind: note.Kind, URL: "/", Tag: "parley"}
	if note.ConversationID != engine.ZeroID {
		p.URL = "/#c/" + note.ConversationID.String()
		p.Tag = "parley-" + note.ConversationID.String()
	}
	switch note.Kind {
	case engine.NotifyNewConversation:
		p.Title, p.Body = "New conversation: "+name, preview
	case engine.NotifyAssigned:
		p.Title, p.Body = "Assigned to you: "+name, userName(users, note.By)+" assigned you this conversation."
		if preview != "" {
			p.Body += " " + preview
		}
	case engine.NotifyMentioned:
		p.Title, p.Body = userName(users, note.By)+" mentioned you", note.Text
		if note.Conversation != nil {
			p.Title += " in " + name
		}
	case engine.NotifyNeedsHuman:
		p.Title, p.Body = "Needs a person: "+name, note.Text
	}
	p.Body = clip(p.Body)
	return p
}

// absolute puts the public URL before a path ("" without one).
func (n *Notifier) absolute(path string) string {
	if n.cfg.PublicURL == "" {
		return ""
	}
	return n.cfg.PublicURL + path
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= previewRunes {
		return s
	}
	r := []rune(s)
	return string(r[:previewRunes-1]) + "…"
}

func userName(users []engine.User, id engine.ID) string {
	if id == engine.ZeroID {
		return "An automation" // a note of an automation's notify_user
	}
	for _, u := range users {
		if u.ID == id {
			if u.Name != "" {
				return u.Name
			}
			return u.Email
		}
	}
	return "Someone"
}

func email(users []engine.User, id engine.ID) string {
	for _, u := range users {
		if u.ID == id {
			return u.Email
		}
	}
	return ""
}

// push sends msg to every push subscription of the user; one the push
// service no longer knows (404, 410) is removed.
func (n *Notifier) push(ctx context.Context, ws, user engine.ID, msg *Payload) error {
	subs, err := n.cfg.Store.PushSubscriptions(ws, user)
	if err != nil {
		return err
	}
	if len(subs) == 0 {
		return nil
	}
	p := *msg
	if abs := n.absolute(p.URL); abs != "" {
		p.URL = abs
	} // else the service worker opens the path on its own origin
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding a push payload: %w", err)
	}
	var errs []error
	for i := range subs {
		sub := &subs[i]
		if err := n.pushOne(ctx, sub, body, msg.Kind); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (n *Notifier) pushOne(ctx context.Context, sub *persistence.PushSubscription, body []byte, kind engine.NotifyKind) error {
	urgency := webpush.UrgencyNormal
	if kind == engine.NotifyAssigned || kind == engine.NotifyMentioned || kind == engine.NotifyNeedsHuman {
		urgency = webpush.UrgencyHigh
	}
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	resp, err := webpush.SendNotificationWithContext(ctx, body, &webpush.Subscription{Endpoint: sub.Endpoint,
		Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth}}, &webpush.Options{
		HTTPClient: n.client, Subscriber: n.cfg.Subscriber, TTL: pushTTL, Urgency: urgency,
		VAPIDPublicKey: n.keys.Public, VAPIDPrivateKey: n.keys.Private})
	if err != nil {
		n.m.sent.WithLabelValues(MediumPush, ResultFailed).Inc()
		return fmt.Errorf("push to %s: %w", host(sub.Endpoint), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		n.m.sent.WithLabelValues(MediumPush, ResultSent).Inc()
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		n.m.sent.WithLabelValues(MediumPush, ResultGone).Inc()
		// The subscription expired or was withdrawn: only its own key is
		// deleted, no record read and written back.
		b := n.cfg.Store.NewBatch()
		b.DeletePushSubscription(sub)
		if err := n.cfg.Store.Commit(b); err != nil {
			return fmt.Errorf("removing a push subscription the service no longer knows: %w", err)
		}
		n.log.Info("Push subscription removed: the push service no longer knows it", "user", sub.UserID, "status", resp.StatusCode)
		return nil
	}
	n.m.sent.WithLabelValues(MediumPush, ResultFailed).Inc()
	return fmt.Errorf("push to %s: status %d", host(sub.Endpoint), resp.StatusCode)
}

// host is an endpoint's host, for logs (the path is the device's
// secret).
func host(endpoint string) string {
	rest, _ := strings.CutPrefix(endpoint, "https://")
	h, _, _ := strings.Cut(rest, "/")
	return h
}

type metrics struct {
	sent  *prometheus.CounterVec
	drops *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_notifications_sent_total",
			Help: "Notifications sent by medium (push, email) and result (sent, gone, failed, retried)."}, []string{"medium", "result"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_notification_queue_drops_total",
			Help: "Notifications dropped because their queue was full, by queue (events, email)."}, []string{"queue"}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.drops)
	}
	return m
}
