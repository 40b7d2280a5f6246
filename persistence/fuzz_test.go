package persistence

import (
	"bytes"
	"cmp"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
)

// fuzzRecords are real encodings to seed the decoders' corpus with.
func fuzzRecords(f *testing.F) [][]byte {
	f.Helper()
	ws := idOf('w', 1)
	c := newConv(ws, 1, at(time.Minute))
	c.Tags = []string{"vip", "a\x00b"}
	c.AssigneeID = "u1"
	c.AIResumesAt = at(time.Hour).In(time.FixedZone("X", -3*3600))
	c.FollowUpAt = at(2 * time.Hour)
	m := newMsg(&c, 3, "wamid.3")
	m.Media = &engine.Media{Ref: "r", MimeType: "image/png", Size: 10}
	m.Location = &engine.Location{Latitude: -23.5, Longitude: -46.6}
	m.Contacts = []byte(`[{"name":{"formatted_name":"A"}}]`)
	m.Status = engine.StatusDelivered
	m.StatusAt = at(time.Second)
	ct := engine.Contact{ID: c.ContactID, WorkspaceID: ws, Source: engine.SourceChat,
		Identities:   []engine.Identity{{Channel: engine.ChannelWhatsApp, ExternalID: "5511"}},
		CustomFields: map[string]string{"k": "v"}, CreatedAt: t0}
	var out [][]byte
	for _, v := range []any{&c, &m, &ct} {
		b, err := encode(v)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecode feeds arbitrary bytes, as a stored record, to the decoder of
// each record type. It must never panic; it must either succeed or report
// corruption; and what it accepts must survive being written back.
func FuzzDecode(f *testing.F) {
	for _, rec := range fuzzRecords(f) {
		f.Add(rec)
		f.Add(rec[:len(rec)/2])              // torn
		f.Add(rec[:1])                       // version only
		f.Add(append([]byte{3}, rec[1:]...)) // unknown version
		f.Add(rec[1:])                       // no version
	}
	f.Add([]byte{})
	f.Add([]byte{recordVersion, 'n', 'u', 'l', 'l'})
	f.Add([]byte{recordVersion, '{', '}'})
	f.Add([]byte{recordVersion, '{', '"', 'i', 'd', '"', ':', '"', 'x', '"', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecodeAs[engine.Conversation](t, data)
		fuzzDecodeAs[engine.Message](t, data)
		fuzzDecodeAs[engine.Contact](t, data)
		fuzzDecodeAs[engine.StatusReport](t, data)
	})
}

func fuzzDecodeAs[T any](t *testing.T, data []byte) {
	var v T
	err := decode(data, &v)
	if err != nil {
		if !IsCorruption(err) {
			t.Fatalf("decode %T: error is not marked as corruption: %v", v, err)
		}
		return
	}
	if len(data) == 0 || data[0] != recordVersion && data[0] != binaryVersion {
		t.Fatalf("decode %T accepted a record without the version byte: %x", v, data)
	}
	// What decodes can be written back, and reads back the same.
	enc, err := encode(&v)
	if err != nil {
		t.Fatalf("decode %T accepted %q, which cannot be encoded again: %v", v, data, err)
	}
	var v2 T
	if err := decode(enc, &v2); err != nil {
		t.Fatalf("decode %T of its own encoding %q: %v", v, enc, err)
	}
	enc2, err := encode(&v2)
	if err != nil {
		t.Fatalf("encode %T: %v", v2, err)
	}
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("%T does not round-trip:\n%s\n%s", v, enc, enc2)
	}
}

// FuzzAppendString checks that encoded strings sort like the strings, that
// no encoding is a prefix of another's, that they decode back, and that
// two-string keys sort like the pairs.
func FuzzAppendString(f *testing.F) {
	for _, s := range [][4]string{
		{"", "", "", ""},
		{"ab", "abc", "", ""},
		{"a\x00", "a", "b", "\x00"},
		{"\x00\x01", "\x00", "\xff", "\x00\xff"},
		{"tag:vip", "tag:vi", "p", ""},
		{"wamid.1", "wamid.10", "x", "x"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		checkAppendStringPair(t, a, b)
		kac := appendString(appendString(nil, a), c)
		kbd := appendString(appendString(nil, b), d)
		want := cmp.Or(strings.Compare(a, b), strings.Compare(c, d))
		if got := bytes.Compare(kac, kbd); got != want {
			t.Fatalf("(%q,%q) vs (%q,%q): keys compare %d, pairs %d", a, c, b, d, got, want)
		}
		if (a != b || c != d) && bytes.Equal(kac, kbd) {
			t.Fatalf("(%q,%q) and (%q,%q) collide", a, c, b, d)
		}
	})
}
