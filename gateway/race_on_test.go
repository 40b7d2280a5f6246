//go:build race

package gateway_test

// raceDetector says the tests run under the race detector, which makes
// every allocation bigger (the heap measurements allow for it).
const raceDetector = true
