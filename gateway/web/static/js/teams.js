// Teams and presence as the inbox shows them: the workspace's teams
// (GET /teams) for the Team filter of the list, the team picker of the
// contact panel and the team tag of the chat header; the users'
// presence (online, away, offline: GET /users, then presence.changed
// events) as a dot beside their names; and this tab's own presence,
// reported over the realtime connection ({type: presence}): active
// when it connects and, at most once a minute, when the person uses
// the app. The server makes a user away after minutes without activity
// and offline once no tab of theirs is connected. Settings › Teams
// (settings_teams.js) edits the teams and calls loadTeams after each
// change.
import { get, api } from './api.js';
import { h } from './util.js';

let list = []; // [{id, name, members, distribution, presence}]
const listeners = new Set();
const presence = new Map(); // user id → online | away | offline

// teams returns the teams last loaded.
export const teams = () => list;

// teamName is the name of team id ('' when unknown or deleted).
export function teamName(id) {
  const t = list.find((x) => x.id === id);
  return t ? t.name : '';
}

// onTeamsChange calls f after each load that changed the list.
export function onTeamsChange(f) { listeners.add(f); }
const changed = () => { for (const f of listeners) f(); };

// loadTeams reads the teams; listeners hear of a change.
export async function loadTeams() {
  try {
    const r = await get('/teams');
    const next = r.teams || [];
    for (const t of next) for (const [u, s] of Object.entries(t.presence || {})) presence.set(u, s);
    if (JSON.stringify(next) === JSON.stringify(list)) return;
    list = next;
    changed();
  } catch { /* the inbox keeps what it showed */ }
}

// setPresence records the users' presence from GET /users.
export function setUsersPresence(users) {
  for (const u of users || []) if (u.presence) presence.set(u.id, u.presence);
}

// presenceOf is user id's state (offline when unknown).
export const presenceOf = (id) => presence.get(id) || 'offline';

// presenceDot is the dot that shows a user's presence.
export function presenceDot(id) {
  const s = presenceOf(id);
  return h('span.presence-dot', { dataset: { presence: s, presenceUser: id }, title: s[0].toUpperCase() + s.slice(1), role: 'img', 'aria-label': s });
}

// presenceLabel is a user's name with their presence, for an <option>
// (which shows no markup).
export function presenceLabel(u) {
  const s = presenceOf(u.id);
  const mark = s === 'online' ? '●' : s === 'away' ? '◐' : '○';
  return `${mark} ${u.name || u.email}${s === 'offline' ? '' : ` (${s})`}`;
}

// onEvent keeps presence up to date from presence.changed.
export function onEvent(ev) {
  if (ev.type !== 'presence.changed' || !ev.data) return;
  presence.set(ev.data.user_id, ev.data.state);
  // What shows it is updated in place: nothing being edited is redrawn.
  for (const el of document.querySelectorAll(`[data-presence-user="${CSS.escape(ev.data.user_id)}"]`)) {
    if (el.tagName === 'OPTION') el.textContent = presenceLabel(el._user || { id: ev.data.user_id, name: el.textContent });
    else el.replaceWith(presenceDot(ev.data.user_id));
  }
}

// userOption is an <option> of user u with their presence, kept up to
// date by presence.changed.
export function userOption(u, selected) {
  const o = h('option', { value: u.id, text: presenceLabel(u), selected, dataset: { presenceUser: u.id } });
  o._user = u;
  return o;
}

// teamFilter is the list's Team filter (f.team: '', mine or a team id),
// or null while the workspace has no team and none is filtered on.
export function teamFilter(f, onChange) {
  if (!list.length && !f.team) return null;
  return h('select.chip', {
    'aria-label': 'Team', dataset: { filter: 'team', on: String(!!f.team) },
    onchange: (e) => { f.team = e.target.value; onChange(); },
  }, h('option', { value: '', text: 'Any team', selected: !f.team }),
  h('option', { value: 'mine', text: 'Assigned to my team', selected: f.team === 'mine' }),
  ...list.map((t) => h('option', { value: t.id, text: t.name, selected: f.team === t.id })));
}

// teamMatches says whether conversation c belongs under the Team filter.
export function teamMatches(f, c, me) {
  if (!f.team) return true;
  if (f.team === 'mine') return !!c.team_id && list.some((t) => t.id === c.team_id && (t.members || []).includes(me));
  return c.team_id === f.team;
}

// teamSelect is the contact panel's team picker: assigning to a team
// lets its distribution pick the member.
export function teamSelect(conv, done, fail) {
  if (!list.length && !conv.team_id) return null;
  return h('select#panel-team', {
    'aria-label': 'Team',
    onchange: async (e) => {
      try { done(await api('POST', `/conversations/${conv.id}/team`, { team_id: e.target.value || null })); } catch (err) { fail(err); }
    },
  }, h('option', { value: '', text: 'No team' }),
  ...list.map((t) => h('option', { value: t.id, text: t.name, selected: t.id === conv.team_id })),
  ...(conv.team_id && !teamName(conv.team_id) ? [h('option', { value: conv.team_id, text: 'A deleted team', selected: true })] : []));
}

// teamTag names a conversation's team in the chat header.
export function teamTag(c) {
  if (!c.team_id) return null;
  const name = teamName(c.team_id) || 'a deleted team';
  return h('span.tag.team-tag', { text: `Team: ${name}`, title: c.assignee_id ? `Assigned to ${name}` : `Waiting in ${name}: no member was available` });
}

// Presence of this tab: reported through the realtime connection.
const ACTIVITY_EVERY = 60 * 1000;
let lastReport = 0;
let sender = null;

// trackPresence reports activity through send (the realtime
// connection's presence frame) from now on.
export function trackPresence(send) {
  sender = send;
  const active = () => {
    const now = Date.now();
    if (now - lastReport < ACTIVITY_EVERY || document.hidden) return;
    lastReport = now;
    sender('active');
  };
  for (const type of ['pointerdown', 'keydown', 'focus', 'visibilitychange']) window.addEventListener(type, active, { passive: true });
}

// connected is called when the realtime connection (re)opens: the
// server counts it from its first presence frame.
export function connected() {
  lastReport = Date.now();
  if (sender) sender('active');
}
