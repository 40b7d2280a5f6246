package persistence

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Key layout. Workspace data:
//
//	'w' ws 'c' conv                          conversation header
//	'w' ws 'm' conv ^seq                     message (newest first)
//	'w' ws 'x' channel ext-msg-id            → conv seq (dedupe and status routing)
//	'w' ws 'u' channel ext-msg-id nanos      status report for an unknown id
//	'w' ws 't' account ext-user              → conv contact (thread of a channel user;
//	                                           for email, engine.ThreadUser: address NUL thread)
//	'w' ws 'p' contact                       contact
//	'w' ws 'i' channel ext-user              → contact (contact by channel identity)
//	'w' ws 'L' folder dim ^activity conv     list index
//	'w' ws 'e' conv ext-msg-id               echo held while sends are in flight (echoes.go)
//	'w' ws 'C' ... and 'w' ws 'n' ...        contact search, contact → conversations, notes (contacts.go)
//	'w' ws 'r' contact memory                contact memories (memories.go)
//	'w' ws 'F' sha256 conv seq               media file reference (media.go)
//	'w' ws 'R' id                            canned reply (canned.go)
//	'w' ws 'v' ... and 'w' ws 'g' ...        ratings of AI replies and their index (feedback.go)
//	'w' ws 'B' id                            pipeline; 'w' ws 'C' 's'/'o'/'b'/'a' contacts by stage and owner, changes (pipelines.go)
//	'w' ws 'd' id                            outgoing webhook subscription (webhooks.go)
//	'w' ws '6' 'v' visitor                   web chat widget visitor session (widget.go)
//	'w' ws '8' waba name language            WhatsApp message template (templates.go)
//	'w' ws '1' ...                           knowledge base entries, passages and their BM25 index (knowledge.go)
//	'w' ws '2' 'a' id                        assistant (assistants.go)
//	'w' ws '3' 'f'/'s'/'c' ...               forms, their submissions by form and by contact (forms.go)
//	'w' ws '4' ...                           automation rules, pending runs, run records and logs, round-robin state (automations.go)
//	'w' ws '5' ...                           segments, their members, counts, due times, changes, backfills (segments.go)
//	'w' ws '9' 'u' resource month            monthly plan counters (workspace_ops.go)
//	'w' ws '%' ...                           retention policy, legal holds, the retention run's progress (retention.go)
//	'w' ws '+' 't'/'c' team                   teams and their round-robin cursors (teams.go)
//	'w' ws '^' ...                           broadcasts, their recipients, each contact's broadcasts (broadcasts.go)
//	'w' ws '&'                               opt-out keyword settings (optout.go)
//
// System data, across workspaces:
//
//	's' 'T' due kind ws conv                 durable timer
//	's' 'O' ws conv seq                      outbox entry
//	's' 'X' key                              copy of a corrupt record (quarantine.go)
//	's' 'V'                                  data directory format and its writer (format.go)
//	's' 'D' channel account-id               channel account health (health.go)
//	's' 'y' webhook seq, 's' 'Z' webhook seq  outgoing webhook queue and log, 's' 'b' their seq (webhooks.go)
//	's' '7' 'c' account folder               IMAP mailbox cursor: UIDVALIDITY and last UID stored (imap.go)
//	's' '#' ws broadcast                     an active broadcast, started at boot (broadcasts.go)
//	's' '!' ws                               the operator's record of a workspace: state, plan, limits, deletion (workspace_ops.go)
//
// ws, conv and contact are 16-byte ids; integers are big-endian; ^x is the
// bitwise complement, so that forward iteration is newest first. Strings
// are escaped and terminated (see appendString) so they sort and never
// run into the next field.
const (
	spaceWorkspace = 'w'
	spaceSystem    = 's'

	tConversation = 'c'
	tMessage      = 'm'
	tExternal     = 'x'
	tOrphan       = 'u'
	tThread       = 't'
	tContact      = 'p'
	tIdentity     = 'i'
	tList         = 'L'

	tTimer  = 'T'
	tOutbox = 'O'
)

// appendString writes s escaped: 0x00 becomes 0x00 0xFF and the string
// ends with 0x00 0x01, so encoded strings sort like the strings and a
// prefix of one string never matches another.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xFF)
		} else {
			b = append(b, s[i])
		}
	}
	return append(b, 0, 1)
}

func appendUint64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendTime(b []byte, t time.Time) []byte {
	return appendUint64(b, uint64(t.UnixNano())) //nolint:gosec // times before 1970 are not stored
}

// timeOf decodes a time written by appendTime.
func timeOf(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))) //nolint:gosec // written from UnixNano
}

func appendTimeDesc(b []byte, t time.Time) []byte {
	return appendUint64(b, math.MaxUint64-uint64(t.UnixNano())) //nolint:gosec // see appendTime
}

func wsPrefix(ws engine.ID, table byte) []byte {
	b := make([]byte, 0, 64)
	b = append(b, spaceWorkspace)
	b = append(b, ws[:]...)
	return append(b, table)
}

func conversationKey(ws, conv engine.ID) []byte {
	return append(wsPrefix(ws, tConversation), conv[:]...)
}

func messagePrefix(ws, conv engine.ID) []byte {
	return append(wsPrefix(ws, tMessage), conv[:]...)
}

func messageKey(ws, conv engine.ID, seq uint64) []byte {
	return appendUint64(messagePrefix(ws, conv), math.MaxUint64-seq)
}

func externalKey(ws engine.ID, ch engine.Channel, extID string) []byte {
	return appendString(appendString(wsPrefix(ws, tExternal), string(ch)), extID)
}

func orphanPrefix(ws engine.ID, ch engine.Channel, extID string) []byte {
	return appendString(appendString(wsPrefix(ws, tOrphan), string(ch)), extID)
}

func threadKey(ws engine.ID, account, extUser string) []byte {
	return appendString(appendString(wsPrefix(ws, tThread), account), extUser)
}

func contactKey(ws, id engine.ID) []byte { return append(wsPrefix(ws, tContact), id[:]...) }

func identityKey(ws engine.ID, ch engine.Channel, extID string) []byte {
	return appendString(appendString(wsPrefix(ws, tIdentity), string(ch)), extID)
}

func listPrefix(ws engine.ID, folder engine.Folder, dim string) []byte {
	return appendString(appendString(wsPrefix(ws, tList), string(folder)), dim)
}

func listKey(ws engine.ID, folder engine.Folder, dim string, activity time.Time, conv engine.ID) []byte {
	return append(appendTimeDesc(listPrefix(ws, folder, dim), activity), conv[:]...)
}

// TimerKind names what a durable timer does when it fires.
type TimerKind byte

// Timer kinds.
const (
	TimerAIResume TimerKind = 1
	TimerFollowUp TimerKind = 2
	// TimerAIPending is the backstop of a customer message waiting for
	// the AI: if no answer was committed by then (a restart lost the
	// debounce window or the call), the AI is asked again.
	TimerAIPending TimerKind = 3
)

func timerKey(due time.Time, kind TimerKind, ws, conv engine.ID) []byte {
	b := make([]byte, 0, 2+8+1+32)
	b = append(b, spaceSystem, tTimer)
	b = appendTime(b, due)
	b = append(b, byte(kind))
	b = append(b, ws[:]...)
	return append(b, conv[:]...)
}

func outboxKey(ws, conv engine.ID, seq uint64) []byte {
	b := make([]byte, 0, 2+32+8)
	b = append(b, spaceSystem, tOutbox)
	b = append(b, ws[:]...)
	b = append(b, conv[:]...)
	return appendUint64(b, seq)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xFF: no upper bound
}

// List index dimensions: every conversation is indexed under dimAll, and
// under one entry per filterable property, so a filtered list walks the
// dimensions of its filters together (see openListMerge).
const dimAll = "*"

func listDims(c *engine.Conversation) []string {
	dims := make([]string, 0, 5+len(c.Tags))
	dims = append(dims, dimAll, DimChannel(c.Channel, dimAll), "mode:"+string(c.Mode))
	if c.UnreadCount > 0 {
		dims = append(dims, DimUnread)
	}
	if c.AssigneeID == "" {
		dims = append(dims, DimUnassigned)
	} else {
		dims = append(dims, DimAssignee(c.AssigneeID))
	}
	if c.TeamID != "" {
		dims = append(dims, DimTeam(c.TeamID))
	}
	for _, t := range c.Tags {
		dims = append(dims, "tag:"+t)
	}
	if k := c.Campaign.Key(); k != "" {
		dims = append(dims, DimCampaign(k))
	}
	if c.AssistantID != "" { // "" only before format 8, which set it on every header
		dims = append(dims, DimAssistant(c.AssistantID))
	}
	return dims
}
