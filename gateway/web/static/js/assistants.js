// The workspace's assistants as the inbox shows them (GET /assistants):
// the Assistant filter of the list, the assistant's name on a row and
// in the chat header, where a person hands the conversation to another
// assistant. Settings › Assistants (settings_assistants.js) edits them
// and calls loadAssistants after each change.
import { get } from './api.js';
import { h } from './util.js';

const DEFAULT = 'default';
let list = []; // [{id, name, default, conversations, ...}], the default first
const listeners = new Set();

// assistantOf is the id of the assistant handling conversation c (a
// conversation stored before assistants has none: the default's).
export const assistantOf = (c) => (c && c.assistant_id) || DEFAULT;

// assistantsShown says whether the inbox names assistants: only when the
// workspace has more than its default one.
export const assistantsShown = () => list.length > 1;

// assistants returns the assistants last loaded.
export const assistants = () => list;

// assistantName is the name of assistant id ('' when unknown).
export function assistantName(id) {
  const a = list.find((x) => x.id === (id || DEFAULT));
  return a ? a.name : '';
}

// onAssistantsChange calls f after each load that changed the list.
export function onAssistantsChange(f) { listeners.add(f); }

// loadAssistants reads the assistants; listeners hear of a change.
export async function loadAssistants() {
  try {
    const r = await get('/assistants');
    const next = r.assistants || [];
    if (JSON.stringify(next) === JSON.stringify(list)) return;
    list = next;
    for (const f of listeners) f();
  } catch { /* the inbox keeps what it showed */ }
}

// assistantFilter is the list's Assistant filter (f.assistant), or null
// while the workspace has one assistant and none is filtered on.
export function assistantFilter(f, changed) {
  if (!assistantsShown() && !f.assistant) return null;
  return h('select.chip', {
    'aria-label': 'Assistant', dataset: { filter: 'assistant', on: String(!!f.assistant) },
    onchange: (e) => { f.assistant = e.target.value; changed(); },
  }, h('option', { value: '', text: 'Any assistant', selected: !f.assistant }),
  ...list.map((a) => h('option', { value: a.id, text: a.conversations ? `${a.name} (${a.conversations})` : a.name, selected: f.assistant === a.id })));
}

// assistantMarker names a row's assistant, when the inbox names them.
export function assistantMarker(c) {
  if (!assistantsShown()) return null;
  const name = assistantName(assistantOf(c));
  return name ? h('span.marker.assistant', { text: name, title: `Assistant: ${name}`, dataset: { assistant: assistantOf(c) } }) : null;
}

// assistantPicker is the chat header's choice of the conversation's
// assistant; pick(id) hands it over.
export function assistantPicker(c, pick) {
  if (!assistantsShown()) return null;
  const cur = assistantOf(c);
  const opts = list.map((a) => h('option', { value: a.id, text: a.name, selected: a.id === cur }));
  if (!list.some((a) => a.id === cur)) opts.push(h('option', { value: cur, text: 'Deleted assistant', selected: true }));
  return h('select#chat-assistant.assistant-pick', {
    'aria-label': 'Assistant of this conversation', title: 'The assistant that answers this conversation',
    onchange: (e) => pick(e.target.value),
  }, ...opts);
}
