package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/gateway/payments"
)

const stripeSecret = "whsec_test_parley"

// stripeFixture is one of the payments package's Stripe events.
func stripeFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("payments/testdata/" + name)
	require.NoError(t, err)
	return b
}

// stripe posts payload to the workspace's Stripe endpoint with header as
// its Stripe-Signature.
func (e *env) stripe(ws engine.ID, payload []byte, header string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.url+"/webhooks/stripe/"+ws.String(), strings.NewReader(string(payload)))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set(payments.StripeSignatureHeader, header)
	}
	return e.do(req)
}

func subscriber(c contactDetail) bool { return c.IsSubscriber() }

type stripeAnswer struct {
	Received  bool   `json:"received"`
	Handled   bool   `json:"handled"`
	ContactID string `json:"contact_id"`
	Changed   bool   `json:"changed"`
}

// labeledCounter is the value of the counter name with labels.
func labeledCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s %v", name, labels)
	return 0
}

// Paid access over HTTP: an admin sets the workspace's Stripe secret and
// a restricted agent for paying subscribers; Stripe's signed
// checkout.session.completed makes a contact of the buyer, who is then
// answered on WhatsApp while a stranger gets the refusal; a redelivery is
// stored once (also after a restart); bad and stale signatures (judged by
// the runtime's clock, not the wall clock) are 400s that change nothing;
// customer.subscription.deleted shuts the subscriber out again.
func TestStripeWebhookPaidAccess(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)) // 30 s after the checkout event
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) {
		r, err := agents.NewRegistry(c.Store, nil)
		require.NoError(t, err)
		c.Agents, c.AIDebounce, c.Clock = r, -1, clock
	}, func(c *gateway.Config) { c.Registerer = reg })

	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "rules", "greeting": "Welcome, subscriber",
		"restricted": true, "restricted_to": "paid", "restricted_reply": "Subscribe to chat with us", "stripe_webhook_secret": stripeSecret})
	require.Equal(t, http.StatusOK, code, string(body))
	require.NotContains(t, string(body), stripeSecret)
	var view struct {
		RestrictedTo string `json:"restricted_to"`
		SecretSet    bool   `json:"stripe_webhook_secret_set"`
	}
	require.NoError(t, json.Unmarshal(body, &view))
	require.Equal(t, "paid", view.RestrictedTo)
	require.True(t, view.SecretSet)
	code, body = e.api("PUT", "/api/v1/channels/whatsapp/"+phoneID+"/agent", ownerToken, map[string]any{"stripe_webhook_secret": "whsec_x"})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, body = e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"restricted_to": "friends"})
	require.Equal(t, http.StatusBadRequest, code, string(body))

	checkout := stripeFixture(t, "checkout_completed.json")
	rejected := func(reason string) float64 {
		return labeledCounter(t, reg, "parley_gateway_payment_webhooks_rejected_total", map[string]string{"provider": "stripe", "reason": reason})
	}
	refused := func(payload []byte, header, wantCode string) {
		t.Helper()
		code, body := e.stripe(e.ws, payload, header)
		require.Equal(t, http.StatusBadRequest, code, string(body))
		require.Equal(t, wantCode, errorCode(t, body))
	}
	// Refused before anything is stored.
	refused(checkout, payments.SignStripe(checkout, "whsec_other", clock.Now()), "bad_signature")
	refused(checkout, "", "bad_signature")
	refused(checkout, payments.SignStripe(checkout, stripeSecret, clock.Now().Add(-6*time.Minute)), "stale_signature")
	refused(checkout, payments.SignStripe(checkout, stripeSecret, time.Now()), "stale_signature") // the wall clock is months away
	refused([]byte(`{"id":"evt_x"`), payments.SignStripe([]byte(`{"id":"evt_x"`), stripeSecret, clock.Now()), "bad_payload")
	code, _ = e.stripe(engine.NewID(time.Now()), checkout, payments.SignStripe(checkout, stripeSecret, clock.Now()))
	require.Equal(t, http.StatusBadRequest, code, "a workspace without the secret")
	require.Zero(t, e.countContacts(ownerToken))
	require.EqualValues(t, 3, rejected("signature"))
	require.EqualValues(t, 2, rejected("stale"))
	require.EqualValues(t, 1, rejected("payload"))

	// The checkout: a new contact with paid access.
	code, body = e.stripe(e.ws, checkout, payments.SignStripe(checkout, stripeSecret, clock.Now()))
	require.Equal(t, http.StatusOK, code, string(body))
	ans := decodeAs[stripeAnswer](t, body)
	require.True(t, ans.Handled)
	require.True(t, ans.Changed)
	id, err := engine.ParseID(ans.ContactID)
	require.NoError(t, err)
	ct := e.contactDetail(id)
	require.True(t, ct.IsSubscriber())
	require.Equal(t, "cus_Pay0000000001", ct.Subscription.CustomerID)
	require.Equal(t, "sub_Pay0000000001", ct.Subscription.SubscriptionID)
	require.Equal(t, "Paula Payer", ct.Profile.Name)
	require.Equal(t, "paula@example.com", ct.Profile.Email)
	require.Equal(t, engine.SourceAPI, ct.Source)

	// Stripe redelivers: stored once.
	code, body = e.stripe(e.ws, checkout, payments.SignStripe(checkout, stripeSecret, clock.Now().Add(time.Second)))
	require.Equal(t, http.StatusOK, code, string(body))
	again := decodeAs[stripeAnswer](t, body)
	require.Equal(t, ans.ContactID, again.ContactID)
	require.False(t, again.Changed)
	require.Equal(t, 1, e.countContacts(ownerToken))
	require.Equal(t, ct.UpdatedAt, e.contactDetail(id).UpdatedAt)

	// The subscriber writes on WhatsApp from the checkout's phone: the
	// same contact, answered; a stranger gets the refusal.
	_, contact := e.waContact("wamid.paid.1", "15550004444", "Paula")
	require.Equal(t, id, contact)
	require.Equal(t, []string{"Welcome, subscriber"}, e.waitSent(1))
	e.waContact("wamid.paid.2", "15550005555", "Stranger")
	require.Equal(t, []string{"Welcome, subscriber", "Subscribe to chat with us"}, e.waitSent(2))

	// After a restart the secret and the event's id are still known.
	e.stop()
	reg = prometheus.NewRegistry()
	e.start()
	code, body = e.stripe(e.ws, checkout, payments.SignStripe(checkout, stripeSecret, clock.Now()))
	require.Equal(t, http.StatusOK, code, string(body))
	require.False(t, decodeAs[stripeAnswer](t, body).Changed)

	// The cancellation, an hour later, found by the Stripe customer.
	clock.Advance(time.Hour)
	cancel := stripeFixture(t, "subscription_deleted.json")
	code, body = e.stripe(e.ws, cancel, payments.SignStripe(cancel, stripeSecret, clock.Now()))
	require.Equal(t, http.StatusOK, code, string(body))
	ans = decodeAs[stripeAnswer](t, body)
	require.Equal(t, id.String(), ans.ContactID)
	require.True(t, ans.Changed)
	require.False(t, subscriber(e.contactDetail(id)))
	// The checkout, late and redelivered, does not undo it.
	code, body = e.stripe(e.ws, checkout, payments.SignStripe(checkout, stripeSecret, clock.Now()))
	require.Equal(t, http.StatusOK, code, string(body))
	require.False(t, decodeAs[stripeAnswer](t, body).Changed)
	require.False(t, subscriber(e.contactDetail(id)))
	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.paid.3", "15550004444", "Paula", "hello again"))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "Subscribe to chat with us", e.waitSent(3)[2])

	// An event Parley does not act on is acknowledged.
	other := []byte(`{"id":"evt_other","object":"event","created":1772362800,"type":"invoice.paid","data":{"object":{"id":"in_1"}}}`)
	code, body = e.stripe(e.ws, other, payments.SignStripe(other, stripeSecret, clock.Now()))
	require.Equal(t, http.StatusOK, code, string(body))
	require.False(t, decodeAs[stripeAnswer](t, body).Handled)
	require.Equal(t, 2, e.countContacts(ownerToken))
}

// Stripe delivers one checkout several times at once (retries racing the
// first try): one contact is created, and one delivery changes it.
//
// Not parallel: it sets the hook that runs between a delivery's lookup
// of its contact and the creation, and widens that window to 20 ms, so
// that without the mutex every delivery would find nobody and create a
// contact.
func TestStripeConcurrentDeliveriesMakeOneContact(t *testing.T) {
	e := newAIEnv(t)
	var inside, most atomic.Int32
	gateway.SetStripeLooked(t, func() {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		inside.Add(-1)
	})
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"stripe_webhook_secret": stripeSecret})
	require.Equal(t, http.StatusOK, code, string(body))
	const n = 8
	for round := range 3 {
		checkout := fmt.Appendf(nil, `{"id":"evt_race_%d","object":"event","created":%d,"type":"checkout.session.completed","data":{"object":{"object":"checkout.session","customer":"cus_race_%d","customer_details":{"email":"race%d@example.com","name":"Racer %d"},"payment_status":"paid"}}}`,
			round, time.Now().Unix(), round, round, round)
		var wg sync.WaitGroup
		answers := make([]stripeAnswer, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, err := http.NewRequest("POST", e.url+"/webhooks/stripe/"+e.ws.String(), bytes.NewReader(checkout))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set(payments.StripeSignatureHeader, payments.SignStripe(checkout, stripeSecret, time.Now()))
				resp, err := e.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
					return
				}
				if err := json.NewDecoder(resp.Body).Decode(&answers[i]); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		changed := 0
		for _, a := range answers {
			require.Equal(t, answers[0].ContactID, a.ContactID, "round %d: one contact", round)
			if a.Changed {
				changed++
			}
		}
		require.Equal(t, 1, changed, "round %d: one delivery applied", round)
		require.Equal(t, round+1, e.countContacts(ownerToken))
	}
	require.EqualValues(t, 1, most.Load(), "one delivery at a time between its lookup and its creation")
}

// The refusal can carry a payment link naming the contact
// ({{contact.id}} as Stripe's client_reference_id): the checkout made
// from it gives that contact paid access, though Stripe knows neither
// its phone nor its email, and the agent then answers it.
func TestStripeCheckoutFromTheRefusalLink(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "rules",
		"answers":    []map[string]any{{"keywords": []string{"hours"}, "answer": "We're open 9 to 5."}},
		"restricted": true, "restricted_to": "paid", "stripe_webhook_secret": stripeSecret,
		"restricted_reply": "Subscribe at https://buy.stripe.com/test_x?client_reference_id={{contact.id}}"})
	require.Equal(t, http.StatusOK, code, string(body))
	conv, contact := e.waContact("wamid.link.1", "15550006666", "Linda")
	require.Equal(t, []string{"Subscribe at https://buy.stripe.com/test_x?client_reference_id=" + contact.String()}, e.waitSent(1))

	checkout := fmt.Appendf(nil, `{"id":"evt_link","object":"event","created":%d,"type":"checkout.session.completed","data":{"object":{"object":"checkout.session","customer":"cus_link","client_reference_id":%q,"customer_details":{"email":null,"phone":null},"payment_status":"paid"}}}`,
		time.Now().Unix(), contact)
	code, body = e.stripe(e.ws, checkout, payments.SignStripe(checkout, stripeSecret, time.Now()))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, contact.String(), decodeAs[stripeAnswer](t, body).ContactID)
	require.True(t, subscriber(e.contactDetail(contact)))

	code, body = e.webhook(engine.ChannelWhatsApp, waText("wamid.link.2", "15550006666", "Linda", "what are your hours?"))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "We're open 9 to 5.", e.waitSent(2)[1])
	require.Equal(t, conv, e.thread(engine.ChannelWhatsApp, phoneID, "15550006666"))
}
