// The inbox: login, channel tabs, the conversation list with folders,
// filters, search and infinite scroll, live updates over the WebSocket,
// and keyboard navigation. The chat view is chat.js, the contact panel
// panel.js.
import { api, auth, get, ApiError } from './api.js';
import { Realtime } from './ws.js';
import { icons, channelIcon, channelNames } from './icons.js';
import { h, $, avatar, listTime, dayKey, dayLabel, time12, debounce, convName, toast, searchTerms, highlight } from './util.js';
import * as chat from './chat.js';
import * as panel from './panel.js';
import * as settings from './settings.js';
import './settings_channels.js';
import './settings_team.js';
import { acceptInvite } from './invite.js';
import './settings_ai.js';
import './analytics.js';
import * as setup from './setup.js';
import './settings_security.js';
import * as shortcuts from './shortcuts.js';
import * as notify from './notify.js';
import './settings_notifications.js';
import * as contacts from './contacts.js';
import * as composer from './composer.js';
import './settings_canned.js';
import './settings_webhooks.js';
import './settings_audit.js';
import './settings_fields.js';
import './settings_backup.js';
import './settings_plan.js';
import './settings_retention.js';
import './templates.js';
import * as health from './channel_health.js';
import * as pipeline from './pipeline.js';
import * as broadcasts from './broadcasts.js';
import './settings_optout.js';
import './settings_pipelines.js';
import './settings_widget.js';
import './settings_knowledge.js';
import './settings_assistants.js';
import './settings_forms.js';
import './settings_automations.js';
import { pipelines, stageOptions } from './stages.js';
import { loadAssistants, onAssistantsChange, assistantFilter, assistantMarker, assistantOf, assistantName } from './assistants.js';
import './settings_segments.js';
import { segments as loadSegmentList, segmentOptions } from './segments.js';
import { showWorkspaces } from './workspaces.js';
import * as teams from './teams.js';
import './settings_teams.js';

const PAGE = 50;
const PRIORITY = 'priority';

export const state = {
  me: null,
  users: [],
  channels: ['whatsapp', 'instagram', 'messenger'],
  filter: { channel: '', folder: 'open', unread: false, priority: false, tag: '', assignee: '', mode: '', period: '', needsHuman: false, campaign: '', stage: '', owner: '', assistant: '', segment: '', team: '' },
  pipelines: [], // the workspace's pipelines, for the contact stage filter
  segments: [], // the workspace's segments, for the contact segment filter
  convs: new Map(), // id → conversation, everything known
  order: [], // ids shown, newest activity first
  cursor: '',
  done: false,
  loading: false,
  gen: 0, // bumps on every reload so stale pages are dropped
  counts: {},
  tags: [], // the workspace's tags (GET /tags)
  campaigns: [], // the workspace's campaigns (GET /campaigns): [{campaign, conversations}]
  search: '',
  hits: null, // search results, or null when not searching
  searchCursor: '', // the next page of search results
  searchGen: 0, // bumps on every new search so stale pages are dropped
  searchLoading: false,
  searchNote: '', // why a search shows nothing, when it is not "No results"
  searchAPI: true,
  selected: '',
  focus: '', // the id of the row the keyboard is on
};

// ---------- login ----------

function showLogin(msg = '') {
  rt.stop();
  notify.title(0);
  $('#app').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = msg;
  $('#login-email').focus();
}

let tokenMode = false;
$('#login-mode').addEventListener('click', () => {
  tokenMode = !tokenMode;
  $('#login-password').hidden = tokenMode;
  $('#login-token').hidden = !tokenMode;
  $('#login-mode').textContent = tokenMode ? 'Use email and password instead' : 'Use an API token instead';
});

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('#login-error').textContent = '';
  $('#login-submit').disabled = true;
  try {
    if (tokenMode) {
      auth.token = $('#login-api-token').value.trim();
    } else {
      const r = await api('POST', '/auth/login', { email: $('#login-email').value, password: $('#login-pass').value });
      auth.token = r.token;
    }
    await boot();
  } catch (err) {
    auth.token = '';
    const refused = err.status === 401 || err.status === 400;
    $('#login-error').textContent = !refused ? err.message
      : tokenMode ? 'That API token is not valid' : 'Wrong email or password';
  } finally {
    $('#login-submit').disabled = false;
  }
});

// On a phone the header's Sign out is an icon (app.css), so that every
// channel tab stays in sight beside the header's links.
$('#logout .logout-icon').innerHTML = icons.logout;
$('#logout').addEventListener('click', async () => {
  rt.stop();
  try { await api('POST', '/auth/logout'); } catch { /* signed out already */ }
  auth.token = '';
  location.hash = '';
  settings.close();
  showLogin();
});

auth.onUnauthorized(() => {
  auth.token = '';
  showLogin('Your session ended: sign in again');
});

// ---------- realtime ----------

const rt = new Realtime({
  onEvent: (ev) => onEvent(ev),
  onSignedOut: () => { auth.token = ''; showLogin('You were signed out: sign in again'); },
  onOpen: () => teams.connected(),
  onResync: () => { reload(); chat.reload(); pipeline.resync(); broadcasts.resync(); },
  onState: (s) => {
    const c = $('#conn');
    c.dataset.state = s;
    c.title = s === 'live' ? 'Live' : s === 'offline' ? 'Reconnecting…' : 'Connecting…';
  },
});

function onEvent(ev) {
  if (typeof ev.seq === 'number') $('#conn').dataset.seq = ev.seq; // the last event applied
  notify.onEvent(ev, state.convs.get(ev.conversation_id));
  contacts.onEvent(ev);
  pipeline.onEvent(ev);
  broadcasts.onEvent(ev);
  health.onEvent(ev);
  panel.onEvent(ev);
  teams.onEvent(ev);
  const conv = ev.data && ev.data.conversation;
  if (ev.type === 'conversation.deleted') {
    removeConv(ev.conversation_id);
    chat.onDeleted(ev.conversation_id);
  } else if (conv) {
    upsert(conv);
    chat.onConversation(conv);
    panel.onConversation(conv);
  }
  if (ev.data && ev.data.message) chat.onMessage(ev.type, ev.data.message);
  refreshCountsSoon();
}

// ---------- the list ----------

// matches says whether conversation c belongs in the list; listed when
// it is in it already. The contact's stage and owner are not on the
// conversation: under those filters the server chose the rows, and an
// event keeps only those it listed.
function matches(c, listed = false) {
  const f = state.filter;
  if ((f.stage || f.owner || f.segment) && !listed) return false;
  if (c.folder !== f.folder) return false;
  if (f.channel && c.channel !== f.channel) return false;
  if (f.unread && !(c.unread_count > 0)) return false;
  const tags = c.tags || [];
  if (f.priority && !tags.includes(PRIORITY)) return false;
  if (f.tag && !tags.includes(f.tag)) return false;
  if (f.assignee === 'me' && c.assignee_id !== (state.me && state.me.id)) return false;
  if (f.assignee === 'unassigned' && c.assignee_id) return false;
  if (f.mode && c.mode !== f.mode) return false;
  if (f.needsHuman && !c.needs_human) return false;
  if (f.campaign && campaignKey(c.campaign) !== f.campaign) return false;
  if (f.assistant && assistantOf(c) !== f.assistant) return false;
  if (!teams.teamMatches(f, c, state.me && state.me.id)) return false;
  if (f.period && Date.parse(c.last_activity_at) < since(f.period)) return false;
  return true;
}

// since is the start of a period of the list's filter (as the server
// counts it: today from midnight, a week or a month back from now).
function since(period) {
  const now = new Date();
  if (period === 'today') return new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (period === 'week') return now.getTime() - 7 * 86400000;
  if (period === 'month') return new Date(now.getFullYear(), now.getMonth() - 1, now.getDate(), now.getHours(), now.getMinutes(), now.getSeconds()).getTime();
  return 0;
}

function newer(a, b) {
  const ta = Date.parse(a.last_activity_at), tb = Date.parse(b.last_activity_at);
  if (ta !== tb) return tb - ta;
  return a.id < b.id ? 1 : -1;
}

// upsert records a conversation and places it in the list if it belongs
// there (and is not older than the pages not yet loaded).
export function upsert(c) {
  const known = state.convs.get(c.id);
  // An HTTP answer can come after the event of a later change: a
  // conversation with fewer messages than the one known is stale.
  if (known && known.last_seq > c.last_seq) return;
  state.convs.set(c.id, c);
  const i = state.order.indexOf(c.id);
  if (i >= 0) state.order.splice(i, 1);
  if (matches(c, i >= 0) || (i >= 0 && keptRead(c))) {
    const last = state.order.length ? state.convs.get(state.order[state.order.length - 1]) : null;
    if (state.done || !last || newer(c, last) <= 0) {
      let j = 0;
      while (j < state.order.length && newer(state.convs.get(state.order[j]), c) <= 0) j++;
      state.order.splice(j, 0, c.id);
    }
  }
  if (i >= 0) refocus(c.id, i);
  renderListSoon();
}

// keptRead: the conversation open under the Unread filter stays in the
// list once it is read (opening it reads it), until the list reloads.
function keptRead(c) {
  return state.filter.unread && c.id === state.selected && matches({ ...c, unread_count: 1 }, true);
}

// refocus moves the keyboard from a row that left the list (solved,
// moved, deleted) to the row that took its place.
function refocus(id, i) {
  if (state.focus !== id || state.order.includes(id)) return;
  state.focus = state.order[Math.min(i, state.order.length - 1)] || '';
}

function removeConv(id) {
  state.convs.delete(id);
  const i = state.order.indexOf(id);
  if (i >= 0) {
    state.order.splice(i, 1);
    refocus(id, i);
  }
  renderListSoon();
}

function listQuery(cursor) {
  const f = state.filter;
  const q = new URLSearchParams({ folder: f.folder, limit: String(PAGE) });
  if (f.channel) q.set('channel', f.channel);
  if (f.unread) q.set('unread', 'true');
  if (f.priority) q.set('priority', 'true');
  else if (f.tag) q.set('tag', f.tag);
  if (f.assignee) q.set('assignee', f.assignee);
  if (f.team) q.set('team', f.team);
  if (f.mode) q.set('mode', f.mode);
  if (f.period) q.set('period', f.period);
  if (f.needsHuman) q.set('needs_human', 'true');
  if (f.campaign) q.set('campaign', f.campaign);
  if (f.stage) q.set('stage', f.stage);
  if (f.owner) q.set('owner', f.owner);
  if (f.assistant) q.set('assistant', f.assistant);
  if (f.segment) q.set('segment', f.segment);
  if (cursor) q.set('cursor', cursor);
  return `/conversations?${q}`;
}

// loadPipelines reads the workspace's pipelines (cached by stages.js,
// read again after Settings › Pipelines changes them) for the Contact
// stage filter.
function loadPipelines() {
  pipelines().then((ps) => {
    if (ps === state.pipelines) return;
    state.pipelines = ps;
    renderFilters();
  }).catch(() => {});
}

// loadSegments reads the workspace's segments (cached by segments.js)
// for the Contact segment filter; a filter on a segment deleted since
// goes.
function loadSegments() {
  loadSegmentList().then((list) => {
    if (list === state.segments) return;
    state.segments = list;
    if (state.filter.segment && !list.some((s) => s.id === state.filter.segment)) {
      state.filter.segment = '';
      reload();
    }
    renderFilters();
  }).catch(() => {});
}

export async function reload() {
  loadPipelines();
  loadSegments();
  state.gen++;
  state.order = [];
  state.cursor = '';
  state.done = false;
  state.loading = false;
  renderList();
  // A search follows the folder and channel tab too.
  if (state.search) search(state.search);
  await loadMore();
}

async function loadMore() {
  if (state.loading || state.done) return;
  state.loading = true;
  const gen = state.gen;
  $('#list-more').hidden = false;
  try {
    const r = await get(listQuery(state.cursor));
    if (gen !== state.gen) return;
    for (const c of r.conversations) {
      state.convs.set(c.id, c);
      if (!state.order.includes(c.id)) state.order.push(c.id);
    }
    state.cursor = r.next_cursor || '';
    state.done = !state.cursor;
    state.counts = r.counts || {};
    state.loading = false; // before the render: an empty page shows the empty state
    renderFolders();
    renderFilters();
    renderList();
  } catch (err) {
    if (gen === state.gen) toast(`Could not load conversations: ${err.message}`);
  } finally {
    if (gen === state.gen) {
      state.loading = false;
      $('#list-more').hidden = true;
      maybeLoadMore();
    }
  }
}

function maybeLoadMore() {
  const l = $('#conv-list');
  if (l.scrollTop + l.clientHeight <= l.scrollHeight - 400) return;
  if (state.hits) searchMore();
  else if (!state.done) loadMore();
}

let countsTimer;
function refreshCountsSoon() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    // The counts are those of the channel tab shown.
    const q = new URLSearchParams({ limit: '1' });
    const ch = state.filter.channel;
    if (ch) q.set('channel', ch);
    try {
      const r = await get(`/conversations?${q}`);
      if (ch !== state.filter.channel) return; // the tab changed meanwhile: its list brings its counts
      state.counts = r.counts || {};
      renderFolders();
      renderFilters();
    } catch { /* the next event retries */ }
    loadTags();
    loadCampaigns();
    loadAssistants();
  }, 800);
}

// campaignKey is what the Campaign filter names a campaign by (as the
// server does): the ad id, else the ref.
export function campaignKey(cp) {
  return cp ? cp.ad_id || cp.ref || '' : '';
}

// loadCampaigns fetches the campaigns the workspace's conversations came
// through, for the Campaign filter.
async function loadCampaigns() {
  try {
    const r = await get('/campaigns');
    const cps = r.campaigns || [];
    if (JSON.stringify(cps) === JSON.stringify(state.campaigns)) return;
    state.campaigns = cps;
    renderFilters();
  } catch { /* the filter keeps what it offered */ }
}

// loadTags fetches the workspace's tags for the tag filter: those of
// every folder, not only of the rows loaded.
async function loadTags() {
  try {
    const r = await get('/tags');
    const tags = (r.tags || []).map((t) => t.tag).filter((t) => t !== PRIORITY);
    if (tags.join() === state.tags.join()) return;
    state.tags = tags;
    renderFilters();
  } catch { /* the loaded rows' tags stay offered */ }
}

const rowCache = new Map();

// rowTime is listTime of a row's time, worked out once a day
// (refreshDay empties the cache): a render of thousands of rows no longer
// formats every row's date again (BenchmarkWebInbox).
const rowTimes = new Map();
function rowTime(t) {
  let s = rowTimes.get(t);
  if (s === undefined) {
    s = listTime(t);
    rowTimes.set(t, s);
  }
  return s;
}

function rowKey(c, preview, terms) {
  return [c.last_activity_at, rowTime(c.last_activity_at), c.unread_count, c.mode, c.needs_human, c.follow_up_at, c.csat, c.csat_pending, c.contact_name, preview, (c.tags || []).join(), c.folder,
    c.last_outbound_status, state.selected === c.id, terms.join(' '), assistantOf(c), assistantName(assistantOf(c))].join('|');
}

// row is a list row; terms (a search's) are highlighted in its name and
// preview.
function row(c, preview, terms = []) {
  const key = rowKey(c, preview, terms);
  const hit = rowCache.get(c.id);
  let el;
  if (hit && hit.key === key) el = hit.el;
  else {
    const name = convName(c);
    const mode = c.mode === 'manual'
      ? h('span.mode.manual', { title: 'Manual', html: icons.user })
      : h('span.mode.ai', { title: 'AI', text: 'AI' });
    el = h('li.conv', { role: 'option', dataset: { id: c.id } },
      h('div.avatar-wrap', null, avatar(name, c.contact_id), h('span.ch-badge', { html: channelIcon(c.channel), title: channelNames[c.channel] || c.channel })),
      h('div.conv-main', null,
        h('div.conv-top', null, h('span.conv-name', null, ...highlight(name, terms)),
          (c.tags || []).includes(PRIORITY) ? h('span.star-mini', { html: icons.starFilled }) : null,
          h('span.conv-time', { text: rowTime(c.last_activity_at) })),
        h('div.conv-bottom', null, h('span.conv-preview', null, ...highlight(preview || '', terms)), ...markers(c), assistantMarker(c), mode,
          c.unread_count > 0 ? h('span.badge', { text: c.unread_count > 99 ? '99+' : String(c.unread_count) }) : null)));
    el.addEventListener('click', () => open(c.id));
    rowCache.set(c.id, { key, el });
  }
  el.classList.toggle('selected', state.selected === c.id);
  el.classList.toggle('focused', state.focus === c.id);
  el.setAttribute('aria-selected', String(state.selected === c.id));
  return el;
}

// markers are a row's flags: a handoff waiting for a person, a
// follow-up scheduled, the customer's CSAT score (or a survey waiting
// for it).
function markers(c) {
  const fu = c.follow_up_at && `${dayLabel(c.follow_up_at)} ${time12(c.follow_up_at)}`;
  return [
    c.needs_human ? h('span.marker.needs-human', { text: 'Needs human', title: 'Handed off: needs a human' }) : null,
    fu ? h('span.marker.followup', { html: icons.clock, title: `Follow-up ${fu}`, 'aria-label': `Follow-up ${fu}`, role: 'img' }) : null,
    c.csat ? h('span.marker.csat', { text: `★ ${c.csat}`, title: `CSAT ${c.csat} of 5`, 'aria-label': `CSAT ${c.csat} of 5`, role: 'img' })
      : c.csat_pending ? h('span.marker.csat.pending', { text: 'CSAT…', title: 'CSAT survey sent, no score yet' }) : null,
  ];
}

// renderListSoon renders once for a burst of events (a timer, not a
// frame callback: those stop in background tabs).
let renderPending = false;
function renderListSoon() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => { renderPending = false; renderList(); }, 16);
}

function visibleRows() {
  if (state.hits) return state.hits;
  return state.order.map((id) => ({ conversation: state.convs.get(id), snippet: '' }));
}

export function renderList() {
  const t0 = performance.now();
  const rows = visibleRows();
  const terms = state.hits ? searchTerms(state.search) : [];
  const els = rows.map((r) => row(r.conversation, r.snippet || r.conversation.preview, terms));
  patchChildren($('#conv-list'), els);
  // The last render's duration, for the browser tests and benchmarks.
  performance.clearMeasures('parley:list-render');
  performance.measure('parley:list-render', { start: t0 });
  $('#list-empty').hidden = rows.length > 0 || (state.loading && !state.hits);
  const f = state.filter;
  const filtered = f.unread || f.priority || f.tag || f.assignee || f.mode || f.period || f.needsHuman || f.stage || f.owner || f.assistant || f.segment || f.team;
  $('#list-empty').textContent = state.hits ? state.searchNote || 'No results'
    : filtered ? 'No conversations match these filters' : 'No conversations';
}

// patchChildren makes els the children of list, touching only what
// changed: rows already in place stay (a new page only appends its rows,
// an update moves or replaces one row), so a long list is not laid out
// again for every page or event.
function patchChildren(list, els) {
  const keep = new Set(els);
  const drop = (n) => { const next = n.nextSibling; n.remove(); return next; };
  let at = list.firstChild;
  for (const el of els) {
    while (at && !keep.has(at)) at = drop(at); // a row gone or replaced
    if (el === at) { at = at.nextSibling; continue; }
    list.insertBefore(el, at);
  }
  while (at) at = drop(at);
}

// The list's times (3:04 PM, Yesterday, Mon) and the chat's day
// separators name days relative to today: once the day changes (checked
// every minute, and when the tab is shown again after a sleep) they are
// drawn again.
let today = dayKey(Date.now());
function refreshDay() {
  const d = dayKey(Date.now());
  if (d === today) return;
  today = d;
  rowTimes.clear();
  renderList();
  chat.refreshDay();
}
setInterval(refreshDay, 60000);
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') refreshDay(); });

// ---------- tabs, folders, filters ----------

function renderTabs() {
  const tabs = [['', 'All'], ...state.channels.map((c) => [c, channelNames[c] || c])];
  $('#channel-tabs').replaceChildren(...tabs.map(([ch, label]) => h('button.tab', {
    type: 'button', role: 'tab', 'aria-selected': String(state.filter.channel === ch), dataset: { channel: ch || 'all' },
    'aria-label': label, title: label,
    onclick: () => { state.filter.channel = ch; renderTabs(); reload(); },
  }, ch ? h('span', { html: channelIcon(ch) }) : null, h('span.tab-label', { text: label }))));
}

const folders = [['open', 'Open'], ['pending', 'Pending'], ['solved', 'Solved'], ['spam', 'Spam'], ['archived', 'Archived']];

function renderFolders() {
  notify.title(state.counts.unread);
  $('#folders').replaceChildren(...folders.map(([f, label]) => h('button.folder', {
    type: 'button', role: 'tab', 'aria-selected': String(state.filter.folder === f), dataset: { folder: f },
    onclick: () => { state.filter.folder = f; renderFolders(); reload(); },
  }, label, state.counts[f] ? h('span.count', { text: String(state.counts[f]) }) : null)));
}

function chip(label, on, count, onclick, name) {
  return h('button.chip', { type: 'button', 'aria-pressed': String(on), dataset: { filter: name }, onclick },
    label, count ? h('span.count', { text: String(count) }) : null);
}

function knownTags() {
  const s = new Set(state.tags);
  for (const c of state.convs.values()) for (const t of c.tags || []) if (t !== PRIORITY) s.add(t);
  if (state.filter.tag) s.add(state.filter.tag);
  return [...s].sort();
}

function renderFilters() {
  const f = state.filter;
  const toggle = (k) => () => { f[k] = !f[k]; if (k === 'priority' && f.priority) f.tag = ''; renderFilters(); reload(); };
  const assign = (v) => () => { f.assignee = f.assignee === v ? '' : v; renderFilters(); reload(); };
  const pick = (k, label, options) => h('select.chip', {
    'aria-label': label, dataset: { filter: k, on: String(!!f[k]) }, onchange: (e) => { f[k] = e.target.value; renderFilters(); reload(); },
  }, ...options.map(([v, text]) => h('option', { value: v, text, selected: f[k] === v })));
  const tags = knownTags();
  const open = f.folder === 'open';
  const sel = h('select.chip', {
    'aria-label': 'Tag', onchange: (e) => { f.tag = e.target.value; if (f.tag) f.priority = false; renderFilters(); reload(); },
  }, h('option', { value: '', text: 'Tag…' }), ...tags.map((t) => h('option', { value: t, text: t, selected: f.tag === t })));
  const cps = state.campaigns.map((x) => x.campaign);
  if (f.campaign && !cps.includes(f.campaign)) cps.push(f.campaign);
  const campaign = cps.length ? h('select.chip', {
    'aria-label': 'Campaign', dataset: { filter: 'campaign', on: String(!!f.campaign) },
    onchange: (e) => { f.campaign = e.target.value; renderFilters(); reload(); },
  }, h('option', { value: '', text: 'Campaign…' }), ...cps.map((k) => {
    const n = (state.campaigns.find((x) => x.campaign === k) || {}).conversations;
    return h('option', { value: k, text: n ? `${k} (${n})` : k, selected: f.campaign === k });
  })) : null;
  $('#filters').replaceChildren(
    chip('Unread', f.unread, open && state.counts.unread, toggle('unread'), 'unread'),
    chip('Priority', f.priority, 0, toggle('priority'), 'priority'),
    chip('Mine', f.assignee === 'me', open && state.counts.mine, assign('me'), 'mine'),
    chip('Unassigned', f.assignee === 'unassigned', open && state.counts.unassigned, assign('unassigned'), 'unassigned'),
    chip('Needs a human', f.needsHuman, 0, toggle('needsHuman'), 'needs-human'),
    sel,
    pick('mode', 'Mode', [['', 'AI or manual'], ['ai', 'AI'], ['manual', 'Manual']]),
    pick('period', 'Period', [['', 'Any time'], ['today', 'Today'], ['week', 'Last 7 days'], ['month', 'Past month']]),
    h('select.chip', {
      'aria-label': 'Contact stage', dataset: { filter: 'stage', on: String(!!f.stage) }, onchange: (e) => { f.stage = e.target.value; renderFilters(); reload(); },
    }, ...stageOptions(state.pipelines, f.stage, h('option', { value: '', text: 'Any stage', selected: !f.stage }))),
    pick('owner', 'Contact owner', [['', 'Any owner'], [state.me ? state.me.id : '', 'My contacts'],
      ...state.users.filter((u) => !state.me || u.id !== state.me.id).map((u) => [u.id, `${u.name || u.email}'s contacts`])]),
    ...(campaign ? [campaign] : []),
    ...[assistantFilter(f, () => { renderFilters(); reload(); })].filter(Boolean),
    ...[teams.teamFilter(f, () => { renderFilters(); reload(); })].filter(Boolean),
    ...(state.segments.length || f.segment ? [h('select.chip', {
      'aria-label': 'Contact segment', dataset: { filter: 'segment', on: String(!!f.segment) },
      onchange: (e) => { f.segment = e.target.value; renderFilters(); reload(); },
    }, ...segmentOptions(state.segments, f.segment, h('option', { value: '', text: 'Any segment', selected: !f.segment })))] : []));
}

// ---------- search ----------

const SEARCH_PAGE = 50;

function searchQuery(q, cursor) {
  const p = new URLSearchParams({ q, limit: String(SEARCH_PAGE), folder: state.filter.folder });
  if (state.filter.channel) p.set('channel', state.filter.channel);
  if (cursor) p.set('cursor', cursor);
  return `/search?${p}`;
}

// search shows the first page of results for q in the folder and channel
// shown (the server's search; names of the loaded rows without one).
async function search(q) {
  if (q !== state.search) return;
  const gen = ++state.searchGen;
  state.searchCursor = '';
  state.searchLoading = false;
  state.searchNote = '';
  if (!q) { state.hits = null; renderList(); return; }
  if (!searchTerms(q).length) {
    // Nothing to search for: say so rather than ask the server.
    state.hits = [];
    state.searchNote = 'Type a letter or a digit to search';
    state.focus = '';
    renderList();
    return;
  }
  if (state.searchAPI) {
    state.searchLoading = true;
    try {
      const r = await get(searchQuery(q));
      if (gen !== state.searchGen) return;
      state.hits = [];
      addHits(r);
      state.focus = '';
      renderList();
      maybeLoadMore();
      return;
    } catch (err) {
      if (gen !== state.searchGen) return;
      state.searchLoading = false;
      if (err instanceof ApiError && err.status === 400) {
        state.hits = [];
        state.searchNote = err.message;
        renderList();
        return;
      }
      if (!(err instanceof ApiError) || err.status !== 404) { toast(`Search failed: ${err.message}`); return; }
      state.searchAPI = false; // no search endpoint on this server: names only
    }
  }
  const needle = q.toLowerCase();
  state.hits = [...state.convs.values()].filter((c) => matches(c) && convName(c).toLowerCase().includes(needle))
    .sort(newer).map((c) => ({ conversation: c, snippet: '' }));
  state.focus = '';
  renderList();
}

const runSearch = debounce(search, 200);

// addHits appends a page of search results.
function addHits(r) {
  state.searchLoading = false;
  state.searchCursor = r.next_cursor || '';
  for (const x of r.hits || []) {
    if (!x.conversation || state.hits.some((y) => y.conversation.id === x.conversation.id)) continue;
    state.convs.set(x.conversation.id, { ...state.convs.get(x.conversation.id), ...x.conversation });
    state.hits.push(x);
  }
}

// searchMore loads the next page of search results (infinite scroll).
async function searchMore() {
  if (!state.hits || !state.searchCursor || state.searchLoading) return;
  const gen = state.searchGen;
  state.searchLoading = true;
  try {
    const r = await get(searchQuery(state.search, state.searchCursor));
    if (gen !== state.searchGen) return;
    addHits(r);
    renderList();
    maybeLoadMore();
  } catch (err) {
    if (gen === state.searchGen) { state.searchLoading = false; toast(`Search failed: ${err.message}`); }
  }
}

$('#search').addEventListener('input', (e) => {
  state.search = e.target.value.trim();
  runSearch(state.search);
});

function clearSearch() {
  $('#search').value = '';
  state.search = '';
  state.searchGen++;
  state.hits = null;
  renderList();
}

// ---------- opening ----------

// open shows a conversation. Its address is #c/<id>: a new history entry,
// so that Back (a phone's above all) returns to the list rather than
// leaving the app; fromHistory when the address is already there (a
// link, Back or Forward, a reload).
export async function open(id, fromHistory = false) {
  state.selected = id;
  if (visibleRows().some((r) => r.conversation.id === id)) state.focus = id;
  if (!fromHistory && location.hash !== `#c/${id}`) history.pushState({ chat: true }, '', `#c/${id}`);
  contacts.close(); // a notification's click opens the chat over the Contacts view
  pipeline.close();
  broadcasts.close();
  document.body.classList.add('view-chat');
  renderList();
  let c = state.convs.get(id);
  if (!c) {
    try { c = await get(`/conversations/${id}`); state.convs.set(id, c); } catch { toast('Conversation not found'); return; }
  }
  chat.open(c);
  panel.open(c);
}

// back returns to the list: the history entry before the chat's when the
// app made it (so Forward reopens the chat), else (or when the chat is
// gone for good: replace) the address loses the chat, so that a reload
// shows the list.
export function back(replace = false) {
  if (/^#c\//.test(location.hash)) {
    if (!replace && history.state && history.state.chat) history.back();
    else history.replaceState(null, '', location.pathname + location.search);
  }
  showList();
}

function showList() {
  document.body.classList.remove('view-chat');
  panel.close();
}

// The address follows Back and Forward, and in-page links to #c/<id>.
window.addEventListener('hashchange', () => {
  if ($('#app').hidden) return;
  const m = /^#c\/(\w+)/.exec(location.hash);
  if (!m) { showList(); return; }
  if (m[1] !== state.selected || !document.body.classList.contains('view-chat')) open(m[1], true);
});

// ---------- keyboard ----------

function typing(t) {
  return t && (t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && t.id !== 'search') || t.tagName === 'SELECT' || t.isContentEditable);
}

document.addEventListener('keydown', (e) => {
  // The inbox's keys are the inbox's: not on the Settings view (js/settings.js).
  if ($('#app').hidden || !$('#modal').hidden || document.body.classList.contains('view-settings') || document.body.classList.contains('view-contacts') || document.body.classList.contains('view-pipeline') || document.body.classList.contains('view-broadcasts')) return;
  const t = e.target;
  if (e.key === 'Escape') {
    if (!$('#lightbox').hidden) { chat.closeLightbox(); return; }
    if (!$('#more-menu').hidden) { $('#more-menu').hidden = true; return; }
    if (state.search || t.id === 'search') { clearSearch(); t.blur && t.id === 'search' && t.blur(); return; }
    if (panel.isOpen()) { panel.close(); return; }
    return;
  }
  if (typing(t)) return;
  if (e.key === '/' && t.id !== 'search') {
    e.preventDefault();
    $('#search').focus();
    return;
  }
  const rows = visibleRows();
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    if (!rows.length) return;
    e.preventDefault();
    const at = rows.findIndex((r) => r.conversation.id === state.focus);
    const idx = Math.max(0, Math.min(rows.length - 1, at + (e.key === 'ArrowDown' ? 1 : -1)));
    state.focus = rows[idx].conversation.id;
    renderList();
    const el = $('#conv-list').children[idx];
    if (el) el.scrollIntoView({ block: 'nearest' });
    if (idx >= rows.length - 5) { if (state.hits) searchMore(); else loadMore(); }
    return;
  }
  if (e.key === 'Enter' && state.focus && rows.some((r) => r.conversation.id === state.focus) && (t.id === 'search' || t === document.body || t.id === 'conv-list')) {
    e.preventDefault();
    open(state.focus);
  }
});

// ---------- start ----------

$('#conv-list').addEventListener('scroll', maybeLoadMore, { passive: true });
$('#back').innerHTML = icons.back;
$('#back').addEventListener('click', back);

async function boot() {
  const me = await get('/me');
  state.me = { ...me.user, role: me.role };
  state.workspace = me.workspace || null; // {{workspace.name}} of canned replies
  // Deleting a conversation is for admins and owners: an agent has no
  // Delete to be refused.
  $('#more-menu [data-act=delete]').hidden = me.role === 'agent';
  $('#me-name').textContent = me.user.name || me.user.email || '';
  showWorkspaces(me.workspace, () => rt.stop());
  settings.init(state.me);
  contacts.init({ state });
  pipeline.init({ state });
  broadcasts.init({ state });
  $('#login').hidden = true;
  $('#app').hidden = false;
  renderTabs();
  renderFolders();
  renderFilters();
  notify.banner();
  notify.loadPrefs();
  rt.start();
  const first = reload();
  health.boot(state.me, []);
  get('/channels').then((r) => {
    health.boot(state.me, r.channels);
    const extra = (r.channels || []).map((a) => a.channel).filter((c) => !state.channels.includes(c));
    state.channels = [...state.channels, ...new Set(extra)];
    renderTabs();
  }).catch(() => {});
  get('/users').then((r) => { state.users = r.users || []; teams.setUsersPresence(state.users); renderFilters(); }).catch(() => {});
  teams.loadTeams();
  teams.trackPresence((s) => rt.presence(s));
  loadPipelines();
  loadTags();
  loadCampaigns();
  loadAssistants();
  await first;
  performance.mark('parley:first-rows');
  // The frame after this one is painted with the rows: mark it for the
  // first-paint measurement.
  requestAnimationFrame(() => setTimeout(() => performance.mark('parley:first-paint'), 0));
  document.body.dataset.ready = 'true';
  const m = /^#c\/(\w+)/.exec(location.hash);
  if (m) open(m[1], true);
}

chat.init({ state, upsert, open, back });

// The assistants' names are on the rows, the filter and the chat header.
onAssistantsChange(() => { renderFilters(); renderList(); chat.refreshHead(); });
// The teams' names are on the filter, the panel and the chat header.
teams.onTeamsChange(() => { renderFilters(); chat.refreshHead(); panel.rerender(); });
panel.init({ state, upsert });
notify.init({ state, open });
composer.init({ state });
shortcuts.init({ state, open, visibleRows, loadMore: () => (state.hits ? searchMore() : loadMore()) });

if (acceptInvite(boot)) { /* the invitation page signs in, then boots */ } else if (setup.route(() => { rt.stop(); return boot(); })) { /* a setup or reset link */ } else if (auth.token) boot().catch((err) => showLogin(err.status === 401 ? '' : err.message));
else showLogin();
