package persistence

import "github.com/parleyhq/parley/engine"

// Custom field definitions and the AI's writes on contacts. Keys, under
// the workspace prefix:
//
//	'w' ws 'f' id                            field definition (oldest first: ids are ULIDs)
//	'w' ws 'j' contact id                    AI contact write (oldest first)
//
// A store written before these existed simply has none: the prefixes
// need no migration. DeleteContact removes a contact's AI writes with
// it.
const (
	tFieldDef       = 'f'
	tAIContactWrite = 'j'
)

func fieldDefKey(ws, id engine.ID) []byte { return append(wsPrefix(ws, tFieldDef), id[:]...) }

// PutFieldDef writes field definition d (new or changed).
func (b *Batch) PutFieldDef(d *engine.FieldDef) { b.set(fieldDefKey(d.WorkspaceID, d.ID), d) }

// DeleteFieldDef removes field definition id of workspace ws. The
// contacts' values of the field are left as they are.
func (b *Batch) DeleteFieldDef(ws, id engine.ID) { b.del(fieldDefKey(ws, id)) }

// FieldDefs returns every field definition of a workspace, oldest first.
func (s *Store) FieldDefs(ws engine.ID) ([]engine.FieldDef, error) {
	return readAll[engine.FieldDef](s, wsPrefix(ws, tFieldDef), "field definitions")
}

func aiWritePrefix(ws, contact engine.ID) []byte {
	return append(wsPrefix(ws, tAIContactWrite), contact[:]...)
}

// PutAIContactWrite writes the record of an AI write on a contact.
func (b *Batch) PutAIContactWrite(w *engine.AIContactWrite) {
	b.set(append(aiWritePrefix(w.WorkspaceID, w.ContactID), w.ID[:]...), w)
}

// AIContactWrites returns the AI's writes on a contact, oldest first.
func (s *Store) AIContactWrites(ws, contact engine.ID) ([]engine.AIContactWrite, error) {
	return readAll[engine.AIContactWrite](s, aiWritePrefix(ws, contact), "AI writes of contact "+contact.String())
}

// deleteAIContactWrites removes every AI write record of a contact.
func (b *Batch) deleteAIContactWrites(ws, contact engine.ID) { b.delPrefix(aiWritePrefix(ws, contact)) }
