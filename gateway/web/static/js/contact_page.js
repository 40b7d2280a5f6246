// A contact's page in the Contacts view (contacts.js): profile and
// custom fields (edited), conversations across channels (each opens in
// the inbox), notes (Markdown, as in the contact panel), the AI's
// memories, and files and activity a page at a time (the ?before=
// cursors of GET /contacts/{id}/files and /activity). Merge folds
// another contact into this one after showing what survives.
import { loadReceived, receivedList, subscriptionText } from './broadcasts_received.js';
import { api, get, ApiError, mediaURL } from './api.js';
import { icons, channelIcon, channelNames } from './icons.js';
import { h, $, avatar, dayLabel, time12, toast, confirmDialog, formatSize, debounce } from './util.js';
import { saveProfile, addNote, profileFields } from './contact.js';
import { detectedList } from './enrich.js';
import { noteText, attributionRows } from './panel.js';
import { pipelines, stageSelect, ownerSelect, changeText } from './stages.js';
import { loadDefs, fieldsEditor, aiWriteText } from './fields.js';
import { memoryGroups, memoryItem, typeSelect } from './memories.js';
import { dataCard } from './contact_data.js';

const PAGE = 20;

let app; // {state, go, back}
let box = null; // the page's container
let cur = null; // {id, contact, conversations, notes, memories, defs}
let gen = 0;

// merged remembers where contacts merged away went (a merge here, or a
// contact.deleted event with merged_into): their address shows the
// survivor, in this browser, after a reload too (the newest 500 kept).
const MERGED_KEY = 'parley.merged';
const merged = new Map(readMerged());

function readMerged() {
  try {
    const v = JSON.parse(localStorage.getItem(MERGED_KEY) || '[]');
    return Array.isArray(v) ? v.filter((x) => Array.isArray(x) && x.length === 2) : [];
  } catch { return []; }
}

function rememberMerge(from, into) {
  merged.delete(from);
  merged.set(from, into);
  while (merged.size > 500) merged.delete(merged.keys().next().value);
  try { localStorage.setItem(MERGED_KEY, JSON.stringify([...merged])); } catch { /* storage full or off: this session still knows */ }
}

export function init(a) {
  app = a;
  cur = null;
}

const me = () => app.state.me || {};
const isAdmin = () => me().role === 'owner' || me().role === 'admin';

// show renders the page of contact id in container c.
export async function show(c, id) {
  box = c;
  if (cur && cur.id === id && box.firstChild) return;
  const g = ++gen;
  cur = null;
  box.replaceChildren(h('p.muted.pad', { text: 'Loading…' }));
  let target = id;
  for (let i = 0; merged.has(target) && i < 10; i++) target = merged.get(target);
  if (target !== id) { app.go(target, true); return; }
  try {
    const [d, mem, ps, defs] = await Promise.all([get(`/contacts/${id}`), get(`/contacts/${id}/memories`), pipelines().catch(() => []), loadDefs()]);
    if (g !== gen) return;
    cur = { id, contact: d, conversations: d.conversations || [], notes: d.notes || [], memories: mem.memories || [], pipelines: ps, defs };
    render();
  } catch (err) {
    if (g !== gen) return;
    const gone = err instanceof ApiError && err.status === 404;
    box.replaceChildren(head(null), h('p.empty', { role: 'alert', text: gone ? 'This contact no longer exists: it was deleted or merged into another.' : `Could not load the contact: ${err.message}` }));
  }
}

// hide forgets the page (the list is shown).
export function hide() {
  gen++;
  cur = null;
  if (box) box.replaceChildren();
}

// onEvent keeps the page in step: a merge elsewhere, a profile changed,
// notes and memories added or deleted (by someone else, or the AI).
export function onEvent(ev) {
  const d = ev.data || {};
  if (ev.type === 'contact.deleted' && d.merged_into) {
    rememberMerge(d.id, d.merged_into);
    if (cur && cur.id === d.id) app.go(d.merged_into, true);
    return;
  }
  if (!cur) return;
  // The contact's own change (a save here) is known already; another's
  // shows unless a form here is being edited.
  if (ev.type === 'contact.updated' && d.id === cur.id && d.updated_at !== cur.contact.updated_at && !box.querySelector('#ct-profile[data-dirty=true]')) {
    cur.contact = { ...cur.contact, ...d };
    if (!d.custom_fields) delete cur.contact.custom_fields;
    if (!d.stage) delete cur.contact.stage;
    if (!d.owner_id) delete cur.contact.owner_id;
    render();
    return;
  }
  if (ev.type === 'form.submitted' && d.contact_id === cur.id) {
    box.querySelector('#ct-submissions')?.replaceWith(submissionsCard());
    return;
  }
  const n = d.note, m = d.memory;
  if (ev.type === 'note.created' && n && n.contact_id === cur.id) addNoteShown(n);
  if (ev.type === 'note.deleted' && n && n.contact_id === cur.id) {
    cur.notes = cur.notes.filter((x) => x.id !== n.id);
    renderNotes();
  }
  if (ev.type === 'memory.created' && m && m.contact_id === cur.id) addMemoryShown(m);
  if (ev.type === 'memory.deleted' && m && m.contact_id === cur.id) {
    cur.memories = cur.memories.filter((x) => x.id !== m.id);
    renderMemories();
  }
}

// addNoteShown and addMemoryShown show one that came (the answer to an
// add here, or its event, whichever is first) once.
function addNoteShown(n) {
  if (cur.notes.some((x) => x.id === n.id)) return;
  cur.notes = [n, ...cur.notes];
  renderNotes();
}

function addMemoryShown(m) {
  if (cur.memories.some((x) => x.id === m.id)) return;
  cur.memories = [...cur.memories, m];
  renderMemories();
}

function head(c) {
  const name = c ? displayName(c) : 'Contact';
  const ids = c ? c.identities || [] : [];
  return h('div.ct-page-head', null,
    h('button#ct-back.ghost.small', { type: 'button', 'aria-label': 'Back to the contacts', onclick: () => app.back() }, '← Contacts'),
    c ? avatar(name, c.id, '.big') : null,
    h('div.ct-title', null, h('h2#ct-name', { text: name }),
      h('div.ct-ids.muted.small', null, ...ids.map((i) => h('span.ct-id', null, h('span', { html: channelIcon(i.channel), 'aria-hidden': 'true' }),
        ` ${channelNames[i.channel] || i.channel} ${i.external_id}`)))),
    c ? h('button#ct-merge.ghost.small', { type: 'button', text: 'Merge…', onclick: openMerge }) : null);
}

// displayName is what the app calls a contact: its name, else what
// reaches it.
export function displayName(c) {
  const p = c.profile || {};
  return p.name || c.channel_name || p.phone || p.email || (c.identities && c.identities[0] && c.identities[0].external_id) || 'Unnamed contact';
}

function card(id, title, ...kids) {
  return h(`section.ct-card#${id}`, { 'aria-labelledby': `${id}-h` }, h('h3', { id: `${id}-h`, text: title }), ...kids);
}

function render() {
  const c = cur.contact;
  box.replaceChildren(head(c),
    h('div.ct-grid', null,
      h('div.ct-col', null, crmCard(c), profileCard(c), attributionCard(c), convCard(), submissionsCard(), receivedCard()),
      h('div.ct-col', null, notesCard(), memoriesCard(), pagedCard('ct-files', 'Files', 'files', fileItem, 'No files yet'),
        pagedCard('ct-activity', 'Activity', 'activity', activityItem, 'No activity yet'),
        dataCard(c, isAdmin(), () => { cur = null; app.back(); }))));
  renderNotes();
  renderMemories();
}

// ---------- stage and owner ----------

// crmCard shows and changes the contact's stage and owner (through its
// actor on the server); the answer is the contact as stored.
function crmCard(c) {
  const done = (r) => {
    cur.contact = { ...cur.contact, stage: r.stage, owner_id: r.owner_id, updated_at: r.updated_at };
    if (!r.stage) delete cur.contact.stage;
    if (!r.owner_id) delete cur.contact.owner_id;
    render();
  };
  const fail = (err) => toast(err.message);
  return card('ct-crm', 'Pipeline',
    h('div.ct-crm-fields', null,
      h('label.inline', { for: 'ct-stage-pick' }, h('span', { text: 'Stage' }), stageSelect(cur.pipelines || [], c, 'ct-stage-pick', done, fail)),
      h('label.inline', { for: 'ct-owner-pick' }, h('span', { text: 'Owner' }), ownerSelect(app.state.users || [], me(), c, 'ct-owner-pick', done, fail))));
}

// ---------- profile and custom fields ----------

// profileCard edits the profile and the custom fields: those with a
// definition by their typed inputs (fields.js), the others (keys without
// a definition) as free text rows; the API's invalid_fields error shows
// beside each input it names.
function profileCard(c) {
  const p = c.profile || {};
  const defined = new Set(cur.defs.map((d) => d.key));
  const typed = fieldsEditor(cur.defs, c.custom_fields);
  const free = Object.fromEntries(Object.entries(c.custom_fields || {}).filter(([k]) => !defined.has(k)));
  const fieldRow = (k = '', v = '') => {
    const r = h('div.ct-field', null,
      h('input.ct-field-key', { value: k, 'aria-label': 'Field name', placeholder: 'Field', maxlength: '64' }),
      h('input.ct-field-value', { value: v, 'aria-label': `Value of ${k || 'the new field'}`, placeholder: 'Value' }),
      h('button.icon-btn.ct-field-remove', { type: 'button', 'aria-label': `Remove ${k || 'this field'}`, text: '×', onclick: () => { r.remove(); dirty(); } }));
    return r;
  };
  const fields = h('div#ct-fields.ct-fields', null, ...Object.entries(free).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => fieldRow(k, v)));
  const status = h('p.small.ct-status', { role: 'status' });
  const form = h('form#ct-profile.profile', {
    novalidate: true, // the API checks the values and says what is wrong beside each
    onsubmit: async (e) => {
      e.preventDefault();
      const body = {};
      for (const [k] of profileFields) {
        const v = form.elements[k].value.trim();
        if (v !== (p[k] || '')) body[k] = v;
      }
      const custom = typed.changes();
      const now = new Map();
      for (const r of fields.children) {
        const k = $('.ct-field-key', r).value.trim();
        if (k) now.set(k, $('.ct-field-value', r).value.trim());
      }
      for (const k of Object.keys(free)) if (!now.has(k)) custom[k] = null;
      for (const [k, v] of now) if (!defined.has(k) && free[k] !== v) custom[k] = v;
      if (Object.keys(custom).length) body.custom_fields = custom;
      if (!Object.keys(body).length) { status.textContent = 'Nothing changed'; return; }
      typed.clear();
      status.classList.remove('error');
      try {
        const r = await saveProfile(c.id, body);
        Object.assign(cur.contact, r);
        if (!r.custom_fields) delete cur.contact.custom_fields;
        render();
        toast('Contact saved');
      } catch (err) {
        const rest = err.code === 'invalid_fields' ? typed.showErrors(err.fields) : null;
        status.textContent = rest && !rest.length ? 'Some fields are invalid: see above' : err.message;
        status.classList.add('error');
      }
    },
  }, ...profileFields.map(([k, label]) => h('label', null, h('span', { text: label }),
    h('input', { name: k, value: p[k] || '', type: k === 'email' ? 'email' : k === 'phone' ? 'tel' : 'text' }))),
  h('fieldset.ct-custom', null, h('legend', { text: 'Custom fields' }), typed.el,
    cur.defs.length > 0 && Object.keys(free).length > 0 ? h('p.muted.small', { text: 'Other fields (no definition in Settings › Contact fields)' }) : null, fields,
    h('button#ct-field-add.ghost.small', { type: 'button', text: 'Add field', onclick: () => { const r = fieldRow(); fields.append(r); $('input', r).focus(); dirty(); } })),
  h('div.ct-save', null, h('button#ct-save.primary.small', { type: 'submit', text: 'Save' }), status));
  const dirty = () => { form.dataset.dirty = 'true'; };
  form.addEventListener('input', dirty);
  form.addEventListener('change', dirty); // a select or a checkbox of a typed field
  return card('ct-profile-card', 'Profile', detectedList(c), form);
}

// attributionCard shows the contact's first touch and paid access, or
// nothing when it has neither.
function attributionCard(c) {
  const rows = attributionRows(null, c);
  return rows.length ? card('ct-attribution', 'Attribution', ...rows) : null;
}

// ---------- conversations ----------

function convCard() {
  const cs = cur.conversations;
  if (!cs.length) return card('ct-convs', 'Conversations', h('p.muted', { text: 'No conversations yet' }));
  return card('ct-convs', 'Conversations', h('ul.ct-conv-list', null, ...cs.map((v) => h('li', null,
    h('a.ct-conv', { href: `#c/${v.id}`, dataset: { id: v.id } },
      h('span', { html: channelIcon(v.channel), 'aria-hidden': 'true' }),
      h('span.ct-conv-main', null, h('span', { text: `${channelNames[v.channel] || v.channel} · ${v.folder}` }),
        h('span.muted.small', { text: v.preview || '' })),
      h('span.muted.small', { text: `${dayLabel(v.last_activity_at)} ${time12(v.last_activity_at)}` }))))));
}

// ---------- notes ----------

function authorName(id) {
  const u = (app.state.users || []).find((x) => x.id === id);
  return u ? u.name || u.email : id === me().id ? 'You' : 'Someone';
}

function notesCard() {
  const ta = h('textarea#ct-note-in.note-in', { rows: 3, placeholder: 'Add a note (Markdown), @mention a teammate', 'aria-label': 'New note' });
  const add = h('button#ct-note-add.primary.small', {
    type: 'button', text: 'Add note', onclick: async () => {
      const text = ta.value.trim();
      if (!text) return;
      const id = cur.id;
      add.disabled = true;
      try {
        const n = await addNote(id, null, text);
        if (!cur || cur.id !== id) return;
        ta.value = '';
        addNoteShown(n);
      } catch (err) { toast(err.message); } finally { add.disabled = false; }
    },
  });
  return card('ct-notes', 'Notes', h('div.note-compose', null, ta, add), h('div#ct-note-list.notes'));
}

function renderNotes() {
  const el = box.querySelector('#ct-note-list');
  if (!el) return;
  if (!cur.notes.length) { el.replaceChildren(h('p.muted', { text: 'No notes yet' })); return; }
  el.replaceChildren(...cur.notes.map((n) => h('div.note', { dataset: { id: n.id } }, noteText(n),
    h('div.ct-note-foot.muted.small', null, h('span', { text: `${authorName(n.author_id)} · ${dayLabel(n.created_at)} ${time12(n.created_at)}` }),
      // Only the author or an admin may delete a note: nobody else is offered it.
      n.author_id === me().id || isAdmin() ? h('button.link.ct-note-del', {
        type: 'button', text: 'Delete', 'aria-label': 'Delete this note', onclick: async () => {
          if (!(await confirmDialog('Delete this note?', 'Delete', true))) return;
          try {
            await api('DELETE', `/contacts/${cur.id}/notes/${n.id}`);
            cur.notes = cur.notes.filter((x) => x.id !== n.id);
            renderNotes();
          } catch (err) { toast(err.message); }
        },
      }) : null))));
}

// ---------- memories ----------

function memoriesCard() {
  const input = h('input#ct-memory-in', { type: 'text', placeholder: 'A fact the AI should know', 'aria-label': 'New memory', maxlength: '500' });
  const type = typeSelect('ct-memory-type');
  const form = h('form.ct-memory-add', {
    onsubmit: async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      try {
        const id = cur.id;
        const m = await api('POST', `/contacts/${id}/memories`, { text, type: type.value });
        if (!cur || cur.id !== id) return;
        input.value = '';
        addMemoryShown(m);
      } catch (err) { toast(err.message); }
    },
  }, input, type, h('button#ct-memory-add.ghost.small', { type: 'submit', text: 'Add' }));
  return card('ct-memories', 'Memories', h('p.muted.small', { text: 'What the AI agent is told in every conversation with this contact: facts, preferences, goals and experiences.' }),
    h('div#ct-memory-list.ct-memory-groups'), form);
}

function renderMemories() {
  const el = box.querySelector('#ct-memory-list');
  if (!el) return;
  el.replaceChildren(...memoryGroups(cur.memories, (m) => memoryItem(m,
    h('button.icon-btn', { type: 'button', 'aria-label': `Delete the memory: ${m.text}`, html: icons.close, onclick: async () => {
      try {
        await api('DELETE', `/contacts/${cur.id}/memories/${m.id}`);
        cur.memories = cur.memories.filter((x) => x.id !== m.id);
        renderMemories();
      } catch (err) { toast(err.message); }
    } }))));
}

// ---------- form submissions ----------

// submissionsCard lists what the contact submitted through the
// workspace's forms (Settings › Forms), newest first.
function submissionsCard() {
  const ol = h('ol.ct-paged#ct-submissions-list', { 'aria-busy': 'true' });
  const contact = cur.id;
  queueMicrotask(async () => {
    try {
      const r = await get(`/contacts/${contact}/submissions`);
      if (!cur || cur.id !== contact) return;
      const subs = r.submissions || [];
      ol.replaceChildren(...subs.map((s) => h('li.ct-submission', { dataset: { id: s.id, form: s.form_id } },
        h('div', null, h('strong', { text: s.form_name }), h('span.muted.small', { text: ` · ${when(s.created_at)}` })),
        h('dl.fm-values', null, ...Object.entries(s.values).flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])))));
      if (!subs.length) ol.append(h('li.muted', { text: 'No form submissions' }));
    } catch (err) {
      toast(`Could not load the form submissions: ${err.message}`);
    } finally { ol.removeAttribute('aria-busy'); }
  });
  return card('ct-submissions', 'Form submissions', ol);
}

// receivedCard lists the broadcasts the contact received, newest first.
function receivedCard() {
  const box = h('div#ct-broadcasts-list', { 'aria-busy': 'true' });
  const contact = cur.id;
  queueMicrotask(async () => {
    try {
      const list = await loadReceived(contact);
      if (!cur || cur.id !== contact) return;
      box.replaceChildren(receivedList(list));
    } catch (err) {
      box.replaceChildren(h('p.muted.small', { text: `Could not load the broadcasts: ${err.message}` }));
    } finally { box.removeAttribute('aria-busy'); }
  });
  return card('ct-broadcasts', 'Broadcasts received', box);
}

// ---------- files and activity, a page at a time ----------

function pagedCard(id, title, what, item, empty) {
  const ol = h(`ol.ct-paged`, { id: `${id}-list` });
  const more = h('button.ghost.small', { type: 'button', id: `${id}-more`, text: 'Load more', hidden: true });
  const state = { before: '', contact: cur.id };
  const load = async () => {
    more.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (state.before) q.set('before', state.before);
      const r = await get(`/contacts/${state.contact}/${what}?${q}`);
      if (!cur || cur.id !== state.contact) return;
      const items = r[what] || [];
      ol.append(...items.map(item));
      if (!ol.children.length) ol.append(h('li.muted', { text: empty }));
      state.before = r.next_before || '';
      more.hidden = !state.before;
    } catch (err) {
      toast(`Could not load ${what}: ${err.message}`);
    } finally { more.disabled = false; }
  };
  more.addEventListener('click', load);
  queueMicrotask(load);
  return card(id, title, ol, more);
}

const when = (t) => `${dayLabel(t)} ${time12(t)}`;

function fileItem(f) {
  const name = f.filename || f.caption || f.kind || 'File';
  // The file comes with the token (a link cannot send it), then is
  // saved through its object URL.
  const save = async () => {
    try {
      const url = await mediaURL({ sha256: f.media_id });
      const a = h('a', { href: url, download: f.filename || `${f.kind || 'file'}`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (err) { toast(`Could not download ${name}: ${err.message}`); }
  };
  return h('li.ct-file', { dataset: { media: f.media_id || '' } }, h('span.doc-icon', { html: icons.file }),
    h('span.ct-file-main', null, h('a', { href: `#c/${f.conversation_id}`, text: name, title: 'Open its conversation' }),
      h('span.muted.small', { text: ` ${formatSize(f.size)} · ${when(f.created_at)}` })),
    f.media_id ? h('button.ghost.small.ct-file-save', { type: 'button', 'aria-label': `Download ${name}`, text: 'Download', onclick: save }) : null);
}

function activityText(a) {
  const ch = channelNames[a.channel] || a.channel || '';
  switch (a.type) {
    case 'conversation.created': return `Conversation started on ${ch}`;
    case 'folder.changed': return `Conversation on ${ch} moved to ${a.folder}`;
    case 'note': return `Note: ${a.note ? a.note.text : ''}`;
    case 'file': return `File on ${ch}: ${(a.file && (a.file.filename || a.file.kind)) || 'file'}`;
    case 'stage_changed': case 'owner_changed': return changeText(a, app.state.users);
    case 'unsubscribed': case 'resubscribed': return subscriptionText(a);
    case 'contact.ai_updated': return aiWriteText(a.ai_write);
    case 'segment.entered': return `Entered the segment ${a.segment ? a.segment.segment_name : ''}`;
    case 'segment.left': return `Left the segment ${a.segment ? a.segment.segment_name : ''}`;
    default: return a.type;
  }
}

function activityItem(a) {
  const text = activityText(a);
  return h('li.ct-act', { dataset: { type: a.type } },
    a.conversation_id ? h('a', { href: `#c/${a.conversation_id}`, text }) : h('span', { text }),
    h('time.muted.small', { datetime: a.at, text: when(a.at) }));
}

// ---------- merge ----------

// openMerge asks which contact to fold into this one, shows what
// survives, and merges on confirmation.
function openMerge() {
  const target = cur.contact;
  const dlg = h('dialog#ct-merge-dialog.ct-dialog', { 'aria-labelledby': 'ct-merge-title' });
  const search = h('input#ct-merge-search', { type: 'search', placeholder: 'Search a contact', 'aria-label': 'Search the contact to merge in', autocomplete: 'off' });
  const results = h('ul#ct-merge-results.ct-merge-results', { 'aria-label': 'Contacts found' });
  const preview = h('div#ct-merge-preview.ct-merge-preview', { 'aria-live': 'polite' });
  const ok = h('button#ct-merge-ok.primary.danger', { type: 'button', text: 'Merge', disabled: true });
  let from = null;
  const find = debounce(async () => {
    const q = search.value.trim();
    if (!q) { results.replaceChildren(); return; }
    try {
      const r = await get(`/contacts?${new URLSearchParams({ q, limit: '10' })}`);
      results.replaceChildren(...(r.contacts || []).filter((c) => c.id !== target.id).map((c) => h('li', null,
        h('button.ct-merge-pick', { type: 'button', dataset: { id: c.id }, 'aria-pressed': 'false', onclick: (e) => {
          from = c;
          for (const b of results.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === e.currentTarget));
          preview.replaceChildren(survivors(target, c));
          ok.disabled = false;
        } }, h('strong', { text: displayName(c) }), h('span.muted.small', { text: ` ${[c.profile.phone, c.profile.email].filter(Boolean).join(' · ')}` })))));
      if (!results.children.length) results.append(h('li.muted', { text: 'No other contact found' }));
    } catch (err) { results.replaceChildren(h('li.error', { text: err.message })); }
  }, 250);
  search.addEventListener('input', find);
  const done = () => { dlg.close(); dlg.remove(); };
  ok.addEventListener('click', async () => {
    if (!from) return;
    ok.disabled = true;
    try {
      const m = await api('POST', `/contacts/${target.id}/merge`, { from: from.id });
      rememberMerge(from.id, m.id);
      done();
      cur = null;
      app.go(m.id, true);
      toast(`${displayName(from)} was merged into ${displayName(m)}`);
    } catch (err) {
      ok.disabled = false;
      preview.append(h('p.error', { role: 'alert', text: err.message }));
    }
  });
  dlg.addEventListener('close', () => dlg.remove());
  dlg.append(h('h2#ct-merge-title', { text: `Merge a contact into ${displayName(target)}` }),
    h('p.muted.small', { text: 'The other contact\'s conversations, identities, notes and memories move here, its details fill the empty ones, and it is deleted.' }),
    search, results, preview,
    h('div.modal-actions', null, h('button#ct-merge-cancel.ghost', { type: 'button', text: 'Cancel', onclick: done }), ok));
  document.body.append(dlg);
  dlg.showModal();
  search.focus();
}

// survivors is what the merged contact will hold (engine.MergeContact):
// this contact's fields, its empty ones filled from the other, every
// identity of both, the custom fields of both (this contact's win).
function survivors(target, src) {
  const tp = target.profile || {}, sp = src.profile || {};
  const rows = profileFields.map(([k, label]) => {
    const v = tp[k] || sp[k] || '';
    return v ? [label, v, !tp[k]] : null;
  }).filter(Boolean);
  const cf = { ...(src.custom_fields || {}), ...(target.custom_fields || {}) };
  for (const [k, v] of Object.entries(cf).sort(([a], [b]) => a.localeCompare(b))) rows.push([k, v, !(k in (target.custom_fields || {}))]);
  const ids = [...(target.identities || []), ...(src.identities || [])];
  const seen = new Set();
  for (const i of ids) {
    const key = `${i.channel}:${i.external_id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push([channelNames[i.channel] || i.channel, i.external_id, !(target.identities || []).some((x) => x.channel === i.channel && x.external_id === i.external_id)]);
  }
  return h('table.ct-survive', null, h('caption', { text: `What ${displayName(target)} keeps after the merge` }),
    h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Field' }), h('th', { scope: 'col', text: 'Value' }), h('th', { scope: 'col', text: 'From' }))),
    h('tbody', null, ...rows.map(([k, v, fromOther]) => h('tr', { dataset: { from: fromOther ? 'other' : 'this' } },
      h('th', { scope: 'row', text: k }), h('td', { text: v }), h('td.muted', { text: fromOther ? displayName(src) : 'this contact' })))));
}
