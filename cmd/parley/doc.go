// Command parley runs the Parley inbox engine: it opens the data
// directory, starts the conversation actors and serves the gateway until
// SIGINT or SIGTERM, then shuts down in order: stop intake, drain the
// actors, close the store.
package main
