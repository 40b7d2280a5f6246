// Package engine is Parley's domain: the types of the inbox (workspaces,
// channels, contacts, conversations, messages, events) and the rules that
// change them, as pure functions.
//
// Nothing here does I/O, starts a goroutine or reads a clock: the current
// time is passed in, and every rule returns the new state together with the
// events it produced. That makes the rules of docs/ARCHITECTURE.md (delivery status
// order, the AI/manual mode timer, folders and blocked contacts, the
// no-AI-over-a-human check) testable as tables in microseconds. The
// persistence package stores these types; the actors package applies the
// rules one conversation at a time, so values here need no locking.
package engine
