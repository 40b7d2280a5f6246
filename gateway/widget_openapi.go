package gateway

// The web chat widget's part of the OpenAPI document (widget.go): its
// operations and body schemas, added to the table the document is
// generated from.
func init() {
	operations = append(operations,
		op{method: "GET", path: "/widget.js", tag: "web chat widget", summary: "The web chat widget's script, for a page's <script src=\"https://<parley>/widget.js\" data-widget=\"<widget id>\" async></script> (optional data-user-id and data-user-hash sign the visitor in: see identity verification); one file, no third-party requests, its styles in a Shadow DOM", public: true, ok: 200},
		op{method: "GET", path: "/widget/v1/{widget}/config", tag: "web chat widget", summary: "What the widget draws: colours, title, greeting, position, pre-chat fields, open (inside business hours, on the server's clock) and the offline message. Like every visitor route, refused 403 origin_refused when the request's Origin is not one of the widget's allowed origins (exact match; a request without Origin is no browser's cross-origin request and passes), with CORS headers for an allowed one; 429 rate_limited beyond five times -widget-visitor-rate requests a second per client address (10 by default, in bursts of 100)", public: true, ok: 200},
		op{method: "POST", path: "/widget/v1/{widget}/sessions", tag: "web chat widget", summary: "Start a visitor session, or resume the one whose visitor_id and token the browser kept (a bad pair starts a new one); with user_id and user_hash (hex HMAC-SHA256 of user_id keyed with the widget's secret) the visitor is verified and its conversation is the user's on every device, and a user_id that is an email address is the CRM contact with that email; an unverified claim is ignored. Answers {visitor_id, token, verified, conversation_id}", public: true, body: "WidgetSession", ok: 200},
		op{method: "GET", path: "/widget/v1/{widget}/messages", tag: "web chat widget", summary: "The visitor's conversation (Authorization: Bearer <visitor token>; X-Parley-User and X-Parley-User-Hash for a verified visitor), newest first, 50 at a time before the seq before: {messages: [{id, seq, from (visitor, ai, agent), kind, text, file, status, created_at}], conversation_id, mode, seen, and email_to while the replies go by email to the address the visitor left offline}. 429 rate_limited beyond -widget-visitor-rate requests a second per visitor (2 by default, in bursts of 20; WebSocket frames count too)", public: true, query: []string{"before", "token"}, ok: 200},
		op{method: "POST", path: "/widget/v1/{widget}/messages", tag: "web chat widget", summary: "The visitor sends a text (at most 4 KiB; 413 too_large) with its client_id (stored once: a replay answers the stored message with 200 and duplicate true), the page_url and referrer (the conversation's campaign: source web, ref utm_campaign, headline utm_source / utm_medium), the browser (the contact's custom field browser), and with the first message the pre-chat or offline form (name, email, phone, fields: the contact's source is form). Outside the business hours, an offline form's email makes the conversation continue by email when the workspace has an email account (its email_to and email_account_id: replies are emailed, the customer's answers thread back); a message while the widget is open brings the replies back to the widget. It takes the path of every channel's inbound message: the inbox, the AI, takeover, folders. 201 {message, conversation_id, duplicate} once committed", public: true, body: "WidgetMessage", ok: 201},
		op{method: "POST", path: "/widget/v1/{widget}/files", tag: "web chat widget", summary: "The visitor sends a file (at most 10 MiB): a multipart body with a payload part (the WidgetMessage JSON, its text the caption) and a file part; as POST …/messages otherwise", public: true, body: "WidgetMessage", bodyType: "multipart/form-data", ok: 201},
		op{method: "GET", path: "/widget/v1/{widget}/files/{seq}", tag: "web chat widget", summary: "A file of the visitor's conversation (the visitor token in the token query parameter, or the header)", public: true, query: []string{"token", "user", "user_hash"}, ok: 200},
		op{method: "GET", path: "/widget/v1/{widget}/ws", tag: "web chat widget", summary: "The visitor's WebSocket (the visitor token in the token query parameter; user and user_hash for a verified visitor): hello {epoch, seq, conversation_id}, then {type: message, seq, message}, {type: conversation, seq, mode, seen}, {type: typing, from: agent}, and resync when epoch and seq can no longer be resumed. Client frames: ping, typing, and delivered or read with message_id. Close codes 4400 bad frame, 4404 the widget was deleted (do not reconnect), 4429 too many frames, 4008 slow consumer", public: true, query: []string{"token", "user", "user_hash", "epoch", "seq"}, ok: 101},
		op{method: "GET", path: "/api/v1/widgets", tag: "web chat widget", summary: "The workspace's web chat widgets (admin): {widgets: [{id, name, settings, snippet, created_at, updated_at}]}", ok: 200},
		op{method: "POST", path: "/api/v1/widgets", tag: "web chat widget", summary: "Make a web chat widget (admin): name and any settings (the others take their defaults). Answers the widget with its snippet and, this once, its secret (which signs verified visitors' user ids)", body: "Widget", ok: 201},
		op{method: "GET", path: "/api/v1/widgets/{id}", tag: "web chat widget", summary: "A web chat widget (admin)", ok: 200},
		op{method: "PATCH", path: "/api/v1/widgets/{id}", tag: "web chat widget", summary: "Change a web chat widget (admin): the fields given; rotate_secret true makes a new secret, shown in the answer once (the old one stops verifying)", body: "WidgetUpdate", ok: 200},
		op{method: "DELETE", path: "/api/v1/widgets/{id}", tag: "web chat widget", summary: "Remove a web chat widget (admin): its visitors' requests are refused, their open WebSockets closed with 4404 and their sessions removed; its conversations stay in the inbox. 404 once nothing of it is left", ok: 204},
		op{method: "POST", path: "/api/v1/conversations/{conv}/typing", tag: "conversations", summary: "Say that the caller is typing in the conversation: a web chat visitor sees it (nothing is stored; other channels are told nothing)", ok: 204},
	)
	schemas["WidgetSession"] = obj(map[string]any{"page_url": describe(withBound(str(), "maxLength", 4096), "the page the session starts on"),
		"visitor_id": withBound(str(), "maxLength", 64), "token": withBound(str(), "maxLength", 256),
		"user_id": withBound(str(), "maxLength", 256), "user_hash": withBound(str(), "maxLength", 128)}, "page_url")
	schemas["WidgetMessage"] = obj(map[string]any{"client_id": withBound(str(), "maxLength", 128), "text": str(),
		"page_url": withBound(str(), "maxLength", 4096), "referrer": withBound(str(), "maxLength", 4096), "browser": withBound(str(), "maxLength", 512),
		"form": obj(map[string]any{"name": withBound(str(), "maxLength", 256), "email": withBound(str(), "maxLength", 256),
			"phone":  withBound(str(), "maxLength", 64),
			"fields": map[string]any{"type": "object", "additionalProperties": withBound(str(), "maxLength", 1024)}})}, "client_id")
	schemas["Widget"] = obj(widgetProps(false), "name")
	schemas["WidgetUpdate"] = minProps(obj(widgetProps(true)))
}

// widgetProps are a widget's fields a request may name.
func widgetProps(update bool) map[string]any {
	p := map[string]any{"name": str(),
		"allowed_origins": describe(strs(), "the exact origins (https://shop.example) of the pages that may embed the widget"),
		"color":           str(), "text_color": str(), "title": str(), "greeting": str(), "position": enum("right", "left"),
		"pre_chat": map[string]any{"type": "array", "items": obj(map[string]any{"kind": enum("name", "email", "phone", "text"),
			"key": str(), "label": str(), "required": boolean()}, "kind", "label")},
		"hours": map[string]any{"type": []string{"object", "null"}, "additionalProperties": false, "required": []string{"time_zone", "days"},
			"properties": map[string]any{"time_zone": str(), "days": map[string]any{"type": "array",
				"items": obj(map[string]any{"day": integer(), "open": str(), "close": str()}, "day", "open", "close")}}},
		"offline_message": str()}
	if update {
		p["rotate_secret"] = boolean()
	}
	return p
}
