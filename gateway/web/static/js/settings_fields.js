// Settings › Contact fields: the workspace's custom field definitions
// (/contact-fields): key, label, type, a select's options, required and
// Allow for AI (the AI agent writes only the fields that allow it).
// Owners and admins add, edit and delete them; agents see the list, as
// the API allows. The contact page and panel edit values by these
// definitions (fields.js).
import { registerSection, field } from './settings.js';
import { h, toast, confirmDialog } from './util.js';
import { TYPES, typeName, invalidate } from './fields.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';
const selects = (t) => t === 'single_select' || t === 'multi_select';

registerSection({
  id: 'fields', title: 'Contact fields', order: 46,
  render: async (box, ctx) => {
    const list = h('div.settings-card#contact-fields');
    box.append(h('p.muted', {
      text: 'Custom fields of your contacts, checked on every write: the contact page, the API, CSV import and the AI agent. '
        + 'The AI agent fills a field from the conversation only when it has Allow for AI.',
    }));
    if (manages(ctx.me)) box.append(fieldForm(ctx, null, () => load(ctx, list)));
    box.append(list);
    await load(ctx, list);
  },
});

async function load(ctx, list) {
  invalidate();
  const defs = (await ctx.api.get('/contact-fields')).fields || [];
  const admin = manages(ctx.me);
  const rows = defs.map((d) => h('tr.cf-def', { dataset: { id: d.id, key: d.key } },
    h('td', null, h('strong.cf-def-label', { text: d.label }), h('br'), h('code.muted.small', { text: d.key })),
    h('td.cf-def-type', { text: typeName(d.type) + (d.options && d.options.length ? `: ${d.options.join(', ')}` : '') }),
    h('td.cf-def-flags', { text: [d.required ? 'Required' : '', d.allow_ai ? 'Allow for AI' : ''].filter(Boolean).join(' · ') || '—' }),
    admin ? h('td.row-actions', null,
      h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, text: 'Edit', 'aria-label': `Edit ${d.label}`, onclick: (e) => edit(ctx, d, e.target.closest('tr'), list) }),
      h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete ${d.label}`, onclick: () => remove(ctx, d, list) })) : null));
  list.replaceChildren(h('h3', { text: `Fields (${defs.length})` }),
    defs.length ? h('div.table-wrap', null, h('table.settings-table', null,
      h('thead', null, h('tr', null, h('th', { text: 'Field' }), h('th', { text: 'Type' }), h('th', { text: 'Rules' }),
        admin ? h('th', null, h('span.sr-only', { text: 'Actions' })) : null)),
      h('tbody', null, ...rows)))
      : h('p.muted', { text: admin ? 'None yet: add the first above.' : 'None yet: an owner or admin adds them here.' }));
}

// slug makes a key of a label: lower case letters, digits and _.
const slug = (s) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^[^a-z]+|_+$/g, '').slice(0, 40);

// fieldForm creates a definition (d null) or edits d; done runs after a
// save, cancel (an edit's) puts the list back.
function fieldForm(ctx, d, done, cancel) {
  const sfx = d ? `-${d.id}` : '';
  const label = h(`input#cf-label${sfx}`, { type: 'text', required: true, maxlength: '100', autocomplete: 'off', value: d ? d.label : '' });
  const key = h(`input#cf-key${sfx}`, { type: 'text', required: true, maxlength: '40', autocomplete: 'off', value: d ? d.key : '', readonly: !!d, pattern: '[a-z][a-z0-9_]*' });
  const type = h(`select#cf-type${sfx}`, null, ...TYPES.map(([k, l]) => h('option', { value: k, text: l, selected: d ? d.type === k : k === 'text' })));
  const options = h(`textarea#cf-options${sfx}`, { rows: 4 });
  options.value = d && d.options ? d.options.join('\n') : '';
  const optField = field('Options', options, 'One per line');
  const required = h(`input#cf-required${sfx}`, { type: 'checkbox', checked: d ? d.required : false });
  const ai = h(`input#cf-ai${sfx}`, { type: 'checkbox', checked: d ? d.allow_ai : false });
  const status = h('p.error.cf-form-error', { role: 'alert' });
  const showOptions = () => { optField.hidden = !selects(type.value); };
  type.addEventListener('change', showOptions);
  showOptions();
  let keyEdited = !!d;
  key.addEventListener('input', () => { keyEdited = true; });
  label.addEventListener('input', () => { if (!keyEdited) key.value = slug(label.value); });
  const form = h('form.settings-card.settings-form.cf-form', { 'aria-label': d ? `Edit ${d.label}` : 'New contact field', novalidate: true },
    h('h3', { text: d ? `Edit ${d.label}` : 'New contact field' }),
    field('Label', label),
    field('Key', key, d ? 'The key of a field does not change' : 'Lower-case letters, digits and _: the name in the API, CSV import and the AI agent'),
    field('Type', type), optField,
    h('fieldset', null, h('legend', { text: 'Rules' }),
      h('label.check', null, required, ' Required'),
      h('label.check', null, ai, ' Allow for AI (the AI agent may fill it from the conversation)')),
    h('div.canned-actions', null,
      h('button.primary', { type: 'submit', text: d ? 'Save' : 'Add field' }),
      cancel ? h('button.ghost', { type: 'button', text: 'Cancel', onclick: cancel }) : null),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const payload = { label: label.value.trim(), type: type.value, required: required.checked, allow_ai: ai.checked };
    payload.options = selects(type.value) ? options.value.split('\n').map((s) => s.trim()).filter(Boolean) : [];
    try {
      if (d) await ctx.api.api('PATCH', `/contact-fields/${d.id}`, payload);
      else await ctx.api.post('/contact-fields', { ...payload, key: key.value.trim() });
      if (!d) { label.value = ''; key.value = ''; keyEdited = false; options.value = ''; required.checked = false; ai.checked = false; }
      toast(d ? 'Field saved' : 'Field added');
      await done();
    } catch (err) {
      status.textContent = err.code === 'key_taken' ? `Another field has the key ${key.value.trim()}: pick another key` : err.message;
    }
  });
  return form;
}

function edit(ctx, d, tr, list) {
  const form = fieldForm(ctx, d, () => load(ctx, list), () => load(ctx, list));
  tr.replaceChildren(h('td', { colspan: '4' }, form));
  form.querySelector('input').focus();
}

async function remove(ctx, d, list) {
  if (!await confirmDialog(`Delete the field ${d.label}? Contacts keep their values, as free text.`, 'Delete', true)) return;
  try {
    await ctx.api.api('DELETE', `/contact-fields/${d.id}`);
    toast('Field deleted');
  } catch (err) { toast(err.message); }
  await load(ctx, list);
}
