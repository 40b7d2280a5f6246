package meta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/parleyhq/parley/engine"
)

// Fields asked for by CheckAccount: the cheapest read of the account's
// own node that the token must be allowed to make.
const (
	whatsAppCheckFields  = "id,display_phone_number,verified_name"
	messengerCheckFields = "id,name"
	instagramCheckFields = "id,username"
)

// CheckAccount proves that token still works for the account accountID
// of channel ch with one cheap read of the account's own node: WhatsApp
// GET /{phone-number-id}?fields=id,display_phone_number,verified_name and
// Messenger GET /{page-id}?fields=id,name on the Graph host, Instagram GET
// /{ig-id}?fields=id,username on the Instagram Login host. It returns nil
// when Meta answers with the node, and errors as the send methods do
// otherwise (a 2xx without an id wraps ErrBadResponse); HealthOf reads
// them.
func (c *Client) CheckAccount(ctx context.Context, ch engine.Channel, accountID, token string) error {
	if accountID == "" {
		return errors.New("meta: check account: empty account id")
	}
	var u string
	switch ch {
	case engine.ChannelWhatsApp:
		u = c.graphURL(accountID, "") + "?fields=" + whatsAppCheckFields
	case engine.ChannelMessenger:
		u = c.graphURL(accountID, "") + "?fields=" + messengerCheckFields
	case engine.ChannelInstagram:
		u = c.urlFor(c.cfg.InstagramBaseURL, accountID, "") + "?fields=" + instagramCheckFields
	default:
		return fmt.Errorf("meta: no account check on %q", ch)
	}
	var resp struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, "check "+string(ch)+" account", http.MethodGet, u, token, "", nil, &resp); err != nil {
		return err
	}
	if resp.ID == "" {
		return fmt.Errorf("%w: check %s account: no id", ErrBadResponse, ch)
	}
	return nil
}

// Graph codes that say the credentials are no longer accepted: 190
// (access token expired, revoked or invalid, whatever its subcode: 458
// app not installed, 459 checkpointed, 460 password changed, 463
// expired, 464 unconfirmed user, 467 invalid token, 492 invalid
// session) and 102 (API session invalid). The account needs a new token:
// health "expired".
var expiredCodes = map[int]string{
	190: "Access token expired or invalid",
	102: "API session invalid",
}

// Graph codes of rate limits: the account is fine, Meta is not answering
// it for a while (health "unreachable").
var rateLimitCodes = map[int]bool{4: true, 17: true, 32: true, 613: true, 80002: true, 80006: true, 80007: true, 130429: true}

// HealthOf turns the outcome of CheckAccount into the account's health
// (docs/ARCHITECTURE.md, "Channel health"):
//
//   - nil: connected;
//   - Graph codes 190 (any subcode) and 102: expired: the token must be
//     replaced;
//   - transport errors, timeouts, HTTP 5xx, 408 and 429, rate limit codes
//     (4, 17, 32, 613, 80002, 80006, 80007, 130429) and the temporary
//     codes of Classify's table (1, 2, ...): unreachable;
//   - anything else, among them the permission codes 10 and 200-299 (the
//     token is valid but lacks a permission: grant it and reconnect), 100
//     (no such account id for this token), 368 and 131031 (account
//     blocked or locked) and an unexpected answer: error.
//
// The reason is Classify's, the code the Graph code ("190") or
// Classify's code ("network", "timeout", "http_502").
func HealthOf(err error) engine.HealthResult {
	if err == nil {
		return engine.HealthResult{State: engine.HealthConnected}
	}
	se := Classify(err)
	r := engine.HealthResult{Reason: se.Reason, Code: se.Code}
	var ge *GraphError
	switch {
	case errors.As(err, &ge) && !ge.NoCode && expiredCodes[ge.Code] != "":
		r.State = engine.HealthExpired
		if _, known := graphCodes[ge.Code]; !known {
			r.Reason = truncateReason(expiredCodes[ge.Code] + " (" + cleanGraphMessage(ge.Message) + ")")
		}
	case ge != nil && ((!ge.NoCode && rateLimitCodes[ge.Code]) || ge.HTTPStatus == http.StatusTooManyRequests):
		r.State = engine.HealthUnreachable
	case se.Temporary && !errors.Is(err, ErrMediaChecksum):
		r.State = engine.HealthUnreachable
	default:
		r.State = engine.HealthError
	}
	if ge != nil && !ge.NoCode {
		r.Code = strconv.Itoa(ge.Code)
	}
	return r
}

// SendHealth reads what a failed or successful send says of its
// account, when it says anything: a success means connected; a Graph
// 190 or 102 means expired at once, and 131031 (business account locked)
// and 368 (blocked for policy violations) an error. Other send errors
// concern one message or recipient (a closed window, an unknown user) or
// may pass (a network error): ok is false, and a check decides.
func SendHealth(err error) (r engine.HealthResult, ok bool) {
	if err == nil {
		return engine.HealthResult{State: engine.HealthConnected}, true
	}
	var ge *GraphError
	if !errors.As(err, &ge) || ge.NoCode {
		return r, false
	}
	switch ge.Code {
	case 190, 102, 131031, 368:
		return HealthOf(err), true
	}
	return r, false
}
