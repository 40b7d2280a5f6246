// The Broadcasts view (issue 19): WhatsApp template messages sent to an
// audience at a paced rate. Routes, each a history entry of its own as
// #contacts is:
//
//   #broadcasts        the list, newest first (GET /broadcasts, paged), with
//                      each broadcast's state, a progress bar and counts
//   #broadcasts/new    the wizard (owners and admins): template → audience
//                      (a segment, tags, a CSV list or contacts picked) →
//                      variables (a contact field each, with a fallback) →
//                      schedule (now, or a time in the workspace's time zone)
//                      and rate → review, with the server's preview per
//                      recipient (POST /broadcasts/preview), then create
//   #broadcasts/<id>   a broadcast: live progress (the WebSocket's
//                      broadcast.updated events), pause, resume and cancel
//                      (owners and admins), and its recipients filtered by
//                      status, with the error code and reason of a failure
//
// Agents see the list and the details; the server refuses them the rest.
import { get, post } from './api.js';
import { h, $, dayLabel, time12, toast, confirmDialog, debounce } from './util.js';
import { close as closeSettings } from './settings.js';
import { close as closeContacts } from './contacts.js';
import { close as closePipeline } from './pipeline.js';
import { segments } from './segments.js';
import { loadDefs } from './fields.js';
import { STATUS } from './broadcasts_received.js';

const PAGE = 50;
const manages = () => app && app.state.me && (app.state.me.role === 'owner' || app.state.me.role === 'admin');

let app; // {state} of app.js
let root = null;
let shown = false;
let view = { kind: '', id: '' }; // the route shown: list, new or detail (id)

const list = { items: [], cursor: '', done: false, gen: 0 };
// detail is the broadcast shown, with its recipients' filter and pages.
const detail = { b: null, status: '', cursor: '', cursorMoved: false, gen: 0, rgen: 0 };

// STATE names a broadcast's state for people.
const STATE = { scheduled: 'Scheduled', sending: 'Sending', paused: 'Paused', completed: 'Completed', cancelled: 'Cancelled' };
const COUNTS = ['total', 'queued', 'sent', 'delivered', 'read', 'replied', 'failed', 'opted_out', 'skipped'];
const COUNT_LABEL = { total: 'Recipients', ...STATUS };

const when = (t) => (t ? `${dayLabel(t)} ${time12(t)}` : '–');

// init hooks the view to the signed-in user (after /me) and shows it
// when the address is already one of its routes.
export function init(a) {
  app = a;
  if (root) root.remove();
  root = null;
  list.items = [];
  apply();
}

function parseRoute() {
  const m = /^#broadcasts(?:\/([\w-]+))?$/.exec(location.hash);
  if (!m) return null;
  if (!m[1]) return { kind: 'list', id: '' };
  if (m[1] === 'new') return { kind: 'new', id: '' };
  return { kind: 'detail', id: m[1] };
}

// close hides the view.
export function close() {
  shown = false;
  document.body.classList.remove('view-broadcasts');
  if (root) root.hidden = true;
  const link = $('#open-broadcasts');
  if (link) link.removeAttribute('aria-current');
}

function apply() {
  const r = parseRoute();
  if (!r || !app || !app.state.me) { if (shown) close(); return; }
  frame();
  closeSettings();
  closeContacts();
  closePipeline();
  shown = true;
  root.hidden = false;
  document.body.classList.add('view-broadcasts');
  document.body.classList.remove('view-chat');
  $('#open-broadcasts').setAttribute('aria-current', 'page');
  if (r.kind === 'new' && !manages()) { go('#broadcasts', true); return; }
  view = r;
  if (r.kind === 'list') showList();
  else if (r.kind === 'new') showWizard();
  else showDetail(r.id);
}

window.addEventListener('hashchange', apply);

// go moves to a route of the view, a new history entry unless replace.
function go(hash, replace = false) {
  if (replace) history.replaceState(history.state, '', hash);
  else history.pushState({ broadcastsFrom: location.hash }, '', hash);
  apply();
}

function backToInbox() {
  history.replaceState(null, '', location.pathname + location.search);
  close();
}

function frame() {
  if (root) return;
  root = h('div#broadcasts.broadcasts', { hidden: true, role: 'main' });
  $('#app').append(root);
}

function head(title, ...extra) {
  return h('div.ct-head.bc-head', null,
    h('button#bc-back-inbox.ghost.small', { type: 'button', 'aria-label': 'Back to the inbox', onclick: backToInbox }, '← Inbox'),
    h('h1', { text: title }), ...extra);
}

// ---------- progress ----------

// progress is the bar of a broadcast: its recipients no longer queued
// (sent, failed, skipped or opted out) of all of them.
function progress(b, id) {
  const c = b.counts || {};
  const total = Math.max(0, c.total || 0);
  const n = Math.max(0, Math.min(total - (c.queued || 0), total));
  const pct = total ? Math.round((n * 100) / total) : (b.state === 'completed' ? 100 : 0);
  return h('div.bc-progress', {
    id, role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(total), 'aria-valuenow': String(n),
    'aria-valuetext': `${n} of ${total} handled`, 'aria-label': `Progress of ${b.name}`, title: `${n} of ${total} (${pct}%)`,
  }, h('div.bc-progress-bar', { style: `width:${pct}%` }));
}

function stateBadge(state) {
  return h('span.bc-state', { dataset: { state }, text: STATE[state] || state || '' });
}

// ---------- the list ----------

async function showList() {
  const gen = ++list.gen;
  list.items = [];
  list.cursor = '';
  list.done = false;
  const rows = h('ul#bc-rows.bc-rows', { 'aria-label': 'Broadcasts' });
  const more = h('button#bc-more.ghost.small', { type: 'button', text: 'Load more', hidden: true, onclick: () => page(gen, rows, more) });
  root.replaceChildren(
    head('Broadcasts', manages() ? h('a#bc-new.primary.button-link', { href: '#broadcasts/new', onclick: (e) => { e.preventDefault(); go('#broadcasts/new'); } }, 'New broadcast') : null),
    h('div.bc-body', null,
      h('p.muted.small', { text: 'WhatsApp template messages sent to many contacts at a paced rate. Unsubscribed and blocked contacts are left out; a customer who writes STOP is unsubscribed (Settings › Opt-out keywords).' }),
      h('p#bc-status.muted', { role: 'status' }), rows, more));
  await page(gen, rows, more);
}

async function page(gen, rows, more) {
  more.disabled = true;
  try {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (list.cursor) q.set('cursor', list.cursor);
    const r = await get(`/broadcasts?${q}`);
    if (gen !== list.gen) return;
    const got = r.broadcasts || [];
    list.items.push(...got);
    list.cursor = r.next_cursor || '';
    list.done = !list.cursor;
    rows.append(...got.map(row));
    more.hidden = list.done;
    $('#bc-status', root).textContent = list.items.length ? '' : (manages() ? 'No broadcasts yet: start one with New broadcast.' : 'No broadcasts yet.');
  } catch (err) {
    if (gen === list.gen) $('#bc-status', root).textContent = `Could not load the broadcasts: ${err.message}`;
  } finally { more.disabled = false; }
}

function row(b) {
  const c = b.counts || {};
  return h('li.bc-row', { dataset: { id: b.id, state: b.state } },
    h('div.bc-row-main', null,
      h('a.bc-row-name', { href: `#broadcasts/${b.id}`, onclick: (e) => { e.preventDefault(); go(`#broadcasts/${b.id}`); }, text: b.name }),
      stateBadge(b.state),
      h('span.muted.small', { text: `${b.template ? b.template.name : ''} · ${b.started_at ? `started ${when(b.started_at)}` : `scheduled ${when(b.scheduled_at)}`}` })),
    progress(b),
    h('div.bc-row-counts.muted.small', { text: `${c.total || 0} recipients · ${c.sent || 0} sent · ${c.delivered || 0} delivered · ${c.read || 0} read · ${c.replied || 0} replied · ${c.failed || 0} failed` }));
}

// ---------- a broadcast ----------

async function showDetail(id) {
  const gen = ++detail.gen;
  detail.b = null;
  root.replaceChildren(head('Broadcast'), h('div.bc-body', null, h('p#bc-status.muted', { role: 'status', text: 'Loading…' })));
  try {
    const b = await get(`/broadcasts/${id}`);
    if (gen !== detail.gen) return;
    detail.b = b;
    detail.status = '';
    drawDetail();
    recipients(true);
  } catch (err) {
    if (gen === detail.gen) $('#bc-status', root).textContent = `Could not load the broadcast: ${err.message}`;
  }
}

function drawDetail() {
  const b = detail.b;
  const controls = manages() ? h('div.bc-controls', { role: 'group', 'aria-label': 'Control the broadcast' },
    (b.state === 'sending' || b.state === 'scheduled') ? h('button#bc-pause.ghost', { type: 'button', text: 'Pause', onclick: () => control('pause') }) : null,
    b.state === 'paused' ? h('button#bc-resume.primary', { type: 'button', text: 'Resume', onclick: () => control('resume') }) : null,
    (b.state === 'sending' || b.state === 'scheduled' || b.state === 'paused') ? h('button#bc-cancel.ghost.danger-text', { type: 'button', text: 'Cancel broadcast', onclick: () => control('cancel') }) : null) : null;
  const c = b.counts || {};
  const filter = h('select#bc-filter', { 'aria-label': 'Recipients by status', onchange: (e) => { detail.status = e.target.value; recipients(true); } },
    h('option', { value: '', text: 'All recipients' }),
    ...Object.entries(STATUS).map(([k, v]) => h('option', { value: k, text: v, selected: detail.status === k })));
  root.replaceChildren(
    head(b.name, stateBadge(b.state)),
    h('div.bc-body', null,
      h('div.bc-summary', null,
        h('dl.bc-meta', null,
          h('dt', { text: 'Template' }), h('dd', { text: b.template ? `${b.template.name} (${b.template.language})` : '' }),
          h('dt', { text: 'WhatsApp number' }), h('dd', { text: b.account_id || '' }),
          h('dt', { text: 'Scheduled' }), h('dd', { text: when(b.scheduled_at) }),
          h('dt', { text: 'Started' }), h('dd', { text: when(b.started_at) }),
          h('dt', { text: 'Finished' }), h('dd', { text: when(b.finished_at) }),
          h('dt', { text: 'Rate' }), h('dd', { text: b.rate_per_second ? `${b.rate_per_second} messages a second` : 'The number’s default' })),
        controls),
      progress(b, 'bc-progress'),
      h('ul#bc-counts.bc-counts', { 'aria-label': 'Counts', 'aria-live': 'polite' }, ...COUNTS.map((k) => h('li.bc-count', { dataset: { count: k } },
        h('span.bc-count-n', { text: String(c[k] || 0) }), h('span.bc-count-label.muted.small', { text: COUNT_LABEL[k] || k })))),
      h('p.muted.small', { text: 'Sent, delivered and read count every recipient that got at least that far; a reply counts as read.' }),
      h('p#bc-error.error', { role: 'alert' }),
      h('section.bc-recipients', { 'aria-labelledby': 'bc-recipients-h' },
        h('div.bc-recipients-head', null, h('h2#bc-recipients-h', { text: 'Recipients' }), filter,
          h('button#bc-refresh.ghost.small', { type: 'button', text: 'Refresh', onclick: () => recipients(true) })),
        h('table#bc-recipients.bc-table', null,
          h('thead', null, h('tr', null, ...['Contact', 'Phone', 'Status', 'Details', 'Updated'].map((t) => h('th', { scope: 'col', text: t })))),
          h('tbody#bc-recipient-rows')),
        h('p#bc-recipients-status.muted', { role: 'status' }),
        h('button#bc-recipients-more.ghost.small', { type: 'button', text: 'Load more', hidden: true, onclick: () => recipients(false) }))));
}

// updateDetail shows new counts and state without redrawing the
// recipients (a live event).
function updateDetail(b) {
  const old = detail.b;
  detail.b = b;
  if (!old || old.state !== b.state) { drawDetail(); recipients(true); return; }
  $('#bc-progress', root)?.replaceWith(progress(b, 'bc-progress'));
  const c = b.counts || {};
  for (const li of root.querySelectorAll('#bc-counts li')) li.querySelector('.bc-count-n').textContent = String(c[li.dataset.count] || 0);
  refreshRecipientsSoon();
}

// refreshRecipientsSoon reads the recipients' first page again, at most
// every 1.5 s while events come, unless a later page is shown.
let refreshTimer = 0;
function refreshRecipientsSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    if (shown && view.kind === 'detail' && !detail.cursorMoved) recipients(true);
  }, 1500);
}

async function control(act) {
  const b = detail.b;
  if (act === 'cancel' && !await confirmDialog(`Cancel the broadcast ${b.name}? Recipients not sent yet will not be.`, 'Cancel broadcast', true)) return;
  $('#bc-error', root).textContent = '';
  try {
    const r = await post(`/broadcasts/${b.id}/${act}`);
    updateDetail(r);
    toast(act === 'pause' ? 'Broadcast paused' : act === 'resume' ? 'Broadcast resumed' : 'Broadcast cancelled');
  } catch (err) {
    $('#bc-error', root).textContent = err.code === 'bad_state' ? `The broadcast cannot be ${act === 'pause' ? 'paused' : act === 'resume' ? 'resumed' : 'cancelled'} now: ${err.message}` : err.message;
  }
}

async function recipients(first) {
  const b = detail.b;
  if (!b) return;
  const gen = ++detail.rgen;
  if (first) { detail.cursor = ''; detail.cursorMoved = false; }
  const more = $('#bc-recipients-more', root);
  const status = $('#bc-recipients-status', root);
  try {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (detail.status) q.set('status', detail.status);
    if (detail.cursor) q.set('cursor', detail.cursor);
    const r = await get(`/broadcasts/${b.id}/recipients?${q}`);
    if (gen !== detail.rgen || !detail.b || detail.b.id !== b.id) return;
    const rows = (r.recipients || []).map(recipientRow);
    const body = $('#bc-recipient-rows', root);
    if (first) body.replaceChildren(...rows);
    else { body.append(...rows); detail.cursorMoved = true; }
    detail.cursor = r.next_cursor || '';
    more.hidden = !detail.cursor;
    status.textContent = body.children.length ? '' : 'No recipients here.';
  } catch (err) {
    if (gen === detail.rgen) status.textContent = `Could not load the recipients: ${err.message}`;
  }
}

function recipientRow(r) {
  const why = r.status === 'failed' ? [r.error_code ? `Error ${r.error_code}` : 'Failed', r.error_reason].filter(Boolean).join(': ')
    : r.status === 'skipped' ? r.skip_reason || '' : '';
  return h('tr.bc-recipient', { dataset: { contact: r.contact_id || '', status: r.status } },
    h('td', null, r.conversation_id ? h('a', { href: `#c/${r.conversation_id}`, text: r.name || r.phone || 'Contact' })
      : r.contact_id ? h('a', { href: `#contacts/${r.contact_id}`, text: r.name || r.phone || 'Contact' }) : h('span', { text: r.name || '' })),
    h('td', { text: r.phone || '' }),
    h('td', null, h('span.bc-status', { dataset: { status: r.status }, text: STATUS[r.status] || r.status })),
    h('td.bc-why', { text: why }),
    h('td.muted.small', { text: when(r.updated_at) }));
}

// ---------- the wizard ----------

const STEPS = ['Template', 'Audience', 'Variables', 'Schedule', 'Review'];
const placeholderRe = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const placeholders = (text) => {
  const out = [];
  for (const m of String(text || '').matchAll(placeholderRe)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
};
const component = (t, type) => ((t && t.components) || []).find((c) => (c.type || '').toUpperCase() === type);

// draft is the broadcast being made; step the wizard's step (0-4).
let draft = null;
let step = 0;

function newDraft() {
  return {
    name: '', account_id: '', template: null, templates: [], accounts: [], segs: [], defs: [],
    audience: { kind: 'segment', segment_id: '', tags: '', csv: '', contacts: new Map() },
    vars: {}, header_media_url: '', when: 'now', at: '', rate: '', preview: null,
  };
}

async function showWizard() {
  draft = newDraft();
  step = 0;
  root.replaceChildren(head('New broadcast'), h('div.bc-body', null, h('p#bc-status.muted', { role: 'status', text: 'Loading…' })));
  try {
    const [tpls, chans, segs, defs] = await Promise.all([get('/templates'), get('/channels'),
      segments().catch(() => []), loadDefs().catch(() => [])]);
    draft.templates = (tpls.templates || []).filter((t) => (t.status || '').toUpperCase() === 'APPROVED');
    draft.accounts = (chans.channels || []).filter((a) => a.channel === 'whatsapp');
    draft.segs = segs;
    draft.defs = defs;
    if (draft.accounts[0]) draft.account_id = draft.accounts[0].account_id;
  } catch (err) {
    $('#bc-status', root).textContent = `Could not load the templates: ${err.message}`;
    return;
  }
  drawWizard();
}

function drawWizard() {
  const steps = h('ol.bc-steps', { 'aria-label': 'Steps' }, ...STEPS.map((s, i) => h('li', { 'aria-current': i === step ? 'step' : null, dataset: { done: String(i < step) } }, `${i + 1}. ${s}`)));
  const body = [stepTemplate, stepAudience, stepVariables, stepSchedule, stepReview][step]();
  const err = h('p#bc-wizard-error.error', { role: 'alert' });
  const back = step > 0 ? h('button#bc-prev.ghost', { type: 'button', text: 'Back', onclick: () => { step--; drawWizard(); } }) : h('a.ghost.button-link#bc-cancel-wizard', { href: '#broadcasts', onclick: (e) => { e.preventDefault(); go('#broadcasts', true); } }, 'Cancel');
  const next = step < STEPS.length - 1 ? h('button#bc-next.primary', { type: 'submit', text: 'Next' })
    : h('button#bc-create.primary', { type: 'submit', text: draft.when === 'later' ? 'Schedule broadcast' : 'Send broadcast' });
  const form = h('form#bc-wizard.settings-card.bc-wizard', { 'aria-labelledby': 'bc-step-h', novalidate: true },
    h('h2#bc-step-h', { text: `Step ${step + 1} of ${STEPS.length}: ${STEPS[step]}` }), body, err, h('div.bc-wizard-actions', null, back, next));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const problem = check();
    if (problem) { err.textContent = problem; return; }
    if (step < STEPS.length - 1) {
      step++;
      drawWizard();
      return;
    }
    next.disabled = true;
    try {
      const b = await post('/broadcasts', payload());
      toast(draft.when === 'later' ? 'Broadcast scheduled' : 'Broadcast started');
      draft = null;
      go(`#broadcasts/${b.id}`, true);
    } catch (e2) {
      err.textContent = e2.message;
      next.disabled = false;
    }
  });
  root.replaceChildren(head('New broadcast'), h('div.bc-body', null, steps, form));
  const first = form.querySelector('input, select, textarea');
  if (first) first.focus();
}

// check says what keeps the step from being done, '' when nothing.
function check() {
  const d = draft;
  switch (step) {
    case 0:
      if (!d.name.trim()) return 'Give the broadcast a name.';
      if (!d.account_id) return 'Connect a WhatsApp number first (Settings › Channels).';
      if (!d.template) return 'Pick an approved template.';
      return '';
    case 1: {
      const a = d.audience;
      if (a.kind === 'segment' && !a.segment_id) return 'Pick a segment.';
      if (a.kind === 'tags' && !a.tags.trim()) return 'Name at least one tag.';
      if (a.kind === 'csv' && !a.csv.trim()) return 'Upload or paste a CSV list.';
      if (a.kind === 'contacts' && !a.contacts.size) return 'Pick at least one contact.';
      return '';
    }
    case 2: {
      const header = component(d.template, 'HEADER');
      if (header && ['IMAGE', 'VIDEO', 'DOCUMENT'].includes((header.format || '').toUpperCase()) && !d.header_media_url.trim()) return 'Give the link of the header’s media.';
      for (const v of variableList()) {
        const set = d.vars[v.key] || {};
        if (!set.field && !(set.fallback || '').trim()) return `Variable {{${v.name}}} of the ${v.component} needs a field or a text.`;
      }
      return '';
    }
    case 3:
      if (d.when === 'later' && !d.at) return 'Pick the date and time to send.';
      if (d.rate && !/^[1-9]\d*$/.test(String(d.rate).trim())) return 'The rate is a whole number of messages a second, 1 or more.';
      return '';
    default:
      return d.preview && d.preview.total === 0 ? 'No contact would receive this broadcast: change its audience.' : '';
  }
}

// variableList is each placeholder of the template's header and body.
function variableList() {
  const out = [];
  for (const part of ['header', 'body']) {
    const c = component(draft.template, part.toUpperCase());
    if (!c || (part === 'header' && (c.format || 'TEXT').toUpperCase() !== 'TEXT')) continue;
    placeholders(c.text).forEach((name, i) => out.push({ component: part, index: i + 1, name, key: `${part}.${i + 1}` }));
  }
  return out;
}

// payload is the create (and preview) body of the API contract.
function payload() {
  const d = draft;
  const a = d.audience;
  const audience = {};
  if (a.kind === 'segment') audience.segment_id = a.segment_id;
  if (a.kind === 'tags') audience.tags = a.tags.split(',').map((t) => t.trim()).filter(Boolean);
  if (a.kind === 'csv') audience.csv = a.csv;
  if (a.kind === 'contacts') audience.contact_ids = [...a.contacts.keys()];
  const body = {
    name: d.name.trim(), account_id: d.account_id,
    template: { name: d.template.name, language: d.template.language },
    variables: variableList().map((v) => ({ component: v.component, index: v.index, field: (d.vars[v.key] || {}).field || '', fallback: (d.vars[v.key] || {}).fallback || '' })),
    audience,
  };
  if (d.header_media_url.trim()) body.header_media_url = d.header_media_url.trim();
  // A time without an offset: the server reads it in the workspace's
  // time zone.
  if (d.when === 'later' && d.at) body.scheduled_at = d.at.length === 16 ? `${d.at}:00` : d.at;
  if (d.rate) body.rate_per_second = Number.parseInt(d.rate, 10);
  return body;
}

function labelled(id, label, control, hint) {
  control.id = id;
  return h('div.field', null, h('label.field-label', { for: id, text: label }), control, hint ? h('span.muted.small', { id: `${id}-hint`, text: hint }) : null);
}

function stepTemplate() {
  const d = draft;
  const name = h('input', { type: 'text', maxlength: '200', required: true, autocomplete: 'off', value: d.name, oninput: (e) => { d.name = e.target.value; } });
  const acct = h('select', { onchange: (e) => { d.account_id = e.target.value; } },
    ...d.accounts.map((a) => h('option', { value: a.account_id, text: `${a.name || a.account_id} (${a.account_id})`, selected: a.account_id === d.account_id })));
  const key = (t) => `${t.name}|${t.language}`;
  const preview = h('div.bc-template-preview', { 'aria-live': 'polite' });
  const showTpl = () => {
    const t = d.template;
    preview.replaceChildren(...(t ? ['HEADER', 'BODY', 'FOOTER'].map((p) => component(t, p)).filter((c) => c && c.text)
      .map((c) => h('p', { text: c.text })) : []));
  };
  const tpl = h('select', {
    required: true,
    onchange: (e) => { d.template = d.templates.find((t) => key(t) === e.target.value) || null; d.vars = {}; showTpl(); },
  }, h('option', { value: '', text: d.templates.length ? 'Pick a template' : 'No approved template: sync them in Settings › Templates' }),
  ...d.templates.map((t) => h('option', { value: key(t), text: `${t.name} (${t.language}, ${(t.category || '').toLowerCase()})`, selected: d.template && key(d.template) === key(t) })));
  showTpl();
  return h('div.bc-step', null,
    labelled('bc-name', 'Name', name, 'For you: the customers do not see it.'),
    labelled('bc-account', 'WhatsApp number', acct),
    labelled('bc-template', 'Template', tpl, 'Only templates Meta approved can be sent.'),
    preview);
}

function stepAudience() {
  const a = draft.audience;
  const kinds = [['segment', 'A segment'], ['tags', 'Tags'], ['csv', 'A CSV list'], ['contacts', 'Contacts I pick']];
  const panel = h('div.bc-audience-panel');
  const drawPanel = () => panel.replaceChildren(audiencePanel(a));
  const radios = h('fieldset.bc-kinds', null, h('legend', { text: 'Send to' }),
    ...kinds.map(([k, l]) => h('label.bc-kind', null, h('input', {
      type: 'radio', name: 'bc-audience', value: k, checked: a.kind === k, id: `bc-audience-${k}`,
      onchange: () => { a.kind = k; drawPanel(); },
    }), ` ${l}`)));
  drawPanel();
  return h('div.bc-step', null, radios, panel,
    h('p.muted.small', { text: 'Unsubscribed and blocked contacts are left out, a contact without WhatsApp is skipped, and nobody receives it twice.' }));
}

function audiencePanel(a) {
  switch (a.kind) {
    case 'segment':
      return labelled('bc-segment', 'Segment', h('select', { onchange: (e) => { a.segment_id = e.target.value; } },
        h('option', { value: '', text: draft.segs.length ? 'Pick a segment' : 'No segments yet (Settings › Segments)' }),
        ...draft.segs.map((s) => h('option', { value: s.id, text: `${s.name}${s.count != null ? ` (${s.count})` : ''}`, selected: s.id === a.segment_id }))));
    case 'tags':
      return labelled('bc-tags', 'Tags', h('input', { type: 'text', value: a.tags, autocomplete: 'off', oninput: (e) => { a.tags = e.target.value; } }),
        'Separated by commas: contacts with any of them.');
    case 'csv': {
      const ta = h('textarea', { rows: 6, spellcheck: 'false', oninput: (e) => { a.csv = e.target.value; } });
      ta.value = a.csv;
      const file = h('input', {
        type: 'file', accept: '.csv,text/csv',
        onchange: async (e) => {
          const f = e.target.files[0];
          if (!f) return;
          if (f.size > 5 << 20) { toast('The file is over 5 MB'); return; }
          a.csv = await f.text();
          ta.value = a.csv;
        },
      });
      return h('div', null, labelled('bc-csv-file', 'Upload a CSV file', file),
        labelled('bc-csv', 'Or paste it', ta, 'A header row with phone (and name, or other columns), then a row per recipient.'));
    }
    default:
      return contactPicker(a);
  }
}

// contactPicker searches the contacts (GET /contacts?q=) and keeps the
// ones checked.
function contactPicker(a) {
  const results = h('ul#bc-contact-results.bc-pick', { 'aria-label': 'Contacts found' });
  const chosen = h('ul#bc-contact-chosen.bc-chosen', { 'aria-label': 'Contacts picked' });
  const drawChosen = () => chosen.replaceChildren(...[...a.contacts.values()].map((c) => h('li.chip', null, c.label,
    h('button.ghost.small', { type: 'button', 'aria-label': `Remove ${c.label}`, text: '×', onclick: () => { a.contacts.delete(c.id); drawChosen(); search(); } }))));
  let gen = 0;
  const search = async () => {
    const g = ++gen;
    const q = new URLSearchParams({ limit: '20' });
    if (input.value.trim()) q.set('q', input.value.trim());
    try {
      const r = await get(`/contacts?${q}`);
      if (g !== gen) return;
      results.replaceChildren(...(r.contacts || []).map((c) => {
        const label = (c.profile && (c.profile.name || c.profile.phone)) || c.id;
        const id = `bc-pick-${c.id}`;
        return h('li', null, h('input', {
          type: 'checkbox', id, checked: a.contacts.has(c.id),
          onchange: (e) => { if (e.target.checked) a.contacts.set(c.id, { id: c.id, label }); else a.contacts.delete(c.id); drawChosen(); },
        }), h('label', { for: id, text: ` ${label}${c.profile && c.profile.phone && c.profile.name ? ` · ${c.profile.phone}` : ''}` }));
      }));
    } catch (err) { results.replaceChildren(h('li.muted', { text: err.message })); }
  };
  const input = h('input', { type: 'search', autocomplete: 'off', oninput: debounce(search, 250) });
  drawChosen();
  search();
  return h('div', null, labelled('bc-contact-search', 'Find contacts', input), results, h('h3.small', { text: 'Picked' }), chosen);
}

function stepVariables() {
  const d = draft;
  const fields = [['', 'A fixed text'], ['name', 'Name'], ['phone', 'Phone'], ...d.defs.map((f) => [`custom.${f.key}`, f.label || f.key])];
  const rows = variableList().map((v) => {
    const set = d.vars[v.key] || (d.vars[v.key] = { field: v.name === 'name' || v.name === 'first_name' ? 'name' : '', fallback: '' });
    const id = `bc-var-${v.component}-${v.index}`;
    return h('fieldset.bc-var', { dataset: { component: v.component, index: String(v.index) } },
      h('legend', null, h('code', { text: `{{${v.name}}}` }), ` in the ${v.component}`),
      labelled(`${id}-field`, 'Filled from', h('select', { onchange: (e) => { set.field = e.target.value; } },
        ...fields.map(([k, l]) => h('option', { value: k, text: l, selected: set.field === k })))),
      labelled(`${id}-fallback`, 'Fallback (when the contact has no value)', h('input', { type: 'text', value: set.fallback, autocomplete: 'off', oninput: (e) => { set.fallback = e.target.value; } })));
  });
  const header = component(d.template, 'HEADER');
  const media = header && ['IMAGE', 'VIDEO', 'DOCUMENT'].includes((header.format || '').toUpperCase())
    ? labelled('bc-header-media', `Header ${header.format.toLowerCase()} link`, h('input', { type: 'url', value: d.header_media_url, oninput: (e) => { d.header_media_url = e.target.value; } }))
    : null;
  return h('div.bc-step', null, rows.length ? rows : h('p.muted', { text: 'This template has no variables.' }), media);
}

function stepSchedule() {
  const d = draft;
  const at = h('input', { type: 'datetime-local', value: d.at, disabled: d.when !== 'later', oninput: (e) => { d.at = e.target.value; } });
  const radio = (v, l) => h('label.bc-kind', null, h('input', {
    type: 'radio', name: 'bc-when', value: v, id: `bc-when-${v}`, checked: d.when === v,
    onchange: () => { d.when = v; at.disabled = v !== 'later'; },
  }), ` ${l}`);
  return h('div.bc-step', null,
    h('fieldset.bc-kinds', null, h('legend', { text: 'When' }), radio('now', 'Now'), radio('later', 'At a time')),
    labelled('bc-at', 'Date and time', at, 'In the workspace’s time zone.'),
    labelled('bc-rate', 'Messages a second', h('input', { type: 'number', min: '1', step: '1', value: d.rate, placeholder: 'The number’s default', oninput: (e) => { d.rate = e.target.value; } }),
      'Leave empty for the default of the number’s messaging tier; the server keeps it within the tier.'));
}

function stepReview() {
  const out = h('div#bc-preview.bc-preview', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p.muted', { text: 'Preparing the preview…' }));
  const d = draft;
  d.preview = null;
  (async () => {
    try {
      const p = await post('/broadcasts/preview', payload());
      if (draft !== d) return;
      d.preview = p;
      const skipped = p.skipped || [];
      out.replaceChildren(
        h('p#bc-preview-total', null, h('strong', { text: String(p.total) }), ` ${p.total === 1 ? 'contact receives' : 'contacts receive'} “${d.template.name}”${d.when === 'later' && d.at ? `, on ${d.at.replace('T', ' ')} (workspace time)` : ', as soon as it is sent'}.`),
        h('h3', { text: 'What some of them will read' }),
        h('ul#bc-samples.bc-samples', null, ...(p.samples || []).map((s) => h('li.bc-sample', { dataset: { contact: s.contact_id || '' } },
          h('div.muted.small', { text: `${s.name || ''} ${s.phone || ''}`.trim() }), h('p.bc-sample-text', { text: s.text })))),
        skipped.length ? h('details#bc-skipped', null, h('summary', { text: `${skipped.length} skipped` }),
          h('ul', null, ...skipped.map((s) => h('li', { text: `${s.phone || s.contact_id || ''}: ${s.reason}` })))) : null);
    } catch (err) {
      out.replaceChildren(h('p.error', { role: 'alert', text: `Could not preview: ${err.message}` }));
    } finally { out.removeAttribute('aria-busy'); }
  })();
  return h('div.bc-step', null, out);
}

// ---------- live updates ----------

// onEvent applies broadcast.updated (the broadcast object, with its
// counts) to the list and the detail shown.
export function onEvent(ev) {
  if (ev.type !== 'broadcast.updated' || !shown) return;
  const b = ev.data && (ev.data.broadcast || ev.data);
  if (!b || !b.id) return;
  if (view.kind === 'detail' && detail.b && detail.b.id === b.id) updateDetail(b);
  if (view.kind === 'list') {
    const i = list.items.findIndex((x) => x.id === b.id);
    if (i >= 0) {
      list.items[i] = b;
      root.querySelector(`#bc-rows li[data-id="${b.id}"]`)?.replaceWith(row(b));
    } else {
      list.items.unshift(b);
      $('#bc-rows', root)?.prepend(row(b));
      $('#bc-status', root).textContent = '';
    }
  }
}

// resync loads what is shown again (the realtime stream resumed with a
// gap).
export function resync() { if (shown) apply(); }

// The header links here, beside Pipeline.
const megaphone = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M3 11v2a1 1 0 0 0 1 1h3l5 4V6L7 10H4a1 1 0 0 0-1 1z"/><path d="M16 9a3 3 0 0 1 0 6"/><path d="M19 6a7 7 0 0 1 0 12"/></svg>';
const link = h('a#open-broadcasts.top-link', {
  href: '#broadcasts', 'aria-label': 'Broadcasts', title: 'Broadcasts',
  onclick: (e) => {
    e.preventDefault();
    if (location.hash === '#broadcasts') return;
    go('#broadcasts');
  },
}, h('span.top-icon', { html: megaphone }), h('span.top-label', { text: 'Broadcasts' }));
const after = $('#open-pipeline') || $('#open-contacts');
if (after) after.after(link);
else $('.topbar-right').prepend(link);
// Contacts and Pipeline open without a hashchange: this view makes way.
for (const sel of ['#open-contacts', '#open-pipeline', '#open-settings']) $(sel)?.addEventListener('click', () => { if (shown) close(); });
