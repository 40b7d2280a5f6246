package agents

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/parleyhq/parley/engine"
)

// The AI's contact writes: the OpenAI-compatible agent is offered an
// update_contact tool (with the json reply format, a "contact" object in
// the answer; the webhook answers "contact" too) whose properties are the
// standard profile fields and the custom fields the workspace lets the AI
// write, typed by their definitions. What the model asks is only a
// proposal: the contact's actor checks each value against its definition
// and refuses the fields without allow_ai (engine.ApplyAIContactWrite).

// maxContactValues bounds how many values one answer may ask to write.
const maxContactValues = engine.MaxCustomFields + 5

// contactToolName is the name of the contact tool.
const contactToolName = "update_contact"

// aiFields returns the definitions the AI may write.
func aiFields(defs []engine.FieldDef) []engine.FieldDef {
	var out []engine.FieldDef
	for _, d := range defs {
		if d.AllowAI {
			out = append(out, d)
		}
	}
	return out
}

// contactProperties is the JSON schema of the values the agent may write:
// the standard profile fields and the custom fields that allow the AI.
func contactProperties(defs []engine.FieldDef) map[string]any {
	p := map[string]any{}
	for _, k := range engine.StandardContactFields {
		p[k] = map[string]any{"type": "string", "description": "the customer's " + k}
	}
	for _, d := range aiFields(defs) {
		p[d.Key] = fieldSchema(d)
	}
	return p
}

// fieldSchema is the JSON schema of a custom field's value.
func fieldSchema(d engine.FieldDef) map[string]any {
	s := map[string]any{"description": d.Label}
	switch d.Type {
	case engine.FieldNumber:
		s["type"] = "number"
	case engine.FieldBoolean:
		s["type"] = "boolean"
	case engine.FieldSingleSelect:
		s["type"], s["enum"] = "string", d.Options
	case engine.FieldMultiSelect:
		s["type"], s["items"] = "array", map[string]any{"type": "string", "enum": d.Options}
	case engine.FieldDate:
		s["type"], s["format"], s["description"] = "string", "date", d.Label+" (YYYY-MM-DD)"
	default:
		s["type"] = "string"
	}
	return s
}

// contactTool is the update_contact tool for definitions defs.
func contactTool(defs []engine.FieldDef) map[string]any {
	return map[string]any{"type": "function", "function": map[string]any{
		"name": contactToolName,
		"description": "Save details the customer gave about themselves (their name, email, phone, company, title, " +
			"or the business's own fields below) on their contact record. Give only what the customer said.",
		"parameters": map[string]any{"type": "object", "properties": contactProperties(defs)},
	}}
}

// toolsFor returns the tools offered to the model for a workspace with
// definitions defs.
func toolsFor(defs []engine.FieldDef) []any {
	return append(append([]any{}, agentTools...), contactTool(defs))
}

// fieldsPrompt tells the model which fields of the contact it may fill.
func fieldsPrompt(defs []engine.FieldDef, structured bool) string {
	var b strings.Builder
	how := "call " + contactToolName
	if structured {
		how = `put them in "contact"`
	}
	fmt.Fprintf(&b, "\n\nWhen the customer tells you their name, email, phone, company or title, %s.", how)
	ai := aiFields(defs)
	if len(ai) == 0 {
		return b.String()
	}
	b.WriteString(" You may also fill these fields of the business:")
	for _, d := range ai {
		fmt.Fprintf(&b, "\n- %s (%s): %s", d.Key, d.Type, d.Label)
		if len(d.Options) > 0 {
			fmt.Fprintf(&b, "; one of %s", strings.Join(d.Options, ", "))
		}
	}
	return b.String()
}

// contactValues reads the values of an update_contact call or of a
// "contact" object: strings as given, numbers in decimal, booleans as
// true or false, a list of strings joined by ", " (a multi select); null
// leaves a field out. Anything else is an error.
func contactValues(raw map[string]json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if len(raw) > maxContactValues {
		return nil, fmt.Errorf("more than %d contact values", maxContactValues)
	}
	out := make(map[string]string, len(raw))
	for k, r := range raw {
		v, err := looseValue(r)
		if err != nil {
			return nil, fmt.Errorf("contact value %q: %v", k, err)
		}
		switch x := v.(type) {
		case nil:
			continue
		case string:
			out[k] = x
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(x)
		case []any:
			parts, err := looseStrings(r)
			if err != nil {
				return nil, fmt.Errorf("contact value %q: %v", k, err)
			}
			out[k] = strings.Join(parts, engine.MultiSelectSep)
		default:
			return nil, fmt.Errorf("contact value %q is not a string, number, boolean or list", k)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// addContactValues merges values into an answer's contact values.
func addContactValues(dst *map[string]string, values map[string]string) {
	if len(values) == 0 {
		return
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	maps.Copy(*dst, values)
}

// contactObject reads a "contact" object (absent or null: none).
func contactObject(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not an object: %s", snippet(raw))
	}
	return contactValues(m)
}
