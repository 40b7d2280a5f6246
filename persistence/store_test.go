package persistence

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

func TestConversationRoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, at(time.Minute+7)) // nanoseconds survive
	c.ContactName = "Ana \x00 Lima ☃"
	c.Mode = engine.ModeManual
	c.AIResumesAt = at(15 * time.Minute)
	c.ModeEpoch = 3
	c.NeedsHuman = true
	c.Tags = []string{"vip", "priority"}
	c.AssigneeID = "user-9"
	c.UnreadCount = 4
	c.Preview = "hello"
	c.LastSeq, c.LastCustomerSeq = 12, 11
	c.LastInboundAt = at(time.Minute)
	c.AwaitingReply = true
	c.LastOutboundStatus, c.LastOutboundSeq = engine.StatusDelivered, 10
	c.FollowUpAt = at(24 * time.Hour)
	c.CSAT = 5

	commit(t, s, func(b *Batch) { b.PutConversation(nil, &c) })

	got, err := s.Conversation(ws, c.ID)
	require.NoError(t, err)
	require.Equal(t, c, got)
	n, err := s.CountConversations(ws)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	th, ok, err := s.LookupThread(ws, "acct-1", "user-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, Thread{ConversationID: c.ID, ContactID: c.ContactID}, th)

	_, err = s.Conversation(ws, idOf('c', 2))
	require.ErrorIs(t, err, ErrNotFound)
	_, ok, err = s.LookupThread(ws, "acct-1", "user-2")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, t0)
	msgs := []engine.Message{
		newMsg(&c, 1, "wamid.1"),
		{
			ID: idOf('m', 2), WorkspaceID: ws, ConversationID: c.ID, Seq: 2,
			Direction: engine.DirOut, Sender: engine.Sender{Kind: engine.SenderHuman, UserID: "u1"},
			Content: engine.Content{
				Kind:        engine.KindImage,
				Media:       &engine.Media{Ref: "r", URL: "https://x/y", MimeType: "image/jpeg", Caption: "c", Size: 99, Voice: true},
				Location:    &engine.Location{Latitude: 1.5, Longitude: -2.25, Name: "n"},
				Contacts:    []byte(`[{"name":"x"}]`),
				Interactive: &engine.Interactive{Type: "button", ID: "b1", Title: "Yes"},
				Reaction:    &engine.Reaction{TargetChannelMessageID: "wamid.1", Emoji: "👍"},
				ReplyTo:     "wamid.1",
			},
			ChannelMessageID: "wamid.2",
			Status:           engine.StatusFailed,
			StatusAt:         at(time.Second),
			ErrorCode:        "131047",
			ErrorReason:      "re-engagement",
			Reasoning:        "because",
			CreatedAt:        at(time.Nanosecond),
			SentAt:           at(time.Millisecond),
		},
		{ID: idOf('m', 3), WorkspaceID: ws, ConversationID: c.ID, Seq: 3, Direction: engine.DirOut,
			Sender: engine.Sender{Kind: engine.SenderSystem}, Content: engine.Content{Kind: engine.KindSystem, Text: "AI resumed"},
			CreatedAt: at(2 * time.Second)},
	}
	commit(t, s, func(b *Batch) {
		b.PutConversation(nil, &c)
		for i := range msgs {
			b.PutMessage(&msgs[i], c.Channel)
		}
	})

	for _, m := range msgs {
		got, err := s.Message(ws, c.ID, m.Seq)
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	page, err := s.Messages(ws, c.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []engine.Message{msgs[2], msgs[1], msgs[0]}, page)
	chIDs, err := s.ChannelMessageIDs(ws, c.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"wamid.2", "wamid.1"}, chIDs)
	_, err = s.Message(ws, c.ID, 4)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestContactRoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	old := engine.Contact{
		ID: idOf('p', 1), WorkspaceID: ws,
		Profile: engine.Profile{Name: "Ana", Phone: "+5511", Email: "a@x", Country: "BR", Language: "pt"},
		Identities: []engine.Identity{
			{Channel: engine.ChannelWhatsApp, ExternalID: "5511"},
			{Channel: engine.ChannelEmail, ExternalID: "a@x"},
		},
		CustomFields: map[string]string{"plan": "gold"},
		Source:       engine.SourceChat,
		Blocked:      true,
		CreatedAt:    t0,
		UpdatedAt:    at(time.Hour),
	}
	commit(t, s, func(b *Batch) { b.PutContact(nil, &old) })
	got, err := s.Contact(ws, old.ID)
	require.NoError(t, err)
	require.Equal(t, old, got)
	for _, id := range old.Identities {
		cid, ok, err := s.ContactByIdentity(ws, id.Channel, id.ExternalID)
		require.NoError(t, err)
		require.True(t, ok, "%v", id)
		require.Equal(t, old.ID, cid)
	}

	// The email identity is dropped and an Instagram one added.
	upd := old
	upd.Identities = []engine.Identity{
		{Channel: engine.ChannelWhatsApp, ExternalID: "5511"},
		{Channel: engine.ChannelInstagram, ExternalID: "ig-1"},
	}
	upd.CustomFields = nil
	commit(t, s, func(b *Batch) { b.PutContact(&old, &upd) })
	got, err = s.Contact(ws, old.ID)
	require.NoError(t, err)
	require.Equal(t, upd, got)
	for _, tc := range []struct {
		id   engine.Identity
		want bool
	}{
		{engine.Identity{Channel: engine.ChannelWhatsApp, ExternalID: "5511"}, true},
		{engine.Identity{Channel: engine.ChannelInstagram, ExternalID: "ig-1"}, true},
		{engine.Identity{Channel: engine.ChannelEmail, ExternalID: "a@x"}, false},
		// The channel is part of the identity.
		{engine.Identity{Channel: engine.ChannelMessenger, ExternalID: "5511"}, false},
	} {
		cid, ok, err := s.ContactByIdentity(ws, tc.id.Channel, tc.id.ExternalID)
		require.NoError(t, err)
		require.Equal(t, tc.want, ok, "%v", tc.id)
		if tc.want {
			require.Equal(t, old.ID, cid)
		}
	}
	require.Len(t, rawKeys(t, s, wsPrefix(ws, tIdentity)), 2)
	_, err = s.Contact(ws, idOf('p', 2))
	require.ErrorIs(t, err, ErrNotFound)
}

// TestUnknownVersionIsCorruption: a record whose version byte the store
// does not know, or whose body does not decode, is reported as corruption
// by every point read that meets it, never as another error or a zero
// value; list and messages pages skip it (quarantine.go).
func TestUnknownVersionIsCorruption(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, t0)
	m := newMsg(&c, 1, "")
	good, err := encode(&c)
	require.NoError(t, err)
	require.Equal(t, binaryVersion, good[0])
	goodMsg := mustEncode(t, &m)

	for _, tc := range []struct {
		name string
		val  []byte
	}{
		{"empty", nil},
		{"version 0", append([]byte{0}, good[1:]...)},
		{"version 3", append([]byte{3}, good[1:]...)},
		{"binary without type", []byte{binaryVersion}},
		{"binary, unknown type", append([]byte{binaryVersion, 'x'}, good[2:]...)},
		{"binary, torn varint", []byte{binaryVersion, binaryConversation, 0x80}},
		{"binary, bad length", []byte{binaryVersion, binaryConversation, cfContactName<<2 | wireBytes, 5, 'a'}},
		{"version 255", append([]byte{0xFF}, good[1:]...)},
		{"bad body", []byte{recordVersion, '{'}},
		{"wrong type", []byte{recordVersion, '[', ']'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := s.DB()
			require.NoError(t, db.Set(conversationKey(ws, c.ID), tc.val, nil))
			require.NoError(t, db.Set(messageKey(ws, c.ID, 1), tc.val, nil))
			require.NoError(t, db.Set(contactKey(ws, c.ContactID), tc.val, nil))
			require.NoError(t, db.Set(listKey(ws, engine.FolderOpen, dimAll, t0, c.ID), nil, nil))
			require.NoError(t, db.Set(appendUint64(orphanPrefix(ws, c.Channel, "x"), 1), tc.val, nil))

			_, err := s.Conversation(ws, c.ID)
			require.True(t, IsCorruption(err), "conversation: %v", err)
			_, err = s.Message(ws, c.ID, 1)
			require.True(t, IsCorruption(err), "message: %v", err)
			// Pages skip the record (and quarantine it) rather than fail.
			ms, err := s.Messages(ws, c.ID, 0, 10)
			require.NoError(t, err, "messages")
			require.Empty(t, ms)
			ids, err := s.ChannelMessageIDs(ws, c.ID)
			require.NoError(t, err, "channel message ids")
			require.Empty(t, ids)
			_, err = s.Contact(ws, c.ContactID)
			require.True(t, IsCorruption(err), "contact: %v", err)
			page, err := s.List(ws, ListQuery{Folder: engine.FolderOpen})
			require.NoError(t, err, "list")
			require.Empty(t, page.Conversations)
			_, err = s.OrphanStatuses(ws, c.Channel, "x")
			require.True(t, IsCorruption(err), "orphans: %v", err)
		})
	}

	// A binary record of one type does not read as another.
	db := s.DB()
	require.NoError(t, db.Set(conversationKey(ws, c.ID), goodMsg, nil))
	_, err = s.Conversation(ws, c.ID)
	require.True(t, IsCorruption(err), "message as conversation: %v", err)
	require.NoError(t, db.Set(messageKey(ws, c.ID, 1), good, nil))
	_, err = s.Message(ws, c.ID, 1)
	require.True(t, IsCorruption(err), "conversation as message: %v", err)

	// Index values of the wrong length are corruption too.
	require.NoError(t, db.Set(externalKey(ws, c.Channel, "short"), []byte{1, 2, 3}, nil))
	_, _, err = s.LookupChannelMessage(ws, c.Channel, "short")
	require.True(t, IsCorruption(err), "%v", err)
	require.NoError(t, db.Set(threadKey(ws, "a", "u"), []byte{1}, nil))
	_, _, err = s.LookupThread(ws, "a", "u")
	require.True(t, IsCorruption(err), "%v", err)
	require.NoError(t, db.Set(identityKey(ws, c.Channel, "u"), []byte{1}, nil))
	_, _, err = s.ContactByIdentity(ws, c.Channel, "u")
	require.True(t, IsCorruption(err), "%v", err)

	// And a good record still reads.
	require.NoError(t, db.Set(conversationKey(ws, c.ID), good, nil))
	got, err := s.Conversation(ws, c.ID)
	require.NoError(t, err)
	require.Equal(t, c, got)
	require.NoError(t, db.Set(messageKey(ws, c.ID, 1), goodMsg, nil))
	gotM, err := s.Message(ws, c.ID, 1)
	require.NoError(t, err)
	require.Equal(t, m, gotM)
}

func mustEncode(tb testing.TB, v any) []byte {
	tb.Helper()
	return noErr[[]byte](tb)(encode(v))
}

// TestWorkspaceIsolation: workspace B, knowing every id and external id
// of workspace A, reaches none of A's data.
func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	wsA, wsB := idOf('w', 1), idOf('w', 2)

	c := newConv(wsA, 1, t0)
	c.Tags = []string{"vip"}
	c.AssigneeID = "u1"
	c.UnreadCount = 1
	c.AIResumesAt = at(time.Minute)
	m := newMsg(&c, 1, "wamid.1")
	ct := engine.Contact{ID: c.ContactID, WorkspaceID: wsA, Source: engine.SourceChat,
		Identities: []engine.Identity{{Channel: c.Channel, ExternalID: c.ExternalUserID}}}
	rep := engine.StatusReport{WorkspaceID: wsA, Channel: c.Channel, ChannelMessageID: "wamid.9", Status: engine.StatusSent, At: t0}
	commit(t, s, func(b *Batch) {
		b.PutContact(nil, &ct)
		b.PutConversation(nil, &c)
		b.PutMessage(&m, c.Channel)
		b.PutOrphanStatus(&rep, 1)
		b.PutOutbox(wsA, c.ID, 1)
	})

	checkAbsent := func(t *testing.T, ws engine.ID) {
		t.Helper()
		for _, f := range engine.Folders {
			for _, q := range []ListQuery{
				{Folder: f}, {Folder: f, Tag: "vip"}, {Folder: f, Assignee: "u1"}, {Folder: f, Unread: true},
				{Folder: f, Channel: c.Channel}, {Folder: f, Mode: c.Mode},
			} {
				page, err := s.List(ws, q)
				require.NoError(t, err)
				require.Empty(t, page.Conversations, "%+v", q)
			}
		}
		_, err := s.Conversation(ws, c.ID)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = s.Message(ws, c.ID, 1)
		require.ErrorIs(t, err, ErrNotFound)
		msgs, err := s.Messages(ws, c.ID, 0, 10)
		require.NoError(t, err)
		require.Empty(t, msgs)
		_, ok, err := s.LookupChannelMessage(ws, c.Channel, "wamid.1")
		require.NoError(t, err)
		require.False(t, ok)
		_, ok, err = s.LookupThread(ws, c.ChannelAccountID, c.ExternalUserID)
		require.NoError(t, err)
		require.False(t, ok)
		_, ok, err = s.ContactByIdentity(ws, c.Channel, c.ExternalUserID)
		require.NoError(t, err)
		require.False(t, ok)
		_, err = s.Contact(ws, ct.ID)
		require.ErrorIs(t, err, ErrNotFound)
		reps, err := s.OrphanStatuses(ws, c.Channel, "wamid.9")
		require.NoError(t, err)
		require.Empty(t, reps)
		n, err := s.CountConversations(ws)
		require.NoError(t, err)
		require.Zero(t, n)
	}
	checkAbsent(t, wsB)

	// Every workspace key of A lives under A's prefix; system keys name A.
	for _, k := range rawKeys(t, s, []byte{spaceWorkspace}) {
		require.True(t, bytes.HasPrefix(k, append([]byte{spaceWorkspace}, wsA[:]...)), "%x", k)
	}
	for _, k := range conversationSystemKeys(t, s) {
		require.Equal(t, wsA, systemKeyWorkspace(t, k), "%x", k)
	}

	// B stores a conversation with the same id; A's is untouched, and
	// deleting B's leaves A's.
	cb := c.Clone()
	cb.WorkspaceID = wsB
	cb.Tags = nil
	cb.Folder = engine.FolderSolved
	cb.AIResumesAt = time.Time{}
	commit(t, s, func(b *Batch) { b.PutConversation(nil, &cb) })
	gotA, err := s.Conversation(wsA, c.ID)
	require.NoError(t, err)
	require.Equal(t, c, gotA)
	page, err := s.List(wsA, ListQuery{Folder: engine.FolderOpen})
	require.NoError(t, err)
	require.Equal(t, []engine.ID{c.ID}, ids(page.Conversations))
	page, err = s.List(wsB, ListQuery{Folder: engine.FolderOpen})
	require.NoError(t, err)
	require.Empty(t, page.Conversations)
	commit(t, s, func(b *Batch) { b.DeleteConversation(&cb, nil) })
	checkAbsent(t, wsB)
	gotA, err = s.Conversation(wsA, c.ID)
	require.NoError(t, err)
	require.Equal(t, c, gotA)
	ref, ok, err := s.LookupChannelMessage(wsA, c.Channel, "wamid.1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, MessageRef{ConversationID: c.ID, Seq: 1}, ref)
}

func TestAppendStringEscaping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{"", []byte{0, 1}},
		{"ab", []byte{'a', 'b', 0, 1}},
		{"\x00", []byte{0, 0xFF, 0, 1}},
		{"a\x00b", []byte{'a', 0, 0xFF, 'b', 0, 1}},
		{"\x00\x01", []byte{0, 0xFF, 1, 0, 1}},
		{"\xff", []byte{0xFF, 0, 1}},
	} {
		require.Equal(t, tc.want, appendString(nil, tc.in), "%q", tc.in)
		got, rest, ok := readString(append(appendString(nil, tc.in), 'z'))
		require.True(t, ok)
		require.Equal(t, tc.in, got)
		require.Equal(t, []byte{'z'}, rest)
	}

	// Two-field keys whose concatenated strings are equal never collide.
	for _, pair := range [][2][2]string{
		{{"ab", "c"}, {"a", "bc"}},
		{{"a\x00", "b"}, {"a", "\x00b"}},
		{{"a", ""}, {"", "a"}},
		{{"a\x00\x01", ""}, {"a", ""}},
	} {
		k1 := appendString(appendString(nil, pair[0][0]), pair[0][1])
		k2 := appendString(appendString(nil, pair[1][0]), pair[1][1])
		require.NotEqual(t, k1, k2, "%q", pair)
	}
}

// TestAppendStringProperties checks, over random strings rich in the
// escape bytes, that encoding keeps order, is prefix-free, and that keys
// made of several strings sort like the tuples.
func TestAppendStringProperties(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	alphabet := []byte{0x00, 0x01, 0x02, 0xFE, 0xFF, 'a', 'b'}
	randString := func() string {
		b := make([]byte, rng.IntN(7))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		a, b := randString(), randString()
		ea, eb := appendString(nil, a), appendString(nil, b)
		require.Equal(t, strings.Compare(a, b), bytes.Compare(ea, eb), "seed %d: %q vs %q", seed, a, b)
		checkAppendStringPair(t, a, b)

		c, d := randString(), randString()
		kac := appendString(appendString(nil, a), c)
		kbd := appendString(appendString(nil, b), d)
		want := cmp.Or(strings.Compare(a, b), strings.Compare(c, d))
		require.Equal(t, want, bytes.Compare(kac, kbd), "seed %d: (%q,%q) vs (%q,%q)", seed, a, c, b, d)
	}
}

// checkAppendStringPair fails if the encodings of a and b break order or
// prefix-freedom.
func checkAppendStringPair(t *testing.T, a, b string) {
	t.Helper()
	ea, eb := appendString(nil, a), appendString(nil, b)
	if got, want := bytes.Compare(ea, eb), strings.Compare(a, b); got != want {
		t.Fatalf("order of %q vs %q: encoded %d, strings %d", a, b, got, want)
	}
	if a != b && (bytes.HasPrefix(ea, eb) || bytes.HasPrefix(eb, ea)) {
		t.Fatalf("%q and %q: one encoding is a prefix of the other (%x, %x)", a, b, ea, eb)
	}
	got, rest, ok := readString(ea)
	if !ok || got != a || len(rest) != 0 {
		t.Fatalf("%q does not decode back: %q %x %v", a, got, rest, ok)
	}
}

// TestStringFieldsDoNotCollide runs the escaping through the queries: ids
// and tags that are prefixes of others, or hold 0x00, stay apart.
func TestStringFieldsDoNotCollide(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c1 := newConv(ws, 1, at(1))
	c1.Tags = []string{"ab"}
	c2 := newConv(ws, 2, at(2))
	c2.Tags = []string{"abc"}
	c3 := newConv(ws, 3, at(3))
	c3.Tags = []string{"ab\x00"}
	c3.ChannelAccountID = "acct-1\x00user-1" // thread (acct-1\x00user-1, user-3)
	extIDs := []string{"m1", "m10", "m1\x00", "m\x001", ""}
	commit(t, s, func(b *Batch) {
		for _, c := range []*engine.Conversation{&c1, &c2, &c3} {
			b.PutConversation(nil, c)
		}
		for i, id := range extIDs[:4] {
			m := newMsg(&c1, uint64(i+1), id) //nolint:gosec // small
			b.PutMessage(&m, c1.Channel)
		}
	})
	for tag, want := range map[string][]engine.ID{
		"ab":     {c1.ID},
		"abc":    {c2.ID},
		"ab\x00": {c3.ID},
		"a":      nil,
		"":       {c3.ID, c2.ID, c1.ID}, // no tag filter
	} {
		page, err := s.List(ws, ListQuery{Folder: engine.FolderOpen, Tag: tag})
		require.NoError(t, err)
		require.Equal(t, want, nilIfEmpty(ids(page.Conversations)), "tag %q", tag)
	}
	for i, id := range extIDs {
		ref, ok, err := s.LookupChannelMessage(ws, c1.Channel, id)
		require.NoError(t, err)
		if id == "" {
			require.False(t, ok)
			continue
		}
		require.True(t, ok, "%q", id)
		require.Equal(t, uint64(i+1), ref.Seq, "%q", id) //nolint:gosec // small
	}
	th, ok, err := s.LookupThread(ws, "acct-1", "user-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c1.ID, th.ConversationID)
	th, ok, err = s.LookupThread(ws, "acct-1\x00user-1", "user-3")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c3.ID, th.ConversationID)
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestMessagesPaging pages through 250 messages 40 at a time with the
// before cursor: newest first, no gap, no duplicate.
func TestMessagesPaging(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, t0)
	other := newConv(ws, 2, t0) // a neighbour whose messages must not leak in
	const n = 250
	commit(t, s, func(b *Batch) {
		b.PutConversation(nil, &c)
		b.PutConversation(nil, &other)
		for seq := uint64(1); seq <= n; seq++ {
			m := newMsg(&c, seq, "")
			b.PutMessage(&m, c.Channel)
			m2 := newMsg(&other, seq, "")
			b.PutMessage(&m2, other.Channel)
		}
	})

	var seqs []uint64
	before, pages := uint64(0), 0
	for {
		page, err := s.Messages(ws, c.ID, before, 40)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		pages++
		require.LessOrEqual(t, len(page), 40)
		for _, m := range page {
			require.Equal(t, c.ID, m.ConversationID)
			seqs = append(seqs, m.Seq)
		}
		before = page[len(page)-1].Seq
	}
	want := make([]uint64, 0, n)
	for seq := uint64(n); seq >= 1; seq-- {
		want = append(want, seq)
	}
	require.Equal(t, want, seqs)
	require.Equal(t, 7, pages) // 6 full pages and 10

	for _, tc := range []struct {
		before uint64
		limit  int
		want   []uint64
	}{
		{0, 3, []uint64{250, 249, 248}},
		{251, 2, []uint64{250, 249}},
		{1000, 1, []uint64{250}},
		{3, 10, []uint64{2, 1}},
		{2, 10, []uint64{1}},
		{1, 10, nil},
		{0, 0, nil},
	} {
		page, err := s.Messages(ws, c.ID, tc.before, tc.limit)
		require.NoError(t, err)
		var got []uint64
		for _, m := range page {
			got = append(got, m.Seq)
		}
		require.Equal(t, tc.want, got, "before %d limit %d", tc.before, tc.limit)
	}
	none, err := s.Messages(ws, idOf('c', 3), 0, 10)
	require.NoError(t, err)
	require.Empty(t, none)
}

// TestLookupChannelMessageDedupe: the external id index answers "seen
// before?" for a channel message id, per channel.
func TestLookupChannelMessageDedupe(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, t0)
	_, ok, err := s.LookupChannelMessage(ws, c.Channel, "wamid.A")
	require.NoError(t, err)
	require.False(t, ok)

	m := newMsg(&c, 7, "wamid.A")
	commit(t, s, func(b *Batch) {
		b.PutConversation(nil, &c)
		b.PutMessage(&m, c.Channel)
	})
	ref, ok, err := s.LookupChannelMessage(ws, c.Channel, "wamid.A")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, MessageRef{ConversationID: c.ID, Seq: 7}, ref)
	got, err := s.Message(ws, ref.ConversationID, ref.Seq)
	require.NoError(t, err)
	require.Equal(t, m, got)

	for _, tc := range []struct {
		ch engine.Channel
		id string
	}{
		{engine.ChannelMessenger, "wamid.A"},
		{engine.ChannelWhatsApp, "wamid.a"},
		{engine.ChannelWhatsApp, "wamid."},
		{engine.ChannelWhatsApp, "wamid.AB"},
	} {
		_, ok, err := s.LookupChannelMessage(ws, tc.ch, tc.id)
		require.NoError(t, err)
		require.False(t, ok, "%s %q", tc.ch, tc.id)
	}
}

// listFixture is a workspace of conversations with every filterable
// property varied, and a model of what each query must return.
type listFixture struct {
	s     *Store
	ws    engine.ID
	convs []engine.Conversation
}

func newListFixture(t *testing.T) *listFixture {
	t.Helper()
	s := openStore(t)
	ws := idOf('w', 1)
	rng := rand.New(rand.NewPCG(1, 2))
	tags := []string{"vip", "billing", "ab", "abc"}
	var convs []engine.Conversation
	for i := range 240 {
		// Activities collide in pairs so that the conversation id breaks ties.
		c := newConv(ws, i, at(time.Duration(rng.IntN(120))*time.Minute))
		c.Channel = engine.Channels[rng.IntN(len(engine.Channels))]
		c.Folder = engine.Folders[rng.IntN(len(engine.Folders))]
		if rng.IntN(2) == 0 {
			c.Mode = engine.ModeManual
		}
		if rng.IntN(3) == 0 {
			c.UnreadCount = 1 + rng.IntN(5)
		}
		if k := rng.IntN(4); k > 0 {
			c.AssigneeID = fmt.Sprintf("u%d", k)
		}
		for _, tag := range tags {
			if rng.IntN(3) == 0 {
				c.Tags = append(c.Tags, tag)
			}
		}
		convs = append(convs, c)
	}
	putConvs(t, s, convs)
	return &listFixture{s: s, ws: ws, convs: convs}
}

// want is the model: the conversations q selects, newest activity first,
// ties broken by id.
func (f *listFixture) want(q ListQuery) []engine.ID {
	var out []engine.Conversation
	for _, c := range f.convs {
		if c.Folder != q.Folder ||
			(q.Channel != "" && c.Channel != q.Channel) ||
			(q.Unread && c.UnreadCount == 0) ||
			(q.Tag != "" && !slices.Contains(c.Tags, q.Tag)) ||
			(q.Assignee != "" && c.AssigneeID != q.Assignee) ||
			(q.Unassigned && c.AssigneeID != "") ||
			(q.Mode != "" && c.Mode != q.Mode) ||
			(!q.Since.IsZero() && c.LastActivityAt.Before(q.Since)) {
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b engine.Conversation) int {
		return cmp.Or(b.LastActivityAt.Compare(a.LastActivityAt), bytes.Compare(a.ID[:], b.ID[:]))
	})
	return nilIfEmpty(ids(out))
}

// listAll follows the cursor to the end and returns every id in order.
func listAll(t *testing.T, s *Store, ws engine.ID, q ListQuery) (all []engine.ID, pages int) {
	t.Helper()
	seen := map[engine.ID]bool{}
	for {
		page, err := s.List(ws, q)
		require.NoError(t, err)
		pages++
		limit := q.Limit
		if limit <= 0 {
			limit = 50
		}
		require.LessOrEqual(t, len(page.Conversations), limit)
		for _, c := range page.Conversations {
			require.False(t, seen[c.ID], "duplicate %s", c.ID)
			seen[c.ID] = true
			all = append(all, c.ID)
		}
		if page.NextCursor == "" {
			return all, pages
		}
		require.Len(t, page.Conversations, limit, "a page with a next cursor is full")
		q.Cursor = page.NextCursor
		require.Less(t, pages, 10000, "cursor does not advance")
	}
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	since := at(60 * time.Minute)
	var queries []ListQuery
	for _, folder := range engine.Folders {
		for _, q := range []ListQuery{
			{},
			{Channel: engine.ChannelWhatsApp},
			{Channel: engine.ChannelEmail},
			{Unread: true},
			{Tag: "vip"},
			{Tag: "ab"},
			{Tag: "abc"},
			{Tag: "none"},
			{Assignee: "u1"},
			{Assignee: "u9"},
			{Unassigned: true},
			{Mode: engine.ModeAI},
			{Mode: engine.ModeManual},
			{Since: since},
			{Since: at(119 * time.Minute)},
			{Since: at(time.Hour + 1)}, // between minutes: the boundary is exact
			{Tag: "vip", Assignee: "u2"},
			{Tag: "billing", Unread: true, Mode: engine.ModeAI},
			{Channel: engine.ChannelInstagram, Unread: true},
			{Unassigned: true, Mode: engine.ModeManual},
			{Assignee: "u1", Unassigned: true}, // contradictory: nothing
			{Channel: engine.ChannelWhatsApp, Mode: engine.ModeManual, Since: since},
			{Tag: "abc", Channel: engine.ChannelMessenger, Unassigned: true, Since: at(30 * time.Minute)},
		} {
			q.Folder = folder
			queries = append(queries, q)
		}
	}
	// The exact Since boundary: a conversation active at Since is in.
	queries = append(queries, ListQuery{Folder: f.convs[0].Folder, Since: f.convs[0].LastActivityAt})

	for _, q := range queries {
		want := f.want(q)
		page, err := f.s.List(f.ws, q)
		require.NoError(t, err)
		require.Equal(t, want[:min(len(want), 50)], nilIfEmpty(ids(page.Conversations)), "%+v", q)
		for _, c := range page.Conversations {
			require.Equal(t, q.Folder, c.Folder)
		}
		// Small pages exercise the cursor across entries the filters skip.
		for _, limit := range []int{1, 3, 7} {
			q.Limit = limit
			got, _ := listAll(t, f.s, f.ws, q)
			require.Equal(t, want, got, "%+v", q)
		}
	}
}

func TestListBadInput(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	putConvs(t, s, []engine.Conversation{newConv(ws, 1, t0), newConv(ws, 2, at(1))})

	for _, folder := range []engine.Folder{"", "inbox", "Open"} {
		_, err := s.List(ws, ListQuery{Folder: folder})
		require.ErrorIs(t, err, engine.ErrInvalid, "%q", folder)
	}
	page, err := s.List(ws, ListQuery{Folder: engine.FolderOpen, Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, page.NextCursor)
	for _, cur := range []string{
		"!!!",                      // not base64url
		page.NextCursor + "AA",     // too long
		page.NextCursor[:10],       // too short
		"AAAA",                     // valid base64, wrong length
		page.NextCursor[:31] + "=", // padding is refused by RawURLEncoding
	} {
		_, err := s.List(ws, ListQuery{Folder: engine.FolderOpen, Cursor: cur})
		require.ErrorIs(t, err, ErrBadCursor, "%q", cur)
	}
	next, err := s.List(ws, ListQuery{Folder: engine.FolderOpen, Limit: 1, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Equal(t, []engine.ID{idOf('c', 1)}, ids(next.Conversations))
	require.Empty(t, next.NextCursor)
}

// TestListPagination1000 pages over 1,000 conversations, many sharing an
// activity time: every one exactly once, in order, and the last page has
// no cursor.
func TestListPagination1000(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	convs := make([]engine.Conversation, 1000)
	for i := range convs {
		convs[i] = newConv(ws, i, at(time.Duration(i/3)*time.Second))
		if i%4 == 0 {
			convs[i].Tags = []string{"vip"}
		}
	}
	putConvs(t, s, convs)
	f := &listFixture{s: s, ws: ws, convs: convs}

	for _, tc := range []struct {
		q     ListQuery
		pages int
	}{
		{ListQuery{Folder: engine.FolderOpen}, 20},
		{ListQuery{Folder: engine.FolderOpen, Limit: 50}, 20},
		{ListQuery{Folder: engine.FolderOpen, Limit: 37}, 28},
		{ListQuery{Folder: engine.FolderOpen, Limit: 500}, 2},
		{ListQuery{Folder: engine.FolderOpen, Tag: "vip", Limit: 40}, 7},
		{ListQuery{Folder: engine.FolderOpen, Since: at(200 * time.Second), Limit: 33}, 13},
	} {
		got, pages := listAll(t, s, ws, tc.q)
		require.Equal(t, f.want(tc.q), got, "%+v", tc.q)
		require.Equal(t, tc.pages, pages, "%+v", tc.q)
	}
}

// TestListIndexMoves: when a conversation changes, its list index entries
// move with it and the old ones are gone.
func TestListIndexMoves(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, t0)
	bystander := newConv(ws, 2, at(-time.Hour))
	putConvs(t, s, []engine.Conversation{c, bystander})

	// entries renders what the index must hold for conversation x, written
	// out by hand rather than with listDims.
	entries := func(x engine.Conversation, dims ...string) []string {
		var out []string
		for _, d := range dims {
			out = append(out, listEntry{Folder: x.Folder, Dim: d, Activity: x.LastActivityAt, Conv: x.ID}.String())
		}
		return out
	}
	bystanderEntries := entries(bystander, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned")
	check := func(x engine.Conversation, dims ...string) {
		t.Helper()
		want := append(entries(x, dims...), bystanderEntries...)
		slices.Sort(want)
		got := listEntries(t, s, ws)
		slices.Sort(got)
		require.Equal(t, want, got)
		stored, err := s.Conversation(ws, x.ID)
		require.NoError(t, err)
		require.Equal(t, x, stored)
	}
	update := func(mut func(c *engine.Conversation)) {
		t.Helper()
		old := c.Clone()
		mut(&c)
		commit(t, s, func(b *Batch) { b.PutConversation(&old, &c) })
	}
	listed := func(q ListQuery) []engine.ID {
		t.Helper()
		page, err := s.List(ws, q)
		require.NoError(t, err)
		var out []engine.ID
		for _, x := range page.Conversations {
			if x.ID == c.ID {
				out = append(out, x.ID)
			}
		}
		return out
	}
	mine := []engine.ID{c.ID}
	open := engine.FolderOpen

	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned")

	update(func(c *engine.Conversation) { c.Folder = engine.FolderSolved })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned")
	require.Empty(t, listed(ListQuery{Folder: open}))
	require.Equal(t, mine, listed(ListQuery{Folder: engine.FolderSolved}))

	update(func(c *engine.Conversation) { c.Folder = open; c.LastActivityAt = at(time.Hour) })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned")
	require.Equal(t, mine, listed(ListQuery{Folder: open, Since: at(time.Hour)}))

	update(func(c *engine.Conversation) { c.Tags = []string{"a", "b"} })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned", "tag:a", "tag:b")

	update(func(c *engine.Conversation) { c.Tags = []string{"b", "c"} })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned", "tag:b", "tag:c")
	require.Empty(t, listed(ListQuery{Folder: open, Tag: "a"}))
	require.Equal(t, mine, listed(ListQuery{Folder: open, Tag: "c"}))

	update(func(c *engine.Conversation) { c.AssigneeID = "u1" })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "asg:u1", "tag:b", "tag:c")
	require.Empty(t, listed(ListQuery{Folder: open, Unassigned: true}))

	update(func(c *engine.Conversation) { c.AssigneeID = "u2" })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "asg:u2", "tag:b", "tag:c")
	require.Empty(t, listed(ListQuery{Folder: open, Assignee: "u1"}))
	require.Equal(t, mine, listed(ListQuery{Folder: open, Assignee: "u2"}))

	update(func(c *engine.Conversation) { c.UnreadCount = 2 })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unread", "asg:u2", "tag:b", "tag:c")
	update(func(c *engine.Conversation) { c.UnreadCount = 3 })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unread", "asg:u2", "tag:b", "tag:c")

	update(func(c *engine.Conversation) { c.AssistantID = "sales" })
	check(c, "*", "ast:sales", "ch:whatsapp", "mode:ai", "unread", "asg:u2", "tag:b", "tag:c")
	require.Empty(t, listed(ListQuery{Folder: open, Assistant: engine.DefaultAssistantID}))
	require.Equal(t, mine, listed(ListQuery{Folder: open, Assistant: "sales"}))
	update(func(c *engine.Conversation) { c.AssistantID = engine.DefaultAssistantID })

	update(func(c *engine.Conversation) { c.Mode = engine.ModeManual; c.AIResumesAt = at(2 * time.Hour) })
	check(c, "*", "ast:default", "ch:whatsapp", "mode:manual", "unread", "asg:u2", "tag:b", "tag:c")

	// Everything at once.
	update(func(c *engine.Conversation) {
		c.Folder = engine.FolderArchived
		c.LastActivityAt = at(3 * time.Hour)
		c.UnreadCount = 0
		c.AssigneeID = ""
		c.Tags = nil
		c.Mode = engine.ModeAI
	})
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned")
	require.Empty(t, listed(ListQuery{Folder: open}))
	require.Equal(t, mine, listed(ListQuery{Folder: engine.FolderArchived, Unassigned: true, Mode: engine.ModeAI}))

	// A rewrite with nothing changed writes no index entry.
	b := s.NewBatch()
	same := c.Clone()
	b.PutConversation(&same, &c)
	require.Equal(t, uint32(1), b.b.Count(), "only the header")
	require.NoError(t, s.Commit(b))
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned")

	// Moved entries are single-deleted: once flushed and compacted, with
	// sets and deletions in different tables, nothing comes back.
	settle(t, s)
	update(func(c *engine.Conversation) { c.LastActivityAt = at(4 * time.Hour); c.Tags = []string{"d"} })
	settle(t, s)
	update(func(c *engine.Conversation) { c.LastActivityAt = at(5 * time.Hour) })
	settle(t, s)
	check(c, "*", "ast:default", "ch:whatsapp", "mode:ai", "unassigned", "tag:d")
	require.Zero(t, s.Stats().SingleDeleteMisuse)
}

// settle flushes the memtable and compacts the whole store.
func settle(t *testing.T, s *Store) {
	t.Helper()
	require.NoError(t, s.db.Flush())
	require.NoError(t, s.db.Compact(t.Context(), []byte{0}, []byte{0xff, 0xff}, false))
}

// TestSingleDeleteMisuseIsCounted: the check of the rule of
// Batch.singleDel works (a key set twice, then single-deleted).
func TestSingleDeleteMisuseIsCounted(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	k := []byte("w-misuse")
	commit(t, s, func(b *Batch) { b.setRaw(k, []byte("1")) })
	commit(t, s, func(b *Batch) { b.setRaw(k, []byte("2")) })
	commit(t, s, func(b *Batch) { b.singleDel(k) })
	settle(t, s)
	require.Positive(t, s.Stats().SingleDeleteMisuse)
}

// timerKeys returns the decoded timer entries of the store.
func timerKeys(t *testing.T, s *Store) []Timer {
	t.Helper()
	all, _, err := s.DueTimers(time.Unix(0, 1<<62), -1)
	require.NoError(t, err)
	return all
}

func requireTimers(t *testing.T, want, got []Timer) {
	t.Helper()
	require.Len(t, got, len(want), "%v", got)
	for i := range want {
		require.True(t, want[i].Due.Equal(got[i].Due), "%d: due %v, want %v", i, got[i].Due, want[i].Due)
		g := got[i]
		g.Due = want[i].Due
		require.Equal(t, want[i], g, "%d", i)
	}
}

func TestDurableTimers(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	wsA, wsB := idOf('w', 1), idOf('w', 2)
	a := newConv(wsA, 1, t0)
	a.AIResumesAt = at(15 * time.Minute)
	a.FollowUpAt = at(time.Hour)
	bc := newConv(wsB, 2, t0)
	bc.AIResumesAt = at(10 * time.Minute)
	c := newConv(wsA, 3, t0) // no timers
	putConvs(t, s, []engine.Conversation{a, bc, c})

	tm := func(d time.Duration, k TimerKind, x engine.Conversation) Timer {
		return Timer{Due: at(d), Kind: k, WorkspaceID: x.WorkspaceID, ConversationID: x.ID}
	}
	requireTimers(t, []Timer{
		tm(10*time.Minute, TimerAIResume, bc),
		tm(15*time.Minute, TimerAIResume, a),
		tm(time.Hour, TimerFollowUp, a),
	}, timerKeys(t, s))

	due, next, err := s.DueTimers(t0, 10)
	require.NoError(t, err)
	require.Empty(t, due)
	require.True(t, next.Equal(at(10*time.Minute)), "%v", next)

	// Due exactly at now counts.
	due, next, err = s.DueTimers(at(10*time.Minute), 10)
	require.NoError(t, err)
	requireTimers(t, []Timer{tm(10*time.Minute, TimerAIResume, bc)}, due)
	require.True(t, next.Equal(at(15*time.Minute)), "%v", next)

	// The limit holds back the rest; next says when the first held back is due.
	due, next, err = s.DueTimers(at(2*time.Hour), 2)
	require.NoError(t, err)
	requireTimers(t, []Timer{tm(10*time.Minute, TimerAIResume, bc), tm(15*time.Minute, TimerAIResume, a)}, due)
	require.True(t, next.Equal(at(time.Hour)), "%v", next)

	due, next, err = s.DueTimers(at(2*time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, due, 3)
	require.True(t, next.IsZero())

	// Moving a deadline moves its entry; the old one is gone.
	old := a.Clone()
	a.AIResumesAt = at(20 * time.Minute)
	commit(t, s, func(b *Batch) { b.PutConversation(&old, &a) })
	requireTimers(t, []Timer{
		tm(10*time.Minute, TimerAIResume, bc),
		tm(20*time.Minute, TimerAIResume, a),
		tm(time.Hour, TimerFollowUp, a),
	}, timerKeys(t, s))
	due, next, err = s.DueTimers(at(15*time.Minute), 10)
	require.NoError(t, err)
	requireTimers(t, []Timer{tm(10*time.Minute, TimerAIResume, bc)}, due)
	require.True(t, next.Equal(at(20*time.Minute)), "%v", next)

	// The same instant in another location is no move.
	old = a.Clone()
	a.FollowUpAt = a.FollowUpAt.In(time.FixedZone("X", 3600))
	b := s.NewBatch()
	b.PutConversation(&old, &a)
	require.Equal(t, uint32(1), b.b.Count(), "only the header")
	require.NoError(t, s.Commit(b))

	// Clearing a deadline removes its entry; setting one on c adds it.
	old = a.Clone()
	a.AIResumesAt = time.Time{}
	oldC := c.Clone()
	c.FollowUpAt = at(5 * time.Minute)
	commit(t, s, func(b *Batch) {
		b.PutConversation(&old, &a)
		b.PutConversation(&oldC, &c)
	})
	requireTimers(t, []Timer{
		tm(5*time.Minute, TimerFollowUp, c),
		tm(10*time.Minute, TimerAIResume, bc),
		tm(time.Hour, TimerFollowUp, a),
	}, timerKeys(t, s))

	// A fired timer is deleted through the Timer DueTimers returned.
	due, _, err = s.DueTimers(at(10*time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, due, 2)
	commit(t, s, func(b *Batch) {
		for _, x := range due {
			b.DeleteTimer(x)
		}
	})
	requireTimers(t, []Timer{tm(time.Hour, TimerFollowUp, a)}, timerKeys(t, s))
	require.Len(t, rawKeys(t, s, timerPrefix), 1)
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	wsA, wsB := idOf('w', 1), idOf('w', 2)
	c1, c2 := idOf('c', 1), idOf('c', 2)
	out, err := s.Outbox()
	require.NoError(t, err)
	require.Empty(t, out)
	commit(t, s, func(b *Batch) {
		b.PutOutbox(wsB, c1, 1)
		b.PutOutbox(wsA, c2, 7)
		b.PutOutbox(wsA, c1, 300)
		b.PutOutbox(wsA, c1, 2)
	})
	out, err = s.Outbox()
	require.NoError(t, err)
	require.Equal(t, []OutboxEntry{
		{WorkspaceID: wsA, ConversationID: c1, Seq: 2},
		{WorkspaceID: wsA, ConversationID: c1, Seq: 300},
		{WorkspaceID: wsA, ConversationID: c2, Seq: 7},
		{WorkspaceID: wsB, ConversationID: c1, Seq: 1},
	}, out)
	commit(t, s, func(b *Batch) {
		b.DeleteOutbox(wsA, c1, 300)
		b.DeleteOutbox(wsB, c1, 1)
		b.DeleteOutbox(wsB, c1, 99) // absent: no error
	})
	out, err = s.Outbox()
	require.NoError(t, err)
	require.Equal(t, []OutboxEntry{
		{WorkspaceID: wsA, ConversationID: c1, Seq: 2},
		{WorkspaceID: wsA, ConversationID: c2, Seq: 7},
	}, out)
}

// An outbox entry keeps its count of failed attempts across a reopen; a
// new PutOutbox (a retry by a person) starts the count again, and an
// unreadable count reads as none rather than losing the entry.
func TestOutboxAttempts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	ws, c := idOf('w', 1), idOf('c', 1)
	commit(t, s, func(b *Batch) {
		b.PutOutbox(ws, c, 1)
		b.PutOutbox(ws, c, 2)
		b.PutOutbox(ws, c, 3)
	})
	commit(t, s, func(b *Batch) {
		b.PutOutboxAttempts(ws, c, 1, 3)
		b.PutOutboxAttempts(ws, c, 2, 1)
	})
	commit(t, s, func(b *Batch) { b.PutOutbox(ws, c, 2) })
	require.NoError(t, s.db.Set(outboxKey(ws, c, 3), []byte{recordVersion, '{'}, pebble.Sync))
	require.NoError(t, s.Close())
	s, err = Open(Options{Dir: dir})
	require.NoError(t, err)
	defer s.Close()
	out, err := s.Outbox()
	require.NoError(t, err)
	require.Equal(t, []OutboxEntry{
		{WorkspaceID: ws, ConversationID: c, Seq: 1, Attempts: 3},
		{WorkspaceID: ws, ConversationID: c, Seq: 2},
		{WorkspaceID: ws, ConversationID: c, Seq: 3},
	}, out)
}

func TestOrphanStatuses(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	rep := func(id string, st engine.DeliveryStatus, d time.Duration) engine.StatusReport {
		return engine.StatusReport{WorkspaceID: ws, Channel: engine.ChannelWhatsApp, ChannelMessageID: id,
			Status: st, At: at(d), ErrorCode: "e-" + string(st)}
	}
	r1 := rep("m1", engine.StatusRead, 3*time.Second)
	r2 := rep("m1", engine.StatusDelivered, 2*time.Second)
	r3 := rep("m10", engine.StatusSent, time.Second)
	r4 := rep("m1", engine.StatusSent, time.Second)
	r4.Channel = engine.ChannelMessenger
	commit(t, s, func(b *Batch) {
		b.PutOrphanStatus(&r1, 20)
		b.PutOrphanStatus(&r2, 10)
		b.PutOrphanStatus(&r3, 5)
		b.PutOrphanStatus(&r4, 1)
	})
	got, err := s.OrphanStatuses(ws, engine.ChannelWhatsApp, "m1")
	require.NoError(t, err)
	require.Equal(t, []engine.StatusReport{r2, r1}, got, "ordered by seqNo, m10 not included")
	got, err = s.OrphanStatuses(ws, engine.ChannelWhatsApp, "m")
	require.NoError(t, err)
	require.Empty(t, got)

	commit(t, s, func(b *Batch) { b.DeleteOrphans(ws, engine.ChannelWhatsApp, "m1") })
	got, err = s.OrphanStatuses(ws, engine.ChannelWhatsApp, "m1")
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = s.OrphanStatuses(ws, engine.ChannelWhatsApp, "m10")
	require.NoError(t, err)
	require.Equal(t, []engine.StatusReport{r3}, got)
	got, err = s.OrphanStatuses(ws, engine.ChannelMessenger, "m1")
	require.NoError(t, err)
	require.Equal(t, []engine.StatusReport{r4}, got)
}

// TestDeleteConversation: deleting a conversation leaves nothing of it
// under the workspace prefix or in the system space; the contact stays,
// and the neighbours are untouched.
func TestDeleteConversation(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws, wsOther := idOf('w', 1), idOf('w', 2)
	c := newConv(ws, 1, t0)
	c.Tags = []string{"vip", "billing"}
	c.UnreadCount = 2
	c.AssigneeID = "u1"
	c.Mode = engine.ModeManual
	c.AIResumesAt = at(15 * time.Minute)
	c.FollowUpAt = at(time.Hour)
	ct := engine.Contact{ID: c.ContactID, WorkspaceID: ws, Source: engine.SourceChat,
		Identities: []engine.Identity{{Channel: c.Channel, ExternalID: c.ExternalUserID}, {Channel: engine.ChannelEmail, ExternalID: "a@x"}}}
	commit(t, s, func(b *Batch) {
		b.PutContact(nil, &ct)
		b.PutConversation(nil, &c)
		for seq := uint64(1); seq <= 30; seq++ {
			ext := ""
			if seq%3 != 0 {
				ext = fmt.Sprintf("wamid.%d", seq)
			}
			m := newMsg(&c, seq, ext)
			b.PutMessage(&m, c.Channel)
		}
		b.PutOutbox(ws, c.ID, 29)
		b.PutOutbox(ws, c.ID, 30)
	})
	// A neighbour in another workspace with the same conversation id.
	other := c.Clone()
	other.WorkspaceID = wsOther
	commit(t, s, func(b *Batch) {
		b.PutConversation(nil, &other)
		m := newMsg(&other, 1, "wamid.1")
		b.PutMessage(&m, other.Channel)
		b.PutOutbox(wsOther, other.ID, 1)
	})
	otherKeys := workspaceKeys(t, s, wsOther)
	require.Greater(t, len(workspaceKeys(t, s, ws)), 30+20+2)
	require.Len(t, conversationSystemKeys(t, s), 2+2+2+1)

	chIDs, err := s.ChannelMessageIDs(ws, c.ID)
	require.NoError(t, err)
	require.Len(t, chIDs, 20)
	commit(t, s, func(b *Batch) { b.DeleteConversation(&c, chIDs) })

	want := [][]byte{contactKey(ws, ct.ID)}
	for _, id := range ct.Identities {
		want = append(want, identityKey(ws, id.Channel, id.ExternalID))
	}
	for _, tok := range ct.SearchTokens() {
		want = append(want, contactTokenKey(ws, tok, ct.ID))
	}
	for _, k := range engine.ContactKeys(&ct) {
		want = append(want, contactKeyKey(ws, k, ct.ID))
	}
	slices.SortFunc(want, bytes.Compare)
	require.Equal(t, want, workspaceKeys(t, s, ws), "only the contact's keys remain")
	for _, dim := range []string{DimAll, DimUnread, "ch:whatsapp"} {
		n, err := s.Count(ws, c.Folder, dim)
		require.NoError(t, err)
		require.Zero(t, n, "counter %s after delete", dim)
	}
	require.Equal(t, otherKeys, workspaceKeys(t, s, wsOther))
	for _, k := range conversationSystemKeys(t, s) {
		require.NotEqual(t, ws, systemKeyWorkspace(t, k), "system key %x of the deleted conversation", k)
	}
	require.Len(t, conversationSystemKeys(t, s), 2+1, "the other workspace's timers and outbox")

	_, err = s.Conversation(ws, c.ID)
	require.ErrorIs(t, err, ErrNotFound)
	msgs, err := s.Messages(ws, c.ID, 0, 100)
	require.NoError(t, err)
	require.Empty(t, msgs)
	_, ok, err := s.LookupChannelMessage(ws, c.Channel, "wamid.1")
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = s.LookupThread(ws, c.ChannelAccountID, c.ExternalUserID)
	require.NoError(t, err)
	require.False(t, ok)
	page, err := s.List(ws, ListQuery{Folder: engine.FolderOpen})
	require.NoError(t, err)
	require.Empty(t, page.Conversations)
	due, _, err := s.DueTimers(at(48*time.Hour), 10)
	require.NoError(t, err)
	for _, x := range due {
		require.NotEqual(t, ws, x.WorkspaceID)
	}
	out, err := s.Outbox()
	require.NoError(t, err)
	require.Equal(t, []OutboxEntry{{WorkspaceID: wsOther, ConversationID: other.ID, Seq: 1}}, out)
	cid, ok, err := s.ContactByIdentity(ws, c.Channel, c.ExternalUserID)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ct.ID, cid)
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	t.Parallel()
	s, err := Open(Options{Dir: t.TempDir()})
	require.NoError(t, err)
	ws := idOf('w', 1)
	c := newConv(ws, 1, t0)
	commit(t, s, func(b *Batch) { b.PutConversation(nil, &c) })
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())

	b := s.NewBatch()
	b.PutConversation(nil, &c)
	require.ErrorIs(t, s.Commit(b), ErrClosed)
	require.NoError(t, s.Commit(nil), "a nil batch has nothing to write")

	checks := map[string]func() error{
		"Conversation": func() error { _, err := s.Conversation(ws, c.ID); return err },
		"Message":      func() error { _, err := s.Message(ws, c.ID, 1); return err },
		"Messages":     func() error { _, err := s.Messages(ws, c.ID, 0, 10); return err },
		"ChannelMessageIDs": func() error {
			_, err := s.ChannelMessageIDs(ws, c.ID)
			return err
		},
		"LookupChannelMessage": func() error {
			_, _, err := s.LookupChannelMessage(ws, c.Channel, "x")
			return err
		},
		"LookupThread": func() error { _, _, err := s.LookupThread(ws, "a", "u"); return err },
		"Contact":      func() error { _, err := s.Contact(ws, c.ContactID); return err },
		"ContactByIdentity": func() error {
			_, _, err := s.ContactByIdentity(ws, c.Channel, "x")
			return err
		},
		"OrphanStatuses": func() error {
			_, err := s.OrphanStatuses(ws, c.Channel, "x")
			return err
		},
		"List":               func() error { _, err := s.List(ws, ListQuery{Folder: engine.FolderOpen}); return err },
		"DueTimers":          func() error { _, _, err := s.DueTimers(t0, 10); return err },
		"Outbox":             func() error { _, err := s.Outbox(); return err },
		"CountConversations": func() error { _, err := s.CountConversations(ws); return err },
	}
	for name, f := range checks {
		require.ErrorIs(t, f(), ErrClosed, name)
	}
}

// TestConcurrentCommits: 64 goroutines committing at once all land, and
// the committers grouped some of them into shared synced writes.
func TestConcurrentCommits(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	const writers, each = 64, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				c := newConv(ws, w*each+i, at(time.Duration(w*each+i)))
				m := newMsg(&c, 1, fmt.Sprintf("ext-%d", w*each+i))
				b := s.NewBatch()
				b.PutConversation(nil, &c)
				b.PutMessage(&m, c.Channel)
				errs <- s.Commit(b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := s.Stats()
	require.Equal(t, uint64(writers*each), st.Commits)
	require.Less(t, st.Groups, st.Commits, "no commit was grouped: %+v", st)
	t.Logf("%+v", st)

	n, err := s.CountConversations(ws)
	require.NoError(t, err)
	require.Equal(t, writers*each, n)
	for i := range writers * each {
		ref, ok, err := s.LookupChannelMessage(ws, engine.ChannelWhatsApp, fmt.Sprintf("ext-%d", i))
		require.NoError(t, err)
		require.True(t, ok, i)
		require.Equal(t, idOf('c', i), ref.ConversationID)
	}
	all, _ := listAll(t, s, ws, ListQuery{Folder: engine.FolderOpen, Limit: 500})
	require.Len(t, all, writers*each)
}

// TestCommitReportsBatchErrors: a batch that could not be built is
// refused by Commit, so nobody is told "stored" for a record that is not.
func TestCommitReportsBatchErrors(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	bad := newConv(ws, 1, t0)
	bad.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // JSON cannot encode it
	good := newConv(ws, 2, t0)
	badMsg := newMsg(&good, 1, "wamid.bad")
	badMsg.CreatedAt = bad.CreatedAt

	for _, tc := range []struct {
		name string
		fill func(b *Batch)
	}{
		{"bad record after a good one", func(b *Batch) {
			b.PutConversation(nil, &good)
			b.PutConversation(nil, &bad)
		}},
		{"bad conversation first", func(b *Batch) { b.PutConversation(nil, &bad) }},
		{"bad message first", func(b *Batch) {
			b.PutMessage(&badMsg, good.Channel)
			b.PutConversation(nil, &good)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := s.NewBatch()
			tc.fill(b)
			require.Error(t, b.Err())
			err := s.Commit(b)
			require.Error(t, err, "Commit acknowledged a batch that failed to build")
			for _, id := range []engine.ID{bad.ID, good.ID} {
				_, err := s.Conversation(ws, id)
				require.ErrorIs(t, err, ErrNotFound)
			}
			_, ok, err := s.LookupChannelMessage(ws, good.Channel, "wamid.bad")
			require.NoError(t, err)
			require.False(t, ok)
		})
	}
}

// TestCommitRacingClose: Commits that race Close all return (nil or
// ErrClosed), and each one acknowledged is there after reopening. The
// window this looks for is narrow; TestCommitRacingCloseStress (no -race)
// tries it many more times.
func TestCommitRacingClose(t *testing.T) {
	t.Parallel()
	for it := range 5 {
		raceCommitsWithClose(t, it, true)
	}
}

// raceCommitsWithClose runs 64 writers committing in a loop, closes the
// store under them, and requires that every Commit returns. With verify,
// it reopens the store to check that every acknowledged batch is there.
func raceCommitsWithClose(t *testing.T, it int, verify bool) {
	t.Helper()
	fs := vfs.NewMem()
	s, err := Open(Options{Dir: "/db", FS: fs, Committers: 1})
	require.NoError(t, err)
	ws := idOf('w', 1)
	const writers = 64
	var (
		wg      sync.WaitGroup
		started atomic.Int32
		all     = make(chan struct{})
		ackedMu sync.Mutex
		acked   []engine.ID
	)
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				c := newConv(ws, w*1_000_000+i, t0)
				b := s.NewBatch()
				b.PutConversation(nil, &c)
				err := s.Commit(b)
				if i == 0 && started.Add(1) == writers {
					close(all)
				}
				switch {
				case err == nil:
					ackedMu.Lock()
					acked = append(acked, c.ID)
					ackedMu.Unlock()
				case errors.Is(err, ErrClosed):
					return
				default:
					t.Errorf("commit: %v", err)
					return
				}
			}
		})
	}
	<-all
	require.NoError(t, s.Close())
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("iteration %d: a Commit racing Close never returned: it passed the closed check "+
			"before Close, then put its request on the queue after the committers had stopped", it)
	}
	if !verify {
		return
	}

	s, err = Open(Options{Dir: "/db", FS: fs})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	for _, id := range acked {
		_, err := s.Conversation(ws, id)
		require.NoError(t, err, "iteration %d: acknowledged %s", it, id)
	}
}

// TestCommitUngrouped: the benchmarks' direct path writes the same way
// and refuses what Commit refuses.
func TestCommitUngrouped(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, t0)
	m := newMsg(&c, 1, "wamid.1")
	b := s.NewBatch()
	b.PutConversation(nil, &c)
	b.PutMessage(&m, c.Channel)
	require.NoError(t, s.CommitUngrouped(b))
	got, err := s.Conversation(ws, c.ID)
	require.NoError(t, err)
	require.Equal(t, c, got)
	_, ok, err := s.LookupChannelMessage(ws, c.Channel, "wamid.1")
	require.NoError(t, err)
	require.True(t, ok)

	bad := newConv(ws, 2, t0)
	bad.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	b = s.NewBatch()
	b.PutConversation(nil, &bad)
	require.Error(t, s.CommitUngrouped(b))
	_, err = s.Conversation(ws, bad.ID)
	require.ErrorIs(t, err, ErrNotFound)
}

// TestCommitUngroupedAfterClose: like every other operation,
// CommitUngrouped after Close returns ErrClosed rather than reaching the
// closed Pebble (which panics).
func TestCommitUngroupedAfterClose(t *testing.T) {
	t.Parallel()
	s, err := Open(Options{Dir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	c := newConv(idOf('w', 1), 1, t0)
	b := s.NewBatch()
	b.PutConversation(nil, &c)
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panicked: %v", p)
			}
		}()
		return s.CommitUngrouped(b)
	}()
	require.ErrorIs(t, err, ErrClosed)
}

// TestListRacingWrites: a List that runs while conversations are deleted
// and moved between folders returns what one consistent state of the store
// holds: no error for a header deleted under it, and no conversation of
// another folder. List walks the index with a Pebble iterator (a point in
// time) but reads each header with a plain Get (the latest state), so
// without a snapshot the two disagree.
func TestListRacingWrites(t *testing.T) {
	t.Parallel()
	s, err := Open(Options{Dir: "/db", FS: vfs.NewMem(), NoSync: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	ws := idOf('w', 1)
	var filler []engine.Conversation
	for i := range 20 {
		filler = append(filler, newConv(ws, 100+i, t0))
	}
	putConvs(t, s, filler)

	// x is created and deleted, y moves between open and solved; both are
	// the oldest in the folder, so List reads their headers last.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		x := newConv(ws, 1, at(-time.Hour))
		y := newConv(ws, 2, at(-time.Hour))
		put := func(fill func(b *Batch)) bool {
			b := s.NewBatch()
			fill(b)
			if err := s.Commit(b); err != nil {
				t.Errorf("commit: %v", err)
				return false
			}
			return true
		}
		if !put(func(b *Batch) { b.PutConversation(nil, &y) }) {
			return
		}
		other := map[engine.Folder]engine.Folder{engine.FolderOpen: engine.FolderSolved, engine.FolderSolved: engine.FolderOpen}
		for {
			select {
			case <-stop:
				return
			default:
			}
			old := y.Clone()
			y.Folder = other[y.Folder]
			if !put(func(b *Batch) { b.PutConversation(nil, &x) }) ||
				!put(func(b *Batch) { b.DeleteConversation(&x, nil) }) ||
				!put(func(b *Batch) { b.PutConversation(&old, &y) }) {
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stop)

	deadline := time.Now().Add(2 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		page, err := s.List(ws, ListQuery{Folder: engine.FolderOpen})
		require.NoError(t, err, "list %d", i)
		for _, c := range page.Conversations {
			require.Equal(t, engine.FolderOpen, c.Folder, "list %d returned %s", i, c.ID)
		}
	}
}

// TestBlockCacheServesReads: repeated reads of the same record are served
// from Pebble's block cache once the store has run for a while. Pebble
// reserves the size of its memtables in the block cache; each memtable
// rotation doubles the next memtable's size up to Options.MemTableSize, so
// after a few flushes a store whose cache is no larger than its memtable
// has no room left for blocks, and every Get reads and decompresses from
// disk.
func TestBlockCacheServesReads(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ws := idOf('w', 1)
	c := newConv(ws, 1, t0)
	commit(t, s, func(b *Batch) { b.PutConversation(nil, &c) })
	// Write until the memtable has grown to its full size, as sustained
	// ingest does (each rotation doubles it, from 256 KiB).
	val := make([]byte, 1<<20)
	for i := 0; s.DB().Metrics().MemTable.Size < 64<<20; i++ {
		require.Less(t, i, 1000, "the memtable never grew")
		require.NoError(t, s.DB().Set(fmt.Appendf(nil, "zz%d", i), val, nil))
	}
	require.NoError(t, s.DB().Flush())
	before := s.DB().Metrics().BlockCache
	for range 100 {
		_, err := s.Conversation(ws, c.ID)
		require.NoError(t, err)
	}
	after := s.DB().Metrics().BlockCache
	require.Greater(t, after.Hits-before.Hits, int64(90),
		"block cache hits %d, misses %d over 100 reads of one record", after.Hits-before.Hits, after.Misses-before.Misses)
}
