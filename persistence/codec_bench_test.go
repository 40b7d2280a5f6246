package persistence

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

// BenchmarkEncode measures encoding what one inbound message writes: the
// message record and the conversation header.
func BenchmarkEncode(b *testing.B) {
	now := time.Now()
	c := engine.NewConversation(engine.NewID(now), engine.NewID(now), engine.ChannelWhatsApp, "100000000000001", engine.NewID(now), "15550001234", now)
	res, err := engine.Apply(c, engine.Receive{ChannelMessageID: "wamid.HBgLMTU1NTAwMDEyMzQVAgASGBQzQUI1RjZCRjE4RTk1MkQzOTA1NQA=", ContactName: "Customer 1234",
		Content: engine.Content{Kind: engine.KindText, Text: "Hello, I would like to know whether my order has shipped. Gracias!"}}, now, engine.Settings{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode(&res.Messages[0]); err != nil {
			b.Fatal(err)
		}
		if _, err := encode(&res.Conversation); err != nil {
			b.Fatal(err)
		}
	}
}
