// The settings frame, minimal (the full frame is the settings screens'):
// sections register themselves and #settings/<id> shows one, with a nav
// of the sections the signed-in user's role may see and a way back to
// the inbox. Its exports are the full frame's: registerSection, init,
// close, copyBox, field.
import * as apiHelpers from './api.js';
import { h } from './util.js';

const sections = [];
let me = null;

// registerSection adds a section: { id, title, roles, render(container, ctx) }
// where ctx is { api, me }; the container holds the section's title.
export function registerSection(s) {
  sections.push(s);
  if (me) route();
}

// init shows the section the address names, once the user is known
// (after /me).
export function init(user) {
  me = user;
  route();
}

// close hides the frame.
export function close() {
  const view = document.getElementById('settings');
  if (view) view.hidden = true;
  document.body.classList.remove('view-settings');
}

const allowed = (s) => !s.roles || s.roles.includes(me.role);

function route() {
  const m = /^#settings\/([\w-]+)/.exec(location.hash);
  if (!m || !me) { close(); return; }
  let view = document.getElementById('settings');
  if (!view) {
    view = h('section#settings.settings', { 'aria-label': 'Settings' });
    document.getElementById('app').append(view);
  }
  const list = sections.filter(allowed);
  const s = list.find((x) => x.id === m[1]) || list[0];
  const box = h('div.settings-section', { dataset: { section: s ? s.id : '' } }, s ? h('h2', { text: s.title }) : null);
  view.replaceChildren(
    h('nav#settings-nav.settings-nav', { 'aria-label': 'Settings sections' },
      h('a.settings-link', { href: '#', text: '← Inbox' }),
      ...list.map((x) => h('a.settings-link', { href: `#settings/${x.id}`, text: x.title, 'aria-current': x === s ? 'page' : null }))),
    h('section#settings-main.settings-main', { 'aria-label': 'Settings section' }, box));
  view.hidden = false;
  document.body.classList.add('view-settings');
  if (s) s.render(box, { api: apiHelpers, me });
}

window.addEventListener('hashchange', route);

// copyBox is a read-only field showing value with a Copy button.
export function copyBox(label, value, name = '') {
  const input = h('input.copy-value', { type: 'text', readonly: true, value, 'aria-label': label, dataset: { copy: name } });
  const btn = h('button.ghost.small.copy-btn', { type: 'button', 'aria-label': `Copy ${label}`, text: 'Copy' });
  btn.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(input.value); btn.textContent = 'Copied'; } catch { input.select(); }
  });
  return h('div.copy-box', null, input, btn);
}

// field is a labelled control.
export function field(label, control, hint = '') {
  return h('label.field', null, h('span.field-label', { text: label }), control, hint ? h('span.muted.small', { text: hint }) : null);
}
