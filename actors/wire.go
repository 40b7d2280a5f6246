package actors

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
)

// The wire form of the events every subscriber gets: a conversation
// header, a message, or both, inside the envelope. They are written by
// hand, field by field, in the order and with the omission rules of their
// json tags: encoding/json spends most of its time on reflection and on
// re-validating what time.Time's MarshalJSON returns, and two events are
// encoded for each inbound message. TestEnvelopeJSONIsEncodingJSON holds
// the bytes to encoding/json's with every field of every type set, so a
// field added to engine.Conversation or engine.Message without its line
// here fails it. Events with Data (contacts, notes, imports) and the
// rarer parts of a message (media, location, interactive, reaction) are
// left to encoding/json.

// wireBuffers hold the encodings of envelopes while they are written.
var wireBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// encodeEnvelope returns the wire form of an event without Data whose
// data carries conv and msg, in a slice of its size: the recent-event
// buffer keeps it.
func encodeEnvelope(seq uint64, ev *engine.Event, conv *engine.Conversation, msg *engine.Message) []byte {
	buf := wireBuffers.Get().(*[]byte)
	*buf = appendEnvelope((*buf)[:0], seq, ev, conv, msg)
	js := bytes.Clone(*buf)
	wireBuffers.Put(buf)
	return js
}

// appendEnvelope writes the wire form of an event without Data whose
// data carries conv and msg (either may be nil).
func appendEnvelope(b []byte, seq uint64, ev *engine.Event, conv *engine.Conversation, msg *engine.Message) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"type":`...)
	b = appendString(b, string(ev.Type))
	b = append(b, `,"workspace_id":`...)
	b = appendID(b, ev.WorkspaceID)
	if ev.ConversationID != engine.ZeroID {
		b = append(b, `,"conversation_id":`...)
		b = appendID(b, ev.ConversationID)
	}
	b = append(b, `,"at":`...)
	b = appendTime(b, ev.At)
	b = append(b, `,"data":{`...)
	if conv != nil {
		b = append(b, `"conversation":`...)
		b = appendConversation(b, conv)
	}
	if msg != nil {
		if conv != nil {
			b = append(b, ',')
		}
		b = append(b, `"message":`...)
		b = appendMessage(b, msg)
	}
	return append(b, "}}"...)
}

func appendConversation(b []byte, c *engine.Conversation) []byte {
	b = append(b, `{"id":`...)
	b = appendID(b, c.ID)
	b = append(b, `,"workspace_id":`...)
	b = appendID(b, c.WorkspaceID)
	b = appendField(b, "channel", string(c.Channel))
	b = appendField(b, "channel_account_id", c.ChannelAccountID)
	b = append(b, `,"contact_id":`...)
	b = appendID(b, c.ContactID)
	b = appendNonEmpty(b, "contact_name", c.ContactName)
	b = appendField(b, "external_user_id", c.ExternalUserID)
	b = appendField(b, "folder", string(c.Folder))
	b = appendField(b, "mode", string(c.Mode))
	b = appendNonZeroTime(b, "ai_resumes_at", c.AIResumesAt)
	b = append(b, `,"mode_epoch":`...)
	b = strconv.AppendUint(b, c.ModeEpoch, 10)
	b = appendTrue(b, "ai_paused", c.AIPaused)
	b = appendTrue(b, "needs_human", c.NeedsHuman)
	if len(c.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i, t := range c.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	b = appendNonEmpty(b, "assignee_id", c.AssigneeID)
	b = appendNonEmpty(b, "team_id", c.TeamID)
	b = append(b, `,"unread_count":`...)
	b = strconv.AppendInt(b, int64(c.UnreadCount), 10)
	b = append(b, `,"last_activity_at":`...)
	b = appendTime(b, c.LastActivityAt)
	b = appendNonEmpty(b, "preview", c.Preview)
	b = append(b, `,"last_seq":`...)
	b = strconv.AppendUint(b, c.LastSeq, 10)
	b = append(b, `,"last_customer_seq":`...)
	b = strconv.AppendUint(b, c.LastCustomerSeq, 10)
	b = appendNonZeroTime(b, "last_inbound_at", c.LastInboundAt)
	b = appendTrue(b, "awaiting_reply", c.AwaitingReply)
	b = appendNonEmpty(b, "last_outbound_status", string(c.LastOutboundStatus))
	if c.LastOutboundSeq != 0 {
		b = append(b, `,"last_outbound_seq":`...)
		b = strconv.AppendUint(b, c.LastOutboundSeq, 10)
	}
	b = appendNonZeroTime(b, "follow_up_at", c.FollowUpAt)
	b = appendTrue(b, "follow_up_auto", c.FollowUpAuto)
	b = appendNonZeroInt(b, "auto_follow_ups", c.AutoFollowUps)
	b = appendNonZeroInt(b, "csat", c.CSAT)
	b = appendTrue(b, "csat_pending", c.CSATPending)
	b = appendTrue(b, "blocked", c.Blocked)
	b = appendTrue(b, "unsubscribed", c.Unsubscribed)
	b = appendNonEmpty(b, "thread", c.Thread)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, c.CreatedAt)
	b = appendNonZeroTime(b, "opened_at", c.OpenedAt)
	b = appendNonZeroTime(b, "first_reply_at", c.FirstReplyAt)
	b = appendNonZeroTime(b, "ai_pending_at", c.AIPendingAt)
	if c.Campaign != nil {
		b = appendJSON(b, "campaign", c.Campaign)
	}
	b = appendField(b, "assistant_id", c.AssistantID)
	b = appendNonEmpty(b, "email_to", c.EmailTo)
	b = appendNonEmpty(b, "email_account_id", c.EmailAccountID)
	return append(b, '}')
}

func appendMessage(b []byte, m *engine.Message) []byte {
	b = append(b, `{"id":`...)
	b = appendID(b, m.ID)
	b = append(b, `,"workspace_id":`...)
	b = appendID(b, m.WorkspaceID)
	b = append(b, `,"conversation_id":`...)
	b = appendID(b, m.ConversationID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = appendField(b, "direction", string(m.Direction))
	b = append(b, `,"sender":{"kind":`...)
	b = appendString(b, string(m.Sender.Kind))
	b = appendNonEmpty(b, "user_id", m.Sender.UserID)
	b = append(b, '}')
	// Content, embedded.
	b = appendField(b, "kind", string(m.Kind))
	b = appendNonEmpty(b, "text", m.Text)
	if m.Media != nil {
		b = appendJSON(b, "media", m.Media)
	}
	if m.Location != nil {
		b = appendJSON(b, "location", m.Location)
	}
	if len(m.Contacts) > 0 {
		b = append(b, `,"contacts":"`...)
		b = base64.StdEncoding.AppendEncode(b, m.Contacts)
		b = append(b, '"')
	}
	if m.Interactive != nil {
		b = appendJSON(b, "interactive", m.Interactive)
	}
	if m.Reaction != nil {
		b = appendJSON(b, "reaction", m.Reaction)
	}
	b = appendNonEmpty(b, "unsupported_type", m.UnsupportedType)
	b = appendNonEmpty(b, "reply_to", m.ReplyTo)
	if m.Template != nil {
		b = appendJSON(b, "template", m.Template)
	}
	b = appendNonEmpty(b, "channel_message_id", m.ChannelMessageID)
	b = appendNonEmpty(b, "status", string(m.Status))
	b = appendNonZeroTime(b, "status_at", m.StatusAt)
	b = appendNonEmpty(b, "error_code", m.ErrorCode)
	b = appendNonEmpty(b, "error_reason", m.ErrorReason)
	b = appendNonEmpty(b, "reasoning", m.Reasoning)
	if len(m.Sources) > 0 {
		b = appendJSON(b, "sources", m.Sources)
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, m.CreatedAt)
	b = appendNonZeroTime(b, "sent_at", m.SentAt)
	return append(b, '}')
}

// appendField writes ,"name":"s"; name is a plain key.
func appendField(b []byte, name, s string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, s)
}

func appendNonEmpty(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendField(b, name, s)
}

func appendTrue(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	return append(b, `":true`...)
}

func appendNonZeroInt(b []byte, name string, v int) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, int64(v), 10)
}

func appendNonZeroTime(b []byte, name string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendTime(b, t)
}

// appendJSON writes ,"name": and v as encoding/json writes it.
func appendJSON(b []byte, name string, v any) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	js, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...) // plain structs of strings and numbers: cannot fail
	}
	return append(b, js...)
}

func appendID(b []byte, id engine.ID) []byte {
	var text [26]byte
	_ = id.MarshalTextTo(text[:]) // the buffer has the size it needs
	b = append(b, '"')
	b = append(b, text[:]...)
	return append(b, '"')
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds; the years it refuses are not stored).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s quoted as encoding/json does with HTML escaping:
// ", \ and control characters escaped, <, > and & as \u003c, \u003e and
// \u0026, U+2028 and U+2029 as \u2028 and \u2029, and each byte of
// invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
