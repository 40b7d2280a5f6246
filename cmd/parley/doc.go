// Command parley runs the Parley inbox engine. `parley` (or `parley
// serve`) opens the data directory, starts the conversation actors and
// serves the gateway until SIGINT or SIGTERM, then shuts down in order:
// stop intake, drain the actors, close the store. `parley help` lists the
// other commands (version, config check, healthcheck) and every option;
// the options are one table (config.go) read from flags, PARLEY_*
// variables and a TOML file.
package main
