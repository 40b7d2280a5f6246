package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// Pipelines: the runtime owns the workspaces' pipeline definitions
// (docs/ARCHITECTURE.md, "Who owns what"). Their changes run under
// pipelineDefs' write lock, which holds every read-check-write (the
// workspace's limit, no contact in a removed stage) together with its
// commit; a contact actor moving its contact to a stage holds the read
// lock from the check that the stage exists to its commit, so a stage
// is never removed under a contact moving into it.
//
// A workspace's default pipeline (engine.DefaultPipeline) is created on
// first use: the first read of a workspace that has none writes it. A
// store written before pipelines existed needs no migration.

// Pipeline errors.
var (
	// ErrStageInUse is returned when a change removes a stage, or a
	// pipeline, in which contacts stand.
	ErrStageInUse = errors.New("actors: contacts stand in the stage")
	// ErrLastPipeline is returned when the last pipeline of a workspace
	// would be deleted.
	ErrLastPipeline = errors.New("actors: a workspace keeps at least one pipeline")
	// ErrTooManyPipelines is returned when a workspace holds
	// engine.MaxPipelines already.
	ErrTooManyPipelines = errors.New("actors: too many pipelines")
)

// maxOwnerClear bounds how many contacts one RemoveOwner pass reads.
const maxOwnerClear = 1000

// stageChecked, when set (by a test), runs between a check about a
// stage and its commit: a pipeline change's check that no contact stands
// in the stages it removes, and a contact's move's check that its stage
// exists, with is "remove" or "move".
var stageChecked func(is string)

type pipelineDefs struct {
	mu sync.RWMutex
}

// Pipelines returns the pipelines of workspace ws, oldest first, creating
// the default one if the workspace has none yet.
func (rt *Runtime) Pipelines(ws engine.ID) ([]engine.Pipeline, error) {
	ps, err := rt.store.Pipelines(ws)
	if err != nil || len(ps) > 0 {
		return ps, err
	}
	rt.pipes.mu.Lock()
	defer rt.pipes.mu.Unlock()
	return rt.pipelinesLocked(ws)
}

// pipelinesLocked reads the pipelines of ws under the write lock and
// writes the default one when there is none.
func (rt *Runtime) pipelinesLocked(ws engine.ID) ([]engine.Pipeline, error) {
	ps, err := rt.store.Pipelines(ws)
	if err != nil || len(ps) > 0 {
		return ps, err
	}
	now := rt.clock.Now().UTC()
	ids := make([]engine.ID, len(engine.DefaultStageNames))
	for i := range ids {
		ids[i] = engine.NewID(now)
	}
	p := engine.DefaultPipeline(engine.NewID(now), ws, ids, now)
	b := rt.store.NewBatch()
	b.PutPipeline(&p)
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return nil, fmt.Errorf("creating the default pipeline: %w", err)
	}
	return []engine.Pipeline{p}, nil
}

// CreatePipeline stores a new pipeline built by change ch.
func (rt *Runtime) CreatePipeline(ws engine.ID, ch engine.PipelineChange) (engine.Pipeline, error) {
	rt.pipes.mu.Lock()
	defer rt.pipes.mu.Unlock()
	ps, err := rt.pipelinesLocked(ws)
	if err != nil {
		return engine.Pipeline{}, err
	}
	if len(ps) >= engine.MaxPipelines {
		return engine.Pipeline{}, ErrTooManyPipelines
	}
	now := rt.clock.Now().UTC()
	p, err := engine.ApplyPipeline(engine.Pipeline{ID: engine.NewID(now), WorkspaceID: ws, CreatedAt: now}, ch,
		func() engine.ID { return engine.NewID(now) }, now)
	if err != nil {
		return engine.Pipeline{}, err
	}
	return p, rt.commitPipeline(&p, nil)
}

// UpdatePipeline applies change ch to pipeline id; a stage it removes
// must be empty (ErrStageInUse).
func (rt *Runtime) UpdatePipeline(ws, id engine.ID, ch engine.PipelineChange) (engine.Pipeline, error) {
	rt.pipes.mu.Lock()
	defer rt.pipes.mu.Unlock()
	old, err := rt.pipelineLocked(ws, id)
	if err != nil {
		return engine.Pipeline{}, err
	}
	now := rt.clock.Now().UTC()
	p, err := engine.ApplyPipeline(old, ch, func() engine.ID { return engine.NewID(now) }, now)
	if err != nil {
		return engine.Pipeline{}, err
	}
	if err := rt.checkEmpty(ws, engine.RemovedStages(&old, &p)); err != nil {
		return engine.Pipeline{}, err
	}
	if stageChecked != nil {
		stageChecked("remove")
	}
	return p, rt.commitPipeline(&p, nil)
}

// DeletePipeline removes pipeline id, which no contact may stand in, and
// which must not be the workspace's last.
func (rt *Runtime) DeletePipeline(ws, id engine.ID) error {
	rt.pipes.mu.Lock()
	defer rt.pipes.mu.Unlock()
	old, err := rt.pipelineLocked(ws, id)
	if err != nil {
		return err
	}
	ps, err := rt.store.Pipelines(ws)
	if err != nil {
		return err
	}
	if len(ps) <= 1 {
		return ErrLastPipeline
	}
	if err := rt.checkEmpty(ws, engine.RemovedStages(&old, nil)); err != nil {
		return err
	}
	return rt.commitPipeline(nil, &old)
}

func (rt *Runtime) pipelineLocked(ws, id engine.ID) (engine.Pipeline, error) {
	ps, err := rt.pipelinesLocked(ws)
	if err != nil {
		return engine.Pipeline{}, err
	}
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return engine.Pipeline{}, fmt.Errorf("pipeline %s: %w", id, persistence.ErrNotFound)
}

func (rt *Runtime) checkEmpty(ws engine.ID, stages []engine.ID) error {
	for _, s := range stages {
		n, err := rt.store.CountContactsInStage(ws, s, 1)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: stage %s", ErrStageInUse, s)
		}
	}
	return nil
}

// commitPipeline writes put or deletes del, synced.
func (rt *Runtime) commitPipeline(put, del *engine.Pipeline) error {
	b := rt.store.NewBatch()
	if put != nil {
		b.PutPipeline(put)
	} else {
		b.DeletePipeline(del.WorkspaceID, del.ID)
	}
	if err := rt.store.Commit(b); err != nil {
		b.Close()
		return fmt.Errorf("committing a pipeline: %w", err)
	}
	return nil
}

// SetContactStage moves contact id to stage to (nil: out of any
// pipeline) through its actor (engine.SetContactStage): the change is
// recorded in the contact's activity, by user by, and contact.updated is
// published after the commit.
func (rt *Runtime) SetContactStage(ctx context.Context, ws, id engine.ID, to *engine.ContactStage, by *engine.ID) (engine.Contact, error) {
	return contactResult(rt.contactCall(ctx, ws, id, true, "stage", func(a *contactActor) (any, error) {
		rt.pipes.mu.RLock()
		defer rt.pipes.mu.RUnlock()
		cur, err := a.contact()
		if err != nil {
			return nil, err
		}
		ps, err := rt.store.Pipelines(ws)
		if err != nil {
			return nil, err
		}
		now := rt.clock.Now().UTC()
		next, ch, changed, err := engine.SetContactStage(cur, to, ps, by, engine.NewID(now), now)
		if err != nil || !changed {
			return next, err
		}
		if stageChecked != nil {
			stageChecked("move")
		}
		return a.putChange(next, &ch)
	}))
}

// SetContactOwner gives contact id owner to (nil: nobody), a user of the
// workspace, through its actor (engine.SetContactOwner), recorded in
// its activity and published as contact.updated.
func (rt *Runtime) SetContactOwner(ctx context.Context, ws, id engine.ID, to *engine.ID, by *engine.ID) (engine.Contact, error) {
	return contactResult(rt.contactCall(ctx, ws, id, true, "owner", func(a *contactActor) (any, error) {
		return a.setOwner(to, by)
	}))
}

func (a *contactActor) setOwner(to, by *engine.ID) (any, error) {
	cur, err := a.contact()
	if err != nil {
		return nil, err
	}
	users, err := a.rt.store.Users(a.ws)
	if err != nil {
		return nil, err
	}
	now := a.rt.clock.Now().UTC()
	next, ch, changed, err := engine.SetContactOwner(cur, to, users, by, engine.NewID(now), now)
	if err != nil || !changed {
		return next, err
	}
	return a.putChange(next, &ch)
}

// putChange commits next with its activity entry ch and publishes
// contact.updated.
func (a *contactActor) putChange(next engine.Contact, ch *engine.ContactChange) (engine.Contact, error) {
	b := a.rt.store.NewBatch()
	b.PutContact(a.c, &next)
	b.PutContactChange(ch)
	ev := a.rt.contactEvent(engine.EventContactUpdated, &next)
	ev.ContactChange = ch
	if err := a.commit(b, &next, ev); err != nil {
		return engine.Contact{}, err
	}
	return next, nil
}

// RemoveOwner takes the contacts owned by user, removed from workspace
// ws, from them: each through its actor, which checks that the user is
// gone (its owner is then nobody, recorded in its activity with no
// author). Call it after the user's removal is committed.
func (rt *Runtime) RemoveOwner(ctx context.Context, ws, user engine.ID) error {
	if _, err := rt.store.User(ws, user); !errors.Is(err, persistence.ErrNotFound) {
		return err // the user is still there (nil), or the read failed
	}
	for {
		ids, err := rt.store.ContactsOwnedBy(ws, user, maxOwnerClear)
		if err != nil {
			return fmt.Errorf("reading the contacts of a removed user: %w", err)
		}
		for _, id := range ids {
			_, err := rt.contactCall(ctx, ws, id, false, "owner removed", func(a *contactActor) (any, error) {
				if a.c == nil || a.c.OwnerID == nil || *a.c.OwnerID != user {
					return nil, nil
				}
				if _, err := rt.store.User(ws, user); !errors.Is(err, persistence.ErrNotFound) {
					return nil, err // the user is still there (or the read failed): keep the owner
				}
				return a.setOwner(nil, nil)
			})
			if err != nil {
				return fmt.Errorf("clearing the owner of contact %s: %w", id, err)
			}
		}
		if len(ids) < maxOwnerClear {
			return nil
		}
	}
}

// contactCRM names the stage and owner of contact c for the AI agent.
func (rt *Runtime) contactCRM(c *engine.Contact) (engine.ContactCRM, error) {
	ps, err := rt.store.Pipelines(c.WorkspaceID)
	if err != nil {
		return engine.ContactCRM{}, fmt.Errorf("reading the pipelines: %w", err)
	}
	users, err := rt.store.Users(c.WorkspaceID)
	if err != nil {
		return engine.ContactCRM{}, fmt.Errorf("reading the users: %w", err)
	}
	return engine.DescribeCRM(c, ps, users), nil
}
