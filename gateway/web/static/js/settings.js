// The Settings view: a frame with a nav of sections and the hash routes
// #settings/<section>. Screens register themselves with registerSection
// (settings_channels.js, settings_team.js, ...); a section lists only
// for the roles it names. ctx gives each section { api, me }: api is the
// api.js helpers (ctx.api.get(path), ctx.api.post(path, body),
// ctx.api.api(method, path, body), ctx.api.ApiError; ctx.api(method,
// path, body) works too), me the signed-in user with their role.
import * as apiModule from './api.js';
import { h, $, toast } from './util.js';

const sections = [];
const apiCtx = Object.assign((method, path, body, opts) => apiModule.api(method, path, body, opts), apiModule);
let me = null;
let shown = ''; // the id of the section shown, '' when the frame is closed
let renderGen = 0;

const gear = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><circle cx="12" cy="12" r="3"/><path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"/></svg>';

// registerSection adds a section to the frame: { id, title, roles?,
// order?, render(container, ctx) }. roles (owner, admin, agent) limits
// who sees it; none means everyone.
export function registerSection(s) {
  const i = sections.findIndex((x) => x.id === s.id);
  if (i >= 0) sections.splice(i, 1, s);
  else sections.push(s);
  sections.sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
  if (shown) renderNav();
}

function visible() {
  const role = me && me.role;
  return sections.filter((s) => !s.roles || s.roles.includes(role));
}

// route reads the address: #settings or #settings/<id>.
function route() {
  const m = /^#settings(?:\/([\w-]+))?/.exec(location.hash);
  return m ? (m[1] || '') : null;
}

// init hooks the frame to the signed-in user (after /me): the header's
// gear opens it, and an address #settings/... shows it at once.
export function init(user) {
  me = user;
  // A new sign-in (another user, maybe) renders its sections afresh.
  shown = '';
  const main = $('#settings-main');
  if (main) main.replaceChildren();
  const btn = $('#open-settings');
  if (btn && !btn.dataset.ready) {
    btn.dataset.ready = 'true';
    btn.innerHTML = gear;
    // A history entry of its own: Back (a phone's) returns to the inbox
    // as it was, the chat open or not.
    btn.addEventListener('click', () => {
      if (route() !== null) return;
      history.pushState({ settings: true }, '', '#settings');
      apply();
    });
  }
  apply();
}

// close hides the frame (the app signs out, or goes back to the inbox).
export function close() {
  shown = '';
  document.body.classList.remove('view-settings');
  const root = $('#settings');
  if (root) root.hidden = true;
}

function apply() {
  const id = route();
  if (id === null || !me) { if (shown) close(); return; }
  const list = visible();
  const s = list.find((x) => x.id === id) || list[0];
  if (!s) { toast('No settings for your role'); return; }
  if (s.id !== id) history.replaceState(history.state, '', `#settings/${s.id}`);
  show(s);
}

// go shows section id in place of the one shown: the sections share one
// history entry, so that Back leaves Settings.
function go(id) {
  history.replaceState(history.state, '', `#settings/${id}`);
  apply();
}

function renderNav() {
  const list = visible();
  const nav = $('#settings-nav');
  nav.replaceChildren(...list.map((s) => h('a.settings-link', {
    href: `#settings/${s.id}`, dataset: { section: s.id }, 'aria-current': s.id === shown ? 'page' : null, text: s.title,
    onclick: (e) => { e.preventDefault(); go(s.id); },
  })));
  const sel = $('#settings-select');
  sel.replaceChildren(...list.map((s) => h('option', { value: s.id, text: s.title, selected: s.id === shown })));
}

function frame() {
  let root = $('#settings');
  if (root.firstChild) return root;
  const sel = h('select#settings-select', { 'aria-label': 'Settings section', onchange: (e) => go(e.target.value) });
  root.append(
    h('div.settings-head', null,
      h('button#settings-back.ghost.small', { type: 'button', 'aria-label': 'Back to the inbox', onclick: back }, '← Inbox'),
      h('h1', { text: 'Settings' }), sel),
    h('div.settings-body', null,
      h('nav#settings-nav.settings-nav', { 'aria-label': 'Settings sections' }),
      h('section#settings-main.settings-main', { 'aria-label': 'Settings section' })));
  return root;
}

// back returns to the inbox: to the entry the gear left (the list, or
// the chat that was open), else (Settings opened by its address) to an
// address without #settings.
function back() {
  if (history.state && history.state.settings) { history.back(); return; }
  history.replaceState(null, '', location.pathname + location.search);
  close();
}

async function show(s) {
  const root = frame();
  root.hidden = false;
  document.body.classList.add('view-settings');
  const same = shown === s.id;
  shown = s.id;
  renderNav();
  if (same && $('#settings-main').dataset.section === s.id && $('#settings-main').firstChild) return;
  const gen = ++renderGen;
  const main = $('#settings-main');
  main.dataset.section = s.id;
  const box = h('div.settings-section', { dataset: { section: s.id } }, h('h2', { text: s.title }));
  main.replaceChildren(box);
  try {
    await s.render(box, { api: apiCtx, me });
  } catch (err) {
    if (gen === renderGen) box.append(h('p.error', { role: 'alert', text: `Could not load: ${err.message}` }));
  }
}

window.addEventListener('hashchange', apply);

// copyBox is a read-only field showing value with a Copy button (the
// clipboard API, else the selection and the copy command).
export function copyBox(label, value, name = '') {
  const input = h('input.copy-value', { type: 'text', readonly: true, value, 'aria-label': label, dataset: { copy: name } });
  const btn = h('button.ghost.small.copy-btn', { type: 'button', 'aria-label': `Copy ${label}`, text: 'Copy' });
  btn.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(input.value);
      ok = true;
    } catch {
      input.focus();
      input.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    btn.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    btn.dataset.copied = String(ok);
    setTimeout(() => { btn.textContent = 'Copy'; }, 2000);
  });
  return h('div.copy-box', null, input, btn);
}

// field is a labelled control.
export function field(label, control, hint = '') {
  return h('label.field', null, h('span.field-label', { text: label }), control, hint ? h('span.muted.small', { text: hint }) : null);
}
