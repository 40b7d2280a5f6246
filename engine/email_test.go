package engine_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func TestEmailAccountValidate(t *testing.T) {
	t.Parallel()
	ok := func() engine.ChannelAccount {
		return engine.ChannelAccount{Channel: engine.ChannelEmail, AccountID: "support@shop.test", Name: "Support",
			AccessToken: "pw", Email: &engine.EmailSettings{SMTPHost: "smtp.shop.test", SMTPPort: 587,
				Addresses: []string{"help@shop.test"}}}
	}
	a := ok()
	require.NoError(t, a.Validate())
	assert.Equal(t, []string{"support@shop.test", "help@shop.test"}, a.ReceivesAt())
	for name, change := range map[string]func(*engine.ChannelAccount){
		"upper case address": func(a *engine.ChannelAccount) { a.AccountID = "Support@shop.test" },
		"not an address":     func(a *engine.ChannelAccount) { a.AccountID = "support" },
		"no settings":        func(a *engine.ChannelAccount) { a.Email = nil },
		"no host":            func(a *engine.ChannelAccount) { a.Email.SMTPHost = "" },
		"host with port":     func(a *engine.ChannelAccount) { a.Email.SMTPHost = "smtp.shop.test:587" },
		"port":               func(a *engine.ChannelAccount) { a.Email.SMTPPort = 70000 },
		"security":           func(a *engine.ChannelAccount) { a.Email.SMTPSecurity = "ssl3" },
		"alias":              func(a *engine.ChannelAccount) { a.Email.Addresses = []string{"Help <help@shop.test>"} },
		"two-line from name": func(a *engine.ChannelAccount) { a.Email.FromName = "A\r\nBcc: x@y" },
	} {
		a := ok()
		change(&a)
		err := a.Validate()
		assert.True(t, errors.Is(err, engine.ErrInvalid), "%s: %v", name, err)
	}
}

func TestNormalizeSubject(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Order 42":                 "order 42",
		"Re: Order 42":             "order 42",
		"RE: Fwd: re:  Order   42": "order 42",
		"AW: WG: Order 42":         "order 42",
		"Re[2]: Order 42":          "order 42",
		"Ticket: Order 42":         "ticket: order 42",
		"":                         "",
	} {
		assert.Equal(t, want, engine.NormalizeSubject(in), in)
	}
	assert.Equal(t, "Re: Order 42", engine.ReplySubject("Order 42"))
	assert.Equal(t, "RE: Order 42", engine.ReplySubject("RE: Order 42"))
}

func TestFormatEmailReply(t *testing.T) {
	t.Parallel()
	e := &engine.EmailSettings{Greeting: "Hello {name},", SignOff: "Best regards,\nAcme"}
	assert.Equal(t, "Hello Ann,\n\nYour order left today.\n\nBest regards,\nAcme", engine.FormatEmailReply(e, "Ann Lee", " Your order left today. "))
	assert.Equal(t, "Hello,\n\nHi.\n\nBest regards,\nAcme", engine.FormatEmailReply(e, "", "Hi."))
	assert.Equal(t, "Hi.", engine.FormatEmailReply(nil, "Ann", "Hi."))
}

func TestEmailThread(t *testing.T) {
	t.Parallel()
	refs := engine.EmailRefs([]string{"b@x"}, []string{"root@x", "a@x", "b@x"})
	assert.Equal(t, []string{"b@x", "a@x", "root@x"}, refs)
	known := map[string]engine.EmailThreadRef{"a@x": {ExternalUserID: "ann@example.com", Thread: "order 42"}}

	user, thread := engine.EmailThread("bob@example.com", "Something else", refs, known)
	assert.Equal(t, "ann@example.com", user, "a reply joins the thread it answers, whoever sends it")
	assert.Equal(t, "order 42", thread)

	user, thread = engine.EmailThread("ann@example.com", "RE: Order  42", []string{"unknown@x"}, known)
	assert.Equal(t, "ann@example.com", user)
	assert.Equal(t, "order 42", thread, "without a known reference, the sender and the normalised subject")

	_, thread = engine.EmailThread("ann@example.com", "Re: ", nil, nil)
	assert.Equal(t, "(no subject)", thread)
	_, thread = engine.EmailThread("ann@example.com", strings.Repeat("é", 300), nil, nil)
	assert.LessOrEqual(t, len(thread), engine.MaxThreadBytes)
	assert.True(t, utf8.ValidString(thread))

	assert.Equal(t, "ann@example.com", engine.ThreadUser("ann@example.com", ""))
	assert.NotEqual(t, engine.ThreadUser("ann@example.com", "a"), engine.ThreadUser("ann@example.com", "b"))
}
