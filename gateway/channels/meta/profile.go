package meta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/goccy/go-json"
	"github.com/parleyhq/parley/engine"
)

// Profile fields asked for, per channel: Messenger's User Profile API
// (GET /{PSID} with the Page access token) and Instagram's User Profile
// API (GET /{IGSID} on the Instagram Login host with the account's token).
const (
	messengerProfileFields = "first_name,last_name,profile_pic"
	instagramProfileFields = "name,username,profile_pic"
)

// maxProfileNameBytes bounds a name taken from a profile: a contact name
// is at most 256 bytes (engine.Inbound.Validate).
const maxProfileNameBytes = 256

// maxProfilePicBytes bounds the profile picture URL kept.
const maxProfilePicBytes = 2048

// Profile is the public profile of a Messenger or Instagram user, with
// every field valid UTF-8, without control characters, and clipped.
type Profile struct {
	// FirstName and LastName are Messenger's.
	FirstName, LastName string
	// Name and Username are Instagram's; Name may be empty (not set).
	Name, Username string
	// ProfilePic is a URL that expires after a few days.
	ProfilePic string
}

// DisplayName is the name to show for the user: Instagram's name, else
// Messenger's first and last names, else the Instagram username; empty
// when the profile holds none.
func (p Profile) DisplayName() string {
	if p.Name != "" {
		return p.Name
	}
	if n := strings.TrimSpace(p.FirstName + " " + p.LastName); n != "" {
		return strings.TrimSpace(clip(n, maxProfileNameBytes))
	}
	return p.Username
}

// ParseProfile reads a User Profile API answer of channel ch (messenger
// or instagram). Fields may be null or missing; a body that is not a JSON
// object of strings there wraps ErrBadResponse.
func ParseProfile(ch engine.Channel, body []byte) (Profile, error) {
	var raw struct {
		FirstName  *string `json:"first_name"`
		LastName   *string `json:"last_name"`
		Name       *string `json:"name"`
		Username   *string `json:"username"`
		ProfilePic *string `json:"profile_pic"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Profile{}, fmt.Errorf("%w: %s user profile: %v", ErrBadResponse, ch, err)
	}
	str := func(s *string, max int) string {
		if s == nil {
			return ""
		}
		return strings.TrimSpace(clip(cleanName(*s), max))
	}
	p := Profile{ProfilePic: str(raw.ProfilePic, maxProfilePicBytes)}
	switch ch {
	case engine.ChannelMessenger:
		p.FirstName, p.LastName = str(raw.FirstName, maxProfileNameBytes), str(raw.LastName, maxProfileNameBytes)
	case engine.ChannelInstagram:
		p.Name, p.Username = str(raw.Name, maxProfileNameBytes), str(raw.Username, maxProfileNameBytes)
	default:
		return Profile{}, fmt.Errorf("meta: no user profile API on %q", ch)
	}
	return p, nil
}

// cleanName makes s valid UTF-8, turns control characters and runs of
// spaces into one space, and trims it.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, valid(s))
	return strings.Join(strings.Fields(s), " ")
}

// FetchProfile asks the channel's User Profile API for the user userID
// (a Messenger PSID or an Instagram IGSID) with the account's token:
// Messenger GET /{PSID}?fields=first_name,last_name,profile_pic on the
// Graph host, Instagram GET /{IGSID}?fields=name,username,profile_pic on
// the Instagram Login host. Errors are as for the send methods; see
// ProfileErrorKind.
func (c *Client) FetchProfile(ctx context.Context, ch engine.Channel, token, userID string) (Profile, error) {
	if userID == "" {
		return Profile{}, errors.New("meta: fetch user profile: empty user id")
	}
	var u string
	switch ch {
	case engine.ChannelMessenger:
		u = c.graphURL(userID, "") + "?fields=" + messengerProfileFields
	case engine.ChannelInstagram:
		u = c.urlFor(c.cfg.InstagramBaseURL, userID, "") + "?fields=" + instagramProfileFields
	default:
		return Profile{}, fmt.Errorf("meta: no user profile API on %q", ch)
	}
	var raw json.RawMessage
	if err := c.call(ctx, "fetch "+string(ch)+" user profile", http.MethodGet, u, token, "", nil, &raw); err != nil {
		return Profile{}, err
	}
	return ParseProfile(ch, raw)
}

// ProfileError says what to do after a failed FetchProfile.
type ProfileError int

const (
	// ProfilePermanent: the profile cannot be read (no consent, no
	// permission, a blocked or unknown user, an expired or invalid token,
	// an unreadable answer); asking again soon gets the same answer.
	ProfilePermanent ProfileError = iota
	// ProfileRateLimited: the app or account is over its rate limit
	// (codes 4, 613, 80006, 80007, 32, 17, or HTTP 429); ask nothing of
	// this account for a while.
	ProfileRateLimited
	// ProfileTemporary: a transient failure at Meta or on the way; ask
	// again later.
	ProfileTemporary
)

// profileRateCodes are the Graph codes of rate limiting: application (4),
// user (17), page (32), call (613) and business use case (80006 for
// Messenger, 80002 for Instagram) limits.
var profileRateCodes = map[int]bool{4: true, 17: true, 32: true, 613: true, 80002: true, 80006: true}

// ProfileErrorKind classifies an error of FetchProfile by Classify's
// table, with rate limits set apart.
func ProfileErrorKind(err error) ProfileError {
	var ge *GraphError
	if errors.As(err, &ge) && ((!ge.NoCode && profileRateCodes[ge.Code]) || ge.HTTPStatus == http.StatusTooManyRequests) {
		return ProfileRateLimited
	}
	if se := Classify(err); se != nil && se.Temporary {
		return ProfileTemporary
	}
	return ProfilePermanent
}

func (k ProfileError) String() string {
	switch k {
	case ProfilePermanent:
		return "permanent"
	case ProfileRateLimited:
		return "rate_limited"
	case ProfileTemporary:
		return "temporary"
	}
	return "unknown"
}

// IsTokenError reports whether err is Meta refusing the access token
// (code 190: expired, revoked or invalid), which every call made with
// that token meets until the token is replaced.
func IsTokenError(err error) bool {
	var ge *GraphError
	return errors.As(err, &ge) && !ge.NoCode && ge.Code == 190
}
