package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/stretchr/testify/require"
)

// storeDigest hashes every key and value in the store: equal digests
// mean nothing was written.
func (e *env) storeDigest() string {
	e.t.Helper()
	it, err := e.store.DB().NewIter(nil)
	require.NoError(e.t, err)
	h := sha256.New()
	for ok := it.First(); ok; ok = it.Next() {
		// When a token was last used ('s' 'J', persistence/users.go) is
		// written by any authenticated request, a refused one too.
		if bytes.HasPrefix(it.Key(), []byte("sJ")) {
			continue
		}
		fmt.Fprintf(h, "%q=%q;", it.Key(), it.Value())
	}
	require.NoError(e.t, it.Close())
	return fmt.Sprintf("%x", h.Sum(nil))
}

// sampleValue is a value of the schema's type, for the fields of a body
// that are not under test.
func sampleValue(sch map[string]any) any {
	if en, ok := sch["enum"].([]any); ok {
		return en[0]
	}
	switch t := sch["type"].(type) {
	case []any:
		if slices.Contains(t, any("null")) {
			return nil
		}
		return sampleValue(map[string]any{"type": t[0]})
	case string:
		switch t {
		case "string":
			if sch["format"] == "date-time" {
				return time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			}
			return "x"
		case "boolean":
			return true
		case "integer", "number":
			if m, ok := sch["minimum"].(float64); ok {
				return m
			}
			return 1
		case "array":
			return []any{}
		case "object":
			return map[string]any{}
		}
	}
	return "x"
}

// wrongValue is a value not of the schema's type.
func wrongValue(sch map[string]any) any {
	if sch["type"] == "string" || sch["enum"] != nil {
		return 12345
	}
	if ts, ok := sch["type"].([]any); ok && slices.Contains(ts, any("string")) {
		return 12345
	}
	return "not the right type"
}

// Every operation of the published OpenAPI document that takes a JSON
// body refuses bodies its schema refuses (null, other JSON types, {},
// unknown fields, a required field missing, a field of the wrong type)
// with a 400 JSON error, and stores nothing.
func TestEveryJSONBodyValidatedAgainstTheDocument(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.AdminToken = adminToken })
	conv, contact := e.waContact("wamid.schema.1", "1555100", "Schema")
	user := e.addUser("schema@example.com", engine.RoleAgent, "schema password 1")
	code, body := e.api("POST", "/api/v1/tokens", ownerToken, map[string]any{"name": "schema"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var tok struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(body, &tok))
	require.NotEmpty(t, tok.ID, string(body))

	code, body = e.api("GET", "/api/v1/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))

	// The API channel's routes take an API channel account's inbound
	// token instead of a user's.
	apiAcct := e.connectAPI("https://integrator.example/parley")
	// The web chat widget's visitor routes take a visitor token.
	code, body = e.api("POST", "/api/v1/widgets", ownerToken, map[string]any{"name": "schema"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var widget struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(body, &widget))
	code, body = e.api("POST", "/widget/v1/"+widget.ID+"/sessions", "", map[string]any{"page_url": "https://shop.example/"})
	require.Equal(t, http.StatusOK, code, string(body))
	var visitor struct {
		Token string `json:"token"`
	}
	require.NoError(t, json.Unmarshal(body, &visitor))
	form := e.addForm(ownerToken, map[string]any{"name": "Schema", "fields": []map[string]any{{"key": "email"}}})
	fill := func(path string) string {
		if strings.HasPrefix(path, "/api/v1/widgets/") || strings.HasPrefix(path, "/widget/v1/") {
			return strings.NewReplacer("{id}", widget.ID, "{widget}", widget.ID).Replace(path)
		}
		account := phoneID
		if strings.HasPrefix(path, "/api/v1/api-channel/") {
			account = apiAcct.AccountID
		}
		r := strings.NewReplacer("{conv}", conv.String(), "{channel}", "whatsapp", "{account}", account,
			"{workspace}", form.WorkspaceID.String(), "{form}", form.ID.String())
		path = r.Replace(path)
		switch {
		case strings.Contains(path, "/contacts/{id}"):
			return strings.Replace(path, "{id}", contact.String(), 1)
		case strings.Contains(path, "/users/{id}"):
			return strings.Replace(path, "{id}", user.User.ID.String(), 1)
		case strings.Contains(path, "/admin/workspaces/{id}"):
			return strings.Replace(path, "{id}", e.ws.String(), 1)
		}
		return path
	}
	eventually(t, 10*time.Second, func() error {
		if n, err := e.store.SearchBacklog(); err != nil || n > 0 {
			return fmt.Errorf("search backlog %d, %v", n, err)
		}
		return nil
	})
	before := e.storeDigest()
	ops := 0
	for path, methods := range doc.Paths {
		if strings.HasPrefix(path, "/webhooks/") {
			continue // signed, checked by the signature then Meta's parser
		}
		for method, op := range methods {
			rb, ok := op["requestBody"].(map[string]any)
			if !ok {
				continue
			}
			mt, ok := rb["content"].(map[string]any)["application/json"].(map[string]any)
			if !ok {
				continue
			}
			ref := mt["schema"].(map[string]any)["$ref"].(string)
			sch := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
			require.Equal(t, "object", sch["type"], ref)
			props, _ := sch["properties"].(map[string]any)
			var required []string
			for _, r := range asSlice(sch["required"]) {
				required = append(required, r.(string))
			}
			valid := func() map[string]any {
				b := map[string]any{}
				for _, r := range required {
					b[r] = sampleValue(props[r].(map[string]any))
				}
				return b
			}
			bodies := map[string]any{"null": "null", "array": "[]", "string": `"x"`, "number": "5", "{}": "{}"}
			unknown := valid()
			unknown["no_such_field"] = 1
			bodies["unknown field"] = unknown
			for _, r := range required {
				b := valid()
				delete(b, r)
				bodies["without "+r] = b
			}
			for p, ps := range props {
				b := valid()
				b[p] = wrongValue(ps.(map[string]any))
				bodies["wrong type of "+p] = b
			}
			token := ownerToken
			if strings.HasPrefix(path, "/api/v1/api-channel/") {
				token = apiAcct.InboundToken
			}
			if strings.HasPrefix(path, "/widget/v1/") {
				token = visitor.Token
			}
			if strings.HasPrefix(path, "/api/v1/admin/workspaces") {
				token = adminToken // the operator's
			}
			for name, b := range bodies {
				code, resp := e.api(strings.ToUpper(method), fill(path), token, b)
				require.Equal(t, http.StatusBadRequest, code, "%s %s with %s: %s", method, path, name, resp)
				require.NotEmpty(t, errorCode(t, resp), "%s %s with %s", method, path, name)
			}
			ops++
		}
	}
	require.GreaterOrEqual(t, ops, 20, "every JSON body of the document was tried")
	require.Equal(t, before, e.storeDigest(), "bad bodies stored nothing")
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
