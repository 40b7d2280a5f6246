package persistence

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// filler sets every exported field of a value, recursively, to a
// non-zero value that differs from field to field, so that a codec that
// drops, swaps or truncates a field fails the round trip. A field of a
// kind it does not know fails the test: teach it, and the codec, the new
// kind.
type filler struct {
	t *testing.T
	n int
}

var timeType = reflect.TypeFor[time.Time]()

func (f *filler) fill(v reflect.Value, path string) {
	f.n++
	n := f.n
	if v.Type() == timeType {
		// Nanoseconds, and a year past what int64 Unix nanoseconds hold
		// for one field in three.
		year := 2025
		if n%3 == 0 {
			year = 2400
		}
		v.Set(reflect.ValueOf(time.Date(year, time.Month(1+n%12), 1+n%28, n%24, n%60, n%60, 1000*n+7, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(strings.Repeat("x", n%3) + path + "é")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(-n * 1000003)) // negative: zigzag
	case reflect.Uint64:
		v.SetUint(uint64(n) << 40) //nolint:gosec // small
	case reflect.Float64:
		v.SetFloat(-float64(n) - 0.25)
	case reflect.Array: // engine.ID
		for i := range v.Len() {
			f.fill(v.Index(i), path)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 3, 3)
		for i := range 3 {
			f.fill(s.Index(i), path)
		}
		v.Set(s)
	case reflect.Uint8:
		v.SetUint(uint64(n%255) + 1) //nolint:gosec // small
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() || sf.Tag.Get("json") == "-" { // never stored
				continue
			}
			f.fill(v.Field(i), path+"."+sf.Name)
		}
	default:
		f.t.Fatalf("filler: %s has kind %s: teach the filler and the codec", path, v.Kind())
	}
}

// requireAllSet fails if any stored field of v is zero.
func requireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if v.Kind() == reflect.Struct && v.Type() != timeType {
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if sf.IsExported() && sf.Tag.Get("json") != "-" {
				requireAllSet(t, v.Field(i), path+"."+sf.Name)
			}
		}
		return
	}
	require.False(t, v.IsZero(), "%s is zero", path)
	if v.Kind() == reflect.Pointer {
		requireAllSet(t, v.Elem(), path)
	}
}

func fullConversation(t *testing.T) engine.Conversation {
	var c engine.Conversation
	(&filler{t: t}).fill(reflect.ValueOf(&c).Elem(), "Conversation")
	requireAllSet(t, reflect.ValueOf(c), "Conversation")
	return c
}

func fullMessage(t *testing.T) engine.Message {
	var m engine.Message
	(&filler{t: t}).fill(reflect.ValueOf(&m).Elem(), "Message")
	requireAllSet(t, reflect.ValueOf(m), "Message")
	return m
}

// roundTrip encodes v, checks the record is binary, and decodes it into
// a new T.
func roundTrip[T any](t *testing.T, v *T) T {
	t.Helper()
	b, err := encode(v)
	require.NoError(t, err)
	require.Equal(t, binaryVersion, b[0])
	byValue, err := encode(*v)
	require.NoError(t, err)
	require.Equal(t, b, byValue, "encoding by value and by pointer differ")
	var got T
	require.NoError(t, decode(b, &got))
	return got
}

// TestBinaryRoundTrip: every stored field of a conversation header and a
// message (and of what they hold) survives the binary record, and so do
// zero values.
func TestBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	c := fullConversation(t)
	require.Equal(t, c, roundTrip(t, &c))
	m := fullMessage(t)
	require.Equal(t, m, roundTrip(t, &m))

	var zc engine.Conversation
	require.Equal(t, zc, roundTrip(t, &zc))
	var zm engine.Message
	require.Equal(t, zm, roundTrip(t, &zm))
	require.Len(t, mustEncode(t, &zc), 2, "a zero header is its version and type")

	// Non-nil but empty nested values stay non-nil; empty slices read as
	// nil, as from JSON.
	m = engine.Message{Content: engine.Content{Media: &engine.Media{}, Location: &engine.Location{},
		Interactive: &engine.Interactive{}, Reaction: &engine.Reaction{}, Contacts: []byte{}}}
	got := roundTrip(t, &m)
	m.Contacts = nil
	require.Equal(t, m, got)
	c = engine.Conversation{Tags: []string{"", "vip", ""}}
	require.Equal(t, c, roundTrip(t, &c))
}

// TestBinaryEnums: every known value of the enum fields, and a value the
// tables do not know, round-trips; known values are stored as codes.
func TestBinaryEnums(t *testing.T) {
	t.Parallel()
	for _, ch := range append(engine.Channels, "telegram") {
		c := engine.Conversation{Channel: ch}
		require.Equal(t, c, roundTrip(t, &c))
	}
	for _, f := range append(engine.Folders, "later") {
		for _, mode := range []engine.Mode{engine.ModeAI, engine.ModeManual, "x"} {
			for _, st := range []engine.DeliveryStatus{engine.StatusSending, engine.StatusSent, engine.StatusDelivered,
				engine.StatusRead, engine.StatusFailed, "queued"} {
				c := engine.Conversation{Folder: f, Mode: mode, LastOutboundStatus: st}
				require.Equal(t, c, roundTrip(t, &c))
				m := engine.Message{Status: st}
				require.Equal(t, m, roundTrip(t, &m))
			}
		}
	}
	for _, k := range append(engine.MessageKinds, "poll") {
		for _, dir := range []engine.Direction{engine.DirIn, engine.DirOut, "sideways"} {
			for _, sk := range []engine.SenderKind{engine.SenderCustomer, engine.SenderAI, engine.SenderHuman, engine.SenderSystem, "bot"} {
				m := engine.Message{Content: engine.Content{Kind: k}, Direction: dir, Sender: engine.Sender{Kind: sk}}
				require.Equal(t, m, roundTrip(t, &m))
			}
		}
	}
	// The tables match the engine's lists: a new channel, folder or kind
	// should get a code (append it to the table).
	for _, ch := range engine.Channels {
		require.Contains(t, channelCodes, string(ch))
	}
	for _, f := range engine.Folders {
		require.Contains(t, folderCodes, string(f))
	}
	for _, k := range engine.MessageKinds {
		require.Contains(t, kindCodes, string(k))
	}
	c := engine.Conversation{Channel: engine.ChannelWhatsApp, Folder: engine.FolderOpen, Mode: engine.ModeAI}
	require.Len(t, mustEncode(t, &c), 2+3*2)
}

// TestBinaryTimes: a time keeps its instant and its zone offset, reading
// back as a time parsed from RFC 3339 would (UTC for offset zero, Local
// when Local had that offset, else a fixed zone); times JSON could not
// store are refused.
func TestBinaryTimes(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 3, 1, 12, 0, 0, 999999999, time.UTC)
	for _, tm := range []time.Time{
		base, base.In(time.FixedZone("BRT", -3*3600)), base.In(time.FixedZone("", 5*3600+1800)),
		base.Local(), time.Now(), // Local, with a monotonic reading
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC),
	} {
		m := engine.Message{CreatedAt: tm}
		got := roundTrip(t, &m).CreatedAt
		require.True(t, tm.Equal(got), "%v read back as %v", tm, got)
		_, wantOff := tm.Zone()
		_, gotOff := got.Zone()
		require.Equal(t, wantOff, gotOff, "%v", tm)

		// As JSON would have it.
		var fromJSON engine.Message
		require.NoError(t, decode(mustJSON(t, &m), &fromJSON))
		require.Equal(t, fromJSON.CreatedAt, got, "binary and JSON read %v differently", tm)
	}
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC).In(time.FixedZone("", 3600)),
	} {
		_, err := encode(&engine.Conversation{CreatedAt: tm})
		require.Error(t, err, "%v", tm)
		_, err = encodeJSON(&engine.Conversation{CreatedAt: tm})
		require.Error(t, err, "JSON stores %v", tm)
	}
}

// mustJSON returns v as a JSON (version 1) record, as earlier releases
// wrote it.
func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	return noErr[[]byte](tb)(encodeJSON(v))
}

// noErr returns a function that fails tb on a non-nil error and returns
// the value.
func noErr[T any](tb testing.TB) func(T, error) T {
	return func(v T, err error) T {
		tb.Helper()
		require.NoError(tb, err)
		return v
	}
}

// TestJSONRecordsStillRead: records written as JSON (version 1) by
// earlier releases read as before, by the full and the partial readers.
func TestJSONRecordsStillRead(t *testing.T) {
	t.Parallel()
	c := fullConversation(t)
	m := fullMessage(t)
	var gotC engine.Conversation
	require.NoError(t, decode(mustJSON(t, &c), &gotC))
	require.Equal(t, c, gotC)
	var gotM engine.Message
	require.NoError(t, decode(mustJSON(t, &m), &gotM))
	require.Equal(t, m, gotM)

	// Through the store, in either version.
	s := openStore(t)
	ws := idOf('w', 1)
	commit(t, s, func(b *Batch) { b.PutWorkspace(&engine.Workspace{ID: ws, Name: "w"}) })
	c = newConv(ws, 1, t0)
	c.ContactName = "Ana"
	c.LastSeq = 2
	m1, m2 := newMsg(&c, 1, "wamid.1"), newMsg(&c, 2, "")
	want := engine.Conversation{ID: c.ID, WorkspaceID: ws, Channel: c.Channel, ContactID: c.ContactID,
		ContactName: c.ContactName, ExternalUserID: c.ExternalUserID, LastActivityAt: c.LastActivityAt, LastSeq: c.LastSeq}
	for _, enc := range []func(testing.TB, any) []byte{mustJSON, mustEncode} {
		db := s.DB()
		require.NoError(t, db.Set(conversationKey(ws, c.ID), enc(t, &c), nil))
		require.NoError(t, db.Set(messageKey(ws, c.ID, 1), enc(t, &m1), nil))
		require.NoError(t, db.Set(messageKey(ws, c.ID, 2), enc(t, &m2), nil))
		got, err := s.Conversation(ws, c.ID)
		require.NoError(t, err)
		require.Equal(t, c, got)
		msgs, err := s.Messages(ws, c.ID, 0, 10)
		require.NoError(t, err)
		require.Equal(t, []engine.Message{m2, m1}, msgs)
		h, err := s.searchHeader(ws, c.ID)
		require.NoError(t, err)
		require.Equal(t, want, h)
		chIDs, err := s.ChannelMessageIDs(ws, c.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"wamid.1"}, chIDs)

		require.NoError(t, s.ForgetContactConversations(ws, c.ContactID))
		require.NoError(t, s.backfillContactConversations(quietProgress()))
		convs, err := s.ContactConversations(ws, c.ContactID)
		require.NoError(t, err)
		require.Equal(t, []engine.ID{c.ID}, convs)
	}
}

// TestBinarySkipsUnknownFields: fields a newer release may add (any wire
// type, any number this release does not use) are skipped, at the top
// level and inside nested values.
func TestBinarySkipsUnknownFields(t *testing.T) {
	t.Parallel()
	unknown := func(n uint64) []byte {
		var b []byte
		b = binary.AppendUvarint(b, n<<2|wireVarint)
		b = binary.AppendUvarint(b, 300)
		b = binary.AppendUvarint(b, (n+1)<<2|wireFixed64)
		b = append(b, 1, 2, 3, 4, 5, 6, 7, 8)
		b = binary.AppendUvarint(b, (n+2)<<2|wireBytes)
		b = append(b, 2, 'h', 'i')
		b = binary.AppendUvarint(b, (n+3)<<2|wireID)
		return append(b, make([]byte, 16)...)
	}
	c := fullConversation(t)
	b := append(mustEncode(t, &c), unknown(60)...)
	b = append(b, unknown(1000)...)
	var gotC engine.Conversation
	require.NoError(t, decode(b, &gotC))
	require.Equal(t, c, gotC)

	m := engine.Message{Seq: 7, Content: engine.Content{Media: &engine.Media{Ref: "r"}}}
	e := wenc{b: []byte{binaryVersion, binaryMessage}}
	e.uint(mfSeq, 7)
	e.nested(mfMedia, func(e *wenc) {
		e.b = append(e.b, unknown(20)...)
		e.str(mediaRef, "r")
	})
	e.b = append(e.b, unknown(40)...)
	var gotM engine.Message
	require.NoError(t, decode(e.b, &gotM))
	require.Equal(t, m, gotM)
}

// TestBinaryNestedLongValues: a nested value longer than 127 bytes gets
// a longer length prefix.
func TestBinaryNestedLongValues(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 120, 125, 126, 127, 128, 300, 20000, 3 << 20} {
		m := engine.Message{Seq: 1, Content: engine.Content{Media: &engine.Media{Caption: strings.Repeat("c", n)},
			Reaction: &engine.Reaction{Emoji: "x"}}, Reasoning: "after"}
		require.Equal(t, m, roundTrip(t, &m), "caption of %d", n)
	}
}

// TestBinaryCorruption: a malformed binary record is reported as
// corruption, never a panic or a wrong value.
func TestBinaryCorruption(t *testing.T) {
	t.Parallel()
	rec := func(typ byte, fields ...[]byte) []byte {
		return append([]byte{binaryVersion, typ}, bytes.Join(fields, nil)...)
	}
	key := func(n, wire uint64) []byte { return binary.AppendUvarint(nil, n<<2|wire) }
	varint := func(n, v uint64) []byte { return binary.AppendUvarint(key(n, wireVarint), v) }
	timeField := func(n uint64, sec int64, nsec uint64, extra ...byte) []byte {
		v := binary.AppendUvarint(binary.AppendVarint(nil, sec), nsec)
		v = append(v, extra...)
		return append(binary.AppendUvarint(key(n, wireBytes), uint64(len(v))), v...)
	}
	nan := binary.LittleEndian.AppendUint64(key(locLatitude, wireFixed64), math.Float64bits(math.NaN()))
	inf := binary.LittleEndian.AppendUint64(key(locLongitude, wireFixed64), math.Float64bits(math.Inf(-1)))
	nested := func(n uint64, body []byte) []byte {
		return append(binary.AppendUvarint(key(n, wireBytes), uint64(len(body))), body...)
	}
	c, m := binaryConversation, binaryMessage
	layout := map[string]bool{"field zero": true, "torn key": true, "overlong varint": true, "torn varint": true,
		"torn id": true, "length past end": true, "huge length": true, "nested past end": true}
	for name, b := range map[string][]byte{
		"no type":             {binaryVersion},
		"unknown type":        rec('x'),
		"field zero":          rec(c, varint(0, 1)),
		"torn key":            rec(c, []byte{0x80}),
		"overlong varint":     rec(c, key(cfLastSeq, wireVarint), bytes.Repeat([]byte{0xff}, 11)),
		"torn varint":         rec(c, key(cfLastSeq, wireVarint), []byte{0x81}),
		"torn id":             rec(c, key(cfID, wireID), make([]byte, 15)),
		"length past end":     rec(c, key(cfContactName, wireBytes), []byte{3, 'a', 'b'}),
		"huge length":         rec(c, key(cfContactName, wireBytes), binary.AppendUvarint(nil, math.MaxUint64)),
		"id as varint":        rec(c, varint(cfID, 1)),
		"string as varint":    rec(c, varint(cfContactName, 1)),
		"seq as bytes":        rec(c, key(cfLastSeq, wireBytes), []byte{0}),
		"enum code zero":      rec(c, varint(cfChannel, 0)),
		"enum code too big":   rec(c, varint(cfFolder, uint64(len(folderCodes)+1))),
		"enum as id":          rec(m, key(mfKind, wireID), make([]byte, 16)),
		"bool 2":              rec(c, varint(cfBlocked, 2)),
		"time as varint":      rec(c, varint(cfCreatedAt, 5)),
		"time nanos 1e9":      rec(c, timeField(cfCreatedAt, 1, 2e9)),
		"time trailing bytes": rec(c, timeField(cfCreatedAt, 1, 2, 0)),
		"time torn offset":    rec(c, timeField(cfCreatedAt, 1, 3)),
		"time huge offset":    rec(c, timeField(cfCreatedAt, 1, 3, binary.AppendVarint(nil, 26*3600)...)),
		"time year 10000":     rec(c, timeField(cfCreatedAt, 253402300800, 0)),
		"time year -1":        rec(m, timeField(mfCreatedAt, -62167219201, 0)),
		"empty time":          rec(m, nested(mfSentAt, nil)),
		"nan latitude":        rec(m, nested(mfLocation, nan)),
		"infinite longitude":  rec(m, nested(mfLocation, inf)),
		"nested past end":     rec(m, key(mfMedia, wireBytes), []byte{5, 1}),
		"nested torn inside":  rec(m, nested(mfMedia, key(mediaRef, wireBytes))),
		"nested wrong wire":   rec(m, nested(mfReaction, varint(reactEmoji, 1))),
		"media as varint":     rec(m, varint(mfMedia, 1)),
	} {
		var v any = &engine.Conversation{}
		if len(b) > 1 && b[1] == m {
			v = &engine.Message{}
		}
		err := decode(b, v)
		require.True(t, IsCorruption(err), "%s: %v", name, err)
		if len(b) > 1 && (b[1] == c || b[1] == m) {
			// A partial read checks the layout of what it skips.
			_, err := decodePart(b, v, 0, nil)
			require.True(t, err == nil || IsCorruption(err), "%s, partial: %v", name, err)
			if layout[name] {
				require.True(t, IsCorruption(err), "%s, partial: %v", name, err)
			}
		}
	}

	// Every prefix of a real record either reads (it ends between
	// fields) or is corruption; a binary record never reads as another
	// type.
	full := mustEncode(t, new(fullMessage(t)))
	for i := range full {
		var got engine.Message
		if err := decode(full[:i], &got); err != nil {
			require.True(t, IsCorruption(err), "prefix %d: %v", i, err)
		}
	}
	for _, v := range []any{&engine.Conversation{}, &engine.Contact{}, &engine.StatusReport{}, &struct{ A int }{}} {
		require.True(t, IsCorruption(decode(full, v)), "%T", v)
	}
}

// TestBinaryIsSmaller: the binary records of a typical header and text
// message are well under their JSON (what is left is mostly the text,
// the channel message id and the ids).
func TestBinaryIsSmaller(t *testing.T) {
	t.Parallel()
	c, m := typicalRecords(t)
	for _, v := range []any{&c, &m} {
		bin, js := mustEncode(t, v), mustJSON(t, v)
		t.Logf("%T: %d bytes binary, %d JSON", v, len(bin), len(js))
		require.Less(t, len(bin), len(js)*3/5)
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to the readers of conversation
// headers and messages: they never panic, report corruption or succeed,
// and what they accept is written back as a binary record that reads as
// the same value.
func FuzzDecodeRecord(f *testing.F) {
	c, m := typicalRecords(f)
	ct := newConv(idOf('w', 1), 3, t0)
	ct.Tags = []string{"vip", ""}
	ct.AIResumesAt = at(time.Hour).In(time.FixedZone("X", -3*3600))
	mm := newMsg(&ct, 3, "wamid.3")
	mm.Media = &engine.Media{Ref: "r", MimeType: "image/png", Size: 10, Voice: true}
	mm.Location = &engine.Location{Latitude: -23.5, Longitude: -46.6, Name: "n"}
	mm.Interactive = &engine.Interactive{Type: "button", ID: "b"}
	mm.Reaction = &engine.Reaction{TargetChannelMessageID: "t", Emoji: "👍"}
	mm.Contacts = []byte(`[{}]`)
	for _, v := range []any{&c, &m, &ct, &mm} {
		bin := mustEncode(f, v)
		f.Add(bin)
		f.Add(bin[:len(bin)/2])
		f.Add(mustJSON(f, v))
	}
	f.Add([]byte{binaryVersion, binaryConversation})
	f.Add([]byte{binaryVersion, binaryMessage, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRecordAs[engine.Conversation](t, data)
		fuzzRecordAs[engine.Message](t, data)
	})
}

func fuzzRecordAs[T any](t *testing.T, data []byte) {
	var v T
	if err := decode(data, &v); err != nil {
		if !IsCorruption(err) {
			t.Fatalf("decode %T: error is not marked as corruption: %v", v, err)
		}
		return
	}
	enc, err := encode(&v)
	if err != nil {
		t.Fatalf("decode %T accepted %x, which cannot be encoded again: %v", v, data, err)
	}
	if enc[0] != binaryVersion {
		t.Fatalf("%T written as version %d", v, enc[0])
	}
	var v2 T
	if err := decode(enc, &v2); err != nil {
		t.Fatalf("decode %T of its own encoding %x: %v", v, enc, err)
	}
	if data[0] == binaryVersion {
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("%T does not round-trip:\n%#v\n%#v", v, v, v2)
		}
	} else {
		// From JSON, a time may read in Local with offset zero where the
		// binary record reads it in UTC: compare what JSON would store.
		j1, err1 := json.Marshal(v)
		j2, err2 := json.Marshal(v2)
		if err1 != nil || err2 != nil || !bytes.Equal(j1, j2) {
			t.Fatalf("%T from JSON does not round-trip:\n%s\n%s (%v, %v)", v, j1, j2, err1, err2)
		}
	}
	if enc2, _ := encode(&v2); !bytes.Equal(enc, enc2) {
		t.Fatalf("%T encodes differently after a round trip:\n%x\n%x", v, enc, enc2)
	}
}
