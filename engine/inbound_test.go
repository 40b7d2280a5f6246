package engine_test

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func validInbound() engine.Inbound {
	return engine.Inbound{
		WorkspaceID:      engine.NewID(t0),
		Channel:          engine.ChannelWhatsApp,
		ChannelAccountID: "1234567890",
		ExternalUserID:   "34600000000",
		ContactName:      "Ana",
		ChannelMessageID: "wamid.HBgL",
		Content:          txt("hola"),
		SentAt:           at(-time.Second),
	}
}

func TestInboundValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*engine.Inbound)
		ok     bool
	}{
		{"valid", func(*engine.Inbound) {}, true},
		{"every channel", nil, true}, // expanded below
		{"echo", func(in *engine.Inbound) { in.Echo = true }, true},
		{"no contact name", func(in *engine.Inbound) { in.ContactName = "" }, true},
		{"zero sent at", func(in *engine.Inbound) { in.SentAt = time.Time{} }, true},
		{"image", func(in *engine.Inbound) {
			in.Content = engine.Content{Kind: engine.KindImage, Media: &engine.Media{Ref: "m"}}
		}, true},
		{"max account id", func(in *engine.Inbound) { in.ChannelAccountID = strings.Repeat("a", 256) }, true},
		{"max external user id", func(in *engine.Inbound) { in.ExternalUserID = strings.Repeat("a", 256) }, true},
		{"max channel message id", func(in *engine.Inbound) { in.ChannelMessageID = strings.Repeat("a", 512) }, true},

		{"no workspace", func(in *engine.Inbound) { in.WorkspaceID = engine.ZeroID }, false},
		{"no channel", func(in *engine.Inbound) { in.Channel = "" }, false},
		{"unknown channel", func(in *engine.Inbound) { in.Channel = "telegram" }, false},
		{"no account id", func(in *engine.Inbound) { in.ChannelAccountID = "" }, false},
		{"long account id", func(in *engine.Inbound) { in.ChannelAccountID = strings.Repeat("a", 257) }, false},
		{"invalid utf-8 account id", func(in *engine.Inbound) { in.ChannelAccountID = "\xff" }, false},
		{"no external user id", func(in *engine.Inbound) { in.ExternalUserID = "" }, false},
		{"long external user id", func(in *engine.Inbound) { in.ExternalUserID = strings.Repeat("a", 257) }, false},
		{"invalid utf-8 external user id", func(in *engine.Inbound) { in.ExternalUserID = "a\xc0" }, false},
		{"no channel message id", func(in *engine.Inbound) { in.ChannelMessageID = "" }, false},
		{"long channel message id", func(in *engine.Inbound) { in.ChannelMessageID = strings.Repeat("a", 513) }, false},
		{"invalid utf-8 channel message id", func(in *engine.Inbound) { in.ChannelMessageID = "\xfe" }, false},
		{"empty text", func(in *engine.Inbound) { in.Content = txt("") }, false},
		{"invalid utf-8 text", func(in *engine.Inbound) { in.Content = txt("\xff") }, false},
		{"oversize text", func(in *engine.Inbound) { in.Content = txt(strings.Repeat("a", engine.MaxTextBytes+1)) }, false},
		{"media kind without media", func(in *engine.Inbound) { in.Content = engine.Content{Kind: engine.KindAudio} }, false},
		{"unknown kind", func(in *engine.Inbound) { in.Content = engine.Content{Kind: "story", Text: "x"} }, false},
		{"system kind", func(in *engine.Inbound) { in.Content = engine.Content{Kind: engine.KindSystem, Text: "x"} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.mutate == nil {
				for _, ch := range engine.Channels {
					in := validInbound()
					in.Channel = ch
					require.NoError(t, in.Validate(), ch)
				}
				return
			}
			in := validInbound()
			tc.mutate(&in)
			err := in.Validate()
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, engine.ErrInvalid)
		})
	}
}

func TestInboundCommand(t *testing.T) {
	t.Parallel()
	in := validInbound()
	require.Equal(t, engine.Receive{ChannelMessageID: in.ChannelMessageID, Content: in.Content, SentAt: in.SentAt, ContactName: "Ana"},
		in.Command())

	in.Echo = true
	require.Equal(t, engine.Echo{ChannelMessageID: in.ChannelMessageID, Content: in.Content, SentAt: in.SentAt}, in.Command())
}

// TestInboundApplied runs inbound messages through Command and Apply: a
// customer message asks the AI, an echo takes the conversation over.
func TestInboundApplied(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := validInbound()
	require.NoError(t, in.Validate())
	res := h.do(in.Command(), t0)
	require.Equal(t, engine.DirIn, res.Messages[0].Direction)
	require.Equal(t, "Ana", res.Conversation.ContactName)
	require.NotNil(t, res.AskAI)

	echo := validInbound()
	echo.Echo, echo.ChannelMessageID, echo.Content = true, "wamid.echo", txt("sent from the phone")
	require.NoError(t, echo.Validate())
	res = h.do(echo.Command(), at(time.Minute))
	require.Equal(t, engine.DirOut, res.Messages[0].Direction)
	require.Equal(t, engine.ModeManual, res.Conversation.Mode)
	require.Equal(t, at(16*time.Minute), res.Conversation.AIResumesAt)
	require.Empty(t, res.Send)
}

func TestContentPreview(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ab", 100) // 200 runes
	tests := []struct {
		name    string
		content engine.Content
		want    string
	}{
		{"text", txt("hello"), "hello"},
		{"image", engine.Content{Kind: engine.KindImage, Media: &engine.Media{}}, "📷 Photo"},
		{"image caption", engine.Content{Kind: engine.KindImage, Media: &engine.Media{Caption: "my cat"}}, "my cat"},
		{"image text over caption", engine.Content{Kind: engine.KindImage, Text: "text", Media: &engine.Media{Caption: "caption"}}, "text"},
		{"video", engine.Content{Kind: engine.KindVideo, Media: &engine.Media{}}, "🎥 Video"},
		{"audio", engine.Content{Kind: engine.KindAudio, Media: &engine.Media{Voice: true}}, "🎤 Audio"},
		{"document", engine.Content{Kind: engine.KindDocument, Media: &engine.Media{}}, "📄 Document"},
		{"document without media", engine.Content{Kind: engine.KindDocument}, "📄 Document"},
		{"document filename", engine.Content{Kind: engine.KindDocument, Media: &engine.Media{Filename: "invoice.pdf"}}, "📄 invoice.pdf"},
		{"document caption over filename", engine.Content{Kind: engine.KindDocument, Media: &engine.Media{Filename: "a.pdf", Caption: "the invoice"}}, "the invoice"},
		{"sticker", engine.Content{Kind: engine.KindSticker, Media: &engine.Media{}}, "Sticker"},
		{"location", engine.Content{Kind: engine.KindLocation, Location: &engine.Location{Name: "Home"}}, "📍 Location"},
		{"contacts", engine.Content{Kind: engine.KindContacts}, "👤 Contact"},
		{"interactive", engine.Content{Kind: engine.KindInteractive, Interactive: &engine.Interactive{Type: "button_reply", Title: "Yes please"}}, "Yes please"},
		{"interactive without payload", engine.Content{Kind: engine.KindInteractive}, ""},
		{"reaction", engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{Emoji: "❤️"}}, "Reacted ❤️"},
		{"reaction without payload", engine.Content{Kind: engine.KindReaction}, ""},
		{"unsupported", engine.Content{Kind: engine.KindUnsupported, UnsupportedType: "poll"}, "Unsupported message"},
		{"system", engine.Content{Kind: engine.KindSystem, Text: "AI paused"}, "AI paused"},
		{"120 runes kept", txt(long[:120]), long[:120]},
		{"121 runes cut", txt(long[:121]), long[:120] + "…"},
		{"long text cut", txt(long), long[:120] + "…"},
		{"multibyte cut on a rune", txt(strings.Repeat("ñ", 130)), strings.Repeat("ñ", 120) + "…"},
		{"emoji cut on a rune", txt(strings.Repeat("😀", 121)), strings.Repeat("😀", 120) + "…"},
		{"long caption cut", engine.Content{Kind: engine.KindImage, Media: &engine.Media{Caption: long}}, long[:120] + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.content.Preview()
			require.Equal(t, tc.want, got)
			require.True(t, utf8.ValidString(got))
			require.LessOrEqual(t, utf8.RuneCountInString(got), 121)
		})
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	times := []time.Time{
		time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		at(-time.Hour),
		at(-time.Millisecond),
		t0,
		at(time.Millisecond),
		at(time.Second),
		at(24 * time.Hour),
	}
	var ids []engine.ID
	for _, tm := range times {
		id := engine.NewID(tm)
		require.Equal(t, tm.UnixMilli(), id.Timestamp().UnixMilli())
		ids = append(ids, id)
	}
	// Made out of order, they still sort by time.
	for i := len(times) - 1; i >= 0; i-- {
		ids = append(ids, engine.NewID(times[i]))
	}
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b engine.ID) int { return a.Compare(b) })
	for i := 1; i < len(sorted); i++ {
		require.LessOrEqual(t, sorted[i-1].Timestamp().UnixMilli(), sorted[i].Timestamp().UnixMilli())
		require.Less(t, sorted[i-1].String(), sorted[i].String(), "text form sorts like the bytes")
	}
	for i := 1; i < len(times); i++ {
		require.Equal(t, -1, ids[i-1].Compare(ids[i]), "id of %v before id of %v", times[i-1], times[i])
	}
}

// TestNewIDSameMillisecondIsMonotonic is not parallel on purpose: the
// entropy source is process-wide, and parallel tests making IDs for other
// milliseconds would interleave with it (see the next test).
func TestNewIDSameMillisecondIsMonotonic(t *testing.T) { //nolint:paralleltest // see above
	prev := engine.NewID(t0)
	for range 1000 {
		id := engine.NewID(t0.Add(500 * time.Microsecond)) // same millisecond
		require.Equal(t, 1, id.Compare(prev), "same millisecond, later id")
		prev = id
	}
}

// TestNewIDSameMillisecondSortsDespiteInterleaving: NewID promises that
// IDs made in the same millisecond sort in creation order. Actors read the
// clock concurrently, so an ID for a slightly earlier millisecond is often
// made between two IDs of the same millisecond; the promise must hold then
// too.
func TestParseID(t *testing.T) {
	t.Parallel()
	id := engine.NewID(t0)
	s := id.String()
	require.Len(t, s, 26)
	got, err := engine.ParseID(s)
	require.NoError(t, err)
	require.Equal(t, id, got)

	for _, bad := range []string{
		"",
		"short",
		s[:25],
		s + "0",
		"01ARZ3NDEKTSV4RRFFQ69G5FAU", // U is not Crockford base32
		"01ARZ3NDEKTSV4RRFFQ69G5F!V",
		"81ARZ3NDEKTSV4RRFFQ69G5FAV", // over the largest time
		" " + s[1:],
	} {
		got, err := engine.ParseID(bad)
		require.Error(t, err, "%q", bad)
		require.Contains(t, err.Error(), "engine: bad id")
		require.Equal(t, engine.ZeroID, got, "%q", bad)
	}
}

func TestValidEnums(t *testing.T) {
	t.Parallel()
	for _, ch := range []engine.Channel{engine.ChannelWhatsApp, engine.ChannelMessenger, engine.ChannelInstagram, engine.ChannelWebChat, engine.ChannelEmail} {
		require.True(t, ch.Valid(), ch)
	}
	for _, ch := range []engine.Channel{"", "sms", "WhatsApp"} {
		require.False(t, ch.Valid(), ch)
	}
	for _, f := range []engine.Folder{engine.FolderOpen, engine.FolderSolved, engine.FolderSpam, engine.FolderArchived} {
		require.True(t, f.Valid(), f)
	}
	for _, f := range []engine.Folder{"", "trash", "inbox"} {
		require.False(t, f.Valid(), f)
	}
	require.True(t, engine.ModeAI.Valid())
	require.True(t, engine.ModeManual.Valid())
	require.False(t, engine.Mode("").Valid())
	require.False(t, engine.Mode("auto").Valid())
	for _, k := range engine.MessageKinds {
		require.True(t, k.Valid(), k)
		want := slices.Contains([]engine.MessageKind{engine.KindImage, engine.KindVideo, engine.KindAudio, engine.KindDocument, engine.KindSticker}, k)
		require.Equal(t, want, k.HasMedia(), k)
	}
	require.False(t, engine.MessageKind("gif").Valid())
	for _, src := range []engine.ContactSource{engine.SourceChat, engine.SourceForm, engine.SourceManual, engine.SourceImport, engine.SourceAPI} {
		require.True(t, src.Valid(), src)
	}
	require.False(t, engine.ContactSource("crm").Valid())
}

func TestSettingsResumeAfter(t *testing.T) {
	t.Parallel()
	require.Equal(t, 15*time.Minute, engine.DefaultAIResumeAfter)
	require.Equal(t, engine.DefaultAIResumeAfter, engine.Settings{}.ResumeAfter())
	require.Equal(t, engine.DefaultAIResumeAfter, engine.Settings{AIResumeAfter: -time.Second}.ResumeAfter())
	require.Equal(t, time.Hour, engine.Settings{AIResumeAfter: time.Hour}.ResumeAfter())
}

func TestNewConversation(t *testing.T) {
	t.Parallel()
	id, ws, contact := engine.NewID(t0), engine.NewID(t0), engine.NewID(t0)
	c := engine.NewConversation(id, ws, engine.ChannelInstagram, "acct", contact, "igsid", t0)
	require.Equal(t, engine.Conversation{
		ID: id, WorkspaceID: ws, Channel: engine.ChannelInstagram, ChannelAccountID: "acct",
		ContactID: contact, ExternalUserID: "igsid",
		Folder: engine.FolderOpen, Mode: engine.ModeAI, LastActivityAt: t0, CreatedAt: t0,
		AssistantID: engine.DefaultAssistantID,
	}, c)
}

func TestConversationCloneAndHasTag(t *testing.T) {
	t.Parallel()
	c := engine.Conversation{Tags: []string{"a", engine.PriorityTag}}
	require.True(t, c.HasTag(engine.PriorityTag))
	require.False(t, c.HasTag("b"))
	d := c.Clone()
	d.Tags[0] = "changed"
	require.Equal(t, "a", c.Tags[0], "Clone shares the Tags array")
	require.Nil(t, engine.Conversation{}.Clone().Tags)
}
