package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// SignatureHeader is the header Meta signs webhook deliveries with.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// VerifySignature reports whether header, the value of X-Hub-Signature-256
// ("sha256=" and 64 hex digits), is the HMAC-SHA256 of body under one of
// secrets. body must be the request body exactly as received: Meta signs
// its own bytes, with non-ASCII characters escaped as \uXXXX, so hashing a
// re-serialised payload fails on accented text and emoji.
//
// Each secret is tried in turn, so an app secret can be rotated (or several
// apps can post to one route) without dropping deliveries. Empty secrets
// are skipped: an unset secret must never make every request valid. The
// digest is compared in constant time; hex digits may be in either case. A
// missing or malformed header is false.
func VerifySignature(body []byte, header string, secrets ...[]byte) bool {
	header = strings.TrimSpace(header)
	if len(header) != len(signaturePrefix)+2*sha256.Size || !strings.HasPrefix(header, signaturePrefix) {
		return false
	}
	got, err := hex.DecodeString(header[len(signaturePrefix):])
	if err != nil {
		return false
	}
	ok := false
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		// No early exit: the time taken does not say which secret matched.
		if hmac.Equal(got, mac.Sum(nil)) {
			ok = true
		}
	}
	return ok
}

// Sign returns the X-Hub-Signature-256 value Meta would send for body under
// secret: "sha256=" and the lowercase hex HMAC-SHA256. Tests and the load
// generator use it to sign the payloads they post.
func Sign(body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// AccountIDs lists the distinct channel accounts a parsed delivery
// addresses (WhatsApp phone_number_id, Messenger page id, Instagram
// account id) in its messages, statuses and watermarks, sorted. A
// delivery signed with an account's own app secret must be signed for
// every one of them.
func (b Batch) AccountIDs() []string {
	var ids []string
	add := func(id string) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, m := range b.Messages {
		add(m.AccountID)
	}
	for _, st := range b.Statuses {
		add(st.AccountID)
	}
	for _, w := range b.Watermarks {
		add(w.AccountID)
	}
	slices.Sort(ids)
	return ids
}
