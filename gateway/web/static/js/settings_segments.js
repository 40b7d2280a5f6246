// Settings › Segments: saved filters over contacts (/segments). A
// segment is conditions joined by all or any; the condition builder
// offers each kind with its operators and a value input fitting it (a
// text, a stage, a user, a source, a channel, a number of days), and
// counts live, as the conditions change, how many of the newest contacts
// match (POST /segments/preview, nothing saved). The list shows each
// segment's members count and, while the server computes the members of
// existing contacts, its progress. Owners and admins add, edit and
// delete segments; agents see the list, as the API allows.
import { registerSection, field } from './settings.js';
import { h, toast, confirmDialog, debounce } from './util.js';
import { pipelines, stageOptions } from './stages.js';
import { invalidate } from './segments.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';

const KINDS = [
  ['field', 'Custom field'], ['profile', 'Profile'], ['tag', 'Tag'], ['stage', 'Stage'], ['owner', 'Owner'],
  ['source', 'Source'], ['channel', 'Channel'], ['last_message', 'Last message'], ['created', 'Created'],
];
const OPS = {
  field: ['is', 'is_not', 'contains', 'exists', 'not_exists'],
  profile: ['is', 'is_not', 'contains', 'exists', 'not_exists'],
  tag: ['is', 'is_not'],
  stage: ['is', 'is_not', 'exists', 'not_exists'],
  owner: ['is', 'is_not', 'exists', 'not_exists'],
  source: ['is', 'is_not'],
  channel: ['is', 'is_not'],
  last_message: ['within_days', 'not_within_days'],
  created: ['within_days', 'not_within_days'],
};
const OP_NAMES = {
  is: 'is', is_not: 'is not', contains: 'contains', exists: 'is set', not_exists: 'is not set',
  within_days: 'within the last', not_within_days: 'not within the last',
};
const PROFILE = ['name', 'email', 'phone', 'company', 'title', 'country', 'language'];
const SOURCES = [['chat', 'Chat'], ['form', 'Form'], ['manual', 'Manual'], ['import', 'Import'], ['api', 'API']];
const CHANNELS = [['whatsapp', 'WhatsApp'], ['messenger', 'Messenger'], ['instagram', 'Instagram'], ['email', 'Email'], ['api', 'API channel'], ['webchat', 'Web chat']];
const needsValue = (op) => op === 'is' || op === 'is_not' || op === 'contains';
const timed = (k) => k === 'last_message' || k === 'created';

registerSection({
  id: 'segments', title: 'Segments', order: 120,
  render: async (box, ctx) => {
    const list = h('div.settings-card#segment-list');
    box.append(h('p.muted', {
      text: 'Saved filters over your contacts. Each contact\'s membership follows its changes as they happen; '
        + 'filter the inbox, the Contacts list and the Pipeline board by a segment.',
    }));
    const refs = await refData(ctx);
    if (manages(ctx.me)) box.append(segmentForm(ctx, refs, null, () => load(ctx, refs, list)));
    box.append(list);
    await load(ctx, refs, list);
  },
});

// refData reads what the value inputs offer: stages, users.
async function refData(ctx) {
  const [ps, users] = await Promise.all([pipelines().catch(() => []),
    ctx.api.get('/users').then((r) => r.users || []).catch(() => [])]);
  return { ps, users };
}

// describe says a condition in words.
function describe(c, refs) {
  const kind = (KINDS.find(([k]) => k === c.kind) || [c.kind, c.kind])[1];
  let what = kind;
  if (c.kind === 'field') what = `Field ${c.key}`;
  if (c.kind === 'profile') what = c.key[0].toUpperCase() + c.key.slice(1);
  let val = c.value || '';
  if (c.kind === 'stage' && val) {
    for (const p of refs.ps) { const s = p.stages.find((x) => x.id === val); if (s) val = s.name; }
  }
  if (c.kind === 'owner' && val) { const u = refs.users.find((x) => x.id === val); if (u) val = u.name || u.email; }
  if (c.kind === 'source' || c.kind === 'channel') val = ((c.kind === 'source' ? SOURCES : CHANNELS).find(([v]) => v === val) || [val, val])[1];
  if (timed(c.kind)) val = `${c.days} days`;
  return `${what} ${OP_NAMES[c.op] || c.op}${val ? ` ${val}` : ''}`;
}

async function load(ctx, refs, list) {
  invalidate();
  const segs = (await ctx.api.get('/segments')).segments || [];
  const admin = manages(ctx.me);
  const rows = segs.map((s) => {
    const bf = s.backfill;
    const progress = bf && !bf.finished ? `Computing members: ${bf.done} of ${bf.total} contacts` : '';
    return h('tr.seg-row', { dataset: { id: s.id } },
      h('td', null, h('strong.seg-name', { text: s.name }), h('br'),
        h('span.muted.small.seg-conds', { text: s.conditions.map((c) => describe(c, refs)).join(s.match === 'any' ? ' or ' : ' and ') })),
      h('td.seg-count', null, h('span', { text: `${s.count} contact${s.count === 1 ? '' : 's'}` }),
        progress ? h('span.muted.small.seg-progress', { role: 'status', text: ` · ${progress}` }) : null),
      admin ? h('td.row-actions', null,
        h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, text: 'Edit', 'aria-label': `Edit ${s.name}`, onclick: (e) => edit(ctx, refs, s, e.target.closest('tr'), list) }),
        h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete ${s.name}`, onclick: () => remove(ctx, refs, s, list) })) : null);
  });
  list.replaceChildren(h('h3', { text: `Segments (${segs.length})` }),
    segs.length ? h('div.table-wrap', null, h('table.settings-table', null,
      h('thead', null, h('tr', null, h('th', { text: 'Segment' }), h('th', { text: 'Members' }),
        admin ? h('th', null, h('span.sr-only', { text: 'Actions' })) : null)),
      h('tbody', null, ...rows)))
      : h('p.muted', { text: admin ? 'None yet: add the first above.' : 'None yet: an owner or admin adds them here.' }));
  // While members are being computed, look again.
  if (segs.some((s) => s.backfill && !s.backfill.finished)) {
    setTimeout(() => { if (list.isConnected) load(ctx, refs, list).catch(() => {}); }, 1000);
  }
}

// conditionRow is the editor of one condition; onchange runs when it
// changes (the live count).
function conditionRow(refs, c, sfx, n, onchange, onremove) {
  const id = (x) => `seg-${x}${sfx}-${n}`;
  const kind = h(`select#${id('kind')}.seg-kind`, { 'aria-label': `Condition ${n}: what` },
    ...KINDS.map(([k, l]) => h('option', { value: k, text: l, selected: c.kind === k })));
  const key = h('span.seg-key-box');
  const op = h(`select#${id('op')}.seg-op`, { 'aria-label': `Condition ${n}: how` });
  const value = h('span.seg-value-box');
  const row = h('li.seg-cond', null, kind, key, op, value,
    h('button.ghost.small.seg-remove', { type: 'button', text: 'Remove', 'aria-label': `Remove condition ${n}`, onclick: () => { row.remove(); onremove(); } }));
  const draw = (cur) => {
    const k = kind.value;
    key.replaceChildren(
      k === 'field' ? h(`input#${id('key')}.seg-key`, { type: 'text', value: cur.key || '', placeholder: 'field key', 'aria-label': `Condition ${n}: field key`, oninput: onchange })
        : k === 'profile' ? h(`select#${id('key')}.seg-key`, { 'aria-label': `Condition ${n}: profile field`, onchange },
          ...PROFILE.map((p) => h('option', { value: p, text: p[0].toUpperCase() + p.slice(1), selected: cur.key === p }))) : '');
    op.replaceChildren(...OPS[k].map((o) => h('option', { value: o, text: OP_NAMES[o], selected: cur.op === o })));
    drawValue(cur);
  };
  const drawValue = (cur) => {
    const k = kind.value;
    const o = op.value;
    const label = `Condition ${n}: value`;
    let input = null;
    if (timed(k)) {
      input = h('span.seg-days', null, h(`input#${id('value')}.seg-value`, { type: 'number', min: '1', max: '3650', value: String(cur.days || 7), 'aria-label': `Condition ${n}: days`, oninput: onchange }), ' days');
    } else if (needsValue(o)) {
      const opts = k === 'stage' ? stageOptions(refs.ps, cur.value || '', null).filter(Boolean)
        : k === 'owner' ? refs.users.map((u) => h('option', { value: u.id, text: u.name || u.email, selected: cur.value === u.id }))
          : k === 'source' ? SOURCES.map(([v, t]) => h('option', { value: v, text: t, selected: cur.value === v }))
            : k === 'channel' ? CHANNELS.map(([v, t]) => h('option', { value: v, text: t, selected: cur.value === v })) : null;
      input = opts ? h(`select#${id('value')}.seg-value`, { 'aria-label': label, onchange }, ...opts)
        : h(`input#${id('value')}.seg-value`, { type: 'text', value: cur.value || '', 'aria-label': label, oninput: onchange });
    }
    value.replaceChildren(...(input ? [input] : []));
  };
  kind.addEventListener('change', () => { draw({ kind: kind.value }); onchange(); });
  op.addEventListener('change', () => { drawValue({}); onchange(); });
  draw(c);
  row.read = () => {
    const out = { kind: kind.value, op: op.value };
    const k = row.querySelector('.seg-key');
    if (k) out.key = k.value.trim();
    const v = row.querySelector('.seg-value');
    if (v && timed(out.kind)) out.days = Number(v.value);
    else if (v) out.value = v.value.trim();
    return out;
  };
  return row;
}

// segmentForm creates a segment (s null) or edits s; done runs after a
// save, cancel (an edit's) puts the list back.
function segmentForm(ctx, refs, s, done, cancel) {
  const sfx = s ? `-${s.id}` : '-new';
  const name = h(`input#seg-name${sfx}`, { type: 'text', required: true, maxlength: '100', autocomplete: 'off', value: s ? s.name : '' });
  const match = h(`select#seg-match${sfx}`, null,
    h('option', { value: 'all', text: 'all of these conditions', selected: !s || s.match !== 'any' }),
    h('option', { value: 'any', text: 'any of these conditions', selected: !!s && s.match === 'any' }));
  const conds = h(`ol#seg-conds${sfx}.seg-conds-edit`, { 'aria-label': 'Conditions' });
  const count = h(`p#seg-count${sfx}.seg-live.muted`, { role: 'status', 'aria-live': 'polite' });
  const status = h('p.error.seg-error', { role: 'alert' });
  let n = 0;
  let previewGen = 0;
  const read = () => ({ name: name.value.trim(), match: match.value, conditions: [...conds.children].map((li) => li.read()) });
  const preview = debounce(async () => {
    const gen = ++previewGen;
    const body = read();
    if (!body.conditions.length) { count.textContent = 'Add a condition'; return; }
    try {
      const r = await ctx.api.post('/segments/preview', { match: body.match, conditions: body.conditions });
      if (gen !== previewGen) return;
      count.dataset.count = String(r.count);
      count.textContent = r.partial ? `${r.count} of the ${r.scanned} newest contacts match`
        : r.count === 1 ? '1 contact matches' : `${r.count} contacts match`;
    } catch (err) {
      if (gen === previewGen) { delete count.dataset.count; count.textContent = err.message; }
    }
  }, 300);
  const add = (c) => { conds.append(conditionRow(refs, c, sfx, ++n, preview, preview)); };
  for (const c of s ? s.conditions : [{ kind: 'tag', op: 'is' }]) add(c);
  match.addEventListener('change', preview);
  const form = h('form.settings-card.settings-form.seg-form', { 'aria-label': s ? `Edit ${s.name}` : 'New segment', novalidate: true },
    h('h3', { text: s ? `Edit ${s.name}` : 'New segment' }),
    field('Name', name),
    field('Contacts matching', match),
    conds,
    h('button.ghost.small.seg-add', { type: 'button', text: 'Add condition', onclick: () => { add({ kind: 'tag', op: 'is' }); preview(); } }),
    count,
    h('div.canned-actions', null,
      h('button.primary', { type: 'submit', text: s ? 'Save' : 'Add segment' }),
      cancel ? h('button.ghost', { type: 'button', text: 'Cancel', onclick: cancel }) : null),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const body = read();
    try {
      if (s) await ctx.api.api('PATCH', `/segments/${s.id}`, body);
      else await ctx.api.post('/segments', body);
      invalidate();
      if (!s) { name.value = ''; conds.replaceChildren(); n = 0; add({ kind: 'tag', op: 'is' }); count.textContent = ''; }
      toast(s ? 'Segment saved' : 'Segment added');
      await done();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  if (s) preview();
  return form;
}

function edit(ctx, refs, s, tr, list) {
  const form = segmentForm(ctx, refs, s, () => load(ctx, refs, list), () => load(ctx, refs, list));
  tr.replaceChildren(h('td', { colspan: '3' }, form));
  form.querySelector('input').focus();
}

async function remove(ctx, refs, s, list) {
  if (!await confirmDialog(`Delete the segment ${s.name}? The contacts stay; only the filter goes.`, 'Delete', true)) return;
  try {
    await ctx.api.api('DELETE', `/segments/${s.id}`);
    invalidate();
    toast('Segment deleted');
  } catch (err) { toast(err.message); }
  await load(ctx, refs, list);
}
