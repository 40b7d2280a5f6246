// Settings → Team: the workspace's users and roles, invitations (a link
// the invitee opens: #invite/<code>, see invite.js), role changes
// (owners) and removal (owners and admins); Settings → API tokens: the
// caller's personal tokens, created (the secret shown once) and revoked.
// What the API would refuse a role is not offered to it.
import { registerSection, copyBox, field } from './settings.js';
import { h, toast, confirmDialog } from './util.js';
import { planLimitNote } from './settings_plan.js';

const ROLES = [['owner', 'Owner'], ['admin', 'Admin'], ['agent', 'Agent']];
const roleName = (r) => (ROLES.find(([v]) => v === r) || [r, r])[1];
const fmtDate = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });
const date = (t) => (t ? fmtDate.format(new Date(t)) : '');

registerSection({
  id: 'team', title: 'Team', order: 20,
  render: async (box, ctx) => {
    const list = h('div.settings-card#team-users');
    box.append(list);
    if (ctx.me.role === 'owner' || ctx.me.role === 'admin') box.append(inviteForm(ctx));
    await loadUsers(ctx, list);
  },
});

registerSection({
  id: 'tokens', title: 'API tokens', order: 30,
  render: async (box, ctx) => {
    const list = h('div.settings-card#token-list');
    box.append(h('p.muted', { text: 'Personal API tokens let scripts act as you, with your role. The secret is shown once, when it is created.' }),
      tokenForm(ctx, () => loadTokens(ctx, list)), list);
    await loadTokens(ctx, list);
  },
});

async function loadUsers(ctx, list) {
  const users = (await ctx.api.get('/users')).users || [];
  const owners = users.filter((u) => u.role === 'owner').length;
  const rows = users.map((u) => {
    const self = u.id === ctx.me.id;
    // Only an owner changes roles; the last owner stays one.
    const roleCell = ctx.me.role === 'owner' && !(u.role === 'owner' && owners <= 1)
      ? h('select.user-role', { 'aria-label': `Role of ${u.name || u.email}`, onchange: (e) => setRole(ctx, u, e.target, list) },
        ...ROLES.map(([v, t]) => h('option', { value: v, text: t, selected: u.role === v })))
      : h('span.role-badge', { text: roleName(u.role) });
    // Owners and admins remove others; only an owner removes an owner,
    // never the last; nobody removes themselves here.
    const canRemove = !self && (ctx.me.role === 'owner' || (ctx.me.role === 'admin' && u.role !== 'owner')) && !(u.role === 'owner' && owners <= 1);
    return h('tr.user', { dataset: { id: u.id, email: u.email || '' } },
      h('td', null, h('div.user-name', { text: u.name || u.email || 'API' }), self ? h('span.muted.small', { text: ' (you)' }) : null),
      h('td.user-email', { text: u.email || '' }),
      h('td', null, roleCell),
      h('td.row-actions', null, canRemove ? h('button.ghost.small.danger-text', {
        type: 'button', dataset: { act: 'remove' }, 'aria-label': `Remove ${u.name || u.email}`, text: 'Remove', onclick: () => remove(ctx, u, list),
      }) : null));
  });
  list.replaceChildren(h('h3', { text: `Users (${users.length})` }),
    h('div.table-wrap', null, h('table.settings-table', null,
      h('thead', null, h('tr', null, h('th', { text: 'Name' }), h('th', { text: 'Email' }), h('th', { text: 'Role' }), h('th', null, h('span.sr-only', { text: 'Actions' })))),
      h('tbody', null, ...rows))));
}

async function setRole(ctx, u, sel, list) {
  if (u.id === ctx.me.id && !await confirmDialog(`Make yourself ${roleName(sel.value)}? You lose the owner's rights at once.`, 'Change my role', true)) {
    sel.value = u.role;
    return;
  }
  try {
    await ctx.api.api('PATCH', `/users/${u.id}`, { role: sel.value });
    toast(`${u.name || u.email} is now ${roleName(sel.value)}`);
  } catch (ex) { toast(`Could not change the role: ${ex.message}`); }
  await loadUsers(ctx, list);
}

async function remove(ctx, u, list) {
  if (!await confirmDialog(`Remove ${u.name || u.email} from the workspace? They are signed out and their API tokens stop working.`, 'Remove', true)) return;
  try {
    await ctx.api.api('DELETE', `/users/${u.id}`);
    toast(`${u.name || u.email} removed`);
  } catch (ex) { toast(`Could not remove: ${ex.message}`); }
  await loadUsers(ctx, list);
}

function inviteForm(ctx) {
  const email = h('input#invite-email', { type: 'email', required: true, autocomplete: 'off', placeholder: 'name@example.com' });
  // Admins invite admins and agents; owners anyone.
  const role = h('select#invite-role', { 'aria-label': 'Role' },
    ...ROLES.filter(([v]) => v !== 'owner' || ctx.me.role === 'owner').map(([v, t]) => h('option', { value: v, text: t, selected: v === 'agent' })));
  const err = h('p.error', { role: 'alert' });
  const out = h('div#invite-result');
  const form = h('form.settings-card.settings-form#invite-form', { 'aria-label': 'Invite a teammate' },
    h('h3', { text: 'Invite a teammate' }), field('Email', email), field('Role', role), err,
    h('div', null, h('button.primary#invite-submit', { type: 'submit', text: 'Create invitation' })), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    out.replaceChildren();
    try {
      const r = await ctx.api.post('/users/invitations', { email: email.value.trim(), role: role.value });
      const link = `${location.origin}/#invite/${encodeURIComponent(r.code)}`;
      out.replaceChildren(h('p', { text: `Send this link to ${r.email} (${roleName(r.role)}); it works once, until ${date(r.expires_at)}:` }),
        copyBox('Invitation link', link, 'invite-link'));
      email.value = '';
    } catch (ex) { err.replaceChildren(...planLimitNote(ex)); }
  });
  return form;
}

async function loadTokens(ctx, list) {
  const toks = ((await ctx.api.get('/tokens')).tokens || []).filter((t) => t.kind !== 'session');
  list.replaceChildren(h('h3', { text: 'Your API tokens' }), toks.length
    ? h('div.table-wrap', null, h('table.settings-table', null,
      h('thead', null, h('tr', null, h('th', { text: 'Name' }), h('th', { text: 'Role' }), h('th', { text: 'Created' }), h('th', { text: 'Expires' }), h('th', null, h('span.sr-only', { text: 'Actions' })))),
      h('tbody', null, ...toks.map((t) => h('tr.token', { dataset: { id: t.id } },
        h('td.token-name', { text: t.name }), h('td', { text: roleName(t.role) }), h('td', { text: date(t.created_at) }), h('td', { text: date(t.expires_at) || 'Never' }),
        h('td.row-actions', null, h('button.ghost.small.danger-text', {
          type: 'button', dataset: { act: 'revoke' }, 'aria-label': `Revoke ${t.name}`, text: 'Revoke',
          onclick: async () => {
            if (!await confirmDialog(`Revoke the token ${t.name}? Scripts using it stop working.`, 'Revoke', true)) return;
            try { await ctx.api.api('DELETE', `/tokens/${t.id}`); toast('Token revoked'); } catch (ex) { toast(`Could not revoke: ${ex.message}`); }
            await loadTokens(ctx, list);
          },
        }))))))) : h('p.muted#no-tokens', { text: 'No API token yet.' }));
}

function tokenForm(ctx, reload) {
  const name = h('input#token-name', { required: true, autocomplete: 'off', placeholder: 'CRM sync' });
  const expires = h('input#token-expires', { type: 'date' });
  const err = h('p.error', { role: 'alert' });
  const out = h('div#token-result');
  const form = h('form.settings-card.settings-form#token-form', { 'aria-label': 'Create an API token' },
    h('h3', { text: 'Create a token' }), field('Name', name), field('Expires (optional)', expires), err,
    h('div', null, h('button.primary#token-submit', { type: 'submit', text: 'Create token' })), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    out.replaceChildren();
    const body = { name: name.value.trim() };
    if (expires.value) body.expires_at = new Date(`${expires.value}T23:59:59`).toISOString();
    try {
      const r = await ctx.api.post('/tokens', body);
      out.replaceChildren(h('p', { text: 'Copy the secret now: it is not shown again.' }), copyBox('New token secret', r.token, 'token-secret'));
      form.querySelector('#token-name').value = '';
      expires.value = '';
      await reload();
    } catch (ex) { err.textContent = ex.message; }
  });
  return form;
}
