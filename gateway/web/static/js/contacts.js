// The Contacts view (issue 16): the list of the workspace's contacts
// with the API's search and infinite scroll (each page appended, rows
// already shown never drawn again), CSV import with its live progress
// (contacts.import.progress events) and per-row errors, and export. The
// contact page is contact_page.js. Routes: #contacts and #contacts/<id>,
// each a history entry of its own so that Back (a phone's) works as in
// the inbox.
import { auth, get, ApiError } from './api.js';
import { channelIcon, channelNames } from './icons.js';
import { h, $, avatar, listTime, debounce, toast, searchTerms, highlight } from './util.js';
import * as page from './contact_page.js';
import { close as closeSettings } from './settings.js';
import { displayName } from './contact_page.js';
import { pipelines, stageName, stageOptions } from './stages.js';
import { segments, segmentOptions } from './segments.js';

const PAGE = 50;

let app; // {state} of app.js: me, users
let root = null;
let shown = false;

const list = {
  q: '',
  stage: '', // a stage id: the contacts standing in it (not with q)
  owner: '', // a user id: the contacts they own (not with q)
  segment: '', // a segment id: its members (not with q)
  segs: [], // the workspace's segments, for the segment filter
  pipes: [], // the workspace's pipelines, for the stage filter and the rows' stages
  cursor: '',
  done: false,
  loading: false,
  gen: 0,
  count: 0,
  loaded: false, // a first page was asked for since sign-in
};

// init hooks the view to the signed-in user (after /me) and shows it
// when the address is already #contacts... (a link, a reload).
export function init(a) {
  app = a;
  if (root) root.remove();
  root = null;
  // A new sign-in (another user, maybe) starts the list afresh.
  list.q = '';
  list.stage = '';
  list.owner = '';
  list.segment = '';
  list.loaded = false;
  page.init({ state: app.state, go, back: backToList });
  apply();
}

// route reads the address: '' for the list, an id for a contact page,
// null for another view.
function route() {
  const m = /^#contacts(?:\/(\w+))?$/.exec(location.hash);
  return m ? (m[1] || '') : null;
}

// close hides the view.
export function close() {
  shown = false;
  document.body.classList.remove('view-contacts');
  if (root) root.hidden = true;
  const link = $('#open-contacts');
  if (link) link.removeAttribute('aria-current');
}

function apply() {
  const id = route();
  // (At sign-in the app is still hidden: the view is shown with it.)
  if (id === null || !app || !app.state.me) { if (shown) close(); return; }
  frame();
  closeSettings(); // its link moves here without a hashchange
  shown = true;
  root.hidden = false;
  document.body.classList.add('view-contacts');
  document.body.classList.remove('view-chat');
  $('#open-contacts').setAttribute('aria-current', 'page');
  $('#ct-list-view', root).hidden = !!id;
  $('#ct-page', root).hidden = !id;
  if (id) page.show($('#ct-page', root), id);
  else {
    page.hide();
    if (!list.loaded) reload();
  }
}

window.addEventListener('hashchange', apply);

// go shows a contact's page in a new history entry (Back returns to
// where it was opened from); replace takes the place of the entry shown
// (a merged-away contact's page becomes its survivor's).
function go(id, replace = false) {
  if (replace) history.replaceState(history.state, '', `#contacts/${id}`);
  else history.pushState({ contacts: true }, '', `#contacts/${id}`);
  apply();
}

// backToList returns to the list: the entry the page was opened from,
// else (the page opened by its address) the list in its place.
function backToList() {
  if (history.state && history.state.contacts) { history.back(); return; }
  history.replaceState(null, '', '#contacts');
  apply();
}

// backToInbox leaves the view for the inbox: the entry the header's link
// left when it was the inbox's, else the inbox's address in its place.
function backToInbox() {
  const from = history.state && history.state.contactsFrom;
  if (typeof from === 'string' && !from.startsWith('#settings') && !from.startsWith('#pipeline')) { history.back(); return; }
  history.replaceState(null, '', location.pathname + location.search);
  close();
}

function frame() {
  if (root) return;
  root = h('div#contacts.contacts', { hidden: true, role: 'main' });
  $('#app').append(root);
  const search = h('input#ct-search', {
    type: 'search', placeholder: 'Search name, phone, email or company', 'aria-label': 'Search contacts', autocomplete: 'off',
  });
  search.addEventListener('input', debounce(() => {
    if (search.value.trim() === list.q) return;
    list.q = search.value.trim();
    // A search is over every contact: the stage and owner filters go.
    if (list.q && (list.stage || list.owner || list.segment)) {
      list.stage = '';
      list.owner = '';
      list.segment = '';
      filters();
    }
    reload();
  }, 250));
  // The stage and owner filters (the server's indexes); a search goes
  // when one is picked.
  const onFilter = () => {
    list.stage = $('#ct-stage', root).value;
    list.owner = $('#ct-owner', root).value;
    list.segment = $('#ct-segment', root).value;
    if (list.q) { list.q = ''; search.value = ''; }
    reload();
  };
  const stageSel = h('select#ct-stage', { onchange: onFilter });
  const ownerSel = h('select#ct-owner', { onchange: onFilter });
  const segmentSel = h('select#ct-segment', { onchange: onFilter });
  const file = h('input#ct-import-file.sr-only', { type: 'file', accept: '.csv,text/csv', 'aria-label': 'CSV file to import', tabindex: '-1' });
  file.addEventListener('change', () => { if (file.files[0]) upload(file.files[0]); file.value = ''; });
  const rows = h('ul#ct-rows.ct-rows', { 'aria-label': 'Contacts' });
  const scroller = h('div#ct-scroll.ct-scroll', null, rows,
    h('p#ct-empty.empty', { hidden: true }), h('p#ct-more.list-more', { hidden: true, text: 'Loading…' }));
  scroller.addEventListener('scroll', maybeMore, { passive: true });
  const drop = h('div#ct-drop.ct-drop', { hidden: true, text: 'Drop a CSV file to import it' });
  root.append(
    h('div.ct-head', null,
      h('button#ct-back-inbox.ghost.small', { type: 'button', 'aria-label': 'Back to the inbox', onclick: backToInbox }, '← Inbox'),
      h('h1', { text: 'Contacts' })),
    h('div#ct-list-view.ct-list-view', null,
      h('div.ct-tools', null, h('div.ct-search', null, search),
        h('label.pl-filter', { for: 'ct-stage' }, h('span.muted.small', { text: 'Stage' }), stageSel),
        h('label.pl-filter', { for: 'ct-owner' }, h('span.muted.small', { text: 'Owner' }), ownerSel),
        h('label.pl-filter', { for: 'ct-segment' }, h('span.muted.small', { text: 'Segment' }), segmentSel),
        h('div.ct-actions', null,
          h('button#ct-import.ghost.small', { type: 'button', onclick: () => file.click(), text: 'Import CSV' }), file,
          h('button#ct-export.ghost.small', { type: 'button', onclick: exportCSV, text: 'Export CSV' }))),
      h('section#ct-import-box.ct-import', { hidden: true, 'aria-label': 'Import', 'aria-live': 'polite' }),
      scroller, drop),
    h('section#ct-page.ct-page', { hidden: true, 'aria-label': 'Contact' }));
  // A CSV dropped anywhere on the list imports it.
  const view = $('#ct-list-view', root);
  let depth = 0;
  view.addEventListener('dragenter', (e) => { if (hasFiles(e)) { e.preventDefault(); depth++; drop.hidden = false; } });
  view.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  view.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; drop.hidden = true; } });
  view.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    drop.hidden = true;
    const f = e.dataTransfer.files[0];
    if (f) upload(f);
  });
}

const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');

// ---------- the list ----------

// reload starts the list again (a new search): the rows of the old one
// go, and pages of it still on their way are dropped.
// filters draws the stage and owner selects with the pipelines and users
// known.
function filters() {
  const s = $('#ct-stage', root);
  const o = $('#ct-owner', root);
  if (!s || !o) return;
  s.replaceChildren(...stageOptions(list.pipes, list.stage, h('option', { value: '', text: 'Any stage', selected: !list.stage })));
  const me = app.state.me;
  const users = (app.state.users || []).filter((u) => u.id !== me.id);
  o.replaceChildren(h('option', { value: '', text: 'Anyone', selected: !list.owner }),
    h('option', { value: me.id, text: 'Me', selected: list.owner === me.id }),
    ...users.map((u) => h('option', { value: u.id, text: u.name || u.email, selected: list.owner === u.id })));
  const g = $('#ct-segment', root);
  if (g) g.replaceChildren(...segmentOptions(list.segs, list.segment, h('option', { value: '', text: 'Any segment', selected: !list.segment })));
}

function reload() {
  list.loaded = true;
  filters();
  list.gen++;
  list.cursor = '';
  list.done = false;
  list.loading = false;
  list.count = 0;
  $('#ct-rows', root).replaceChildren();
  $('#ct-empty', root).hidden = true;
  more();
}

async function more() {
  if (list.loading || list.done) return;
  list.loading = true;
  const gen = list.gen;
  $('#ct-more', root).hidden = false;
  try {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (list.q) q.set('q', list.q);
    if (list.stage) q.set('stage', list.stage);
    if (list.owner) q.set('owner', list.owner);
    if (list.segment) q.set('segment', list.segment);
    if (list.cursor) q.set('cursor', list.cursor);
    // The pipelines (cached by stages.js): the rows name their stages.
    const [r, ps, segs] = await Promise.all([get(`/contacts?${q}`), pipelines().catch(() => list.pipes), segments().catch(() => list.segs)]);
    if (gen !== list.gen) return;
    if (ps !== list.pipes || segs !== list.segs) { list.pipes = ps; list.segs = segs; filters(); }
    const terms = list.q ? searchTerms(list.q) : [];
    const known = new Set([...$('#ct-rows', root).children].map((li) => li.dataset.id));
    // A page is appended: the rows shown stay as they are.
    $('#ct-rows', root).append(...(r.contacts || []).filter((c) => !known.has(c.id)).map((c) => row(c, terms)));
    list.count = $('#ct-rows', root).children.length;
    list.cursor = r.next_cursor || '';
    list.done = !list.cursor;
    const empty = $('#ct-empty', root);
    empty.hidden = list.count > 0 || !list.done;
    empty.textContent = list.q ? 'No contacts match this search' : list.segment ? 'No contacts in this segment' : list.stage || list.owner ? 'No contacts in this stage or of this owner' : 'No contacts yet: they come with conversations, or import a CSV';
  } catch (err) {
    if (gen === list.gen) {
      list.done = true;
      const empty = $('#ct-empty', root);
      empty.hidden = false;
      empty.textContent = err instanceof ApiError && err.status === 400 ? err.message : `Could not load contacts: ${err.message}`;
    }
  } finally {
    if (gen === list.gen) {
      list.loading = false;
      $('#ct-more', root).hidden = true;
      maybeMore();
    }
  }
}

// maybeMore loads the next page once the end of the list is near.
function maybeMore() {
  const s = $('#ct-scroll', root);
  if (!s || s.closest('[hidden]')) return;
  if (s.scrollTop + s.clientHeight > s.scrollHeight - 400) more();
}

function row(c, terms) {
  const p = c.profile || {};
  const name = displayName(c);
  const reach = [p.phone, p.email, p.company].filter(Boolean).join(' · ');
  const chans = [...new Set((c.identities || []).map((i) => i.channel))];
  const a = h('a.ct-row', { href: `#contacts/${c.id}`, onclick: (e) => { e.preventDefault(); go(c.id); } },
    avatar(name, c.id),
    h('span.ct-main', null,
      h('span.ct-name', null, ...highlight(name, terms)),
      h('span.ct-reach.muted.small', null, ...highlight(reach, terms)),
      c.stage && stageName(list.pipes, c.stage) ? h('span.ct-stage.small', { text: stageName(list.pipes, c.stage) }) : null,
      (c.tags || []).length ? h('span.ct-tags', { 'aria-label': 'Tags' }, ...c.tags.map((t) => h('span.tag', { text: t }))) : null),
    h('span.ct-channels', null, ...chans.map((ch) => h('span.ct-ch', { html: channelIcon(ch), title: channelNames[ch] || ch, role: 'img', 'aria-label': channelNames[ch] || ch }))),
    h('span.ct-when.muted.small', c.last_activity_at
      ? { title: `Last activity ${c.last_activity_at}`, text: listTime(c.last_activity_at) }
      : { title: 'No conversation yet', text: '—' }));
  const li = h('li.ct-item', { dataset: { id: c.id } }, a);
  li.contact = c;
  return li;
}

// onEvent follows the workspace's events: import progress, and a
// contact changed or merged away.
export function onEvent(ev) {
  if (ev.type === 'contacts.import.progress') progress(ev.data || {});
  page.onEvent(ev);
  if (!root) return;
  if (!ev.data || !ev.data.id) return;
  const li = $(`#ct-rows li[data-id="${ev.data.id}"]`, root);
  if (!li) return;
  if (ev.type === 'contact.deleted') li.remove();
  // A changed contact's row alone is drawn again, with what its
  // conversations said (the event has the contact only).
  if (ev.type === 'contact.updated') {
    // Moved out of the stage or away from the owner filtered on: gone.
    if ((list.stage && (!ev.data.stage || ev.data.stage.stage_id !== list.stage)) || (list.owner && ev.data.owner_id !== list.owner)) {
      li.remove();
      return;
    }
    const c = { ...ev.data, last_activity_at: li.contact.last_activity_at, tags: li.contact.tags };
    li.replaceWith(row(c, list.q ? searchTerms(list.q) : []));
  }
}

// ---------- import ----------

const imp = { busy: false, total: 0, job: '', sawPartial: false };

// upload sends a CSV file to the import; the progress comes over the
// WebSocket, the end (and the rows refused) in the answer.
async function upload(f) {
  if (imp.busy) { toast('An import is already running'); return; }
  imp.busy = true;
  imp.job = '';
  imp.sawPartial = false;
  const box = $('#ct-import-box', root);
  box.hidden = false;
  box.dataset.state = 'running';
  box.replaceChildren(
    h('h2', { text: `Importing ${f.name}` }),
    h('progress#ct-import-progress', { max: '1', value: '0', 'aria-label': 'Import progress' }),
    h('p#ct-import-counts.small', { text: 'Sending…' }));
  let text = '';
  try { text = await f.text(); } catch { /* the count stays unknown */ }
  // The data rows, roughly (quoted line breaks aside): the bar's end.
  imp.total = Math.max(0, text.split(/\r?\n/).filter((l) => l.trim()).length - 1);
  $('#ct-import-progress', root).max = imp.total || 1;
  try {
    const res = await fetch('/api/v1/contacts/import', {
      method: 'POST', headers: { Authorization: `Bearer ${auth.token}`, 'Content-Type': 'text/csv' }, body: f,
    });
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    if (!res.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(res.status, e.code, e.message);
    }
    imp.job = data.job;
    finish(data);
  } catch (err) {
    box.dataset.state = 'failed';
    box.append(h('p.error', { role: 'alert', text: `The import failed: ${err.message}` }), closeButton(box));
  } finally {
    imp.busy = false;
  }
}

// progress shows a contacts.import.progress event of the running import.
// Its events may come after the answer: they count as seen, and the
// answer's counts stay.
function progress(d) {
  if (!root || (imp.job && d.job !== imp.job) || (!imp.busy && !imp.job)) return;
  if (!d.done) imp.sawPartial = true;
  if (imp.busy) counts(d);
  const bar = $('#ct-import-progress', root);
  if (bar) bar.dataset.partial = String(imp.sawPartial);
}

function counts(d) {
  const bar = $('#ct-import-progress', root);
  if (!bar) return;
  const total = Math.max(imp.total, d.rows || 0, 1);
  bar.max = total;
  bar.value = d.done ? total : Math.min(d.rows || 0, total);
  bar.dataset.partial = String(imp.sawPartial);
  $('#ct-import-counts', root).textContent =
    `${d.rows || 0} of ${d.done ? d.rows || 0 : imp.total} rows · ${d.imported || 0} new · ${d.updated || 0} updated · ${d.failed || 0} failed`;
}

function finish(d) {
  const box = $('#ct-import-box', root);
  counts({ ...d, done: true });
  box.dataset.state = 'done';
  const title = $('h2', box);
  title.textContent = title.textContent.replace(/^Importing /, 'Imported ');
  const errs = d.errors || [];
  box.append(h('p.small', { text: d.failed ? `Done: ${d.failed} row${d.failed === 1 ? '' : 's'} could not be imported.` : 'Done: every row was imported.' }));
  if (d.stopped) box.append(h('p.error', { role: 'alert', text: d.stopped }));
  if (errs.length) {
    box.append(h('table#ct-import-errors.ct-errors', null, h('caption', { text: 'Rows not imported' }),
      h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Row' }), h('th', { scope: 'col', text: 'Reason' }))),
      h('tbody', null, ...errs.map((e) => h('tr', { dataset: { row: String(e.row) } }, h('td', { text: String(e.row) }), h('td', { text: e.error }))))));
  }
  box.append(closeButton(box));
  if (d.imported || d.updated) reload();
}

function closeButton(box) {
  return h('button.ghost.small', { type: 'button', text: 'Close', onclick: () => { box.hidden = true; box.replaceChildren(); } });
}

// ---------- export ----------

// exportCSV downloads the export: fetched with the token (a plain link
// cannot send it), then saved through a temporary object URL.
async function exportCSV() {
  const btn = $('#ct-export', root);
  btn.disabled = true;
  try {
    const res = await fetch('/api/v1/contacts/export', { headers: { Authorization: `Bearer ${auth.token}` } });
    if (!res.ok) {
      let e = {};
      try { e = (await res.json()).error || {}; } catch { /* not JSON */ }
      throw new ApiError(res.status, e.code, e.message);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: 'contacts.csv', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    toast(`Export failed: ${err.message}`);
  } finally {
    btn.disabled = false;
  }
}

// The header links here, beside Analytics; a history entry of its own,
// so that Back returns to the inbox as it was.
const peopleIcon = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><circle cx="9" cy="8" r="4"/><path d="M2 21v-1a7 7 0 0 1 14 0v1M16 4a4 4 0 0 1 0 8M22 21v-1a7 7 0 0 0-4-6.3"/></svg>';
// The gear opens Settings without a hashchange: the view makes way.
$('#open-settings').addEventListener('click', () => { if (shown) close(); });
$('.topbar-right').prepend(h('a#open-contacts.top-link', {
  href: '#contacts', 'aria-label': 'Contacts', title: 'Contacts',
  onclick: (e) => {
    e.preventDefault();
    if (route() === '') return;
    history.pushState({ contactsFrom: location.hash }, '', '#contacts');
    apply();
  },
}, h('span.top-icon', { html: peopleIcon }), h('span.top-label', { text: 'Contacts' })));
