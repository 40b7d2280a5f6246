// WhatsApp message templates in the web app: Settings › Templates (the
// workspace's templates with their review status, Sync, and a form that
// submits a new one to Meta) and, in the composer of a WhatsApp
// conversation whose customer last wrote more than 24 hours ago, the
// "Send template" picker: an approved template, its variables filled
// from the contact's fields (with a fallback) or typed, a media header
// by link or media id, and a preview of what the customer will read.
import { registerSection, field } from './settings.js';
import { get, post } from './api.js';
import { h, toast } from './util.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';
const WINDOW_MS = 24 * 60 * 60 * 1000;
const placeholderRe = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

// FIELDS are the contact fields a variable may be filled from (custom
// fields are added from the contact's own).
const FIELDS = [['name', 'Name'], ['first_name', 'First name'], ['email', 'Email'], ['phone', 'Phone'], ['company', 'Company'],
  ['title', 'Job title'], ['country', 'Country']];

// outsideWindow reports whether only a template may be sent in conv: a
// WhatsApp conversation whose customer last wrote 24 hours ago or more.
export function outsideWindow(conv) {
  if (!conv || conv.channel !== 'whatsapp') return false;
  const at = Date.parse(conv.last_inbound_at || '');
  return !at || Date.now() - at >= WINDOW_MS;
}

function placeholders(text) {
  const out = [];
  for (const m of String(text || '').matchAll(placeholderRe)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
}

const component = (t, type) => (t.components || []).find((c) => (c.type || '').toUpperCase() === type);

function statusBadge(status) {
  const s = (status || '').toLowerCase();
  return h(`span.badge.tpl-status.tpl-${s}`, { text: status || 'UNKNOWN', dataset: { status: status || '' } });
}

// ---------- Settings › Templates ----------

registerSection({
  id: 'templates', title: 'Templates', order: 200,
  render: async (box, ctx) => {
    const list = h('div.settings-card#templates-list');
    const status = h('p.muted#templates-status', { role: 'status' });
    box.append(h('p.muted', {
      text: 'WhatsApp message templates, approved by Meta: the only messages that can reach a customer more than 24 hours after they last wrote. '
        + 'They live in the WhatsApp Business Account named on the WhatsApp channel (its WABA id).',
    }));
    if (manages(ctx.me)) {
      const sync = h('button.primary#templates-sync', { type: 'button', text: 'Sync from WhatsApp' });
      sync.addEventListener('click', async () => {
        sync.disabled = true;
        status.textContent = 'Syncing…';
        try {
          const r = await ctx.api.post('/templates/sync');
          status.textContent = `Synced: ${(r.templates || []).length} templates`;
          await load(ctx, list);
        } catch (err) {
          status.textContent = err.message;
        } finally { sync.disabled = false; }
      });
      box.append(h('div.tpl-actions', null, sync, status), templateForm(ctx, () => load(ctx, list)));
    }
    box.append(list);
    await load(ctx, list);
  },
});

async function load(ctx, list) {
  const ts = (await ctx.api.get('/templates')).templates || [];
  const rows = ts.map((t) => {
    const body = component(t, 'BODY');
    return h('tr.template', { dataset: { name: t.name, language: t.language, status: t.status } },
      h('td', null, h('code', { text: t.name })), h('td', { text: t.language }), h('td', { text: t.category }),
      h('td', null, statusBadge(t.status), t.reason ? h('div.muted.small', { text: t.reason }) : null),
      h('td.tpl-body', { text: body ? body.text : '' }));
  });
  list.replaceChildren(h('h3', { text: `Templates (${ts.length})` }),
    ts.length ? h('div.table-wrap', null, h('table.tpl-table', null,
      h('thead', null, h('tr', null, ...['Name', 'Language', 'Category', 'Status', 'Body'].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', null, ...rows)))
      : h('p.muted', { text: 'None yet: sync them from WhatsApp, or create one.' }));
}

// templateForm submits a new template: name, language, category, an
// optional text header, the body with a sample per variable, a footer.
function templateForm(ctx, done) {
  const name = h('input#tpl-name', { type: 'text', required: true, maxlength: '512', autocomplete: 'off', pattern: '[a-z0-9_]+' });
  const lang = h('input#tpl-language', { type: 'text', required: true, value: 'en_US', maxlength: '16', autocomplete: 'off' });
  const cat = h('select#tpl-category', null, ...['UTILITY', 'MARKETING', 'AUTHENTICATION'].map((c) => h('option', { value: c, text: c })));
  const header = h('input#tpl-header', { type: 'text', maxlength: '60', autocomplete: 'off' });
  const body = h('textarea#tpl-body', { rows: 4, required: true, maxlength: '1024' });
  const footer = h('input#tpl-footer', { type: 'text', maxlength: '60', autocomplete: 'off' });
  const samples = h('div.tpl-samples#tpl-samples');
  const err = h('p.error#tpl-error', { role: 'alert' });
  const sampleInputs = { header: [], body: [] };
  const redraw = () => {
    samples.replaceChildren();
    for (const part of ['header', 'body']) {
      const names = placeholders(part === 'header' ? header.value : body.value);
      const old = sampleInputs[part];
      sampleInputs[part] = names.map((n, i) => {
        const inp = h('input', { type: 'text', required: true, autocomplete: 'off', dataset: { sample: `${part}-${n}` }, value: old[i] ? old[i].value : '' });
        samples.append(field(`Sample for the ${part}'s {{${n}}}`, inp));
        return inp;
      });
    }
  };
  header.addEventListener('input', redraw);
  body.addEventListener('input', redraw);
  const form = h('form.settings-card.tpl-form#template-form', { 'aria-label': 'New template' },
    h('h3', { text: 'New template' }),
    field('Name', name, 'Lower-case letters, digits and _'), field('Language', lang, 'A code such as en_US or es'),
    field('Category', cat), field('Header (optional)', header, 'Text of at most 60 characters; one variable such as {{1}}'),
    field('Body', body, 'Variables are {{1}}, {{2}}… in order'), samples, field('Footer (optional)', footer),
    h('button.primary#tpl-submit', { type: 'submit', text: 'Submit for review' }), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const comps = [];
    const named = (part, n) => !/^\d+$/.test(n);
    if (header.value.trim()) {
      const c = { type: 'HEADER', format: 'TEXT', text: header.value.trim() };
      const ex = sampleInputs.header.map((i) => i.value.trim());
      if (ex.length) {
        const ns = placeholders(c.text);
        c.example = named('header', ns[0]) ? { header_text_named_params: ns.map((n, i) => ({ param_name: n, example: ex[i] })) } : { header_text: ex };
      }
      comps.push(c);
    }
    const b = { type: 'BODY', text: body.value };
    const ex = sampleInputs.body.map((i) => i.value.trim());
    if (ex.length) {
      const ns = placeholders(b.text);
      b.example = named('body', ns[0]) ? { body_text_named_params: ns.map((n, i) => ({ param_name: n, example: ex[i] })) } : { body_text: [ex] };
    }
    comps.push(b);
    if (footer.value.trim()) comps.push({ type: 'FOOTER', text: footer.value.trim() });
    try {
      const t = await ctx.api.post('/templates', { name: name.value.trim(), language: lang.value.trim(), category: cat.value, components: comps });
      toast(`Template ${t.name} submitted: ${t.status}`);
      name.value = ''; header.value = ''; body.value = ''; footer.value = '';
      redraw();
      await done();
    } catch (e2) {
      err.textContent = e2.message;
    }
  });
  return form;
}

// ---------- the composer's picker ----------

// composerNotice is what the composer shows outside the window: why free
// text cannot go, and the "Send template" button that opens the picker
// in place. onSent gets the message the server stored.
export function composerNotice(conv, onSent) {
  const slot = h('div.tpl-picker-slot');
  const btn = h('button.primary.small#template-open', { type: 'button', text: 'Send template' });
  btn.addEventListener('click', async () => {
    if (slot.firstChild) { slot.replaceChildren(); btn.setAttribute('aria-expanded', 'false'); return; }
    btn.setAttribute('aria-expanded', 'true');
    slot.replaceChildren(h('p.muted', { text: 'Loading templates…' }));
    try {
      slot.replaceChildren(await picker(conv, (m) => { slot.replaceChildren(); btn.setAttribute('aria-expanded', 'false'); onSent(m); }));
    } catch (err) {
      slot.replaceChildren(h('p.error', { role: 'alert', text: `Could not load the templates: ${err.message}` }));
    }
  });
  btn.setAttribute('aria-expanded', 'false');
  btn.setAttribute('aria-controls', 'template-picker');
  return h('div.tpl-notice#template-notice', null,
    h('p.tpl-why', { text: 'More than 24 hours since the customer last wrote: WhatsApp only lets a template reach them.' }), btn, slot);
}

async function picker(conv, onSent) {
  const [list, contact] = await Promise.all([get('/templates'),
    conv.contact_id ? get(`/contacts/${conv.contact_id}`).catch(() => null) : Promise.resolve(null)]);
  const ts = (list.templates || []).filter((t) => t.status === 'APPROVED');
  const box = h('div.tpl-picker#template-picker', { role: 'group', 'aria-label': 'Send a template' });
  if (!ts.length) {
    box.append(h('p.muted', { text: 'No approved template: an owner or admin syncs them in Settings › Templates.' }));
    return box;
  }
  const fields = [...FIELDS, ...Object.keys((contact && contact.custom_fields) || {}).map((k) => [k, k])];
  const select = h('select#template-choice', null, ...ts.map((t, i) => h('option', { value: String(i), text: `${t.name} (${t.language})` })));
  const vars = h('div.tpl-vars#template-vars');
  const preview = h('div.tpl-preview#template-preview', { 'aria-live': 'polite' });
  const err = h('p.error#template-error', { role: 'alert' });
  const send = h('button.primary#template-send', { type: 'button', text: 'Send template' });
  let inputs = { header: [], body: [], button: [], media: null };

  const valueOf = (v) => {
    if (v.src.value === 'typed') return v.text.value.trim();
    const f = v.src.value;
    const p = (contact && contact.profile) || {};
    let val = '';
    if (f === 'first_name') val = (p.name || '').trim().split(/\s+/)[0] || '';
    else if (f in p) val = p[f] || '';
    else val = ((contact && contact.custom_fields) || {})[f] || '';
    return val.trim() || v.text.value.trim();
  };
  const render = (text, part) => String(text || '').replace(placeholderRe, (m, n) => {
    const v = inputs[part].find((x) => x.name === n);
    const val = v ? valueOf(v) : '';
    return val || m;
  });
  const redrawPreview = () => {
    const t = ts[Number(select.value)];
    const hd = component(t, 'HEADER'); const bd = component(t, 'BODY'); const ft = component(t, 'FOOTER');
    const parts = [];
    if (hd && (hd.format || 'TEXT').toUpperCase() === 'TEXT') parts.push(h('strong.tpl-prev-header', { text: render(hd.text, 'header') }));
    else if (hd) parts.push(h('div.muted.small', { text: `[${hd.format.toLowerCase()}]` }));
    if (bd) parts.push(h('div.tpl-prev-body', { text: render(bd.text, 'body') }));
    if (ft) parts.push(h('div.muted.small', { text: ft.text }));
    const bt = component(t, 'BUTTONS');
    if (bt && (bt.buttons || []).length) parts.push(h('div.muted.small', { text: bt.buttons.map((b) => `[${b.text}]`).join(' ') }));
    preview.replaceChildren(h('span.field-label', { text: 'Preview' }), ...parts);
  };
  const varRow = (part, n, i, buttonText = '') => {
    const id = `tpl-${part}-${i}`;
    const src = h(`select#${id}-src`, { 'aria-label': `Fill the ${part}'s {{${n}}} from` },
      h('option', { value: 'typed', text: 'Typed value' }), ...fields.map(([k, label]) => h('option', { value: k, text: `Contact: ${label}` })));
    const text = h(`input#${id}-text`, { type: 'text', autocomplete: 'off', 'aria-label': `Value of the ${part}'s {{${n}}}` });
    const v = { name: n, src, text };
    const relabel = () => {
      const typed = src.value === 'typed';
      text.placeholder = typed ? 'Value' : 'Fallback when the contact has none';
      text.setAttribute('aria-label', `${typed ? 'Value' : 'Fallback'} of the ${part}'s {{${n}}}`);
      redrawPreview();
    };
    src.addEventListener('change', relabel);
    text.addEventListener('input', redrawPreview);
    relabel.call(null);
    const title = part === 'button' ? `Button “${buttonText}” {{${n}}}` : `${part === 'header' ? 'Header' : 'Body'} {{${n}}}`;
    return [v, h('div.tpl-var', { dataset: { part, name: n } }, h('span.tpl-var-name', { text: title }), src, text)];
  };
  const redrawVars = () => {
    const t = ts[Number(select.value)];
    inputs = { header: [], body: [], button: [], media: null };
    const rows = [];
    const hd = component(t, 'HEADER');
    if (hd && ['IMAGE', 'VIDEO', 'DOCUMENT'].includes((hd.format || '').toUpperCase())) {
      const kind = hd.format.toLowerCase();
      const link = h('input#template-media', { type: 'text', autocomplete: 'off', placeholder: 'https://… or a media id', 'aria-label': `The header's ${kind}: an https link or a media id` });
      inputs.media = { kind, link };
      rows.push(field(`Header ${kind}`, link, 'An https link Meta fetches, or a media id uploaded to the number'));
    } else if (hd) {
      placeholders(hd.text).forEach((n, i) => { const [v, row] = varRow('header', n, i); inputs.header.push(v); rows.push(row); });
    }
    const bd = component(t, 'BODY');
    if (bd) placeholders(bd.text).forEach((n, i) => { const [v, row] = varRow('body', n, i); inputs.body.push(v); rows.push(row); });
    // A URL button whose link has a variable gets its value too.
    const bt = component(t, 'BUTTONS');
    ((bt && bt.buttons) || []).filter((b) => (b.type || '').toUpperCase() === 'URL' && placeholders(b.url).length)
      .forEach((b, i) => { const [v, row] = varRow('button', placeholders(b.url)[0], i, b.text); inputs.button.push(v); rows.push(row); });
    vars.replaceChildren(...rows);
    err.textContent = '';
    redrawPreview();
  };
  select.addEventListener('change', redrawVars);
  send.addEventListener('click', async () => {
    const t = ts[Number(select.value)];
    const named = t.parameter_format === 'NAMED';
    const toVar = (v) => {
      const out = v.src.value === 'typed' ? { text: v.text.value.trim() } : { field: v.src.value, fallback: v.text.value.trim() };
      if (named) out.name = v.name;
      return out;
    };
    const req = { name: t.name, language: t.language, header: inputs.header.map(toVar), body: inputs.body.map(toVar),
      buttons: inputs.button.map((v) => { const out = toVar(v); delete out.name; return out; }) };
    if (inputs.media) {
      const val = inputs.media.link.value.trim();
      req.header_media = /^https?:\/\//i.test(val) ? { type: inputs.media.kind, link: val } : { type: inputs.media.kind, id: val };
    }
    err.textContent = '';
    send.disabled = true;
    try {
      const m = await post(`/conversations/${conv.id}/template`, req);
      toast(`Template ${t.name} sent`);
      onSent(m);
    } catch (e) {
      err.textContent = e.message;
    } finally { send.disabled = false; }
  });
  box.append(field('Template', select), vars, preview, h('div.tpl-send-row', null, send), err);
  redrawVars();
  return box;
}
