// The Pipeline view (issue 17): a board of the workspace's contacts by
// stage, a column per stage of the pipeline picked (a picker when there
// are several), each with its count and its contacts newest first (a
// page of GET /contacts?stage=&owner=, more on demand). A card moves to
// another column by dragging it (HTML5 drag and drop) or by its "Move
// to stage…" menu, which works from the keyboard and on touch screens.
// Filters: owner (the server's index), tag (the server looks at the
// contacts' conversations; a card a live event brings without it is
// hidden) and segment (the server's members index; a card a live event
// brings that no page of the segment listed is hidden).
// contact.updated events move, add and drop cards live. Route:
// #pipeline, a history entry of its own as #contacts is.
import { get, post } from './api.js';
import { h, $, avatar, toast } from './util.js';
import { menuButton } from './menu.js';
import { close as closeSettings } from './settings.js';
import { close as closeContacts } from './contacts.js';
import { displayName } from './contact_page.js';
import { segments } from './segments.js';

const PAGE = 50;
const DRAG_TYPE = 'application/x-parley-contact';

let app; // {state} of app.js: me, users
let root = null;
let shown = false;

const board = {
  pipelines: [],
  pipeline: '', // the id of the pipeline shown
  owner: '', // a user id, '' for anyone
  tag: '',
  tags: [],
  segment: '', // a segment id, '' for any
  segs: [], // the workspace's segments
  members: new Set(), // ids the segment's pages listed
  counts: {}, // stage id → count (of owner's contacts, given one)
  cols: new Map(), // stage id → {cursor, done, loading}
  gen: 0,
};

// init hooks the view to the signed-in user (after /me) and shows it
// when the address is already #pipeline.
export function init(a) {
  app = a;
  if (root) root.remove();
  root = null;
  board.pipelines = [];
  board.pipeline = '';
  board.owner = '';
  board.tag = '';
  board.segment = '';
  apply();
}

const route = () => location.hash === '#pipeline';

// close hides the view.
export function close() {
  shown = false;
  document.body.classList.remove('view-pipeline');
  if (root) root.hidden = true;
  const link = $('#open-pipeline');
  if (link) link.removeAttribute('aria-current');
}

function apply() {
  if (!route() || !app || !app.state.me) { if (shown) close(); return; }
  frame();
  closeSettings();
  closeContacts();
  shown = true;
  root.hidden = false;
  document.body.classList.add('view-pipeline');
  document.body.classList.remove('view-chat');
  $('#open-pipeline').setAttribute('aria-current', 'page');
  load();
}

window.addEventListener('hashchange', apply);

function backToInbox() {
  const from = history.state && history.state.pipelineFrom;
  if (typeof from === 'string' && !from.startsWith('#settings') && !from.startsWith('#contacts')) { history.back(); return; }
  history.replaceState(null, '', location.pathname + location.search);
  close();
}

function frame() {
  if (root) return;
  root = h('div#pipeline.pipeline', { hidden: true, role: 'main' });
  $('#app').append(root);
  root.append(
    h('div.ct-head.pl-head', null,
      h('button#pl-back-inbox.ghost.small', { type: 'button', 'aria-label': 'Back to the inbox', onclick: backToInbox }, '← Inbox'),
      h('h1', { text: 'Pipeline' })),
    h('div#pl-tools.pl-tools'),
    h('p#pl-status.muted.pl-status', { role: 'status' }),
    // A region the keyboard can scroll sideways, even with no card in it.
    h('div#pl-board.pl-board', { role: 'region', tabindex: '0' }));
}

// ---------- loading ----------

// load reads the pipelines and the tags, then draws the board.
async function load() {
  const gen = ++board.gen;
  try {
    const [ps, tags, users, segs] = await Promise.all([get('/pipelines'), get('/tags').catch(() => ({ tags: [] })),
      app.state.users.length ? null : get('/users').catch(() => null), segments().catch(() => [])]);
    if (gen !== board.gen) return;
    board.segs = segs;
    if (board.segment && !segs.some((x) => x.id === board.segment)) board.segment = '';
    if (users) app.state.users = users.users || [];
    board.pipelines = ps.pipelines || [];
    board.tags = (tags.tags || []).map((t) => t.tag).filter((t) => t !== 'priority');
    if (!board.pipelines.some((p) => p.id === board.pipeline)) board.pipeline = board.pipelines[0] ? board.pipelines[0].id : '';
    tools();
    await draw();
  } catch (err) {
    if (gen === board.gen) $('#pl-status', root).textContent = `Could not load the pipeline: ${err.message}`;
  }
}

const current = () => board.pipelines.find((p) => p.id === board.pipeline);

// tools draws the picker (several pipelines) and the filters.
function tools() {
  const users = (app.state.users || []).slice().sort((a, b) => (a.name || a.email).localeCompare(b.name || b.email));
  const me = app.state.me;
  const sel = (id, label, value, options, onchange) => h('label.pl-filter', { for: id }, h('span.muted.small', { text: label }),
    h(`select#${id}`, { onchange: (e) => onchange(e.target.value) },
      ...options.map(([v, text]) => h('option', { value: v, text, selected: v === value }))));
  $('#pl-tools', root).replaceChildren(
    board.pipelines.length > 1
      ? sel('pl-pick', 'Pipeline', board.pipeline, board.pipelines.map((p) => [p.id, p.name]), (v) => { board.pipeline = v; draw(); })
      : h('span#pl-name.pl-name', { text: current() ? current().name : '' }),
    sel('pl-owner', 'Owner', board.owner, [['', 'Anyone'], [me.id, 'Me'],
      ...users.filter((u) => u.id !== me.id).map((u) => [u.id, u.name || u.email])], (v) => { board.owner = v; draw(); }),
    sel('pl-tag', 'Tag', board.tag, [['', 'Any tag'], ...board.tags.map((t) => [t, t])], (v) => { board.tag = v; draw(); }),
    ...(board.segs.length ? [sel('pl-segment', 'Segment', board.segment, [['', 'Any segment'], ...board.segs.map((x) => [x.id, x.name])],
      (v) => { board.segment = v; board.members = new Set(); draw(); })] : []));
}

// draw lays out the columns of the pipeline picked and loads their
// first pages and counts.
async function draw() {
  const p = current();
  const el = $('#pl-board', root);
  board.cols = new Map();
  if (!p) { el.replaceChildren(); return; }
  $('#pl-status', root).textContent = '';
  el.replaceChildren(...p.stages.map((s) => column(s)));
  el.setAttribute('aria-label', `${p.name} pipeline`);
  await Promise.all([counts(), ...p.stages.map((s) => more(s.id))]);
}

function column(s) {
  board.cols.set(s.id, { cursor: '', done: false, loading: false });
  const list = h('ul.pl-cards', { 'aria-labelledby': `pl-h-${s.id}` });
  const head = h('header.pl-col-head', null,
    h(`h2#pl-h-${s.id}`, null, h('span.pl-col-name', { text: s.name }), ' ',
      h('span.pl-count.count', { 'aria-label': 'contacts', text: '…' })));
  // The stage's colour (#rrggbb, checked by the server) through the
  // CSSOM: the page's Content-Security-Policy refuses style attributes.
  if (s.color) head.style.borderTopColor = s.color;
  const col = h('section.pl-col', { dataset: { stage: s.id }, 'aria-labelledby': `pl-h-${s.id}` },
    head,
    list,
    h('button.ghost.small.pl-more', { type: 'button', hidden: true, text: 'Load more', onclick: () => more(s.id) }));
  // A card dropped on the column moves to its stage.
  col.addEventListener('dragover', (e) => {
    if (!e.dataTransfer || ![...e.dataTransfer.types].includes(DRAG_TYPE)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    col.classList.add('drop-target');
  });
  col.addEventListener('dragleave', (e) => { if (!col.contains(e.relatedTarget)) col.classList.remove('drop-target'); });
  col.addEventListener('drop', (e) => {
    col.classList.remove('drop-target');
    const id = e.dataTransfer && e.dataTransfer.getData(DRAG_TYPE);
    if (!id) return;
    e.preventDefault();
    move(id, s.id);
  });
  return col;
}

const colEl = (stage) => root && root.querySelector(`.pl-col[data-stage="${stage}"]`);

// counts reads how many contacts stand in each stage (the owner's only,
// with that filter).
async function counts() {
  const p = current();
  if (!p) return;
  const q = board.owner ? `?owner=${board.owner}` : '';
  try {
    const r = await get(`/pipelines/${p.id}${q}`);
    if (p.id !== board.pipeline) return;
    board.counts = r.counts || {};
    showCounts();
  } catch { /* the next change asks again */ }
}

let countsTimer;
function countsSoon() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(counts, 300);
}

function showCounts() {
  for (const [stage, n] of Object.entries(board.counts)) {
    const col = colEl(stage);
    if (!col) continue;
    const shownCards = [...col.querySelectorAll('.pl-card')].filter((c) => !c.hidden).length;
    const text = n >= 10000 ? '10000+' : String(n);
    const c = $('.pl-count', col);
    const narrowed = board.tag || board.segment;
    c.textContent = narrowed ? `${shownCards} of ${text}` : text;
    c.setAttribute('aria-label', narrowed ? `${shownCards} shown${board.tag ? ` with the tag ${board.tag}` : ''}${board.segment ? ' in the segment' : ''}, of ${text} contacts` : `${text} contacts`);
    col.dataset.count = String(n);
  }
}

// more loads the next page of a column.
async function more(stage) {
  const st = board.cols.get(stage);
  if (!st || st.loading || st.done) return;
  st.loading = true;
  const pipe = board.pipeline;
  const q = new URLSearchParams({ stage, limit: String(PAGE) });
  if (board.owner) q.set('owner', board.owner);
  if (board.tag) q.set('tag', board.tag);
  if (board.segment) q.set('segment', board.segment);
  if (st.cursor) q.set('cursor', st.cursor);
  try {
    const r = await get(`/contacts?${q}`);
    if (pipe !== board.pipeline || board.cols.get(stage) !== st) return;
    const col = colEl(stage);
    const list = $('.pl-cards', col);
    for (const c of r.contacts || []) {
      if (board.segment) board.members.add(c.id);
      if (!cardEl(c.id)) list.append(card(c));
    }
    st.cursor = r.next_cursor || '';
    st.done = !st.cursor;
    $('.pl-more', col).hidden = st.done;
    filterCards();
  } catch (err) {
    toast(`Could not load the stage: ${err.message}`);
  } finally {
    st.loading = false;
  }
}

// ---------- cards ----------

const cardEl = (id) => root && root.querySelector(`.pl-card[data-id="${id}"]`);

function userName(id) {
  const u = (app.state.users || []).find((x) => x.id === id);
  if (!u) return id === app.state.me.id ? app.state.me.name || 'Me' : '';
  return u.name || u.email;
}

function card(c) {
  const name = displayName(c);
  const p = current();
  const moveBtn = h('button.icon-btn.pl-move', { type: 'button', 'aria-haspopup': 'menu', 'aria-label': `Move ${name} to stage…`, title: 'Move to stage…', text: '⋯' });
  const menu = h('div.menu.pl-menu', { role: 'menu', hidden: true, 'aria-label': `Move ${name} to stage` },
    ...p.stages.map((s) => h('button', {
      type: 'button', role: 'menuitem', dataset: { stage: s.id }, text: s.name,
      onclick: () => { menu.hidden = true; moveBtn.focus(); move(c.id, s.id); },
    })));
  moveBtn.addEventListener('click', () => {
    for (const m of root.querySelectorAll('.pl-menu')) if (m !== menu) m.hidden = true;
    const here = c.stage && c.stage.stage_id;
    for (const b of menu.children) b.hidden = b.dataset.stage === here;
    menu.hidden = !menu.hidden;
  });
  menuButton(moveBtn, menu);
  const owner = c.owner_id ? userName(c.owner_id) : '';
  const li = h('li.pl-card', { draggable: 'true', dataset: { id: c.id } },
    h('div.pl-card-top', null, avatar(name, c.id),
      h('a.pl-card-name', { href: `#contacts/${c.id}`, text: name, draggable: 'false' }),
      h('div.menu-wrap', null, moveBtn, menu)),
    (c.profile && c.profile.company) ? h('div.muted.small.pl-card-sub', { text: c.profile.company }) : null,
    owner ? h('div.small.pl-owner', { text: `Owner: ${owner}` }) : h('div.small.muted.pl-owner', { text: 'No owner' }),
    (c.tags || []).length ? h('div.ct-tags', { 'aria-label': 'Tags' }, ...c.tags.map((t) => h('span.tag', { text: t }))) : null);
  li.contact = c;
  li.addEventListener('dragstart', (e) => {
    e.dataTransfer.setData(DRAG_TYPE, c.id);
    e.dataTransfer.setData('text/plain', name);
    e.dataTransfer.effectAllowed = 'move';
    li.classList.add('dragging');
  });
  li.addEventListener('dragend', () => li.classList.remove('dragging'));
  return li;
}

// filterCards hides the cards without the tag picked (a card placed by
// a live event: the pages the server sends have it).
function filterCards() {
  if (!root) return;
  for (const c of root.querySelectorAll('.pl-card')) {
    c.hidden = (!!board.tag && !(c.contact.tags || []).includes(board.tag)) || (!!board.segment && !board.members.has(c.contact.id));
  }
  showCounts();
}

// place puts contact c in the column of its stage (first, the newest
// moved), or takes it off the board when it stands in none of it or is
// not the owner's shown.
function place(c) {
  const old = cardEl(c.id);
  // An answer can come after the event of a later change: older is stale.
  if (old && Date.parse(c.updated_at) < Date.parse(old.contact.updated_at)) return;
  const stage = c.stage && c.stage.stage_id;
  const col = stage && colEl(stage);
  const fits = col && (!board.owner || c.owner_id === board.owner);
  if (!fits) { if (old) old.remove(); return; }
  const keep = old ? { tags: old.contact.tags, last_activity_at: old.contact.last_activity_at } : {};
  const el = card({ ...c, ...keep });
  if (old) old.remove();
  $('.pl-cards', col).prepend(el);
  filterCards();
}

// move puts a contact in a stage: the server's answer places the card,
// the counts are read again.
async function move(id, stage) {
  const from = cardEl(id);
  if (from && from.contact.stage && from.contact.stage.stage_id === stage) return;
  const focused = from && from.contains(document.activeElement);
  try {
    const c = await post(`/contacts/${id}/stage`, { stage_id: stage, pipeline_id: board.pipeline });
    place(c);
    // The keyboard stays on the card, in its new column.
    const moved = focused && cardEl(id);
    if (moved) $('.pl-move', moved).focus();
    const s = current() && current().stages.find((x) => x.id === stage);
    announce(`${displayName(c)} moved to ${s ? s.name : 'the stage'}`);
    await counts();
  } catch (err) {
    toast(`Could not move the contact: ${err.message}`);
  }
}

function announce(text) {
  const s = root && $('#pl-status', root);
  if (s) s.textContent = text;
}

// resync draws the board again from the server: the realtime connection
// missed events.
export function resync() {
  if (shown) draw();
}

// onEvent follows contact changes: a contact moved or given an owner
// elsewhere moves on the board; a deleted one leaves it.
export function onEvent(ev) {
  if (!root || !board.pipeline || !ev.data || !ev.data.id) return;
  if (ev.type === 'contact.deleted') {
    const el = cardEl(ev.data.id);
    if (el) el.remove();
    countsSoon();
  } else if (ev.type === 'contact.updated') {
    const el = cardEl(ev.data.id);
    const stage = ev.data.stage && ev.data.stage.stage_id;
    if (el || (stage && colEl(stage))) {
      place(ev.data);
      countsSoon();
    }
  }
}

// The header links here, beside Contacts.
const boardIcon = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><rect x="3" y="4" width="5" height="16" rx="1"/><rect x="10" y="4" width="5" height="11" rx="1"/><rect x="17" y="4" width="4" height="7" rx="1"/></svg>';
$('#open-settings').addEventListener('click', () => { if (shown) close(); });
const link = h('a#open-pipeline.top-link', {
  href: '#pipeline', 'aria-label': 'Pipeline', title: 'Pipeline',
  onclick: (e) => {
    e.preventDefault();
    if (route()) return;
    history.pushState({ pipelineFrom: location.hash }, '', '#pipeline');
    apply();
  },
}, h('span.top-icon', { html: boardIcon }), h('span.top-label', { text: 'Pipeline' }));
const contactsLink = $('#open-contacts');
if (contactsLink) {
  contactsLink.after(link);
  // Contacts opens without a hashchange: the board makes way.
  contactsLink.addEventListener('click', () => { if (shown) close(); });
} else $('.topbar-right').prepend(link);
// A click elsewhere closes an open Move menu.
document.addEventListener('click', (e) => {
  if (!root || e.target.closest('.pl-move, .pl-menu')) return;
  for (const m of root.querySelectorAll('.pl-menu')) m.hidden = true;
});
