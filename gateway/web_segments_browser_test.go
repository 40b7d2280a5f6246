package gateway_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Segments in the web app: Settings › Segments builds a segment from
// conditions (a profile field, then a second condition; all or any),
// counting live how many contacts match as the conditions change; the
// saved segment's row shows its members, the member's page says it
// entered the segment; the Contacts list, the inbox
// (Contact segment) and the Pipeline board (Segment) filter by it; an
// edit renames it and a delete removes it. Checked through the API, at a
// phone's and a desktop's width, with axe-core on each screen.
func TestWebSegments(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)
	lead := e.pipelines(ownerToken)[0].Stages[0].ID
	const create = `.settings-section[data-section=segments] > form.seg-form`
	segs := func(t *testing.T) []segmentView {
		code, body := e.api("GET", "/api/v1/segments", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[struct {
			Segments []segmentView `json:"segments"`
		}](t, body).Segments
	}
	byName := func(t *testing.T, name string) segmentView {
		for _, s := range segs(t) {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no segment %q", name)
		return segmentView{}
	}
	// Writers on WhatsApp, for the inbox filter.
	writers := e.createSegment(ownerToken, map[string]any{"name": "WhatsApp writers", "conditions": []any{
		map[string]any{"kind": "channel", "op": "is", "value": "whatsapp"}}})

	for i, w := range widths {
		screen := w.name
		step := func(name string, f func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; f(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)
		company := "Segco" + screen
		ann := e.createContact(ownerToken, map[string]any{"name": "Ann Seg " + screen, "company": company})
		bob := e.createContact(ownerToken, map[string]any{"name": "Bob Seg " + screen, "company": "Other"})
		e.setStage(ownerToken, ann.ID, lead.String())
		e.setStage(ownerToken, bob.ID, lead.String())
		conv := e.writes(t, fmt.Sprintf("1555888000%d", i), "Wes Seg "+screen, "hello")
		code, body := e.webhook(engine.ChannelMessenger, messengerText(fmt.Sprintf("mid.segweb.%d", i), fmt.Sprintf("PSID-SEGWEB-%d", i), "hi"))
		require.Equal(t, http.StatusOK, code, string(body))
		name := "Segco people " + screen

		step("build a segment with a live count", func(t *testing.T) {
			b.goTo(e.url, "/#settings/segments")
			b.waitJS("the form", `document.querySelector('`+create+` #seg-name-new') && document.querySelector('#segment-list h3')`)
			b.fill("#seg-name-new", name)
			b.choose("#seg-kind-new-1", "profile")
			b.waitJS("the profile field select", `document.querySelector('#seg-key-new-1')?.tagName === 'SELECT'`)
			b.choose("#seg-key-new-1", "company")
			b.fill("#seg-value-new-1", company)
			b.waitJS("one contact matches", `document.querySelector('#seg-count-new').dataset.count === '1'`)
			b.clickJS("add a condition", create+` .seg-add`)
			b.choose("#seg-kind-new-2", "source")
			b.waitJS("the source select", `document.querySelector('#seg-value-new-2')?.tagName === 'SELECT'`)
			b.choose("#seg-value-new-2", "api")
			b.waitJS("still one", `document.querySelector('#seg-count-new').dataset.count === '1'`)
			b.choose("#seg-match-new", "any")
			b.waitJS("any: every contact made through the API", `Number(document.querySelector('#seg-count-new').dataset.count) >= 2`)
			b.choose("#seg-match-new", "all")
			b.waitJS("all again", `document.querySelector('#seg-count-new').dataset.count === '1'`)
			b.noOverflow(int(w.w))
			axeCheck(t, b, "Settings › Segments at "+screen)
			b.screenshot("settings-segments-" + screen)
			b.clickJS("add", create+` button.primary`)
			b.waitJS("its row", fmt.Sprintf(`[...document.querySelectorAll('#segment-list .seg-name')].some((n) => n.textContent === %q)`, name))
			s := byName(t, name)
			b.waitJS("its row with one member", fmt.Sprintf(`document.querySelector('#segment-list tr.seg-row[data-id=%q] .seg-count')?.textContent.startsWith('1 contact')`, s.ID))
			require.Equal(t, engine.MatchAll, s.Match)
			require.Equal(t, []engine.SegmentCondition{{Kind: engine.SegProfile, Key: "company", Op: engine.OpIs, Value: company},
				{Kind: engine.SegSource, Op: engine.OpIs, Value: "api"}}, s.Conditions)
			require.Equal(t, []engine.ID{ann.ID}, e.segmentMembers(s.ID))
		})

		step("a refused segment shows the API's error and stores nothing", func(t *testing.T) {
			n := len(segs(t))
			b.fill("#seg-name-new", "Bad "+screen)
			b.choose("#seg-kind-new-1", "field")
			b.clickJS("add", create+` button.primary`)
			b.waitJS("the error", `document.querySelector('`+create+` .seg-error').textContent.length > 0`)
			require.Len(t, segs(t), n)
		})

		step("the Contacts list filtered by the segment", func(t *testing.T) {
			s := byName(t, name)
			b.goTo(e.url, "/#contacts")
			b.waitJS("the segment filter", fmt.Sprintf(`[...document.querySelectorAll('#ct-segment option')].some((o) => o.value === %q)`, s.ID))
			b.choose("#ct-segment", s.ID.String())
			b.waitJS("Ann alone", fmt.Sprintf(`(() => { const ids = [...document.querySelectorAll('#ct-rows li')].map((li) => li.dataset.id); return ids.length === 1 && ids[0] === %q; })()`, ann.ID))
			b.noOverflow(int(w.w))
			axeCheck(t, b, "contacts-segment-"+screen)
			b.choose("#ct-segment", "")
			b.goTo(e.url, "/#contacts/"+ann.ID.String())
			b.waitJS("the entry in Ann's activity", fmt.Sprintf(`document.querySelector('#ct-activity li.ct-act[data-type="segment.entered"]')?.textContent.includes(%q)`, "Entered the segment "+name))
			b.goTo(e.url, "/#contacts")
			b.waitJS("the list", `document.querySelector('#ct-list-view')?.hidden === false && document.querySelector('#ct-back-inbox')`)
			b.clickJS("back to the inbox", "#ct-back-inbox")
			b.waitJS("the inbox", `document.querySelector('#contacts').hidden`)
		})

		step("the inbox filtered by a segment", func(t *testing.T) {
			pick := func(v string) {
				b.waitJS("the Contact segment filter", fmt.Sprintf(`(() => { const s = document.querySelector('#filters select[aria-label="Contact segment"]');
					if (!s || ![...s.options].some((o) => o.value === %q)) return false; s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, v, v))
			}
			pick(writers.ID.String())
			b.waitJS("only WhatsApp writers", fmt.Sprintf(`(() => { const ids = [...document.querySelectorAll('#conv-list li.conv')].map((li) => li.dataset.id); return ids.length === %d && ids.includes(%q); })()`, i+1, conv))
			pick(byName(t, name).ID.String())
			b.waitJS("none: Ann has no conversation", `document.querySelectorAll('#conv-list li.conv').length === 0 && !document.querySelector('#list-empty').hidden`)
			axeCheck(t, b, "inbox-segment-"+screen)
			pick("")
			b.waitJS("every conversation again", fmt.Sprintf(`document.querySelectorAll('#conv-list li.conv').length === %d`, 2*(i+1)))
		})

		step("the Pipeline board filtered by the segment", func(t *testing.T) {
			s := byName(t, name)
			b.clickJS("the Pipeline link", "#open-pipeline")
			card := func(id engine.ID) string {
				return fmt.Sprintf(`document.querySelector('.pl-col[data-stage=%q] .pl-card[data-id=%q]')`, lead, id)
			}
			b.waitJS("the board", fmt.Sprintf(`!document.querySelector('#pipeline').hidden && %s && %s`, card(ann.ID), card(bob.ID)))
			b.waitJS("the segment filter", fmt.Sprintf(`[...document.querySelectorAll('#pl-segment option')].some((o) => o.value === %q)`, s.ID))
			b.choose("#pl-segment", s.ID.String())
			b.waitJS("Ann alone in the column", fmt.Sprintf(`(() => { const c = %s; const b = %s; return c && !c.hidden && (!b || b.hidden); })()`, card(ann.ID), card(bob.ID)))
			b.waitJS("the count says so", fmt.Sprintf(`document.querySelector('.pl-col[data-stage=%q] .pl-count').textContent.startsWith('1 of ')`, lead))
			b.noOverflow(int(w.w))
			axeCheck(t, b, "pipeline-segment-"+screen)
			b.choose("#pl-segment", "")
		})

		step("edit and delete the segment", func(t *testing.T) {
			s := byName(t, name)
			b.goTo(e.url, "/#settings/segments")
			row := fmt.Sprintf(`#segment-list tr.seg-row[data-id=%q]`, s.ID)
			b.waitJS("its row", `document.querySelector('`+row+`')`)
			b.clickJS("edit", row+` button[data-act=edit]`)
			b.waitJS("the edit form with its count", fmt.Sprintf(`document.querySelector('#seg-name-%s') && document.querySelector('#seg-count-%s').dataset.count === '1'`, s.ID, s.ID))
			b.fill("#seg-name-"+s.ID.String(), name+" renamed")
			b.clickJS("save", row+` form.seg-form button.primary`)
			b.waitJS("the new name", fmt.Sprintf(`document.querySelector('%s .seg-name')?.textContent === %q`, row, name+" renamed"))
			require.Equal(t, name+" renamed", e.segment(s.ID).Name)
			b.clickJS("delete", row+` button[data-act=delete]`)
			b.waitJS("the confirmation", `!document.querySelector('#modal').hidden`)
			b.clickJS("confirm", "#modal-ok")
			b.waitJS("the row gone", `!document.querySelector('`+row+`')`)
			code, _ := e.api("GET", "/api/v1/segments/"+s.ID.String(), ownerToken, nil)
			require.Equal(t, http.StatusNotFound, code)
		})
	}
}
