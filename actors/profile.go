package actors

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// profileNameMsg gives a conversation the name its channel's user profile
// API has for the contact.
type profileNameMsg struct {
	name  string
	reply chan error
}

// Unnamed reports whether a conversation's contact name is missing or
// only the channel's id of the user, which the channel's profile API may
// replace.
func Unnamed(contactName, externalUserID string) bool {
	return contactName == "" || contactName == externalUserID
}

// RenameFromProfile names a conversation, and its contact, with the name
// the channel's user profile API gave, and returns once it is committed.
// It changes nothing when the conversation has got a name meanwhile, and
// the contact keeps a name a person gave it (the rule inbound names
// follow). The gateway's profile fetcher calls it after ingest; it is the
// one entry point for names from profiles.
func (rt *Runtime) RenameFromProfile(ctx context.Context, ws, conv engine.ID, name string) error {
	if name == "" || len(name) > 256 || !utf8.ValidString(name) {
		return fmt.Errorf("%w: bad profile name", engine.ErrInvalid)
	}
	if err := rt.enter(); err != nil {
		return err
	}
	defer rt.ops.Done()
	msg := &profileNameMsg{name: name, reply: make(chan error, 1)}
	rt.dir.send(ws, conv, msg)
	select {
	case err := <-msg.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// profileName applies a profile name in one batch: the contact through
// renameContact (unless a person renamed it), then the header.
func (a *conversationActor) profileName(m *profileNameMsg) error {
	if a.conv == nil {
		return ErrNotFound
	}
	if !Unnamed(a.conv.ContactName, a.conv.ExternalUserID) {
		return nil
	}
	t := a.begin()
	if err := t.renameContact(t.cur.ContactName, m.name); err != nil {
		t.abort()
		return err
	}
	if _, err := t.apply(engine.UpdateContactName{Name: m.name}); err != nil {
		t.abort()
		return err
	}
	if err := t.commit(); err != nil {
		t.abort()
		return err
	}
	return nil
}
