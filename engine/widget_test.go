package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func TestVerifyWidgetUser(t *testing.T) {
	t.Parallel()
	// The hash a site's backend computes: HMAC-SHA256("user-42") keyed
	// with the secret, in hex (as `echo -n user-42 | openssl dgst
	// -sha256 -hmac wsec_test` prints it).
	const secret = "wsec_test"
	hash := engine.WidgetUserHash(secret, "user-42")
	require.Len(t, hash, 64)
	require.True(t, engine.VerifyWidgetUser(secret, "user-42", hash))
	require.True(t, engine.VerifyWidgetUser(secret, "user-42", strings.ToUpper(hash)), "hex in either case")
	for name, c := range map[string][3]string{
		"another user":   {secret, "user-43", hash},
		"another secret": {"wsec_other", "user-42", hash},
		"no hash":        {secret, "user-42", ""},
		"no user":        {secret, "", engine.WidgetUserHash(secret, "")},
		"no secret":      {"", "user-42", engine.WidgetUserHash("", "user-42")},
		"truncated hash": {secret, "user-42", hash[:63]},
	} {
		require.False(t, engine.VerifyWidgetUser(c[0], c[1], c[2]), name)
	}
}

func TestWidgetSettingsClean(t *testing.T) {
	t.Parallel()
	s := engine.DefaultWidgetSettings()
	s.AllowedOrigins = []string{"https://Shop.Example", "https://shop.example/", "http://127.0.0.1:8081"}
	s.PreChat = []engine.WidgetField{{Kind: "name", Label: " Name "}, {Kind: "text", Key: "order_id", Label: "Order"}}
	s.Hours = &engine.WidgetHours{TimeZone: "Europe/Paris", Days: []engine.WidgetDay{{Day: 1, Open: "09:00", Close: "17:30"}}}
	got, err := s.Clean()
	require.NoError(t, err)
	require.Equal(t, []string{"https://shop.example", "http://127.0.0.1:8081"}, got.AllowedOrigins)
	require.Equal(t, "Name", got.PreChat[0].Label)
	require.Equal(t, "name", got.PreChat[0].Key)
	require.True(t, got.OriginAllowed("https://shop.example"))
	require.False(t, got.OriginAllowed("https://shop.example.evil.com"))
	require.False(t, got.OriginAllowed("http://shop.example"), "the scheme counts")
	require.False(t, got.OriginAllowed("https://sub.shop.example"))
	require.False(t, got.OriginAllowed("null"))

	for name, change := range map[string]func(*engine.WidgetSettings){
		"path in origin": func(s *engine.WidgetSettings) { s.AllowedOrigins = []string{"https://a.example/shop"} },
		"no scheme":      func(s *engine.WidgetSettings) { s.AllowedOrigins = []string{"a.example"} },
		"wildcard":       func(s *engine.WidgetSettings) { s.AllowedOrigins = []string{"*"} },
		"bad colour":     func(s *engine.WidgetSettings) { s.Color = "red" },
		"script colour":  func(s *engine.WidgetSettings) { s.TextColor = "#fff;}</style>" },
		"bad position":   func(s *engine.WidgetSettings) { s.Position = "top" },
		"long greeting":  func(s *engine.WidgetSettings) { s.Greeting = strings.Repeat("a", 1025) },
		"field kind":     func(s *engine.WidgetSettings) { s.PreChat = []engine.WidgetField{{Kind: "html", Label: "x"}} },
		"field key": func(s *engine.WidgetSettings) {
			s.PreChat = []engine.WidgetField{{Kind: "text", Key: "Bad Key", Label: "x"}}
		},
		"field twice": func(s *engine.WidgetSettings) {
			s.PreChat = []engine.WidgetField{{Kind: "email", Label: "a"}, {Kind: "email", Label: "b"}}
		},
		"field no label": func(s *engine.WidgetSettings) { s.PreChat = []engine.WidgetField{{Kind: "email"}} },
		"bad zone":       func(s *engine.WidgetSettings) { s.Hours = &engine.WidgetHours{TimeZone: "Mars/Base"} },
		"close before open": func(s *engine.WidgetSettings) {
			s.Hours = &engine.WidgetHours{TimeZone: "UTC", Days: []engine.WidgetDay{{Day: 1, Open: "17:00", Close: "09:00"}}}
		},
		"day 7": func(s *engine.WidgetSettings) {
			s.Hours = &engine.WidgetHours{TimeZone: "UTC", Days: []engine.WidgetDay{{Day: 7, Open: "09:00", Close: "17:00"}}}
		},
	} {
		s := engine.DefaultWidgetSettings()
		change(&s)
		_, err := s.Clean()
		require.True(t, errors.Is(err, engine.ErrInvalid), "%s: %v", name, err)
	}
}

func TestWidgetBusinessHours(t *testing.T) {
	t.Parallel()
	s := engine.DefaultWidgetSettings()
	require.True(t, s.Open(time.Now()), "no hours: always open")
	s.Hours = &engine.WidgetHours{TimeZone: "America/New_York", Days: []engine.WidgetDay{{Day: 1, Open: "09:00", Close: "17:00"}}}
	mon := func(h, m int) time.Time {
		ny, err := time.LoadLocation("America/New_York")
		require.NoError(t, err)
		return time.Date(2026, 12, 7, h, m, 0, 0, ny).UTC() // a Monday
	}
	require.False(t, s.Open(mon(8, 59)))
	require.True(t, s.Open(mon(9, 0)))
	require.True(t, s.Open(mon(16, 59)))
	require.False(t, s.Open(mon(17, 0)), "close is excluded")
	require.False(t, s.Open(mon(12, 0).Add(24*time.Hour)), "Tuesday is closed")
}

func TestWidgetAttribution(t *testing.T) {
	t.Parallel()
	c := engine.WidgetAttribution("https://shop.example/sale?utm_source=news&utm_medium=email&utm_campaign=winter&utm_term=boots",
		"https://www.google.com/")
	require.NotNil(t, c)
	require.Equal(t, "web", c.Source)
	require.Equal(t, "winter", c.Ref)
	require.Equal(t, "winter", c.Key(), "the inbox's Campaign filter names it")
	require.Equal(t, "news / email", c.Headline)
	require.Equal(t, "referrer: https://www.google.com/\nutm_term: boots", c.Body)
	require.Equal(t, engine.ChannelWebChat, c.Channel)
	require.Nil(t, engine.WidgetAttribution("javascript:alert(1)", ""))
	require.Nil(t, engine.WidgetAttribution("", "https://x.example"))
	plain := engine.WidgetAttribution("https://shop.example/", "javascript:alert(1)")
	require.Equal(t, "", plain.Body, "a referrer that is not http(s) is left out")
}

func TestWebChatIdentityKeys(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{engine.KeyEmail + "ana@example.com"},
		engine.IdentityKeys(engine.ChannelWebChat, engine.VerifiedExternalID("Ana@Example.com")))
	require.Nil(t, engine.IdentityKeys(engine.ChannelWebChat, engine.VerifiedExternalID("user-42")))
	require.Nil(t, engine.IdentityKeys(engine.ChannelWebChat, engine.VisitorExternalID(engine.ID{1})), "an anonymous visitor is nobody")
	require.Nil(t, engine.IdentityKeys(engine.ChannelWebChat, "v:ana@example.com"))
}

func TestWidgetEmailContinuation(t *testing.T) {
	t.Parallel()
	require.Equal(t, &engine.EmailContinuation{}, engine.WidgetEmailContinuation(true, "ann@example.com", "support@shop.test"),
		"open: the visitor chats live, replies go to the widget")
	require.Equal(t, &engine.EmailContinuation{AccountID: "support@shop.test", Address: "ann@example.com"},
		engine.WidgetEmailContinuation(false, " Ann@Example.COM ", "support@shop.test"))
	require.Nil(t, engine.WidgetEmailContinuation(false, "", "support@shop.test"), "no address: unchanged")
	require.Nil(t, engine.WidgetEmailContinuation(false, "not an address", "support@shop.test"))
	require.Nil(t, engine.WidgetEmailContinuation(false, "ann@example.com", ""), "no email account: unchanged")

	// The conversation's actor applies it with the message; other
	// channels ignore it, and nil keeps what was set.
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := engine.NewConversation(engine.NewID(t0), engine.NewID(t0), engine.ChannelWebChat, "wid_1", engine.NewID(t0), "v:1", t0)
	recv := func(c engine.Conversation, id string, e *engine.EmailContinuation) engine.Conversation {
		res, err := engine.Apply(c, engine.Receive{ChannelMessageID: id, Content: engine.Content{Kind: engine.KindText, Text: "hi"}, EmailTo: e},
			t0, engine.NewID, engine.Settings{}, nil)
		require.NoError(t, err)
		return res.Conversation
	}
	c = recv(c, "m1", &engine.EmailContinuation{AccountID: "support@shop.test", Address: "ann@example.com"})
	require.Equal(t, "ann@example.com", c.EmailTo)
	require.Equal(t, "support@shop.test", c.EmailAccountID)
	c = recv(c, "m2", nil)
	require.Equal(t, "ann@example.com", c.EmailTo)
	c = recv(c, "m3", &engine.EmailContinuation{})
	require.Empty(t, c.EmailTo)
	require.Empty(t, c.EmailAccountID)

	wa := engine.NewConversation(engine.NewID(t0), engine.NewID(t0), engine.ChannelWhatsApp, "123", engine.NewID(t0), "4915", t0)
	wa = recv(wa, "w1", &engine.EmailContinuation{AccountID: "support@shop.test", Address: "ann@example.com"})
	require.Empty(t, wa.EmailTo)
}
