// Settings › Sign-in and security: the signed-in user's sessions and API
// tokens (created, last used, device) with sign-out for each and
// everywhere else; and, for owners and admins, a teammate's password: set
// a new one, or make a one-time reset link to send them.
import { api, get } from './api.js';
import { h, toast } from './util.js';
import { registerSection, copyBox, field } from './settings.js';

const fmtDate = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });
const when = (t) => (t ? fmtDate.format(new Date(t)) : 'not yet');

// device names a browser and system from a User-Agent ("Chrome on Linux").
export function device(ua) {
  if (!ua) return '';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox'
    : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : '';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  if (browser && os) return `${browser} on ${os}`;
  return browser || os || ua.slice(0, 60);
}

async function renderSessions(box) {
  const r = await get('/auth/sessions');
  const rows = (r.sessions || []).map((s) => {
    const name = s.kind === 'session' ? device(s.device) || 'Browser session' : `API token “${s.name}”`;
    const end = s.current ? h('span.security-current', { text: 'This browser' })
      : h('button.ghost.small', {
        type: 'button', text: s.kind === 'session' ? 'Sign out' : 'Revoke', 'aria-label': `${s.kind === 'session' ? 'Sign out' : 'Revoke'} ${name}`,
        onclick: async () => {
          try { await api('DELETE', `/tokens/${s.id}`); } catch (err) { toast(err.message); }
          renderSessions(box);
        },
      });
    return h('li.security-session', { dataset: { id: s.id, kind: s.kind, current: String(s.current) } },
      h('div.security-session-main', null, h('div.security-session-name', { text: name }),
        h('div.muted.small', { text: `Signed in ${when(s.created_at)} · last used ${when(s.last_used_at)}` })),
      end);
  });
  box.replaceChildren(...rows);
}

function sessionsBlock() {
  const list = h('ul#sessions.security-sessions', { 'aria-label': 'Your sessions' });
  const status = h('p#logout-all-status.muted', { role: 'status' });
  const all = h('button#logout-all.primary.danger', {
    type: 'button', text: 'Sign out everywhere else',
    onclick: async () => {
      all.disabled = true;
      try {
        const r = await api('POST', '/auth/logout-all', { include_current: false });
        status.textContent = r.revoked === 1 ? 'Signed out of 1 other session' : `Signed out of ${r.revoked} other sessions`;
        await renderSessions(list);
      } catch (err) { status.textContent = err.message; }
      all.disabled = false;
    },
  });
  renderSessions(list).catch((err) => { status.textContent = err.message; });
  return h('div.settings-card.security-card', { role: 'group', 'aria-labelledby': 'sessions-title' },
    h('h3#sessions-title', { text: 'Your sessions' }),
    h('p.muted', { text: 'Where you are signed in, and your API tokens. Signing out everywhere else keeps this browser and your API tokens.' }),
    list, all, status);
}

function resetBlock(me) {
  const pick = h('select#reset-user');
  const pass = h('input#reset-pass', { type: 'password', autocomplete: 'new-password', minlength: '8' });
  const status = h('p#reset-status.muted', { role: 'status' });
  const linkRow = h('div#reset-link-box');
  get('/users').then((r) => {
    const users = (r.users || []).filter((u) => u.id !== me.id && u.email && (me.role === 'owner' || u.role !== 'owner'));
    pick.replaceChildren(...users.map((u) => h('option', { value: u.id, text: `${u.name || u.email} (${u.email}, ${u.role})` })));
  }).catch((err) => { status.textContent = err.message; });
  const setPass = h('button#reset-set.primary', {
    type: 'button', text: 'Set password',
    onclick: async () => {
      try {
        await api('PUT', `/users/${pick.value}/password`, { password: pass.value });
        pass.value = '';
        status.textContent = 'Password set: their sessions were signed out';
      } catch (err) { status.textContent = err.message; }
    },
  });
  const makeLink = h('button#reset-link.ghost', {
    type: 'button', text: 'Create a reset link',
    onclick: async () => {
      try {
        const r = await api('POST', `/users/${pick.value}/password-reset`);
        linkRow.replaceChildren(copyBox('Reset link', `${location.origin}/#reset/${r.code}`, 'reset-link'));
        status.textContent = `Send this link to them: it works once, until ${when(r.expires_at)}`;
      } catch (err) { status.textContent = err.message; }
    },
  });
  return h('div.settings-card.security-card', { role: 'group', 'aria-labelledby': 'reset-title' },
    h('h3#reset-title', { text: 'Reset a teammate’s password' }),
    field('Teammate', pick), field('New password', pass),
    h('div.security-actions', null, setPass, makeLink),
    linkRow, status);
}

registerSection({
  id: 'security',
  title: 'Sign-in and security',
  roles: ['owner', 'admin', 'agent'],
  render: async (container, ctx) => {
    container.append(sessionsBlock());
    if (ctx.me.role === 'owner' || ctx.me.role === 'admin') container.append(resetBlock(ctx.me));
  },
});
