package persistence

import (
	"fmt"

	json "github.com/goccy/go-json"
	"github.com/parleyhq/parley/engine"
)

// The field numbers of the binary records (codec_wire.go). They are part
// of the stored format: never renumber or reuse one; a new field takes a
// new number (1–31 fit in a one-byte key, so keep them for fields that
// are often set).

// Conversation header fields.
const (
	cfID = iota + 1
	cfWorkspaceID
	cfChannel
	cfChannelAccountID
	cfContactID
	cfContactName
	cfExternalUserID
	cfFolder
	cfMode
	cfAIResumesAt
	cfModeEpoch
	cfAIPaused
	cfNeedsHuman
	cfTag // repeated: one field per tag
	cfAssigneeID
	cfUnreadCount
	cfLastActivityAt
	cfPreview
	cfLastSeq
	cfLastCustomerSeq
	cfLastInboundAt
	cfAwaitingReply
	cfLastOutboundStatus
	cfLastOutboundSeq
	cfFollowUpAt
	cfFollowUpAuto
	cfAutoFollowUps
	cfCSAT
	cfCSATPending
	cfCreatedAt
	cfOpenedAt
	cfFirstReplyAt
	cfAIPendingAt
	cfBlocked
	cfUnsubscribed
	cfCampaign // nested: campaignFields (codec_campaign.go)
	cfThread
	cfAssistantID
	cfEmailTo
	cfEmailAccountID
	cfTeamID
)

// Message fields (Content's fields are the message's own).
const (
	mfID = iota + 1
	mfWorkspaceID
	mfConversationID
	mfSeq
	mfDirection
	mfSenderKind
	mfSenderUserID
	mfKind
	mfText
	mfMedia // nested: mediaFields
	mfLocation
	mfContacts
	mfInteractive
	mfReaction
	mfUnsupportedType
	mfReplyTo
	mfChannelMessageID
	mfStatus
	mfStatusAt
	mfErrorCode
	mfErrorReason
	mfReasoning
	mfCreatedAt
	mfSentAt
	mfTemplate // a template message's TemplateMessage, as JSON
	mfSources  // JSON: the knowledge passages an AI reply was given
)

// Media fields.
const (
	mediaRef = iota + 1
	mediaURL
	mediaStorageKey
	mediaMimeType
	mediaFilename
	mediaCaption
	mediaSHA256
	mediaSize
	mediaVoice
)

// Location, Interactive and Reaction fields.
const (
	locLatitude = iota + 1
	locLongitude
	locName
	locAddress
)

const (
	interType = iota + 1
	interID
	interTitle
	interPayload
)

const (
	reactTarget = iota + 1
	reactEmoji
)

// The enum tables: a value is stored as 1 + its index. Append only.
var (
	channelCodes   = []string{"whatsapp", "messenger", "instagram", "webchat", "email", "api"}
	folderCodes    = []string{"open", "solved", "spam", "archived", "pending"}
	modeCodes      = []string{"ai", "manual"}
	directionCodes = []string{"inbound", "outbound"}
	senderCodes    = []string{"customer", "ai", "human", "system", "broadcast"}
	kindCodes      = []string{"text", "image", "video", "audio", "document", "sticker", "location",
		"contacts", "interactive", "reaction", "unsupported", "system", "template"}
	statusCodes = []string{"sending", "sent", "delivered", "read", "failed"}
)

// allFields asks a binary decoder for every field.
const allFields = ^uint64(0)

// fieldMask names fields for a partial decode. Numbers above 63 are
// always decoded.
func fieldMask(fields ...int) uint64 {
	var m uint64
	for _, f := range fields {
		m |= 1 << f
	}
	return m
}

func wants(mask, n uint64) bool { return n > 63 || mask&(1<<n) != 0 }

func appendConversation(b []byte, c *engine.Conversation) ([]byte, error) {
	e := wenc{b: b}
	e.id(cfID, c.ID)
	e.id(cfWorkspaceID, c.WorkspaceID)
	e.enum(cfChannel, string(c.Channel), channelCodes)
	e.str(cfChannelAccountID, c.ChannelAccountID)
	e.id(cfContactID, c.ContactID)
	e.str(cfContactName, c.ContactName)
	e.str(cfExternalUserID, c.ExternalUserID)
	e.enum(cfFolder, string(c.Folder), folderCodes)
	e.enum(cfMode, string(c.Mode), modeCodes)
	e.time(cfAIResumesAt, c.AIResumesAt)
	e.uint(cfModeEpoch, c.ModeEpoch)
	e.bool(cfAIPaused, c.AIPaused)
	e.bool(cfNeedsHuman, c.NeedsHuman)
	for _, t := range c.Tags {
		e.rawStr(cfTag, t)
	}
	e.str(cfAssigneeID, c.AssigneeID)
	e.int(cfUnreadCount, int64(c.UnreadCount))
	e.time(cfLastActivityAt, c.LastActivityAt)
	e.str(cfPreview, c.Preview)
	e.uint(cfLastSeq, c.LastSeq)
	e.uint(cfLastCustomerSeq, c.LastCustomerSeq)
	e.time(cfLastInboundAt, c.LastInboundAt)
	e.bool(cfAwaitingReply, c.AwaitingReply)
	e.enum(cfLastOutboundStatus, string(c.LastOutboundStatus), statusCodes)
	e.uint(cfLastOutboundSeq, c.LastOutboundSeq)
	e.time(cfFollowUpAt, c.FollowUpAt)
	e.bool(cfFollowUpAuto, c.FollowUpAuto)
	e.int(cfAutoFollowUps, int64(c.AutoFollowUps))
	e.int(cfCSAT, int64(c.CSAT))
	e.bool(cfCSATPending, c.CSATPending)
	e.time(cfCreatedAt, c.CreatedAt)
	e.time(cfOpenedAt, c.OpenedAt)
	e.time(cfFirstReplyAt, c.FirstReplyAt)
	e.time(cfAIPendingAt, c.AIPendingAt)
	e.bool(cfBlocked, c.Blocked)
	e.bool(cfUnsubscribed, c.Unsubscribed)
	appendCampaign(&e, cfCampaign, c.Campaign)
	e.str(cfThread, c.Thread)
	e.str(cfAssistantID, c.AssistantID)
	e.str(cfEmailTo, c.EmailTo)
	e.str(cfEmailAccountID, c.EmailAccountID)
	e.str(cfTeamID, c.TeamID)
	return e.b, e.err
}

// readConversation decodes the fields of a binary header named by mask
// into c, which it resets first.
func readConversation(d *wdec, c *engine.Conversation, mask uint64) {
	*c = engine.Conversation{}
	for n, ok := d.next(); ok; n, ok = d.next() {
		if !wants(mask, n) {
			d.skip()
			continue
		}
		switch n {
		case cfID:
			c.ID = d.getID()
		case cfWorkspaceID:
			c.WorkspaceID = d.getID()
		case cfChannel:
			c.Channel = engine.Channel(d.getEnum(channelCodes))
		case cfChannelAccountID:
			c.ChannelAccountID = d.getStr()
		case cfContactID:
			c.ContactID = d.getID()
		case cfContactName:
			c.ContactName = d.getStr()
		case cfExternalUserID:
			c.ExternalUserID = d.getStr()
		case cfFolder:
			c.Folder = engine.Folder(d.getEnum(folderCodes))
		case cfMode:
			c.Mode = engine.Mode(d.getEnum(modeCodes))
		case cfAIResumesAt:
			c.AIResumesAt = d.getTime()
		case cfModeEpoch:
			c.ModeEpoch = d.getUint()
		case cfAIPaused:
			c.AIPaused = d.getBool()
		case cfNeedsHuman:
			c.NeedsHuman = d.getBool()
		case cfTag:
			c.Tags = append(c.Tags, d.getStr())
		case cfAssigneeID:
			c.AssigneeID = d.getStr()
		case cfUnreadCount:
			c.UnreadCount = int(d.getInt())
		case cfLastActivityAt:
			c.LastActivityAt = d.getTime()
		case cfPreview:
			c.Preview = d.getStr()
		case cfLastSeq:
			c.LastSeq = d.getUint()
		case cfLastCustomerSeq:
			c.LastCustomerSeq = d.getUint()
		case cfLastInboundAt:
			c.LastInboundAt = d.getTime()
		case cfAwaitingReply:
			c.AwaitingReply = d.getBool()
		case cfLastOutboundStatus:
			c.LastOutboundStatus = engine.DeliveryStatus(d.getEnum(statusCodes))
		case cfLastOutboundSeq:
			c.LastOutboundSeq = d.getUint()
		case cfFollowUpAt:
			c.FollowUpAt = d.getTime()
		case cfFollowUpAuto:
			c.FollowUpAuto = d.getBool()
		case cfAutoFollowUps:
			c.AutoFollowUps = int(d.getInt())
		case cfCSAT:
			c.CSAT = int(d.getInt())
		case cfCSATPending:
			c.CSATPending = d.getBool()
		case cfCreatedAt:
			c.CreatedAt = d.getTime()
		case cfOpenedAt:
			c.OpenedAt = d.getTime()
		case cfFirstReplyAt:
			c.FirstReplyAt = d.getTime()
		case cfAIPendingAt:
			c.AIPendingAt = d.getTime()
		case cfBlocked:
			c.Blocked = d.getBool()
		case cfUnsubscribed:
			c.Unsubscribed = d.getBool()
		case cfCampaign:
			c.Campaign = readCampaign(d)
		case cfThread:
			c.Thread = d.getStr()
		case cfAssistantID:
			c.AssistantID = d.getStr()
		case cfEmailTo:
			c.EmailTo = d.getStr()
		case cfEmailAccountID:
			c.EmailAccountID = d.getStr()
		case cfTeamID:
			c.TeamID = d.getStr()
		default:
			d.skip()
		}
	}
}

func appendMessage(b []byte, m *engine.Message) ([]byte, error) {
	e := wenc{b: b}
	e.id(mfID, m.ID)
	e.id(mfWorkspaceID, m.WorkspaceID)
	e.id(mfConversationID, m.ConversationID)
	e.uint(mfSeq, m.Seq)
	e.enum(mfDirection, string(m.Direction), directionCodes)
	e.enum(mfSenderKind, string(m.Sender.Kind), senderCodes)
	e.str(mfSenderUserID, m.Sender.UserID)
	e.enum(mfKind, string(m.Kind), kindCodes)
	e.str(mfText, m.Text)
	if md := m.Media; md != nil {
		e.nested(mfMedia, func(e *wenc) {
			e.str(mediaRef, md.Ref)
			e.str(mediaURL, md.URL)
			e.str(mediaStorageKey, md.StorageKey)
			e.str(mediaMimeType, md.MimeType)
			e.str(mediaFilename, md.Filename)
			e.str(mediaCaption, md.Caption)
			e.str(mediaSHA256, md.SHA256)
			e.int(mediaSize, md.Size)
			e.bool(mediaVoice, md.Voice)
		})
	}
	if l := m.Location; l != nil {
		e.nested(mfLocation, func(e *wenc) {
			e.float(locLatitude, l.Latitude)
			e.float(locLongitude, l.Longitude)
			e.str(locName, l.Name)
			e.str(locAddress, l.Address)
		})
	}
	e.bytes(mfContacts, m.Contacts)
	if in := m.Interactive; in != nil {
		e.nested(mfInteractive, func(e *wenc) {
			e.str(interType, in.Type)
			e.str(interID, in.ID)
			e.str(interTitle, in.Title)
			e.str(interPayload, in.Payload)
		})
	}
	if r := m.Reaction; r != nil {
		e.nested(mfReaction, func(e *wenc) {
			e.str(reactTarget, r.TargetChannelMessageID)
			e.str(reactEmoji, r.Emoji)
		})
	}
	e.str(mfUnsupportedType, m.UnsupportedType)
	e.str(mfReplyTo, m.ReplyTo)
	e.str(mfChannelMessageID, m.ChannelMessageID)
	e.enum(mfStatus, string(m.Status), statusCodes)
	e.time(mfStatusAt, m.StatusAt)
	e.str(mfErrorCode, m.ErrorCode)
	e.str(mfErrorReason, m.ErrorReason)
	e.str(mfReasoning, m.Reasoning)
	e.time(mfCreatedAt, m.CreatedAt)
	e.time(mfSentAt, m.SentAt)
	if t := m.Template; t != nil {
		raw, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("encoding a template message: %w", err)
		}
		e.bytes(mfTemplate, raw)
	}
	if len(m.Sources) > 0 {
		src, err := json.Marshal(m.Sources)
		if err != nil {
			return nil, fmt.Errorf("encoding message sources: %w", err)
		}
		e.bytes(mfSources, src)
	}
	return e.b, e.err
}

// readMessage decodes the fields of a binary message named by mask into
// m, which it resets first.
func readMessage(d *wdec, m *engine.Message, mask uint64) {
	*m = engine.Message{}
	for n, ok := d.next(); ok; n, ok = d.next() {
		if !wants(mask, n) {
			d.skip()
			continue
		}
		switch n {
		case mfID:
			m.ID = d.getID()
		case mfWorkspaceID:
			m.WorkspaceID = d.getID()
		case mfConversationID:
			m.ConversationID = d.getID()
		case mfSeq:
			m.Seq = d.getUint()
		case mfDirection:
			m.Direction = engine.Direction(d.getEnum(directionCodes))
		case mfSenderKind:
			m.Sender.Kind = engine.SenderKind(d.getEnum(senderCodes))
		case mfSenderUserID:
			m.Sender.UserID = d.getStr()
		case mfKind:
			m.Kind = engine.MessageKind(d.getEnum(kindCodes))
		case mfText:
			m.Text = d.getStr()
		case mfMedia:
			m.Media = readMedia(d)
		case mfLocation:
			m.Location = readLocation(d)
		case mfContacts:
			m.Contacts = d.getBytes()
		case mfInteractive:
			m.Interactive = readInteractive(d)
		case mfReaction:
			m.Reaction = readReaction(d)
		case mfUnsupportedType:
			m.UnsupportedType = d.getStr()
		case mfReplyTo:
			m.ReplyTo = d.getStr()
		case mfChannelMessageID:
			m.ChannelMessageID = d.getStr()
		case mfStatus:
			m.Status = engine.DeliveryStatus(d.getEnum(statusCodes))
		case mfStatusAt:
			m.StatusAt = d.getTime()
		case mfErrorCode:
			m.ErrorCode = d.getStr()
		case mfErrorReason:
			m.ErrorReason = d.getStr()
		case mfReasoning:
			m.Reasoning = d.getStr()
		case mfCreatedAt:
			m.CreatedAt = d.getTime()
		case mfSentAt:
			m.SentAt = d.getTime()
		case mfTemplate:
			t := new(engine.TemplateMessage)
			if raw := d.getBytes(); d.err == nil {
				if err := json.Unmarshal(raw, t); err != nil {
					d.fail(errValue)
				}
				m.Template = t
			}
		case mfSources:
			// Unreadable sources are left out: the message still reads.
			_ = json.Unmarshal(d.getBytes(), &m.Sources)
		default:
			d.skip()
		}
	}
}

func readMedia(d *wdec) *engine.Media {
	md := new(engine.Media)
	d.getNested(func(d *wdec, n uint64) {
		switch n {
		case mediaRef:
			md.Ref = d.getStr()
		case mediaURL:
			md.URL = d.getStr()
		case mediaStorageKey:
			md.StorageKey = d.getStr()
		case mediaMimeType:
			md.MimeType = d.getStr()
		case mediaFilename:
			md.Filename = d.getStr()
		case mediaCaption:
			md.Caption = d.getStr()
		case mediaSHA256:
			md.SHA256 = d.getStr()
		case mediaSize:
			md.Size = d.getInt()
		case mediaVoice:
			md.Voice = d.getBool()
		default:
			d.skip()
		}
	})
	return md
}

func readLocation(d *wdec) *engine.Location {
	l := new(engine.Location)
	d.getNested(func(d *wdec, n uint64) {
		switch n {
		case locLatitude:
			l.Latitude = d.getFloat()
		case locLongitude:
			l.Longitude = d.getFloat()
		case locName:
			l.Name = d.getStr()
		case locAddress:
			l.Address = d.getStr()
		default:
			d.skip()
		}
	})
	return l
}

func readInteractive(d *wdec) *engine.Interactive {
	in := new(engine.Interactive)
	d.getNested(func(d *wdec, n uint64) {
		switch n {
		case interType:
			in.Type = d.getStr()
		case interID:
			in.ID = d.getStr()
		case interTitle:
			in.Title = d.getStr()
		case interPayload:
			in.Payload = d.getStr()
		default:
			d.skip()
		}
	})
	return in
}

func readReaction(d *wdec) *engine.Reaction {
	r := new(engine.Reaction)
	d.getNested(func(d *wdec, n uint64) {
		switch n {
		case reactTarget:
			r.TargetChannelMessageID = d.getStr()
		case reactEmoji:
			r.Emoji = d.getStr()
		default:
			d.skip()
		}
	})
	return r
}
