package engine

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Memory limits: a contact's memories go into every prompt of the AI
// agent, so they stay few and short.
const (
	// MaxMemories is how many memories one contact keeps.
	MaxMemories = 50
	// MaxMemoryBytes bounds the text of one memory.
	MaxMemoryBytes = 500
)

// MemorySource says who saved a memory.
type MemorySource string

// Memory sources.
const (
	MemoryAI    MemorySource = "ai"
	MemoryHuman MemorySource = "human"
)

// Memory is a short fact about a contact that the AI agent is told in
// every conversation with them ("prefers email", "has a dog named Rex").
// The agent saves them itself (Source ai) or a person adds them (Source
// human, AuthorID set).
type Memory struct {
	ID          ID           `json:"id"`
	WorkspaceID ID           `json:"workspace_id"`
	ContactID   ID           `json:"contact_id"`
	Text        string       `json:"text"`
	Source      MemorySource `json:"source"`
	AuthorID    *ID          `json:"author_id,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
}

// NormalizeMemoryText checks and tidies the text of a memory: white space
// runs (new lines included) become one space, and the result must be 1
// to MaxMemoryBytes of valid UTF-8 without control characters.
func NormalizeMemoryText(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: a memory is valid UTF-8 text", ErrInvalid)
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || len(s) > MaxMemoryBytes {
		return "", fmt.Errorf("%w: a memory is 1 to %d bytes of text", ErrInvalid, MaxMemoryBytes)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("%w: a memory has no control characters", ErrInvalid)
	}
	return s, nil
}

// HasMemory reports whether ms hold text already, case aside.
func HasMemory(ms []Memory, text string) bool {
	for i := range ms {
		if strings.EqualFold(ms[i].Text, text) {
			return true
		}
	}
	return false
}
