package persistence

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

// typicalRecords returns what one inbound text message writes: the
// conversation header and the message.
func typicalRecords(tb testing.TB) (engine.Conversation, engine.Message) {
	tb.Helper()
	now := time.Now()
	c := engine.NewConversation(engine.NewID(now), engine.NewID(now), engine.ChannelWhatsApp, "100000000000001", engine.NewID(now), "15550001234", now)
	res, err := engine.Apply(c, engine.Receive{ChannelMessageID: "wamid.HBgLMTU1NTAwMDEyMzQVAgASGBQzQUI1RjZCRjE4RTk1MkQzOTA1NQA=", ContactName: "Customer 1234",
		Content: engine.Content{Kind: engine.KindText, Text: "Hello, I would like to know whether my order has shipped. Gracias!"}}, now, engine.NewID, engine.Settings{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return res.Conversation, res.Messages[0]
}

// BenchmarkEncode measures encoding what one inbound message writes: the
// message record and the conversation header.
func BenchmarkEncode(b *testing.B) {
	c, m := typicalRecords(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode(&m); err != nil {
			b.Fatal(err)
		}
		if _, err := encode(&c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodec compares the JSON (version 1) and binary (version 2)
// records of a typical header and text message: one encode and one
// decode per op, with the record's size.
func BenchmarkCodec(b *testing.B) {
	c, m := typicalRecords(b)
	for _, f := range []struct {
		name string
		enc  func(any) ([]byte, error)
	}{{"json", encodeJSON}, {"binary", encode}} {
		b.Run("header/"+f.name, func(b *testing.B) { benchCodec(b, f.enc, &c, new(engine.Conversation)) })
		b.Run("message/"+f.name, func(b *testing.B) { benchCodec(b, f.enc, &m, new(engine.Message)) })
	}
}

func benchCodec[T any](b *testing.B, enc func(any) ([]byte, error), v, into *T) {
	rec, err := enc(v)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec, err := enc(v)
		if err != nil {
			b.Fatal(err)
		}
		if err := decode(rec, into); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rec)), "bytes/record")
}
