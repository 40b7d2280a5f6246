// The Settings view: screens register themselves as sections with
// registerSection, and #settings/<id> shows one beside a nav of the
// sections the signed-in user's role may open.
import { h, $ } from './util.js';
import * as api from './api.js';

const sections = [];
let ctx = null;
let shown = '';

// registerSection adds a section: { id, title, roles, render(container, ctx) }.
// roles lists the roles that may open it (all when absent).
export function registerSection(s) {
  sections.push(s);
  if (ctx) route();
}

// startSettings is called once the user is signed in (ctx.me has the role).
export function startSettings(me) {
  ctx = { api, me };
  shown = '';
  route();
}

function allowed(s) {
  return ctx && (!s.roles || s.roles.includes(ctx.me.role));
}

function view() {
  let v = $('#settings-view');
  if (!v) {
    v = h('section#settings-view.settings', { hidden: true, 'aria-label': 'Settings' },
      h('nav#settings-nav.settings-nav', { 'aria-label': 'Settings sections' }),
      h('div#settings-body.settings-body'));
    $('#app').append(v);
  }
  return v;
}

async function route() {
  const m = /^#settings(?:\/([\w-]+))?$/.exec(location.hash);
  const v = view();
  const panes = $('#app > main.panes');
  if (!m || !ctx) {
    v.hidden = true;
    panes.hidden = false;
    document.body.classList.remove('view-settings');
    for (const a of document.querySelectorAll('.topbar-right a.top-link')) a.removeAttribute('aria-current');
    shown = '';
    return;
  }
  const mine = sections.filter(allowed);
  const s = mine.find((x) => x.id === m[1]) || mine[0];
  v.hidden = false;
  panes.hidden = true;
  document.body.classList.add('view-settings');
  $('#settings-nav').replaceChildren(
    h('a.settings-back', { href: '#', text: '← Inbox' }),
    ...mine.map((x) => h('a.settings-link', { href: `#settings/${x.id}`, text: x.title, 'aria-current': x === s ? 'page' : false })));
  // The header's link to this section is current (the Settings one for
  // a section with no link of its own).
  const links = [...document.querySelectorAll('.topbar-right a.top-link')];
  const own = links.find((a) => s && a.getAttribute('href') === `#settings/${s.id}`);
  for (const a of links) a.toggleAttribute('aria-current', false);
  (own || $('#open-settings')).setAttribute('aria-current', 'page');
  const body = $('#settings-body');
  if (!s) { body.replaceChildren(h('p.muted', { text: 'Nothing to set here.' })); return; }
  if (shown === s.id) return;
  shown = s.id;
  const box = h('div.settings-section', { dataset: { section: s.id } }, h('h1', { text: s.title }));
  body.replaceChildren(box);
  try {
    await s.render(box, ctx);
  } catch (err) {
    box.append(h('p.error', { role: 'alert', text: err.message }));
  }
}

window.addEventListener('hashchange', route);

// The header links here.
const gear = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><circle cx="12" cy="12" r="3"/><path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"/></svg>';
$('.topbar-right').prepend(h('a#open-settings.top-link', { href: '#settings', 'aria-label': 'Settings', title: 'Settings' },
  h('span.top-icon', { html: gear }), h('span.top-label', { text: 'Settings' })));
