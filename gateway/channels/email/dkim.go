package email

import (
	"bytes"
	"fmt"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/parleyhq/parley/engine"
)

// dkimHeaders are the headers a DKIM signature covers: those a reader
// sees and those that thread the mail.
var dkimHeaders = []string{"From", "To", "Subject", "Date", "Message-Id", "In-Reply-To", "References", "Mime-Version", "Content-Type"}

// SignDKIM returns the composed mail raw with a DKIM-Signature header
// (RFC 6376, relaxed/relaxed canonicalisation) made with the account's
// key for its domain and selector.
func SignDKIM(raw []byte, d *engine.DKIMSettings) ([]byte, error) {
	signer, err := d.DKIMSigner()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(raw) + 1024)
	err = dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: d.Domain, Selector: d.Selector, Signer: signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed, HeaderKeys: dkimHeaders})
	if err != nil {
		return nil, fmt.Errorf("signing the mail with DKIM: %w", err)
	}
	return out.Bytes(), nil
}
