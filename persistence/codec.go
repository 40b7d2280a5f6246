package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/goccy/go-json"
	"github.com/parleyhq/parley/engine"
)

// The first byte of every stored record is its version. A reader that
// meets a version it does not know reports corruption rather than
// guessing.
const (
	// recordVersion (1): the rest of the record is JSON. Every record
	// type but the two below is written so.
	recordVersion byte = 1
	// binaryVersion (2): a byte naming the record type (below), then the
	// binary format of codec_wire.go. Conversation headers and messages,
	// rewritten or written on every inbound message, are written so;
	// their version 1 records still read.
	binaryVersion byte = 2
	// sourcedVersion (3): an outgoing webhook delivery with its Source
	// (engine.WebhookSource): the delivery's JSON, the event type, then
	// the message and the headers after and before as binary records,
	// each after its length (see encodeSourcedDelivery).
	sourcedVersion byte = 3
)

// The record types of binary records.
const (
	binaryConversation byte = 'c'
	binaryMessage      byte = 'm'
)

// ErrCorrupt marks a stored record that cannot be decoded. Point reads
// return it (callers test for it with IsCorruption); list and messages
// pages skip such a record and quarantine it instead (quarantine.go).
var ErrCorrupt = errors.New("persistence: corrupt record")

// IsCorruption reports whether err comes from a record that could not be
// decoded.
func IsCorruption(err error) bool { return errors.Is(err, ErrCorrupt) }

// encode returns the stored form of v: the binary format for a
// conversation header or a message, JSON for anything else.
func encode(v any) ([]byte, error) {
	var b []byte
	var err error
	switch r := v.(type) {
	case *engine.Conversation:
		b, err = appendConversation(binaryRecord(binaryConversation), r)
	case engine.Conversation:
		b, err = appendConversation(binaryRecord(binaryConversation), &r)
	case *engine.Message:
		b, err = appendMessage(binaryRecord(binaryMessage), r)
	case engine.Message:
		b, err = appendMessage(binaryRecord(binaryMessage), &r)
	case *engine.WebhookDelivery:
		if r.Source == nil {
			return encodeJSON(v)
		}
		return encodeSourcedDelivery(r)
	default:
		return encodeJSON(v)
	}
	if err != nil {
		return nil, fmt.Errorf("persistence: encoding %T: %w", v, err)
	}
	return b, nil
}

func binaryRecord(typ byte) []byte { return append(make([]byte, 0, 256), binaryVersion, typ) }

// encodeJSON returns v as a version 1 (JSON) record.
func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("persistence: encoding %T: %w", v, err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, recordVersion)
	return append(out, b...), nil
}

// decode reads a stored record of either version into v. A binary record
// only decodes into the type it holds.
func decode(b []byte, v any) error {
	if len(b) > 0 && b[0] == sourcedVersion {
		d, ok := v.(*engine.WebhookDelivery)
		if !ok {
			return fmt.Errorf("%w: %T from a webhook delivery record", ErrCorrupt, v)
		}
		return decodeSourcedDelivery(b, d, true)
	}
	if len(b) > 0 && b[0] == binaryVersion {
		return decodeBinary(b, v, allFields)
	}
	if len(b) == 0 || b[0] != recordVersion {
		return fmt.Errorf("%w: %T with unknown version", ErrCorrupt, v)
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrCorrupt, v, err)
	}
	return nil
}

// decodeBinary decodes the fields named by mask of a binary record into
// v, a *engine.Conversation or *engine.Message.
func decodeBinary(b []byte, v any, mask uint64) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: %T: binary record without a type", ErrCorrupt, v)
	}
	d := wdec{b: b[2:]}
	if mask == allFields {
		d.s = string(d.b) // one allocation for every string of the record
	}
	switch r := v.(type) {
	case *engine.Conversation:
		if b[1] != binaryConversation {
			return fmt.Errorf("%w: %T from a binary record of type %q", ErrCorrupt, v, b[1])
		}
		readConversation(&d, r, mask)
	case *engine.Message:
		if b[1] != binaryMessage {
			return fmt.Errorf("%w: %T from a binary record of type %q", ErrCorrupt, v, b[1])
		}
		readMessage(&d, r, mask)
	default:
		return fmt.Errorf("%w: %T from a binary record", ErrCorrupt, v)
	}
	if d.err != nil {
		return fmt.Errorf("%w: %T: %v at byte %d", ErrCorrupt, v, d.err, d.pos+2)
	}
	return nil
}

// decodePart reads some fields of a stored header or message: from a
// binary record, those in mask into full (the rest stay zero); from a
// JSON record, into slim, a struct with just those fields' JSON names
// (cheaper than the whole record). It reports which of the two it
// filled.
func decodePart(b []byte, full any, mask uint64, slim any) (binary bool, err error) {
	if len(b) > 0 && b[0] == binaryVersion {
		return true, decodeBinary(b, full, mask)
	}
	return false, decode(b, slim)
}

// encodeSourcedDelivery writes a delivery whose body is made at send
// time: sourcedVersion, the length and JSON of the delivery (without its
// Source), the length and name of the event type, then the message, the
// header and the header before, each as its length (0: none) and its
// binary record. Binary records cost the ingest path a fraction of the
// body's JSON.
func encodeSourcedDelivery(d *engine.WebhookDelivery) ([]byte, error) {
	j, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("persistence: encoding a webhook delivery: %w", err)
	}
	src := d.Source
	out := make([]byte, 0, len(j)+1024)
	out = append(out, sourcedVersion)
	out = binary.AppendUvarint(out, uint64(len(j)))
	out = append(out, j...)
	out = binary.AppendUvarint(out, uint64(len(src.Type)))
	out = append(out, src.Type...)
	for _, r := range []any{src.Message, src.Conversation, src.Before} {
		var rec []byte
		switch r := r.(type) {
		case *engine.Message:
			if r != nil {
				rec, err = appendMessage(binaryRecord(binaryMessage), r)
			}
		case *engine.Conversation:
			if r != nil {
				rec, err = appendConversation(binaryRecord(binaryConversation), r)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("persistence: encoding a webhook delivery's source: %w", err)
		}
		out = binary.AppendUvarint(out, uint64(len(rec)))
		out = append(out, rec...)
	}
	return out, nil
}

// decodeSourcedDelivery reads what encodeSourcedDelivery wrote, its
// source only when withSource.
func decodeSourcedDelivery(b []byte, d *engine.WebhookDelivery, withSource bool) error {
	b = b[1:]
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: webhook delivery: bad length", ErrCorrupt)
		}
		part := b[k : k+int(n)]
		b = b[k+int(n):]
		return part, nil
	}
	j, err := next()
	if err != nil {
		return err
	}
	*d = engine.WebhookDelivery{}
	if err := json.Unmarshal(j, d); err != nil {
		return fmt.Errorf("%w: webhook delivery: %v", ErrCorrupt, err)
	}
	if !withSource {
		return nil
	}
	typ, err := next()
	if err != nil {
		return err
	}
	src := &engine.WebhookSource{Type: engine.EventType(typ)}
	for i := range 3 {
		rec, err := next()
		if err != nil {
			return err
		}
		if len(rec) == 0 {
			continue
		}
		if i == 0 {
			src.Message = &engine.Message{}
			err = decode(rec, src.Message)
		} else {
			c := &engine.Conversation{}
			err = decode(rec, c)
			if i == 1 {
				src.Conversation = c
			} else {
				src.Before = c
			}
		}
		if err != nil {
			return err
		}
	}
	d.Source = src
	return nil
}
