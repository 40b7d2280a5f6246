package engine_test

import (
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func TestNormalizeMemoryText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"prefers email", "prefers email", true},
		{"  has a dog\n\tnamed   Rex ", "has a dog named Rex", true},
		{"", "", false},
		{" \n\t ", "", false},
		{"bell\a", "", false},
		{"\xff", "", false},
		{strings.Repeat("é", engine.MaxMemoryBytes/2), strings.Repeat("é", engine.MaxMemoryBytes/2), true},
		{strings.Repeat("x", engine.MaxMemoryBytes+1), "", false},
	} {
		got, err := engine.NormalizeMemoryText(tc.in)
		if !tc.ok {
			require.ErrorIs(t, err, engine.ErrInvalid, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		require.Equal(t, tc.want, got)
	}
	ms := []engine.Memory{{Text: "Prefers email"}}
	require.True(t, engine.HasMemory(ms, "prefers EMAIL"))
	require.False(t, engine.HasMemory(ms, "prefers phone"))
}

func TestReplyFormatSetting(t *testing.T) {
	t.Parallel()
	for f, ok := range map[engine.ReplyFormat]bool{"": true, engine.ReplyFormatTools: true, engine.ReplyFormatJSON: true, "xml": false} {
		s := engine.AgentSettings{Kind: engine.AgentOpenAIKind, BaseURL: "http://localhost:11434/v1", Model: "m", ReplyFormat: f}
		if ok {
			require.NoError(t, s.Validate(), f)
		} else {
			require.ErrorIs(t, s.Validate(), engine.ErrInvalid, f)
		}
	}
}
