package actors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// A stage removed while contacts move into it: either the removal is
// refused (ErrStageInUse) or the moves are (the stage is gone), never a
// pipeline without the stage and contacts standing in it. The hook
// widens the window between each check and its commit; without the
// pipelines' lock the removal's check sees the stage empty, the moves'
// see it there, and both commit.
func TestStageRemovalRace(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	ps, err := h.rt.Pipelines(h.ws)
	require.NoError(t, err)
	p := ps[0]
	lost := p.Stages[3].ID
	var movesInside, removeInside, overlap atomic.Int32
	actors.SetStageChecked(t, func(is string) {
		mine, other := &movesInside, &removeInside
		if is == "remove" {
			mine, other = &removeInside, &movesInside
		}
		mine.Add(1)
		if other.Load() > 0 {
			overlap.Add(1)
		}
		time.Sleep(20 * time.Millisecond)
		if other.Load() > 0 {
			overlap.Add(1)
		}
		mine.Add(-1)
	})
	const n = 8
	now := h.clock.Now()
	ids := make([]engine.ID, n)
	for i := range ids {
		c, err := engine.NewContact(engine.NewID(now), h.ws, engine.SourceManual, engine.ContactPatch{Name: ptr(fmt.Sprintf("Racer %d", i))}, now)
		require.NoError(t, err)
		_, err = h.rt.CreateContact(ctx, c)
		require.NoError(t, err)
		ids[i] = c.ID
	}
	keep := []engine.StageSpec{}
	for _, s := range p.Stages[:3] {
		keep = append(keep, engine.StageSpec(s))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	moveErrs := make([]error, n)
	var removeErr error
	for i := range ids {
		wg.Go(func() {
			<-start
			_, moveErrs[i] = h.rt.SetContactStage(ctx, h.ws, ids[i], &engine.ContactStage{StageID: lost}, nil)
		})
	}
	wg.Go(func() {
		<-start
		_, removeErr = h.rt.UpdatePipeline(h.ws, p.ID, engine.PipelineChange{Stages: &keep})
	})
	close(start)
	wg.Wait()

	require.Zero(t, overlap.Load(), "a removal and a move were between their checks and their commits at once")
	in, err := h.store.CountContactsInStage(h.ws, lost, n+1)
	require.NoError(t, err)
	now2, err := h.rt.Pipelines(h.ws)
	require.NoError(t, err)
	if removeErr == nil {
		require.Nil(t, now2[0].Stage(lost), "removed")
		require.Zero(t, in, "no contact stands in the removed stage")
		for i, err := range moveErrs {
			if err != nil {
				require.True(t, errors.Is(err, engine.ErrInvalid), "move %d: %v", i, err)
			}
		}
	} else {
		require.ErrorIs(t, removeErr, actors.ErrStageInUse)
		require.NotNil(t, now2[0].Stage(lost), "kept")
		require.Positive(t, in)
	}
	for _, id := range ids {
		c, err := h.store.Contact(h.ws, id)
		require.NoError(t, err)
		if c.Stage != nil {
			require.NotNil(t, now2[0].Stage(c.Stage.StageID), "contact %s stands in a stage of the pipeline", id)
		}
	}
}
