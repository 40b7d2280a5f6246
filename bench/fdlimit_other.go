//go:build !unix

package bench

import "math"

// RaiseFDLimit has nothing to raise where there is no open-file limit
// (Windows): it reports none.
func RaiseFDLimit() (uint64, error) { return math.MaxUint64, nil }
