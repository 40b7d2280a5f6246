package actors_test

import (
	"testing"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// A name from the channel's profile API names an unnamed conversation and
// its contact in one commit, reports it in the ingest result's name, and
// changes nothing once the conversation has a name; a contact a person
// renamed keeps that name.
func TestRenameFromProfile(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	in := h.inbound("psid-1", "m-1", "hi")
	in.Channel, in.ContactName = engine.ChannelMessenger, ""
	res := h.ingest(in)
	require.NoError(t, res[0].Err)
	require.Empty(t, res[0].ContactName)
	conv := res[0].ConversationID
	ctx := t.Context()

	require.NoError(t, h.rt.RenameFromProfile(ctx, h.ws, conv, "Peter Chang"))
	c := h.conv(conv)
	require.Equal(t, "Peter Chang", c.ContactName)
	contact, err := h.store.Contact(h.ws, c.ContactID)
	require.NoError(t, err)
	require.Equal(t, "Peter Chang", contact.Profile.Name)

	require.NoError(t, h.rt.RenameFromProfile(ctx, h.ws, conv, "Someone Else"))
	require.Equal(t, "Peter Chang", h.conv(conv).ContactName, "a named conversation keeps its name")

	in.ChannelMessageID = "m-2"
	res = h.ingest(in)
	require.Equal(t, "Peter Chang", res[0].ContactName)

	// A contact named by a person (not the conversation's name) keeps it;
	// a conversation named only by the user's id is unnamed.
	in2 := h.inbound("psid-2", "m-3", "hi")
	in2.Channel, in2.ContactName = engine.ChannelMessenger, "psid-2"
	res = h.ingest(in2)
	require.True(t, actors.Unnamed(res[0].ContactName, "psid-2"))
	conv2 := res[0].ConversationID
	ct, err := h.store.Contact(h.ws, h.conv(conv2).ContactID)
	require.NoError(t, err)
	old := ct
	ct.Profile.Name = "VIP"
	b := h.store.NewBatch()
	b.PutContact(&old, &ct)
	require.NoError(t, h.store.Commit(b))
	require.NoError(t, h.rt.RenameFromProfile(ctx, h.ws, conv2, "Ana Lima"))
	require.Equal(t, "Ana Lima", h.conv(conv2).ContactName)
	ct, err = h.store.Contact(h.ws, ct.ID)
	require.NoError(t, err)
	require.Equal(t, "VIP", ct.Profile.Name)

	require.ErrorIs(t, h.rt.RenameFromProfile(ctx, h.ws, engine.NewID(t0), "X"), actors.ErrNotFound)
	require.ErrorIs(t, h.rt.RenameFromProfile(ctx, h.ws, conv, ""), engine.ErrInvalid)
	require.ErrorIs(t, h.rt.RenameFromProfile(ctx, h.ws, conv, "\xff"), engine.ErrInvalid)
}
