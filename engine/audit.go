package engine

import (
	"encoding/json"
	"time"
)

// AuditEntry is one action by a person or a token, as the audit log
// keeps it: who (the user and the token they used), when, from where (IP
// and user agent), what (an action named by the method and the route's
// pattern, the resource ids the route names, the answer's status) and,
// for settings, the value before and after. Entries are only appended,
// never changed (docs/ARCHITECTURE.md, "Audit log").
type AuditEntry struct {
	ID          ID                `json:"id"`
	WorkspaceID ID                `json:"workspace_id"`
	At          time.Time         `json:"at"`
	UserID      ID                `json:"user_id"`
	UserName    string            `json:"user_name,omitempty"`
	TokenID     ID                `json:"token_id"`
	TokenKind   string            `json:"token_kind,omitempty"`
	IP          string            `json:"ip"`
	UserAgent   string            `json:"user_agent,omitempty"`
	Action      string            `json:"action"`
	Resource    map[string]string `json:"resource,omitempty"`
	Status      int               `json:"status"`
	Before      json.RawMessage   `json:"before,omitempty"`
	After       json.RawMessage   `json:"after,omitempty"`
}
