package engine

// DeliveryStatus is where an outbound message is on its way to the
// customer. It only moves forward: sending → sent → delivered → read;
// failed is terminal until a retry sets sending again (docs/ARCHITECTURE.md, invariant 3).
type DeliveryStatus string

// Delivery statuses.
const (
	StatusSending   DeliveryStatus = "sending"
	StatusSent      DeliveryStatus = "sent"
	StatusDelivered DeliveryStatus = "delivered"
	StatusRead      DeliveryStatus = "read"
	StatusFailed    DeliveryStatus = "failed"
)

// rank orders the non-failed statuses; failed has no rank.
func (s DeliveryStatus) rank() int {
	switch s {
	case StatusSending:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered:
		return 3
	case StatusRead:
		return 4
	}
	return 0
}

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool { return s == StatusFailed || s.rank() > 0 }

// NextStatus applies a status report to the current status and returns the
// resulting status and whether it changed. Reports arrive out of order and
// repeated, so the rule is idempotent and order-independent:
//   - once failed, nothing but a retry (Retry) moves the message;
//   - a failure report fails any message not yet failed;
//   - otherwise the status moves only to a higher rank (read may skip
//     delivered; a late delivered after read is ignored).
func NextStatus(cur, next DeliveryStatus) (DeliveryStatus, bool) {
	if !next.Valid() || cur == StatusFailed {
		return cur, false
	}
	if next == StatusFailed {
		return StatusFailed, true
	}
	if next.rank() > cur.rank() {
		return next, true
	}
	return cur, false
}
