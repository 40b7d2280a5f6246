// The composer's tools, beside chat.js's text box: the Reply / Note
// switch (a note is internal, posted to the conversation's contact, and
// never reaches the customer), the @mention picker (a teammate's handle,
// which turns the text into a note), canned replies inserted by typing
// `/` at the start or from the picker button (their variables filled in
// at insertion, see canned.js), and drafts kept per conversation in
// localStorage (workspace + user + conversation; written a moment after
// typing stops, never sent to the server).
import { get, post } from './api.js';
import { h, toast } from './util.js';
import * as canned from './canned.js';

let app; // {state}
let cur = null; // {conv, ta, box, send, grow, mode, contact}
let saveTimer = 0;
let lastAt = 0; // drafts' times, strictly increasing: the oldest is well defined

// MAX_DRAFTS bounds the drafts kept per user: beyond it the oldest go.
export const MAX_DRAFTS = 200;
const DRAFT_PREFIX = 'parley.draft.';

export function init(a) {
  app = a;
  // A click (or tap) outside the text box and its picker closes it.
  document.addEventListener('mousedown', (e) => {
    if (picker && !e.target.closest('#compose-picker, #compose')) closePicker();
  }, true);
  window.addEventListener('pagehide', flush);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flush(); });
}

// ---------- drafts ----------

function draftPrefix() {
  const me = app.state.me || {};
  return `${DRAFT_PREFIX}${me.workspace_id || ''}.${me.id || ''}.`;
}

// loadDraft returns the draft of conversation conv ({text, mode, at}),
// or null.
export function loadDraft(conv) {
  try {
    const d = JSON.parse(localStorage.getItem(draftPrefix() + conv) || 'null');
    return d && typeof d.text === 'string' ? d : null;
  } catch { return null; }
}

// saveDraft keeps text and mode as conversation conv's draft (blank text
// is no draft), dropping the oldest drafts beyond MAX_DRAFTS.
export function saveDraft(conv, text, mode) {
  const key = draftPrefix() + conv;
  try {
    if (!text.trim()) { localStorage.removeItem(key); return; }
    const fresh = localStorage.getItem(key) === null;
    lastAt = Math.max(Date.now(), lastAt + 1);
    localStorage.setItem(key, JSON.stringify({ text, mode, at: lastAt }));
    if (fresh) prune();
  } catch { /* storage full or off: the draft lives as long as the page */ }
}

function prune() {
  const p = draftPrefix();
  const mine = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && k.startsWith(p)) {
      let at = 0;
      try { at = JSON.parse(localStorage.getItem(k)).at || 0; } catch { /* unreadable: oldest */ }
      mine.push([at, k]);
    }
  }
  mine.sort((a, b) => a[0] - b[0]);
  for (const [, k] of mine.slice(0, Math.max(0, mine.length - MAX_DRAFTS))) localStorage.removeItem(k);
}

// flush writes the open composer's draft now (switching away, hiding
// the page).
export function flush() {
  clearTimeout(saveTimer);
  if (cur && cur.ta.isConnected) saveDraft(cur.conv.id, cur.ta.value, cur.mode);
}

function scheduleSave() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(flush, 400);
}

// ---------- attaching to the text box ----------

// attach adds the tools to a composer just drawn by chat.js for
// conversation conv: box the footer, ta the text box, send its button,
// grow what resizes the box and enables the button; notesOnly (the AI
// is answering) offers Note alone. It fills in the conversation's draft.
export function attach({ box, ta, send, grow, conv, notesOnly = false }) {
  flush();
  closePicker();
  cur = { conv, ta, box, send, grow, mode: 'reply', contact: null, notesOnly };
  const modes = h('div.compose-modes', { role: 'group', 'aria-label': 'Reply to the customer or write an internal note' },
    h('button#mode-reply.compose-mode', { type: 'button', text: 'Reply', hidden: notesOnly, onclick: () => setMode('reply', true) }),
    h('button#mode-note.compose-mode', { type: 'button', text: 'Note', onclick: () => setMode('note', true) }),
    h('span#compose-mode-hint.muted.small'));
  const pickBtn = h('button#canned-open.icon-btn', {
    type: 'button', 'aria-label': 'Insert a canned reply', title: 'Canned replies (or type / at the start)', 'aria-haspopup': 'dialog',
    html: '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M4 4h16v12H8l-4 4z"/><path d="M8 8h8M8 12h5"/></svg>',
    onclick: () => openCannedPopover(),
  });
  ta.before(pickBtn);
  box.prepend(modes);
  box.append(h('ul#compose-picker.compose-picker', { role: 'listbox', hidden: true }),
    h('div#compose-picker-status.sr-only', { role: 'status' }));
  ta.setAttribute('aria-autocomplete', 'list');
  ta.setAttribute('aria-controls', 'compose-picker');
  ta.addEventListener('input', () => { scheduleSave(); detect(); typing(); });
  ta.addEventListener('click', detect);
  // Focus moving to another control closes the picker; the window
  // losing the focus (another tab, a screenshot) does not.
  ta.addEventListener('blur', (e) => { if (e.relatedTarget) closePicker(); });
  const d = loadDraft(conv.id);
  if (d) ta.value = d.text;
  setMode(notesOnly || (d && d.mode === 'note') ? 'note' : 'reply');
  grow();
}

// typing tells a web chat visitor that a person is typing a reply (at
// most every 3 s; nothing is stored, and notes are not replies).
let typedAt = 0;
function typing() {
  if (!cur || cur.conv.channel !== 'webchat' || cur.mode !== 'reply' || !cur.ta.value.trim()) return;
  const now = Date.now();
  if (now - typedAt < 3000) return;
  typedAt = now;
  post(`/conversations/${cur.conv.id}/typing`).catch(() => {});
}

// mode is the open composer's mode: 'reply' or 'note'.
export function mode() { return cur ? cur.mode : 'reply'; }

function setMode(m, focus = false) {
  if (!cur) return;
  if (cur.notesOnly) m = 'note';
  cur.mode = m;
  const note = m === 'note';
  cur.box.dataset.compose = m;
  cur.box.querySelector('#mode-reply').setAttribute('aria-pressed', String(!note));
  cur.box.querySelector('#mode-note').setAttribute('aria-pressed', String(note));
  cur.box.querySelector('#compose-mode-hint').textContent = note ? 'Internal note: only your team sees it' : '';
  cur.ta.placeholder = note ? 'Write an internal note, @mention a teammate' : 'Type a message, / for canned replies';
  cur.ta.setAttribute('aria-label', note ? 'Internal note' : 'Message');
  cur.send.setAttribute('aria-label', note ? 'Add note' : 'Send');
  cur.send.title = note ? 'Add the note (the customer does not see it)' : 'Send';
  scheduleSave();
  if (focus) cur.ta.focus();
}

// sent clears the draft of conversation conv (its text went out).
export function sent(conv) {
  clearTimeout(saveTimer);
  saveDraft(conv, '', 'reply');
}

// sendNote posts text as an internal note of conversation conv; the
// users it @mentions get note.mentioned. On failure the text comes back
// into the box if it is still empty.
export async function sendNote(conv, text) {
  try {
    await post(`/conversations/${conv}/notes`, { text });
    toast('Note added');
  } catch (err) {
    toast(`Could not add the note: ${err.message}`);
    if (cur && cur.conv.id === conv && !cur.ta.value) {
      cur.ta.value = text;
      cur.grow();
      scheduleSave();
    }
  }
}

// ---------- the picker under the text box (@mention and /canned) ----------

let picker = null; // {kind, items, active, start, end, pick}

const fold = (s) => String(s || '').normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

// handleOf is the @handle the server resolves to user u (gateway/notes.go
// mentioned): the local part of the email when a mention can spell it,
// else the words of the name joined by dots.
export function handleOf(u) {
  const local = String(u.email || '').split('@')[0];
  if (local && /^[\p{L}\p{N}\p{M}._-]+$/u.test(local) && !/[.-]$/.test(local)) return fold(local);
  return (fold(u.name).match(/[\p{L}\p{N}]+/gu) || []).join('.');
}

let detectSeq = 0; // the latest detect wins over an earlier one still loading

function detect() {
  if (!cur) return;
  detectSeq++;
  const ta = cur.ta;
  const caret = ta.selectionStart;
  if (caret !== ta.selectionEnd) { closePicker(); return; }
  const before = ta.value.slice(0, caret);
  const m = /(?:^|[^\p{L}\p{N}\p{M}])@([\p{L}\p{N}\p{M}._-]*)$/u.exec(before);
  if (m) { showMentions(m[1], caret - m[1].length - 1, caret); return; }
  if (/^\/\S*$/.test(before)) {
    const end = caret + (/^\S*/.exec(ta.value.slice(caret))[0].length);
    showCanned(before.slice(1), 0, end);
    return;
  }
  closePicker();
}

let usersAsked = false;

function showMentions(q, start, end) {
  const me = app.state.me || {};
  if (!(app.state.users || []).length && !usersAsked) { // the list boot asks for is not in yet
    usersAsked = true;
    get('/users').then((r) => { app.state.users = r.users || []; detect(); }).catch(() => {});
    return;
  }
  const fq = fold(q);
  const users = (app.state.users || []).filter((u) => u.id !== me.id && handleOf(u))
    .filter((u) => !fq || fold(u.name).split(/\s+/).some((w) => w.startsWith(fq)) || handleOf(u).startsWith(fq) || fold(u.email).startsWith(fq))
    .slice(0, 8);
  openPicker('mention', users, start, end, (u) => [u.name || u.email, `@${handleOf(u)}`], (u) => {
    insert(`@${handleOf(u)} `, start, end);
    setMode('note');
  }, 'Teammates to mention');
}

async function showCanned(q, start, end) {
  const seq = detectSeq;
  let replies;
  try { replies = await canned.list(); } catch (err) { toast(`Could not load canned replies: ${err.message}`); return; }
  if (!cur || seq !== detectSeq) return; // typed on meanwhile: that detect shows its own
  prefetchContact();
  const at = cur;
  openPicker('canned', canned.matching(replies, q).slice(0, 20), start, end, (r) => [`/${r.short_code}`, r.title], async (r) => {
    const text = await expanded(r);
    if (cur === at) insert(text, start, end); // not into another conversation's box
  }, 'Canned replies');
}

function openPicker(kind, items, start, end, label, onPick, name) {
  const ul = document.getElementById('compose-picker');
  if (!ul || !items.length) { closePicker(); return; }
  picker = { kind, items, active: 0, start, end, pick: onPick };
  ul.setAttribute('aria-label', name);
  ul.dataset.kind = kind;
  ul.replaceChildren(...items.map((it, i) => {
    const [main, sub] = label(it);
    return h('li.picker-option', {
      role: 'option', id: `cp-opt-${i}`, dataset: { i },
      onmousedown: (e) => e.preventDefault(), // keeps the focus in the text box
      onclick: () => choose(i),
    }, h('span.picker-main', { text: main }), h('span.picker-sub.muted', { text: sub }));
  }));
  ul.hidden = false;
  document.getElementById('compose-picker-status').textContent =
    `${items.length} ${kind === 'mention' ? (items.length === 1 ? 'teammate' : 'teammates') : (items.length === 1 ? 'canned reply' : 'canned replies')}: arrows to choose, Enter to insert, Escape to close`;
  highlight(0);
}

function highlight(i) {
  if (!picker) return;
  picker.active = (i + picker.items.length) % picker.items.length;
  const ul = document.getElementById('compose-picker');
  for (const li of ul.children) li.setAttribute('aria-selected', String(Number(li.dataset.i) === picker.active));
  const on = ul.children[picker.active];
  on.scrollIntoView({ block: 'nearest' });
  cur.ta.setAttribute('aria-activedescendant', on.id);
}

function choose(i) {
  if (!picker) return;
  const { items, pick } = picker;
  closePicker();
  pick(items[i]);
}

export function closePicker() {
  picker = null;
  const ul = document.getElementById('compose-picker');
  if (ul) { ul.hidden = true; ul.replaceChildren(); }
  if (cur) cur.ta.removeAttribute('aria-activedescendant');
}

// handleKey gives the picker the keys of the text box while it is open
// (arrows, Enter or Tab to insert, Escape to close); it reports whether
// it took the key, so that Enter does not also send.
export function handleKey(e) {
  if (!picker || e.isComposing) return false;
  switch (e.key) {
    case 'ArrowDown': highlight(picker.active + 1); break;
    case 'ArrowUp': highlight(picker.active - 1); break;
    case 'Enter': case 'Tab': choose(picker.active); break;
    case 'Escape': closePicker(); break;
    default: return false;
  }
  e.preventDefault();
  e.stopPropagation();
  return true;
}

// insert puts text in place of the box's start..end and leaves the
// caret after it.
function insert(text, start, end) {
  const ta = cur.ta;
  ta.focus();
  ta.setRangeText(text, start, end, 'end');
  cur.grow();
  scheduleSave();
}

// ---------- canned replies ----------

function prefetchContact() {
  const c = cur.conv;
  if (cur.contact || !c.contact_id) return;
  cur.contact = get(`/contacts/${c.contact_id}`).then((r) => r.profile || {}).catch(() => ({ name: c.contact_name || '' }));
}

// expanded is reply r's body with the variables of the open
// conversation's contact, the signed-in user and the workspace filled in.
async function expanded(r) {
  prefetchContact();
  const contact = cur.contact ? await cur.contact : { name: cur.conv.contact_name || '' };
  return canned.expand(r.body, canned.varsOf({ contact, agent: app.state.me, workspace: app.state.workspace }));
}

// openCannedPopover is the picker button's popup: a search box over the
// workspace's canned replies; the chosen one goes in at the caret.
async function openCannedPopover() {
  if (!cur) return;
  closePicker();
  const at = cur;
  const sel = [at.ta.selectionStart, at.ta.selectionEnd];
  let replies;
  try { replies = await canned.list(); } catch (err) { toast(`Could not load canned replies: ${err.message}`); return; }
  if (cur !== at) return;
  prefetchContact();
  document.getElementById('canned-popover')?.remove();
  const search = h('input#canned-search', {
    type: 'search', role: 'combobox', 'aria-expanded': 'true', 'aria-controls': 'canned-list', 'aria-autocomplete': 'list',
    'aria-label': 'Search canned replies', placeholder: 'Search by short code or title', autocomplete: 'off',
  });
  const ul = h('ul#canned-list.compose-picker-list', { role: 'listbox', 'aria-label': 'Canned replies' });
  const empty = h('p.muted.small.canned-empty', { role: 'status' });
  const pop = h('div#canned-popover.canned-popover', { role: 'dialog', 'aria-label': 'Insert a canned reply' },
    search, ul, empty);
  let shown = [], active = 0;
  const close = (refocus = true) => {
    pop.remove();
    document.removeEventListener('mousedown', outside, true);
    if (refocus && cur === at) at.ta.focus();
  };
  const outside = (e) => { if (!pop.contains(e.target) && e.target.id !== 'canned-open') close(false); };
  const pick = async (i) => {
    const r = shown[i];
    if (!r) return;
    close();
    if (cur !== at) return;
    const text = await expanded(r);
    if (cur === at) insert(text, sel[0], sel[1]);
  };
  const mark = (i) => {
    active = shown.length ? (i + shown.length) % shown.length : 0;
    for (const li of ul.children) li.setAttribute('aria-selected', String(Number(li.dataset.i) === active));
    if (ul.children[active]) {
      search.setAttribute('aria-activedescendant', ul.children[active].id);
      ul.children[active].scrollIntoView({ block: 'nearest' });
    } else search.removeAttribute('aria-activedescendant');
  };
  const render = () => {
    shown = canned.matching(replies, search.value.trim().replace(/^\//, ''));
    ul.replaceChildren(...shown.map((r, i) => h('li.picker-option', {
      role: 'option', id: `cr-opt-${i}`, dataset: { i, code: r.short_code }, onclick: () => pick(i),
    }, h('span.picker-main', { text: `/${r.short_code}` }), h('span.picker-sub.muted', { text: r.title }))));
    empty.textContent = replies.length === 0 ? 'No canned replies yet: owners and admins add them in Settings › Canned replies'
      : shown.length === 0 ? 'No canned reply matches' : '';
    mark(0);
  };
  search.addEventListener('input', render);
  // Tabbing out of the popup closes it.
  pop.addEventListener('focusout', (e) => { if (e.relatedTarget && !pop.contains(e.relatedTarget)) close(false); });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') mark(active + 1);
    else if (e.key === 'ArrowUp') mark(active - 1);
    else if (e.key === 'Enter') pick(active);
    else if (e.key === 'Escape') close();
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  at.box.append(pop);
  document.addEventListener('mousedown', outside, true);
  render();
  search.focus();
}
