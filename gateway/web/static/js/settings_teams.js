// Settings › Teams: the workspace's teams (/teams), their members with
// each one's presence, and how a team hands out the conversations
// assigned to it (round robin, least loaded or manual). Owners and
// admins add, edit and delete teams; everyone sees them, and sets
// themselves away or back online here (POST /presence).
import { registerSection, field } from './settings.js';
import { h, toast, confirmDialog } from './util.js';
import { loadTeams, presenceDot, presenceOf, setUsersPresence } from './teams.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';

const MODES = [
  ['round_robin', 'Round robin', 'Each new conversation goes to the next available member in turn.'],
  ['least_loaded', 'Least loaded', 'Each new conversation goes to the available member with the fewest open conversations.'],
  ['manual', 'Manual', 'Conversations wait in the team until someone takes them.'],
];
const modeName = (m) => (MODES.find(([v]) => v === m) || [m, m])[1];

registerSection({
  id: 'teams', title: 'Teams', order: 25,
  render: async (box, ctx) => {
    const users = (await ctx.api.get('/users')).users || [];
    setUsersPresence(users);
    const list = h('div.settings-card#team-list');
    box.append(h('p.muted', {
      text: 'Assign a conversation to a team and the team picks a member: among those online, else those away; '
        + 'when nobody is available the conversation waits in the team. Filter the inbox by "Assigned to my team".',
    }), availability(ctx));
    if (manages(ctx.me)) box.append(teamForm(ctx, users, null, () => load(ctx, users, list)));
    box.append(list);
    await load(ctx, users, list);
  },
});

// availability lets the person set themselves away or back online.
function availability(ctx) {
  const status = h('span.muted.small#presence-status');
  const show = (s) => { status.replaceChildren(presenceDot(ctx.me.id), ` You are ${s}`); };
  show(presenceOf(ctx.me.id));
  const set = (state) => async () => {
    try {
      const r = await ctx.api.post('/presence', { state });
      show(r.state);
      toast(state === 'away' ? 'You are away' : 'You are back online');
    } catch (err) { toast(err.message); }
  };
  return h('div.settings-card.team-availability', null, h('h3', { text: 'Your availability' }),
    h('div.row', null, status,
      h('button.ghost.small#presence-away', { type: 'button', text: 'Set me away', onclick: set('away') }),
      h('button.ghost.small#presence-online', { type: 'button', text: 'I\'m back', onclick: set('online') })));
}

async function load(ctx, users, list) {
  const teams = (await ctx.api.get('/teams')).teams || [];
  loadTeams();
  const nameOf = (id) => { const u = users.find((x) => x.id === id); return u ? (u.name || u.email) : 'A removed user'; };
  const rows = teams.map((t) => h('li.team-row', { dataset: { id: t.id } },
    h('div.team-head', null, h('strong.team-name', { text: t.name }), h('span.tag.team-mode', { text: modeName(t.distribution) }),
      manages(ctx.me) ? h('span.row-actions', null,
        h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, text: 'Edit', 'aria-label': `Edit ${t.name}`, onclick: (e) => edit(ctx, users, t, e.target.closest('li'), list) }),
        h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete ${t.name}`, onclick: () => remove(ctx, users, t, list) })) : null),
    t.members.length ? h('ul.team-members', null, ...t.members.map((m) => h('li', { dataset: { user: m } }, presenceDot(m), ` ${nameOf(m)}`)))
      : h('p.muted.small', { text: 'No members yet.' })));
  list.replaceChildren(h('h3', { text: `Teams (${teams.length})` }),
    teams.length ? h('ul.team-list', null, ...rows)
      : h('p.muted', { text: manages(ctx.me) ? 'None yet: add the first above.' : 'None yet: an owner or admin adds them here.' }));
}

// teamForm creates a team (t null) or edits t; done runs after a save.
function teamForm(ctx, users, t, done, cancel) {
  const sfx = t ? `-${t.id}` : '';
  const name = h(`input#team-name${sfx}`, { type: 'text', required: true, maxlength: '80', autocomplete: 'off', value: t ? t.name : '' });
  const mode = h(`select#team-distribution${sfx}`, null,
    ...MODES.map(([v, label, hint]) => h('option', { value: v, text: label, title: hint, selected: (t ? t.distribution : 'round_robin') === v })));
  const members = h('fieldset.team-member-picks', null, h('legend', { text: 'Members' }),
    ...users.map((u) => h('label.check', null,
      h('input', { type: 'checkbox', name: 'member', value: u.id, checked: !!t && t.members.includes(u.id) }),
      presenceDot(u.id), ` ${u.name || u.email}`)));
  const status = h('p.error.team-error', { role: 'alert' });
  const form = h('form.settings-card.team-form', { 'aria-label': t ? `Edit ${t.name}` : 'New team' },
    h('h3', { text: t ? `Edit ${t.name}` : 'New team' }),
    field('Name', name),
    field('Distribution', mode, 'How a conversation assigned to the team reaches a member'),
    members,
    h('div.canned-actions', null,
      h('button.primary', { type: 'submit', text: t ? 'Save' : 'Add team' }),
      cancel ? h('button.ghost', { type: 'button', text: 'Cancel', onclick: cancel }) : null),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const payload = { name: name.value, distribution: mode.value,
      members: [...form.querySelectorAll('input[name=member]:checked')].map((x) => x.value) };
    try {
      if (t) await ctx.api.api('PATCH', `/teams/${t.id}`, payload);
      else await ctx.api.post('/teams', payload);
      if (!t) { name.value = ''; for (const x of form.querySelectorAll('input[name=member]')) x.checked = false; }
      toast(t ? 'Team saved' : 'Team added');
      await done();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  return form;
}

function edit(ctx, users, t, li, list) {
  const form = teamForm(ctx, users, t, () => load(ctx, users, list), () => load(ctx, users, list));
  li.replaceChildren(form);
  form.querySelector('input').focus();
}

async function remove(ctx, users, t, list) {
  if (!await confirmDialog(`Delete the team ${t.name}? Its conversations keep their assignees.`, 'Delete', true)) return;
  try {
    await ctx.api.api('DELETE', `/teams/${t.id}`);
    toast('Team deleted');
  } catch (err) { toast(err.message); }
  await load(ctx, users, list);
}
