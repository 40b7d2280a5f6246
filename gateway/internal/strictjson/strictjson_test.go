package strictjson

import (
	"errors"
	"testing"
)

func TestDecode(t *testing.T) {
	type frame struct {
		Type string `json:"type"`
	}
	for _, c := range []struct {
		in   string
		want error // nil: decodes; errAny: the decoder's own error
	}{
		{`{"type":"ping"}`, nil},
		{` {"type":"ping"} `, nil},
		{``, ErrEmpty},
		{" \n", ErrEmpty},
		{"{\"type\":\"\xff\"}", ErrNotUTF8},
		{`{"type":"ping"} {}`, ErrTrailing},
		{`{"type":"ping","x":1}`, errAny},
		{`{"type":1}`, errAny},
		{`{"type":`, errAny},
	} {
		var f frame
		err := Decode([]byte(c.in), &f)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.want == errAny && (err == nil || errors.Is(err, ErrEmpty) || errors.Is(err, ErrNotUTF8) || errors.Is(err, ErrTrailing)):
			t.Errorf("%q: got %v, want the decoder's error", c.in, err)
		case c.want != nil && c.want != errAny && !errors.Is(err, c.want):
			t.Errorf("%q: got %v, want %v", c.in, err, c.want)
		}
	}
}

var errAny = errors.New("any decoding error")
