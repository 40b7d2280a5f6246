package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ApplyCannedReply tidies each field given (a short code in lower case,
// a title on one line, a body with \n line breaks and trimmed ends),
// leaves the others, stamps the update, and refuses bad values.
func TestApplyCannedReply(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	base := CannedReply{ShortCode: "old", Title: "Old", Body: "old body"}
	ptr := func(s string) *string { return &s }
	r, err := ApplyCannedReply(base, CannedReplyChange{ShortCode: ptr(" Greet-2_x "), Body: ptr("\r\n Hi {{contact.first_name}},\r\nbye\t\n")}, now)
	require.NoError(t, err)
	require.Equal(t, CannedReply{ShortCode: "greet-2_x", Title: "Old", Body: "Hi {{contact.first_name}},\nbye", UpdatedAt: now}, r)
	r, err = ApplyCannedReply(base, CannedReplyChange{Title: ptr("  Two \n  lines ")}, now)
	require.NoError(t, err)
	require.Equal(t, "Two lines", r.Title)
	code, err := NormalizeCannedShortCode("ÑANDÚ")
	require.NoError(t, err)
	require.Equal(t, "ñandú", code)

	for name, ch := range map[string]CannedReplyChange{
		"empty code":    {ShortCode: ptr(" ")},
		"space in code": {ShortCode: ptr("a b")},
		"slash":         {ShortCode: ptr("/a")},
		"long code":     {ShortCode: ptr(strings.Repeat("a", MaxCannedShortCodeBytes+1))},
		"empty title":   {Title: ptr("\n\t")},
		"long title":    {Title: ptr(strings.Repeat("a", MaxCannedTitleBytes+1))},
		"control":       {Title: ptr("a\x07")},
		"empty body":    {Body: ptr(" \r\n ")},
		"long body":     {Body: ptr(strings.Repeat("a", MaxCannedBodyBytes+1))},
		"bad utf-8":     {Body: ptr("\xff")},
		"nul":           {Body: ptr("a\x00b")},
	} {
		_, err := ApplyCannedReply(base, ch, now)
		require.ErrorIs(t, err, ErrInvalid, name)
	}
}
