// Package gateway is Parley's edge: the Fiber app that serves the channel
// webhooks, the REST API described by the OpenAPI document it publishes,
// the WebSocket endpoint, media, metrics and the embedded web app.
//
// The package owns the HTTP side of things: routing, the one auth
// middleware that builds the caller of a request, request body limits and
// the memory unauthenticated bodies may hold, validation of JSON bodies
// against the published schema, and the handlers. Its sub-packages own the
// rest of the edge: realtime (the WebSocket connections, one writer each),
// agents (the AI agents and their registry), channels (the channel sender
// and the profile lookups, with meta/ for the formats and Graph client of
// WhatsApp, Messenger and Instagram), media (the media store, its sweeper
// and signed links) and web (the inbox's static files).
//
// Handlers never read, change and write a record themselves: conversation
// and contact state belongs to their actors, and a handler sends the owner
// a command through actors.Runtime and answers with its result
// (docs/ARCHITECTURE.md, "Who owns what").
//
// Concurrency contract: New builds a Server and starts nothing; Start (or
// Serve, if Start was not called) starts its goroutines (the WebSocket
// shards, media downloads, profile lookups, the media sweeper); Shutdown
// stops accepting, finishes the requests in progress, closes the WebSocket
// connections and stops every goroutine before it returns.
package gateway
