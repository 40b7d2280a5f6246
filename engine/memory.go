package engine

import (
	"fmt"
	"slices"
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

// MemoryType is what kind of thing a memory tells about the contact.
type MemoryType string

// Memory types. A memory stored before memories had types reads as a
// fact (persistence fills it in).
const (
	// MemoryFact is a fact about the person: "has two kids", "lives in Lyon".
	MemoryFact MemoryType = "fact"
	// MemoryPreference is what they like or want: "prefers email".
	MemoryPreference MemoryType = "preference"
	// MemoryGoal is what they are after: "wants to open a second shop".
	MemoryGoal MemoryType = "goal"
	// MemoryExperience is something that happened to them with the
	// business: "their first order arrived late".
	MemoryExperience MemoryType = "experience"
)

// MemoryTypes lists the memory types, in the order they are shown.
var MemoryTypes = []MemoryType{MemoryFact, MemoryPreference, MemoryGoal, MemoryExperience}

// ParseMemoryType reads a memory type: "" is a fact; anything else not
// in MemoryTypes is ErrInvalid.
func ParseMemoryType(s string) (MemoryType, error) {
	t := MemoryType(strings.ToLower(strings.TrimSpace(s)))
	if t == "" {
		return MemoryFact, nil
	}
	if !slices.Contains(MemoryTypes, t) {
		return "", fmt.Errorf("%w: a memory's type is fact, preference, goal or experience", ErrInvalid)
	}
	return t, nil
}

// LooseMemoryType reads the type an AI agent gave a memory: anything
// ParseMemoryType refuses is a fact (a model's odd word loses no memory).
func LooseMemoryType(s string) MemoryType {
	t, err := ParseMemoryType(s)
	if err != nil {
		return MemoryFact
	}
	return t
}

// Fact is a memory an agent's answer asks to keep: its text and type.
type Fact struct {
	Text string     `json:"text"`
	Type MemoryType `json:"type"`
}

// Memory is a short fact about a contact that the AI agent is told in
// every conversation with them ("prefers email", "has a dog named Rex").
// The agent saves them itself (Source ai) or a person adds them (Source
// human, AuthorID set).
type Memory struct {
	ID          ID           `json:"id"`
	WorkspaceID ID           `json:"workspace_id"`
	ContactID   ID           `json:"contact_id"`
	Text        string       `json:"text"`
	Type        MemoryType   `json:"type"`
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
