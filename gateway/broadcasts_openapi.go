package gateway

import "github.com/parleyhq/parley/engine"

// The broadcasts' part of the OpenAPI document (broadcasts.go): their
// operations and body schema, added to the table the document is
// generated from.
func init() {
	const object = "The broadcast object: {id, name, account_id, template {name, language}, variables, header_media_url, audience, state (scheduled, sending, paused, completed, cancelled), scheduled_at, started_at, finished_at, rate_per_second, counts {total, queued, sent, delivered, read, failed, replied, opted_out, skipped}, created_by, created_at}; sent, delivered and read count every recipient that got at least that far (a reply counts as read)"
	operations = append(operations,
		op{method: "POST", path: "/api/v1/broadcasts", tag: "broadcasts", summary: "Create a WhatsApp broadcast (owner or admin): one approved template sent from the number account_id to an audience. template {name, language} must be APPROVED on the number's WhatsApp Business Account (404 template_not_found, 409 template_not_approved); variables fill each of its header and body variables ({{1}}... by index) from the contact's field (name, first_name, phone, email, company, title, country, language, custom.<key>) or the fallback (400 invalid_template_params when they do not cover the template); header_media_url is a media header's https link. audience: the members of segment_id, the contacts with any of tags, contact_ids, and csv rows (phone,name; an optional header row; phones normalised to E.164, a phone of no contact becomes a contact, source import), together, each contact once; blocked and unsubscribed contacts and contacts without a WhatsApp id or valid phone are skipped with a reason. scheduled_at (RFC 3339; without an offset, UTC: workspaces have no time zone yet) starts it later, absent now; the audience is resolved when it starts. rate_per_second defaults to 80 and is at most the number's tier's (80, or 1000 for TIER_UNLIMITED; the channel account's messaging_tier), and the tier's unique recipients per rolling 24 hours (250, 1000, 10000, 100000, unlimited) are never exceeded: sending waits. Meta's 131056 (pair rate limit) retries that recipient later; 130429 and 131048 slow the whole broadcast (exponential backoff, the rate halved per level); other errors fail the recipient with the code and reason. A reply within 72 hours marks the recipient replied and gives the conversation the attribution campaign {source: broadcast, ref: the broadcast id, headline: its name}. WhatsApp only: Messenger and Instagram allow business messages outside the 24-hour window only with a message tag for narrow purposes (HUMAN_AGENT for a person's reply), never marketing. " + object, body: "Broadcast", ok: 201},
		op{method: "GET", path: "/api/v1/broadcasts", tag: "broadcasts", summary: "The workspace's broadcasts, newest first: {broadcasts, next_cursor} (every role)", query: []string{"cursor", "limit"}, ok: 200},
		op{method: "POST", path: "/api/v1/broadcasts/preview", tag: "broadcasts", summary: "Check a create body and resolve its audience as it stands, storing nothing (owner or admin): {total, skipped: [{contact_id?, phone?, reason}], samples: [{contact_id, name, phone, text}]}, the first 10 recipients with the template's text filled for them", body: "Broadcast", ok: 200},
		op{method: "GET", path: "/api/v1/broadcasts/{id}", tag: "broadcasts", summary: "A broadcast with its counts as they stand. " + object, ok: 200},
		op{method: "POST", path: "/api/v1/broadcasts/{id}/pause", tag: "broadcasts", summary: "Pause a scheduled or sending broadcast (owner or admin): no new send starts; 409 bad_state otherwise", ok: 200},
		op{method: "POST", path: "/api/v1/broadcasts/{id}/resume", tag: "broadcasts", summary: "Resume a paused broadcast (owner or admin): sending again, or scheduled if it never started; 409 bad_state otherwise", ok: 200},
		op{method: "POST", path: "/api/v1/broadcasts/{id}/cancel", tag: "broadcasts", summary: "Cancel a scheduled, sending or paused broadcast (owner or admin): the recipients not sent yet get nothing; 409 bad_state once completed or cancelled", ok: 200},
		op{method: "GET", path: "/api/v1/broadcasts/{id}/recipients", tag: "broadcasts", summary: "A broadcast's recipients in contact order, of one status when status is given: {recipients: [{contact_id, name, phone, status (queued, sent, delivered, read, failed, replied, opted_out, skipped), error_code?, error_reason?, skip_reason?, message_id?, conversation_id?, updated_at}], next_cursor}", query: []string{"status", "cursor", "limit"}, ok: 200},
		op{method: "GET", path: "/api/v1/contacts/{id}/broadcasts", tag: "broadcasts", summary: "The broadcasts the contact was a recipient of, newest first: {broadcasts: [{broadcast_id, name, template, status, sent_at, error_code?, error_reason?, skip_reason?, conversation_id?, updated_at}]}", ok: 200},
	)
	variable := obj(map[string]any{"component": enum("body", "header"), "index": describe(between(integer(), 1, 100), "the variable's place in its component, from 1"),
		"field":    describe(str(), "the contact's field: name, first_name, phone, email, company, title, country, language or custom.<key>; empty for the fallback alone"),
		"fallback": describe(str(), "the value when the contact's field is empty")}, "component", "index")
	schemas["Broadcast"] = obj(map[string]any{
		"name":             describe(withBound(str(), "maxLength", engine.MaxBroadcastNameBytes), "1 to 200 bytes"),
		"account_id":       describe(str(), "the WhatsApp number (phone number id) it is sent from"),
		"template":         obj(map[string]any{"name": str(), "language": str()}, "name", "language"),
		"variables":        map[string]any{"type": "array", "maxItems": 40, "items": variable},
		"header_media_url": describe(str(), "a media header's https link"),
		"audience": obj(map[string]any{"segment_id": str(), "tags": strs(),
			"contact_ids": map[string]any{"type": "array", "maxItems": engine.MaxBroadcastContactIDs, "items": str()},
			"csv":         describe(str(), "phone,name rows (an optional header row)")}),
		"scheduled_at":    describe(str(), "RFC 3339; without an offset, UTC; absent: now"),
		"rate_per_second": describe(integer(), "messages a second (default 80; at most the number's tier's)"),
	}, "name", "account_id", "template", "audience")
}
