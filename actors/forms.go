package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/engine"
)

// FormApply is what a form submission does to its contact: the values'
// patch, and the form's optional stage, owner and tag. Sub is the
// submission to store (its ContactID and Created are filled in).
type FormApply struct {
	Patch engine.ContactPatch
	Stage *engine.ContactStage
	Owner *engine.ID
	Tag   string
	Sub   engine.FormSubmission
}

// SubmitForm applies a form submission to contact id through its actor:
// with create the contact is new (source form, engine.NewFormContact;
// ErrContactExists when the id is taken), else the patch updates it
// (engine.PatchContact; ErrContactNotFound when it is gone). The form's
// stage, owner and tag follow (a stage or owner no longer in the
// workspace is left out and logged), each change recorded in the
// contact's activity. One batch holds the contact, its activity entries
// and the submission (by form and by contact); after the commit
// contact.created or contact.updated and form.submitted are published.
func (rt *Runtime) SubmitForm(ctx context.Context, ws, id engine.ID, create bool, ap FormApply) (engine.Contact, engine.FormSubmission, error) {
	type result struct {
		c   engine.Contact
		sub engine.FormSubmission
	}
	v, err := rt.contactCall(ctx, ws, id, !create, "form", func(a *contactActor) (any, error) {
		rt.pipes.mu.RLock() // the stage stays while we commit (actors/pipelines.go)
		defer rt.pipes.mu.RUnlock()
		now := rt.clock.Now().UTC()
		var next engine.Contact
		var err error
		typ := engine.EventContactUpdated
		if create {
			if a.c != nil {
				return nil, ErrContactExists
			}
			typ = engine.EventContactCreated
			next, err = engine.NewFormContact(id, ws, ap.Patch, now)
		} else {
			cur, cerr := a.contact()
			if cerr != nil {
				return nil, cerr
			}
			next, err = engine.PatchContact(cur, ap.Patch, now)
		}
		if err != nil {
			return nil, err
		}
		var changes []engine.ContactChange
		if ap.Stage != nil {
			ps, err := rt.store.Pipelines(ws)
			if err != nil {
				return nil, err
			}
			n, ch, changed, err := engine.SetContactStage(next, ap.Stage, ps, nil, engine.NewID(now), now)
			switch {
			case errors.Is(err, engine.ErrInvalid):
				rt.log.Warn("A form's stage is gone; the submission sets none", "form", ap.Sub.FormID, "stage", ap.Stage.StageID)
			case err != nil:
				return nil, err
			case changed:
				next, changes = n, append(changes, ch)
			}
		}
		if ap.Owner != nil {
			users, err := rt.store.Users(ws)
			if err != nil {
				return nil, err
			}
			n, ch, changed, err := engine.SetContactOwner(next, ap.Owner, users, nil, engine.NewID(now), now)
			switch {
			case errors.Is(err, engine.ErrInvalid):
				rt.log.Warn("A form's owner is gone; the submission sets none", "form", ap.Sub.FormID, "owner", *ap.Owner)
			case err != nil:
				return nil, err
			case changed:
				next, changes = n, append(changes, ch)
			}
		}
		if ap.Tag != "" {
			if next, _, err = engine.AddContactTag(next, ap.Tag, now); err != nil {
				return nil, err
			}
		}
		engine.EnrichPhone(&next)
		sub := ap.Sub
		sub.ContactID, sub.Created = id, create
		b := rt.store.NewBatch()
		b.PutContact(a.c, &next)
		for i := range changes {
			b.PutContactChange(&changes[i])
		}
		b.PutFormSubmission(&sub)
		submitted := engine.Event{Type: engine.EventFormSubmitted, WorkspaceID: ws, At: now,
			Data: engine.FormSubmitted{FormID: sub.FormID, SubmissionID: sub.ID, ContactID: id, Created: create}}
		if err := a.commit(b, &next, rt.contactEvent(typ, &next), submitted); err != nil {
			return nil, fmt.Errorf("committing a form submission: %w", err)
		}
		return result{next, sub}, nil
	})
	if err != nil {
		return engine.Contact{}, engine.FormSubmission{}, err
	}
	r := v.(result)
	return r.c, r.sub, nil
}
