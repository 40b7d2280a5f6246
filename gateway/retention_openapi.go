package gateway

import "github.com/parleyhq/parley/engine"

// Retention, legal hold, export and erasure in the OpenAPI document
// (retention.go).
func init() {
	operations = append(operations,
		op{method: "GET", path: "/api/v1/retention", tag: "retention", summary: "The workspace's retention policy {policy: {message_days, closed_conversation_days, updated_at, updated_by}, run: {after, started_at, finished_at, messages, conversations}} (run: the retention worker's current or last run over the workspace, left out before the first). 0 days keeps forever", ok: 200},
		op{method: "PUT", path: "/api/v1/retention", tag: "retention", summary: "Set the retention policy (admin): messages and their media older than message_days days are deleted, and solved or archived conversations whose last activity is older than closed_conversation_days days are deleted whole (0 keeps forever; at most 36500). The retention worker applies it in the background, a batch of conversations at a time, through each conversation's actor, and skips the conversations of contacts on legal hold. Recorded in the audit log with the policy before and after; answers as GET", body: "RetentionPolicy", ok: 200},
		op{method: "GET", path: "/api/v1/contacts/{id}/legal-hold", tag: "retention", summary: "Whether the contact is on legal hold: {held, hold: {contact_id, reason, set_by, set_at}}", ok: 200},
		op{method: "PUT", path: "/api/v1/contacts/{id}/legal-hold", tag: "retention", summary: "Put the contact on legal hold (admin; recorded in the audit log): its conversations are exempt from retention and the contact cannot be erased (409 legal_hold) until the hold is released. Answers as GET", body: "LegalHold", ok: 200},
		op{method: "DELETE", path: "/api/v1/contacts/{id}/legal-hold", tag: "retention", summary: "Release the contact's legal hold (admin; recorded in the audit log)", ok: 204},
		op{method: "GET", path: "/api/v1/contacts/{id}/export", tag: "retention", summary: "Everything Parley holds about the contact as a ZIP, streamed (recorded in the audit log): contact.json {exported_at, contact (profile, identities, custom fields, stage, owner, subscription…), consent {unsubscribed, blocked}, legal_hold, notes, memories, segments, form_submissions, activity, conversations}, conversations/<id>.json {conversation, messages (oldest first, with their delivery statuses), notes} and media/<conversation>/<seq>-<file name> for each stored file", ok: 200},
		op{method: "POST", path: "/api/v1/contacts/{id}/erase", tag: "retention", summary: "Erase the contact (admin; confirm must repeat the contact's id, else 400 confirm_mismatch): its conversations with their messages, media files (those no other message references), notes, ratings and every index entry (list, search, thread, channel ids), then the contact with its identities, notes, memories, segment memberships, stage and owner entries, custom fields, AI writes and form submissions. Analytics counters, which hold no personal data, stay; the audit entry names the contact's id only. 409 legal_hold while the contact is on legal hold. Answers {erased, contact_id, conversations, messages, files}", body: "Erase", ok: 200},
	)
	schemas["RetentionPolicy"] = obj(map[string]any{
		"message_days":             between(integer(), 0, engine.RetentionMaxDays),
		"closed_conversation_days": between(integer(), 0, engine.RetentionMaxDays)},
		"message_days", "closed_conversation_days")
	schemas["LegalHold"] = obj(map[string]any{"reason": describe(withBound(str(), "maxLength", engine.LegalHoldReasonMax), "why the contact is held; may be empty")}, "reason")
	schemas["Erase"] = obj(map[string]any{"confirm": describe(str(), "the contact's id")}, "confirm")
}
