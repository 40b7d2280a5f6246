package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// The Pipeline board (issue 17), driven in Chromium at a desktop's and
// a phone's width, each result checked through the API: the header's
// link, a column per stage with its count, a card dragged to another
// column (the HTML5 drag events a browser sends: dragstart, dragover,
// drop) and one moved with its "Move to stage…" menu, the counts
// following, the owner and tag filters, a move made elsewhere arriving
// live, axe-core; then Settings › Pipelines: a stage added, renamed
// and removed, and the removal of a stage with contacts in it refused
// (409 stage_in_use) with its message shown and nothing stored.
func TestWebPipeline(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	agent := e.addUser("pl-agent@example.com", engine.RoleAgent, "pipeline agent pw 1")
	sales := e.pipelines(ownerToken)[0]
	lead, qualified, customer, lost := sales.Stages[0].ID, sales.Stages[1].ID, sales.Stages[2].ID, sales.Stages[3].ID
	b := newTab(t, browser)
	b.signIn(e.url, ownerToken)

	// stageOf reads a contact's stage through the API.
	stageOf := func(id engine.ID) engine.ID {
		c := decodeAs[engine.Contact](t, func() []byte {
			_, body := e.api("GET", "/api/v1/contacts/"+id.String(), ownerToken, nil)
			return body
		}())
		if c.Stage == nil {
			return engine.ZeroID
		}
		return c.Stage.StageID
	}
	// countsOf reads the board's counts of the API.
	countsOf := func(query string) map[string]int {
		code, body := e.api("GET", "/api/v1/pipelines/"+sales.ID.String()+query, ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeAs[pipelineWithCounts](t, body).Counts
	}
	// shownCount is the count a column shows.
	shownCount := func(stage engine.ID) string {
		return evalJS[string](b, fmt.Sprintf(`document.querySelector('.pl-col[data-stage=%q] .pl-count').textContent`, stage))
	}
	inColumn := func(stage, contact engine.ID) string {
		return fmt.Sprintf(`document.querySelector('.pl-col[data-stage=%q] .pl-card[data-id=%q]')`, stage, contact)
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
		ann := e.createContact(ownerToken, map[string]any{"name": fmt.Sprintf("Ann Board%d", i), "company": "Acme"})
		bob := e.createContact(ownerToken, map[string]any{"name": fmt.Sprintf("Bob Board%d", i)})
		conv := e.writes(t, fmt.Sprintf("1555777000%d", i), fmt.Sprintf("Vic Board%d", i), "hello")
		vic := e.conv(conv).ContactID
		code, body := e.api("PUT", "/api/v1/conversations/"+conv.String()+"/tags/vip", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		e.setStage(ownerToken, ann.ID, lead.String())
		e.setStage(ownerToken, bob.ID, lead.String())
		e.setStage(ownerToken, vic, qualified.String())
		e.setOwner(ownerToken, bob.ID, agent.User.ID.String())

		step("the header opens the board", func(t *testing.T) {
			b.clickJS("the Pipeline link", "#open-pipeline")
			b.waitJS("the board", fmt.Sprintf(`location.hash === '#pipeline' && !document.querySelector('#pipeline').hidden
				&& document.querySelectorAll('.pl-col').length === 4 && %s && %s && %s`, inColumn(lead, ann.ID), inColumn(lead, bob.ID), inColumn(qualified, vic)))
			require.True(t, evalJS[bool](b, `getComputedStyle(document.querySelector('.panes')).display === 'none'`), "the inbox is hidden")
			require.Equal(t, "page", evalJS[string](b, `document.querySelector('#open-pipeline').getAttribute('aria-current')`))
			require.Equal(t, []string{"New lead", "Qualified", "Customer", "Lost"}, evalJS[[]string](b, `[...document.querySelectorAll('.pl-col-name')].map((n) => n.textContent)`))
			c := countsOf("")
			b.waitJS("the counts", fmt.Sprintf(`[...document.querySelectorAll('.pl-col')].map((c) => c.dataset.stage + '=' + c.querySelector('.pl-count').textContent).join() === %q`,
				fmt.Sprintf("%s=%d,%s=%d,%s=%d,%s=%d", lead, c[lead.String()], qualified, c[qualified.String()], customer, c[customer.String()], lost, c[lost.String()])))
			require.Equal(t, "Owner: User pl-agent@example.com", evalJS[string](b, fmt.Sprintf(`%s.querySelector('.pl-owner').textContent`, inColumn(lead, bob.ID))))
			b.noOverflow(int(w.w))
			axeCheck(t, b, "pipeline-board-"+screen)
			b.screenshot("pipeline-board-" + screen)
		})

		step("a card dragged to another column", func(t *testing.T) {
			before := countsOf("")
			accepted := evalJS[bool](b, fmt.Sprintf(`(() => {
				const card = document.querySelector('.pl-card[data-id=%q]');
				const col = document.querySelector('.pl-col[data-stage=%q]');
				const dt = new DataTransfer();
				card.dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: dt }));
				col.dispatchEvent(new DragEvent('dragenter', { bubbles: true, cancelable: true, dataTransfer: dt }));
				const over = new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt });
				col.dispatchEvent(over);
				const drop = new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt });
				col.dispatchEvent(drop);
				card.dispatchEvent(new DragEvent('dragend', { bubbles: true, dataTransfer: dt }));
				return over.defaultPrevented && drop.defaultPrevented;
			})()`, ann.ID, customer))
			require.True(t, accepted, "the column takes the card")
			b.waitJS("the card in its new column", inColumn(customer, ann.ID)+" && !"+inColumn(lead, ann.ID))
			require.Equal(t, customer, stageOf(ann.ID), "stored")
			b.waitJS("the counts follow", fmt.Sprintf(`document.querySelector('.pl-col[data-stage=%q] .pl-count').textContent === %q
				&& document.querySelector('.pl-col[data-stage=%q] .pl-count').textContent === %q`,
				lead, fmt.Sprint(before[lead.String()]-1), customer, fmt.Sprint(before[customer.String()]+1)))
			require.Contains(t, evalJS[string](b, `document.querySelector('#pl-status').textContent`), "moved to Customer", "announced")
		})

		step("a card moved with its menu", func(t *testing.T) {
			if w.phone { // a tap on the button, a tap on the stage
				b.clickJS("Bob's Move button", fmt.Sprintf(`.pl-card[data-id=%q] .pl-move`, bob.ID))
			} else { // the keyboard: Enter opens the menu on its first stage
				evalJS[bool](b, fmt.Sprintf(`(document.querySelector('.pl-card[data-id=%q] .pl-move').focus(), true)`, bob.ID))
				b.do("Enter", chromedp.KeyEvent(kb.Enter))
				b.waitJS("the first stage focused", fmt.Sprintf(`document.activeElement.dataset.stage === %q`, qualified))
			}
			b.waitJS("the menu", fmt.Sprintf(`!document.querySelector('.pl-card[data-id=%q] .pl-menu').hidden`, bob.ID))
			require.True(t, evalJS[bool](b, fmt.Sprintf(`document.querySelector('.pl-card[data-id=%q] .pl-menu [data-stage=%q]').hidden`, bob.ID, lead)), "its own stage is not offered")
			require.Equal(t, "true", evalJS[string](b, fmt.Sprintf(`document.querySelector('.pl-card[data-id=%q] .pl-move').getAttribute('aria-expanded')`, bob.ID)))
			if w.phone {
				b.clickJS("Qualified", fmt.Sprintf(`.pl-card[data-id=%q] .pl-menu [data-stage=%q]`, bob.ID, qualified))
			} else {
				b.do("Enter", chromedp.KeyEvent(kb.Enter))
			}
			b.waitJS("the card in Qualified", inColumn(qualified, bob.ID)+" && !"+inColumn(lead, bob.ID))
			if !w.phone {
				b.waitJS("the keyboard on the card, in its new column", fmt.Sprintf(`document.activeElement === document.querySelector('.pl-card[data-id=%q] .pl-move')`, bob.ID))
			}
			require.Equal(t, qualified, stageOf(bob.ID))
			c := countsOf("")
			b.waitJS("the counts follow", fmt.Sprintf(`document.querySelector('.pl-col[data-stage=%q] .pl-count').textContent === %q`, qualified, fmt.Sprint(c[qualified.String()])))
		})

		step("filters: owner and tag", func(t *testing.T) {
			b.choose("#pl-owner", agent.User.ID.String())
			c := countsOf("?owner=" + agent.User.ID.String())
			b.waitJS("the agent's cards alone", fmt.Sprintf(`%s && !%s && document.querySelector('.pl-col[data-stage=%q] .pl-count').textContent === %q`,
				inColumn(qualified, bob.ID), inColumn(qualified, vic), qualified, fmt.Sprint(c[qualified.String()])))
			require.Zero(t, evalJS[int](b, `document.querySelectorAll('.pl-col[data-stage="`+customer.String()+`"] .pl-card').length`), "nobody else's")
			b.choose("#pl-owner", "")
			b.waitJS("everyone's again", inColumn(qualified, vic)+" && "+inColumn(customer, ann.ID))
			b.choose("#pl-tag", "vip")
			b.waitJS("the tagged card alone", fmt.Sprintf(`%s && !%s.hidden && !%s`, inColumn(qualified, vic), inColumn(qualified, vic), inColumn(qualified, bob.ID)))
			require.Contains(t, shownCount(qualified), "1 of ", "the count says how many are shown")
			b.choose("#pl-tag", "")
			b.waitJS("every card", fmt.Sprintf(`%s && !%s.hidden`, inColumn(qualified, bob.ID), inColumn(qualified, bob.ID)))
		})

		step("the contact list filtered by stage and owner", func(t *testing.T) {
			b.clickJS("the Contacts link", "#open-contacts")
			b.waitJS("the list", `!document.querySelector('#contacts').hidden && document.querySelector('#pipeline').hidden && document.querySelectorAll('#ct-rows li').length > 0`)
			rows := func(query string) string {
				ids := e.contactIDs(ownerToken, query)
				require.NotEmpty(t, ids, query)
				js := "["
				for k, id := range ids {
					if k > 0 {
						js += ","
					}
					js += jsString(id.String())
				}
				return fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('#ct-rows li')].map((li) => li.dataset.id)) === JSON.stringify(%s])`, js)
			}
			b.choose("#ct-stage", qualified.String())
			b.waitJS("the contacts in Qualified", rows("stage="+qualified.String()))
			require.Equal(t, "Qualified", evalJS[string](b, fmt.Sprintf(`document.querySelector('#ct-rows li[data-id=%q] .ct-stage').textContent`, vic)), "the row names its stage")
			b.choose("#ct-owner", agent.User.ID.String())
			b.waitJS("the agent's in Qualified", rows("stage="+qualified.String()+"&owner="+agent.User.ID.String()))
			b.choose("#ct-stage", "")
			b.waitJS("the agent's", rows("owner="+agent.User.ID.String()))
			axeCheck(t, b, "contacts-filtered-"+screen)
			b.noOverflow(int(w.w))
			b.choose("#ct-owner", "")
			b.choose("#ct-stage", qualified.String())
			b.waitJS("the contacts in Qualified", rows("stage="+qualified.String()))

			// The contact's page shows and changes its stage and owner;
			// the change is in its activity, by name.
			b.clickJS("Vic's row", fmt.Sprintf(`#ct-rows li[data-id=%q] a`, vic))
			b.waitJS("the page", fmt.Sprintf(`document.querySelector('#ct-stage-pick') && document.querySelector('#ct-stage-pick').value === %q && document.querySelector('#ct-owner-pick').value === ''`, qualified))
			b.choose("#ct-owner-pick", e.ownerID().String())
			b.waitJS("the change in the activity", `[...document.querySelectorAll('#ct-activity li.ct-act[data-type=owner_changed]')].some((li) => li.textContent.startsWith('Owner: nobody → Owner by Owner'))`)
			got := decodeAs[engine.Contact](t, func() []byte { _, body := e.api("GET", "/api/v1/contacts/"+vic.String(), ownerToken, nil); return body }())
			require.Equal(t, e.ownerID(), *got.OwnerID, "stored")
			require.True(t, evalJS[bool](b, `[...document.querySelectorAll('#ct-activity li.ct-act[data-type=stage_changed]')].some((li) => li.textContent.startsWith('Stage: none → Qualified by Owner'))`), "the stage's entry")
			axeCheck(t, b, "contact-page-crm-"+screen)
			b.noOverflow(int(w.w))
			b.clickJS("back to the list", "#ct-back")
			b.waitJS("the list", `!document.querySelector('#ct-list-view').hidden`)
			b.choose("#ct-stage", "")
			b.clickJS("back to the inbox", "#ct-back-inbox")
			b.waitJS("the inbox", `document.querySelector('#contacts').hidden`)
		})

		step("the inbox filtered by the contact's stage", func(t *testing.T) {
			b.waitJS("the list", rowVisible(conv))
			pick := func(v string) {
				b.waitJS("the Contact stage filter", fmt.Sprintf(`(() => { const s = document.querySelector('#filters select[aria-label="Contact stage"]');
					if (!s || ![...s.options].some((o) => o.value === %q)) return false; s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, v, v))
			}
			pick(qualified.String())
			b.waitJS("Vic's conversation alone", fmt.Sprintf(`(() => { const ids = [...document.querySelectorAll('#conv-list li.conv')].map((li) => li.dataset.id); return ids.length === 1 && ids[0] === %q; })()`, conv))
			pick(lost.String())
			b.waitJS("none in Lost", `document.querySelectorAll('#conv-list li.conv').length === 0 && !document.querySelector('#list-empty').hidden`)
			require.Equal(t, "No conversations match these filters", evalJS[string](b, `document.querySelector('#list-empty').textContent`))
			pick("")
			b.waitJS("the list again", rowVisible(conv)+fmt.Sprintf(` && document.querySelectorAll('#conv-list li.conv').length === %d`, i+1))
		})

		step("the contact panel shows and changes stage and owner", func(t *testing.T) {
			b.openConv(conv)
			b.clickJS("the contact button", "#act-contact")
			b.waitJS("the stage", fmt.Sprintf(`document.querySelector('#panel-stage') && document.querySelector('#panel-stage').value === %q && document.querySelector('#panel-owner').value === %q`, qualified, e.ownerID()))
			b.choose("#panel-stage", customer.String())
			require.Eventually(t, func() bool { return stageOf(vic) == customer }, 10*time.Second, 20*time.Millisecond, "moved")
			b.choose("#panel-owner", agent.User.ID.String())
			require.Eventually(t, func() bool {
				_, body := e.api("GET", "/api/v1/contacts/"+vic.String(), ownerToken, nil)
				c := decodeAs[engine.Contact](t, body)
				return c.OwnerID != nil && *c.OwnerID == agent.User.ID
			}, 10*time.Second, 20*time.Millisecond, "owned")
			// A move made elsewhere shows in the panel.
			e.setStage(agent.Token, vic, qualified.String())
			b.waitJS("the stage follows", fmt.Sprintf(`document.querySelector('#panel-stage').value === %q`, qualified))
			axeCheck(t, b, "panel-stage-"+screen)
			b.clickJS("close the panel", "#act-contact")
			if w.phone {
				b.clickJS("back to the list", "#back")
			}
			b.clickJS("the Pipeline link", "#open-pipeline")
			b.waitJS("the board", fmt.Sprintf(`!document.querySelector('#pipeline').hidden && %s`, inColumn(qualified, vic)))
		})

		step("a move made elsewhere arrives live", func(t *testing.T) {
			e.setStage(agent.Token, vic, lost.String())
			b.waitJS("the card in Lost", inColumn(lost, vic)+" && !"+inColumn(qualified, vic))
			c := countsOf("")
			b.waitJS("the counts follow", fmt.Sprintf(`document.querySelector('.pl-col[data-stage=%q] .pl-count').textContent === %q`, lost, fmt.Sprint(c[lost.String()])))
			e.setStage(agent.Token, vic, nil)
			b.waitJS("off the board", "!"+inColumn(lost, vic))
		})

		step("Settings › Pipelines", func(t *testing.T) {
			b.clickJS("the gear", "#open-settings")
			b.waitJS("Settings", `!document.querySelector('#settings').hidden && document.querySelector('#pipeline').hidden`)
			b.choose("#settings-select", "pipelines")
			form := fmt.Sprintf(`form.pipeline-form[data-id=%q]`, sales.ID)
			b.waitJS("the pipeline's form", fmt.Sprintf(`document.querySelectorAll('%s .stage-row').length === 4`, form))
			axeCheck(t, b, "settings-pipelines-"+screen)
			b.noOverflow(int(w.w))
			// save submits the form and waits for it drawn again from
			// the server's answer.
			save := func() {
				evalJS[bool](b, fmt.Sprintf(`(window.plForm = document.querySelector('%s'), true)`, form))
				b.clickJS("save", form+` button[type=submit]`)
				b.waitJS("saved", fmt.Sprintf(`document.querySelector('%s') && document.querySelector('%s') !== window.plForm`, form, form))
			}
			// Add a stage, move it up one, save.
			b.clickJS("add a stage", form+` [data-act=add-stage]`)
			b.fill(form+` .stage-row:last-child .stage-name`, "Demo")
			b.clickJS("up", form+` .stage-row:last-child [data-act=up]`)
			save()
			require.Equal(t, 5, evalJS[int](b, fmt.Sprintf(`document.querySelectorAll('%s .stage-row').length`, form)))
			p := e.pipelines(ownerToken)[0]
			require.Equal(t, []string{"New lead", "Qualified", "Customer", "Demo", "Lost"}, stageNames(p))
			require.Equal(t, sales.Stages[3].ID, p.Stages[4].ID, "Lost kept its id")
			// Rename it.
			b.fill(fmt.Sprintf(`%s .stage-row[data-id=%q] .stage-name`, form, p.Stages[3].ID), "Demo booked")
			save()
			require.Equal(t, "Demo booked", e.pipelines(ownerToken)[0].Stages[3].Name)
			// Removing Customer, where Ann stands, is refused.
			before := e.storeDigest()
			b.clickJS("remove Customer", fmt.Sprintf(`%s .stage-row[data-id=%q] [data-act=remove]`, form, customer))
			b.clickJS("save", form+` button[type=submit]`)
			b.waitJS("the refusal", fmt.Sprintf(`document.querySelector('%s .pl-error').textContent.includes('move them to another stage')`, form))
			require.Equal(t, before, e.storeDigest(), "nothing stored")
			require.True(t, evalJS[bool](b, fmt.Sprintf(`document.querySelector('%s .stage-row[data-id=%q]') === null`, form, customer)), "the edit is kept to fix")
			b.screenshot("settings-pipelines-" + screen)
			// Drawn again from the server (another section and back),
			// the empty Demo stage goes.
			b.choose("#settings-select", "team")
			b.choose("#settings-select", "pipelines")
			b.waitJS("the pipeline's form", fmt.Sprintf(`document.querySelectorAll('%s .stage-row').length === 5`, form))
			b.clickJS("remove Demo", fmt.Sprintf(`%s .stage-row[data-id=%q] [data-act=remove]`, form, p.Stages[3].ID))
			save()
			require.Equal(t, []string{"New lead", "Qualified", "Customer", "Lost"}, stageNames(e.pipelines(ownerToken)[0]))
			b.clickJS("back to the inbox", "#settings-back")
			b.waitJS("the inbox", `document.querySelector('#settings').hidden`)
		})

		step("the pipeline picker", func(t *testing.T) {
			code, body := e.api("POST", "/api/v1/pipelines", ownerToken, map[string]any{"name": "Support", "stages": []map[string]string{{"name": "Waiting"}, {"name": "Done"}}})
			require.Equal(t, http.StatusCreated, code, string(body))
			support := decodeAs[engine.Pipeline](t, body)
			e.setStage(ownerToken, bob.ID, support.Stages[1].ID.String())
			// The board reads the pipelines when it opens.
			b.clickJS("the Contacts link", "#open-contacts")
			b.clickJS("the Pipeline link", "#open-pipeline")
			b.waitJS("the picker", `document.querySelectorAll('#pl-pick option').length === 2`)
			b.choose("#pl-pick", support.ID.String())
			b.waitJS("its columns", fmt.Sprintf(`[...document.querySelectorAll('.pl-col-name')].map((n) => n.textContent).join() === 'Waiting,Done' && %s`, inColumn(support.Stages[1].ID, bob.ID)))
			b.waitJS("its counts", fmt.Sprintf(`document.querySelector('.pl-col[data-stage=%q] .pl-count').textContent === '1'`, support.Stages[1].ID))
			axeCheck(t, b, "pipeline-picker-"+screen)
			b.choose("#pl-pick", sales.ID.String())
			b.waitJS("Sales again", `document.querySelectorAll('.pl-col').length === 4`)
			e.setStage(ownerToken, bob.ID, nil)
			code, body = e.api("DELETE", "/api/v1/pipelines/"+support.ID.String(), ownerToken, nil)
			require.Equal(t, http.StatusNoContent, code, string(body))
		})
		// Each width starts from an empty board.
		for _, id := range []engine.ID{ann.ID, bob.ID} {
			e.setStage(ownerToken, id, nil)
		}
	}
}
