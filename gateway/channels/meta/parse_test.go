package meta_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/meta"
)

type parser func([]byte) (meta.Batch, error)

var parsers = map[string]parser{
	"wa": meta.ParseWhatsApp,
	"fb": meta.ParseMessenger,
	"ig": meta.ParseInstagram,
}

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// requireValid checks what every successful parse must guarantee: each
// message routes and validates as an engine.Inbound, each status and
// watermark names its message(s) and account.
func requireValid(t testing.TB, b meta.Batch) {
	t.Helper()
	for _, m := range b.Messages {
		require.NotEmpty(t, m.ID)
		require.NotEmpty(t, m.UserID)
		require.NotEmpty(t, m.AccountID)
		in := engine.Inbound{
			WorkspaceID:      engine.NewID(time.Now()),
			Channel:          m.Channel,
			ChannelAccountID: m.AccountID,
			ExternalUserID:   m.UserID,
			ChannelMessageID: m.ID,
			Content:          m.Content,
			ContactName:      m.UserName,
			SentAt:           m.Timestamp,
			Echo:             m.Echo,
		}
		require.NoError(t, in.Validate(), "message %q", m.ID)
		require.True(t, utf8.ValidString(m.UserPhone) && utf8.ValidString(m.Metadata))
		if m.Referral != nil { // a campaign is clean already, and never says nothing
			require.Equal(t, m.Referral, engine.CleanCampaign(m.Referral))
		}
		_, err := json.Marshal(m) // timestamps must be representable
		require.NoError(t, err)
	}
	for _, s := range b.Statuses {
		require.NotEmpty(t, s.ID)
		require.LessOrEqual(t, len(s.ID), 512)
		require.NotEmpty(t, s.AccountID)
		require.True(t, s.Status.Valid(), s.Status)
		require.True(t, s.Channel.Valid())
		require.True(t, utf8.ValidString(s.ErrorReason) && utf8.ValidString(s.CallbackData) && utf8.ValidString(s.RecipientID))
	}
	for _, w := range b.Watermarks {
		require.NotEmpty(t, w.UserID)
		require.NotEmpty(t, w.AccountID)
		require.True(t, w.Status == engine.StatusDelivered || w.Status == engine.StatusRead, w.Status)
		require.True(t, w.Channel.Valid())
		require.False(t, w.At.IsZero() && len(w.MessageIDs) == 0, "watermark says nothing")
		for _, id := range w.MessageIDs {
			require.NotEmpty(t, id)
			require.LessOrEqual(t, len(id), 512)
		}
	}
}

// WhatsApp fixtures: business number, user, profile name, timestamp.
const (
	waAccount = "106540352242922"
	waUser    = "16505551234"
)

var waTS = time.Unix(1750000000, 0).UTC()

func waMsg(id string, c engine.Content) meta.Message {
	return meta.Message{
		Channel: engine.ChannelWhatsApp, AccountID: waAccount, UserID: waUser,
		UserName: "Jos\u00e9 Mar\u00eda", UserPhone: waUser, ID: id, Timestamp: waTS, Content: c,
	}
}

func waStatus(id string, st engine.DeliveryStatus, ts int64) meta.Status {
	return meta.Status{
		Channel: engine.ChannelWhatsApp, AccountID: waAccount, ID: id, RecipientID: waUser,
		Status: st, Timestamp: time.Unix(ts, 0).UTC(),
	}
}

// Messenger and Instagram fixtures.
const (
	fbPage  = "1234567890123456"
	fbPSID  = "9876543210987654"
	igAcct  = "17841400000000000"
	igIGSID = "5432109876543210"
)

var msTS = time.UnixMilli(1750000000123).UTC()

func fbMsg(id string, c engine.Content) meta.Message {
	return meta.Message{Channel: engine.ChannelMessenger, AccountID: fbPage, UserID: fbPSID, ID: id, Timestamp: msTS, Content: c}
}

func igMsg(id string, c engine.Content) meta.Message {
	return meta.Message{Channel: engine.ChannelInstagram, AccountID: igAcct, UserID: igIGSID, ID: id, Timestamp: msTS, Content: c}
}

func msgs(m ...meta.Message) meta.Batch { return meta.Batch{Messages: m} }

func text(s string) engine.Content { return engine.Content{Kind: engine.KindText, Text: s} }

func media(kind engine.MessageKind, m engine.Media) engine.Content {
	return engine.Content{Kind: kind, Media: &m}
}

func unsup(typ string) engine.Content {
	return engine.Content{Kind: engine.KindUnsupported, UnsupportedType: typ}
}

func unsupURL(typ, url string) engine.Content {
	c := unsup(typ)
	c.Media = &engine.Media{URL: url}
	c.Text = url
	return c
}

func inter(typ, id, title, payload string) engine.Content {
	return engine.Content{Kind: engine.KindInteractive, Interactive: &engine.Interactive{Type: typ, ID: id, Title: title, Payload: payload}}
}

func react(target, emoji string) engine.Content {
	return engine.Content{Kind: engine.KindReaction, Reaction: &engine.Reaction{TargetChannelMessageID: target, Emoji: emoji}}
}

func replyTo(c engine.Content, id string) engine.Content { c.ReplyTo = id; return c }

func TestParse(t *testing.T) {
	t.Parallel()

	waMulti := func(id, user, name string, ts int64, c engine.Content) meta.Message {
		m := waMsg(id, c)
		m.UserID, m.UserPhone, m.UserName, m.Timestamp = user, user, name, time.Unix(ts, 0).UTC()
		return m
	}
	fbAt := func(m meta.Message, account, user string, ms int64) meta.Message {
		m.AccountID, m.UserID, m.Timestamp = account, user, time.UnixMilli(ms).UTC()
		return m
	}
	echo := func(m meta.Message, metadata string) meta.Message {
		m.Echo, m.Metadata = true, metadata
		return m
	}
	withTS := func(m meta.Message, ms int64) meta.Message {
		m.Timestamp = time.UnixMilli(ms).UTC()
		return m
	}
	failed := func(s meta.Status, code, reason string) meta.Status {
		s.ErrorCode, s.ErrorReason = code, reason
		return s
	}
	igStory := func(c engine.Content, id, url string) engine.Content {
		c.ReplyTo = "story:" + id
		if c.Media == nil {
			c.Media = &engine.Media{URL: url}
		}
		return c
	}
	const igCDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="

	tests := []struct {
		file string
		want meta.Batch
	}{
		// WhatsApp: every message kind.
		{"wa_text.json", msgs(waMsg("wamid.TEXT1", text("Ol\u00e1! Caf\u00e9 \u00e0s 10h? \U0001F600\u2615")))},
		{"wa_text_reply.json", msgs(waMsg("wamid.REPLY1", replyTo(text("Yes, that one"), "wamid.ORIGINAL")))},
		{"wa_image.json", msgs(waMsg("wamid.IMAGE1", media(engine.KindImage, engine.Media{
			Ref: "1479537139650973", MimeType: "image/jpeg", SHA256: "RkFDQURFCg==", Caption: "Fa\u00e7ade \U0001F3E0",
			URL: "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1479537139650973",
		})))},
		{"wa_video.json", msgs(waMsg("wamid.VIDEO1", media(engine.KindVideo, engine.Media{Ref: "2233445566", MimeType: "video/mp4", SHA256: "VklERU8K"})))},
		{"wa_audio_voice.json", msgs(waMsg("wamid.VOICE1", media(engine.KindAudio, engine.Media{
			Ref: "3344556677", MimeType: "audio/ogg; codecs=opus", SHA256: "Vk9JQ0UK", Voice: true,
		})))},
		{"wa_document.json", msgs(waMsg("wamid.DOC1", media(engine.KindDocument, engine.Media{
			Ref: "4455667788", MimeType: "application/pdf", SHA256: "RE9DCg==", Caption: "Invoice", Filename: "facture-\u00e9t\u00e9.pdf",
		})))},
		{"wa_sticker.json", msgs(waMsg("wamid.STICKER1", media(engine.KindSticker, engine.Media{Ref: "5566778899", MimeType: "image/webp", SHA256: "U1RJQ0tFUgo="})))},
		{"wa_location.json", msgs(waMsg("wamid.LOC1", engine.Content{Kind: engine.KindLocation, Location: &engine.Location{
			Latitude: 48.8584, Longitude: 2.2945, Name: "Tour Eiffel", Address: "Champ de Mars, 75007 Paris",
		}}))},
		{"wa_interactive_button.json", msgs(waMsg("wamid.IBUTTON1", replyTo(inter("button_reply", "yes-confirm", "S\u00ed, confirmo", ""), "wamid.ASKED")))},
		{"wa_interactive_list.json", msgs(waMsg("wamid.ILIST1", inter("list_reply", "size-m", "Medium", "")))},
		{"wa_interactive_nfm.json", msgs(waMsg("wamid.INFM1", inter("nfm_reply", "flow", "Sent", `{"flow_token":"abc","rating":"5"}`)))},
		{"wa_interactive_future.json", msgs(waMsg("wamid.IFUT1", unsup("interactive:call_permission_reply")))},
		{"wa_button.json", msgs(waMsg("wamid.BUTTON1", replyTo(inter("button", "", "Stop promotions", "STOP_PROMOS"), "wamid.TEMPLATE")))},
		{"wa_reaction.json", msgs(waMsg("wamid.REACT1", react("wamid.OURS", "\u2764\ufe0f")))},
		{"wa_reaction_removed.json", msgs(waMsg("wamid.UNREACT1", react("wamid.OURS", "")))},
		{"wa_unsupported.json", msgs(waMsg("wamid.UNSUP1", unsup("unsupported")))},
		{"wa_order.json", msgs(waMsg("wamid.ORDER1", unsup("order")))},
		{"wa_system.json", msgs(waMsg("wamid.SYSTEM1", unsup("system")))},
		{"wa_request_welcome.json", msgs(waMsg("wamid.WELCOME1", unsup("request_welcome")))},
		{"wa_future_type.json", msgs(waMsg("wamid.FUTURE1", unsup("hologram")))},
		{"wa_unknown_fields.json", msgs(func() meta.Message {
			m := waMulti("wamid.UNK1", waUser, "Dana", 1750000000, text("hi"))
			m.Referral = &engine.Campaign{Channel: engine.ChannelWhatsApp, Source: "ad", AdID: "1", URL: "https://fb.me/ad"}
			return m
		}())},
		{"wa_multi.json", meta.Batch{
			Messages: []meta.Message{
				waMulti("wamid.A1", "16505550001", "Al\u00efce", 1750000001, text("first from Alice")),
				waMulti("wamid.B1", "16505550002", "Bob", 1750000002, text("first from Bob")),
				waMulti("wamid.C1", "16505550003", "", 1750000003, text("no contact entry")),
				func() meta.Message {
					m := waMulti("wamid.D1", "16505550004", "Carol", 1750000005,
						media(engine.KindImage, engine.Media{Ref: "999", MimeType: "image/png", SHA256: "UE5HCg=="}))
					m.AccountID = "106540352242924"
					return m
				}(),
			},
			Statuses: []meta.Status{func() meta.Status {
				s := waStatus("wamid.OUT1", engine.StatusDelivered, 1750000004)
				s.AccountID, s.RecipientID = "106540352242923", "16505550001"
				return s
			}()},
		}},

		// WhatsApp statuses.
		{"wa_status_sent.json", meta.Batch{Statuses: []meta.Status{func() meta.Status {
			s := waStatus("wamid.OUT1", engine.StatusSent, 1750000100)
			s.CallbackData = "out_01JZ0000000000000000000000"
			return s
		}()}}},
		{"wa_status_delivered.json", meta.Batch{Statuses: []meta.Status{waStatus("wamid.OUT1", engine.StatusDelivered, 1750000101)}}},
		{"wa_status_read.json", meta.Batch{Statuses: []meta.Status{waStatus("wamid.OUT1", engine.StatusRead, 1750000102)}}},
		{"wa_status_played.json", meta.Batch{Statuses: []meta.Status{waStatus("wamid.VOICEOUT", engine.StatusRead, 1750000103)}}},
		{"wa_status_failed.json", meta.Batch{Statuses: []meta.Status{func() meta.Status {
			s := failed(waStatus("wamid.OUT2", engine.StatusFailed, 1750000104), "131047",
				"Message failed to send because more than 24 hours have passed since the customer last replied to this number.")
			s.CallbackData = "out_2"
			return s
		}()}}},
		{"wa_status_failed_title_only.json", meta.Batch{Statuses: []meta.Status{
			failed(waStatus("wamid.OUT3", engine.StatusFailed, 1750000105), "0", "AuthException"),
		}}},
		{"wa_status_unknown.json", meta.Batch{Statuses: []meta.Status{waStatus("wamid.OUT1", engine.StatusRead, 1750000107)}}},
		{"wa_statuses_out_of_order.json", meta.Batch{Statuses: []meta.Status{
			waStatus("wamid.OUT9", engine.StatusRead, 1750000203),
			waStatus("wamid.OUT9", engine.StatusDelivered, 1750000202),
			failed(waStatus("wamid.OUT9", engine.StatusFailed, 1750000204), "131026", "Message undeliverable"),
			waStatus("wamid.OUT9", engine.StatusSent, 1750000201),
		}}},
		{"wa_errors.json", meta.Batch{Errors: []meta.APIError{{
			Code: 131000, Title: "Something went wrong", Message: "Something went wrong", Details: "Unable to process the webhook.",
		}}}},

		// Messenger.
		{"fb_text.json", msgs(fbMsg("m_TEXT1", text("Bonjour, o\u00f9 est ma commande ? \U0001F4E6")))},
		{"fb_quick_reply.json", msgs(fbMsg("m_QR1", inter("quick_reply", "", "Rouge", "COLOR_RED")))},
		{"fb_reply_to.json", msgs(fbMsg("m_REPLY1", replyTo(text("this one"), "m_EARLIER")))},
		{"fb_image.json", msgs(fbMsg("m_ATT", media(engine.KindImage, engine.Media{URL: "https://scontent.xx.fbcdn.net/v/image.jpg?oh=1"})))},
		{"fb_video.json", msgs(fbMsg("m_ATT", media(engine.KindVideo, engine.Media{URL: "https://video.xx.fbcdn.net/v/video.mp4"})))},
		{"fb_audio.json", msgs(fbMsg("m_ATT", media(engine.KindAudio, engine.Media{URL: "https://cdn.fbsbx.com/v/audioclip.mp4"})))},
		{"fb_file.json", msgs(fbMsg("m_ATT", media(engine.KindDocument, engine.Media{URL: "https://cdn.fbsbx.com/v/report.pdf"})))},
		{"fb_sticker.json", msgs(fbMsg("m_ATT", media(engine.KindSticker, engine.Media{URL: "https://scontent.xx.fbcdn.net/v/sticker.png", Ref: "369239263222822"})))},
		{"fb_image_sticker.json", msgs(fbMsg("m_ATT", media(engine.KindSticker, engine.Media{URL: "https://scontent.xx.fbcdn.net/v/thumbs.png", Ref: "369239263222822"})))},
		{"fb_text_and_attachments.json", msgs(
			fbMsg("m_MULTI", media(engine.KindImage, engine.Media{URL: "https://scontent.xx.fbcdn.net/v/one.jpg", Caption: "Les photos de l'\u00e9tiquette"})),
			fbMsg("m_MULTI#2", media(engine.KindImage, engine.Media{URL: "https://scontent.xx.fbcdn.net/v/two.jpg"})),
		)},
		{"fb_fallback.json", msgs(fbMsg("m_FALLBACK", unsupURL("attachment:fallback", "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com")))},
		{"fb_reel.json", msgs(fbMsg("m_ATT", unsupURL("attachment:ig_reel", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1")))},
		{"fb_template_text.json", msgs(fbMsg("m_TPL", func() engine.Content {
			c := unsup("attachment:template")
			c.Text = "see this"
			return c
		}()))},
		{"fb_location.json", msgs(fbMsg("m_LOC", engine.Content{Kind: engine.KindLocation, Location: &engine.Location{
			Latitude: -33.8688, Longitude: 151.2093, Name: "Pin",
		}}))},
		{"fb_echo.json", msgs(echo(fbMsg("m_ECHO1", text("R\u00e9ponse envoy\u00e9e depuis l'app")), "out_01JZECHO"))},
		{"fb_echo_image.json", msgs(echo(fbMsg("m_ECHO2", media(engine.KindImage, engine.Media{URL: "https://scontent.xx.fbcdn.net/v/echo.jpg"})), ""))},
		{"fb_postback.json", msgs(fbMsg("m_POSTBACK1", inter("postback", "", "Commencer", "GET_STARTED")))},
		{"fb_postback_no_mid.json", msgs(func() meta.Message {
			m := fbMsg("postback:"+fbPSID+":1750000000123", inter("postback", "", "Menu", "MENU"))
			m.Referral = &engine.Campaign{Source: "shortlink", Ref: "x"}
			return m
		}())},
		{"fb_reaction.json", msgs(fbMsg("reaction:m_OURS:"+fbPSID+":1750000000123", react("m_OURS", "\u2764\ufe0f")))},
		{"fb_reaction_name_only.json", msgs(fbMsg("reaction:m_OURS:"+fbPSID+":1750000000123", react("m_OURS", "\U0001F44D")))},
		{"fb_unreact.json", msgs(withTS(fbMsg("reaction:m_OURS:"+fbPSID+":1750000009999", react("m_OURS", "")), 1750000009999))},
		{"fb_delivery.json", meta.Batch{Watermarks: []meta.Watermark{{
			Channel: engine.ChannelMessenger, AccountID: fbPage, UserID: fbPSID, Status: engine.StatusDelivered,
			At: time.UnixMilli(1750000000000).UTC(), MessageIDs: []string{"m_OUT1", "m_OUT2"},
		}}}},
		{"fb_delivery_no_mids.json", meta.Batch{Watermarks: []meta.Watermark{{
			Channel: engine.ChannelMessenger, AccountID: fbPage, UserID: fbPSID, Status: engine.StatusDelivered,
			At: time.UnixMilli(1750000000000).UTC(),
		}}}},
		{"fb_read.json", meta.Batch{Watermarks: []meta.Watermark{{
			Channel: engine.ChannelMessenger, AccountID: fbPage, UserID: fbPSID, Status: engine.StatusRead,
			At: time.UnixMilli(1750000000456).UTC(),
		}}}},
		{"fb_multi.json", meta.Batch{
			Messages: []meta.Message{
				fbAt(fbMsg("m_1", text("one")), fbPage, "1111", 1750000000001),
				fbAt(fbMsg("m_2", text("two")), fbPage, "2222", 1750000000002),
				fbAt(fbMsg("m_3", text("three")), "6543210987654321", "3333", 1750000000004),
			},
			Watermarks: []meta.Watermark{{
				Channel: engine.ChannelMessenger, AccountID: fbPage, UserID: "1111", Status: engine.StatusRead,
				At: time.UnixMilli(1750000000000).UTC(),
			}},
		}},
		{"fb_unknown_events.json", msgs(func() meta.Message {
			m := fbAt(fbMsg("m_KEPT", text("kept")), fbPage, fbPSID, 1750000000007)
			m.Referral = &engine.Campaign{Source: "ads", Ref: "ad"} // the referral event before it
			return m
		}())},

		// Instagram.
		{"ig_text.json", msgs(igMsg("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", text("Ciao! Quanto costa? \U0001F60D")))},
		{"ig_image.json", msgs(igMsg("m_ATT", media(engine.KindImage, engine.Media{URL: igCDN + "17900000000000000&signature=abc"})))},
		{"ig_video.json", msgs(igMsg("m_ATT", media(engine.KindVideo, engine.Media{URL: igCDN + "2"})))},
		{"ig_audio.json", msgs(igMsg("m_ATT", media(engine.KindAudio, engine.Media{URL: igCDN + "3"})))},
		{"ig_file.json", msgs(igMsg("m_ATT", media(engine.KindDocument, engine.Media{URL: igCDN + "4"})))},
		{"ig_share.json", msgs(igMsg("m_ATT", unsupURL("attachment:share", "https://www.instagram.com/p/ABC/")))},
		{"ig_reel.json", msgs(igMsg("m_ATT", unsupURL("attachment:ig_reel", igCDN+"5")))},
		{"ig_story_mention.json", msgs(igMsg("m_MENTION", unsupURL("story_mention", igCDN+"6")))},
		{"ig_story_reply.json", msgs(igMsg("m_STORYREPLY", igStory(text("Trop beau \u2728"), "17890000000000001", igCDN+"7")))},
		{"ig_story_reply_image.json", msgs(igMsg("m_STORYIMG", igStory(media(engine.KindImage, engine.Media{URL: igCDN + "8"}), "17890000000000002", "")))},
		{"ig_reply_to.json", msgs(igMsg("m_IGREPLY", replyTo(text("ok"), "m_IGEARLIER")))},
		{"ig_quick_reply.json", msgs(igMsg("m_IGQR", inter("quick_reply", "", "Taille M", "SIZE_M")))},
		{"ig_echo.json", msgs(echo(igMsg("m_IGECHO", text("Merci !")), ""))},
		{"ig_seen.json", meta.Batch{Watermarks: []meta.Watermark{{
			Channel: engine.ChannelInstagram, AccountID: igAcct, UserID: igIGSID, Status: engine.StatusRead,
			At: time.UnixMilli(1750000000777).UTC(), MessageIDs: []string{"m_IGOURS"},
		}}}},
		{"ig_reaction.json", msgs(igMsg("reaction:m_IGOURS:"+igIGSID+":1750000000123", react("m_IGOURS", "\u2764\ufe0f")))},
		{"ig_unreact.json", msgs(igMsg("reaction:m_IGOURS:"+igIGSID+":1750000000123", react("m_IGOURS", "")))},
		{"ig_postback.json", msgs(igMsg("m_IGPB", inter("postback", "", "Prix ?", "ICEBREAKER_PRICE")))},
		{"ig_deleted.json", meta.Batch{}},
		{"ig_edit.json", meta.Batch{}},
		{"ig_referral.json", meta.Batch{}},
		{"ig_unsupported.json", msgs(igMsg("m_IGUNSUP", unsup("unsupported")))},
		{"ig_multi.json", meta.Batch{
			Messages: []meta.Message{
				withTS(igMsg("m_IG1", text("uno")), 1750000000001),
				echo(withTS(igMsg("m_IG2", text("due")), 1750000000002), ""),
				fbAt(igMsg("m_IG3", text("tre")), "17841400000000001", "6666", 1750000000004),
			},
			Watermarks: []meta.Watermark{{
				Channel: engine.ChannelInstagram, AccountID: igAcct, UserID: igIGSID, Status: engine.StatusRead,
				At: time.UnixMilli(1750000000003).UTC(), MessageIDs: []string{"m_IG2"},
			}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			got, err := parsers[tc.file[:2]](load(t, tc.file))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			requireValid(t, got)
		})
	}
}

// TestParseContacts checks that contact cards are kept as the raw JSON
// array Meta sent, escapes included.
func TestParseContacts(t *testing.T) {
	t.Parallel()
	b, err := meta.ParseWhatsApp(load(t, "wa_contacts.json"))
	require.NoError(t, err)
	requireValid(t, b)
	require.Len(t, b.Messages, 1)
	m := b.Messages[0]
	require.Equal(t, "wamid.CONTACTS1", m.ID)
	require.Equal(t, engine.KindContacts, m.Content.Kind)
	require.True(t, json.Valid(m.Content.Contacts))
	require.Equal(t, byte('['), m.Content.Contacts[0])
	require.Contains(t, string(m.Content.Contacts), `"Zo\u00eb Smith"`)
	var cards []struct {
		Name struct {
			FormattedName string `json:"formatted_name"`
		} `json:"name"`
	}
	require.NoError(t, json.Unmarshal(m.Content.Contacts, &cards))
	require.Equal(t, "Zo\u00eb Smith", cards[0].Name.FormattedName)
}

// TestParseAllTestdata runs every payload through its parser.
func TestParseAllTestdata(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.Greater(t, len(files), 60)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := load(t, name)
			for _, r := range string(body) {
				require.Less(t, r, rune(0x80), "payloads escape non-ASCII as Meta does")
			}
			b, err := parsers[name[:2]](body)
			require.NoError(t, err)
			requireValid(t, b)
			// Every other parser refuses the payload: wrong object.
			for prefix, p := range parsers {
				if prefix != name[:2] {
					_, err := p(body)
					require.ErrorIs(t, err, meta.ErrMalformed)
				}
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	wa := func(message string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"messages":[` + message + `]}}]}]}`
	}
	waValue := func(value string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":` + value + `}]}]}`
	}
	waStatus := func(status string) string {
		return waValue(`{"metadata":{"phone_number_id":"106540352242922"},"statuses":[` + status + `]}`)
	}
	ms := func(object, event string) string {
		return `{"object":"` + object + `","entry":[{"id":"1234","time":1,"messaging":[` + event + `]}]}`
	}
	fb := func(event string) string { return ms("page", event) }
	ig := func(event string) string { return ms("instagram", event) }
	const user = `"sender":{"id":"42"},"recipient":{"id":"1234"},"timestamp":1750000000000`
	long := strings.Repeat("x", 600)

	tests := []struct {
		name   string
		parser string
		body   string
	}{
		{"empty body", "wa", ``},
		{"empty body", "fb", ``},
		{"empty body", "ig", ``},
		{"not json", "wa", `hello`},
		{"not json", "fb", `<xml/>`},
		{"null", "wa", `null`},
		{"null", "ig", `null`},
		{"array", "fb", `[]`},
		{"trailing garbage", "wa", wa(`{"from":"1","id":"w","timestamp":"1","type":"text","text":{"body":"x"}}`) + `}`},
		{"invalid utf-8 in text", "wa", wa(`{"from":"1","id":"w","timestamp":"1","type":"text","text":{"body":"caf` + "\xe9" + `"}}`)},
		{"invalid utf-8 in text", "fb", fb(`{` + user + `,"message":{"mid":"m","text":"` + "\xff\xfe" + `"}}`)},
		{"invalid utf-8 in unknown field", "ig", ig(`{` + user + `,"message":{"mid":"m","text":"ok"},"x":"` + "\xc0\xaf" + `"}`)},
		{"no object", "wa", `{"entry":[]}`},
		{"wrong object", "wa", `{"object":"page","entry":[]}`},
		{"wrong object", "fb", `{"object":"instagram","entry":[]}`},
		{"wrong object", "ig", `{"object":"page","entry":[]}`},
		{"object not a string", "fb", `{"object":5,"entry":[]}`},
		{"entry is an object", "wa", `{"object":"whatsapp_business_account","entry":{"id":"1"}}`},
		{"entry is an object", "fb", `{"object":"page","entry":{"id":"1"}}`},
		{"entry is an object", "ig", `{"object":"instagram","entry":{"id":"1"}}`},
		{"changes is a string", "wa", `{"object":"whatsapp_business_account","entry":[{"changes":"x"}]}`},
		{"messaging is an object", "fb", `{"object":"page","entry":[{"id":"1","messaging":{}}]}`},

		// WhatsApp messages.
		{"numeric timestamp", "wa", wa(`{"from":"1","id":"w","timestamp":5,"type":"text","text":{"body":"x"}}`)},
		{"unparsable timestamp", "wa", wa(`{"from":"1","id":"w","timestamp":"yesterday","type":"text","text":{"body":"x"}}`)},
		{"negative timestamp", "wa", wa(`{"from":"1","id":"w","timestamp":"-5","type":"text","text":{"body":"x"}}`)},
		{"timestamp past 9999", "wa", wa(`{"from":"1","id":"w","timestamp":"999999999999","type":"text","text":{"body":"x"}}`)},
		{"missing timestamp", "wa", wa(`{"from":"1","id":"w","type":"text","text":{"body":"x"}}`)},
		{"missing id", "wa", wa(`{"from":"1","timestamp":"1","type":"text","text":{"body":"x"}}`)},
		{"missing from", "wa", wa(`{"id":"w","timestamp":"1","type":"text","text":{"body":"x"}}`)},
		{"missing type", "wa", wa(`{"from":"1","id":"w","timestamp":"1","text":{"body":"x"}}`)},
		{"oversize id", "wa", wa(`{"from":"1","id":"` + long + `","timestamp":"1","type":"text","text":{"body":"x"}}`)},
		{"oversize from", "wa", wa(`{"from":"` + long + `","id":"w","timestamp":"1","type":"text","text":{"body":"x"}}`)},
		{"id is a number", "wa", wa(`{"from":"1","id":7,"timestamp":"1","type":"text","text":{"body":"x"}}`)},
		{"text body is a number", "wa", wa(`{"from":"1","id":"w","timestamp":"1","type":"text","text":{"body":5}}`)},
		{"text is a string", "wa", wa(`{"from":"1","id":"w","timestamp":"1","type":"text","text":"x"}`)},
		{"latitude is a string", "wa", wa(`{"from":"1","id":"w","timestamp":"1","type":"location","location":{"latitude":"1","longitude":2}}`)},
		{"voice is a string", "wa", wa(`{"from":"1","id":"w","timestamp":"1","type":"audio","audio":{"id":"a","voice":"yes"}}`)},
		{"contacts is an object", "wa", wa(`{"from":"1","id":"w","timestamp":"1","type":"contacts","contacts":{"name":"x"}}`)},
		{"messages is an object", "wa", waValue(`{"metadata":{"phone_number_id":"1"},"messages":{}}`)},
		{"value is a string", "wa", waValue(`"x"`)},
		{"missing value", "wa", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages"}]}]}`},
		{"missing phone_number_id", "wa", waValue(`{"metadata":{},"messages":[{"from":"1","id":"w","timestamp":"1","type":"text","text":{"body":"x"}}]}`)},
		{"phone_number_id is a number", "wa", waValue(`{"metadata":{"phone_number_id":106540352242922},"messages":[]}`)},
		{"contact wa_id is a number", "wa", waValue(`{"metadata":{"phone_number_id":"1"},"contacts":[{"wa_id":1}],"messages":[]}`)},
		{"one bad message among good", "wa", wa(`{"from":"1","id":"w1","timestamp":"1","type":"text","text":{"body":"x"}},{"from":"1","timestamp":"1","type":"text","text":{"body":"x"}}`)},

		// WhatsApp statuses and errors.
		{"status without id", "wa", waStatus(`{"status":"read","timestamp":"1","recipient_id":"1"}`)},
		{"status numeric timestamp", "wa", waStatus(`{"id":"w","status":"read","timestamp":1,"recipient_id":"1"}`)},
		{"status bad timestamp", "wa", waStatus(`{"id":"w","status":"sent","timestamp":"soon","recipient_id":"1"}`)},
		{"status is a number", "wa", waStatus(`{"id":"w","status":3,"timestamp":"1"}`)},
		{"status without account", "wa", waValue(`{"statuses":[{"id":"w","status":"sent","timestamp":"1"}]}`)},
		{"error code is a string", "wa", waStatus(`{"id":"w","status":"failed","timestamp":"1","errors":[{"code":"131047"}]}`)},
		{"error code is a float", "wa", waValue(`{"errors":[{"code":1.5}]}`)},

		// Messenger and Instagram.
		{"string timestamp", "fb", fb(`{"sender":{"id":"42"},"recipient":{"id":"1234"},"timestamp":"1750000000000","message":{"mid":"m","text":"x"}}`)},
		{"float timestamp", "fb", fb(`{"sender":{"id":"42"},"recipient":{"id":"1234"},"timestamp":1.5,"message":{"mid":"m","text":"x"}}`)},
		{"negative timestamp", "ig", ig(`{"sender":{"id":"42"},"recipient":{"id":"1234"},"timestamp":-1,"message":{"mid":"m","text":"x"}}`)},
		{"missing timestamp", "fb", fb(`{"sender":{"id":"42"},"recipient":{"id":"1234"},"message":{"mid":"m","text":"x"}}`)},
		{"missing timestamp on postback", "ig", ig(`{"sender":{"id":"42"},"recipient":{"id":"1234"},"postback":{"mid":"m","payload":"x"}}`)},
		{"sender id is a number", "fb", fb(`{"sender":{"id":42},"recipient":{"id":"1234"},"timestamp":1,"message":{"mid":"m","text":"x"}}`)},
		{"missing sender", "fb", fb(`{"recipient":{"id":"1234"},"timestamp":1,"message":{"mid":"m","text":"x"}}`)},
		{"missing sender", "ig", ig(`{"recipient":{"id":"1234"},"timestamp":1,"reaction":{"mid":"m","action":"react","emoji":"x"}}`)},
		{"missing sender on read", "fb", fb(`{"recipient":{"id":"1234"},"timestamp":1,"read":{"watermark":1}}`)},
		{"missing echo recipient", "ig", ig(`{"sender":{"id":"1234"},"timestamp":1,"message":{"mid":"m","text":"x","is_echo":true}}`)},
		{"missing account", "fb", `{"object":"page","entry":[{"messaging":[{"sender":{"id":"42"},"timestamp":1,"message":{"mid":"m","text":"x"}}]}]}`},
		{"missing mid", "fb", fb(`{` + user + `,"message":{"text":"x"}}`)},
		{"missing mid", "ig", ig(`{` + user + `,"message":{"text":"x"}}`)},
		{"oversize mid", "ig", ig(`{` + user + `,"message":{"mid":"` + long + `","text":"x"}}`)},
		{"oversize sender", "fb", fb(`{"sender":{"id":"` + long + `"},"recipient":{"id":"1234"},"timestamp":1,"message":{"mid":"m","text":"x"}}`)},
		{"oversize postback mid", "fb", fb(`{` + user + `,"postback":{"mid":"` + long + `","payload":"x"}}`)},
		{"oversize delivery mid", "fb", fb(`{` + user + `,"delivery":{"mids":["` + long + `"],"watermark":1}}`)},
		{"text is a number", "fb", fb(`{` + user + `,"message":{"mid":"m","text":5}}`)},
		{"is_echo is a string", "fb", fb(`{` + user + `,"message":{"mid":"m","text":"x","is_echo":"true"}}`)},
		{"attachments is an object", "ig", ig(`{` + user + `,"message":{"mid":"m","attachments":{"type":"image"}}}`)},
		{"payload url is a number", "fb", fb(`{` + user + `,"message":{"mid":"m","attachments":[{"type":"image","payload":{"url":5}}]}}`)},
		{"sticker_id is a float", "fb", fb(`{` + user + `,"message":{"mid":"m","attachments":[{"type":"sticker","payload":{"sticker_id":1.5}}]}}`)},
		{"sticker_id is an object", "fb", fb(`{` + user + `,"message":{"mid":"m","attachments":[{"type":"sticker","payload":{"sticker_id":{}}}]}}`)},
		{"mids is a string", "fb", fb(`{` + user + `,"delivery":{"mids":"m","watermark":1}}`)},
		{"watermark is a string", "fb", fb(`{` + user + `,"read":{"watermark":"1"}}`)},
		{"watermark is negative", "fb", fb(`{` + user + `,"delivery":{"watermark":-1}}`)},
		{"read mid is a number", "ig", ig(`{` + user + `,"read":{"mid":1}}`)},
		{"reaction is a string", "ig", ig(`{` + user + `,"reaction":"love"}`)},
		{"story is a string", "ig", ig(`{` + user + `,"message":{"mid":"m","text":"x","reply_to":{"story":"s"}}}`)},
		{"one bad event among good", "ig", ig(`{` + user + `,"message":{"mid":"m1","text":"x"}},{` + user + `,"message":{"text":"x"}}`)},
	}
	for _, tc := range tests {
		t.Run(tc.parser+" "+tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := parsers[tc.parser]([]byte(tc.body))
			require.ErrorIs(t, err, meta.ErrMalformed)
			require.Equal(t, meta.Batch{}, b)
		})
	}
}

// TestParseTruncated cuts payloads at every byte: no prefix is a valid
// delivery, and none panics.
func TestParseTruncated(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"wa_multi.json", "fb_multi.json", "ig_story_reply.json"} {
		body := load(t, name)
		p := parsers[name[:2]]
		for i := range len(bytes.TrimSpace(body)) {
			_, err := p(body[:i])
			require.ErrorIs(t, err, meta.ErrMalformed, "%s cut at %d", name, i)
		}
	}
}

// TestParseOversize checks the oversize policy: identifiers beyond the
// engine's limits are refused (above); every other field is cut at a rune
// boundary to the engine's limit, so the message still validates.
func TestParseOversize(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("\u00e9", engine.MaxTextBytes) // two bytes a rune
	field := strings.Repeat("\U0001F600", engine.MaxFieldBytes)

	waBody := `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{` +
		`"metadata":{"phone_number_id":"1"},"contacts":[{"wa_id":"2","profile":{"name":"` + field + `"}}],"messages":[` +
		`{"from":"2","id":"w1","timestamp":"1","type":"text","text":{"body":"` + big + `"}},` +
		`{"from":"2","id":"w2","timestamp":"1","type":"document","document":{"id":"d","caption":"` + field + `","filename":"` + field + `"}}` +
		`]}}]}]}`
	b, err := meta.ParseWhatsApp([]byte(waBody))
	require.NoError(t, err)
	requireValid(t, b)
	require.Len(t, b.Messages, 2)
	require.Len(t, b.Messages[0].Content.Text, engine.MaxTextBytes)
	require.True(t, strings.HasPrefix(big, b.Messages[0].Content.Text))
	require.LessOrEqual(t, len(b.Messages[0].UserName), 256)
	require.True(t, strings.HasPrefix(field, b.Messages[0].UserName))
	require.Len(t, b.Messages[1].Content.Media.Caption, engine.MaxFieldBytes)
	require.True(t, utf8.ValidString(b.Messages[1].Content.Media.Filename))

	// Messenger: a text too long for a caption stays the message's text.
	long := strings.Repeat("a", engine.MaxFieldBytes+1)
	fbBody := `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,` +
		`"message":{"mid":"m","text":"` + long + `","attachments":[{"type":"image","payload":{"url":"https://x"}}]}}]}]}`
	b, err = meta.ParseMessenger([]byte(fbBody))
	require.NoError(t, err)
	requireValid(t, b)
	require.Equal(t, long, b.Messages[0].Content.Text)
	require.Empty(t, b.Messages[0].Content.Media.Caption)

	// A reaction's synthetic id stays within the message id limit.
	mid := strings.Repeat("m", 500)
	fbBody = `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,` +
		`"reaction":{"mid":"` + mid + `","action":"react","emoji":"x"}}]}]}`
	b, err = meta.ParseMessenger([]byte(fbBody))
	require.NoError(t, err)
	requireValid(t, b)
	require.True(t, strings.HasPrefix(b.Messages[0].ID, "reaction:sha256:"))
	again, err := meta.ParseMessenger([]byte(fbBody))
	require.NoError(t, err)
	require.Equal(t, b.Messages[0].ID, again.Messages[0].ID, "stable across redeliveries")
}

// TestParseEdgeCases covers choices documented on the parsers.
func TestParseEdgeCases(t *testing.T) {
	t.Parallel()
	wa := func(message string) []byte {
		return []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{` +
			`"metadata":{"phone_number_id":"1"},"messages":[` + message + `]}}]}]}`)
	}
	fb := func(event string) []byte {
		return []byte(`{"object":"page","entry":[{"id":"1","messaging":[` + event + `]}]}`)
	}
	const user = `"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1000`
	tests := []struct {
		name  string
		parse parser
		body  []byte
		want  engine.Content // of the only message
	}{
		{"wa empty text", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"text","text":{"body":"  "}}`), unsup("text")},
		{"wa text without body", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"text"}`), unsup("text")},
		{"wa image without id", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"image","image":{"mime_type":"image/png"}}`), unsup("image")},
		{"wa image with url only", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"image","image":{"url":"https://x"}}`),
			media(engine.KindImage, engine.Media{URL: "https://x"})},
		{"wa location off the globe", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"location","location":{"latitude":91,"longitude":0}}`), unsup("location")},
		{"wa location without longitude", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"location","location":{"latitude":1}}`), unsup("location")},
		{"wa empty contacts", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"contacts","contacts":[ ]}`), unsup("contacts")},
		{"wa reaction without target", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"reaction","reaction":{"emoji":"x"}}`), unsup("reaction")},
		{"wa interactive without reply", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"interactive","interactive":{"type":"button_reply"}}`), unsup("interactive:button_reply")},
		{"wa lone surrogate", meta.ParseWhatsApp, wa(`{"from":"2","id":"w","timestamp":"1","type":"text","text":{"body":"a\ud800b"}}`), text("a\uFFFDb")},
		{"fb empty message", meta.ParseMessenger, fb(`{` + user + `,"message":{"mid":"m"}}`), unsup("empty")},
		{"fb whitespace text", meta.ParseMessenger, fb(`{` + user + `,"message":{"mid":"m","text":" \n "}}`), unsup("empty")},
		{"fb image without url", meta.ParseMessenger, fb(`{` + user + `,"message":{"mid":"m","attachments":[{"type":"image","payload":{}}]}}`), unsup("attachment:image")},
		{"fb attachment without type", meta.ParseMessenger, fb(`{` + user + `,"message":{"mid":"m","attachments":[{"payload":null}]}}`), unsup("attachment")},
		{"fb reaction without mid", meta.ParseMessenger, fb(`{` + user + `,"reaction":{"action":"react","emoji":"x"}}`), unsup("reaction")},
		{"fb reaction without emoji", meta.ParseMessenger, fb(`{` + user + `,"reaction":{"mid":"m","action":"react","reaction":"other"}}`), unsup("reaction")},
		{"fb story reply without text", meta.ParseInstagram, []byte(`{"object":"instagram","entry":[{"id":"1","messaging":[{` + user +
			`,"message":{"mid":"m","reply_to":{"story":{"id":"s","url":"https://s"}}}}]}]}`),
			engine.Content{Kind: engine.KindUnsupported, UnsupportedType: "story_reply", ReplyTo: "story:s", Media: &engine.Media{URL: "https://s"}}},
		{"fb reply to mid wins over story", meta.ParseMessenger, fb(`{` + user + `,"message":{"mid":"m","text":"x","reply_to":{"mid":"r","story":{"id":"s"}}}}`),
			replyTo(text("x"), "r")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := tc.parse(tc.body)
			require.NoError(t, err)
			requireValid(t, b)
			require.Len(t, b.Messages, 1)
			require.Equal(t, tc.want, b.Messages[0].Content)
		})
	}

	t.Run("empty deliveries", func(t *testing.T) {
		t.Parallel()
		for body, p := range map[string]parser{
			`{"object":"whatsapp_business_account"}`:                                                          meta.ParseWhatsApp,
			`{"object":"whatsapp_business_account","entry":[]}`:                                               meta.ParseWhatsApp,
			`{"object":"whatsapp_business_account","entry":[{"changes":[]}]}`:                                 meta.ParseWhatsApp,
			`{"object":"page","entry":[{"id":"1"}]}`:                                                          meta.ParseMessenger,
			`{"object":"instagram","entry":[{"id":"1","changes":[{"field":"comments","value":{"id":"c"}}]}]}`: meta.ParseInstagram,
		} {
			b, err := p([]byte(body))
			require.NoError(t, err, body)
			require.Equal(t, meta.Batch{}, b, body)
		}
	})

	t.Run("errors only on failed statuses", func(t *testing.T) {
		t.Parallel()
		b, err := meta.ParseWhatsApp([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{` +
			`"metadata":{"phone_number_id":"1"},"statuses":[` +
			`{"id":"w","status":"sent","timestamp":"1","errors":[{"code":1,"title":"x"}]},` +
			`{"id":"w","status":"failed","timestamp":"2"}]}}]}]}`))
		require.NoError(t, err)
		requireValid(t, b)
		require.Len(t, b.Statuses, 2)
		require.Empty(t, b.Statuses[0].ErrorCode)
		require.Equal(t, engine.StatusFailed, b.Statuses[1].Status)
		require.Empty(t, b.Statuses[1].ErrorCode, "a failure without errors[] has no code")
	})

	t.Run("business sender without is_echo", func(t *testing.T) {
		t.Parallel()
		// A reaction whose sender is the page itself is the business's.
		b, err := meta.ParseMessenger(fb(`{"sender":{"id":"1"},"recipient":{"id":"2"},"timestamp":1000,"reaction":{"mid":"m","action":"react","emoji":"x"}},` +
			`{"sender":{"id":"1"},"recipient":{"id":"2"},"timestamp":1000,"read":{"watermark":1000}}`))
		require.NoError(t, err)
		requireValid(t, b)
		require.Len(t, b.Messages, 1)
		require.True(t, b.Messages[0].Echo)
		require.Equal(t, "2", b.Messages[0].UserID)
		require.Equal(t, "1", b.Messages[0].AccountID)
		require.Empty(t, b.Watermarks, "the business reading is not a receipt")
	})
}

// TestParseDeepNesting: nesting far beyond any real payload, in a field
// the parser skips, is refused cleanly rather than exhausting the stack.
func TestParseDeepNesting(t *testing.T) {
	t.Parallel()
	const depth = 200000
	deep := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	for prefix, p := range parsers {
		object := map[string]string{"wa": "whatsapp_business_account", "fb": "page", "ig": "instagram"}[prefix]
		_, err := p([]byte(`{"object":"` + object + `","x":` + deep + `,"entry":[]}`))
		require.ErrorIs(t, err, meta.ErrMalformed, prefix)
	}
}

// bigWhatsApp is one delivery of n text messages from n users, the shape of
// a busy number's batch.
func bigWhatsApp(n int) []byte {
	var contacts, messages []string
	for i := range n {
		id := strconv.Itoa(16505550000 + i)
		contacts = append(contacts, `{"profile":{"name":"Usu\u00e1rio `+id+`"},"wa_id":"`+id+`"}`)
		messages = append(messages, `{"from":"`+id+`","id":"wamid.`+id+`","timestamp":"1750000000","type":"text","text":{"body":"Ol\u00e1, quero saber do meu pedido \ud83d\udce6"}}`)
	}
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{` +
		`"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"106540352242922"},` +
		`"contacts":[` + strings.Join(contacts, ",") + `],"messages":[` + strings.Join(messages, ",") + `]}}]}]}`)
}

func TestParseBigBatch(t *testing.T) {
	t.Parallel()
	b, err := meta.ParseWhatsApp(bigWhatsApp(1000))
	require.NoError(t, err)
	requireValid(t, b)
	require.Len(t, b.Messages, 1000)
	require.Equal(t, "Usu\u00e1rio 16505550999", b.Messages[999].UserName)
	require.Equal(t, "16505550999", b.Messages[999].UserID)
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name  string
		parse parser
		body  []byte
	}{
		{"whatsapp-text", meta.ParseWhatsApp, load(b, "wa_text.json")},
		{"whatsapp-status", meta.ParseWhatsApp, load(b, "wa_status_sent.json")},
		{"whatsapp-1000", meta.ParseWhatsApp, bigWhatsApp(1000)},
		{"messenger-text", meta.ParseMessenger, load(b, "fb_text.json")},
		{"instagram-multi", meta.ParseInstagram, load(b, "ig_multi.json")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.parse(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifySignature(b *testing.B) {
	body := load(b, "wa_multi.json")
	secret := []byte("app-secret")
	sig := meta.Sign(body, secret)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if !meta.VerifySignature(body, sig, secret) {
			b.Fatal("bad signature")
		}
	}
}
