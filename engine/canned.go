package engine

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Canned reply limits.
const (
	MaxCannedShortCodeBytes = 32
	MaxCannedTitleBytes     = 200
	MaxCannedBodyBytes      = 4096
	// MaxCannedReplies is how many canned replies a workspace keeps.
	MaxCannedReplies = 500
)

// CannedReply is a workspace's saved reply: a person inserts it into the
// composer by its short code. Body may hold variables such as
// {{contact.first_name}}, which the web app fills in when the reply is
// inserted; the server stores the body as written.
type CannedReply struct {
	ID          ID        `json:"id"`
	WorkspaceID ID        `json:"workspace_id"`
	ShortCode   string    `json:"short_code"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	CreatedBy   ID        `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// NormalizeCannedShortCode tidies and checks a short code: 1 to
// MaxCannedShortCodeBytes letters, digits, '-' or '_', with no leading
// '/', kept in lower case (short codes are unique per workspace, case
// aside).
func NormalizeCannedShortCode(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > MaxCannedShortCodeBytes || !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: short_code must be 1 to %d bytes", ErrInvalid, MaxCannedShortCodeBytes)
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' {
			return "", fmt.Errorf("%w: short_code may hold only letters, digits, '-' and '_'", ErrInvalid)
		}
	}
	return s, nil
}

// NormalizeCannedTitle tidies and checks a title: one line of 1 to
// MaxCannedTitleBytes of valid UTF-8, its runs of white space made one
// space.
func NormalizeCannedTitle(s string) (string, error) {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' }) >= 0 {
		return "", fmt.Errorf("%w: title must be text without control characters", ErrInvalid)
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || len(s) > MaxCannedTitleBytes {
		return "", fmt.Errorf("%w: title must be 1 to %d bytes", ErrInvalid, MaxCannedTitleBytes)
	}
	return s, nil
}

// NormalizeCannedBody tidies and checks a body: 1 to MaxCannedBodyBytes
// of valid UTF-8, not only white space, with no control characters but
// line breaks and tabs; line breaks become \n and the ends are trimmed.
func NormalizeCannedBody(s string) (string, error) {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' }) >= 0 {
		return "", fmt.Errorf("%w: body must be text without control characters", ErrInvalid)
	}
	s = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"))
	if s == "" || len(s) > MaxCannedBodyBytes {
		return "", fmt.Errorf("%w: body must be 1 to %d bytes of text", ErrInvalid, MaxCannedBodyBytes)
	}
	return s, nil
}

// CannedReplyChange is a change to a canned reply: the fields given (nil
// leaves a field as it is).
type CannedReplyChange struct {
	ShortCode, Title, Body *string
}

// ApplyCannedReply returns r with change applied, each field tidied and
// checked, and UpdatedAt set to now. It does not check that the short
// code is free: the owner of the workspace's canned replies does.
func ApplyCannedReply(r CannedReply, change CannedReplyChange, now time.Time) (CannedReply, error) {
	var err error
	if change.ShortCode != nil {
		if r.ShortCode, err = NormalizeCannedShortCode(*change.ShortCode); err != nil {
			return r, err
		}
	}
	if change.Title != nil {
		if r.Title, err = NormalizeCannedTitle(*change.Title); err != nil {
			return r, err
		}
	}
	if change.Body != nil {
		if r.Body, err = NormalizeCannedBody(*change.Body); err != nil {
			return r, err
		}
	}
	r.UpdatedAt = now
	return r, nil
}
