package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

type fieldsPage struct {
	Fields []engine.FieldDef `json:"fields"`
}

func (e *env) fieldDefs(token string) []engine.FieldDef {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/contact-fields", token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[fieldsPage](e.t, body).Fields
}

func (e *env) addField(token string, body map[string]any) engine.FieldDef {
	e.t.Helper()
	code, resp := e.api("POST", "/api/v1/contact-fields", token, body)
	require.Equal(e.t, http.StatusCreated, code, string(resp))
	return decodeAs[engine.FieldDef](e.t, resp)
}

func fieldKeys(ds []engine.FieldDef) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Key
	}
	return out
}

// fieldErrors reads the field-keyed list of an invalid_fields error.
func fieldErrors(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var b struct {
		Error struct {
			Code   string              `json:"code"`
			Fields []engine.FieldError `json:"fields"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &b), string(body))
	require.Equal(t, "invalid_fields", b.Error.Code, string(body))
	out := map[string]string{}
	for _, f := range b.Error.Fields {
		out[f.Field] = f.Message
	}
	return out
}

// Admins and owners define, change, reorder and delete contact fields,
// every role lists them; agents get 403 on changes; a key is unique and
// never changes; bad bodies get a 400 JSON error and store nothing;
// another workspace sees none of them.
func TestContactFieldsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	agent := e.addUser("fields-agent@example.com", engine.RoleAgent, "fields agent pw 1")
	admin := e.addUser("fields-admin@example.com", engine.RoleAdmin, "fields admin pw 1")
	require.Empty(t, e.fieldDefs(agent.Token))

	plan := e.addField(ownerToken, map[string]any{"key": "plan", "label": " Plan ", "type": "single_select",
		"options": []string{"Free", " Pro "}, "allow_ai": true})
	require.Equal(t, engine.FieldDef{ID: plan.ID, WorkspaceID: e.ws, Key: "plan", Label: "Plan", Type: engine.FieldSingleSelect,
		Options: []string{"Free", "Pro"}, AllowAI: true, Order: 0, CreatedAt: plan.CreatedAt, UpdatedAt: plan.CreatedAt}, plan)
	budget := e.addField(admin.Token, map[string]any{"key": "budget", "label": "Budget", "type": "number", "required": true})
	require.Equal(t, 1, budget.Order, "a new field goes after the others")
	require.Equal(t, []string{"plan", "budget"}, fieldKeys(e.fieldDefs(agent.Token)))

	before := e.storeDigest()
	e.callAll([][3]string{
		{"POST", "/api/v1/contact-fields", `{"key":"a","label":"a","type":"text"}`},
		{"PATCH", "/api/v1/contact-fields/" + plan.ID.String(), `{"label":"mine"}`},
		{"DELETE", "/api/v1/contact-fields/" + plan.ID.String(), ""},
	}, agent.Token, func(r [3]string, code int, body []byte) {
		require.Equal(t, http.StatusForbidden, code, "%v: %s", r, body)
	})
	code, body := e.api("POST", "/api/v1/contact-fields", ownerToken, map[string]any{"key": "plan", "label": "Again", "type": "text"})
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Equal(t, "key_taken", errorCode(t, body))
	for _, bad := range []string{``, `null`, `{}`, `{"key":"x","label":"x"}`, `{"key":"x","label":"x","type":"colour"}`,
		`{"key":"X","label":"x","type":"text"}`, `{"key":"email","label":"x","type":"text"}`, `{"key":"a b","label":"x","type":"text"}`,
		`{"key":"x","label":" ","type":"text"}`, `{"key":"x","label":"x","type":"text","options":["a"]}`,
		`{"key":"x","label":"x","type":"single_select"}`, `{"key":"x","label":"x","type":"multi_select","options":["a,b"]}`,
		`{"key":"x","label":"x","type":"single_select","options":["a","A"]}`, `{"key":"x","label":"x","type":"text","extra":1}`,
		`{"key":"x","label":"x","type":"text","order":"1"}`, `{"key":"` + strings.Repeat("a", 41) + `","label":"x","type":"text"}`} {
		code, body = e.api("POST", "/api/v1/contact-fields", ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
		require.NotEmpty(t, errorCode(t, body))
	}
	for _, bad := range []string{`{}`, `{"key":"other"}`, `{"label":""}`, `{"type":"text","options":["a"]}`, `{"options":[]}`, `{"required":"yes"}`} {
		code, body = e.api("PATCH", "/api/v1/contact-fields/"+plan.ID.String(), ownerToken, bad)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, body)
	}
	require.Equal(t, before, e.storeDigest(), "refused requests stored nothing")

	// Another workspace sees none of them, and has its own keys.
	const otherToken = "pk_test_fields_other"
	e.newWorkspace(otherToken)
	require.Empty(t, e.fieldDefs(otherToken))
	e.addField(otherToken, map[string]any{"key": "plan", "label": "B's plan", "type": "text"})

	// Change: label, options, allow_ai and order; a select made text
	// drops its options.
	code, body = e.api("PATCH", "/api/v1/contact-fields/"+plan.ID.String(), admin.Token, map[string]any{"options": []string{"Free", "Pro", "Team"}, "order": 5})
	require.Equal(t, http.StatusOK, code, string(body))
	got := decodeAs[engine.FieldDef](t, body)
	require.Equal(t, []string{"Free", "Pro", "Team"}, got.Options)
	require.Equal(t, "plan", got.Key)
	require.Equal(t, []string{"budget", "plan"}, fieldKeys(e.fieldDefs(ownerToken)), "reordered")
	code, body = e.api("PATCH", "/api/v1/contact-fields/"+plan.ID.String(), admin.Token, map[string]any{"type": "text", "allow_ai": false})
	require.Equal(t, http.StatusOK, code, string(body))
	got = decodeAs[engine.FieldDef](t, body)
	require.Nil(t, got.Options)
	require.False(t, got.AllowAI)

	code, _ = e.api("DELETE", "/api/v1/contact-fields/"+plan.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = e.api("GET", "/api/v1/contact-fields/"+plan.ID.String(), admin.Token, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, []string{"budget"}, fieldKeys(e.fieldDefs(ownerToken)))

	// They survive a restart.
	e.stop()
	e.start()
	require.Equal(t, []string{"budget"}, fieldKeys(e.fieldDefs(ownerToken)))
	require.Equal(t, []string{"plan"}, fieldKeys(e.fieldDefs(otherToken)))
}

// Contact writes through the API check custom fields against their
// definitions: values are normalised, bad ones refused field by field
// (400 invalid_fields, nothing stored), a new contact needs the required
// fields, an update may not empty one, keys without a definition are
// free text; a deleted definition leaves the stored values.
func TestContactWritesCheckFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.addField(ownerToken, map[string]any{"key": "budget", "label": "Budget", "type": "number"})
	e.addField(ownerToken, map[string]any{"key": "since", "label": "Customer since", "type": "date"})
	topics := e.addField(ownerToken, map[string]any{"key": "topics", "label": "Topics", "type": "multi_select", "options": []string{"Sales", "Support"}})
	e.addField(ownerToken, map[string]any{"key": "vip", "label": "VIP", "type": "boolean", "required": true})

	before := e.storeDigest()
	code, body := e.api("POST", "/api/v1/contacts", ownerToken, map[string]any{"name": "Ana",
		"custom_fields": map[string]any{"budget": "lots", "since": "yesterday"}})
	require.Equal(t, http.StatusBadRequest, code, string(body))
	errs := fieldErrors(t, body)
	require.Len(t, errs, 3, "%v", errs)
	require.Contains(t, errs["budget"], "number")
	require.Contains(t, errs["since"], "YYYY-MM-DD")
	require.Contains(t, errs["vip"], "required")
	require.Equal(t, before, e.storeDigest(), "nothing stored")

	ct := e.createContact(ownerToken, map[string]any{"name": "Ana", "custom_fields": map[string]any{
		"budget": "1e3", "since": "2024-03-01", "topics": "support, sales", "vip": "yes", "Favourite colour": "blue"}})
	require.Equal(t, map[string]string{"budget": "1000", "since": "2024-03-01", "topics": "Sales, Support", "vip": "true",
		"Favourite colour": "blue"}, ct.CustomFields)

	before = e.storeDigest()
	for _, bad := range []map[string]any{{"vip": nil}, {"vip": ""}, {"topics": "Gold"}, {"budget": "12,5"}} {
		code, body = e.api("PATCH", "/api/v1/contacts/"+ct.ID.String(), ownerToken, map[string]any{"custom_fields": bad})
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", bad, body)
		require.Len(t, fieldErrors(t, body), 1)
	}
	require.Equal(t, before, e.storeDigest(), "nothing stored")
	code, body = e.api("PATCH", "/api/v1/contacts/"+ct.ID.String(), ownerToken, map[string]any{"custom_fields": map[string]any{"budget": nil, "vip": "0"}})
	require.Equal(t, http.StatusOK, code, string(body))
	ct = decodeAs[engine.Contact](t, body)
	require.Equal(t, map[string]string{"since": "2024-03-01", "topics": "Sales, Support", "vip": "false", "Favourite colour": "blue"}, ct.CustomFields)

	// A deleted definition leaves the values, free text from then on.
	code, _ = e.api("DELETE", "/api/v1/contact-fields/"+topics.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, "Sales, Support", e.contactDetail(ct.ID).CustomFields["topics"])
	code, body = e.api("PATCH", "/api/v1/contacts/"+ct.ID.String(), ownerToken, map[string]any{"custom_fields": map[string]any{"topics": "anything"}})
	require.Equal(t, http.StatusOK, code, string(body))
}

// An import checks each row's custom fields: a bad typed value fails its
// row (the others are imported, normalised), a new contact needs the
// required fields, and a column named after a field's label fills it.
func TestContactImportChecksFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.addField(ownerToken, map[string]any{"key": "budget", "label": "Budget", "type": "number"})
	e.addField(ownerToken, map[string]any{"key": "since", "label": "Customer since", "type": "date", "required": true})
	old := e.createContact(ownerToken, map[string]any{"name": "Old", "email": "old@example.com", "custom_fields": map[string]any{"since": "2020-01-01"}})

	csv := "name,email,budget,Customer since\n" +
		"Ana,ana@example.com,1e3,2024-03-01\n" + // row 2: imported
		"Bo,bo@example.com,lots,2024-03-01\n" + // row 3: bad number
		"Cy,cy@example.com,5,\n" + // row 4: new, without the required date
		"Old,old@example.com,7,\n" + // row 5: an update needs no required field
		"Di,di@example.com,5,03/01/2024\n" // row 6: bad date
	code, body := e.postCSV(ownerToken, "text/csv", []byte(csv))
	require.Equal(t, http.StatusOK, code, string(body))
	res := decodeAs[importResult](t, body)
	require.Equal(t, 1, res.Imported, string(body))
	require.Equal(t, 1, res.Updated, string(body))
	require.Equal(t, 3, res.Failed, string(body))
	rows := map[int]string{}
	for _, r := range res.Errors {
		rows[r.Row] = r.Error
	}
	require.Contains(t, rows[3], "budget: must be a number")
	require.Contains(t, rows[4], "since: Customer since is required")
	require.Contains(t, rows[6], "since: must be a date")
	page := e.contacts("q=ana")
	require.Len(t, page.Contacts, 1)
	require.Equal(t, map[string]string{"budget": "1000", "since": "2024-03-01"}, page.Contacts[0].CustomFields)
	require.Equal(t, map[string]string{"budget": "7", "since": "2020-01-01"}, e.contactDetail(old.ID).CustomFields)
}
