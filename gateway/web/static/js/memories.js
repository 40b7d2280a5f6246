// A contact's memories by type (engine.MemoryTypes): what the AI agent is
// told in every conversation with the contact, grouped as facts,
// preferences, goals and experiences, each with who saved it. The
// contact page (with an add form and delete buttons) and the inbox's
// contact panel both show them this way.
import { h } from './util.js';

// MEMORY_TYPES are the memory types with their group's name, in the
// order shown.
export const MEMORY_TYPES = [['fact', 'Facts'], ['preference', 'Preferences'], ['goal', 'Goals'], ['experience', 'Experiences']];

const typeOf = (m) => (MEMORY_TYPES.some(([t]) => t === m.type) ? m.type : 'fact');

// memoryGroups renders memories grouped by type (a group per type that
// has some, oldest first within it); item(m) renders one memory's li.
// level is the heading level of the groups' names (4 or 5).
export function memoryGroups(memories, item, level = 4) {
  const groups = MEMORY_TYPES.map(([t, name]) => [t, name, memories.filter((m) => typeOf(m) === t)]).filter(([, , ms]) => ms.length);
  if (!groups.length) return [h('p.muted.small.mem-empty', { text: 'No memories yet' })];
  return groups.map(([t, name, ms]) => h('section.mem-group', { dataset: { type: t } },
    h(`h${level}.mem-type`, { text: `${name} (${ms.length})` }),
    h('ul.ct-memory-list', null, ...ms.map(item))));
}

// memoryItem is one memory's text and who saved it.
export function memoryItem(m, ...extra) {
  return h('li', { dataset: { id: m.id, type: typeOf(m) } },
    h('span.ct-memory-text', { text: m.text }), h('span.badge-soft', { text: m.source === 'ai' ? 'AI' : 'Person' }), ...extra);
}

// typeSelect is the select of a new memory's type.
export function typeSelect(id) {
  return h(`select#${id}.mem-type-select`, { 'aria-label': 'Type of the new memory' },
    ...MEMORY_TYPES.map(([t, name]) => h('option', { value: t, text: name.replace(/s$/, '') })));
}
