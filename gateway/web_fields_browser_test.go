package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Custom contact fields in the web app: Settings › Contact fields adds,
// edits and deletes definitions (options, Allow for AI), a refused one
// shows the API's error; the contact page and the inbox's contact panel
// edit the values by their definitions (a select, a number), an invalid
// value shows the API's error beside its input and stores nothing; both
// show the contact's memories grouped by type, the page adds one of a
// chosen type. Each step is checked through the API, at a phone's and a
// desktop's width, with axe-core on each screen.
func TestWebContactFields(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	defs := func(t *testing.T) []engine.FieldDef {
		code, body := e.api("GET", "/api/v1/contact-fields", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var r struct {
			Fields []engine.FieldDef `json:"fields"`
		}
		require.NoError(t, json.Unmarshal(body, &r))
		return r.Fields
	}
	def := func(t *testing.T, key string) (engine.FieldDef, bool) {
		ds := defs(t)
		i := slices.IndexFunc(ds, func(d engine.FieldDef) bool { return d.Key == key })
		if i < 0 {
			return engine.FieldDef{}, false
		}
		return ds[i], true
	}
	const create = `.settings-section[data-section=fields] > form.cf-form`

	for i, w := range widths {
		screen := w.name
		step := func(name string, f func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; f(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)
		plan, seats := "plan_"+screen, "seats_"+screen

		step("add a select that allows the AI", func(t *testing.T) {
			b.goTo(e.url, "/#settings/fields")
			b.waitJS("the form", `document.querySelector('`+create+` #cf-label') && document.querySelector('#contact-fields h3')`)
			b.fill("#cf-label", "Plan "+screen)
			b.waitJS("the key made of the label", `document.querySelector('#cf-key').value === `+jsString(plan))
			require.True(t, evalJS[bool](b, `document.querySelector('#cf-options').closest('.field').hidden`), "a text field has no options")
			b.choose("#cf-type", "single_select")
			b.waitJS("the options", `!document.querySelector('#cf-options').closest('.field').hidden`)
			b.fill("#cf-options", "Free\nPro")
			b.clickJS("Allow for AI", "#cf-ai")
			b.clickJS("add", create+` button.primary`)
			b.waitJS("its row", fmt.Sprintf(`document.querySelector('#contact-fields tr.cf-def[data-key=%q]')?.textContent.includes('Allow for AI')`, plan))
			d, ok := def(t, plan)
			require.True(t, ok)
			require.Equal(t, engine.FieldSingleSelect, d.Type)
			require.Equal(t, []string{"Free", "Pro"}, d.Options)
			require.True(t, d.AllowAI)
			require.False(t, d.Required)
		})

		step("a refused field shows the API's error and stores nothing", func(t *testing.T) {
			n := len(defs(t))
			b.fill("#cf-label", "Tier "+screen)
			b.choose("#cf-type", "multi_select")
			b.fill("#cf-options", " ")
			b.clickJS("add", create+` button.primary`)
			b.waitJS("the error", `document.querySelector('`+create+` .cf-form-error').textContent.includes('options')`)
			require.Len(t, defs(t), n)
			b.fill("#cf-label", "Seats "+screen)
			b.choose("#cf-type", "number")
			b.clickJS("add", create+` button.primary`)
			b.waitJS("its row", fmt.Sprintf(`document.querySelector('#contact-fields tr.cf-def[data-key=%q]')`, seats))
			d, ok := def(t, seats)
			require.True(t, ok)
			require.Equal(t, engine.FieldNumber, d.Type)
			require.False(t, d.AllowAI)
		})

		step("edit the select", func(t *testing.T) {
			b.clickJS("edit", fmt.Sprintf(`#contact-fields tr.cf-def[data-key=%q] button[data-act=edit]`, plan))
			id := mustDef(t, def, plan).ID.String()
			b.waitJS("the edit form", `document.querySelector('#cf-label-`+id+`')`)
			require.True(t, evalJS[bool](b, `document.querySelector('#cf-key-`+id+`').readOnly`), "the key does not change")
			b.fill("#cf-label-"+id, "Plan tier")
			evalJS[bool](b, `(document.querySelector('#cf-options-`+id+`').value += '\nTeam', true)`)
			b.clickJS("save", fmt.Sprintf(`#contact-fields tr.cf-def[data-key=%q] form.cf-form button.primary`, plan))
			b.waitJS("the new label", fmt.Sprintf(`document.querySelector('#contact-fields tr.cf-def[data-key=%q] .cf-def-label')?.textContent === 'Plan tier'`, plan))
			d := mustDef(t, def, plan)
			require.Equal(t, "Plan tier", d.Label)
			require.Equal(t, []string{"Free", "Pro", "Team"}, d.Options)
			require.True(t, d.AllowAI)
			b.noOverflow(int(w.w))
			axeCheck(t, b, "Settings › Contact fields at "+screen)
			b.screenshot("settings-fields-" + screen)
		})

		wa := fmt.Sprintf("1555777000%d", i)
		conv := e.writes(t, wa, "Field Person "+screen, "hello")
		ct := e.conv(conv).ContactID
		planSel := fmt.Sprintf(`#ct-profile .cf-row[data-key=%q] select`, plan)
		seatsIn := fmt.Sprintf(`#ct-profile .cf-row[data-key=%q] input`, seats)

		step("the contact page edits the fields by their type", func(t *testing.T) {
			b.goTo(e.url, "/#contacts/"+ct.String())
			b.waitJS("the typed inputs", `document.querySelector('`+planSel+`') && document.querySelector('`+seatsIn+`')`)
			require.Equal(t, []string{"", "Free", "Pro", "Team"}, evalJS[[]string](b, `[...document.querySelector('`+planSel+`').options].map((o) => o.value)`))
			b.choose(planSel, "Pro")
			b.fill(seatsIn, "many")
			b.clickJS("save", "#ct-save")
			b.waitJS("the error beside the number", fmt.Sprintf(`document.querySelector('#ct-profile .cf-row[data-key=%q] .cf-error')?.textContent.includes('must be a number')`, seats))
			require.Equal(t, "true", evalJS[string](b, `document.querySelector('`+seatsIn+`').getAttribute('aria-invalid')`))
			require.Empty(t, e.contactDetail(ct).CustomFields, "nothing stored")
			axeCheck(t, b, "the contact page with an invalid field at "+screen)
			b.screenshot("contact-fields-invalid-" + screen)
			b.fill(seatsIn, "12")
			b.clickJS("save", "#ct-save")
			b.waitJS("saved", `!document.querySelector('#ct-profile .cf-error:not(:empty)') && document.querySelector('`+seatsIn+`')?.value === '12' && !document.querySelector('#ct-profile[data-dirty=true]')`)
			require.Equal(t, map[string]string{plan: "Pro", seats: "12"}, e.contactDetail(ct).CustomFields)
		})

		step("memories by type on the contact page", func(t *testing.T) {
			b.goTo(e.url, "/#contacts/"+ct.String())
			b.waitJS("the memories", `document.querySelector('#ct-memory-list .mem-empty') && document.querySelector('#ct-memory-type')`)
			b.fill("#ct-memory-in", "Wants to open a second shop")
			b.choose("#ct-memory-type", "goal")
			b.clickJS("add the memory", "#ct-memory-add")
			b.waitJS("the goal", `document.querySelector('#ct-memory-list .mem-group[data-type=goal] .ct-memory-text')?.textContent === 'Wants to open a second shop'`)
			code, body := e.api("POST", "/api/v1/contacts/"+ct.String()+"/memories", ownerToken, map[string]string{"text": "Prefers WhatsApp", "type": "preference"})
			require.Equal(t, http.StatusCreated, code, string(body))
			b.waitJS("the preference, live", `document.querySelector('#ct-memory-list .mem-group[data-type=preference] .ct-memory-text')?.textContent === 'Prefers WhatsApp'`)
			require.Equal(t, []string{"Preferences (1)", "Goals (1)"}, evalJS[[]string](b, `[...document.querySelectorAll('#ct-memory-list .mem-type')].map((x) => x.textContent)`), "grouped in the types' order")
			code, body = e.api("GET", "/api/v1/contacts/"+ct.String()+"/memories", ownerToken, nil)
			require.Equal(t, http.StatusOK, code)
			var r struct{ Memories []engine.Memory }
			require.NoError(t, json.Unmarshal(body, &r))
			require.Len(t, r.Memories, 2)
			require.Equal(t, engine.MemoryGoal, r.Memories[0].Type, "stored with the type picked")
			b.noOverflow(int(w.w))
			axeCheck(t, b, "the contact page's memories at "+screen)
		})

		step("the contact panel shows and edits them", func(t *testing.T) {
			b.goTo(e.url, "/#c/"+conv.String())
			b.waitChat()
			b.clickJS("the contact panel", "#act-contact")
			sel := fmt.Sprintf(`#panel-profile .cf-row[data-key=%q] select`, plan)
			b.waitJS("the field", `document.querySelector('`+sel+`')?.value === 'Pro'`)
			b.waitJS("the memories by type", `[...document.querySelectorAll('#panel-memories .mem-type')].map((x) => x.textContent).join('|') === 'Preferences (1)|Goals (1)'`)
			code, body := e.api("POST", "/api/v1/contacts/"+ct.String()+"/memories", ownerToken, map[string]string{"text": "First order arrived late", "type": "experience"})
			require.Equal(t, http.StatusCreated, code, string(body))
			b.waitJS("a new one, live", `document.querySelector('#panel-memories .mem-group[data-type=experience] .ct-memory-text')?.textContent === 'First order arrived late'`)
			axeCheck(t, b, "the contact panel with fields and memories at "+screen)
			b.screenshot("contact-panel-fields-" + screen)
			b.choose(sel, "Team")
			evalJS[bool](b, `(document.querySelector('#panel-profile').requestSubmit(), true)`)
			eventually(t, 10*time.Second, func() error {
				if e.contactDetail(ct).CustomFields[plan] != "Team" {
					return fmt.Errorf("not saved yet")
				}
				return nil
			})
		})

		step("delete a field", func(t *testing.T) {
			b.goTo(e.url, "/#settings/fields")
			b.clickJS("delete", fmt.Sprintf(`#contact-fields tr.cf-def[data-key=%q] button[data-act=delete]`, seats))
			b.waitJS("the confirmation", `!document.querySelector('#modal').hidden`)
			b.clickJS("confirm", "#modal-ok")
			b.waitJS("its row gone", fmt.Sprintf(`document.querySelector('#contact-fields h3') && !document.querySelector('#contact-fields tr.cf-def[data-key=%q]')`, seats))
			_, ok := def(t, seats)
			require.False(t, ok)
			require.Equal(t, "12", e.contactDetail(ct).CustomFields[seats], "the contact keeps its value")
		})
	}
}

func mustDef(t *testing.T, def func(*testing.T, string) (engine.FieldDef, bool), key string) engine.FieldDef {
	t.Helper()
	d, ok := def(t, key)
	require.True(t, ok, "field %s", key)
	return d
}

// An AI write of the contact's fields is a line of its activity on the
// contact page, naming the fields written and refused and the customer's
// message, linked to its conversation; the typed inputs show the values.
func TestWebContactAIWrite(t *testing.T) {
	browser := startBrowser(t)
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, completion("Noted!", "", [2]string{"update_contact", `{"company":"Acme","plan":"pro","vip":"yes"}`}), 0
	})
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	e.addField(ownerToken, map[string]any{"key": "plan", "label": "Plan", "type": "single_select", "options": []string{"Free", "Pro"}, "allow_ai": true})
	e.addField(ownerToken, map[string]any{"key": "vip", "label": "VIP", "type": "boolean"})
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	for i, w := range widths {
		t.Run(w.name, func(t *testing.T) {
			b.t = t
			b.viewport(w.w, w.h, w.phone)
			conv := e.writes(t, fmt.Sprintf("1555666000%d", i), "Ada "+w.name, "I'm at Acme and we want Pro")
			ct := e.conv(conv).ContactID
			e.waitContact(ct, func(c engine.Contact) bool { return c.CustomFields["plan"] == "Pro" })
			b.goTo(e.url, "/#contacts/"+ct.String())
			line := `document.querySelector('#ct-activity li.ct-act[data-type="contact.ai_updated"] a')`
			b.waitJS("the AI's line", line+`?.textContent === "The AI agent saved company, plan (not allowed or invalid: vip), from the customer's message #1"`)
			require.Equal(t, "#c/"+conv.String(), evalJS[string](b, line+`.getAttribute('href')`), "linked to its conversation")
			require.Equal(t, "Pro", evalJS[string](b, `document.querySelector('#ct-profile .cf-row[data-key=plan] select').value`))
			require.Equal(t, "", evalJS[string](b, `document.querySelector('#ct-profile .cf-row[data-key=vip] select').value`), "vip does not allow the AI")
			axeCheck(t, b, "the contact page with the AI's write at "+w.name)
		})
	}
}
