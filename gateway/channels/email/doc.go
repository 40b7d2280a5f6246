// Package email is Parley's email channel: it parses inbound mail
// (github.com/emersion/go-message) into what the inbox shows, tells
// auto-replies and delivery status notifications apart, receives mail
// over SMTP (github.com/emersion/go-smtp's server) and sends replies over
// SMTP submission (go-smtp's client). Mail HTML is sanitised with
// github.com/microcosm-cc/bluemonday before anything shows it.
package email
