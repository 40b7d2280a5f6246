// The contact panel: profile and custom fields (editable), agent, tags,
// follow-up, CSAT, the AI's memories by type, notes with @mentions,
// files and the activity timeline. Data comes from contact.js. On a
// phone it is a sheet over the chat.
import { loadReceived, receivedList, subscriptionText } from './broadcasts_received.js';
import { api, get } from './api.js';
import { icons, channelIcon, channelNames } from './icons.js';
import { h, $, avatar, time12, dayLabel, convName, toast, formatSize } from './util.js';
import { loadContact, saveProfile, addNote, profileFields } from './contact.js';
import { loadDefs, fieldsEditor } from './fields.js';
import { memoryGroups, memoryItem } from './memories.js';
import * as chat from './chat.js';
import { pipelines, stageSelect, ownerSelect, changeText } from './stages.js';
import { detectedList, fillDetected } from './enrich.js';
import { teamSelect, userOption } from './teams.js';

let app;
let conv = null;
let data = null;
let tab = 'contact';
let shown = false;
let gen = 0;
let pipes = []; // the workspace's pipelines, for the stage select

export function init(a) {
  app = a;
  $('#act-contact').addEventListener('click', () => (shown ? close() : show()));
}

export function isOpen() { return shown; }

// toggle shows or hides the panel (the p shortcut, as the header button).
export function toggle() {
  if (shown) close();
  else show();
  return !!conv;
}

export function open(c) {
  const changed = !conv || conv.id !== c.id;
  conv = c;
  if (changed) data = null;
  if (shown && changed) refresh();
}

// onEvent follows a change to the shown contact (a language detected, a
// profile saved elsewhere, a stage or owner changed): only what was
// detected and the stage and owner selects are brought up to date, so
// that a profile being edited here is left alone. An event older than
// what is shown (an answer can come after the event of a later change)
// is dropped.
export function onEvent(ev) {
  const d = ev.data || {};
  const m = d.memory;
  if (m && data && data.available && m.contact_id === data.contact.id) {
    // A memory saved or deleted (by the AI, or a person elsewhere).
    const rest = (data.memories || []).filter((x) => x.id !== m.id);
    data.memories = ev.type === 'memory.created' ? [...rest, m] : rest;
    const box = $('#panel-memories');
    if (box) box.replaceChildren(...memoryGroups(data.memories, (x) => memoryItem(x), 5));
    return;
  }
  if (ev.type !== 'contact.updated' || !data || !data.available || d.id !== data.contact.id) return;
  if (!crmUpdate(d)) return;
  data.contact = { ...data.contact, ...d };
  if (!d.custom_fields) delete data.contact.custom_fields;
  const dl = $('#contact-pane dl.detected');
  if (dl) fillDetected(dl, data.contact);
  const stage = $('#panel-stage');
  if (stage) stage.value = d.stage ? d.stage.stage_id : '';
  const owner = $('#panel-owner');
  if (owner) owner.value = d.owner_id || '';
}

// crmUpdate takes the stage and owner of contact c, unless what is shown
// is newer; false when it did not.
function crmUpdate(c) {
  if (Date.parse(c.updated_at) < Date.parse(data.contact.updated_at)) return false;
  data.contact = { ...data.contact, stage: c.stage, owner_id: c.owner_id, updated_at: c.updated_at };
  if (!c.stage) delete data.contact.stage;
  if (!c.owner_id) delete data.contact.owner_id;
  return true;
}

// rerender draws the panel again (the teams changed).
export function rerender() { render(); }

export function onConversation(c) {
  if (!conv || c.id !== conv.id) return;
  conv = c;
  if (shown) render();
}

function show() {
  if (!conv) return;
  shown = true;
  document.body.classList.add('contact-open');
  $('#contact-pane').hidden = false;
  refresh();
}

export function close() {
  shown = false;
  document.body.classList.remove('contact-open');
  $('#contact-pane').hidden = true;
}

async function refresh() {
  const g = ++gen;
  // data-loaded names the conversation whose contact the panel shows
  // once its loads are in (tests wait for it before typing into it).
  delete $('#contact-pane').dataset.loaded;
  render();
  try {
    const memories = conv.contact_id ? get(`/contacts/${conv.contact_id}/memories`).then((r) => r.memories || []).catch(() => []) : [];
    const received = loadReceived(conv.contact_id).catch(() => null);
    const [d, ps, defs, mems, bcs] = await Promise.all([loadContact(conv, chat.messages()), pipelines().catch(() => []), loadDefs().catch(() => []), memories, received]);
    if (g !== gen) return;
    data = { ...d, defs, memories: mems, broadcasts: bcs };
    pipes = ps;
  } catch (err) {
    toast(`Could not load the contact: ${err.message}`);
  }
  render();
  if (g === gen && conv) $('#contact-pane').dataset.loaded = conv.id;
}

// drafts are the notes being written, by conversation: a render (any
// change to the conversation, such as its read update) rebuilds the
// panel and must not wipe what is being typed.
const drafts = new Map();

function render() {
  if (!shown || !conv) return;
  const active = document.activeElement;
  const typing = active && active.classList.contains('note-in') ? [active.selectionStart, active.selectionEnd] : null;
  const name = (data && data.profile.name) || convName(conv);
  const tabs = h('div.ptabs', { role: 'tablist' }, ...[['contact', 'Contact'], ['files', 'Files'], ['activity', 'Activity']].map(([k, l]) =>
    h('button.ptab', { type: 'button', role: 'tab', 'aria-selected': String(tab === k), onclick: () => { tab = k; render(); }, text: l })));
  const body = !data ? h('p.muted.pad', { text: 'Loading…' }) : tab === 'files' ? files() : tab === 'activity' ? activity() : contactTab();
  $('#contact-pane').replaceChildren(
    h('div.phead', null,
      h('button.icon-btn', { type: 'button', 'aria-label': 'Close', html: icons.close, onclick: close }),
      avatar(name, conv.contact_id, '.big'),
      h('div', null, h('div.name', { text: name }),
        h('div.muted.small', null, h('span', { html: channelIcon(conv.channel) }), ` ${channelNames[conv.channel] || conv.channel} · ${conv.external_user_id}`))),
    tabs, h('div.pbody', null, body));
  const ta = $('#contact-pane textarea.note-in');
  if (typing && ta) {
    ta.focus();
    ta.setSelectionRange(...typing);
  }
}

function section(title, ...kids) {
  return h('section.psec', null, h('h4', { text: title }), ...kids);
}

async function convAct(path, body, method = 'POST') {
  try {
    const r = await api(method, `/conversations/${conv.id}/${path}`, body);
    if (r) { conv = r; app.upsert(r); chat.onConversation(r); }
    render();
  } catch (err) { toast(err.message); }
}

// contactTab shows the profile and the custom fields with a definition
// (typed inputs, fields.js; the API's invalid_fields error beside each),
// the agent, tags, follow-up, CSAT, notes and other conversations.
function contactTab() {
  const p = data.profile || {};
  const typed = fieldsEditor(data.defs || [], data.contact.custom_fields, !data.available);
  const status = h('p.error.small.panel-fields-error', { role: 'alert' });
  const form = h('form.profile#panel-profile', {
    novalidate: true, // the API checks the values and says what is wrong beside each
    onsubmit: async (e) => {
      e.preventDefault();
      const fields = {};
      for (const [k] of profileFields) {
        const v = form.elements[k].value.trim();
        if (v !== (p[k] || '')) fields[k] = v;
      }
      const custom = typed.changes();
      if (Object.keys(custom).length) fields.custom_fields = custom;
      if (!Object.keys(fields).length) return;
      typed.clear();
      status.textContent = '';
      try {
        const r = await saveProfile(data.contact.id, fields);
        const c = (r && (r.contact || r)) || {};
        data.profile = c.profile || { ...p, ...fields };
        if (c.profile) data.contact = c;
        toast('Profile saved');
        render();
      } catch (err) {
        const rest = err.code === 'invalid_fields' ? typed.showErrors(err.fields) : null;
        status.textContent = rest && !rest.length ? 'Some fields are invalid: see above' : err.message;
      }
    },
  }, ...profileFields.map(([k, label]) => h('label', null, h('span', { text: label }),
    h('input', { name: k, value: p[k] || '', readonly: !data.available, type: k === 'email' ? 'email' : 'text' }))),
  (data.defs || []).length > 0 ? typed.el : null,
  data.available ? h('button.primary.small', { type: 'submit', text: 'Save' }) : h('p.muted.small', { text: 'Profile editing needs the contacts API.' }),
  status);

  const users = app.state.users;
  const agent = h('select', {
    'aria-label': 'Agent', onchange: (e) => convAct('assign', { user_id: e.target.value || null }),
  }, h('option', { value: '', text: 'Unassigned' }), ...users.map((u) => userOption(u, u.id === conv.assignee_id)));
  // The conversation's team: assigning to one lets it pick the member.
  const team = teamSelect(conv, (r) => { conv = r; app.upsert(r); chat.onConversation(r); render(); }, (err) => toast(err.message));

  const tags = (conv.tags || []);
  const tagIn = h('input', { placeholder: 'Add a tag', 'aria-label': 'Add a tag' });
  tagIn.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && tagIn.value.trim()) {
      e.preventDefault();
      convAct(`tags/${encodeURIComponent(tagIn.value.trim())}`, undefined, 'PUT');
    }
  });
  const tagList = h('div.tags', null, ...tags.map((t) => h('span.tag', null, t,
    h('button.x', { type: 'button', 'aria-label': `Remove ${t}`, text: '×', onclick: () => convAct(`tags/${encodeURIComponent(t)}`, undefined, 'DELETE') }))), tagIn);

  const fu = conv.follow_up_at
    ? h('div.row', null, h('span', { text: `Follow-up ${dayLabel(conv.follow_up_at)} ${time12(conv.follow_up_at)}` }),
      h('button.ghost.small', { type: 'button', text: 'Cancel', onclick: () => convAct('followup', undefined, 'DELETE') }))
    : h('div.row', null, ...['1h', '3h', '12h', '24h'].map((pr) => h('button.chip', { type: 'button', text: pr, onclick: () => convAct('followup', { preset: pr }) })));

  const csat = h('div.stars', { role: 'radiogroup', 'aria-label': 'CSAT' }, ...[1, 2, 3, 4, 5].map((n) => h('button.starbtn', {
    type: 'button', role: 'radio', 'aria-checked': String(conv.csat === n), 'aria-label': `${n} stars`,
    html: n <= (conv.csat || 0) ? icons.starFilled : icons.star, onclick: () => convAct('csat', { score: n }),
  })));

  const link = conv.channel === 'whatsapp' ? h('a.small', { href: `https://wa.me/${conv.external_user_id}`, target: '_blank', rel: 'noopener noreferrer', text: 'Open in WhatsApp' }) : null;

  const others = (data.conversations || []).filter((c) => c.id !== conv.id).slice(0, 10).map((c) =>
    h('button.linkrow', { type: 'button', onclick: () => app.open(c.id) }, h('span', { html: channelIcon(c.channel) }), ` ${c.folder} · ${dayLabel(c.last_activity_at)}`));

  // The contact's stage and owner, through the contact's actor.
  const moved = (c) => { crmUpdate(c); render(); };
  const crm = data.available ? [
    h('label.inline', { for: 'panel-stage' }, h('span', { text: 'Stage' }), stageSelect(pipes, data.contact, 'panel-stage', moved, (err) => toast(err.message))),
    h('label.inline', { for: 'panel-owner' }, h('span', { text: 'Owner' }), ownerSelect(users, app.state.me, data.contact, 'panel-owner', moved, (err) => toast(err.message))),
  ] : [];

  return h('div', null,
    section('Info', h('label.inline', null, h('span', { text: 'Agent' }), agent),
      ...(team ? [h('label.inline', { for: 'panel-team' }, h('span', { text: 'Team' }), team)] : []), ...crm,
      h('label.inline', null, h('span', { text: 'Follow-up' }), fu),
      h('label.inline', null, h('span', { text: 'CSAT' }), csat)),
    section('Tags', tagList),
    attribution(),
    section('Profile', detectedList(data.contact), form, link),
    section('Memories', h('div#panel-memories.ct-memory-groups', null, ...memoryGroups(data.memories || [], (x) => memoryItem(x), 5))),
    section('Notes', notes()),
    section('Broadcasts received', h('div#panel-broadcasts', null, data.broadcasts ? receivedList(data.broadcasts)
      : h('p.muted.small', { text: 'Broadcasts could not be loaded' }))),
    others.length ? section('Conversations', ...others) : null);
}

// campaignText says what a campaign is: its headline, its kind and its
// key (the ad id or the ref the inbox's Campaign filter names).
function campaignText(cp) {
  return [cp.headline, cp.source, cp.ad_id || cp.ref].filter(Boolean).join(' · ');
}

// attributionRows say where a customer came from: convCampaign, a
// conversation's (the newest it came through; null for none), and
// contact's first touch, and the contact's paid access. The contact
// panel and a contact's page show them.
export function attributionRows(convCampaign, contact) {
  const first = contact && contact.campaign;
  const sub = contact && contact.subscription;
  const row = (label, cp, name) => cp ? h(`div.campaign.${name}`, { dataset: { campaign: cp.ad_id || cp.ref || '' } },
    h('span.muted.small', { text: label }), h('div', { text: campaignText(cp) })) : null;
  const paid = sub ? h('div.paid-access', { dataset: { active: String(!!sub.active) } },
    h('span.muted.small', { text: 'Paid access' }),
    h('div', { text: sub.active ? `Paying subscriber${sub.since ? ` · ${dayLabel(sub.since)}` : ''}` : 'Subscription ended' })) : null;
  return [row('This conversation', convCampaign, 'conv-campaign'), row('First touch', first, 'first-touch'), paid].filter(Boolean);
}

function attribution() {
  const rows = attributionRows(conv.campaign, data.contact);
  return rows.length ? section('Attribution', ...rows) : null;
}

const mentionRe = /@([\p{L}\p{N}._-]+)/gu;

// noteText renders a note with its @mentions highlighted: the html the
// server rendered from its Markdown and sanitised, parsed in a template
// (nothing in it runs), or the plain text when there is none.
export function noteText(n) {
  if (typeof n.html !== 'string') return h('div.note-text', null, ...mentions(n.text));
  const t = document.createElement('template');
  t.innerHTML = n.html;
  const walk = document.createTreeWalker(t.content, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walk.nextNode()) if (!walk.currentNode.parentElement?.closest('a, code')) texts.push(walk.currentNode);
  for (const node of texts) node.replaceWith(...mentions(node.data));
  return h('div.note-text.note-md', null, t.content);
}

// mentions splits text into strings and highlighted @mentions.
function mentions(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(mentionRe)) {
    out.push(text.slice(last, m.index), h('span.mention', { text: m[0] }));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

function notes() {
  const list = h('div.notes', null, ...(data.notes || []).slice().reverse().map((n) => h('div.note', null, noteText(n),
    h('div.muted.small', { text: `${authorName(n.author_id)} · ${dayLabel(n.created_at)} ${time12(n.created_at)}` }))));
  if (!data.available) return h('div', null, list, h('p.muted.small', { text: 'Notes need the contacts API.' }));
  const id = conv.id;
  const ta = h('textarea.note-in', { rows: 2, placeholder: 'Add a note, @mention a teammate', 'aria-label': 'Note' });
  ta.value = drafts.get(id) || '';
  const sugg = h('div.mentions', { hidden: true });
  ta.addEventListener('input', () => {
    if (ta.value) drafts.set(id, ta.value);
    else drafts.delete(id);
    const upto = ta.value.slice(0, ta.selectionStart);
    const m = /@([\p{L}\p{N}._-]*)$/u.exec(upto);
    if (!m) { sugg.hidden = true; return; }
    const q = m[1].toLowerCase();
    const us = app.state.users.filter((u) => (u.name || '').toLowerCase().startsWith(q) || (u.email || '').toLowerCase().startsWith(q)).slice(0, 5);
    sugg.replaceChildren(...us.map((u) => h('button', {
      type: 'button', text: u.name || u.email, onclick: () => {
        const handle = (u.name || u.email).split(/\s+/)[0];
        ta.value = upto.slice(0, m.index) + '@' + handle + ' ' + ta.value.slice(ta.selectionStart);
        drafts.set(id, ta.value);
        sugg.hidden = true;
        ta.focus();
      },
    })));
    sugg.hidden = !us.length;
  });
  const add = h('button.primary.small', {
    type: 'button', text: 'Add note', onclick: async () => {
      const text = ta.value.trim();
      if (!text) return;
      try {
        const n = await addNote(data.contact.id, id, text);
        drafts.delete(id);
        if (!conv || conv.id !== id) return; // the panel moved on meanwhile
        data.notes = [...(data.notes || []), n];
        render();
      } catch (err) { toast(err.message); }
    },
  });
  return h('div', null, h('div.note-compose', null, ta, sugg, add), list);
}

function authorName(id) {
  const u = app.state.users.find((x) => x.id === id);
  return u ? u.name || u.email : 'Someone';
}

function files() {
  const fs = data.files || [];
  if (!fs.length) return h('p.muted.pad', { text: 'No files yet' });
  return h('div.files', null, ...fs.map((f) => h('div.doc', null, h('span.doc-icon', { html: icons.file }),
    h('span.doc-name', null, h('span', { text: f.filename || f.kind || f.mime_type || 'File' }), h('small.muted', { text: `${formatSize(f.size)} ${f.created_at ? dayLabel(f.created_at) : ''}` })))));
}

function activity() {
  const as = data.activity || [];
  if (!as.length) return h('p.muted.pad', { text: 'No activity yet' });
  return h('ol.timeline', null, ...as.slice().reverse().map((a) => h('li', null, h('span', { text: (a.raw && (changeText(a.raw, app.state.users) || subscriptionText(a.raw))) || a.text }),
    h('time.muted.small', { text: a.at ? `${dayLabel(a.at)} ${time12(a.at)}` : '' }))));
}
