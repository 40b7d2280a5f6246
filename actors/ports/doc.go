// Package ports holds the interfaces through which the actors runtime
// reaches the outside world, and the values that cross them: a channel
// Sender with its SendError classification, and the AI Agent with its
// context, answer and policy. It is a leaf: it imports only engine, so the
// channel and agent implementations in gateway depend on it instead of on
// the runtime (docs/ARCHITECTURE.md, "Packages and their direction").
package ports
