package meta_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/actors/ports"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// graphErr renders a documented Graph error body.
func graphErr(code, subcode int, message, details string) string {
	sub := ""
	if subcode != 0 {
		sub = fmt.Sprintf(`"error_subcode":%d,`, subcode)
	}
	data := ""
	if details != "" {
		data = fmt.Sprintf(`"error_data":{"messaging_product":"whatsapp","details":%q},`, details)
	}
	return fmt.Sprintf(`{"error":{"message":%q,"type":"OAuthException","code":%d,%s%s"fbtrace_id":"AbCdEfGh"}}`,
		message, code, sub, data)
}

func TestSendErrorClassification(t *testing.T) {
	t.Parallel()
	type channel int
	const (
		whatsapp channel = iota
		messenger
		instagram
	)
	for _, tc := range []struct {
		name      string
		ch        channel
		status    int
		body      string
		code      string
		temporary bool
		reason    string // prefix of the Reason
	}{
		// WhatsApp §1.4, temporary.
		{"throughput", whatsapp, 400, graphErr(130429, 0, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
			"130429", true, "Throughput limit reached for this phone number (Cloud API message throughput has been reached.)"},
		{"pair rate", whatsapp, 400, graphErr(131056, 0, "(#131056) (Business Account, Consumer Account) pair rate limit hit", ""),
			"131056", true, "Too many messages to this recipient (pair rate limit) ((Business Account, Consumer Account) pair rate limit hit)"},
		{"app rate limit", whatsapp, 400, graphErr(4, 0, "(#4) Application request limit reached", ""), "4", true, "App API call rate limit reached"},
		{"waba rate limit", whatsapp, 400, graphErr(80007, 0, "(#80007) Rate limit issues", ""), "80007", true, "WhatsApp Business Account rate limit reached"},
		{"unknown", whatsapp, 500, graphErr(1, 0, "An unknown error occurred", ""), "1", true, "Unknown error at Meta"},
		{"service", whatsapp, 503, graphErr(2, 0, "Service temporarily unavailable", ""), "2", true, "Meta service temporarily unavailable"},
		{"something went wrong", whatsapp, 500, graphErr(131000, 0, "Something went wrong", "Message failed to send due to an unknown error."),
			"131000", true, "Something went wrong at WhatsApp"},
		{"service unavailable", whatsapp, 503, graphErr(131016, 0, "Service unavailable", ""), "131016", true, "WhatsApp service temporarily unavailable"},
		{"maintenance", whatsapp, 400, graphErr(131057, 0, "Account in maintenance mode", ""), "131057", true, "WhatsApp Business Account is in maintenance mode"},
		{"unknown code on 503", whatsapp, 503, graphErr(999999, 0, "Brand new failure", ""), "999999", true, "Brand new failure"},

		// WhatsApp §1.4, permanent.
		{"re-engagement", whatsapp, 400, graphErr(131047, 2494010, "(#131047) Re-engagement message",
			"Message failed to send because more than 24 hours have passed since the customer last replied to this number."),
			"131047", false, "Outside the 24-hour window: a template message is required (Message failed to send because more than 24 hours"},
		{"spam rate limit", whatsapp, 400, graphErr(131048, 0, "Spam rate limit hit", ""), "131048", false, "Spam rate limit hit: sending restricted for quality"},
		{"ecosystem", whatsapp, 400, graphErr(131049, 0, "This message was not delivered to maintain healthy ecosystem engagement.", ""),
			"131049", false, "Marketing message not delivered"},
		{"undeliverable", whatsapp, 400, graphErr(131026, 0, "Message Undeliverable.", ""), "131026", false, "Message undeliverable to this recipient"},
		{"unsupported type", whatsapp, 400, graphErr(131051, 0, "Unsupported message type", ""), "131051", false, "Unsupported message type"},
		{"media download", whatsapp, 400, graphErr(131052, 0, "Media download error", ""), "131052", false, "Could not download the customer's media"},
		{"media upload", whatsapp, 400, graphErr(131053, 0, "Media upload error", "Unable to retrieve the media from the link."),
			"131053", false, "Could not upload the media (Unable to retrieve the media from the link.)"},
		{"invalid parameter", whatsapp, 400, graphErr(100, 0, "(#100) Invalid parameter", "Parameter 'to' is invalid"),
			"100", false, "Invalid parameter (Parameter 'to' is invalid)"},
		{"missing parameter", whatsapp, 400, graphErr(131008, 0, "Required parameter is missing", ""), "131008", false, "Required parameter missing"},
		{"parameter not valid", whatsapp, 400, graphErr(131009, 0, "Parameter value is not valid", ""), "131009", false, "Parameter value not valid"},
		{"template first", whatsapp, 400, graphErr(132000, 0, "Number of parameters does not match", ""), "132000", false, "The number of template parameters does not match the template"},
		{"template last", whatsapp, 400, graphErr(132015, 0, "Template is paused", ""), "132015", false, "The template is paused for low quality"},
		{"expired token", whatsapp, 401, graphErr(190, 463, "Error validating access token: Session has expired on Friday", ""),
			"190", false, "Access token expired or invalid (Error validating access token"},
		{"auth", whatsapp, 401, graphErr(0, 0, "AuthException", ""), "0", false, "Authentication failed"},
		{"capability", whatsapp, 403, graphErr(3, 0, "Capability or permissions issue.", ""), "3", false, "App lacks the capability"},
		{"permission", whatsapp, 403, graphErr(10, 0, "Permission denied", ""), "10", false, "Permission denied"},
		{"permission range low", whatsapp, 403, graphErr(200, 0, "Permission error", ""), "200", false, "Permission not granted (Permission error)"},
		{"permission range high", whatsapp, 403, graphErr(299, 0, "Permission error", ""), "299", false, "Permission not granted"},
		{"blocked", whatsapp, 400, graphErr(368, 0, "Temporarily blocked for policies violations", ""), "368", false, "Account temporarily blocked"},
		{"locked", whatsapp, 400, graphErr(131031, 0, "Account has been locked", ""), "131031", false, "Business account locked or restricted"},
		{"unknown code on 400", whatsapp, 400, graphErr(424242, 0, "(#424242) Something new", "New details"), "424242", false, "New details"},

		// Messenger §2.3.
		{"outside window", messenger, 400, graphErr(10, 2018278, "(#10) This message is sent outside of allowed window.", ""),
			"10", false, "Sent outside of the allowed messaging window (This message is sent outside of allowed window.)"},
		{"not available", messenger, 400, graphErr(551, 1545041, "This person isn't available right now.", ""),
			"551", false, "This person isn't available right now"},
		{"call rate", messenger, 400, graphErr(613, 0, "Calls to this api have exceeded the rate limit.", ""), "613", true, "Call rate limit reached"},
		{"temporary send", messenger, 400, graphErr(1200, 0, "Temporary send message failure. Please try again later", ""),
			"1200", true, "Temporary send failure at Meta"},
		{"messenger token", messenger, 400, graphErr(190, 0, "Invalid OAuth access token.", ""), "190", false, "Access token expired or invalid"},

		// Instagram §3.3.
		{"instagram outside window", instagram, 400, graphErr(10, 0, "(#10) This message is sent outside of allowed window.", ""),
			"10", false, "Permission denied (This message is sent outside of allowed window.)"},

		// Bodies without a Graph error code.
		{"html 502", whatsapp, 502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "http_502", true, "Meta answered HTTP 502 Bad Gateway"},
		{"empty 429", messenger, 429, "", "http_429", true, "Meta answered HTTP 429 Too Many Requests"},
		{"json without error 500", instagram, 500, `{"status":"down"}`, "http_500", true, "Meta answered HTTP 500 Internal Server Error"},
		{"plain 404", whatsapp, 404, "Not Found", "http_404", false, "Meta answered HTTP 404 Not Found"},
		{"error without code", whatsapp, 400, `{"error":{"message":"Bad request","type":"OAuthException"}}`,
			"http_400", false, "Meta answered HTTP 400 Bad Request (Bad request)"},
		{"error on a 200", messenger, 200, graphErr(100, 0, "(#100) No matching user found", ""), "100", false, "Invalid parameter (No matching user found)"},
		{"error_data as string", messenger, 400,
			`{"error":{"message":"(#100) Param recipient[id] must be a valid ID string","type":"OAuthException","code":100,"error_data":"{\"details\":\"Bad recipient\"}","fbtrace_id":"X"}}`,
			"100", false, "Invalid parameter (Bad recipient)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newFakeGraph(t, answer(tc.status, tc.body))
			cl := g.client()
			var err error
			switch tc.ch {
			case whatsapp:
				_, err = cl.SendWhatsApp(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "")
			case messenger:
				_, err = cl.SendMessenger(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "", nil)
			case instagram:
				_, err = cl.SendInstagram(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"})
			}
			var ge *meta.GraphError
			require.ErrorAs(t, err, &ge)
			require.Equal(t, tc.status, ge.HTTPStatus)
			se := ge.SendError()
			require.Equal(t, se, meta.Classify(err))
			require.Equal(t, tc.code, se.Code)
			require.Equal(t, tc.temporary, se.Temporary, se.Reason)
			require.Equal(t, tc.temporary, ge.Temporary())
			require.True(t, strings.HasPrefix(se.Reason, tc.reason), "reason %q, want prefix %q", se.Reason, tc.reason)
			require.LessOrEqual(t, len(se.Reason), meta.MaxReasonBytes)
		})
	}
}

func TestGraphErrorFields(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, answer(400, `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,
		"error_subcode":2494010,"error_user_title":"Re-engagement","error_data":{"messaging_product":"whatsapp",
		"details":"More than 24 hours have passed."},"fbtrace_id":"AbC123"}}`))
	_, err := g.client().SendWhatsApp(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "")
	var ge *meta.GraphError
	require.ErrorAs(t, err, &ge)
	require.Equal(t, &meta.GraphError{
		HTTPStatus: 400,
		APIError: meta.APIError{
			Code:    131047,
			Subcode: 2494010,
			Title:   "Re-engagement",
			Message: "(#131047) Re-engagement message",
			Details: "More than 24 hours have passed.",
			FBTrace: "AbC123",
		},
		Type: "OAuthException",
	}, ge)
	require.Equal(t, "meta: graph error 131047/2494010 (HTTP 400): (#131047) Re-engagement message: More than 24 hours have passed. [fbtrace_id AbC123]", ge.Error())
	require.Equal(t, "Outside the 24-hour window: a template message is required (More than 24 hours have passed.)", ge.SendError().Reason)
}

func TestNonJSONErrorBody(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>\n<head><title>502 Bad Gateway</title></head>\n<body>upstream \xff down</body></html>"))
	})
	_, err := g.client().SendMessenger(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "", nil)
	var ge *meta.GraphError
	require.ErrorAs(t, err, &ge)
	require.Equal(t, 502, ge.HTTPStatus)
	require.True(t, ge.NoCode)
	require.Contains(t, ge.Body, "502 Bad Gateway")
	require.True(t, utf8.ValidString(ge.Body))
	require.Contains(t, ge.Error(), "HTTP 502")
	require.Equal(t, &ports.SendError{Code: "http_502", Reason: "Meta answered HTTP 502 Bad Gateway", Temporary: true}, meta.Classify(err))
}

func TestReasonTruncated(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 400)
	g := newFakeGraph(t, answer(400, graphErr(131026, 0, "Message Undeliverable.", long)))
	_, err := g.client().SendWhatsApp(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "")
	se := meta.Classify(err)
	require.LessOrEqual(t, len(se.Reason), meta.MaxReasonBytes)
	require.True(t, utf8.ValidString(se.Reason))
	require.True(t, strings.HasSuffix(se.Reason, "…"))
	require.True(t, strings.HasPrefix(se.Reason, "Message undeliverable to this recipient (éé"))
}

func TestSlowServerTimeout(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; ends when the client gives up
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := g.client().SendWhatsApp(ctx, "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "")
	require.Error(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	se := meta.Classify(err)
	require.Equal(t, meta.CodeTimeout, se.Code)
	require.True(t, se.Temporary)
	require.True(t, strings.HasPrefix(se.Reason, "Timed out talking to Meta"))
}

func TestHTTPClientTimeout(t *testing.T) {
	t.Parallel()
	g := newFakeGraph(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	hc := g.srv.Client()
	hc.Timeout = 100 * time.Millisecond
	_, err := g.client(func(c *meta.ClientConfig) { c.HTTP = hc }).SendInstagram(t.Context(), "1", "t", "2",
		engine.Content{Kind: engine.KindText, Text: "hi"})
	se := meta.Classify(err)
	require.Equal(t, meta.CodeTimeout, se.Code, se.Reason)
	require.True(t, se.Temporary)
}

func TestNetworkError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	cl := meta.NewClient(meta.ClientConfig{BaseURL: url})
	_, err := cl.SendWhatsApp(t.Context(), "1", "t", "2", engine.Content{Kind: engine.KindText, Text: "hi"}, "")
	require.Error(t, err)
	se := meta.Classify(err)
	require.Equal(t, meta.CodeNetwork, se.Code)
	require.True(t, se.Temporary)
	require.True(t, strings.HasPrefix(se.Reason, "Network error talking to Meta"))
}

func TestClassifyOthers(t *testing.T) {
	t.Parallel()
	require.Nil(t, meta.Classify(nil))
	require.Nil(t, meta.ClassifyTransport(nil))
	own := &ports.SendError{Code: "x", Reason: "y"}
	require.Same(t, own, meta.Classify(fmt.Errorf("wrapped: %w", own)))
	ge := &meta.GraphError{HTTPStatus: 400, APIError: meta.APIError{Code: 131047}}
	require.Equal(t, &ports.SendError{Code: "131047", Reason: "Outside the 24-hour window: a template message is required"},
		meta.Classify(fmt.Errorf("send: %w", ge)))
	require.Equal(t, meta.CodeMediaChecksum, meta.Classify(meta.ErrMediaChecksum).Code)
	require.Equal(t, meta.CodeTimeout, meta.ClassifyTransport(context.DeadlineExceeded).Code)
	require.Equal(t, meta.CodeNetwork, meta.ClassifyTransport(context.Canceled).Code)
	require.Equal(t, meta.CodeNetwork, meta.Classify(errors.New("connection reset by peer")).Code)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	def := meta.DefaultConfig()
	require.Equal(t, "https://graph.facebook.com", def.BaseURL)
	require.Equal(t, "https://graph.instagram.com", def.InstagramBaseURL)
	require.Equal(t, "v25.0", def.Version)
	require.Equal(t, int64(100<<20), def.MaxMediaBytes)
	require.NotNil(t, def.HTTP)
	require.NotNil(t, def.Clock)
	require.Equal(t, float64(80), def.Limits.WhatsApp)
	require.Equal(t, float64(300), def.Limits.Messenger)
	require.Equal(t, float64(300), def.Limits.Instagram)
	require.Equal(t, float64(10), def.Limits.HeavyMedia)
	require.Equal(t, 6*time.Second, def.Limits.PairInterval)
	require.Equal(t, 45, def.Limits.PairBurst)
	require.NoError(t, def.Validate())
	require.NoError(t, meta.ClientConfig{}.Validate())
	require.Error(t, meta.ClientConfig{BaseURL: "graph.facebook.com"}.Validate())
	require.Error(t, meta.ClientConfig{InstagramBaseURL: "ftp://x"}.Validate())
	require.Error(t, meta.ClientConfig{Version: "25.0"}.Validate())
	require.Equal(t, meta.SendHeavyMedia, meta.ClassOf(engine.ChannelMessenger, engine.KindVideo))
	require.Equal(t, meta.SendHeavyMedia, meta.ClassOf(engine.ChannelInstagram, engine.KindAudio))
	require.Equal(t, meta.SendStandard, meta.ClassOf(engine.ChannelWhatsApp, engine.KindVideo))
	require.Equal(t, meta.SendStandard, meta.ClassOf(engine.ChannelMessenger, engine.KindImage))
}
