package meta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"github.com/parleyhq/parley/actors/ports"
)

// Errors returned by the Client besides *GraphError and transport errors.
var (
	// ErrUnsupportedContent is returned by the send methods, before any
	// request is made, for content the channel's send API cannot carry: a
	// kind it does not take, empty text, or a media message with neither
	// an uploaded media id, a URL nor a reader.
	ErrUnsupportedContent = errors.New("meta: content not supported by the channel")
	// ErrBadResponse is returned when Meta answered 2xx with a body that is
	// not the documented success shape (for a send: no message id). The
	// message may have been accepted, so it is not retried.
	ErrBadResponse = errors.New("meta: unexpected response")
	// ErrMediaTooLarge is returned by FetchWhatsAppMedia and Download when
	// a file is declared or streamed larger than ClientConfig.MaxMediaBytes
	// (reading stops one byte past the limit), and by the uploads when the
	// reader yields more than that.
	ErrMediaTooLarge = errors.New("meta: media too large")
	// ErrMediaChecksum is returned by FetchWhatsAppMedia when the
	// downloaded bytes do not match the sha256 or file_size Meta declared.
	ErrMediaChecksum = errors.New("meta: media checksum mismatch")
)

// Codes of the *ports.SendError values built here that carry no Graph
// error code. Graph errors use the decimal Graph code, or "http_<status>"
// when the response carried none.
const (
	CodeNetwork            = "network"
	CodeTimeout            = "timeout"
	CodeUnsupportedContent = "unsupported_content"
	CodeBadResponse        = "bad_response"
	CodeMediaTooLarge      = "media_too_large"
	CodeMediaChecksum      = "media_checksum"
)

// MaxReasonBytes bounds SendError.Reason; longer texts are cut at a rune
// boundary and end with "…".
const MaxReasonBytes = 300

// GraphError is a failed Graph API call: any non-2xx response, or a 2xx
// whose body is an error object. The embedded APIError holds the parsed
// {"error":{message, type, code, error_subcode, error_data{details},
// fbtrace_id}} object; Title is error_user_title when Meta sent one.
type GraphError struct {
	HTTPStatus int
	APIError
	// Type is the error type, such as "OAuthException".
	Type string
	// NoCode is set when the body held no Graph error code (it was not
	// JSON, or had no error.code); HTTPStatus alone classifies the error.
	NoCode bool
	// Body is the start of a body that held no Graph error object, for
	// logs.
	Body string
}

func (e *GraphError) Error() string {
	var b strings.Builder
	b.WriteString("meta: graph error")
	if !e.NoCode {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(e.Code))
		if e.Subcode != 0 {
			fmt.Fprintf(&b, "/%d", e.Subcode)
		}
	}
	fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(": ")
		b.WriteString(e.Details)
	}
	if e.NoCode && e.Body != "" {
		b.WriteString(": ")
		b.WriteString(strconv.Quote(e.Body))
	}
	if e.FBTrace != "" {
		b.WriteString(" [fbtrace_id ")
		b.WriteString(e.FBTrace)
		b.WriteString("]")
	}
	return b.String()
}

// Temporary reports whether the call is worth retrying with backoff.
func (e *GraphError) Temporary() bool { return e.SendError().Temporary }

// SendError classifies e for the courier (the error codes Meta documents for
// the Cloud API and the Send API):
// Code is the decimal Graph code, or "http_<status>" when the response
// carried none; Reason is the known meaning of the code followed by Meta's
// error_data.details (or message) in parentheses; Temporary says whether
// to retry with backoff. Codes not in the table are temporary only for
// HTTP 5xx, 429 and 408.
func (e *GraphError) SendError() *ports.SendError {
	detail := e.Details
	if detail == "" {
		detail = cleanGraphMessage(e.Message)
	}
	if detail == "" {
		detail = e.Title
	}
	if e.NoCode {
		reason := "Meta answered HTTP " + strconv.Itoa(e.HTTPStatus)
		if t := http.StatusText(e.HTTPStatus); t != "" {
			reason += " " + t
		}
		if detail != "" {
			reason += " (" + detail + ")"
		}
		return &ports.SendError{
			Code:      "http_" + strconv.Itoa(e.HTTPStatus),
			Reason:    truncateReason(reason),
			Temporary: temporaryStatus(e.HTTPStatus),
		}
	}
	se := &ports.SendError{Code: strconv.Itoa(e.Code)}
	if c, ok := classifyCode(e.Code, e.Subcode); ok {
		se.Temporary = c.temporary
		se.Reason = c.meaning
		if detail != "" && !strings.EqualFold(strings.TrimSuffix(detail, "."), c.meaning) {
			se.Reason += " (" + detail + ")"
		}
	} else {
		se.Temporary = temporaryStatus(e.HTTPStatus)
		se.Reason = detail
		if se.Reason == "" {
			se.Reason = "Meta answered HTTP " + strconv.Itoa(e.HTTPStatus) + " with error code " + se.Code
		}
	}
	se.Reason = truncateReason(se.Reason)
	return se
}

// errClass is one row of the classification table.
type errClass struct {
	temporary bool
	meaning   string
}

// graphCodes classifies Graph error codes (as Meta documents them for the
// WhatsApp Cloud API and the Messenger Send API; the retry policy is ours).
var graphCodes = map[int]errClass{
	// Temporary: retry with backoff.
	1:      {true, "Unknown error at Meta"},
	2:      {true, "Meta service temporarily unavailable"},
	4:      {true, "App API call rate limit reached"},
	613:    {true, "Call rate limit reached"},
	1200:   {true, "Temporary send failure at Meta"},
	80007:  {true, "WhatsApp Business Account rate limit reached"},
	130429: {true, "Throughput limit reached for this phone number"},
	131000: {true, "Something went wrong at WhatsApp"},
	131016: {true, "WhatsApp service temporarily unavailable"},
	131056: {true, "Too many messages to this recipient (pair rate limit)"},
	131057: {true, "WhatsApp Business Account is in maintenance mode"},

	// Permanent: fail the message.
	0:      {false, "Authentication failed"},
	3:      {false, "App lacks the capability for this call"},
	10:     {false, "Permission denied"},
	100:    {false, "Invalid parameter"},
	190:    {false, "Access token expired or invalid"},
	368:    {false, "Account temporarily blocked for policy violations"},
	551:    {false, "This person isn't available right now"},
	131008: {false, "Required parameter missing"},
	131009: {false, "Parameter value not valid"},
	131026: {false, "Message undeliverable to this recipient"},
	131031: {false, "Business account locked or restricted"},
	131047: {false, "Outside the 24-hour window: a template message is required"},
	131048: {false, "Spam rate limit hit: sending restricted for quality"},
	131049: {false, "Marketing message not delivered to maintain healthy ecosystem engagement"},
	131051: {false, "Unsupported message type"},
	131052: {false, "Could not download the customer's media"},
	131053: {false, "Could not upload the media"},

	// Templates: fix the template or its parameters.
	132000: {false, "The number of template parameters does not match the template"},
	132001: {false, "The template does not exist in this language, or is not approved"},
	132005: {false, "The template's translated text is too long"},
	132007: {false, "The template's content breaks WhatsApp's policy"},
	132012: {false, "A template parameter has the wrong format"},
	132015: {false, "The template is paused for low quality"},
	132016: {false, "The template is disabled for low quality"},
	132068: {false, "The template's flow is blocked"},
	132069: {false, "The template's flow is throttled"},
}

// Messenger's "sent outside of allowed window" is code 10, subcode
// 2018278.
const subcodeOutsideWindow = 2018278

func classifyCode(code, subcode int) (errClass, bool) {
	if code == 10 && subcode == subcodeOutsideWindow {
		return errClass{false, "Sent outside of the allowed messaging window"}, true
	}
	if c, ok := graphCodes[code]; ok {
		return c, true
	}
	switch {
	case code >= 200 && code <= 299:
		return errClass{false, "Permission not granted"}, true
	case code >= 132000 && code <= 132099:
		return errClass{false, "Template problem"}, true
	}
	return errClass{}, false
}

func temporaryStatus(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// ClassifyTransport classifies an error that is not a Graph response: a
// failed connection, a reset, a timeout. Every such error is temporary;
// Code is "timeout" for deadlines and timeouts, "network" otherwise.
func ClassifyTransport(err error) *ports.SendError {
	if err == nil {
		return nil
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &ports.SendError{Code: CodeTimeout, Reason: truncateReason("Timed out talking to Meta: " + err.Error()), Temporary: true}
	}
	return &ports.SendError{Code: CodeNetwork, Reason: truncateReason("Network error talking to Meta: " + err.Error()), Temporary: true}
}

// Classify turns any error from the Client's send methods into the
// *ports.SendError the courier acts on: a *GraphError by its code, the
// package's sentinel errors by their meaning, anything else as a
// transport error. It returns nil for nil and passes a *ports.SendError
// through.
func Classify(err error) *ports.SendError {
	if err == nil {
		return nil
	}
	var se *ports.SendError
	if errors.As(err, &se) {
		return se
	}
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge.SendError()
	}
	perm := func(code, reason string) *ports.SendError {
		return &ports.SendError{Code: code, Reason: truncateReason(reason)}
	}
	switch {
	case errors.Is(err, ErrUnsupportedContent):
		return perm(CodeUnsupportedContent, "The channel cannot send this content: "+err.Error())
	case errors.Is(err, ErrMediaTooLarge):
		return perm(CodeMediaTooLarge, "The media file is too large")
	case errors.Is(err, ErrBadResponse):
		return perm(CodeBadResponse, "Meta answered with an unexpected response: "+err.Error())
	case errors.Is(err, ErrMediaChecksum):
		return &ports.SendError{Code: CodeMediaChecksum, Reason: "The downloaded media did not match its checksum", Temporary: true}
	}
	return ClassifyTransport(err)
}

// graphErrorBody is the "error" object of a Graph response.
type graphErrorBody struct {
	Message        string          `json:"message"`
	Type           string          `json:"type"`
	Code           *int            `json:"code"`
	Subcode        int             `json:"error_subcode"`
	ErrorUserTitle string          `json:"error_user_title"`
	ErrorUserMsg   string          `json:"error_user_msg"`
	ErrorData      json.RawMessage `json:"error_data"`
	FBTraceID      string          `json:"fbtrace_id"`
}

// parseGraphError returns the error a response stands for, or nil for a
// success: any non-2xx status, and any body with an "error" object.
func parseGraphError(status int, body []byte) *GraphError {
	var env struct {
		Error *graphErrorBody `json:"error"`
	}
	ok2xx := status >= 200 && status <= 299
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		if ok2xx {
			return nil
		}
		return &GraphError{HTTPStatus: status, NoCode: true, Body: bodySnippet(body)}
	}
	eb := env.Error
	ge := &GraphError{
		HTTPStatus: status,
		APIError: APIError{
			Subcode: eb.Subcode,
			Title:   eb.ErrorUserTitle,
			Message: eb.Message,
			Details: errorDataDetails(eb.ErrorData),
			FBTrace: eb.FBTraceID,
		},
		Type: eb.Type,
	}
	if ge.Details == "" {
		ge.Details = eb.ErrorUserMsg
	}
	if eb.Code != nil {
		ge.Code = *eb.Code
	} else {
		ge.NoCode = true
	}
	return ge
}

// errorDataDetails reads error_data.details. error_data is usually an
// object; some Graph endpoints send it as a string, sometimes holding
// JSON.
func errorDataDetails(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var obj struct {
		Details string `json:"details"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Details
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	if json.Unmarshal([]byte(s), &obj) == nil {
		return obj.Details
	}
	return s
}

// cleanGraphMessage drops the "(#131047) " prefix Graph puts on messages.
func cleanGraphMessage(m string) string {
	if strings.HasPrefix(m, "(#") {
		if i := strings.Index(m, ") "); i > 0 {
			return m[i+2:]
		}
	}
	return m
}

func bodySnippet(b []byte) string {
	const max = 200
	s := strings.ToValidUTF8(string(b[:min(len(b), max+4)]), "")
	return truncateBytes(strings.TrimSpace(s), max)
}

func truncateReason(s string) string { return truncateBytes(s, MaxReasonBytes) }

// truncateBytes cuts s to at most n bytes at a rune boundary, ending with
// "…" when it cut.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
