// Package meta speaks Meta's Graph platform for WhatsApp Cloud API,
// Messenger and Instagram Messaging: webhook signature checks, webhook
// payload parsers that turn deliveries into engine values, and the send
// and media API client with its per-account rate limits. It knows nothing
// of actors or storage; the gateway wires it to the runtime.
//
// Concurrency: parsers are pure functions; a Client (and its
// RateLimiter) is safe for concurrent use.
package meta
