// Package gateway is Parley's edge: the Fiber app that serves health
// checks today and, as the project grows, channel webhooks, the inbox's
// REST and WebSocket API, the metrics endpoint and the web inbox.
//
// Concurrency contract: a Server is built by New, serves with Serve and is
// stopped by Shutdown, which stops accepting, finishes the requests in
// progress and returns. Handlers never touch conversation state directly;
// they call the actors.Runtime.
package gateway
