package engine

import (
	"errors"
	"testing"
	"time"
)

func TestRetentionFor(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := RetentionPolicy{MessageDays: 30, ClosedConversationDays: 90}
	old := now.Add(-91 * 24 * time.Hour)
	recent := now.Add(-89 * 24 * time.Hour)
	cases := []struct {
		name   string
		c      Conversation
		held   bool
		delete bool
		msgs   bool
	}{
		{"solved past M days goes", Conversation{Folder: FolderSolved, LastActivityAt: old}, false, true, false},
		{"archived past M days goes", Conversation{Folder: FolderArchived, LastActivityAt: old}, false, true, false},
		{"solved within M days keeps the conversation", Conversation{Folder: FolderSolved, LastActivityAt: recent}, false, false, true},
		{"open past M days is not closed", Conversation{Folder: FolderOpen, LastActivityAt: old}, false, false, true},
		{"legal hold keeps everything", Conversation{Folder: FolderSolved, LastActivityAt: old}, true, false, false},
	}
	for _, tc := range cases {
		v := RetentionFor(p, &tc.c, now, tc.held)
		if v.DeleteConversation != tc.delete || !v.MessagesBefore.IsZero() != tc.msgs {
			t.Errorf("%s: got %+v", tc.name, v)
		}
		if tc.msgs && !v.MessagesBefore.Equal(now.Add(-30*24*time.Hour)) {
			t.Errorf("%s: horizon %v", tc.name, v.MessagesBefore)
		}
	}
	if v := RetentionFor(RetentionPolicy{}, &Conversation{Folder: FolderSolved, LastActivityAt: old}, now, false); v != (RetentionVerdict{}) {
		t.Errorf("an empty policy keeps everything, got %+v", v)
	}
	h := now.Add(-30 * 24 * time.Hour)
	if !RetentionExpired(&Message{CreatedAt: h.Add(-time.Second)}, h) || RetentionExpired(&Message{CreatedAt: h}, h) ||
		RetentionExpired(&Message{CreatedAt: old}, time.Time{}) {
		t.Error("RetentionExpired: wrong edge")
	}
}

func TestCheckRetentionPolicy(t *testing.T) {
	for _, p := range []RetentionPolicy{{MessageDays: -1}, {ClosedConversationDays: RetentionMaxDays + 1}} {
		if err := p.CheckRetentionPolicy(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", p, err)
		}
	}
	p := RetentionPolicy{MessageDays: 1, ClosedConversationDays: RetentionMaxDays}
	if err := p.CheckRetentionPolicy(); err != nil || !p.RetentionActive() {
		t.Errorf("valid policy: %v", err)
	}
}
