package persistence

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/parleyhq/parley/engine"
)

// The binary record format (version 2) is a sequence of fields, each a
// uvarint key (field number << 2 | wire type) and a value; only fields
// with a non-zero value are written, in field number order (a reader
// does not depend on the order). The wire type says how long the value
// is, so a reader skips a field whose number it does not know: a record
// written by a newer release still reads, without the fields the older
// release does not know (JSON records behaved the same way; rewriting
// such a record drops them). A field it knows with an unexpected wire
// type is corruption.
//
// Values: integers are uvarints (signed ones zigzag varints); bools are
// the uvarint 1; IDs are their 16 raw bytes; strings and byte slices are
// a uvarint length and the bytes; a nested struct is a length-prefixed
// field sequence; a time is a length-prefixed (varint Unix seconds,
// uvarint nanoseconds << 1 | has-offset, [varint zone offset in seconds])
// and is omitted when zero; a float64 is its 8 IEEE bits, little endian.
// String enums (channel, folder, ...) are written as the uvarint 1 + their
// index in a fixed table, or, for a value the table does not hold, as a
// string: the reader accepts both forms.
const (
	wireVarint  = 0 // uvarint or zigzag varint
	wireFixed64 = 1 // 8 bytes, little endian
	wireBytes   = 2 // uvarint length, then the bytes
	wireID      = 3 // 16 bytes
)

// maxZoneOffset bounds the zone offset of a stored time (time.Parse
// accepts offsets up to ±24:59).
const maxZoneOffset = 25 * 3600

// errWire is the detail of a malformed binary record; decode wraps it
// with ErrCorrupt and the record type.
var (
	errTruncated = errors.New("truncated")
	errVarint    = errors.New("bad varint")
	errWireType  = errors.New("unexpected wire type")
	errValue     = errors.New("value out of range")
)

// errYear refuses a time JSON records could not hold either (RFC 3339
// has four-digit years), so every stored time stays representable in
// both versions.
var errYear = errors.New("time outside years 0-9999")

// wenc appends fields to a record; err is the first value it refused.
type wenc struct {
	b   []byte
	err error
}

func (e *wenc) key(n uint64, wire uint64) { e.b = binary.AppendUvarint(e.b, n<<2|wire) }

func (e *wenc) uint(n uint64, v uint64) {
	if v != 0 {
		e.key(n, wireVarint)
		e.b = binary.AppendUvarint(e.b, v)
	}
}

func (e *wenc) int(n uint64, v int64) {
	if v != 0 {
		e.key(n, wireVarint)
		e.b = binary.AppendVarint(e.b, v)
	}
}

func (e *wenc) bool(n uint64, v bool) {
	if v {
		e.key(n, wireVarint)
		e.b = append(e.b, 1)
	}
}

func (e *wenc) id(n uint64, v engine.ID) {
	if v != engine.ZeroID {
		e.key(n, wireID)
		e.b = append(e.b, v[:]...)
	}
}

// str writes s unless it is empty; rawStr writes it even then (an
// element of a repeated field).
func (e *wenc) str(n uint64, s string) {
	if s != "" {
		e.rawStr(n, s)
	}
}

func (e *wenc) rawStr(n uint64, s string) {
	e.key(n, wireBytes)
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *wenc) bytes(n uint64, v []byte) {
	if len(v) > 0 {
		e.key(n, wireBytes)
		e.b = binary.AppendUvarint(e.b, uint64(len(v)))
		e.b = append(e.b, v...)
	}
}

func (e *wenc) float(n uint64, v float64) {
	if bits := math.Float64bits(v); bits != 0 {
		e.key(n, wireFixed64)
		e.b = binary.LittleEndian.AppendUint64(e.b, bits)
	}
}

// enum writes s as its code in table (index + 1), or as a string when
// the table does not hold it.
func (e *wenc) enum(n uint64, s string, table []string) {
	if s == "" {
		return
	}
	for i, t := range table {
		if t == s {
			e.uint(n, uint64(i+1)) //nolint:gosec // small
			return
		}
	}
	e.rawStr(n, s)
}

func (e *wenc) time(n uint64, t time.Time) {
	if t.IsZero() {
		return
	}
	if !yearInRange(t) {
		e.err = errYear
		return
	}
	var tmp [3 * binary.MaxVarintLen64]byte
	v := binary.AppendVarint(tmp[:0], t.Unix())
	nsec := uint64(t.Nanosecond()) << 1 //nolint:gosec // 0 ≤ ns < 1e9
	_, off := t.Zone()
	if off != 0 {
		nsec |= 1
	}
	v = binary.AppendUvarint(v, nsec)
	if off != 0 {
		v = binary.AppendVarint(v, int64(off))
	}
	e.bytes(n, v)
}

// nested writes a struct as a length-prefixed field sequence (present
// even when every field is zero, so a non-nil pointer stays non-nil).
func (e *wenc) nested(n uint64, fields func(*wenc)) {
	e.key(n, wireBytes)
	at := len(e.b)
	e.b = append(e.b, 0) // the length, if it fits in one byte
	fields(e)
	size := len(e.b) - at - 1
	if size < 0x80 {
		e.b[at] = byte(size)
		return
	}
	var tmp [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(tmp[:], uint64(size))
	e.b = append(e.b, tmp[:l-1]...) // room for the longer length
	copy(e.b[at+l:], e.b[at+1:at+1+size])
	copy(e.b[at:], tmp[:l])
}

// wdec reads the fields of a record. The first error sticks: every read
// after it returns zero values, and next reports no more fields.
type wdec struct {
	b   []byte
	pos int
	// s, when set, is string(b): strings are cut from it instead of
	// allocated one by one.
	s    string
	wire uint64 // the wire type of the field next returned
	err  error
}

// next returns the number of the next field, or false at the end of the
// record or after an error.
func (d *wdec) next() (uint64, bool) {
	if d.err != nil || d.pos >= len(d.b) {
		return 0, false
	}
	k := d.uvarint()
	if d.err != nil {
		return 0, false
	}
	if k>>2 == 0 {
		d.err = errValue // field numbers start at 1
		return 0, false
	}
	d.wire = k & 3
	return k >> 2, true
}

func (d *wdec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *wdec) expect(wire uint64) bool {
	if d.wire != wire {
		d.fail(errWireType)
		return false
	}
	return d.err == nil
}

func (d *wdec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.fail(errVarint)
		d.pos = len(d.b)
		return 0
	}
	d.pos += n
	return v
}

func (d *wdec) varint() int64 {
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		d.fail(errVarint)
		d.pos = len(d.b)
		return 0
	}
	d.pos += n
	return v
}

// span reads a length prefix and returns the bounds of the bytes it
// announces.
func (d *wdec) span() (int, int) {
	l := d.uvarint()
	if d.err != nil {
		return 0, 0
	}
	if l > uint64(len(d.b)-d.pos) {
		d.fail(errTruncated)
		d.pos = len(d.b)
		return 0, 0
	}
	from := d.pos
	d.pos += int(l)
	return from, d.pos
}

// skip passes over the value of a field the reader does not know.
func (d *wdec) skip() {
	switch d.wire {
	case wireVarint:
		d.uvarint()
	case wireFixed64:
		d.fixed(8)
	case wireBytes:
		d.span()
	case wireID:
		d.fixed(16)
	}
}

func (d *wdec) fixed(n int) []byte {
	if len(d.b)-d.pos < n {
		d.fail(errTruncated)
		d.pos = len(d.b)
		return nil
	}
	d.pos += n
	return d.b[d.pos-n : d.pos]
}

func (d *wdec) getUint() uint64 {
	if !d.expect(wireVarint) {
		return 0
	}
	return d.uvarint()
}

func (d *wdec) getInt() int64 {
	if !d.expect(wireVarint) {
		return 0
	}
	return d.varint()
}

func (d *wdec) getBool() bool {
	switch d.getUint() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(errValue)
	return false
}

func (d *wdec) getID() engine.ID {
	var id engine.ID
	if d.expect(wireID) {
		copy(id[:], d.fixed(16))
	}
	return id
}

func (d *wdec) getStr() string {
	if !d.expect(wireBytes) {
		return ""
	}
	from, to := d.span()
	if d.s != "" {
		return d.s[from:to]
	}
	return string(d.b[from:to])
}

// getBytes returns a copy of a byte field (nil when empty).
func (d *wdec) getBytes() []byte {
	if !d.expect(wireBytes) {
		return nil
	}
	from, to := d.span()
	if from == to {
		return nil
	}
	return append([]byte(nil), d.b[from:to]...)
}

// getFloat reads a float64; NaN and infinities, which the JSON records
// could not hold either, are corruption.
func (d *wdec) getFloat() float64 {
	if !d.expect(wireFixed64) {
		return 0
	}
	b := d.fixed(8)
	if b == nil {
		return 0 // truncated: d.err is set
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(b))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.fail(errValue)
		return 0
	}
	return f
}

func (d *wdec) getEnum(table []string) string {
	switch d.wire {
	case wireBytes:
		return d.getStr()
	case wireVarint:
		c := d.uvarint()
		if c == 0 || c > uint64(len(table)) {
			d.fail(errValue)
			return ""
		}
		return table[c-1]
	}
	d.fail(errWireType)
	return ""
}

// getTime reads a time. Like a time parsed from RFC 3339, it is in UTC
// when its offset is zero, in time.Local when Local had that offset at
// that instant, else in a fixed zone with that offset.
func (d *wdec) getTime() time.Time {
	if !d.expect(wireBytes) {
		return time.Time{}
	}
	from, to := d.span()
	sub := wdec{b: d.b[from:to]}
	sec := sub.varint()
	nsec := sub.uvarint()
	var off int64
	if nsec&1 != 0 {
		off = sub.varint()
	}
	nsec >>= 1
	switch {
	case sub.err != nil:
		d.fail(sub.err)
		return time.Time{}
	case sub.pos != len(sub.b), nsec >= 1e9, off > maxZoneOffset, off < -maxZoneOffset:
		d.fail(errValue)
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)) //nolint:gosec // < 1e9
	switch {
	case t.IsZero():
		return time.Time{}
	case off == 0:
		t = t.UTC()
	default:
		if _, local := t.Zone(); int64(local) != off {
			t = t.In(time.FixedZone("", int(off)))
		}
	}
	if !yearInRange(t) {
		d.fail(errValue)
		return time.Time{}
	}
	return t
}

// Unix seconds well inside years 0–9999 in any zone: most times are
// checked with two comparisons.
const (
	safeUnixMin = -62167219200 + 2*86400 // 0000-01-03 UTC
	safeUnixMax = 253402300799 - 2*86400 // 9999-12-29 UTC
)

// yearInRange reports whether t's year, in its own zone, has four digits
// (what JSON's time encoding requires).
func yearInRange(t time.Time) bool {
	if s := t.Unix(); s > safeUnixMin && s < safeUnixMax {
		return true
	}
	y := t.Year()
	return y >= 0 && y <= 9999
}

// getNested reads a nested struct, calling field for each of its fields.
func (d *wdec) getNested(field func(sub *wdec, n uint64)) {
	if !d.expect(wireBytes) {
		return
	}
	from, to := d.span()
	sub := wdec{b: d.b[:to], pos: from, s: d.s}
	for n, ok := sub.next(); ok; n, ok = sub.next() {
		field(&sub, n)
	}
	d.fail(sub.err)
}
