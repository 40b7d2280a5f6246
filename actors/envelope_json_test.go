package actors_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// fill sets every field of v (a pointer to a struct) to a value that is
// not zero, recursively, with strings that need escaping: a field added
// to a type later is covered without changing the test.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(t, v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 2, 21, 49, 18, 85963761+*n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fill(t, f, n)
			}
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d \"<&>\" é\n\t\r\b\f\x00\x1f\x7f \u2028\u2029 🙂 \xff\xfe\\ end", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(-*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n)) //nolint:gosec // positive
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.25)
	case reflect.Array:
		for i := range v.Len() {
			fill(t, v.Index(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, n)
			fill(t, e, n)
			v.SetMapIndex(k, e)
		}
	case reflect.Interface:
		// Left as it is: Data is set below.
	default:
		t.Fatalf("fill: no value for a %s", v.Type())
	}
}

func filled[T any](t *testing.T) *T {
	t.Helper()
	v := new(T)
	n := 0
	fill(t, reflect.ValueOf(v), &n)
	return v
}

// Events go out with the same bytes as encoding/json writes, whatever
// their fields hold: the wire contract is encoding/json's.
func TestEnvelopeJSONIsEncodingJSON(t *testing.T) {
	t.Parallel()
	ws, b, sub := subscribed(t)
	conv, msg := filled[engine.Conversation](t), filled[engine.Message](t)
	ev := engine.Event{Type: engine.EventMessageCreated, WorkspaceID: ws, ConversationID: conv.ID,
		At: time.Date(2026, 12, 2, 1, 2, 3, 4, time.UTC), Conversation: conv, Message: msg}
	updated := ev
	updated.Type, updated.Message = engine.EventConversationUpdated, nil
	b.Publish([]engine.Event{ev})          // the message carries the header
	b.Publish([]engine.Event{ev, updated}) // the header goes with the second
	// Every field that can be left out left out, and an event of no
	// conversation.
	b.Publish([]engine.Event{{Type: engine.EventMessageCreated, WorkspaceID: ws, Conversation: &engine.Conversation{},
		Message: &engine.Message{}}})
	b.Publish([]engine.Event{{Type: engine.EventConversationUpdated, WorkspaceID: ws}})
	datas := []any{filled[engine.Contact](t), map[string]any{"note": filled[engine.Note](t), "user_id": "u<1>"},
		map[string]any{"memory": filled[engine.Memory](t)}}
	for _, d := range datas {
		b.Publish([]engine.Event{{Type: engine.EventContactUpdated, WorkspaceID: ws, At: ev.At, Data: d}})
	}
	var envs []*actors.Envelope
	for range 5 + len(datas) {
		envs = append(envs, <-sub.C)
	}
	for _, e := range envs {
		want, err := json.Marshal(actors.Wire(e))
		require.NoError(t, err)
		require.Equal(t, string(want), string(e.JSON()), "event %d", e.Seq)
	}
	require.Contains(t, string(envs[0].JSON()), `"conversation":{`)
	require.NotContains(t, string(envs[1].JSON()), `"conversation":{`)
	require.Contains(t, string(envs[0].JSON()), `\u003c\u0026\u003e`, "HTML characters are escaped, as encoding/json does")
}

// BenchmarkEventJSON encodes a message.created event that carries its
// conversation, as Envelope.JSON does (by hand) and with encoding/json,
// the baseline it replaced.
func BenchmarkEventJSON(b *testing.B) {
	now := time.Date(2026, 12, 2, 21, 49, 18, 85963761, time.UTC)
	conv := &engine.Conversation{ID: engine.NewID(now), WorkspaceID: engine.NewID(now), Channel: engine.ChannelWhatsApp,
		ChannelAccountID: "200000000000000", ContactID: engine.NewID(now), ContactName: "Customer 0", ExternalUserID: "15550000000",
		Folder: engine.FolderOpen, Mode: engine.ModeAI, UnreadCount: 2, LastActivityAt: now, Preview: "pbm:0:505992123 fan-out probe",
		LastSeq: 2, LastCustomerSeq: 2, LastInboundAt: now, AwaitingReply: true, CreatedAt: now, OpenedAt: now}
	msg := &engine.Message{ID: engine.NewID(now), WorkspaceID: conv.WorkspaceID, ConversationID: conv.ID, Seq: 2,
		Direction: engine.DirIn, ChannelMessageID: "wamid.fanout.1", CreatedAt: now, SentAt: now}
	msg.Text = "pbm:0:505992123 fan-out probe"
	ev := engine.Event{Type: engine.EventMessageCreated, WorkspaceID: conv.WorkspaceID, ConversationID: conv.ID, At: now,
		Conversation: conv, Message: msg}
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := &actors.Envelope{Seq: 10, Event: ev}
			if len(e.JSON()) == 0 {
				b.Fatal("empty")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := &actors.Envelope{Seq: 10, Event: ev}
			if js, err := json.Marshal(actors.Wire(e)); err != nil || len(js) == 0 {
				b.Fatal(err)
			}
		}
	})
}
