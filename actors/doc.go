// Package actors is Parley's runtime: one protoactor-go actor per
// conversation, the directory that spawns, routes to and passivates them,
// the timekeeper that fires durable timers, the courier that hands
// outbound messages to a channel sender, the agent pool that runs AI
// calls, and the broadcaster that numbers events and fans them out.
//
// Concurrency contract: a conversation's state is touched only by its
// actor, one message at a time. An actor applies an engine rule, commits
// one synced batch, and only then replies to its caller and publishes the
// events, so an acknowledged change is durable and a subscriber never sees
// a change that could still be lost. Slow work (AI calls, channel sends)
// runs in bounded pools outside the actor and comes back to it as a
// message, so no actor waits on the network. The outside world is reached
// only through interfaces (Sender, Agent, clockwork.Clock) wired by cmd.
// Every goroutine started here is owned by the Runtime and stopped by
// Runtime.Shutdown.
package actors
