package persistence

import (
	"fmt"
	"slices"

	"github.com/parleyhq/parley/engine"
)

// Forms and their submissions. Keys, under the workspace prefix:
//
//	'w' ws '3' 'f' form                      form (oldest first: ids are ULIDs)
//	'w' ws '3' 's' form submission           submission, by form (oldest first)
//	'w' ws '3' 'c' contact submission        the same submission, by contact
//
// A submission never changes once written: its two records are written
// together in the batch of its contact's change (the contact's actor),
// so each list is a prefix scan. Deleting a form removes it and its
// submissions by form; the contact keeps its copies (what the person
// submitted stays on their record). Deleting a contact removes its
// copies. A store written before forms existed simply has none: the
// prefix needs no migration.
const tForm = '3'

// Sub-bytes under tForm.
const (
	formDef       = 'f'
	formByForm    = 's'
	formByContact = 'c'
)

func formPrefix(ws engine.ID, sub byte) []byte { return append(wsPrefix(ws, tForm), sub) }

func formKey(ws, id engine.ID) []byte { return append(formPrefix(ws, formDef), id[:]...) }

// PutForm writes form f (new or changed).
func (b *Batch) PutForm(f *engine.Form) { b.set(formKey(f.WorkspaceID, f.ID), f) }

// DeleteForm removes form id of workspace ws and its submissions by form.
func (b *Batch) DeleteForm(ws, id engine.ID) {
	b.del(formKey(ws, id))
	b.delPrefix(append(formPrefix(ws, formByForm), id[:]...))
}

// Forms returns every form of a workspace, oldest first.
func (s *Store) Forms(ws engine.ID) ([]engine.Form, error) {
	return readAll[engine.Form](s, formPrefix(ws, formDef), "forms")
}

// Form reads one form of a workspace (ErrNotFound when there is none).
func (s *Store) Form(ws, id engine.ID) (engine.Form, error) {
	var f engine.Form
	if err := s.get(formKey(ws, id), &f); err != nil {
		return engine.Form{}, fmt.Errorf("reading form %s: %w", id, err)
	}
	return f, nil
}

// PutFormSubmission writes submission sub, by form and by contact.
func (b *Batch) PutFormSubmission(sub *engine.FormSubmission) {
	k := append(append(formPrefix(sub.WorkspaceID, formByForm), sub.FormID[:]...), sub.ID[:]...)
	b.set(k, sub)
	k = append(append(formPrefix(sub.WorkspaceID, formByContact), sub.ContactID[:]...), sub.ID[:]...)
	b.set(k, sub)
}

// deleteContactSubmissions removes the submissions kept by contact.
func (b *Batch) deleteContactSubmissions(ws, contact engine.ID) {
	b.delPrefix(append(formPrefix(ws, formByContact), contact[:]...))
}

// FormSubmissions returns the submissions of form id, newest first, at
// most limit.
func (s *Store) FormSubmissions(ws, id engine.ID, limit int) ([]engine.FormSubmission, error) {
	return s.newestSubmissions(append(formPrefix(ws, formByForm), id[:]...), limit, "submissions of form "+id.String())
}

// ContactSubmissions returns the form submissions of contact id, newest
// first, at most limit.
func (s *Store) ContactSubmissions(ws, id engine.ID, limit int) ([]engine.FormSubmission, error) {
	return s.newestSubmissions(append(formPrefix(ws, formByContact), id[:]...), limit, "form submissions of contact "+id.String())
}

func (s *Store) newestSubmissions(p []byte, limit int, what string) ([]engine.FormSubmission, error) {
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []engine.FormSubmission{}
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		var r engine.FormSubmission
		if err := decode(it.Value(), &r); err != nil {
			return nil, fmt.Errorf("reading %s: %w", what, err)
		}
		out = append(out, r)
	}
	return slices.Clip(out), iterErr(it)
}
