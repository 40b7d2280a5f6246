// The settings frame, minimal: sections register themselves and
// #settings/<id> shows one, with a nav of the sections the signed-in
// user's role may see and a way back to the inbox.
import * as apiHelpers from './api.js';
import { h } from './util.js';

const sections = [];
let me = null;

// registerSection adds a section: { id, title, roles, render(container, ctx) }
// where ctx is { api, me }.
export function registerSection(s) {
  sections.push(s);
  if (me) route();
}

// start shows the section the address names, once the user is known.
export function start(user) {
  me = user;
  route();
}

const allowed = (s) => !s.roles || s.roles.includes(me.role);

function route() {
  const m = /^#settings\/([\w-]+)/.exec(location.hash);
  let view = document.getElementById('settings');
  if (!m || !me) {
    if (view) view.hidden = true;
    document.body.classList.remove('view-settings');
    return;
  }
  if (!view) {
    view = h('section#settings.settings', { 'aria-label': 'Settings' });
    document.getElementById('app').append(view);
  }
  const list = sections.filter(allowed);
  const s = list.find((x) => x.id === m[1]) || list[0];
  const body = h('div.settings-body');
  view.replaceChildren(
    h('nav.settings-nav', { 'aria-label': 'Settings sections' },
      h('a.settings-back', { href: '#', text: '← Inbox' }),
      ...list.map((x) => h('a', { href: `#settings/${x.id}`, text: x.title, 'aria-current': x === s ? 'page' : null }))),
    body);
  view.hidden = false;
  document.body.classList.add('view-settings');
  if (s) s.render(body, { api: apiHelpers, me });
}

window.addEventListener('hashchange', route);
