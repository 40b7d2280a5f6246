package persistence

import (
	"errors"
	"fmt"
	"github.com/goccy/go-json"
)

// recordVersion is the first byte of every stored record. A reader that
// meets a version it does not know reports corruption rather than
// guessing.
const recordVersion byte = 1

// ErrCorrupt marks a stored record that cannot be decoded. Callers test for
// it with IsCorruption and may quarantine the record's conversation
// instead of failing everything.
var ErrCorrupt = errors.New("persistence: corrupt record")

// IsCorruption reports whether err comes from a record that could not be
// decoded.
func IsCorruption(err error) bool { return errors.Is(err, ErrCorrupt) }

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("persistence: encoding %T: %w", v, err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, recordVersion)
	return append(out, b...), nil
}

func decode(b []byte, v any) error {
	if len(b) == 0 || b[0] != recordVersion {
		return fmt.Errorf("%w: %T with unknown version", ErrCorrupt, v)
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrCorrupt, v, err)
	}
	return nil
}
