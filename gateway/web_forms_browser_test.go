package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

// formKeys lists the keys of the builder's form, in order.
const formKeys = `[...document.querySelectorAll('#fm-fields .fm-item')].map((li) => li.dataset.key)`

// dragJS drags the element from names onto the element to names with
// the HTML5 drag events a browser sends, and says whether the target
// took it (dragover and drop default-prevented).
func dragJS(from, to string) string {
	return fmt.Sprintf(`(() => {
		const src = document.querySelector(%q), dst = document.querySelector(%q);
		const dt = new DataTransfer();
		src.dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: dt }));
		dst.dispatchEvent(new DragEvent('dragenter', { bubbles: true, cancelable: true, dataTransfer: dt }));
		const over = new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt });
		dst.dispatchEvent(over);
		const drop = new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt });
		dst.dispatchEvent(drop);
		src.dispatchEvent(new DragEvent('dragend', { bubbles: true, dataTransfer: dt }));
		return over.defaultPrevented && drop.defaultPrevented;
	})()`, from, to)
}

// Settings › Forms in Chromium at each width: a new form built by drag
// and drop (a field dragged from the available ones onto the form, one
// dragged within it) and by keyboard (Add, and Move down pressed with
// Enter, the focus staying on the moved field), its stage and tag, saved
// and checked through the API, the embed snippets shown, and axe-core.
func TestWebFormBuilder(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	sales := e.pipelines(ownerToken)[0]
	stage := sales.Stages[1].ID
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	forms := func(t *testing.T) []engine.Form {
		code, body := e.api("GET", "/api/v1/forms", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[struct {
			Forms []engine.Form `json:"forms"`
		}](t, body).Forms
	}
	for i, w := range widths {
		screen := w.name
		step := func(name string, f func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; f(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)
		name := "Demo request " + screen

		step("a field dragged into the form", func(t *testing.T) {
			b.goTo(e.url, "/#settings/forms")
			b.clickJS("New form", "#fm-new")
			b.waitJS("the builder", `document.querySelector('.fm-builder #fm-name') && document.querySelector('#fm-palette .fm-avail[data-key=company]')`)
			require.Equal(t, []string{"name", "email"}, evalJS[[]string](b, formKeys))
			b.fill("#fm-name", name)
			require.True(t, evalJS[bool](b, dragJS(`#fm-palette .fm-avail[data-key=company]`, `#fm-fields .fm-item[data-key=name]`)), "the form takes the field")
			b.waitJS("company first", formKeys+`.join() === 'company,name,email'`)
			require.False(t, evalJS[bool](b, `!!document.querySelector('#fm-palette .fm-avail[data-key=company]')`), "no longer available")
		})

		step("by keyboard: move down and add", func(t *testing.T) {
			evalJS[bool](b, `(document.querySelector('#fm-fields .fm-item[data-key=company] [data-act=down]').focus(), true)`)
			b.do("Enter", chromedp.KeyEvent(kb.Enter))
			b.waitJS("company second", formKeys+`.join() === 'name,company,email'`)
			require.Equal(t, "company", evalJS[string](b, `document.activeElement.closest('.fm-item')?.dataset.key`), "the focus follows the field")
			require.Contains(t, evalJS[string](b, `document.querySelector('#fm-live').textContent`), "position 2 of 3", "announced")
			evalJS[bool](b, `(document.querySelector('#fm-palette .fm-avail[data-key=phone] [data-act=add]').focus(), true)`)
			b.do("Enter", chromedp.KeyEvent(kb.Enter))
			b.waitJS("phone added", formKeys+`.join() === 'name,company,email,phone'`)
			require.Equal(t, "phone", evalJS[string](b, `document.activeElement.closest('.fm-item')?.dataset.key`))
		})

		step("a field dragged within the form, then saved", func(t *testing.T) {
			require.True(t, evalJS[bool](b, dragJS(`#fm-fields .fm-item[data-key=phone]`, `#fm-fields .fm-item[data-key=email]`)))
			b.waitJS("phone before email", formKeys+`.join() === 'name,company,phone,email'`)
			b.clickJS("phone required", `#fm-fields .fm-item[data-key=phone] .fm-required`)
			b.fill("#fm-tag", "webinar-"+screen)
			b.choose("#fm-stage", stage.String())
			b.clickJS("save", "#fm-save")
			b.waitJS("the snippets", `document.querySelector('.fm-embed input[data-copy=script]')?.value.includes('/form/embed.js')`)
			fs := forms(t)
			require.Len(t, fs, i+1)
			f := fs[i]
			require.Equal(t, name, f.Name)
			require.Equal(t, []engine.FormField{{Key: "name", Label: "Name", Required: true}, {Key: "company", Label: "Company"},
				{Key: "phone", Label: "Phone", Required: true}, {Key: "email", Label: "Email", Required: true}}, f.Fields)
			require.Equal(t, "webinar-"+screen, f.Tag)
			require.Equal(t, &engine.ContactStage{PipelineID: sales.ID, StageID: stage}, f.Stage)
			url := evalJS[string](b, `document.querySelector('.fm-embed input[data-copy=url]').value`)
			require.Equal(t, e.url+"/f/"+f.WorkspaceID.String()+"/"+f.ID.String(), url)
			require.Contains(t, evalJS[string](b, `document.querySelector('.fm-embed input[data-copy=iframe]').value`), `<iframe src="`+url+`"`)
			b.noOverflow(int(w.w))
			axeCheck(t, b, "Settings › Forms builder at "+screen)
			b.screenshot("settings-forms-" + screen)
		})
	}
}

// A public form in Chromium: an invalid email is refused by the server
// and its error shown beside the field (aria-invalid, focused), nothing
// stored; corrected, the thank-you message shows and the contact is
// created with source form, its page listing the submission. axe-core
// checks the page.
func TestWebPublicForm(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	e.addField(ownerToken, map[string]any{"key": "plan", "label": "Plan", "type": "single_select", "options": []string{"Free", "Pro"}})
	f := e.addForm(ownerToken, map[string]any{"name": "Get in touch", "thank_you": "Thanks! Talk soon.",
		"fields": []map[string]any{{"key": "name", "required": true}, {"key": "email", "required": true}, {"key": "plan"}}})
	b := newTab(t, browser)
	for _, w := range widths {
		screen := w.name
		step := func(name string, fn func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; fn(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)
		email := "pat-" + strings.ReplaceAll(screen, " ", "") + "@example.com"
		step("an invalid email is shown inline", func(t *testing.T) {
			b.goTo(e.url, "/f/"+f.WorkspaceID.String()+"/"+f.ID.String())
			b.waitJS("the form", `document.querySelector('#pf-form #pf-email')`)
			b.fill("#pf-name", "Pat")
			b.fill("#pf-email", "pat at example")
			b.choose("#pf-plan", "Pro")
			b.clickJS("send", ".pf-submit")
			b.waitJS("the error beside the email", `document.querySelector('#pf-email-error').textContent === 'Email must be an email address'`)
			require.Equal(t, "true", evalJS[string](b, `document.querySelector('#pf-email').getAttribute('aria-invalid')`))
			require.Equal(t, "pf-email", evalJS[string](b, `document.activeElement.id`))
			require.Empty(t, e.contactIDs(ownerToken, "q="+email), "nothing stored")
			b.noOverflow(int(w.w))
			axeCheck(t, b, "public form with an error at "+screen)
			b.screenshot("public-form-error-" + screen)
		})
		step("corrected, it is sent", func(t *testing.T) {
			b.fill("#pf-email", email)
			b.clickJS("send", ".pf-submit")
			b.waitJS("the thanks", `!document.querySelector('#pf-thanks').hidden && document.querySelector('#pf-thanks').textContent === 'Thanks! Talk soon.'`)
			ids := e.contactIDs(ownerToken, "q="+email)
			require.Len(t, ids, 1)
			ct, err := e.store.Contact(e.ws, ids[0])
			require.NoError(t, err)
			require.Equal(t, engine.SourceForm, ct.Source)
			require.Equal(t, "Pro", ct.CustomFields["plan"])
		})
		step("the contact page lists the submission", func(t *testing.T) {
			ids := e.contactIDs(ownerToken, "q="+email)
			b.signIn(e.url, ownerToken)
			b.goTo(e.url, "/#contacts/"+ids[0].String())
			b.waitJS("the submission", fmt.Sprintf(`[...document.querySelectorAll('#ct-submissions-list .ct-submission')].some((li) => li.dataset.form === %q
				&& li.textContent.includes('Get in touch') && li.textContent.includes(%q))`, f.ID, email))
		})
	}
}
