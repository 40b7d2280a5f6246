package persistence

import (
	"errors"
	"fmt"
	"time"
)

// The cursor of an email account's IMAP mailbox, written only by that
// mailbox's poller (gateway/imap.go) after the mails up to it are stored:
//
//	's' '7' 'c' account-id folder           IMAPCursor (JSON)
const (
	tIMAP       = '7'
	imapCursors = 'c'
)

// IMAPCursor is how far an email account's mailbox was read: every mail
// of UIDValidity with a UID up to LastUID is stored.
type IMAPCursor struct {
	AccountID   string `json:"account_id"`
	Folder      string `json:"folder"`
	UIDValidity uint32 `json:"uid_validity"`
	LastUID     uint32 `json:"last_uid"`
	// At is when the cursor last moved.
	At time.Time `json:"at,omitzero"`
}

func imapCursorKey(accountID, folder string) []byte {
	return appendString(appendString([]byte{spaceSystem, tIMAP, imapCursors}, accountID), folder)
}

// PutIMAPCursor writes the cursor of a mailbox.
func (b *Batch) PutIMAPCursor(c *IMAPCursor) {
	b.set(imapCursorKey(c.AccountID, c.Folder), c)
}

// DeleteIMAPCursors removes every cursor of an email account.
func (b *Batch) DeleteIMAPCursors(accountID string) {
	b.delPrefix(appendString([]byte{spaceSystem, tIMAP, imapCursors}, accountID))
}

// IMAPCursor reads the cursor of a mailbox; ok is false when the mailbox
// was never read.
func (s *Store) IMAPCursor(accountID, folder string) (c IMAPCursor, ok bool, err error) {
	err = s.get(imapCursorKey(accountID, folder), &c)
	if errors.Is(err, ErrNotFound) {
		return IMAPCursor{}, false, nil
	}
	if err != nil {
		return IMAPCursor{}, false, fmt.Errorf("reading the IMAP cursor of %s: %w", accountID, err)
	}
	return c, true, nil
}
