package payments_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/gateway/payments"
)

const secret = "whsec_test_secret"

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// documentedMAC is the signature as Stripe's documentation computes it:
// HMAC-SHA256 of "<t>.<payload>" with the endpoint secret, hex.
func documentedMAC(payload []byte, secret string, t int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.%s", t, payload)
	return hex.EncodeToString(m.Sum(nil))
}

func TestVerifyStripe(t *testing.T) {
	t.Parallel()
	body := fixture(t, "checkout_completed.json")
	ts := now.Unix()
	good := documentedMAC(body, secret, ts)
	require.Equal(t, fmt.Sprintf("t=%d,v1=%s", ts, good), payments.SignStripe(body, secret, now))
	tests := []struct {
		name   string
		header string
		at     time.Time
		body   []byte
		want   error
	}{
		{name: "signed", header: fmt.Sprintf("t=%d,v1=%s", ts, good)},
		{name: "a v0 and a rolled secret's v1 beside the good one",
			header: fmt.Sprintf("t=%d,v1=%s,v1=%s,v0=%s", ts, documentedMAC(body, "whsec_old", ts), good, good)},
		{name: "4 minutes old", header: fmt.Sprintf("t=%d,v1=%s", ts, good), at: now.Add(4 * time.Minute)},
		{name: "6 minutes old", header: fmt.Sprintf("t=%d,v1=%s", ts, good), at: now.Add(6 * time.Minute), want: payments.ErrStale},
		{name: "6 minutes ahead", header: fmt.Sprintf("t=%d,v1=%s", ts, good), at: now.Add(-6 * time.Minute), want: payments.ErrStale},
		{name: "another secret", header: fmt.Sprintf("t=%d,v1=%s", ts, documentedMAC(body, "whsec_other", ts)), want: payments.ErrBadSignature},
		{name: "another time signed", header: fmt.Sprintf("t=%d,v1=%s", ts+1, good), want: payments.ErrBadSignature},
		{name: "body changed", header: fmt.Sprintf("t=%d,v1=%s", ts, good), body: append([]byte(" "), body...), want: payments.ErrBadSignature},
		{name: "v0 only", header: fmt.Sprintf("t=%d,v0=%s", ts, good), want: payments.ErrNoSignature},
		{name: "no header", header: "", want: payments.ErrNoSignature},
		{name: "no time", header: "v1=" + good, want: payments.ErrBadHeader},
		{name: "bad time", header: "t=soon,v1=" + good, want: payments.ErrBadHeader},
		{name: "no equals", header: fmt.Sprintf("t=%d,%s", ts, good), want: payments.ErrBadHeader},
		{name: "not hex", header: fmt.Sprintf("t=%d,v1=zz", ts), want: payments.ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, b := tt.at, tt.body
			if at.IsZero() {
				at = now
			}
			if b == nil {
				b = body
			}
			err := payments.VerifyStripe(b, tt.header, secret, at)
			if tt.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.want)
			}
		})
	}
	require.ErrorIs(t, payments.VerifyStripe(body, payments.SignStripe(body, "", now), "", now), payments.ErrBadSignature, "no secret set")
}

func TestParseStripeEvent(t *testing.T) {
	t.Parallel()
	ev, err := payments.ParseStripeEvent(fixture(t, "checkout_completed.json"))
	require.NoError(t, err)
	require.Equal(t, payments.StripeEvent{ID: "evt_1PaidCheckout00000000001", Type: payments.EventCheckoutCompleted,
		Created: now, Handled: true, Active: true, CustomerID: "cus_Pay0000000001", SubscriptionID: "sub_Pay0000000001",
		Email: "paula@example.com", Phone: "+15550004444", Name: "Paula Payer"}, ev)

	ev, err = payments.ParseStripeEvent(fixture(t, "subscription_deleted.json"))
	require.NoError(t, err)
	require.Equal(t, payments.StripeEvent{ID: "evt_1PaidCancel000000000001", Type: payments.EventSubscriptionDeleted,
		Created: now.Add(time.Hour), Handled: true, CustomerID: "cus_Pay0000000001", SubscriptionID: "sub_Pay0000000001"}, ev)

	// An expanded customer, a client_reference_id and customer_email.
	ev, err = payments.ParseStripeEvent([]byte(`{"id":"evt_2","object":"event","created":1772359200,"type":"checkout.session.completed",
		"data":{"object":{"customer":{"id":"cus_X","object":"customer"},"client_reference_id":"01JCONTACT","customer_email":"a@b.co","customer_details":null,"payment_status":"no_payment_required"}}}`))
	require.NoError(t, err)
	require.True(t, ev.Handled)
	require.Equal(t, "cus_X", ev.CustomerID)
	require.Equal(t, "01JCONTACT", ev.ClientReferenceID)
	require.Equal(t, "a@b.co", ev.Email)

	// An unpaid checkout (a delayed payment method) and other types are
	// read and not acted on.
	ev, err = payments.ParseStripeEvent([]byte(`{"id":"evt_3","object":"event","created":1772359200,"type":"checkout.session.completed",
		"data":{"object":{"customer":"cus_X","payment_status":"unpaid"}}}`))
	require.NoError(t, err)
	require.False(t, ev.Handled)
	ev, err = payments.ParseStripeEvent([]byte(`{"id":"evt_4","object":"event","created":1772359200,"type":"invoice.paid","data":{"object":{"id":"in_1"}}}`))
	require.NoError(t, err)
	require.False(t, ev.Handled)

	for name, body := range map[string]string{
		"not JSON":            `{"id":`,
		"no id":               `{"object":"event","created":1,"type":"invoice.paid","data":{"object":{}}}`,
		"no type":             `{"id":"evt_1","object":"event","created":1,"data":{"object":{}}}`,
		"no created":          `{"id":"evt_1","object":"event","type":"invoice.paid","data":{"object":{}}}`,
		"not an event":        `{"id":"cs_1","object":"checkout.session","created":1,"type":"x"}`,
		"checkout of nobody":  `{"id":"evt_1","created":1,"type":"checkout.session.completed","data":{"object":{"payment_status":"paid"}}}`,
		"checkout not object": `{"id":"evt_1","created":1,"type":"checkout.session.completed","data":{"object":[1]}}`,
		"customer a number":   `{"id":"evt_1","created":1,"type":"checkout.session.completed","data":{"object":{"customer":7}}}`,
		"deleted of nobody":   `{"id":"evt_1","created":1,"type":"customer.subscription.deleted","data":{"object":{"id":"sub_1"}}}`,
	} {
		_, err := payments.ParseStripeEvent([]byte(body))
		require.Error(t, err, name)
	}
}

// FuzzStripeWebhook feeds the signature check and the event reader what
// an attacker may post: neither panics, a body signed with the secret at
// now verifies, any change of it does not, and a verified body either
// parses or is refused with an error.
func FuzzStripeWebhook(f *testing.F) {
	f.Add(fixture(f, "checkout_completed.json"), "")
	f.Add(fixture(f, "subscription_deleted.json"), "t=1772359200,v1=00")
	f.Add([]byte(`{"id":"evt_1","created":1,"type":"checkout.session.completed","data":{"object":{"customer":{"id":"c"}}}}`), "t=-1,v1=")
	f.Add([]byte(`{}`), "t=1,v1=zz,v1,=,")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		_ = payments.VerifyStripe(body, header, secret, now)
		ev, err := payments.ParseStripeEvent(body)
		if err == nil && (ev.ID == "" || ev.Type == "") {
			t.Fatalf("parsed an event without id or type: %+v", ev)
		}
		sig := payments.SignStripe(body, secret, now)
		if err := payments.VerifyStripe(body, sig, secret, now); err != nil {
			t.Fatalf("a signed body did not verify: %v", err)
		}
		if err := payments.VerifyStripe(append(body, 'x'), sig, secret, now); err == nil {
			t.Fatal("a changed body verified")
		}
		if err := payments.VerifyStripe(body, sig, secret+"x", now); err == nil {
			t.Fatal("another secret verified")
		}
		if !strings.Contains(sig, "v1=") {
			t.Fatal("no v1 in the header")
		}
	})
}
