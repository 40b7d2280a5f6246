// Package strictjson decodes one JSON value the way every input the
// gateway reads from clients is decoded (API request bodies, WebSocket
// client frames): it must be present, valid UTF-8, have no field the
// target does not know, and nothing may follow it.
package strictjson

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// Errors of Decode besides the JSON decoder's own.
var (
	// ErrEmpty is returned for input that is empty or only white space.
	ErrEmpty = errors.New("strictjson: no JSON value")
	// ErrNotUTF8 is returned for input that is not valid UTF-8.
	ErrNotUTF8 = errors.New("strictjson: not valid UTF-8")
	// ErrTrailing is returned when data follows the JSON value.
	ErrTrailing = errors.New("strictjson: data after the JSON value")
)

// Decode decodes the one JSON value of b into v. Besides ErrEmpty,
// ErrNotUTF8 and ErrTrailing it returns the JSON decoder's error as it is
// (github.com/goccy/go-json, which the gateway uses throughout).
func Decode(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return ErrEmpty
	}
	if !utf8.Valid(b) {
		return ErrNotUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailing
	}
	return nil
}
