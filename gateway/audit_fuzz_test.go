package gateway

import (
	"errors"
	"testing"
)

// FuzzAuditQuery feeds arbitrary query strings to the audit log's query
// parser: no panic, every refusal is a 400 API error, and what is
// accepted is bounded (a limit of 1 to auditMaxLimit, a known format,
// since before until).
func FuzzAuditQuery(f *testing.F) {
	for _, s := range []string{"", "limit=10", "limit=0", "limit=999", "cursor=01HZY3K0000000000000000000", "actor=x",
		"action=POST+%2Fapi%2Fv1%2Fagent", "resource=abc", "since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z",
		"since=1969-01-01T00:00:00Z", "format=csv", "format=jsonl", "format=xml", "a=1", "%zz", "limit=1&limit=2", "action="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := parseAuditQuery(raw)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 API error", err)
			}
			return
		}
		if r.query.Limit < 1 || r.query.Limit > auditMaxLimit {
			t.Fatalf("limit %d accepted", r.query.Limit)
		}
		if r.format != "json" && r.format != "jsonl" && r.format != "csv" {
			t.Fatalf("format %q accepted", r.format)
		}
		if len(r.query.Action) > 256 || len(r.query.Resource) > 256 {
			t.Fatal("an unbounded filter accepted")
		}
		if !r.query.Since.IsZero() && !r.query.Until.IsZero() && !r.query.Until.After(r.query.Since) {
			t.Fatal("until not after since accepted")
		}
	})
}
