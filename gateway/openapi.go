package gateway

import (
	"regexp"
	"sort"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
)

// op documents one route of the API. The OpenAPI document is generated
// from this table, and a test checks that the table and the router agree
// both ways.
type op struct {
	method, path, tag, summary string
	// public routes need no token (webhooks carry a signature instead).
	public bool
	// body names the request body schema ("" for none), a JSON body
	// unless bodyType names another media type; query lists the query
	// parameters.
	body, bodyType string
	query          []string
	// ok is the success status.
	ok int
}

var operations = []op{
	{method: "GET", path: "/healthz", tag: "health", summary: "Liveness", public: true, ok: 200},
	{method: "GET", path: "/readyz", tag: "health", summary: "Readiness: 200 while serving; 503 before, and from the moment a shutdown begins (code shutting_down), so that a load balancer stops sending", public: true, ok: 200},
	{method: "GET", path: "/webhooks/{channel}", tag: "webhooks", summary: "Meta subscription handshake", public: true, query: []string{"hub.mode", "hub.verify_token", "hub.challenge"}, ok: 200},
	{method: "POST", path: "/webhooks/email/postmark", tag: "webhooks", summary: "Postmark's inbound webhook: one mail as Postmark's JSON, with HTTP basic auth (-postmark-inbound-auth; 401 otherwise, 404 when not set); stored as a mail received over SMTP (threading, duplicates, auto-replies, bounces); 200 once committed, 400 for an unreadable mail, 503 with Retry-After when overloaded", public: true, body: "PostmarkInbound", ok: 200},
	{method: "POST", path: "/webhooks/{channel}", tag: "webhooks", summary: "Meta events, signed with X-Hub-Signature-256 by the server's app secret or by the own app secret of every account addressed (else 401, nothing stored); 200 once committed; 503 with Retry-After when overloaded or shutting down", public: true, body: "MetaWebhook", ok: 200},
	{method: "POST", path: "/webhooks/stripe/{workspace}", tag: "webhooks", summary: "Stripe events of a workspace's paid access (Pay for Access), signed in Stripe-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\"> keyed with the workspace's stripe_webhook_secret, set by PUT /api/v1/agent); a bad signature (bad_signature) or a timestamp more than 5 minutes from the server's clock (stale_signature) is a 400 and changes nothing. checkout.session.completed (payment_status paid or no_payment_required) makes its contact a paying subscriber: the contact whose id is the session's client_reference_id, else the one with its Stripe customer, its customer_details email or phone, else a new contact (source api) with those details; customer.subscription.deleted ends the access of its customer's contact. Each event id changes a contact once and an event older than the last applied one changes nothing; other types are acknowledged. 200 {received, handled, contact_id, changed} once committed", public: true, body: "StripeEvent", ok: 200},
	{method: "GET", path: "/metrics", tag: "health", summary: "Prometheus metrics (text exposition format)", public: true, ok: 200},
	{method: "GET", path: "/api/v1/openapi.json", tag: "meta", summary: "This document", public: true, ok: 200},
	{method: "GET", path: "/api/v1/ws", tag: "realtime", summary: "WebSocket event stream (token in the header or the token query parameter)", public: true, query: []string{"token", "channel", "folder", "assignee", "conversation_id", "epoch", "seq"}, ok: 101},

	{method: "POST", path: "/api/v1/auth/login", tag: "auth", summary: "Password login; returns a session token", public: true, body: "Login", ok: 200},
	{method: "POST", path: "/api/v1/auth/accept-invite", tag: "auth", summary: "Accept an invitation and create the user; when the invited email already signs in to another workspace, password must be that account's (401 invalid_credentials otherwise) and the person joins this workspace with it", public: true, body: "AcceptInvite", ok: 201},
	{method: "POST", path: "/api/v1/auth/setup", tag: "auth", summary: "First run: the code of the setup link printed at start gives the first owner a name, email and password; returns a session token (the code works once, for 24 hours)", public: true, body: "Setup", ok: 201},
	{method: "POST", path: "/api/v1/auth/reset-password", tag: "auth", summary: "Set a password with the code of a reset link an admin issued; ends the user's other sessions and returns a session token (the code works once, for 24 hours)", public: true, body: "ResetPassword", ok: 200},
	{method: "POST", path: "/api/v1/auth/logout", tag: "auth", summary: "Revoke the calling session token (204 with an API token too, which stays valid)", ok: 204},
	{method: "POST", path: "/api/v1/auth/logout-all", tag: "auth", summary: "Sign out everywhere: revoke the caller's sessions but the current one (include_current false) or all of them (true); API tokens stay; answers {revoked}", body: "LogoutAll", ok: 200},
	{method: "GET", path: "/api/v1/auth/sessions", tag: "auth", summary: "The caller's sessions and API tokens, newest first, with created_at, last_used_at, device (the User-Agent of a session's sign-in) and current", ok: 200},
	{method: "GET", path: "/api/v1/me", tag: "auth", summary: "The calling user and workspace", ok: 200},
	{method: "GET", path: "/api/v1/me/workspaces", tag: "auth", summary: "The workspaces the caller's person belongs to (one credential per email, a user in each workspace): {workspaces: [{id, name, role, user_id, current}]}, oldest membership first", ok: 200},
	{method: "POST", path: "/api/v1/me/workspaces/{id}/switch", tag: "auth", summary: "Move the calling session to another workspace of the caller's person: ends the session (its WebSockets close) and returns a session token of that workspace, where the next sign-in lands too; 404 when the person is not a member there, 403 session_required with an API token (API tokens stay in their workspace)", ok: 200},
	{method: "GET", path: "/api/v1/me/notifications", tag: "notifications", summary: "The caller's notification settings: for each kind (new_conversation, assigned, mentioned, needs_human) whether it reaches them in the browser, by Web Push and by email (the defaults until they choose), and whether the server can send email (email_available: an SMTP relay is configured)", ok: 200},
	{method: "PUT", path: "/api/v1/me/notifications", tag: "notifications", summary: "Change the caller's notification settings: the kinds and media given; answers as GET", body: "NotificationSettings", ok: 200},
	{method: "GET", path: "/api/v1/push/key", tag: "notifications", summary: "The server's VAPID public key (base64url, an uncompressed P-256 point): the applicationServerKey a browser subscribes with", ok: 200},
	{method: "GET", path: "/api/v1/push/subscriptions", tag: "notifications", summary: "The caller's Web Push subscriptions: endpoint, created_at and current (registered by the calling token); never their keys", ok: 200},
	{method: "POST", path: "/api/v1/push/subscriptions", tag: "notifications", summary: "Register this device's Web Push subscription (the Push API's PushSubscription: an https endpoint and its p256dh and auth keys, base64url); it belongs to the caller and the calling token, and goes when the token is revoked (sign-out), the user is removed or the push service answers 404 or 410. The same endpoint registered before by the user is replaced; beyond 20 devices the oldest goes", body: "PushSubscription", ok: 201},
	{method: "DELETE", path: "/api/v1/push/subscriptions", tag: "notifications", summary: "Remove this device's Web Push subscriptions (those the calling token registered), or with endpoint the caller's subscription of that endpoint", query: []string{"endpoint"}, ok: 204},
	{method: "GET", path: "/api/v1/users", tag: "users", summary: "Users of the workspace, each with presence: online, away or offline (see POST /api/v1/presence)", ok: 200},
	{method: "POST", path: "/api/v1/users/invitations", tag: "users", summary: "Invite a user (admin)", body: "Invitation", ok: 201},
	{method: "GET", path: "/api/v1/users/{id}", tag: "users", summary: "A user", ok: 200},
	{method: "PATCH", path: "/api/v1/users/{id}", tag: "users", summary: "Rename a user or change their role", body: "UserUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/users/{id}", tag: "users", summary: "Remove a user (admin): their sessions and tokens end; only an owner removes an owner, never the last (409 last_owner), and nobody removes themselves (409 self)", ok: 204},
	{method: "PUT", path: "/api/v1/users/{id}/password", tag: "users", summary: "Set a user's password (admins: admins and agents; owners: anyone); ends the user's sessions but the caller's own", body: "Password", ok: 204},
	{method: "POST", path: "/api/v1/users/{id}/password-reset", tag: "users", summary: "Issue a one-time password reset link's code for a user, valid 24 hours (the web app's link is /#reset/<code>); an older one of the user stops working", ok: 201},
	{method: "GET", path: "/api/v1/tokens", tag: "users", summary: "Personal API tokens of the caller", ok: 200},
	{method: "POST", path: "/api/v1/tokens", tag: "users", summary: "Create a personal API token (secret shown once)", body: "TokenCreate", ok: 201},
	{method: "DELETE", path: "/api/v1/tokens/{id}", tag: "users", summary: "Revoke a personal API token", ok: 204},

	{method: "GET", path: "/api/v1/channels", tag: "channels", summary: "Connected channel accounts (secrets never returned), each with its health {state, reason, code, since, checked_at}: state unknown (never checked), connected, expired (the token was refused: Graph code 190 or 102), unreachable (network errors, timeouts, HTTP 5xx, rate limits) or error (another refusal: a missing permission, 10 or 200-299, an unknown account id, a locked account); checked every -channel-health-interval and after sends", ok: 200},
	{method: "POST", path: "/api/v1/channels", tag: "channels", summary: "Connect a WhatsApp number, Messenger page, Instagram account or email address (admin; email: account_id is the address, access_token the SMTP password, email the settings); or an API channel account ({channel: api, name, webhook_url}: its account_id, inbound_token and webhook_secret are generated and the answer shows the two secrets, once, with its inbound_url; a webhook_url on a loopback, private or link-local address is 400 private_address unless -api-channel-allow-private)", body: "ChannelAccount", ok: 201},
	{method: "GET", path: "/api/v1/channels/{channel}/{account}", tag: "channels", summary: "A channel account", ok: 200},
	{method: "PATCH", path: "/api/v1/channels/{channel}/{account}", tag: "channels", summary: "Update a channel account (admin): the fields given; an API channel account takes name, webhook_url, and rotate_inbound_token or rotate_webhook_secret (true: a new one is made, shown once in the answer, and the old one stops working)", body: "ChannelAccountUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/channels/{channel}/{account}", tag: "channels", summary: "Disconnect a channel account (admin)", ok: 204},
	{method: "POST", path: "/api/v1/channels/{channel}/{account}/check", tag: "channels", summary: "Check now (admin): check the account's health at once (one cheap Graph call) and answer the account with its new health; 503 check_timeout when the check takes more than 20 s", ok: 200},

	{method: "GET", path: "/api/v1/settings/opt-out", tag: "broadcasts", summary: "The workspace's opt-out keywords (every role): keywords (a WhatsApp message that is one of them as a whole, spaces, punctuation, case and accents aside, unsubscribes its contact from broadcasts, is answered with confirmation through the normal send path without taking the conversation over, is recorded in the contact's activity as unsubscribed, and gets no AI answer), confirmation, resubscribe_keywords (START by default: subscribe again, answered with resubscribe_confirmation); the settings in force, and defaults (STOP and its translations)", ok: 200},
	{method: "PUT", path: "/api/v1/settings/opt-out", tag: "broadcasts", summary: "Change the opt-out keywords (admin): at least one field (an empty body is 400); a field left out or null takes its default, an empty list turns that rule off; at most 50 keywords of 64 bytes per list, no keyword in both lists, confirmations up to 1024 bytes (else 400 invalid); answers as GET", body: "OptOutSettings", ok: 200},
	{method: "GET", path: "/api/v1/settings/webhooks", tag: "channels", summary: "What to paste into the Meta app's webhook settings (admin): the callback URL of each channel (under the public URL, else the address the request came to), the verify token (empty when none is set: every handshake is refused), and whether a server app secret is set", ok: 200},
	{method: "GET", path: "/api/v1/audit", tag: "audit", summary: "The workspace's audit log (owners and admins), newest first: every successful change made with a user's token or session (sign-ins, settings, channels, roles, takeovers, folder moves, deletes, merges…) and every export, each {id, at, user_id, user_name, token_id, token_kind, ip, user_agent, action (the method and route pattern, e.g. \"POST /api/v1/conversations/:conv/takeover\"), resource (the route's ids), status, before and after (settings and user changes)}. Filters: actor (a user or token id), action, resource (an id the route names), since and until (RFC 3339; until excluded); limit 1 to 200 (50 by default) and cursor (the next_cursor of the page before; absent at the end). format=jsonl or csv exports every match (the export is itself recorded, first). Unknown parameters are 400", query: []string{"actor", "action", "resource", "since", "until", "cursor", "limit", "format"}, ok: 200},

	{method: "POST", path: "/api/v1/api-channel/{account}/messages", tag: "api channel", summary: "An API channel integrator posts an inbound message (Authorization: Bearer <inbound_token> of the account, not a user token): from contact.external_id (a conversation per account and external id), its own source_id (stored once: a replay answers the stored message with 200 and duplicate true; new: 201), text and/or one file (attachment.url, fetched after the commit; or a multipart body with a payload part holding this JSON and a file part). The optional contact name names the contact as a channel's profile name does; email, phone and avatar_url update the contact. Answers {message, duplicate} once committed; 503 with Retry-After when overloaded", public: true, body: "APIChannelMessage", ok: 201},
	{method: "POST", path: "/api/v1/api-channel/{account}/statuses", tag: "api channel", summary: "An API channel integrator reports the delivery status of a message Parley delivered to its webhook (message_id is the message's id): sent, delivered, read or failed (with reason). Statuses only move forward: an older one changes nothing. Answers {message, pending: false} (its status after the report); a message_id of no delivery of this account recorded yet (a status posted from inside the webhook, before it answered) is kept, answered 202 {pending: true}, and applied when the delivery is recorded", public: true, body: "APIChannelStatus", ok: 200},
	{method: "POST", path: "/api/v1/api-channel/{account}/contacts", tag: "api channel", summary: "An API channel integrator updates the contact of one of its external ids (name, email, phone, avatar_url; a name given here is kept over profile names); 404 unknown_contact before its first message. Answers the contact", public: true, body: "APIChannelContact", ok: 200},

	{method: "GET", path: "/public/media/{token}", tag: "media", summary: "A media file by a signed, expiring link (what Instagram fetches outbound media from)", public: true, ok: 200},
	{method: "GET", path: "/api/v1/agent", tag: "agent", summary: "The workspace's AI agent settings (the API key and the Stripe webhook secret are never returned; stripe_webhook_secret_set says whether the latter is set)", ok: 200},
	{method: "PUT", path: "/api/v1/agent", tag: "agent", summary: "Change the workspace's AI agent settings: the fields given (admin). restricted with restricted_to crm (the default) answers contacts in the CRM only, with paid paying subscribers only; the others get restricted_reply (each {{contact.id}} in it replaced by the contact's id, for a payment link's client_reference_id) and no AI reply. stripe_webhook_secret is the signing secret of the workspace's Stripe endpoint (POST /webhooks/stripe/{workspace}; \"\" removes it); a channel account's override refuses it", body: "AgentSettings", ok: 200},
	{method: "POST", path: "/api/v1/agent/test", tag: "agent", summary: "Test console (admin): send a sample conversation (oldest first) to the saved agent, or to the saved settings changed by settings (the API key kept unless given), through the runtime's agent with at most a 20 s timeout, and show what it would do: outcome reply, handoff (handoff_by keyword, agent or error, with error) or off; reply, reasoning, handoff, follow_up_in_seconds, remember, duration_ms, knowledge (the knowledge base passages the agent was given for the newest customer lines) and sources (those its reply records). Nothing is stored; 429 busy while 4 tests run", body: "AgentTest", ok: 200},
	{method: "GET", path: "/api/v1/channels/{channel}/{account}/agent", tag: "agent", summary: "The AI agent settings in force for a channel account (inherited says whether they are the workspace's)", ok: 200},
	{method: "PUT", path: "/api/v1/channels/{channel}/{account}/agent", tag: "agent", summary: "Override the AI agent settings for a channel account: the fields given (admin)", body: "AgentSettings", ok: 200},
	{method: "DELETE", path: "/api/v1/channels/{channel}/{account}/agent", tag: "agent", summary: "Drop a channel account's override: it follows the workspace again (admin)", ok: 204},
	{method: "POST", path: "/api/v1/channels/{channel}/{account}/agent/test", tag: "agent", summary: "Test console of a channel account (admin): as POST /api/v1/agent/test, over the settings in force for the account (its override, or the workspace's it inherits) changed by settings (its API key kept unless given)", body: "AgentTest", ok: 200},

	{method: "GET", path: "/api/v1/assistants", tag: "assistants", summary: "The workspace's assistants ({\"assistants\":[...]}), the default one first (id \"default\", default true: its agent settings are the workspace's, GET /api/v1/agent), then the others by name; each {id, name, default, accounts (the channel accounts whose new conversations it handles, [{channel, account_id}]; for the default one every account no other assistant lists), agent (its settings as GET /api/v1/agent shows them), conversations (how many it handles, every folder), created_at, updated_at}", ok: 200},
	{method: "POST", path: "/api/v1/assistants", tag: "assistants", summary: "Create an assistant (admin): name (one line, 1 to 100 bytes), accounts (channel accounts of the workspace; one listed by another assistant moves to this one), agent (its settings, as PUT /api/v1/agent takes them, from the built-in rules agent; stripe_webhook_secret is refused); at most 50 assistants per workspace (409 too_many). A channel account's override (PUT /api/v1/channels/{channel}/{account}/agent) still wins over its assistant's settings", body: "Assistant", ok: 201},
	{method: "GET", path: "/api/v1/assistants/{id}", tag: "assistants", summary: "An assistant", ok: 200},
	{method: "PATCH", path: "/api/v1/assistants/{id}", tag: "assistants", summary: "Change an assistant (admin): the fields given; accounts replaces its list (the default assistant takes none: an account no assistant lists is its); agent changes its settings as PUT /api/v1/agent does (for the default assistant: the workspace's settings). Conversations keep the assistant they have", body: "AssistantUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/assistants/{id}", tag: "assistants", summary: "Delete an assistant (admin); the default one cannot be (409 default_assistant). Its channel accounts and its conversations go back to the default assistant", ok: 204},
	{method: "POST", path: "/api/v1/assistants/{id}/test", tag: "assistants", summary: "Test console of an assistant (admin): as POST /api/v1/agent/test, over the assistant's settings changed by settings (its API key kept unless given)", body: "AgentTest", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/assistant", tag: "assistants", summary: "Hand a conversation to another assistant of the workspace (every role): its next AI replies use that assistant's settings; 400 for an assistant_id that is not one", body: "ConversationAssistant", ok: 200},

	{method: "GET", path: "/api/v1/media/{id}", tag: "media", summary: "A stored media file of the workspace, by SHA-256 (kept while a message holds it)", ok: 200},

	{method: "GET", path: "/api/v1/analytics", tag: "analytics", summary: "Business figures of a period (UTC days): first response and resolution times, resolution rate, AI share of replies, CSAT average; per channel, and per UTC day (days: every day of the period, oldest first, each {date, figures})", query: []string{"period", "channel"}, ok: 200},
	{method: "GET", path: "/api/v1/conversations", tag: "conversations", summary: "The inbox list, newest activity first, with counts per folder and of the open folder's unread, mine and unassigned (of that channel when channel is given); needs_human=true keeps the conversations a handoff left waiting for a person; campaign (an ad id or a ref, as GET /api/v1/campaigns lists them) keeps those whose newest campaign it is; stage (a stage id) and owner (a user id) keep those whose contact stands in that stage and/or is owned by that user; assistant (an assistant id, GET /api/v1/assistants) keeps those that assistant handles (each conversation's assistant_id); segment (a segment id of the workspace, else 400) keeps those whose contact is a member of it; team (a team id of the workspace, else 400, or mine: the teams the caller is a member of) keeps those assigned to the team(s)", query: []string{"folder", "channel", "unread", "tag", "priority", "assignee", "mode", "period", "needs_human", "campaign", "stage", "owner", "assistant", "segment", "team", "cursor", "limit"}, ok: 200},
	{method: "GET", path: "/api/v1/campaigns", tag: "conversations", summary: "The campaigns the workspace's conversations came through (every folder): each an ad id, else a ref, with how many conversations it brought, counted under their newest campaign ({\"campaigns\":[{\"campaign\",\"conversations\"}]}, sorted by campaign)", ok: 200},
	{method: "GET", path: "/api/v1/tags", tag: "conversations", summary: "The tags of the workspace's conversations (every folder), by name, each with how many conversations carry it (the star is the tag priority)", ok: 200},
	{method: "GET", path: "/api/v1/search", tag: "conversations", summary: "Search conversations by contact name, phone, email, company and message text (case- and accent-insensitive word prefixes; a q with no letters or digits is 400 bad_query), most recent activity first, each hit with a snippet; folder and channel keep only that folder's and channel's (a page so narrowed can hold fewer than limit hits and still have a next_cursor)", query: []string{"q", "folder", "channel", "cursor", "limit"}, ok: 200},
	{method: "GET", path: "/api/v1/conversations/{conv}", tag: "conversations", summary: "A conversation", ok: 200},
	{method: "DELETE", path: "/api/v1/conversations/{conv}", tag: "conversations", summary: "Delete a conversation for good: messages, index entries, and the media files no message of another conversation still holds (admin)", ok: 204},
	{method: "GET", path: "/api/v1/conversations/{conv}/messages", tag: "messages", summary: "Messages, newest first", query: []string{"before", "limit"}, ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/messages", tag: "messages", summary: "Send text (JSON) or a file (multipart: file, caption); takes the conversation over", body: "SendMessage", ok: 201},
	{method: "POST", path: "/api/v1/conversations/{conv}/messages/{seq}/retry", tag: "messages", summary: "Send a failed message again", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/messages/{seq}/feedback", tag: "messages", summary: "Rate a reply of the AI up or down, with an optional correction (at most 4096 bytes): one rating per user per message, a new one replaces the caller's; 400 invalid for a message the AI did not send. Answers the rating {conversation_id, seq, user_id, rating, correction, question (the customer's message before the reply), answer, at}. The newest corrections (5) are given to the agent with each request: in the OpenAI-compatible agent's system prompt, and as corrections [{question, answer, correction}] in the webhook agent's payload", body: "Feedback", ok: 200},
	{method: "GET", path: "/api/v1/feedback", tag: "messages", summary: "The rated AI replies of the workspace, newest first: rating down (the default, the worst-rated answers) or up; each with the question before it, the reply and the correction; {feedback, next_cursor}", query: []string{"rating", "cursor", "limit"}, ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/takeover", tag: "actions", summary: "Take over: manual mode, AI resumes 15 minutes after the last human activity", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/resume-ai", tag: "actions", summary: "Hand back to the AI now", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/pause-ai", tag: "actions", summary: "Manual mode with no timer", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/read", tag: "actions", summary: "Mark read", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/unread", tag: "actions", summary: "Mark unread", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/folder", tag: "actions", summary: "Move to open, pending (waiting for the customer: the customer's next message moves it back to open), solved, spam or archived", body: "Folder", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/star", tag: "actions", summary: "Star (the priority tag) or unstar", body: "Star", ok: 200},
	{method: "PUT", path: "/api/v1/conversations/{conv}/tags/{tag}", tag: "actions", summary: "Add a tag", ok: 200},
	{method: "DELETE", path: "/api/v1/conversations/{conv}/tags/{tag}", tag: "actions", summary: "Remove a tag", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/assign", tag: "actions", summary: "Assign to a user, or unassign with null", body: "Assign", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/followup", tag: "actions", summary: "Schedule a follow-up: a preset (1h, 3h, 12h, 24h) or a time", body: "FollowUp", ok: 200},
	{method: "DELETE", path: "/api/v1/conversations/{conv}/followup", tag: "actions", summary: "Cancel the follow-up", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/csat", tag: "actions", summary: "Set the CSAT score (1-5)", body: "CSAT", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/block", tag: "actions", summary: "Block the contact", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/unblock", tag: "actions", summary: "Unblock the contact", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/subscription", tag: "actions", summary: "Unsubscribe the contact from broadcasts, or subscribe again", body: "Subscription", ok: 200},
	{method: "POST", path: "/api/v1/conversations/{conv}/notes", tag: "notes", summary: "Add a note to the conversation's contact; @name mentions notify users; answers the note, its html the Markdown of its text rendered and sanitised", body: "Note", ok: 201},

	{method: "GET", path: "/api/v1/contacts", tag: "contacts", summary: "Contacts, newest first; q searches name, phone, email and company (prefixes, case and accents aside); stage (a stage id) and owner (a user id) keep the contacts in that stage and/or owned by that user (not with q: 400), and tag with either keeps those of them one of whose conversations has the tag (looking at up to 2000 contacts a page: partial true, and next_cursor to go on, when it stopped there); each contact also has last_activity_at (its conversations' latest, absent without one) and tags (its conversations' tags, sorted, absent without any); segment (a segment id of the workspace, else 400; not with q) keeps its members, newest first, from the segment's index, and with stage, owner and/or tag those of them in the stage, of the owner, with the tag (looking at up to 2000 members a page, partial as for tag)", query: []string{"q", "stage", "owner", "tag", "segment", "cursor", "limit"}, ok: 200},
	{method: "POST", path: "/api/v1/contacts", tag: "contacts", summary: "Create a contact (source manual, or api for personal API tokens); custom_fields are checked and normalised by their definitions (/api/v1/contact-fields), the required ones must be given, else 400 invalid_fields with error.fields", body: "Contact", ok: 201},
	{method: "GET", path: "/api/v1/contacts/export", tag: "contacts", summary: "Every contact as CSV (recorded in the audit log)", ok: 200},
	{method: "POST", path: "/api/v1/contacts/import", tag: "contacts", summary: "Import contacts from a CSV body (text/csv), deduplicated by email and phone; a custom field column (named by the field's key or label) is checked by its definition, a bad value or a new contact without a required field fails its row; progress over the WebSocket", body: "ContactCSV", bodyType: "text/csv", ok: 200},
	{method: "GET", path: "/api/v1/contacts/{id}", tag: "contacts", summary: "A contact with its conversations, notes, files and activity. Every contact the API answers has detected, read-only: phone (E.164), phone_international and country (ISO 3166-1 alpha-2) read from its phone or WhatsApp id, and language (ISO 639-1) detected from the customer's inbound text; each left out until known, and never over the country and language a person set. engagement (read-only, kept when the workspace has segments) is what segments see of its conversations: last_message_at (its last message, to the hour) and tags (of its conversations); campaign is its first touch (the first campaign that brought it) and subscription its paid access from Stripe (active, customer_id, subscription_id, since, event_id, event_at), read-only, each left out when none", ok: 200},
	{method: "GET", path: "/api/v1/contacts/{id}/activity", tag: "contacts", summary: "A contact's whole activity (conversations started, folder changes, notes, files, stage and owner changes, the AI agent's writes of its fields: type contact.ai_updated with ai_write {fields, refused, conversation_id, seq}), newest first, a page at a time: limit 1 to 100 (20 by default), before the next_before of the page before; answers {activity, next_before} (\"\" at the end)", query: []string{"before", "limit"}, ok: 200},
	{method: "GET", path: "/api/v1/contacts/{id}/files", tag: "contacts", summary: "Every file shared in a contact's conversations, newest first, a page at a time: limit 1 to 100 (20 by default), before the next_before of the page before; answers {files, next_before} (\"\" at the end)", query: []string{"before", "limit"}, ok: 200},
	{method: "PATCH", path: "/api/v1/contacts/{id}", tag: "contacts", summary: "Change a contact's profile and custom fields (null removes a custom field); custom_fields are checked and normalised by their definitions, a required one may not be removed, else 400 invalid_fields with error.fields", body: "ContactUpdate", ok: 200},
	{method: "POST", path: "/api/v1/contacts/{id}/merge", tag: "contacts", summary: "Merge another contact into this one: identities, conversations, notes and memories move, empty fields are filled, the other is deleted", body: "Merge", ok: 200},
	{method: "GET", path: "/api/v1/contacts/{id}/notes", tag: "notes", summary: "Notes of a contact, newest first; each has text (Markdown, as written) and html (read-only: the text rendered as sanitised HTML, raw HTML left out, links http, https or mailto only, opening in a new tab)", query: []string{"limit"}, ok: 200},
	{method: "POST", path: "/api/v1/contacts/{id}/notes", tag: "notes", summary: "Add a note, its text Markdown; @name mentions notify users; answers the note with its html, as in the list", body: "Note", ok: 201},
	{method: "DELETE", path: "/api/v1/contacts/{id}/notes/{note}", tag: "notes", summary: "Delete a note (its author or an admin)", ok: 204},
	{method: "GET", path: "/api/v1/contacts/{id}/memories", tag: "memories", summary: "What the AI agent remembers about a contact, oldest first; each has a type: fact, preference, goal or experience (those stored before types read as fact)", ok: 200},
	{method: "POST", path: "/api/v1/contacts/{id}/memories", tag: "memories", summary: "Add a memory the AI agent is told in every conversation with the contact, of a type (fact when left out; another word is a 400) (409 when full)", body: "Memory", ok: 201},
	{method: "DELETE", path: "/api/v1/contacts/{id}/memories/{memory}", tag: "memories", summary: "Delete a memory", ok: 204},
	{method: "POST", path: "/api/v1/contacts/{id}/stage", tag: "pipelines", summary: "Move a contact to a stage of one of the workspace's pipelines (stage_id; pipeline_id optional, checked when given), or out of any with null; a stage not in the workspace is 400. Recorded in the contact's activity (stage_changed: from, to, by) and published as contact.updated; answers the contact", body: "ContactStage", ok: 200},
	{method: "POST", path: "/api/v1/contacts/{id}/owner", tag: "pipelines", summary: "Give a contact an owner (owner_id, a user of the workspace, else 400), or none with null. Recorded in the contact's activity (owner_changed: from, to, by) and published as contact.updated; a removed user's contacts lose their owner (owner_changed with no by); answers the contact", body: "ContactOwner", ok: 200},

	{method: "GET", path: "/api/v1/pipelines", tag: "pipelines", summary: "The workspace's pipelines, oldest first, each with its ordered stages (id, name, color); a workspace that has none gets the default one on first use: Sales, with New lead, Qualified, Customer and Lost", ok: 200},
	{method: "POST", path: "/api/v1/pipelines", tag: "pipelines", summary: "Create a pipeline (admin): name (1 to 100 bytes) and stages, 1 to 30 in order, each a name (1 to 100 bytes, unique in the pipeline, case aside) and an optional color #rrggbb; at most 20 pipelines (409 too_many_pipelines)", body: "Pipeline", ok: 201},
	{method: "GET", path: "/api/v1/pipelines/{id}", tag: "pipelines", summary: "A pipeline, with counts: how many contacts stand in each stage, by stage id (at most 10000); owner (a user id) counts only that user's contacts", query: []string{"owner"}, ok: 200},
	{method: "PATCH", path: "/api/v1/pipelines/{id}", tag: "pipelines", summary: "Change a pipeline (admin): name, and/or stages: the whole new ordered list, a kept stage by its id (renamed, recoloured, moved), a new one without; a stage left out is deleted, refused with 409 stage_in_use while contacts stand in it (move them first)", body: "PipelineUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/pipelines/{id}", tag: "pipelines", summary: "Delete a pipeline (admin): 409 stage_in_use while contacts stand in it, 409 last_pipeline for the workspace's last", ok: 204},

	{method: "GET", path: "/api/v1/canned-replies", tag: "canned replies", summary: "The workspace's canned replies (every role), by short code; a body holds variables such as {{contact.first_name}} as written, the web app fills them in when a reply is inserted", ok: 200},
	{method: "POST", path: "/api/v1/canned-replies", tag: "canned replies", summary: "Save a canned reply (admin): short_code (1 to 32 letters, digits, '-' or '_', kept in lower case, unique in the workspace: else 409 short_code_taken), title (one line, 1 to 200 bytes), body (1 to 4096 bytes); at most 500 per workspace (409 too_many_canned_replies)", body: "CannedReply", ok: 201},
	{method: "GET", path: "/api/v1/canned-replies/{id}", tag: "canned replies", summary: "A canned reply", ok: 200},
	{method: "PATCH", path: "/api/v1/canned-replies/{id}", tag: "canned replies", summary: "Change a canned reply (admin): the fields given, checked as at creation (409 short_code_taken)", body: "CannedReplyUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/canned-replies/{id}", tag: "canned replies", summary: "Delete a canned reply (admin)", ok: 204},
	{method: "GET", path: "/api/v1/webhooks", tag: "webhooks", summary: "The workspace's outgoing webhooks (admin), oldest first, without their secrets: id, url, events, active, failures (failed attempts in a row), failing_since, disabled_reason (set when turned off after a day of failures)", ok: 200},
	{method: "POST", path: "/api/v1/webhooks", tag: "webhooks", summary: "Subscribe a URL to events (admin): url (http or https, no credentials), events (message_created, message_updated, conversation_created, conversation_status_changed, conversation_updated, contact_created, contact_updated, conversation_mode_changed, handoff), secret (16 to 256 bytes; made when left out), active (true by default); answers the webhook with its secret, shown only here; at most 20 per workspace (409 too_many_webhooks)", body: "Webhook", ok: 201},
	{method: "GET", path: "/api/v1/webhooks/{id}", tag: "webhooks", summary: "An outgoing webhook, without its secret", ok: 200},
	{method: "PATCH", path: "/api/v1/webhooks/{id}", tag: "webhooks", summary: "Change an outgoing webhook (admin): the fields given; active true turns a disabled one on again, clears its failures and sends what waited", body: "WebhookUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/webhooks/{id}", tag: "webhooks", summary: "Delete an outgoing webhook with its queued and logged deliveries (admin)", ok: 204},
	{method: "GET", path: "/api/v1/webhooks/{id}/deliveries", tag: "webhooks", summary: "A webhook's deliveries, newest first: the pending ones and the last 100 finished; each has id, event, body, state (pending, delivered, failed), attempts, next_at, status_code, latency_ms, error, created_at, last_attempt_at, redelivery_of", ok: 200},
	{method: "POST", path: "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag: "webhooks", summary: "Send a delivery again, as a new delivery with the same event and body, queued behind the conversation's others; answers it", ok: 202},

	{method: "GET", path: "/api/v1/automations", tag: "automations", summary: "The workspace's automation rules (every role), oldest first: id, name, enabled, trigger, conditions, actions, preset", ok: 200},
	{method: "POST", path: "/api/v1/automations", tag: "automations", summary: "Create an automation rule (admin). trigger: type contact_created (source narrows it), form_submitted (form_id), conversation_opened, tag_added (tag), stage_changed (stage_id: moves into it), no_reply (hours, 1 to 720: the customer's newest message unanswered that long in an open conversation). conditions, all of which must hold (not turns one around): channel, source, tag (the conversation's), field (key = value), stage, business_hours (days 0-6 from Sunday, start and end HH:MM, time_zone IANA), segment (value: a segment id; the contact is a member). actions (1 to 10): assign_owner (users, strategy round_robin or least_loaded), set_stage (stage_id), add_tag and remove_tag (tag, on the conversation), assign_conversation (user_id), assign_team (team_id: the team's distribution picks the member, as POST /conversations/{conv}/team), set_priority (star the conversation), send_canned (canned_id: its body is sent in the conversation as the AI's message, through the normal send path; the mode is left alone), notify_user (user_id, text up to 1000 bytes: a note on the contact mentioning the user, so the note.mentioned notification as their settings say), call_webhook (url http or https, secret 16 to 256 bytes: a POST of the run as JSON {event: automation.run, delivery_id, workspace_id, rule_id, run_id, trigger, contact, conversation, at} signed like the outgoing webhooks, X-Parley-Signature, X-Parley-Event, X-Parley-Delivery; a 2xx is done, a 5xx, 429 or unreachable receiver is tried once more; the status is the action's detail; the secret is returned to owners and admins only); a conversation action (send_canned too) of a trigger with no conversation is skipped. Stages, segments, canned replies, teams and users must be the workspace's (else 400); at most 100 rules (409 too_many_automations). A rule runs once per rule and triggering occurrence; a chain of rules each started by the previous one's action stops when a rule would run again or after 5 rules (loop_stopped in the run log)", body: "Automation", ok: 201},
	{method: "POST", path: "/api/v1/automations/presets", tag: "automations", summary: "Create a one-click rule (admin): preset assign_owners (users: every new contact gets an owner, round-robin among them) or starting_stage (stage_id: every new contact is put in that stage)", body: "AutomationPreset", ok: 201},
	{method: "GET", path: "/api/v1/automations/{id}", tag: "automations", summary: "An automation rule", ok: 200},
	{method: "PUT", path: "/api/v1/automations/{id}", tag: "automations", summary: "Replace an automation rule's name, trigger, conditions and actions (and enabled when given) (admin), checked as at creation", body: "Automation", ok: 200},
	{method: "PATCH", path: "/api/v1/automations/{id}", tag: "automations", summary: "Turn an automation rule on or off (admin)", body: "AutomationEnable", ok: 200},
	{method: "DELETE", path: "/api/v1/automations/{id}", tag: "automations", summary: "Delete an automation rule with its run log (admin)", ok: 204},
	{method: "GET", path: "/api/v1/automations/{id}/runs", tag: "automations", summary: "A rule's run log, newest first: each run's trigger (type, key, contact_id, conversation_id, chain), outcome (done, failed, loop_stopped) and the result of each action (done, unchanged, skipped, failed, with a detail: the owner given); limit 1 to 200 (50), cursor from next_cursor (empty on the last page)", query: []string{"limit", "cursor"}, ok: 200},

	{method: "GET", path: "/api/v1/contact-fields", tag: "contact fields", summary: "The workspace's custom field definitions (every role), by order then key: {fields}; each has id, key, label, type, options (selects), required, allow_ai, order", ok: 200},
	{method: "POST", path: "/api/v1/contact-fields", tag: "contact fields", summary: "Define a custom field (admin): key (a-z, 0-9 and '_', starting with a letter, at most 40 bytes, not name, email, phone, company or title; unique: else 409 key_taken; never changes), label (one line, 1 to 100 bytes), type, options (a select's 1 to 100 distinct choices, without commas; none for other types), required, allow_ai (the AI agent may write it), order (default: after the others); at most 50 per workspace (409 too_many_fields)", body: "ContactField", ok: 201},
	{method: "GET", path: "/api/v1/contact-fields/{id}", tag: "contact fields", summary: "A custom field definition", ok: 200},
	{method: "PATCH", path: "/api/v1/contact-fields/{id}", tag: "contact fields", summary: "Change a custom field definition (admin): the fields given, checked as at creation; the key never changes (400). Stored values are not rewritten: the next write of a contact checks them against the new definition", body: "ContactFieldUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/contact-fields/{id}", tag: "contact fields", summary: "Delete a custom field definition (admin); the contacts keep their values, which read as free text from then on", ok: 204},
	{method: "GET", path: "/api/v1/templates", tag: "templates", summary: "The workspace's WhatsApp message templates (every role), by name then language; each has waba_id, id (Meta's), name, language, category, status (APPROVED, PENDING, REJECTED, PAUSED, DISABLED, or another status Meta names), reason, components (HEADER, BODY, FOOTER, BUTTONS as Meta writes them), parameter_format and updated_at; waba_id narrows to one WhatsApp Business Account", query: []string{"waba_id"}, ok: 200},
	{method: "POST", path: "/api/v1/templates/sync", tag: "templates", summary: "Fetch the templates of every WhatsApp Business Account of the workspace (the waba_id of its WhatsApp accounts) from the Graph API, page by page, and replace the stored ones (admin); answers {templates}. 409 no_waba without a waba_id; graph_error with Meta's code and message (422 when Meta refuses, 502 when it fails) or 502 graph_unreachable; 422 too_many_templates beyond 2000 templates per account; and nothing is stored", ok: 200},
	{method: "POST", path: "/api/v1/templates", tag: "templates", summary: "Submit a new template to Meta for review (admin): name (lower-case letters, digits and _), language (such as en_US), category (MARKETING, UTILITY, AUTHENTICATION), components (a BODY of at most 1024 bytes; an optional HEADER, TEXT of at most 60 characters or IMAGE, VIDEO, DOCUMENT with example.header_handle; an optional FOOTER; optional BUTTONS), each variable ({{1}}, {{2}}... or named) with its example; account_id picks the WhatsApp account (default: the first with a waba_id). Answers the template with Meta's id and status (PENDING until reviewed); 409 template_exists, 422 graph_error when Meta refuses", body: "TemplateCreate", ok: 201},
	{method: "POST", path: "/api/v1/conversations/{conv}/template", tag: "templates", summary: "Send a template in a WhatsApp conversation, also outside the 24-hour window: name, language, header and body variables in order (each text as typed, else field: the contact's name, first_name, email, phone, company, title, country, language or a custom field's key, else fallback), header_media for an IMAGE, VIDEO or DOCUMENT header (an https link or an uploaded media id), buttons for the URL buttons whose link has a variable, in order. Checked against the stored template first: 404 template_not_found, 409 template_not_approved, 400 invalid_template_params (count, empty value, newline or tab, media missing or of another type); then stored as sending and sent through the outbox, its statuses as for any message. Takes the conversation over like a reply", body: "TemplateSend", ok: 201},
	{method: "POST", path: "/api/v1/contacts/{id}/template", tag: "templates", summary: "Send a template to a contact: as POST /conversations/{conv}/template, in the contact's WhatsApp conversation of most recent activity (on account_id when given); 409 no_whatsapp_conversation when it has none", query: []string{"account_id"}, body: "TemplateSend", ok: 201},
	{method: "GET", path: "/api/v1/assistants/{assistant}/knowledge", tag: "knowledge", summary: "The assistant's knowledge base (every role; the workspace's assistant is default): {entries, passages}, newest first; each entry has id, assistant, kind (faq, text, document, correction), title, question and answer (faq, correction), text (text), document {filename, mime_type, sha256, size} (document), rating {conversation_id, seq, user_id} (the rating a correction comes from), passages (how many it was cut into), created_by, created_at, updated_at", ok: 200},
	{method: "POST", path: "/api/v1/assistants/{assistant}/knowledge", tag: "knowledge", summary: "Add an entry (admin): kind faq with question (at most 1000 bytes) and answer (at most 8 KiB), or kind text with title (one line, at most 200 bytes) and text (at most 256 KiB, cut into passages of about 120 words at paragraphs and sentences); indexed at once; at most 20000 entries per assistant (409 too_many_entries)", body: "KnowledgeEntry", ok: 201},
	{method: "POST", path: "/api/v1/assistants/{assistant}/knowledge/documents", tag: "knowledge", summary: "Upload a document (admin), multipart: file (PDF, Markdown, HTML or plain UTF-8 text, up to the body limit; larger: 413 body_too_large, refused from its Content-Length), title (default: the file's name without extension). Its text (at most 4 MiB of it) is cut into passages and indexed; the file is kept as uploaded. Another format: 415 unsupported_document; a malformed file or one without text: 422 unreadable_document; nothing is stored then", body: "KnowledgeDocument", bodyType: "multipart/form-data", ok: 201},
	{method: "POST", path: "/api/v1/assistants/{assistant}/knowledge/search", tag: "knowledge", summary: "What would the assistant answer? (admin): the k (1 to 20, default 3) passages that best match query (1 to 2000 bytes), best first, each with entry_id, passage (its index in the entry), kind, title, text, answer (faq, correction), score (BM25) and match (the share of the query's term weight the passage holds, 0 to 1; the rules agent answers with an FAQ or correction from 0.6), similarity (cosine, with the assistant's embeddings on), and took_ms; with answer true, also answer: what the saved agent replies to query given the top 3 passages, as the agent test console shows it (outcome, reply, reasoning, handoff, knowledge, sources). Nothing is stored", body: "KnowledgeSearch", ok: 200},
	{method: "GET", path: "/api/v1/assistants/{assistant}/knowledge/embeddings", tag: "knowledge", summary: "The assistant's embeddings settings (every role): enabled, base_url, model, api_key_set (the key is never returned), updated_at, and the progress: embedded (passages with a vector of these settings) of passages, last_error (the endpoint's last failure, retried every 30 s)", ok: 200},
	{method: "PUT", path: "/api/v1/assistants/{assistant}/knowledge/embeddings", tag: "knowledge", summary: "Set the assistant's OpenAI-compatible embeddings endpoint (admin): enabled, base_url (http or https), model, api_key (a bearer token; left out: kept, empty: removed); the fields left out are kept. When enabled, the passages are embedded in the background (POST {base_url}/embeddings {model, input: [...]}, 32 at a time; again when base_url or model changes) and each search embeds the query and ranks by reciprocal rank fusion (1/(60+rank)) of the 50 best by BM25 and the 50 nearest by cosine similarity; BM25 alone when off or when the endpoint fails. Enabled without base_url or model: 400. Answers as GET", body: "KnowledgeEmbeddings", ok: 200},
	{method: "GET", path: "/api/v1/assistants/{assistant}/knowledge/{id}", tag: "knowledge", summary: "An entry and its passages: {entry, passages}; each passage has kind, title, text and answer (faq, correction)", ok: 200},
	{method: "PATCH", path: "/api/v1/assistants/{assistant}/knowledge/{id}", tag: "knowledge", summary: "Change an entry (admin): the fields its kind has (question and answer of an FAQ or a correction, title and text of a text, title of a document: its text comes from its file), checked as at creation; the kind never changes (400); re-indexed at once", body: "KnowledgeEntryUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/assistants/{assistant}/knowledge/{id}", tag: "knowledge", summary: "Delete an entry and its passages (admin); a document's file goes when nothing else references it", ok: 204},
	{method: "GET", path: "/api/v1/assistants/{assistant}/knowledge/{id}/original", tag: "knowledge", summary: "A document entry's file as uploaded (Content-Disposition: attachment with its name); 404 for other kinds", ok: 200},
	{method: "GET", path: "/api/v1/forms", tag: "forms", summary: "The workspace's forms (every role), oldest first: {forms}; each has id, name, fields [{key, label, required}], thank_you, stage {pipeline_id, stage_id}, owner_id, tag, allowed_origins and public_url (its public page)", ok: 200},
	{method: "POST", path: "/api/v1/forms", tag: "forms", summary: "Create a form (admin): name (one line, 1 to 100 bytes); fields (1 to 30, in order: each key is a standard field, name, email, phone, company or title, or a custom field's key; an email or a phone field is required, by which a submission's contact is found; label defaults to the field's; required); thank_you (at most 1000 bytes; a default when left out); stage_id (a stage of the workspace's pipelines), owner_id (a user) and tag (at most 64 bytes), given to each submission's contact; allowed_origins (at most 20 scheme://host[:port]) that may frame the public page and submit it. At most 50 per workspace (409 too_many_forms)", body: "Form", ok: 201},
	{method: "GET", path: "/api/v1/forms/{id}", tag: "forms", summary: "A form", ok: 200},
	{method: "PATCH", path: "/api/v1/forms/{id}", tag: "forms", summary: "Change a form (admin): the parts given, checked as at creation; stage_id or owner_id null removes it", body: "FormUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/forms/{id}", tag: "forms", summary: "Delete a form (admin) and its submissions by form; its public page is gone (404) and its contacts keep their copies", ok: 204},
	{method: "GET", path: "/api/v1/forms/{id}/submissions", tag: "forms", summary: "A form's submissions, newest first (limit 1 to 200, 50 by default): {submissions}; each has id, form_id, form_name, contact_id, created (the submission made the contact), values (by field key, normalised), origin and created_at", query: []string{"limit"}, ok: 200},
	{method: "GET", path: "/api/v1/contacts/{id}/submissions", tag: "forms", summary: "A contact's form submissions, newest first (limit 1 to 200, 50 by default), as the form's list gives them", query: []string{"limit"}, ok: 200},
	{method: "GET", path: "/f/{workspace}/{form}", tag: "forms", summary: "A form's public page: standalone HTML (its own CSS and script, nothing from elsewhere) that posts to the same address and shows each invalid value's error beside its field; framed only by the server and the form's allowed_origins (Content-Security-Policy frame-ancestors). /form/embed.js with data-parley-form=\"<this address>\" frames it in another site", public: true, ok: 200},
	{method: "POST", path: "/f/{workspace}/{form}", tag: "forms", summary: "Submit a form (no token; JSON only, at most 16 KiB: 413 too_large; 415 otherwise): values by field key. A request with an Origin other than the server's own and the form's allowed_origins is 403 origin_not_allowed (an allowed origin gets CORS headers); each client address submits 10 at once then one every 6 seconds (429 rate_limited with Retry-After). Values are checked by the form (required) and the field definitions: 400 invalid_fields with error.fields [{field, message}]. The contact with the email, else the phone, is updated (else created, source form), takes the form's stage, owner and tag, and the submission is stored with it in one commit; form.submitted {form_id, submission_id, contact_id, created} is published after it. A filled honeypot field (website) is answered 201 and stores nothing. 201 {thank_you}", public: true, body: "FormSubmission", ok: 201},
	{method: "GET", path: "/api/v1/segments", tag: "segments", summary: "The workspace's segments (saved filters over contacts), oldest first, each with count (its members now) and backfill (the progress of computing the members of existing contacts after a create or an edit of its conditions: done, total, finished, started_at, finished_at)", ok: 200},
	{method: "POST", path: "/api/v1/segments", tag: "segments", summary: "Create a segment (admin): name (1 to 100 bytes), match (all, the default, or any) and 1 to 20 conditions, each a kind (field, profile, tag, stage, owner, source, channel, last_message, created) with its op (field and profile: is, is_not, contains, exists, not_exists, key naming the field; tag, source, channel: is, is_not; stage and owner: is, is_not with an id, exists, not_exists; last_message and created: within_days, not_within_days with days 1 to 3650); a bad condition is 400 naming it; at most 50 segments (409 too_many_segments). Members of existing contacts are computed in the background (backfill); from then on each contact's change updates its membership, and time conditions are evaluated again as time passes. Entering and leaving show in the contact's activity (segment.entered, segment.left)", body: "Segment", ok: 201},
	{method: "POST", path: "/api/v1/segments/preview", tag: "segments", summary: "Count how many of the newest contacts (up to 5000) a definition being edited would hold, without saving it: {count, scanned, partial}", body: "SegmentPreview", ok: 200},
	{method: "GET", path: "/api/v1/segments/{id}", tag: "segments", summary: "A segment with its count and backfill", ok: 200},
	{method: "PATCH", path: "/api/v1/segments/{id}", tag: "segments", summary: "Change a segment (admin): name, match and/or conditions (the whole new list); a change of match or conditions starts a new backfill", body: "SegmentUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/segments/{id}", tag: "segments", summary: "Delete a segment (admin) and its membership index", ok: 204},
	{method: "GET", path: "/api/v1/segments/{id}/members", tag: "segments", summary: "The segment's members, newest contacts first: {contacts, next_cursor}", query: []string{"cursor", "limit"}, ok: 200},
	{method: "GET", path: "/api/v1/segments/{id}/count", tag: "segments", summary: "How many contacts are members of the segment, and its backfill: {count, backfill}", ok: 200},
	{method: "GET", path: "/api/v1/usage", tag: "admin", summary: "The workspace's plan and, for each limited resource (seats, channel_accounts, contacts, ai_replies_per_month, broadcasts_per_month), what it uses and its limit (admin): {plan, time_zone, usage: [{resource, used, limit (0: unlimited), over, period (monthly ones: the month, in the plan's time zone)}]}. A creation past a limit is refused with 402 plan_limit ({error: {code, message, limit, resource}})", ok: 200},
	{method: "POST", path: "/api/v1/admin/workspaces", tag: "operator", summary: "Create a workspace (the server's operator: Authorization: Bearer <the -admin-token>; 404 when none is configured, 401 without it) and an invitation for its owner: 201 {workspace, invitation: {code, email, role, expires_at, link}}; the owner accepts it at POST /api/v1/auth/accept-invite", body: "AdminWorkspaceCreate", ok: 201},
	{method: "GET", path: "/api/v1/admin/workspaces", tag: "operator", summary: "The workspaces, oldest first, with state (active, suspended, deleting), plan, limits and usage (operator): {workspaces, next_cursor}", query: []string{"cursor", "limit"}, ok: 200},
	{method: "GET", path: "/api/v1/admin/workspaces/{id}", tag: "operator", summary: "A workspace with its state, plan, limits, usage and, while it is being deleted, deletion: {phase, done, total} (operator); 404 once deleted", ok: 200},
	{method: "PATCH", path: "/api/v1/admin/workspaces/{id}", tag: "operator", summary: "Change a workspace's plan name, limits (0 or absent: unlimited; lowering one refuses new creations only) or the time zone its monthly counters' months begin in (operator)", body: "AdminWorkspaceUpdate", ok: 200},
	{method: "POST", path: "/api/v1/admin/workspaces/{id}/suspend", tag: "operator", summary: "Suspend a workspace (operator): its users and tokens get 403 workspace_suspended on every route and the WebSocket, its open WebSockets are closed, its AI answers no more; its channels' inbound messages are still acknowledged and stored", ok: 200},
	{method: "POST", path: "/api/v1/admin/workspaces/{id}/unsuspend", tag: "operator", summary: "Make a suspended workspace active again (operator)", ok: 200},
	{method: "DELETE", path: "/api/v1/admin/workspaces/{id}", tag: "operator", summary: "Delete a workspace (operator): 202 at once, from when it is inaccessible (403 workspace_deleted) and its channel accounts disconnected; then every key of it (conversations, messages, contacts, indexes, search index, settings, users, tokens, credentials, invitations), and its media files, are removed in the background in bounded batches (GET shows deletion {phase, done, total}; resumed after a restart); then GET answers 404", ok: 202},
	{method: "POST", path: "/api/v1/admin/backup", tag: "admin", summary: "A consistent online backup of the whole data directory (the operator's admin token; without an admin token configured, a workspace owner's; with one, owners get 403 operator_only; without one, on a server holding several workspaces, 403 server_backup): an application/x-tar stream holding manifest.json first (format, created_at, parley_version, store_format, and every file with its size and sha256), then the store's Pebble checkpoint under db/ and the media files under media/. Every message acknowledged before the call is in it. `parley backup DIR` calls it and checks each file; `parley restore DIR DATADIR` restores it. One at a time: 409 backup_in_progress", ok: 200},
	{method: "GET", path: "/api/v1/teams", tag: "teams", summary: "The workspace's teams, oldest first: {teams: [{id, name, members (user ids), distribution, presence (each member's state: online, away or offline), created_at, updated_at}]}", ok: 200},
	{method: "POST", path: "/api/v1/teams", tag: "teams", summary: "Create a team (admin): name (1 to 80 bytes), members (user ids of the workspace, at most 200) and distribution: round_robin (the default; the next available member after the last one given a conversation, in id order), least_loaded (the available member with the fewest open conversations assigned; ties take turns) or manual (conversations wait in the team). Available means online, or away when no member is online. At most 100 teams (409 too_many_teams)", body: "Team", ok: 201},
	{method: "GET", path: "/api/v1/teams/{id}", tag: "teams", summary: "A team with its members' presence", ok: 200},
	{method: "PATCH", path: "/api/v1/teams/{id}", tag: "teams", summary: "Change a team (admin): name, members (the whole new list) and/or distribution", body: "TeamUpdate", ok: 200},
	{method: "DELETE", path: "/api/v1/teams/{id}", tag: "teams", summary: "Delete a team (admin); conversations assigned to it keep its id (team_id) until changed", ok: 204},
	{method: "POST", path: "/api/v1/conversations/{conv}/team", tag: "actions", summary: "Assign to a team of the workspace (team_id; another workspace's is 400): to user_id when given (a member of the team), else to the member the team's distribution picks among those available, or to nobody in the team when none is (or the team is manual); team_id null takes the conversation from its team and leaves its assignee. Answers the conversation (team_id, assignee_id)", body: "TeamAssign", ok: 200},
	{method: "POST", path: "/api/v1/presence", tag: "users", summary: "Set yourself away or back online: {state: away|online}; answers {user_id, state}. The web app reports presence over its WebSocket ({type: presence, state: active|away|online}); a user is online while a web app connection is open and active, away after 5 minutes without activity or when set away, offline 30 seconds after the last connection closed; changes are published as presence.changed {user_id, state}", body: "Presence", ok: 200},
}

// schemas are the request bodies, as JSON Schema.
var schemas = map[string]any{
	"Error": obj(map[string]any{"error": obj(map[string]any{"code": str(), "message": str(),
		"fields": describe(map[string]any{"type": "array", "items": obj(map[string]any{"field": str(), "message": str()}, "field", "message")},
			"with code invalid_fields: what is wrong with each custom field value, by key")}, "code", "message")}, "error"),
	"PostmarkInbound": map[string]any{"type": "object", "description": "Postmark's inbound JSON (FromFull, ToFull[], CcFull[], OriginalRecipient, Subject, MessageID, Date, TextBody, HtmlBody, Headers[] {Name, Value}, Attachments[] {Name, Content (base64), ContentType, ContentID}); other fields are ignored", "required": []string{"FromFull"}},
	"MetaWebhook": map[string]any{"type": "object", "description": "A Meta webhook delivery: object, entry[] (see Meta's WhatsApp Cloud API, Messenger and Instagram webhook references)",
		"properties": map[string]any{"object": str(), "entry": map[string]any{"type": "array"}}, "required": []string{"object", "entry"}},
	"StripeEvent": map[string]any{"type": "object", "description": "A Stripe event (see Stripe's Event object): id, type, created (Unix seconds), data.object (a Checkout Session or a Subscription)",
		"properties": map[string]any{"id": str(), "type": str(), "created": integer(), "data": map[string]any{"type": "object"}}, "required": []string{"id", "type", "created", "data"}},
	"Login":                obj(map[string]any{"email": str(), "password": str()}, "email", "password"),
	"Setup":                obj(map[string]any{"code": str(), "name": str(), "email": str(), "password": str()}, "code", "name", "email", "password"),
	"ResetPassword":        obj(map[string]any{"code": str(), "password": str()}, "code", "password"),
	"Password":             obj(map[string]any{"password": str()}, "password"),
	"LogoutAll":            obj(map[string]any{"include_current": boolean()}, "include_current"),
	"AcceptInvite":         obj(map[string]any{"code": str(), "name": str(), "password": str()}, "code", "name", "password"),
	"AdminWorkspaceCreate": obj(map[string]any{"name": str(), "owner_email": str(), "plan": str(), "limits": planLimitsSchema(), "time_zone": str()}, "name", "owner_email"),
	"AdminWorkspaceUpdate": minProps(obj(map[string]any{"plan": str(), "limits": planLimitsSchema(), "time_zone": str()})),
	"Invitation":           obj(map[string]any{"email": str(), "role": enum("owner", "admin", "agent")}, "email", "role"),
	"UserUpdate":           minProps(obj(map[string]any{"name": str(), "role": enum("owner", "admin", "agent")})),
	"TokenCreate":          obj(map[string]any{"name": str(), "expires_at": map[string]any{"type": "string", "format": "date-time"}}, "name"),
	"ChannelAccount": withBound(obj(channelAccountProps(false), "channel"), "anyOf", []any{
		map[string]any{"required": []string{"account_id", "access_token"}, "properties": map[string]any{"channel": enum("whatsapp", "messenger", "instagram")}},
		map[string]any{"required": []string{"account_id", "access_token", "email"}, "properties": map[string]any{"channel": enum("email")}},
		map[string]any{"required": []string{"webhook_url"}, "properties": map[string]any{"channel": enum("api")}}}),
	"ChannelAccountUpdate": minProps(obj(channelAccountProps(true))),
	"APIChannelMessage": obj(map[string]any{
		"source_id": describe(withBound(str(), "maxLength", 256), "the integrator's id of the message: a message is stored once per account and source_id"),
		"contact":   obj(apiContactProps(), "external_id"),
		"text":      describe(str(), "the message's text (the caption of a file); required without a file"),
		"attachment": obj(map[string]any{"url": describe(str(), "an http or https URL Parley fetches the file from, with no credential"),
			"mime_type": str(), "filename": str()}, "url"),
		"sent_at": map[string]any{"type": "string", "format": "date-time"}}, "source_id", "contact"),
	"APIChannelStatus": obj(map[string]any{"message_id": describe(str(), "the id of the message, as delivered to the webhook (message.id)"),
		"status": enum("sent", "delivered", "read", "failed"), "reason": describe(withBound(str(), "maxLength", 1024), "why it failed (status failed)"),
		"at": map[string]any{"type": "string", "format": "date-time"}}, "message_id", "status"),
	"APIChannelContact": obj(apiContactProps(), "external_id"),
	"SendMessage":       obj(map[string]any{"text": str()}, "text"),
	"Folder":            obj(map[string]any{"folder": enum("open", "pending", "solved", "spam", "archived")}, "folder"),
	"Star":              obj(map[string]any{"starred": map[string]any{"type": "boolean"}}, "starred"),
	"Assign":            obj(map[string]any{"user_id": map[string]any{"type": []string{"string", "null"}}}, "user_id"),
	"FollowUp": oneOf(obj(map[string]any{"preset": enum("1h", "3h", "12h", "24h"), "at": map[string]any{"type": "string", "format": "date-time"}}),
		[]string{"preset"}, []string{"at"}),
	"Feedback": obj(map[string]any{"rating": enum("up", "down"),
		"correction": describe(withBound(str(), "maxLength", engine.MaxCorrectionBytes), "what the reply should have said (at most 4096 bytes)")}, "rating"),
	"CSAT":                  obj(map[string]any{"score": map[string]any{"type": "integer", "minimum": 1, "maximum": 5}}, "score"),
	"AgentSettings":         minProps(obj(agentSettingsProps())),
	"Assistant":             obj(assistantProps(), "name"),
	"AssistantUpdate":       minProps(obj(assistantProps())),
	"ConversationAssistant": obj(map[string]any{"assistant_id": withBound(str(), "minLength", 1)}, "assistant_id"),
	"AgentTest": obj(map[string]any{"settings": obj(agentSettingsProps()),
		"messages": map[string]any{"type": "array", "minItems": 1, "maxItems": maxAgentTestMessages,
			"items": obj(map[string]any{"from": enum("customer", "agent"), "text": map[string]any{"type": "string", "minLength": 1}}, "from", "text")}}, "messages"),
	"OptOutSettings": minProps(obj(map[string]any{
		"keywords":                 optOutKeywordsSchema(),
		"resubscribe_keywords":     optOutKeywordsSchema(),
		"confirmation":             withBound(nullableStr(), "maxLength", engine.MaxOptOutConfirmationBytes),
		"resubscribe_confirmation": withBound(nullableStr(), "maxLength", engine.MaxOptOutConfirmationBytes)})),
	"Subscription":  obj(map[string]any{"unsubscribed": map[string]any{"type": "boolean"}}, "unsubscribed"),
	"Contact":       anyOf(obj(contactProps(true)), []string{"name"}, []string{"email"}, []string{"phone"}),
	"ContactUpdate": minProps(obj(contactProps(false))),
	"ContactCSV":    map[string]any{"type": "string", "description": "CSV with a header row: name, phone, email, company, title, country, language, avatar; other columns are custom fields"},
	"Merge":         obj(map[string]any{"from": str()}, "from"),
	"Note":          obj(map[string]any{"text": describe(str(), "Markdown: bold, italics, lists, links, inline code and code blocks; raw HTML is not rendered")}, "text"),
	"Memory": obj(map[string]any{"text": str(), "type": describe(enum("fact", "preference", "goal", "experience"),
		"what the memory tells: a fact about the person, a preference, a goal, or an experience with the business; fact when left out")}, "text"),
	"NotificationSettings": obj(map[string]any{"settings": minProps(obj(map[string]any{
		"new_conversation": notifyMedia(), "assigned": notifyMedia(), "mentioned": notifyMedia(), "needs_human": notifyMedia()}))}, "settings"),
	"PushSubscription": obj(map[string]any{"endpoint": describe(withBound(str(), "maxLength", maxPushEndpoint), "the push service's https URL"),
		"expirationTime": map[string]any{"type": []string{"number", "null"}, "description": "as the Push API gives it; ignored"},
		"keys": obj(map[string]any{"p256dh": describe(str(), "the browser's P-256 public key, base64url (65 bytes)"),
			"auth": describe(str(), "the browser's auth secret, base64url (16 bytes)")}, "p256dh", "auth")}, "endpoint", "keys"),
	"CannedReply":          obj(cannedReplyProps(), "short_code", "title", "body"),
	"CannedReplyUpdate":    minProps(obj(cannedReplyProps())),
	"Pipeline":             obj(pipelineProps(false), "name", "stages"),
	"PipelineUpdate":       minProps(obj(pipelineProps(true))),
	"ContactStage":         obj(map[string]any{"stage_id": nullableStr(), "pipeline_id": str()}, "stage_id"),
	"ContactOwner":         obj(map[string]any{"owner_id": nullableStr()}, "owner_id"),
	"Webhook":              obj(webhookProps(), "url", "events"),
	"WebhookUpdate":        minProps(obj(webhookProps())),
	"ContactField":         obj(contactFieldProps(true), "key", "label", "type"),
	"ContactFieldUpdate":   minProps(obj(contactFieldProps(false))),
	"KnowledgeEntry":       obj(knowledgeProps(true), "kind"),
	"KnowledgeEntryUpdate": minProps(obj(knowledgeProps(false))),
	"KnowledgeSearch": obj(map[string]any{"query": describe(str(), "the customer's question"),
		"k":      describe(between(integer(), 1, 20), "how many passages (default 3)"),
		"answer": describe(boolean(), "also ask the saved agent what it would reply")}, "query"),
	"KnowledgeEmbeddings": minProps(obj(map[string]any{"enabled": describe(boolean(), "rank with embeddings too"),
		"base_url": describe(str(), "the OpenAI-compatible API's base, e.g. https://api.openai.com/v1"),
		"model":    describe(str(), "the embeddings model"),
		"api_key":  describe(str(), "sent as a bearer token; never returned")})),
	"KnowledgeDocument": obj(map[string]any{"file": map[string]any{"type": "string", "contentMediaType": "application/octet-stream", "description": "the document: PDF, Markdown, HTML or plain text"},
		"title": describe(str(), "one line, at most 200 bytes; default: the file's name without extension")}, "file"),
	"TemplateCreate": obj(templateCreateProps(), "name", "language", "category", "components"),
	"TemplateSend":   obj(templateSendProps(), "name", "language"),
	"Form":           obj(formProps(), "name", "fields"),
	"FormUpdate":     minProps(obj(formProps())),
	"FormSubmission": obj(map[string]any{
		"values":  describe(map[string]any{"type": "object", "additionalProperties": str(), "maxProperties": engine.MaxFormFields + 1}, "the value of each field, by key (a multi select's options joined by \", \", a boolean true or false)"),
		"website": describe(str(), "the honeypot: left empty by people")}, "values"),
	"Automation":       obj(automationProps(), "name", "trigger", "actions"),
	"AutomationEnable": obj(map[string]any{"enabled": boolean()}, "enabled"),
	"AutomationPreset": obj(map[string]any{"preset": enum(engine.PresetAssignOwners, engine.PresetStartingStage),
		"users": describe(strs(), "assign_owners: the users who take turns"), "stage_id": describe(str(), "starting_stage: the stage")}, "preset"),
	"Segment":        obj(segmentProps(), "name", "conditions"),
	"SegmentUpdate":  minProps(obj(segmentProps())),
	"SegmentPreview": obj(segmentProps(), "conditions"),
	"Team":           obj(teamProps(), "name"),
	"TeamUpdate":     minProps(obj(teamProps())),
	"TeamAssign": obj(map[string]any{"team_id": describe(nullableStr(), "a team id of the workspace, or null to take the conversation from its team"),
		"user_id": describe(str(), "a member of the team to give it to, instead of the distribution's pick")}, "team_id"),
	"Presence": obj(map[string]any{"state": enum("away", "online")}, "state"),
}

// teamProps are the fields of a team a request may name.
func teamProps() map[string]any {
	return map[string]any{
		"name":         withBound(str(), "maxLength", engine.MaxTeamNameBytes),
		"members":      withBound(strs(), "maxItems", engine.MaxTeamMembers),
		"distribution": enum(string(engine.TeamRoundRobin), string(engine.TeamLeastLoaded), string(engine.TeamManual)),
	}
}

// knowledgeProps are the fields of a knowledge entry a request may name;
// the kind only at creation.
func knowledgeProps(withKind bool) map[string]any {
	p := map[string]any{
		"title":    describe(str(), "a text's or a document's title: one line, at most 200 bytes"),
		"question": describe(str(), "an FAQ's question, at most 1000 bytes"),
		"answer":   describe(str(), "an FAQ's answer, at most 8 KiB"),
		"text":     describe(str(), "a text's body, at most 256 KiB"),
	}
	if withKind {
		p["kind"] = enum("faq", "text")
	}
	return p
}

// templateCreateProps are the fields of a template submitted to Meta.
func templateCreateProps() map[string]any {
	button := map[string]any{"type": enum("QUICK_REPLY", "URL", "PHONE_NUMBER"), "text": str(), "url": str(), "phone_number": str(),
		"example": describe(strs(), "a URL button's sample link, when its url has a variable")}
	example := map[string]any{"header_text": strs(), "header_handle": strs(),
		"body_text":                map[string]any{"type": "array", "items": strs()},
		"header_text_named_params": map[string]any{"type": "array", "items": obj(map[string]any{"param_name": str(), "example": str()}, "param_name", "example")},
		"body_text_named_params":   map[string]any{"type": "array", "items": obj(map[string]any{"param_name": str(), "example": str()}, "param_name", "example")}}
	component := obj(map[string]any{"type": enum("HEADER", "BODY", "FOOTER", "BUTTONS", "header", "body", "footer", "buttons"),
		"format": str(), "text": str(), "buttons": map[string]any{"type": "array", "items": obj(button, "type", "text")},
		"example": obj(example)}, "type")
	return map[string]any{"account_id": describe(str(), "the WhatsApp account (phone number id) whose Business Account gets the template"),
		"name": str(), "language": str(), "category": enum("MARKETING", "UTILITY", "AUTHENTICATION", "marketing", "utility", "authentication"),
		"components": map[string]any{"type": "array", "minItems": 1, "maxItems": 4, "items": component}}
}

// templateSendProps are the fields of a template send.
func templateSendProps() map[string]any {
	variable := obj(map[string]any{"name": describe(str(), "a named parameter's name"), "text": describe(str(), "the value as typed"),
		"field":    describe(str(), "the contact's field: name, first_name, email, phone, company, title, country, language or a custom field's key"),
		"fallback": describe(str(), "the value when the text and the field are empty")})
	vars := map[string]any{"type": "array", "maxItems": 100, "items": variable}
	return map[string]any{"name": str(), "language": str(), "header": vars, "body": vars,
		"buttons": describe(map[string]any{"type": "array", "maxItems": 10, "items": variable}, "one per URL button whose link has a variable, in the buttons' order"),
		"header_media": obj(map[string]any{"type": enum("image", "video", "document"), "link": describe(str(), "an https URL Meta fetches"),
			"id": describe(str(), "a media id uploaded to the number"), "filename": describe(str(), "a document's file name")})}
}

// pipelineProps are the fields of a pipeline a request may name; a kept
// stage of an update names its id.
func pipelineProps(withIDs bool) map[string]any {
	stage := map[string]any{"name": str(), "color": describe(str(), "#rrggbb")}
	if withIDs {
		stage["id"] = describe(str(), "a stage of this pipeline, kept; none for a new stage")
	}
	return map[string]any{"name": str(), "stages": map[string]any{"type": "array", "minItems": 1, "maxItems": engine.MaxStages,
		"items": obj(stage, "name")}}
}

func nullableStr() map[string]any { return map[string]any{"type": []string{"string", "null"}} }

// notifyMedia is where one kind of notification goes: the media given.
func notifyMedia() map[string]any {
	return minProps(obj(map[string]any{"browser": boolean(), "push": boolean(), "email": boolean()}))
}

// withBound sets one bound keyword (maxLength, minItems, ...) of a schema.
func withBound(o map[string]any, keyword string, v any) map[string]any {
	o[keyword] = v
	return o

}

// agentSettingsProps are the fields of the agent settings a PUT (and a
// test console request) may name.
func agentSettingsProps() map[string]any {
	return map[string]any{"kind": enum("rules", "openai", "webhook", "off"), "base_url": str(), "model": str(),
		"reply_format": enum("tools", "json"),
		"api_key":      str(), "webhook_url": str(), "timeout_seconds": between(num(), 0, engine.MaxAgentTimeout.Seconds()), "system_prompt": str(),
		"debounce_ms":      describe(between(integer(), nil, engine.MaxAgentDebounce.Milliseconds()), "milliseconds the AI waits for more customer messages; 0 or negative: no wait. GET shows the window applied (the server's default, 2000, when none is set)"),
		"handoff_keywords": strs(), "greeting": str(), "fallback": str(), "followup_text": str(),
		"answers":             map[string]any{"type": "array", "items": obj(map[string]any{"keywords": strs(), "answer": str()}, "keywords", "answer")},
		"auto_followup_hours": between(num(), 0, engine.MaxFollowUpPeriod.Hours()), "auto_followup_max": between(integer(), 0, engine.MaxAutoFollowUps),
		"auto_csat": boolean(), "csat_survey": str(), "handoff_stays_manual": boolean(),
		"restricted": boolean(), "restricted_reply": str(), "restricted_to": enum("crm", "paid"),
		"stripe_webhook_secret": str()}
}

// webhookProps are the fields of an outgoing webhook a request may name.
func webhookProps() map[string]any {
	evs := make([]string, len(engine.WebhookEvents))
	for i, e := range engine.WebhookEvents {
		evs[i] = string(e)
	}
	return map[string]any{
		"url":    describe(withBound(str(), "maxLength", engine.MaxWebhookURLBytes), "an http or https URL"),
		"secret": describe(str(), "signs each delivery (X-Parley-Signature); 16 to 256 bytes"),
		"events": map[string]any{"type": "array", "minItems": 1, "items": enum(evs...)},
		"active": boolean(),
	}
}

// automationProps are the fields of an automation rule a request names.
func automationProps() map[string]any {
	triggers := make([]string, len(engine.AutomationTriggerTypes))
	for i, t := range engine.AutomationTriggerTypes {
		triggers[i] = string(t)
	}
	return map[string]any{
		"name":    withBound(str(), "maxLength", engine.MaxAutomationNameBytes),
		"enabled": boolean(),
		"trigger": obj(map[string]any{"type": enum(triggers...), "source": enum("chat", "form", "manual", "import", "api"),
			"form_id": str(), "tag": str(), "stage_id": str(), "hours": between(integer(), 1, engine.MaxNoReplyHours)}, "type"),
		"conditions": map[string]any{"type": "array", "maxItems": engine.MaxAutomationConditions, "items": obj(map[string]any{
			"kind": enum("channel", "source", "tag", "field", "stage", "business_hours", "segment"), "key": str(), "value": str(), "not": boolean(),
			"days": map[string]any{"type": "array", "items": between(integer(), 0, 6)}, "start": str(), "end": str(), "time_zone": str()}, "kind")},
		"actions": map[string]any{"type": "array", "minItems": 1, "maxItems": engine.MaxAutomationActions, "items": obj(map[string]any{
			"type": enum("assign_owner", "set_stage", "add_tag", "remove_tag", "assign_conversation", "set_priority",
				"send_canned", "notify_user", "call_webhook", "assign_team"),
			"users": strs(), "strategy": enum(engine.AssignRoundRobin, engine.AssignLeastLoaded), "stage_id": str(), "tag": str(), "user_id": str(),
			"canned_id": str(), "text": withBound(str(), "maxLength", engine.MaxAutomationNotifyBytes),
			"url": withBound(str(), "maxLength", engine.MaxWebhookURLBytes), "secret": str(), "team_id": str()}, "type")},
	}
}

// cannedReplyProps are the fields of a canned reply a request may name.
func cannedReplyProps() map[string]any {
	return map[string]any{
		"short_code": describe(str(), "what follows / in the composer: letters, digits, '-' and '_'"),
		"title":      str(),
		"body": describe(str(), "the reply; variables {{contact.name}}, {{contact.first_name}}, {{contact.email}}, {{contact.phone}}, {{agent.name}}, "+
			"{{agent.first_name}} and {{workspace.name}} are filled in by the web app when it inserts the reply (an unknown one is left as written, a missing value is empty)"),
	}
}

// contactFieldProps are the fields of a field definition a request may
// name; the key only at creation.
func contactFieldProps(withKey bool) map[string]any {
	types := make([]string, len(engine.FieldTypes))
	for i, t := range engine.FieldTypes {
		types[i] = string(t)
	}
	p := map[string]any{"label": str(), "type": enum(types...),
		"options":  describe(strs(), "the choices of a single_select or multi_select"),
		"required": describe(boolean(), "a new contact (API, import) must have it, and no write may empty it"),
		"allow_ai": describe(boolean(), "the AI agent may write the field (its tool, the JSON reply's and the webhook's contact)"),
		"order":    integer()}
	if withKey {
		p["key"] = describe(str(), "the key of the value in a contact's custom_fields")
	}
	return p
}

// channelAccountProps are the fields of a channel account a request may
// name; an update may also ask for an API channel account's new secrets.
func channelAccountProps(update bool) map[string]any {
	p := map[string]any{"channel": enum("whatsapp", "messenger", "instagram", "api", "email"), "account_id": str(), "name": str(), "access_token": str(), "app_secret": str(),
		"webhook_url": describe(str(), "api channel only: the http or https URL Parley delivers the account's outbound messages to"),
		"waba_id":     describe(str(), "whatsapp only: the WhatsApp Business Account id, where the number's message templates live"),
		"messaging_tier": describe(enum("", "TIER_250", "TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"),
			"whatsapp only: the number's messaging tier at Meta (empty: TIER_1K): how many unique customers its broadcasts reach in a rolling 24 hours, and their highest rate (80 messages a second, 1000 for TIER_UNLIMITED)"),
		"email": describe(obj(map[string]any{"addresses": strs(), "from_name": str(), "smtp_host": str(), "smtp_port": integer(),
			"smtp_security": enum("starttls", "tls"), "smtp_username": str(), "greeting": str(), "sign_off": str(),
			"quote": describe(boolean(), "the AI's reply quotes the customer's mail under it (On <date>, <name> wrote: and > lines)"),
			"imap":  emailIMAPSchema(), "dkim": emailDKIMSchema()}),
			"An email account's settings (channel email; account_id is its address, access_token its SMTP submission password): further addresses it receives for, the From name, the SMTP submission server and login (empty username: the address), the greeting ({name}: the contact's first name) and sign-off around the AI's replies and whether they quote the customer's mail, a mailbox read over IMAP and DKIM signing; an update replaces them whole, keeping the IMAP password (same host) and the DKIM key (same domain) when they are left out")}
	if update {
		p["rotate_inbound_token"] = boolean()
		p["rotate_webhook_secret"] = boolean()
	}
	return p
}

// emailIMAPSchema is an email account's IMAP mailbox.
func emailIMAPSchema() map[string]any {
	return describe(obj(map[string]any{"host": str(),
		"port":     describe(integer(), "0 or absent: 993 with tls, 143 with starttls"),
		"security": enum("tls", "starttls"),
		"username": describe(str(), "empty: the account's address"),
		"password": describe(str(), "empty: the SMTP password (access_token); never shown (has_password says whether one is set)"),
		"folder":   describe(str(), "empty: INBOX")}, "host"),
		"A mailbox Parley reads the account's inbound mail from: polled, and waited on with IDLE; mail already in it when it is connected is not imported. An auth failure marks the account expired (code imap_auth)")
}

// emailDKIMSchema is an email account's DKIM signing.
func emailDKIMSchema() map[string]any {
	return describe(obj(map[string]any{"domain": str(), "selector": str(),
		"private_key": describe(str(), "PEM of an RSA (PKCS #1 or #8) or Ed25519 (PKCS #8) key; never shown (has_private_key says whether one is set)")},
		"domain", "selector"),
		"DKIM signing of the account's outbound mail: the public key is published at <selector>._domainkey.<domain>")
}

// apiContactProps are who an API channel message is from.
func apiContactProps() map[string]any {
	return map[string]any{"external_id": describe(withBound(str(), "maxLength", 256), "the integrator's id of the person (one conversation per account and external_id)"),
		"name": str(), "email": str(), "phone": str(), "avatar_url": str()}
}

// contactProps are a contact's fields; source is set only at creation.
func contactProps(withSource bool) map[string]any {
	p := map[string]any{"name": str(), "email": str(), "phone": str(), "company": str(), "title": str(),
		"country": str(), "language": str(), "avatar": str(), "avatar_url": str(),
		"custom_fields": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": []string{"string", "null"}}}}
	if withSource {
		p["source"] = enum("manual", "api")
	}
	return p
}

// assistantProps are the fields of an assistant a request may name.
func assistantProps() map[string]any {
	return map[string]any{
		"name": withBound(withBound(str(), "minLength", 1), "maxLength", engine.MaxAssistantNameBytes),
		"accounts": withBound(map[string]any{"type": "array", "items": obj(map[string]any{"channel": str(), "account_id": withBound(str(), "minLength", 1)},
			"channel", "account_id")}, "maxItems", engine.MaxAssistantAccounts),
		"agent": obj(agentSettingsProps()),
	}
}

// minProps makes an object schema refuse {}: an update names a field.
func minProps(o map[string]any) map[string]any {
	o["minProperties"] = 1
	return o
}

// between bounds a number schema (nil: no bound on that side).
func between(o map[string]any, lo, hi any) map[string]any {
	if lo != nil {
		o["minimum"] = lo
	}
	if hi != nil {
		o["maximum"] = hi
	}
	return o
}

func describe(o map[string]any, d string) map[string]any {
	o["description"] = d
	return o
}

// oneOf makes an object schema want exactly one of the required sets.
func oneOf(o map[string]any, sets ...[]string) map[string]any {
	o["oneOf"] = requiredSets(sets)
	return o
}

// anyOf makes an object schema want at least one of the required sets.
func anyOf(o map[string]any, sets ...[]string) map[string]any {
	o["anyOf"] = requiredSets(sets)
	return o
}

func requiredSets(sets [][]string) []any {
	out := make([]any, len(sets))
	for i, set := range sets {
		out[i] = map[string]any{"required": set}
	}
	return out
}

func str() map[string]any { return map[string]any{"type": "string"} }

func num() map[string]any { return map[string]any{"type": "number"} }

// planLimitsSchema is engine.PlanLimits: every limit a count, 0 or
// absent meaning unlimited.
func planLimitsSchema() map[string]any {
	props := map[string]any{}
	for _, r := range engine.PlanResources {
		props[string(r)] = withBound(withBound(integer(), "minimum", 0), "maximum", engine.MaxPlanLimit)
	}
	return obj(props)
}

func integer() map[string]any { return map[string]any{"type": "integer"} }

func boolean() map[string]any { return map[string]any{"type": "boolean"} }

func strs() map[string]any { return map[string]any{"type": "array", "items": str()} }

func enum(vals ...string) map[string]any { return map[string]any{"type": "string", "enum": vals} }

func obj(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var pathParamRe = regexp.MustCompile(`\{([a-z]+)\}`)

// openAPIDocument builds the OpenAPI 3.1 document from the table.
func openAPIDocument() []byte {
	paths := map[string]map[string]any{}
	for _, o := range operations {
		var params []map[string]any
		for _, m := range pathParamRe.FindAllStringSubmatch(o.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": str()})
		}
		for _, q := range o.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": str()})
		}
		opDoc := map[string]any{
			"summary": o.summary, "tags": []string{o.tag},
			"operationId": strings.ToLower(o.method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_", "-", "_").Replace(o.path),
			"responses": map[string]any{
				itoa(o.ok): map[string]any{"description": "Success"},
				"4XX":      map[string]any{"description": "Bad input, authentication or a missing resource", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
				"503": map[string]any{"description": "Retry later, after Retry-After seconds: the server is shutting down (code shutting_down; /healthz, /readyz and /metrics aside), or overloaded (code overloaded)",
					"headers": map[string]any{"Retry-After": map[string]any{"schema": map[string]any{"type": "integer"}}},
					"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
			},
		}
		if len(params) > 0 {
			opDoc["parameters"] = params
		}
		if o.public {
			opDoc["security"] = []any{}
		}
		if o.body != "" {
			mediaType := o.bodyType
			if mediaType == "" {
				mediaType = fiber.MIMEApplicationJSON
			}
			opDoc["requestBody"] = map[string]any{"required": true, "content": map[string]any{mediaType: map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + o.body}}}}
		}
		if paths[o.path] == nil {
			paths[o.path] = map[string]any{}
		}
		paths[o.path][strings.ToLower(o.method)] = opDoc
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Parley API", "version": "1",
			"description": "The inbox API of Parley. Every route except webhooks and health checks wants Authorization: Bearer <token>. Errors are {\"error\": {\"code\", \"message\"}}."},
		"paths":      paths,
		"security":   []any{map[string]any{"bearer": []string{}}},
		"components": map[string]any{"schemas": schemas, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
	b, _ := json.Marshal(doc) // maps of strings, numbers and slices: cannot fail
	return b
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// routeTemplate turns a Fiber route path into its OpenAPI template:
// ":conv" → "{conv}", ":channel<regex(...)>" → "{channel}".
func routeTemplate(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			name := strings.TrimPrefix(part, ":")
			if j := strings.IndexAny(name, "<?"); j >= 0 {
				name = name[:j]
			}
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

// documentedRoutes lists "METHOD path" of every route the router serves,
// as OpenAPI templates, sorted.
func documentedRoutes(app *fiber.App) []string {
	seen := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		switch r.Method {
		case fiber.MethodGet, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
		default:
			continue
		}
		seen[r.Method+" "+routeTemplate(r.Path)] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// formProps are the parts of a form a request may name.
func formProps() map[string]any {
	return map[string]any{"name": str(),
		"fields": map[string]any{"type": "array", "minItems": 1, "maxItems": engine.MaxFormFields,
			"items": obj(map[string]any{"key": str(), "label": str(), "required": boolean()}, "key")},
		"thank_you": str(), "stage_id": nullableStr(), "owner_id": nullableStr(), "tag": str(),
		"allowed_origins": map[string]any{"type": "array", "maxItems": engine.MaxFormOrigins, "items": str()}}
}

// segmentProps are the fields of a segment a request may name.
func segmentProps() map[string]any {
	cond := obj(map[string]any{
		"kind":  enum("field", "profile", "tag", "stage", "owner", "source", "channel", "last_message", "created"),
		"key":   describe(str(), "field: a custom field key; profile: name, email, phone, company, title, country or language"),
		"op":    enum("is", "is_not", "contains", "exists", "not_exists", "within_days", "not_within_days"),
		"value": describe(withBound(str(), "maxLength", engine.MaxSegmentValueBytes), "what is compared: a text, a tag, a stage or user id, a source, a channel"),
		"days":  describe(between(integer(), 1, engine.MaxSegmentDays), "the window of last_message and created"),
	}, "kind", "op")
	return map[string]any{"name": str(), "match": enum("all", "any"),
		"conditions": map[string]any{"type": "array", "minItems": 1, "maxItems": engine.MaxSegmentConditions, "items": cond}}
}

// optOutKeywordsSchema is a list of opt-out keywords (null: the defaults).
func optOutKeywordsSchema() map[string]any {
	return map[string]any{"type": []string{"array", "null"}, "maxItems": engine.MaxOptOutKeywords,
		"items": withBound(withBound(str(), "minLength", 1), "maxLength", engine.MaxOptOutKeywordBytes)}
}
