package meta

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/parleyhq/parley/engine"
)

// ErrMalformed is wrapped by every error a webhook parser returns: the body
// is not valid UTF-8 or JSON, is for another object, has a field of the
// wrong JSON type, or lacks an identifier or timestamp that routing and
// dedupe depend on. A gateway answers it with a 4xx; Meta only sends such
// bodies by mistake or when forged, and a valid payload with unknown kinds
// or fields never produces it.
var ErrMalformed = errors.New("meta: malformed payload")

// Limits on the identifiers a parser emits. They are the engine's limits
// (engine.Inbound.Validate); a longer identifier cannot be truncated
// without breaking routing or dedupe, so it makes the payload malformed.
const (
	maxIDBytes      = 256 // account and user ids
	maxMessageBytes = 512 // channel message ids
)

// Timestamps beyond the year 9999 cannot be written as RFC 3339 (and so
// not as JSON); no genuine webhook carries one.
const maxUnixSeconds = 253402300799

// Oversize policy. Identifiers that route or dedupe a message (account,
// user and message ids) are rejected when longer than the engine allows
// (see malformedID). Every other string the parsers copy into an
// engine.Content (text, caption, file name, titles, payloads, URLs, reply
// and reaction targets) is truncated at a rune boundary to the engine's
// limit: engine.MaxTextBytes for Content.Text, engine.MaxFieldBytes for the
// rest. Meta's own limits are far below ours, so truncation only ever
// touches forged or broken payloads, and it never makes Meta retry a
// delivery forever.

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// decode checks that body is UTF-8 and decodes it into v. Any decoder
// error, and any panic inside the third-party decoder, becomes
// ErrMalformed.
func decode(body []byte, v any) (err error) {
	if !utf8.Valid(body) {
		return malformed("body is not valid UTF-8")
	}
	defer func() {
		if r := recover(); r != nil {
			err = malformed("undecodable JSON: %v", r)
		}
	}()
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// valid returns s with any invalid UTF-8 replaced by U+FFFD. Decoded JSON
// strings are valid already (the body is checked and the decoder replaces
// lone surrogates); this is a cheap second line of defence.
func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// clip returns s as valid UTF-8 of at most max bytes, cut at a rune
// boundary.
func clip(s string, max int) string {
	s = valid(s)
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// clipField clips a content field other than the text.
func clipField(s string) string { return clip(s, engine.MaxFieldBytes) }

// clipText clips a message text.
func clipText(s string) string { return clip(s, engine.MaxTextBytes) }

// ident checks an identifier: non-empty and at most max bytes.
func ident(what, s string, max int) (string, error) {
	s = valid(s)
	switch {
	case s == "":
		return "", malformed("missing %s", what)
	case len(s) > max:
		return "", malformed("%s longer than %d bytes", what, max)
	}
	return s, nil
}

// synthID makes an identifier for an event that has no id of its own from
// the fields that name it. The result is stable for a given event, so a
// redelivery dedupes; when it would be longer than a message id may be, it
// is hashed: prefix + "sha256:" + the hex digest of rest.
func synthID(prefix, rest string) string {
	if len(prefix)+len(rest) <= maxMessageBytes {
		return prefix + rest
	}
	sum := sha256.Sum256([]byte(rest))
	return prefix + "sha256:" + hex.EncodeToString(sum[:])
}

// unixString parses WhatsApp's timestamp: a string of Unix seconds.
func unixString(what, s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxUnixSeconds {
		return time.Time{}, malformed("bad %s %q", what, clip(s, 64))
	}
	return time.Unix(n, 0).UTC(), nil
}

// unixMilli converts Messenger's integer milliseconds. Zero means absent.
func unixMilli(what string, ms int64) (time.Time, error) {
	if ms < 0 || ms > maxUnixSeconds*1000 {
		return time.Time{}, malformed("bad %s %d", what, ms)
	}
	if ms == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(ms).UTC(), nil
}

// unsupported is the content of a message Parley cannot render, named by
// the channel's own type.
func unsupported(typ string) engine.Content {
	return engine.Content{Kind: engine.KindUnsupported, UnsupportedType: clipField(typ)}
}

// validLatLng reports whether a point is on the globe.
func validLatLng(lat, lng *float64) bool {
	return lat != nil && lng != nil && *lat >= -90 && *lat <= 90 && *lng >= -180 && *lng <= 180
}
