// Custom contact fields by their definitions (GET /contact-fields): the
// typed inputs the contact page and the contact panel edit them with,
// the values those inputs hand to PATCH /contacts/{id}, and the API's
// invalid_fields errors shown beside the input they are about. A value
// whose key has no definition stays free text (fieldsEditor's others).
import { get } from './api.js';
import { h } from './util.js';

// TYPES are the field types, in the order the settings offer them
// (engine.FieldTypes), with their names for people.
export const TYPES = [
  ['text', 'Text'], ['number', 'Number'], ['date', 'Date'], ['single_select', 'Single select'],
  ['multi_select', 'Multi select'], ['email', 'Email'], ['phone', 'Phone'], ['url', 'URL'], ['boolean', 'Yes / no'],
];

export const typeName = (t) => (TYPES.find(([k]) => k === t) || [t, t])[1];

// SEP joins the options of a multi select's value (engine.MultiSelectSep).
const SEP = ', ';

let defs = null;

// loadDefs returns the workspace's definitions, as shown (by order, then
// key), asked for once until invalidate.
export function loadDefs() {
  if (!defs) {
    defs = get('/contact-fields').then((r) => r.fields || []);
    defs.catch(() => { defs = null; });
  }
  return defs;
}

// invalidate forgets the definitions (the settings changed them).
export function invalidate() { defs = null; }

let seq = 0;

// input is the typed control of definition d holding value v, id its id.
function input(d, v, id, described) {
  const common = { id, 'aria-describedby': described, 'aria-required': d.required ? 'true' : null, dataset: { key: d.key } };
  switch (d.type) {
    case 'single_select':
    case 'boolean': {
      const opts = d.type === 'boolean' ? [['true', 'Yes'], ['false', 'No']] : (d.options || []).map((o) => [o, o]);
      if (v && !opts.some(([k]) => k === v)) opts.push([v, v]); // a value kept from before the options changed
      return h('select.cf-input', common, h('option', { value: '', text: '—' }),
        ...opts.map(([k, l]) => h('option', { value: k, text: l, selected: k === v })));
    }
    case 'multi_select': {
      const on = new Set(v ? v.split(SEP) : []);
      return h('fieldset.cf-input.cf-multi', { ...common, 'aria-required': null, 'aria-labelledby': `${id}-l` },
        ...(d.options || []).map((o) => h('label.cf-opt', null,
          h('input', { type: 'checkbox', value: o, checked: on.has(o) }), h('span', { text: o }))));
    }
    case 'number': return h('input.cf-input', { ...common, type: 'text', inputmode: 'decimal', value: v });
    case 'date': return h('input.cf-input', { ...common, type: 'date', value: v });
    case 'email': return h('input.cf-input', { ...common, type: 'email', value: v });
    case 'phone': return h('input.cf-input', { ...common, type: 'tel', value: v });
    case 'url': return h('input.cf-input', { ...common, type: 'url', value: v, placeholder: 'https://' });
    default: return h('input.cf-input', { ...common, type: 'text', value: v });
  }
}

// valueOf reads the value of control el of definition d.
function valueOf(d, el) {
  if (d.type === 'multi_select') return [...el.querySelectorAll('input:checked')].map((c) => c.value).join(SEP);
  return el.value.trim();
}

// fieldsEditor is the typed inputs of definitions ds holding the
// contact's values (its custom_fields). It answers {el, changes(),
// showErrors(list), clear()}: changes() is the custom_fields of a PATCH
// (each changed value, null for one emptied), showErrors marks each
// {field, message} of an invalid_fields error on its input and returns
// those it found no input for.
export function fieldsEditor(ds, values = {}, readonly = false) {
  const n = ++seq;
  const rows = ds.map((d, i) => {
    const id = `cf-${n}-${i}`;
    const err = h('p.cf-error.error', { id: `${id}-e` });
    const cur = (values || {})[d.key] || '';
    const el = input(d, cur, id, `${id}-e`);
    if (readonly) for (const c of [el, ...el.querySelectorAll('input')]) c.setAttribute('disabled', '');
    const label = d.type === 'multi_select'
      ? h('span.cf-label', { id: `${id}-l` }, d.label, d.required ? h('span.cf-req', { text: ' *', title: 'Required' }) : null)
      : h('label.cf-label', { for: id, id: `${id}-l` }, d.label, d.required ? h('span.cf-req', { text: ' *', title: 'Required' }) : null);
    const row = h('div.cf-row', { dataset: { key: d.key, type: d.type } }, label, el, err);
    return { d, el, err, row, cur };
  });
  const el = h('div.cf-fields', null, ...rows.map((r) => r.row));
  const clear = () => {
    for (const r of rows) {
      r.err.textContent = '';
      r.el.removeAttribute('aria-invalid');
    }
  };
  return {
    el,
    clear,
    changes() {
      const out = {};
      for (const r of rows) {
        const v = valueOf(r.d, r.el);
        if (v !== r.cur) out[r.d.key] = v === '' ? null : v;
      }
      return out;
    },
    showErrors(list = []) {
      clear();
      const rest = [];
      let first = null;
      for (const f of list) {
        const r = rows.find((x) => x.d.key === f.field);
        if (!r) { rest.push(f); continue; }
        r.err.textContent = `${r.d.label} ${f.message}`;
        r.el.setAttribute('aria-invalid', 'true');
        first = first || r.el;
      }
      if (first) (first.matches('fieldset') ? first.querySelector('input') || first : first).focus();
      return rest;
    },
  };
}

// aiWriteText says what an AI write of a contact's fields (an activity
// entry's ai_write) did.
export function aiWriteText(w) {
  if (!w) return 'The AI agent updated the contact';
  let t = `The AI agent saved ${(w.fields || []).join(', ')}`;
  if (w.refused && w.refused.length) t += ` (not allowed or invalid: ${w.refused.map((r) => r.field).join(', ')})`;
  return `${t}, from the customer's message #${w.seq}`;
}
