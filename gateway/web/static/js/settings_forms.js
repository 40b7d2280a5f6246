// Settings › Forms: the workspace's forms (/forms). Owners and admins
// build them: fields dragged from the available ones (the standard
// fields and the custom field definitions) into the form and in order
// (HTML5 drag and drop; the Add, ↑, ↓ and Remove buttons do the same by
// keyboard), a label and Required for each, the thank-you message, the
// stage, owner and tag given to each submission's contact, and the
// sites allowed to embed it. A saved form shows its public address and
// the iframe and script snippets that embed it. Every role lists the
// forms and their submissions.
import { registerSection, field, copyBox } from './settings.js';
import { h, toast, confirmDialog } from './util.js';
import { loadDefs } from './fields.js';
import { pipelines, stageOptions } from './stages.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';
const STANDARD = [['name', 'Name'], ['email', 'Email'], ['phone', 'Phone'], ['company', 'Company'], ['title', 'Title']];

registerSection({
  id: 'forms', title: 'Forms', order: 115,
  render: async (box, ctx) => {
    box.append(h('p.muted', {
      text: 'Forms published at a public address, or embedded in your site. A submission creates the contact, '
        + 'or updates the one with the same email or phone, with source Form.',
    }));
    const main = h('div.fm-main');
    box.append(main);
    await showList(ctx, main);
  },
});

async function showList(ctx, main) {
  const forms = (await ctx.api.get('/forms')).forms || [];
  const admin = manages(ctx.me);
  const rows = forms.map((f) => h('tr.fm-row', { dataset: { id: f.id } },
    h('td', null, h('strong.fm-row-name', { text: f.name }), h('br'),
      h('a.small', { href: f.public_url, target: '_blank', rel: 'noopener', text: 'Open the public page' })),
    h('td', { text: f.fields.map((x) => x.label).join(', ') }),
    h('td.row-actions', null,
      h('button.ghost.small', { type: 'button', dataset: { act: 'submissions' }, text: 'Submissions', 'aria-label': `Submissions of ${f.name}`, onclick: () => showSubmissions(ctx, main, f) }),
      admin ? h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, text: 'Edit', 'aria-label': `Edit ${f.name}`, onclick: () => showBuilder(ctx, main, f) }) : null,
      admin ? h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete ${f.name}`, onclick: () => remove(ctx, main, f) }) : null)));
  main.replaceChildren(
    admin ? h('div.canned-actions', null, h('button.primary#fm-new', { type: 'button', text: 'New form', onclick: () => showBuilder(ctx, main, null) })) : null,
    h('div.settings-card#fm-list', null, h('h3', { text: `Forms (${forms.length})` }),
      forms.length ? h('div.table-wrap', null, h('table.settings-table', null,
        h('thead', null, h('tr', null, h('th', { text: 'Form' }), h('th', { text: 'Fields' }), h('th', null, h('span.sr-only', { text: 'Actions' })))),
        h('tbody', null, ...rows)))
        : h('p.muted', { text: admin ? 'None yet: make the first with New form.' : 'None yet: an owner or admin builds them here.' })));
}

async function remove(ctx, main, f) {
  if (!await confirmDialog(`Delete the form ${f.name}? Its public page stops working; contacts keep what they submitted.`, 'Delete', true)) return;
  try {
    await ctx.api.api('DELETE', `/forms/${f.id}`);
    toast('Form deleted');
  } catch (err) { toast(err.message); }
  await showList(ctx, main);
}

async function showSubmissions(ctx, main, f) {
  const subs = (await ctx.api.get(`/forms/${f.id}/submissions?limit=200`)).submissions || [];
  const labels = Object.fromEntries(f.fields.map((x) => [x.key, x.label]));
  main.replaceChildren(h('div.settings-card#fm-submissions', { dataset: { id: f.id } },
    h('h3', { text: `Submissions of ${f.name} (${subs.length})` }),
    h('button.ghost.small', { type: 'button', text: '← Forms', onclick: () => showList(ctx, main) }),
    subs.length ? h('ul.fm-subs', null, ...subs.map((s) => h('li.fm-sub', { dataset: { id: s.id } },
      h('div', null, h('time.muted.small', { datetime: s.created_at, text: new Date(s.created_at).toLocaleString() }), ' · ',
        h('a', { href: `#contacts/${s.contact_id}`, text: s.created ? 'New contact' : 'Contact updated' })),
      h('dl.fm-values', null, ...Object.entries(s.values).flatMap(([k, v]) => [h('dt', { text: labels[k] || k }), h('dd', { text: v })])))))
      : h('p.muted', { text: 'No submissions yet.' })));
}

// showBuilder edits form f (null: a new one).
async function showBuilder(ctx, main, f) {
  const [defs, ps, users] = await Promise.all([loadDefs(), pipelines(), ctx.api.get('/users').then((r) => r.users || [])]);
  const all = [...STANDARD.map(([key, label]) => ({ key, label, kind: 'Standard' })),
    ...defs.map((d) => ({ key: d.key, label: d.label, kind: d.required ? 'Contact field, required' : 'Contact field', required: d.required }))];
  const known = (key) => all.find((a) => a.key === key) || { key, label: key, kind: 'Contact field' };
  // chosen is the form's fields, in order: {key, label, required}.
  let chosen = f ? f.fields.map((x) => ({ ...x })) : [{ key: 'name', label: 'Name', required: true }, { key: 'email', label: 'Email', required: true }];
  const status = h('p.error.fm-error', { role: 'alert' });
  const live = h('p.sr-only#fm-live', { 'aria-live': 'polite' });
  const palette = h('ul.fm-palette#fm-palette', { 'aria-label': 'Available fields' });
  const list = h('ol.fm-fields#fm-fields', { 'aria-label': 'Fields of the form' });
  let dragging = null; // {key, from: 'palette'|'form'}

  const add = (key, at = chosen.length) => {
    if (chosen.some((c) => c.key === key)) return;
    const a = known(key);
    chosen.splice(at, 0, { key, label: a.label, required: !!a.required });
    draw();
    live.textContent = `${a.label} added to the form`;
  };
  const move = (i, to) => {
    if (to < 0 || to >= chosen.length) return;
    const [it] = chosen.splice(i, 1);
    chosen.splice(to, 0, it);
    draw();
    live.textContent = `${it.label} moved to position ${to + 1} of ${chosen.length}`;
  };
  const focusIn = (key, act) => list.querySelector(`.fm-item[data-key="${key}"] [data-act="${act}"]`)?.focus();

  function draw() {
    palette.replaceChildren(...all.filter((a) => !chosen.some((c) => c.key === a.key)).map((a) => h('li.fm-avail', {
      draggable: 'true', dataset: { key: a.key },
      ondragstart: (e) => { dragging = { key: a.key, from: 'palette' }; e.dataTransfer.setData('text/plain', a.key); e.dataTransfer.effectAllowed = 'copyMove'; },
      ondragend: () => { dragging = null; },
    }, h('span.fm-avail-label', { text: a.label }), h('span.muted.small', { text: ` ${a.kind}` }),
    h('button.ghost.small', { type: 'button', dataset: { act: 'add' }, text: 'Add', 'aria-label': `Add ${a.label}`, onclick: () => { add(a.key); focusIn(a.key, 'remove'); } }))));
    if (!palette.firstChild) palette.append(h('li.muted.small', { text: 'Every field is on the form.' }));
    list.replaceChildren(...chosen.map((c, i) => {
      const label = h('input.fm-label', { type: 'text', value: c.label, maxlength: '100', 'aria-label': `Label of ${known(c.key).label}`, oninput: (e) => { c.label = e.target.value; } });
      const req = h('input.fm-required', { type: 'checkbox', checked: c.required, onchange: (e) => { c.required = e.target.checked; } });
      const li = h('li.fm-item', { draggable: 'true', dataset: { key: c.key } },
        h('span.fm-handle', { 'aria-hidden': 'true', text: '⠿' }),
        h('div.fm-item-body', null, label, h('span.muted.small', { text: ` ${c.key}` }),
          h('label.check', null, req, ' Required')),
        h('div.fm-item-actions', null,
          h('button.ghost.small', { type: 'button', dataset: { act: 'up' }, text: '↑', 'aria-label': `Move ${c.label} up`, disabled: i === 0, onclick: () => { move(i, i - 1); focusIn(c.key, i - 1 === 0 ? 'down' : 'up'); } }),
          h('button.ghost.small', { type: 'button', dataset: { act: 'down' }, text: '↓', 'aria-label': `Move ${c.label} down`, disabled: i === chosen.length - 1, onclick: () => { move(i, i + 1); focusIn(c.key, i + 1 === chosen.length - 1 ? 'up' : 'down'); } }),
          h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'remove' }, text: 'Remove', 'aria-label': `Remove ${c.label}`, onclick: () => { chosen.splice(i, 1); draw(); live.textContent = `${c.label} removed`; palette.querySelector(`[data-key="${c.key}"] button`)?.focus(); } })));
      li.addEventListener('dragstart', (e) => { if (e.target !== li) return; dragging = { key: c.key, from: 'form' }; e.dataTransfer.setData('text/plain', c.key); e.dataTransfer.effectAllowed = 'move'; });
      li.addEventListener('dragend', () => { dragging = null; });
      return li;
    }));
  }
  // A drop on the list puts the field before the item it lands on, or at
  // the end.
  list.addEventListener('dragover', (e) => {
    if (!dragging) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = dragging.from === 'palette' ? 'copy' : 'move';
    list.classList.add('drop-target');
  });
  list.addEventListener('dragleave', (e) => { if (!list.contains(e.relatedTarget)) list.classList.remove('drop-target'); });
  list.addEventListener('drop', (e) => {
    list.classList.remove('drop-target');
    if (!dragging) return;
    e.preventDefault();
    const over = e.target.closest && e.target.closest('.fm-item');
    let at = over ? chosen.findIndex((c) => c.key === over.dataset.key) : chosen.length;
    if (dragging.from === 'palette') add(dragging.key, at);
    else {
      const i = chosen.findIndex((c) => c.key === dragging.key);
      if (i < at) at -= 1;
      if (i >= 0 && i !== at) move(i, Math.min(at, chosen.length - 1));
    }
    dragging = null;
  });
  // A field dragged back to the palette leaves the form.
  palette.addEventListener('dragover', (e) => { if (dragging && dragging.from === 'form') e.preventDefault(); });
  palette.addEventListener('drop', (e) => {
    if (!dragging || dragging.from !== 'form') return;
    e.preventDefault();
    chosen = chosen.filter((c) => c.key !== dragging.key);
    dragging = null;
    draw();
  });
  draw();

  const name = h('input#fm-name', { type: 'text', required: true, maxlength: '100', autocomplete: 'off', value: f ? f.name : '' });
  const thanks = h('textarea#fm-thanks', { rows: 2, maxlength: '1000' });
  thanks.value = f ? f.thank_you : 'Thank you! We will be in touch.';
  const stage = h('select#fm-stage', null, ...stageOptions(ps, f && f.stage ? f.stage.stage_id : '', h('option', { value: '', text: 'No stage' })));
  const owner = h('select#fm-owner', null, h('option', { value: '', text: 'Nobody' }),
    ...users.map((u) => h('option', { value: u.id, text: u.name || u.email, selected: f && f.owner_id === u.id })));
  const tag = h('input#fm-tag', { type: 'text', maxlength: '64', autocomplete: 'off', value: f ? f.tag || '' : '' });
  const origins = h('textarea#fm-origins', { rows: 2, placeholder: 'https://www.example.com' });
  origins.value = f ? (f.allowed_origins || []).join('\n') : '';
  const embed = h('div.fm-embed');
  const showEmbed = (saved) => {
    const iframe = `<iframe src="${saved.public_url}" title="${saved.name.replace(/"/g, '&quot;')}" style="width:100%;min-height:480px;border:0"></iframe>`;
    const base = saved.public_url.replace(/\/f\/.*$/, '');
    const script = `<script src="${base}/form/embed.js" data-parley-form="${saved.public_url}" async></script>`;
    embed.replaceChildren(h('h4', { text: 'Share and embed' }),
      field('Public address', copyBox('public address', saved.public_url, 'url')),
      field('Embed as an iframe', copyBox('iframe snippet', iframe, 'iframe')),
      field('Embed with a script', copyBox('script snippet', script, 'script'),
        'A site embeds the form only when its address is among the allowed sites.'));
  };
  if (f) showEmbed(f);
  const form = h('form.settings-card.settings-form.fm-builder', { 'aria-label': f ? `Edit ${f.name}` : 'New form', novalidate: true },
    h('h3', { text: f ? `Edit ${f.name}` : 'New form' }),
    field('Name', name),
    h('div.fm-columns', null,
      h('section.fm-col', { 'aria-labelledby': 'fm-avail-h' }, h('h4#fm-avail-h', { text: 'Available fields' }),
        h('p.muted.small', { text: 'Drag a field into the form, or use Add.' }), palette),
      h('section.fm-col', { 'aria-labelledby': 'fm-fields-h' }, h('h4#fm-fields-h', { text: 'The form' }),
        h('p.muted.small', { text: 'Drag to reorder, or use ↑ and ↓. An email or a phone field is needed.' }), list)),
    live,
    field('Thank-you message', thanks),
    h('fieldset', null, h('legend', { text: 'Each submission’s contact' }),
      field('Stage', stage), field('Owner', owner), field('Tag', tag)),
    field('Sites allowed to embed and submit it', origins, 'One per line, such as https://www.example.com'),
    h('div.canned-actions', null,
      h('button.primary#fm-save', { type: 'submit', text: f ? 'Save' : 'Create form' }),
      h('button.ghost', { type: 'button', text: 'Back to the forms', onclick: () => showList(ctx, main) })),
    status, embed);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const payload = {
      name: name.value.trim(), fields: chosen.map((c) => ({ key: c.key, label: c.label.trim(), required: c.required })),
      thank_you: thanks.value.trim(), stage_id: stage.value || null, owner_id: owner.value || null, tag: tag.value.trim(),
      allowed_origins: origins.value.split('\n').map((s) => s.trim()).filter(Boolean),
    };
    try {
      const saved = f ? await ctx.api.api('PATCH', `/forms/${f.id}`, payload) : await ctx.api.post('/forms', payload);
      f = saved;
      form.dataset.id = saved.id;
      form.querySelector('h3').textContent = `Edit ${saved.name}`;
      form.querySelector('#fm-save').textContent = 'Save';
      toast('Form saved');
      showEmbed(saved);
    } catch (err) {
      status.textContent = err.message;
    }
  });
  main.replaceChildren(form);
  name.focus();
}
