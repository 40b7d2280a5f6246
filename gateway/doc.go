// Package gateway is Parley's edge: the Fiber app that serves the channel
// webhooks, the REST API described by the OpenAPI document it publishes,
// the WebSocket endpoint, media, metrics and the embedded web app.
//
// The package owns the HTTP side of things: routing, the one auth
// middleware that builds the caller of a request, request body limits and
// the memory unauthenticated bodies may hold, validation of JSON bodies
// against the published schema, and the handlers. Its sub-packages own the
// rest of the edge: agents (the AI agents and their registry), channels
// (the channel senders and formats, with meta/ for WhatsApp, Messenger and
// Instagram) and web (the inbox's static files).
//
// Handlers never read, change and write a record themselves: conversation
// and contact state belongs to their actors, and a handler sends the owner
// a command through actors.Runtime and answers with its result
// (docs/ARCHITECTURE.md, "Who owns what").
//
// Concurrency contract: a Server is built by New, serves with Serve and is
// stopped by Shutdown, which stops accepting, finishes the requests in
// progress, closes the WebSocket connections and stops the gateway's
// workers before it returns.
package gateway
