package gateway_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// The Contacts view (issue 16), driven in Chromium at a desktop's and a
// phone's width, each result checked through the API: the header's
// link, search, infinite scroll that appends (the rows shown stay the
// same nodes), a contact's page (profile and a custom field saved, a
// note and a memory added, activity, a conversation opening in the
// inbox, Back), a CSV import with its progress and a bad row, the
// export's file, and a merge whose merged-away address then shows the
// survivor. An agent is offered no Delete on someone else's note.
func TestWebContacts(t *testing.T) {
	browser := startBrowser(t)
	e := newEnv(t, nil)
	// 60 contacts: more than the first page of 50.
	for i := range 60 {
		e.createContact(ownerToken, map[string]any{"name": fmt.Sprintf("Person %02d", i), "email": fmt.Sprintf("p%02d@example.com", i)})
	}
	downloads := t.TempDir()
	b := newTab(t, browser)
	b.do("downloads go to a folder", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	}))
	b.signIn(e.url, ownerToken)

	for i, w := range widths {
		screen := w.name
		step := func(name string, f func(t *testing.T)) {
			t.Helper()
			if !t.Run(name+" at "+screen, func(t *testing.T) { b.t = t; f(t) }) {
				t.FailNow()
			}
		}
		b.viewport(w.w, w.h, w.phone)
		wa := fmt.Sprintf("1555888000%d", i)
		conv := e.writes(t, wa, fmt.Sprintf("Mark Contact%d", i), "hello there")
		contact := e.conv(conv).ContactID
		code, body := e.api("PUT", "/api/v1/conversations/"+conv.String()+"/tags/vip", ownerToken, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		target := e.createContact(ownerToken, map[string]any{"name": fmt.Sprintf("Keeper%d Jones", i), "company": "Keep Ltd"})
		source := e.createContact(ownerToken, map[string]any{"name": fmt.Sprintf("Goner%d Jones", i), "email": fmt.Sprintf("goner%d@example.com", i),
			"custom_fields": map[string]string{"tier": "gold"}})

		step("the header opens the list", func(t *testing.T) {
			b.clickJS("the Contacts link", "#open-contacts")
			b.waitJS("the list", `location.hash === '#contacts' && !document.querySelector('#contacts').hidden && document.querySelectorAll('#ct-rows li').length >= 50`)
			require.True(t, evalJS[bool](b, `getComputedStyle(document.querySelector('.panes')).display === 'none'`), "the inbox is hidden")
			require.Equal(t, "page", evalJS[string](b, `document.querySelector('#open-contacts').getAttribute('aria-current')`))
			b.noOverflow(int(w.w))
			b.screenshot("contacts-list-" + screen)
		})

		step("search", func(t *testing.T) {
			b.fill("#ct-search", fmt.Sprintf("contact%d", i))
			b.waitJS("one hit", fmt.Sprintf(`document.querySelectorAll('#ct-rows li').length === 1 && document.querySelector('#ct-rows li').dataset.id === %q`, contact))
			require.Equal(t, fmt.Sprintf("Contact%d", i), evalJS[string](b, `document.querySelector('#ct-rows li mark').textContent`), "the match is marked")
			require.Contains(t, evalJS[string](b, `document.querySelector('#ct-rows li .ct-channels').innerHTML`), "WhatsApp", "its channel")
			require.Equal(t, []string{"vip"}, evalJS[[]string](b, `[...document.querySelectorAll('#ct-rows li .ct-tags .tag')].map((t) => t.textContent)`), "its conversation's tag")
			require.Equal(t, "Last activity "+e.conv(conv).LastActivityAt.Format(time.RFC3339Nano), evalJS[string](b, `document.querySelector('#ct-rows li .ct-when').title`), "its last activity")
			b.fill("#ct-search", "nobody-by-that-name")
			b.waitJS("the empty state", `document.querySelectorAll('#ct-rows li').length === 0 && !document.querySelector('#ct-empty').hidden`)
			require.Equal(t, "No contacts match this search", evalJS[string](b, `document.querySelector('#ct-empty').textContent`))
			evalJS[bool](b, `(() => { const s = document.querySelector('#ct-search'); s.value = ''; s.dispatchEvent(new Event('input')); return true; })()`)
			b.waitJS("the first page again", `document.querySelectorAll('#ct-rows li').length === 50`)
			// A change made elsewhere redraws that row alone.
			evalJS[bool](b, fmt.Sprintf(`(window.ctOther = document.querySelector('#ct-rows li:not([data-id=%q])'), true)`, contact))
			code, body := e.api("PATCH", "/api/v1/contacts/"+contact.String(), ownerToken, map[string]string{"name": fmt.Sprintf("Mark Contact%d", i), "title": "Buyer"})
			require.Equal(t, http.StatusOK, code, string(body))
			b.waitJS("the row redrawn", fmt.Sprintf(`document.querySelector('#ct-rows li[data-id=%q]') && document.querySelector('#ct-rows li[data-id=%q]').contact.profile.title === 'Buyer' && document.querySelector('#ct-rows li[data-id=%q] .ct-tags')`, contact, contact, contact))
			require.True(t, evalJS[bool](b, `window.ctOther.isConnected`), "the other rows stay")
		})

		step("scrolling appends the next page", func(t *testing.T) {
			total := e.countContacts(ownerToken)
			evalJS[bool](b, `(window.ctRows = [...document.querySelectorAll('#ct-rows li')], true)`)
			evalJS[bool](b, `(() => { const s = document.querySelector('#ct-scroll'); s.scrollTop = s.scrollHeight; return true; })()`)
			b.waitJS("the second page", fmt.Sprintf(`document.querySelectorAll('#ct-rows li').length === %d`, min(total, 100)))
			require.True(t, evalJS[bool](b, `window.ctRows.every((li, k) => document.querySelectorAll('#ct-rows li')[k] === li)`),
				"the first page's rows stay the same nodes")
			require.Equal(t, min(total, 100), evalJS[int](b, `new Set([...document.querySelectorAll('#ct-rows li')].map((li) => li.dataset.id)).size`), "no row twice")
		})

		step("the contact page: profile and a custom field", func(t *testing.T) {
			code, body := e.upload("/api/v1/conversations/"+conv.String()+"/messages", "file", fmt.Sprintf("quote-%d.pdf", i), "application/pdf", fmt.Appendf(nil, "%%PDF quote %d", i), nil)
			require.Equal(t, http.StatusCreated, code, string(body))
			b.clickJS("the contact's row", fmt.Sprintf(`#ct-rows li[data-id=%q] a`, contact))
			b.waitJS("its page", fmt.Sprintf(`location.hash === '#contacts/%s' && document.querySelector('#ct-name') && document.querySelector('#ct-name').textContent === 'Mark Contact%d'`, contact, i))
			b.waitJS("its conversation", fmt.Sprintf(`document.querySelector('#ct-convs a.ct-conv[data-id=%q]')`, conv))
			b.waitJS("its activity", `document.querySelector('#ct-activity li.ct-act[data-type="conversation.created"]') && document.querySelector('#ct-activity li.ct-act[data-type="file"]')`)
			b.waitJS("its file", fmt.Sprintf(`document.querySelector('#ct-files-list li.ct-file') && document.querySelector('#ct-files-list li.ct-file a').textContent === 'quote-%d.pdf'`, i))
			saved := filepath.Join(downloads, fmt.Sprintf("quote-%d.pdf", i))
			b.clickJS("download it", fmt.Sprintf(`#ct-files-list button[aria-label="Download quote-%d.pdf"]`, i))
			require.Eventually(t, func() bool {
				data, err := os.ReadFile(saved)
				return err == nil && string(data) == fmt.Sprintf("%%PDF quote %d", i)
			}, 10*time.Second, 50*time.Millisecond, "the file downloaded with its content")
			b.fill("#ct-profile input[name=company]", "Acme Corp")
			b.clickJS("add a field", "#ct-field-add")
			b.fill("#ct-fields .ct-field:last-child .ct-field-key", "plan")
			b.fill("#ct-fields .ct-field:last-child .ct-field-value", "gold")
			b.clickJS("save", "#ct-save")
			b.waitJS("saved", `[...document.querySelectorAll('#ct-fields .ct-field-key')].some((k) => k.value === 'plan') && !document.querySelector('#ct-profile').dataset.dirty`)
			d := e.contactDetail(contact)
			require.Equal(t, "Acme Corp", d.Profile.Company)
			require.Equal(t, map[string]string{"plan": "gold"}, d.CustomFields)
			require.Equal(t, fmt.Sprintf("Mark Contact%d", i), d.Profile.Name, "the rest unchanged")
			b.noOverflow(int(w.w))
			b.screenshot("contacts-page-" + screen)

			// Edit the field, then remove it.
			b.fill(`#ct-fields .ct-field-value`, "platinum")
			b.clickJS("save", "#ct-save")
			b.waitJS("saved", `document.querySelector('#ct-fields .ct-field-value').value === 'platinum' && !document.querySelector('#ct-profile').dataset.dirty`)
			require.Equal(t, map[string]string{"plan": "platinum"}, e.contactDetail(contact).CustomFields)
			b.clickJS("remove it", `#ct-fields .ct-field-remove[aria-label="Remove plan"]`)
			b.clickJS("save", "#ct-save")
			b.waitJS("saved", `document.querySelectorAll('#ct-fields .ct-field').length === 0 && !document.querySelector('#ct-profile').dataset.dirty`)
			require.Empty(t, e.contactDetail(contact).CustomFields)
		})

		step("a note and a memory", func(t *testing.T) {
			b.fill("#ct-note-in", "Prefers **email**")
			b.clickJS("add the note", "#ct-note-add")
			b.waitJS("the note rendered", `document.querySelector('#ct-note-list .note .note-text strong') && document.querySelector('#ct-note-list .note .note-text strong').textContent === 'email'`)
			require.True(t, evalJS[bool](b, `!!document.querySelector('#ct-note-list .note .ct-note-del')`), "the author may delete it")
			b.fill("#ct-memory-in", "Allergic to peanuts")
			b.clickJS("add the memory", "#ct-memory-add")
			b.waitJS("the memory", `[...document.querySelectorAll('#ct-memory-list .ct-memory-text')].some((m) => m.textContent === 'Allergic to peanuts')`)
			code, body := e.api("GET", "/api/v1/contacts/"+contact.String()+"/notes", ownerToken, nil)
			require.Equal(t, http.StatusOK, code)
			notes := decodeAs[struct{ Notes []engine.Note }](t, body).Notes
			require.Len(t, notes, 1)
			require.Equal(t, "Prefers **email**", notes[0].Text)
			code, body = e.api("GET", "/api/v1/contacts/"+contact.String()+"/memories", ownerToken, nil)
			require.Equal(t, http.StatusOK, code)
			mems := decodeAs[struct{ Memories []engine.Memory }](t, body).Memories
			require.Len(t, mems, 1)
			require.Equal(t, "Allergic to peanuts", mems[0].Text)
			require.Equal(t, engine.MemorySource("human"), mems[0].Source)

			// Deleted again, after the confirmation.
			b.clickJS("delete the note", "#ct-note-list .ct-note-del")
			b.clickJS("confirm", "#modal-ok")
			b.waitJS("no note", `document.querySelectorAll('#ct-note-list .note').length === 0`)
			code, body = e.api("GET", "/api/v1/contacts/"+contact.String()+"/notes", ownerToken, nil)
			require.Equal(t, http.StatusOK, code)
			require.Empty(t, decodeAs[struct{ Notes []engine.Note }](t, body).Notes)

			// Added and deleted elsewhere: shown live, each once.
			code, body = e.api("POST", "/api/v1/contacts/"+contact.String()+"/notes", ownerToken, map[string]string{"text": "from the _API_"})
			require.Equal(t, http.StatusCreated, code, string(body))
			note := decodeAs[engine.Note](t, body)
			code, body = e.api("POST", "/api/v1/contacts/"+contact.String()+"/memories", ownerToken, map[string]string{"text": "Speaks Spanish"})
			require.Equal(t, http.StatusCreated, code, string(body))
			mem := decodeAs[engine.Memory](t, body)
			b.waitJS("both shown", `document.querySelectorAll('#ct-note-list .note').length === 1 && document.querySelector('#ct-note-list .note em') &&
				[...document.querySelectorAll('#ct-memory-list .ct-memory-text')].map((m) => m.textContent).join('|') === 'Allergic to peanuts|Speaks Spanish'`)
			code, _ = e.api("DELETE", "/api/v1/contacts/"+contact.String()+"/notes/"+note.ID.String(), ownerToken, nil)
			require.Equal(t, http.StatusNoContent, code)
			code, _ = e.api("DELETE", "/api/v1/contacts/"+contact.String()+"/memories/"+mem.ID.String(), ownerToken, nil)
			require.Equal(t, http.StatusNoContent, code)
			b.waitJS("both gone", `document.querySelectorAll('#ct-note-list .note').length === 0 && document.querySelectorAll('#ct-memory-list .ct-memory-text').length === 1`)
		})

		step("activity, a page at a time", func(t *testing.T) {
			busy := e.createContact(ownerToken, map[string]any{"name": fmt.Sprintf("Busy%d Person", i)})
			for k := range 23 {
				code, body := e.api("POST", "/api/v1/contacts/"+busy.ID.String()+"/notes", ownerToken, map[string]string{"text": fmt.Sprintf("note %d", k)})
				require.Equal(t, http.StatusCreated, code, string(body))
			}
			b.do("its page", chromedp.Evaluate[chromedp.Void](`location.hash = '#contacts/`+busy.ID.String()+`'`))
			b.waitJS("the first page of activity", `document.querySelectorAll('#ct-activity li.ct-act').length === 20 && !document.querySelector('#ct-activity-more').hidden`)
			require.Equal(t, "Note: note 22", evalJS[string](b, `document.querySelector('#ct-activity li.ct-act').textContent.replace(/(Today|Yesterday).*$/, '')`), "newest first")
			b.waitJS("no files", `document.querySelector('#ct-files-list').textContent === 'No files yet' && document.querySelector('#ct-files-more').hidden`)
			b.clickJS("load more", "#ct-activity-more")
			b.waitJS("the rest", `document.querySelectorAll('#ct-activity li.ct-act').length === 23 && document.querySelector('#ct-activity-more').hidden`)
			require.Equal(t, "Note: note 0", evalJS[string](b, `[...document.querySelectorAll('#ct-activity li.ct-act')].pop().textContent.replace(/(Today|Yesterday).*$/, '')`), "oldest last")
			evalJS[bool](b, `(history.back(), true)`)
			b.waitJS("the contact page again", fmt.Sprintf(`location.hash === '#contacts/%s' && document.querySelector('#ct-name')`, contact))
		})

		step("a conversation opens in the inbox, Back returns", func(t *testing.T) {
			b.clickJS("the conversation", fmt.Sprintf(`#ct-convs a.ct-conv[data-id=%q]`, conv))
			b.waitJS("the chat", fmt.Sprintf(`location.hash === '#c/%s' && document.querySelector('#contacts').hidden && !document.querySelector('#chat').hidden`, conv))
			evalJS[bool](b, `(history.back(), true)`)
			b.waitJS("the contact page again", fmt.Sprintf(`location.hash === '#contacts/%s' && !document.querySelector('#contacts').hidden && document.querySelector('#ct-name')`, contact))
			// Back (a phone's) from the page is the list.
			evalJS[bool](b, `(history.back(), true)`)
			b.waitJS("the list", `location.hash === '#contacts' && !document.querySelector('#ct-list-view').hidden && document.querySelector('#ct-page').hidden`)
		})

		step("import a CSV with a bad row", func(t *testing.T) {
			var sb strings.Builder
			sb.WriteString("name,email,company,plan\n")
			const rows = 1200
			for k := range rows {
				if k == 700 {
					sb.WriteString(",,Nameless Inc,\n") // line 702: no name, phone or email
					continue
				}
				fmt.Fprintf(&sb, "Imported %d-%d,imp%d-%d@example.com,Bulk Co,silver\n", i, k, i, k)
			}
			csvText := sb.String()
			if !w.phone {
				// A file the import refuses: its reason, nothing stored.
				n := e.countContacts(ownerToken)
				bad := filepath.Join(t.TempDir(), "bad.csv")
				require.NoError(t, os.WriteFile(bad, []byte("company,plan\nAcme,gold\n"), 0o644))
				b.do("pick a bad file", chromedp.SetUploadFiles(chromedp.CSS("#ct-import-file"), []string{bad}))
				b.waitJS("its error", `document.querySelector('#ct-import-box').dataset.state === 'failed' && document.querySelector('#ct-import-box .error').textContent.includes('the header must have a name, phone or email column')`)
				require.Equal(t, n, e.countContacts(ownerToken), "nothing stored")
			}
			evalJS[bool](b, `(() => { const c = document.querySelector('#ct-import-box:not([hidden]) button'); if (c) c.click(); return true; })()`)
			b.waitJS("no import shown", `document.querySelector('#ct-import-box').hidden`)
			if !w.phone {
				path := filepath.Join(t.TempDir(), "people.csv")
				require.NoError(t, os.WriteFile(path, []byte(csvText), 0o644))
				b.do("pick the file", chromedp.SetUploadFiles(chromedp.CSS("#ct-import-file"), []string{path}))
			} else {
				// Dropped on the list, as from a file manager.
				evalJS[bool](b, `(() => { const dt = new DataTransfer(); dt.items.add(new File([`+jsString(csvText)+`], 'people.csv', { type: 'text/csv' }));
					const v = document.querySelector('#ct-list-view');
					v.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
					v.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); return true; })()`)
			}
			b.waitJS("the import done", `document.querySelector('#ct-import-box').dataset.state === 'done' && document.querySelector('#ct-import-errors')`)
			b.waitJS("a progress event before the end", `document.querySelector('#ct-import-progress').dataset.partial === 'true'`)
			require.Equal(t, fmt.Sprintf("%d of %d rows · %d new · 0 updated · 1 failed", rows, rows, rows-1), evalJS[string](b, `document.querySelector('#ct-import-counts').textContent`))
			require.Equal(t, float64(rows), evalJS[float64](b, `document.querySelector('#ct-import-progress').value`))
			require.Equal(t, [][]string{{"702", "the row has no name, phone or email"}},
				evalJS[[][]string](b, `[...document.querySelectorAll('#ct-import-errors tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent))`))
			b.noOverflow(int(w.w))
			b.screenshot("contacts-import-" + screen)
			page := e.contacts(fmt.Sprintf("q=imp%d-699", i))
			require.Len(t, page.Contacts, 1)
			require.Equal(t, "Bulk Co", page.Contacts[0].Profile.Company)
			require.Equal(t, map[string]string{"plan": "silver"}, page.Contacts[0].CustomFields)
			require.Empty(t, e.contacts("q=Nameless").Contacts, "the bad row stored nothing")
		})

		step("export", func(t *testing.T) {
			file := filepath.Join(downloads, "contacts.csv")
			_ = os.Remove(file)
			b.clickJS("export", "#ct-export")
			var data []byte
			b.waitJS("the download", `!document.querySelector('#ct-export').disabled`)
			require.Eventually(t, func() bool {
				var err error
				data, err = os.ReadFile(file)
				return err == nil && strings.HasSuffix(string(data), "\n") && strings.Contains(string(data), "Acme Corp")
			}, 10*time.Second, 50*time.Millisecond, "contacts.csv downloaded")
			recs, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
			require.NoError(t, err)
			require.Equal(t, []string{"id", "name", "phone", "email", "company", "title", "country", "language", "avatar_url", "source", "created_at", "updated_at"}, recs[0][:12])
			require.Len(t, recs, e.countContacts(ownerToken)+1, "every contact")
			found := false
			for _, r := range recs[1:] {
				if r[0] == contact.String() {
					found = true
					require.Equal(t, fmt.Sprintf("Mark Contact%d", i), r[1])
					require.Equal(t, "Acme Corp", r[4])
				}
			}
			require.True(t, found, "the edited contact is in the file")
		})

		step("merge", func(t *testing.T) {
			b.do("open the keeper", chromedp.Evaluate[chromedp.Void](`location.hash = '#contacts/`+target.ID.String()+`'`))
			b.waitJS("its page", fmt.Sprintf(`document.querySelector('#ct-name') && document.querySelector('#ct-name').textContent === 'Keeper%d Jones'`, i))
			b.clickJS("merge", "#ct-merge")
			b.waitJS("the dialog", `document.querySelector('#ct-merge-dialog') && document.querySelector('#ct-merge-dialog').open && document.activeElement.id === 'ct-merge-search'`)
			b.key(kb.Escape)
			b.waitJS("Esc closes it", `!document.querySelector('#ct-merge-dialog')`)
			b.clickJS("merge", "#ct-merge")
			b.waitJS("the dialog", `document.querySelector('#ct-merge-dialog') && document.querySelector('#ct-merge-dialog').open`)
			b.fill("#ct-merge-search", fmt.Sprintf("goner%d", i))
			b.clickJS("pick the other", fmt.Sprintf(`#ct-merge-results button[data-id=%q]`, source.ID))
			b.waitJS("what survives", `document.querySelector('#ct-merge-preview table')`)
			survive := evalJS[[][]string](b, `[...document.querySelectorAll('#ct-merge-preview tbody tr')].map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent, tr.dataset.from])`)
			require.Contains(t, survive, []string{"Name", fmt.Sprintf("Keeper%d Jones", i), "this"})
			require.Contains(t, survive, []string{"Email", fmt.Sprintf("goner%d@example.com", i), "other"})
			require.Contains(t, survive, []string{"tier", "gold", "other"})
			b.screenshot("contacts-merge-" + screen)
			b.clickJS("confirm", "#ct-merge-ok")
			b.waitJS("the survivor's page", fmt.Sprintf(`location.hash === '#contacts/%s' && !document.querySelector('#ct-merge-dialog') && document.querySelector('#ct-profile input[name=email]') && document.querySelector('#ct-profile input[name=email]').value === 'goner%d@example.com'`, target.ID, i))
			code, body := e.api("GET", "/api/v1/contacts/"+source.ID.String(), ownerToken, nil)
			require.Equal(t, http.StatusNotFound, code, "merged away: %s", body)
			d := e.contactDetail(target.ID)
			require.Equal(t, fmt.Sprintf("goner%d@example.com", i), d.Profile.Email)
			require.Equal(t, "Keep Ltd", d.Profile.Company)
			require.Equal(t, map[string]string{"tier": "gold"}, d.CustomFields)

			// The merged-away contact's address shows the survivor.
			b.do("open the merged-away address", chromedp.Evaluate[chromedp.Void](`location.hash = '#contacts/`+source.ID.String()+`'`))
			b.waitJS("the survivor", fmt.Sprintf(`location.hash === '#contacts/%s' && document.querySelector('#ct-name') && document.querySelector('#ct-name').textContent === 'Keeper%d Jones'`, target.ID, i))
			// The address alone shows the page, after a reload too, and
			// the merged-away one still leads to the survivor.
			b.do("reload", chromedp.Reload())
			b.waitJS("the page again", fmt.Sprintf(`document.body.dataset.ready === 'true' && !document.querySelector('#contacts').hidden && document.querySelector('#ct-name') && document.querySelector('#ct-name').textContent === 'Keeper%d Jones'`, i))
			b.waitJS("the realtime connection", `document.querySelector('#conn').dataset.state === 'live'`)
			b.do("the merged-away address after the reload", chromedp.Evaluate[chromedp.Void](`location.hash = '#contacts/`+source.ID.String()+`'`))
			b.waitJS("the survivor", fmt.Sprintf(`location.hash === '#contacts/%s' && document.querySelector('#ct-name') && document.querySelector('#ct-name').textContent === 'Keeper%d Jones'`, target.ID, i))
		})

		step("Settings and Contacts take each other's place", func(t *testing.T) {
			b.clickJS("the gear", "#open-settings")
			b.waitJS("Settings alone", `location.hash.startsWith('#settings') && !document.querySelector('#settings').hidden && document.querySelector('#contacts').hidden && !document.body.classList.contains('view-contacts')`)
			b.clickJS("the Contacts link", "#open-contacts")
			b.waitJS("Contacts alone", `location.hash === '#contacts' && !document.querySelector('#contacts').hidden && document.querySelector('#settings').hidden && !document.body.classList.contains('view-settings')`)
			evalJS[bool](b, `(history.back(), true)`)
			b.waitJS("Settings again", `location.hash.startsWith('#settings') && !document.querySelector('#settings').hidden && document.querySelector('#contacts').hidden`)
			evalJS[bool](b, `(history.forward(), true)`)
			b.waitJS("Contacts again", `location.hash === '#contacts' && !document.querySelector('#contacts').hidden && document.querySelector('#settings').hidden`)
		})

		step("back to the inbox", func(t *testing.T) {
			b.do("the list", chromedp.Evaluate[chromedp.Void](`location.hash = '#contacts'`))
			b.clickJS("← Inbox", "#ct-back-inbox")
			b.waitJS("the inbox", `document.querySelector('#contacts').hidden && getComputedStyle(document.querySelector('.panes')).display !== 'none' && !location.hash.startsWith('#contacts')`)
		})
	}

	t.Run("an agent deletes only their own notes", func(t *testing.T) {
		b.t = t
		b.viewport(1440, 900, false)
		agent := e.addUser("bob@example.com", engine.RoleAgent, "correct horse battery")
		ct := e.createContact(ownerToken, map[string]any{"name": "Noted Person"})
		code, body := e.api("POST", "/api/v1/contacts/"+ct.ID.String()+"/notes", ownerToken, map[string]string{"text": "the owner's note"})
		require.Equal(t, http.StatusCreated, code, string(body))
		a := newTab(t, browser)
		a.signIn(e.url, agent.Token)
		a.do("the contact's page", chromedp.Evaluate[chromedp.Void](`location.hash = '#contacts/`+ct.ID.String()+`'`))
		a.waitJS("the owner's note", `document.querySelectorAll('#ct-note-list .note').length === 1`)
		require.False(t, evalJS[bool](a, `!!document.querySelector('#ct-note-list .ct-note-del')`), "no Delete on the owner's note")
		a.fill("#ct-note-in", "the agent's note")
		a.clickJS("add it", "#ct-note-add")
		a.waitJS("two notes", `document.querySelectorAll('#ct-note-list .note').length === 2`)
		require.Equal(t, 1, evalJS[int](a, `document.querySelectorAll('#ct-note-list .ct-note-del').length`), "Delete on their own only")
		code, body = e.api("DELETE", "/api/v1/contacts/"+ct.ID.String()+"/notes/"+decodeAs[struct{ Notes []engine.Note }](t, mustGet(t, e, "/api/v1/contacts/"+ct.ID.String()+"/notes")).Notes[1].ID.String(), agent.Token, nil)
		require.Equal(t, http.StatusForbidden, code, "the API refuses what is not offered: %s", body)

		// Signed out and in again as the owner, in the same page: the
		// list starts afresh.
		a.do("the list", chromedp.Evaluate[chromedp.Void](`location.hash = '#contacts'`))
		a.waitJS("its rows", `document.querySelectorAll('#ct-rows li').length > 0`)
		a.clickJS("sign out", "#logout")
		a.waitJS("the sign-in form", `!document.querySelector('#login').hidden`)
		a.clickJS("use a token", "#login-mode")
		a.fill("#login-api-token", ownerToken)
		a.clickJS("sign in", "#login-submit")
		a.waitJS("the inbox", `document.querySelector('#me-name').textContent === 'Owner' && !document.querySelector('#app').hidden`)
		a.clickJS("the Contacts link", "#open-contacts")
		a.waitJS("the list again", `document.querySelectorAll('#contacts').length === 1 && document.querySelectorAll('#ct-rows li').length === 50`)
	})
}

// mustGet reads path as the owner and returns the body.
func mustGet(t *testing.T, e *env, path string) []byte {
	t.Helper()
	code, body := e.api("GET", path, ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	return body
}
