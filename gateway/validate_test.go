package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
	"github.com/valyala/fasthttp"

	"github.com/stretchr/testify/require"
)

var benchBodies = []struct{ name, route, body string }{
	{"star", "POST /api/v1/conversations/{conv}/star", `{"starred":true}`},
	{"agent", "PUT /api/v1/agent", `{"kind":"openai","base_url":"http://localhost:11434/v1","model":"llama3.2","system_prompt":"You answer for Acme Shoes. Shipping takes 2 days.","handoff_keywords":["human","agent"],"auto_followup_hours":4,"auto_followup_max":1,"auto_csat":true,"debounce_ms":1500,"answers":[{"keywords":["price","cost"],"answer":"See acme.example/prices"}]}`},
}

// BenchmarkBodyValidation measures what checking a body against its
// published schema adds to a request, next to the strict decoding every
// body already went through.
func BenchmarkBodyValidation(b *testing.B) {
	schemas, err := bodySchemas()
	require.NoError(b, err)
	for _, bb := range benchBodies {
		sch := schemas[bb.route]
		require.NotNil(b, sch, bb.route)
		body := []byte(bb.body)
		b.Run(bb.name+"/schema", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := checkBody(sch, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bb.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var v agentBody
				var s starBody
				dst := any(&v)
				if bb.name == "star" {
					dst = &s
				}
				if err := decodeJSONBytes(body, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCheckBodySaysWhere(t *testing.T) {
	schemas, err := bodySchemas()
	require.NoError(t, err)
	err = checkBody(schemas["PUT /api/v1/agent"], []byte(`{"debounce_ms":"soon"}`))
	require.ErrorContains(t, err, "debounce_ms")
	err = checkBody(schemas["POST /api/v1/conversations/{conv}/subscription"], []byte(`{}`))
	require.ErrorContains(t, err, "unsubscribed")
	require.NoError(t, checkBody(schemas["POST /api/v1/conversations/{conv}/assign"], []byte(`{"user_id":null}`)))
}

// FuzzCheckBody: any body against any published schema is accepted or
// refused with a 400, never a panic or another error.
func FuzzCheckBody(f *testing.F) {
	for _, bb := range benchBodies {
		f.Add(bb.body)
	}
	for _, s := range []string{`null`, `{}`, `{"user_id":null}`, `[1,{"a":`, `{"score":1e400}`, "{\"text\":\"\xff\"}"} {
		f.Add(s)
	}
	schemas, err := bodySchemas()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, body string) {
		for route, sch := range schemas {
			err := checkBody(sch, []byte(body))
			if err == nil {
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != fiber.StatusBadRequest {
				t.Fatalf("%s: %q: %v", route, body, err)
			}
		}
	})
}

// BenchmarkStarRequest drives a whole authenticated API request through
// the server's handler chain (token check, body decoding, the route's
// handler), on a route that writes nothing (the body is read and checked, then the
// malformed conversation id answers 404), with and without the schema check.
func BenchmarkStarRequest(b *testing.B) {
	store, err := persistence.Open(persistence.Options{Dir: b.TempDir()})
	require.NoError(b, err)
	defer store.Close()
	_, err = Bootstrap(store, "pk_bench_owner", time.Now())
	require.NoError(b, err)
	rt, err := actors.New(actors.Config{Store: store})
	require.NoError(b, err)
	accounts, err := NewAccounts(store)
	require.NoError(b, err)
	media, err := media.NewStore(b.TempDir(), 1<<20)
	require.NoError(b, err)
	s, err := New(Config{Runtime: rt, Store: store, Accounts: accounts, Graph: meta.NewClient(meta.ClientConfig{}), Media: media})
	require.NoError(b, err)
	defer func() { require.NoError(b, s.Shutdown(context.Background())) }()
	h := s.app.Handler()
	run := func(b *testing.B) {
		b.ReportAllocs()
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		for b.Loop() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod(fiber.MethodPost)
			ctx.Request.SetRequestURI("/api/v1/conversations/not-an-id/star")
			ctx.Request.Header.Set(fiber.HeaderAuthorization, "Bearer pk_bench_owner")
			ctx.Request.Header.SetContentType(fiber.MIMEApplicationJSON)
			ctx.Request.SetBodyString(`{"starred":true}`)
			h(&ctx)
			if ctx.Response.StatusCode() != fiber.StatusNotFound {
				b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	b.Run("schema", run)
	schemas, err := bodySchemas()
	require.NoError(b, err)
	const route = "POST /api/v1/conversations/{conv}/star"
	sch := schemas[route]
	delete(schemas, route)
	defer func() { schemas[route] = sch }()
	b.Run("no-schema", run)
}
