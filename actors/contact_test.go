package actors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// RenameFromProfile, the entry point for a profile name fetched from a
// channel, renames a contact nobody named, reaches the conversation's
// header, and leaves a name a person gave alone.
func TestRenameFromProfile(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	conv := h.say("u1", "m1", "hi")
	contact := h.conv(conv).ContactID

	ct, renamed, err := h.rt.RenameFromProfile(ctx, h.ws, conv, "Graph Name")
	require.NoError(t, err)
	require.True(t, renamed)
	require.Equal(t, "Graph Name", ct.Profile.Name)
	eventually(t, 5*time.Second, func() error {
		if n := h.conv(conv).ContactName; n != "Graph Name" {
			return fmt.Errorf("header %q", n)
		}
		return nil
	})

	_, err = h.rt.UpdateContact(ctx, h.ws, contact, engine.ContactPatch{Name: ptr("Given Name")})
	require.NoError(t, err)
	ct, renamed, err = h.rt.RenameFromProfile(ctx, h.ws, conv, "Another Graph Name")
	require.NoError(t, err)
	require.False(t, renamed, "a person named the contact")
	require.Equal(t, "Given Name", ct.Profile.Name)
	require.Equal(t, "Another Graph Name", ct.ChannelName)

	_, _, err = h.rt.RenameFromProfile(ctx, h.ws, engine.NewID(h.clock.Now()), "x")
	require.ErrorIs(t, err, actors.ErrNotFound)
	_, _, err = h.rt.RenameFromProfile(ctx, h.ws, conv, "bad\nname")
	require.ErrorIs(t, err, engine.ErrInvalid)
}

// Two merges of one pair in opposite directions at once: the contact
// actors never wait on each other, one merge wins and the other finds its
// contact gone.
func TestOppositeMergesDoNotDeadlock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for round := range 20 {
		a := h.conv(h.say(fmt.Sprintf("a%d", round), fmt.Sprintf("ma%d", round), "hi")).ContactID
		b := h.conv(h.say(fmt.Sprintf("b%d", round), fmt.Sprintf("mb%d", round), "hi")).ContactID
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { _, errs[0] = h.rt.MergeContacts(ctx, h.ws, a, b) })
		wg.Go(func() { _, errs[1] = h.rt.MergeContacts(ctx, h.ws, b, a) })
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, actors.ErrContactNotFound), errors.Is(err, actors.ErrMergeSourceNotFound):
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		require.Equal(t, 1, ok, "round %d: %v", round, errs)
	}
}

// Contact actors passivate like conversation actors and come back from
// disk with the contact as committed.
func TestContactActorPassivates(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *actors.Config) { c.Registerer = reg })
	ctx := context.Background()
	now := h.clock.Now()
	c, err := engine.NewContact(engine.NewID(now), h.ws, engine.SourceManual, engine.ContactPatch{Name: ptr("Ana")}, now)
	require.NoError(t, err)
	_, err = h.rt.CreateContact(ctx, c)
	require.NoError(t, err)
	_, err = h.rt.CreateContact(ctx, c)
	require.ErrorIs(t, err, actors.ErrContactExists)
	require.Equal(t, float64(1), testutil.ToFloat64(metric(t, reg, "parley_actors_contacts_active")))
	// The actor counts itself idle once its Receive returns, just after
	// its answer: a passivation may have to come again to find it so.
	require.Eventually(t, func() bool {
		h.rt.PassivateIdle(h.clock.Now().Add(time.Hour))
		return testutil.ToFloat64(metric(t, reg, "parley_actors_contacts_active")) == 0
	}, 5*time.Second, time.Millisecond)
	got, err := h.rt.UpdateContact(ctx, h.ws, c.ID, engine.ContactPatch{Company: ptr("Acme")})
	require.NoError(t, err)
	require.Equal(t, "Ana", got.Profile.Name)
	require.Equal(t, "Acme", got.Profile.Company)
	_, err = h.rt.UpdateContact(ctx, h.ws, engine.NewID(now), engine.ContactPatch{Company: ptr("Acme")})
	require.ErrorIs(t, err, actors.ErrContactNotFound)
}

func ptr(s string) *string { return &s }
