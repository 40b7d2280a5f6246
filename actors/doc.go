// Package actors is Parley's runtime: one protoactor-go actor per
// conversation and one per contact, the directory that spawns, routes to
// and passivates them, the timekeeper that fires durable timers, the
// courier that hands outbound messages to a channel sender, the agent pool
// that runs AI calls, and the broadcaster that numbers events and fans
// them out.
//
// Concurrency contract: a conversation's state is touched only by its
// actor, and a contact's (record, identities, notes, memories, custom
// fields, search entries) only by its contact actor, one message at a
// time. An actor applies an engine rule, commits one synced batch, and
// only then replies to its caller and publishes the events, so an
// acknowledged change is durable and a subscriber never sees a change that
// could still be lost. Waits between actors go one way: a contact actor
// may wait on conversation actors (and, in a merge, on the contact with
// the larger id); a conversation actor never waits on a contact, it tells
// it. Slow work (AI calls, channel sends) runs in bounded pools outside
// the actors and comes back to them as messages, so no actor waits on the
// network. The outside world is reached only through the interfaces of
// package ports (Sender, Agent) and clockwork.Clock, wired by cmd.
// Every goroutine started here is owned by the Runtime and stopped by
// Runtime.Shutdown (docs/ARCHITECTURE.md, "Who owns what").
package actors
