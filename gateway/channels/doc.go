// Package channels connects the runtime to the messaging channels: Sender
// is the courier's ports.Sender, dispatching each outbound message by
// channel to package meta (uploading or linking its media file first), and
// Profiles is the bounded pool that names Messenger and Instagram senders
// from the channels' user profile APIs. Health is the channel health
// monitor: each channel's HealthChecker (MetaChecker for the Meta
// channels) checks its accounts in a bounded pool, sends report through
// SendReporter, and one loop goroutine writes the health records.
// Package meta speaks the Graph API itself.
//
// Ownership (docs/ARCHITECTURE.md, "Who owns what"): a profile name is not
// written here; it goes to the contact's actor through
// Renamer.RenameFromProfile. A health record is written only by the
// Health monitor's loop, never with the account record. The package
// depends on the runtime only through ports and those small interfaces.
//
// Concurrency: a Sender is safe for concurrent use. NewProfiles starts
// nothing; its workers are started by Profiles.Start and stopped by
// Profiles.Shutdown, and its cache is guarded by one lock; NewHealth
// likewise starts nothing, and Health.Start and Health.Shutdown own its
// loop and workers.
package channels
