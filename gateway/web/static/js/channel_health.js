// Channel health: each account's health badge (Connected, Expired —
// reconnect, Unreachable, Error, with the reason) and its "Check now"
// (POST /api/v1/channels/{channel}/{account}/check) as a column of
// Settings → Channels, and a banner over the conversation list telling
// owners and admins that an account is expired or in error, linking to
// Settings → Channels (dismissed until another problem comes). Both
// follow the channel.health events live.
import { channelColumns } from './settings_channels.js';
import { post } from './api.js';
import { h, $, toast } from './util.js';
import { channelNames } from './icons.js';

const DISMISSED = 'parley.health.dismissed';
const LABEL = { unknown: 'Not checked yet', connected: 'Connected', expired: 'Expired', unreachable: 'Unreachable', error: 'Error' };
const enc = encodeURIComponent;
const keyOf = (a) => `${a.channel}/${a.account_id}`;

let me = null;
// accounts are the workspace's accounts as last known (admins only):
// key → { channel, account_id, name, health }.
let accounts = new Map();

// boot is called once signed in, with the user (and their role), and the
// accounts of GET /channels when the inbox loaded them.
export function boot(user, list) {
  me = user;
  accounts = new Map((list || []).map((a) => [keyOf(a), a]));
  banner();
}

function isAdmin() {
  return !!me && (me.role === 'owner' || me.role === 'admin');
}

// onEvent takes a realtime event: a channel.health changes the account's
// badge (when Settings → Channels shows it) and the banner.
export function onEvent(ev) {
  if (ev.type !== 'channel.health' || !ev.data) return;
  const d = ev.data;
  const a = accounts.get(keyOf(d)) || { channel: d.channel, account_id: d.account_id };
  a.health = d.health;
  accounts.set(keyOf(a), a);
  update(a);
  banner();
}

// update redraws an account's health cell, wherever it is shown.
function update(a) {
  const cell = document.querySelector(`.health-cell[data-key="${CSS.escape(keyOf(a))}"]`);
  if (cell) cell.replaceWith(healthCell(a));
}

// problem: the account needs a person (a new token, a permission).
const problem = (a) => a.health && (a.health.state === 'expired' || a.health.state === 'error');

function badge(hl) {
  const state = (hl && hl.state) || 'unknown';
  const since = hl && hl.since ? new Date(hl.since).toLocaleString() : '';
  return h('span.health-badge', {
    dataset: { state }, title: since ? `${LABEL[state] || state} since ${since}` : LABEL[state] || state,
  }, h('span.health-dot', { 'aria-hidden': 'true' }), LABEL[state] || state);
}

// healthCell shows an account's badge, its reason and Check now.
function healthCell(a) {
  const hl = a.health || { state: 'unknown' };
  const name = a.name || a.account_id;
  const check = h('button.ghost.small.health-check', {
    type: 'button', dataset: { act: 'check' }, 'aria-label': `Check now ${name}`, text: 'Check now',
  });
  check.addEventListener('click', async () => {
    check.disabled = true;
    check.textContent = 'Checking…';
    try {
      const r = await post(`/channels/${enc(a.channel)}/${enc(a.account_id)}/check`);
      const cur = accounts.get(keyOf(a)) || a;
      cur.health = r.health;
      accounts.set(keyOf(cur), cur);
      update({ ...a, health: r.health });
      banner();
      toast(`${name}: ${LABEL[r.health.state] || r.health.state}`);
    } catch (ex) {
      check.disabled = false;
      check.textContent = 'Check now';
      toast(`Could not check: ${ex.message}`);
    }
  });
  const reconnect = hl.state === 'expired' ? h('button.link.small.health-reconnect', {
    type: 'button', text: 'reconnect', 'aria-label': `Reconnect ${name} with a new access token`,
    onclick: (e) => e.target.closest('tr')?.querySelector('[data-act=edit]')?.click(),
  }) : null;
  return h('div.health-cell', { dataset: { key: keyOf(a), state: hl.state } },
    h('div.health-line', null, badge(hl), reconnect ? h('span.muted.small', { text: ' — ' }) : null, reconnect),
    hl.reason && hl.state !== 'connected' ? h('div.health-reason.muted.small', { text: hl.reason + (hl.code ? ` (${hl.code})` : '') }) : null,
    check);
}

channelColumns.push({
  title: 'Health',
  // The list Settings → Channels loaded is the accounts as they are (one
  // just disconnected leaves the banner).
  loaded: (list) => {
    accounts = new Map(list.map((a) => [keyOf(a), a]));
    banner();
  },
  render: (a) => healthCell(a),
});

function dismissedKey(list) {
  return list.map((a) => `${keyOf(a)}:${a.health.state}:${a.health.since || ''}`).sort().join('|');
}

// banner shows owners and admins the accounts that are expired or in
// error, above the conversation list, until dismissed.
function banner() {
  const old = $('#health-banner');
  const bad = isAdmin() ? [...accounts.values()].filter(problem) : [];
  const key = dismissedKey(bad);
  if (!bad.length || localStorage.getItem(DISMISSED) === key) {
    if (old) old.remove();
    return;
  }
  const what = (a) => `${channelNames[a.channel] || a.channel} ${a.name || a.account_id}: ${a.health.state === 'expired' ? 'access token expired' : 'error'}`;
  const el = h('div#health-banner.health-banner', { role: 'region', 'aria-label': 'Channel health' },
    h('span.health-banner-text', null,
      h('strong', { text: bad.length === 1 ? 'A channel account needs attention. ' : `${bad.length} channel accounts need attention. ` }),
      bad.map(what).join('; '), ' '),
    h('a.health-banner-link', { href: '#settings/channels', text: 'Open Settings → Channels' }),
    h('button.icon-btn.health-dismiss', {
      type: 'button', 'aria-label': 'Dismiss the channel health warning', title: 'Dismiss', text: '×',
      onclick: () => { localStorage.setItem(DISMISSED, key); el.remove(); },
    }));
  if (old) old.replaceWith(el);
  else {
    const pane = $('#list-pane');
    if (pane) pane.insertBefore(el, pane.firstChild);
  }
}
