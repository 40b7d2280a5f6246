// Settings › Automations: the workspace's rules (a trigger, conditions,
// actions). Owners and admins turn on the two one-click cases (an owner
// for every new contact, round-robin among chosen users; a starting
// stage for every new contact), write rules in the editor, turn them on
// or off, delete them; everyone sees the rules and each rule's run log
// (what fired, on what, with what result), newest first with Load more.
// The API is /api/v1/automations; README, "Automations".
import { registerSection, field } from './settings.js';
import { h, toast, confirmDialog } from './util.js';
import { pipelines, stageName } from './stages.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';

const TRIGGERS = [
  ['contact_created', 'A contact is created'],
  ['form_submitted', 'A form is submitted'],
  ['conversation_opened', 'A conversation opens'],
  ['tag_added', 'A tag is added'],
  ['stage_changed', 'A contact changes stage'],
  ['no_reply', 'No reply for some hours'],
];
const CONDITIONS = [
  ['channel', 'Channel is'], ['source', 'Source is'], ['tag', 'Conversation has tag'],
  ['field', 'Field equals'], ['stage', 'Stage is'], ['business_hours', 'Within business hours'],
  ['segment', 'Contact is in segment'],
];
const ACTIONS = [
  ['assign_owner', 'Assign an owner'], ['set_stage', 'Set the stage'], ['add_tag', 'Add a tag'],
  ['remove_tag', 'Remove a tag'], ['assign_conversation', 'Assign the conversation'], ['set_priority', 'Star the conversation'],
  ['send_canned', 'Send a canned reply'], ['notify_user', 'Notify a user'], ['call_webhook', 'Call a webhook'],
  ['assign_team', 'Assign to a team'],
];
const SOURCES = ['chat', 'form', 'manual', 'import', 'api'];
const CHANNELS = ['whatsapp', 'messenger', 'instagram', 'email', 'api'];
const label = (list, v) => (list.find(([k]) => k === v) || [v, v])[1];

registerSection({
  id: 'automations', title: 'Automations', order: 101,
  render: async (box, ctx) => {
    const [ps, users, segments, canned] = await Promise.all([pipelines(), ctx.api.get('/users').then((r) => r.users || []),
      ctx.api.get('/segments').then((r) => r.segments || []).catch(() => []),
      ctx.api.get('/canned-replies').then((r) => r.canned_replies || []).catch(() => [])]);
    const teams = await ctx.api.get('/teams').then((r) => r.teams || []).catch(() => []);
    const env = { ctx, ps, users, segments, canned, teams };
    const list = h('div.settings-card#automation-list');
    const reload = () => load(env, list);
    box.append(h('p.muted', { text: 'Rules that act on their own: when something happens (the trigger) and the conditions hold, the actions run, once per occurrence.' }));
    if (manages(ctx.me)) box.append(presets(env, reload));
    box.append(list);
    if (manages(ctx.me)) box.append(editor(env, null, reload));
    await reload();
  },
});

// presets are the one-click cases.
function presets(env, done) {
  const boxes = env.users.map((u) => h('label.auto-user', null,
    h('input', { type: 'checkbox', value: u.id, checked: true }), h('span', { text: u.name || u.email })));
  const stage = h('select#preset-stage', { 'aria-label': 'Starting stage' },
    ...env.ps.flatMap((p) => p.stages.map((s) => h('option', { value: s.id, text: env.ps.length > 1 ? `${p.name} › ${s.name}` : s.name }))));
  const status = h('p.error#preset-error', { role: 'alert' });
  const make = async (body, what) => {
    status.textContent = '';
    try {
      await env.ctx.api.post('/automations/presets', body);
      toast(`${what}: on`);
      await done();
    } catch (err) { status.textContent = err.message; }
  };
  return h('section.settings-card.auto-presets', { 'aria-label': 'One-click automations' },
    h('h3', { text: 'One click' }),
    h('div.auto-preset', null,
      h('p', { text: 'Give every new contact an owner, taking turns among:' }),
      h('fieldset.auto-users', null, h('legend.muted.small', { text: 'Users' }), ...boxes),
      h('button.primary#preset-owners', { type: 'button', text: 'Auto-assign owners',
        onclick: () => make({ preset: 'assign_owners', users: boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value) }, 'Auto-assign owners') })),
    h('div.auto-preset', null,
      field('Put every new contact in', stage),
      h('button.primary#preset-stage-on', { type: 'button', text: 'Set a starting stage',
        onclick: () => make({ preset: 'starting_stage', stage_id: stage.value }, 'Starting stage') })),
    status);
}

// describe says what a rule does in a line.
function describe(env, a) {
  const t = a.trigger;
  let when = label(TRIGGERS, t.type);
  if (t.source) when += ` (source ${t.source})`;
  if (t.tag) when += ` (${t.tag})`;
  if (t.hours) when = `No reply for ${t.hours} h`;
  if (t.stage_id) when += ` (into ${stageName(env.ps, { stage_id: t.stage_id }) || 'a stage'})`;
  const name = (id) => { const u = env.users.find((x) => x.id === id); return u ? (u.name || u.email) : 'a removed user'; };
  const acts = a.actions.map((x) => {
    switch (x.type) {
      case 'assign_owner': return `assign an owner (${x.strategy === 'round_robin' ? 'round-robin' : 'least loaded'}: ${x.users.map(name).join(', ')})`;
      case 'set_stage': return `set the stage to ${stageName(env.ps, { stage_id: x.stage_id }) || 'a removed stage'}`;
      case 'add_tag': return `add tag ${x.tag}`;
      case 'remove_tag': return `remove tag ${x.tag}`;
      case 'assign_conversation': return `assign the conversation to ${name(x.user_id)}`;
      case 'send_canned': { const c = env.canned.find((r) => r.id === x.canned_id); return `send the canned reply ${c ? `/${c.short_code}` : '(removed)'}`; }
      case 'notify_user': return `notify ${name(x.user_id)}`;
      case 'call_webhook': return `call the webhook ${x.url}`;
      case 'assign_team': { const tm = env.teams.find((r) => r.id === x.team_id); return `assign to the team ${tm ? tm.name : '(removed)'}`; }
      default: return label(ACTIONS, x.type).toLowerCase();
    }
  });
  const conds = a.conditions.length ? ` if ${a.conditions.length} condition${a.conditions.length === 1 ? '' : 's'} hold` : '';
  return `${when}${conds}: ${acts.join('; ')}`;
}

async function load(env, list) {
  const rules = (await env.ctx.api.get('/automations')).automations || [];
  const can = manages(env.ctx.me);
  const rows = rules.map((a) => h('li.automation.webhook', { dataset: { id: a.id, enabled: String(a.enabled) } },
    h('div.webhook-head', null,
      h('span.automation-name', { text: a.name }),
      h('span.webhook-state', { dataset: { active: String(a.enabled) }, text: a.enabled ? 'On' : 'Off' })),
    h('p.muted.small.automation-what', { text: describe(env, a) }),
    h('div.row-actions', null,
      h('button.ghost.small', { type: 'button', dataset: { act: 'runs' }, 'aria-expanded': 'false', text: 'Run log', 'aria-label': `Run log of ${a.name}`,
        onclick: (e) => toggleRuns(env, a, e.currentTarget) }),
      can ? h('button.ghost.small', { type: 'button', dataset: { act: 'toggle' }, text: a.enabled ? 'Turn off' : 'Turn on', 'aria-label': `${a.enabled ? 'Turn off' : 'Turn on'} ${a.name}`,
        onclick: () => setEnabled(env, a, !a.enabled, list) }) : null,
      can ? h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, text: 'Edit', 'aria-label': `Edit ${a.name}`,
        onclick: (e) => { const li = e.currentTarget.closest('li'); li.querySelector('.automation-edit').replaceChildren(editor(env, a, () => load(env, list))); } }) : null,
      can ? h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete ${a.name}`, onclick: () => remove(env, a, list) }) : null),
    h('div.automation-edit'),
    h('div.automation-runs', { hidden: true })));
  list.replaceChildren(h('h3', { text: `Rules (${rules.length})` }),
    rules.length ? h('ul.webhook-list.automation-list', null, ...rows) : h('p.muted', { text: 'No rules yet.' }));
}

async function setEnabled(env, a, enabled, list) {
  try {
    await env.ctx.api.api('PATCH', `/automations/${a.id}`, { enabled });
    toast(enabled ? 'Rule turned on' : 'Rule turned off');
  } catch (err) { toast(err.message); }
  await load(env, list);
}

async function remove(env, a, list) {
  if (!await confirmDialog(`Delete the rule "${a.name}", with its run log?`, 'Delete', true)) return;
  try {
    await env.ctx.api.api('DELETE', `/automations/${a.id}`);
    toast('Rule deleted');
  } catch (err) { toast(err.message); }
  await load(env, list);
}

async function toggleRuns(env, a, btn) {
  const box = btn.closest('li').querySelector('.automation-runs');
  const open = box.hidden;
  box.hidden = !open;
  btn.setAttribute('aria-expanded', String(open));
  if (open) {
    box.replaceChildren();
    await showRuns(env, a, box, '');
  }
}

function runRow(r) {
  const on = r.trigger.conversation_id ? `conversation ${r.trigger.conversation_id.slice(-6)}` : `contact ${r.trigger.contact_id.slice(-6)}`;
  const results = (r.results || []).map((x) => `${label(ACTIONS, x.type)}: ${x.result}${x.detail && x.type !== 'assign_owner' ? ` (${x.detail})` : ''}`).join('; ');
  return h('tr.automation-run', { dataset: { outcome: r.outcome, contact: r.trigger.contact_id } },
    h('td', { text: new Date(r.at).toLocaleString() }),
    h('td', { text: label(TRIGGERS, r.trigger.type) }),
    h('td', { text: on }),
    h('td.run-outcome', { text: r.outcome === 'loop_stopped' ? 'loop stopped' : r.outcome }),
    h('td.small', { text: results || (r.outcome === 'loop_stopped' ? `chain of ${r.trigger.chain.length} rule${r.trigger.chain.length === 1 ? '' : 's'}` : '') }));
}

async function showRuns(env, a, box, cursor) {
  let page;
  try {
    page = await env.ctx.api.get(`/automations/${a.id}/runs?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  } catch (err) { box.replaceChildren(h('p.error', { text: err.message })); return; }
  const runs = page.runs || [];
  let body = box.querySelector('tbody');
  if (!body) {
    if (!runs.length) { box.replaceChildren(h('p.muted.small', { text: 'No runs yet.' })); return; }
    body = h('tbody');
    box.replaceChildren(h('div.table-wrap', null, h('table.settings-table.run-table', null,
      h('caption.muted.small', { text: `Runs of ${a.name}, newest first` }),
      h('thead', null, h('tr', null, ...['When', 'Trigger', 'On', 'Outcome', 'Actions'].map((t) => h('th', { scope: 'col', text: t })))),
      body)));
  }
  body.append(...runs.map(runRow));
  box.querySelector('.runs-more')?.remove();
  if (page.next_cursor) {
    box.append(h('button.ghost.small.runs-more', { type: 'button', text: 'Load more', onclick: () => showRuns(env, a, box, page.next_cursor) }));
  }
}

// editor edits rule a (null: a new one); done runs after a save.
function editor(env, a, done) {
  const sfx = a ? `-${a.id}` : '-new';
  const stageSelect = (value, lbl) => h('select', { 'aria-label': lbl },
    ...env.ps.flatMap((p) => p.stages.map((s) => h('option', { value: s.id, text: env.ps.length > 1 ? `${p.name} › ${s.name}` : s.name, selected: s.id === value }))));
  const userSelect = (value, lbl) => h('select', { 'aria-label': lbl },
    ...env.users.map((u) => h('option', { value: u.id, text: u.name || u.email, selected: u.id === value })));
  const opts = (list, value) => list.map(([k, v]) => h('option', { value: k, text: v, selected: k === value }));
  const plain = (list, value) => list.map((k) => h('option', { value: k, text: k, selected: k === value }));

  const name = h(`input#auto-name${sfx}`, { type: 'text', required: true, maxlength: '200', autocomplete: 'off', value: a ? a.name : '' });
  const t = a ? a.trigger : { type: 'contact_created' };
  const ttype = h(`select#auto-trigger${sfx}`, null, ...opts(TRIGGERS, t.type));
  const tparam = h('div.auto-param');
  const renderTrigger = () => {
    const v = ttype.value;
    const parts = [];
    if (v === 'contact_created') parts.push(field('Source', h('select.t-source', null, h('option', { value: '', text: 'Any source' }), ...plain(SOURCES, t.source))));
    if (v === 'tag_added') parts.push(field('Tag (empty: any)', h('input.t-tag', { type: 'text', maxlength: '64', value: t.tag || '' })));
    if (v === 'form_submitted') parts.push(field('Form id (empty: any)', h('input.t-form', { type: 'text', maxlength: '64', value: t.form_id || '' })));
    if (v === 'stage_changed') {
      const s = stageSelect(t.stage_id, 'Into stage');
      s.prepend(h('option', { value: '', text: 'Any stage', selected: !t.stage_id }));
      parts.push(field('Into stage', s));
    }
    if (v === 'no_reply') parts.push(field('Hours', h('input.t-hours', { type: 'number', min: '1', max: '720', value: String(t.hours || 24) })));
    tparam.replaceChildren(...parts);
  };
  ttype.addEventListener('change', renderTrigger);
  renderTrigger();

  const conds = h('ol.auto-rows', { 'aria-label': 'Conditions' });
  const condRow = (c) => {
    const kind = h('select.c-kind', { 'aria-label': 'Condition' }, ...opts(CONDITIONS, c.kind));
    const not = h('input.c-not', { type: 'checkbox', checked: !!c.not });
    const params = h('span.auto-param');
    const render = () => {
      const k = kind.value;
      if (k === 'channel') params.replaceChildren(h('select.c-value', { 'aria-label': 'Channel' }, ...plain(CHANNELS, c.value)));
      else if (k === 'source') params.replaceChildren(h('select.c-value', { 'aria-label': 'Source' }, ...plain(SOURCES, c.value)));
      else if (k === 'tag') params.replaceChildren(h('input.c-value', { type: 'text', maxlength: '64', 'aria-label': 'Tag', value: c.value || '' }));
      else if (k === 'field') params.replaceChildren(h('input.c-key', { type: 'text', maxlength: '64', 'aria-label': 'Field key', placeholder: 'key', value: c.key || '' }),
        h('input.c-value', { type: 'text', maxlength: '1024', 'aria-label': 'Field value', placeholder: 'value', value: c.value || '' }));
      else if (k === 'stage') { const s = stageSelect(c.value, 'Stage'); s.classList.add('c-value'); params.replaceChildren(s); }
      else if (k === 'segment') {
        params.replaceChildren(env.segments.length
          ? h('select.c-value', { 'aria-label': 'Segment' }, ...env.segments.map((g) => h('option', { value: g.id, text: g.name, selected: g.id === c.value })))
          : h('span.muted.small.c-none', { text: 'No segments yet: make one in Contacts.' }));
      }
      else params.replaceChildren(h('input.c-days', { type: 'text', 'aria-label': 'Days (0 Sunday to 6 Saturday)', value: (c.days || [1, 2, 3, 4, 5]).join(',') }),
        h('input.c-start', { type: 'time', 'aria-label': 'From', value: c.start || '09:00' }),
        h('input.c-end', { type: 'time', 'aria-label': 'To', value: c.end || '17:00' }),
        h('input.c-tz', { type: 'text', 'aria-label': 'Time zone', placeholder: 'Europe/Paris', value: c.time_zone || Intl.DateTimeFormat().resolvedOptions().timeZone || '' }));
    };
    kind.addEventListener('change', render);
    render();
    return h('li.auto-row', null, kind, params, h('label.small', null, not, h('span', { text: 'not' })),
      h('button.ghost.small', { type: 'button', text: 'Remove', 'aria-label': 'Remove the condition', onclick: (e) => e.currentTarget.closest('li').remove() }));
  };
  (a ? a.conditions : []).forEach((c) => conds.append(condRow(c)));

  const acts = h('ol.auto-rows', { 'aria-label': 'Actions' });
  const actRow = (x) => {
    const type = h('select.a-type', { 'aria-label': 'Action' }, ...opts(ACTIONS, x.type));
    const params = h('span.auto-param');
    const render = () => {
      const k = type.value;
      if (k === 'assign_owner') {
        params.replaceChildren(h('select.a-strategy', { 'aria-label': 'Strategy' }, ...opts([['round_robin', 'Round-robin'], ['least_loaded', 'Least loaded']], x.strategy)),
          ...env.users.map((u) => h('label.auto-user.small', null, h('input.a-user', { type: 'checkbox', value: u.id, checked: !x.users || x.users.includes(u.id) }), h('span', { text: u.name || u.email }))));
      } else if (k === 'set_stage') { const s = stageSelect(x.stage_id, 'Stage'); s.classList.add('a-stage'); params.replaceChildren(s); }
      else if (k === 'add_tag' || k === 'remove_tag') params.replaceChildren(h('input.a-tag', { type: 'text', maxlength: '64', 'aria-label': 'Tag', value: x.tag || '' }));
      else if (k === 'assign_conversation') { const s = userSelect(x.user_id, 'User'); s.classList.add('a-user-id'); params.replaceChildren(s); }
      else if (k === 'send_canned') {
        params.replaceChildren(env.canned.length
          ? h('select.a-canned', { 'aria-label': 'Canned reply' }, ...env.canned.map((r) => h('option', { value: r.id, text: `/${r.short_code} ${r.title}`, selected: r.id === x.canned_id })))
          : h('span.muted.small', { text: 'No canned replies yet: add one in Settings › Canned replies.' }));
      } else if (k === 'notify_user') {
        const s = userSelect(x.user_id, 'User to notify'); s.classList.add('a-user-id');
        params.replaceChildren(s, h('input.a-text', { type: 'text', maxlength: '1000', 'aria-label': 'Notification text', placeholder: 'What to tell them', value: x.text || '' }));
      } else if (k === 'call_webhook') {
        params.replaceChildren(h('input.a-url', { type: 'url', maxlength: '2048', 'aria-label': 'Webhook URL', placeholder: 'https://', value: x.url || '' }),
          h('input.a-secret', { type: 'text', maxlength: '256', autocomplete: 'off', 'aria-label': 'Signing secret (16 to 256 characters)', value: x.secret || '' }));
      } else if (k === 'assign_team') {
        params.replaceChildren(env.teams.length
          ? h('select.a-team', { 'aria-label': 'Team' }, ...env.teams.map((tm) => h('option', { value: tm.id, text: tm.name, selected: tm.id === x.team_id })))
          : h('span.muted.small', { text: 'No teams yet: add one in Settings › Teams.' }));
      } else params.replaceChildren();
    };
    type.addEventListener('change', render);
    render();
    return h('li.auto-row', null, type, params,
      h('button.ghost.small', { type: 'button', text: 'Remove', 'aria-label': 'Remove the action', onclick: (e) => e.currentTarget.closest('li').remove() }));
  };
  (a ? a.actions : [{ type: 'set_stage' }]).forEach((x) => acts.append(actRow(x)));

  const status = h('p.error.auto-error', { role: 'alert' });
  const read = () => {
    const trig = { type: ttype.value };
    const q = (s) => tparam.querySelector(s);
    if (q('.t-source')?.value) trig.source = q('.t-source').value;
    if (q('.t-tag')?.value.trim()) trig.tag = q('.t-tag').value.trim();
    if (q('.t-form')?.value.trim()) trig.form_id = q('.t-form').value.trim();
    if (q('select')?.value && trig.type === 'stage_changed') trig.stage_id = q('select').value;
    if (q('.t-hours')) trig.hours = Number(q('.t-hours').value);
    const conditions = [...conds.children].map((li) => {
      const c = { kind: li.querySelector('.c-kind').value };
      if (li.querySelector('.c-not').checked) c.not = true;
      if (c.kind === 'business_hours') {
        c.days = li.querySelector('.c-days').value.split(',').map((d) => Number(d.trim())).filter((d) => !Number.isNaN(d));
        c.start = li.querySelector('.c-start').value;
        c.end = li.querySelector('.c-end').value;
        c.time_zone = li.querySelector('.c-tz').value.trim();
      } else {
        c.value = (li.querySelector('.c-value')?.value || '').trim();
        if (c.kind === 'field') c.key = li.querySelector('.c-key').value.trim();
      }
      return c;
    });
    const actions = [...acts.children].map((li) => {
      const x = { type: li.querySelector('.a-type').value };
      if (x.type === 'assign_owner') {
        x.strategy = li.querySelector('.a-strategy').value;
        x.users = [...li.querySelectorAll('.a-user')].filter((i) => i.checked).map((i) => i.value);
      }
      if (x.type === 'set_stage') x.stage_id = li.querySelector('.a-stage').value;
      if (x.type === 'add_tag' || x.type === 'remove_tag') x.tag = li.querySelector('.a-tag').value.trim();
      if (x.type === 'assign_conversation' || x.type === 'notify_user') x.user_id = li.querySelector('.a-user-id').value;
      if (x.type === 'send_canned') x.canned_id = li.querySelector('.a-canned')?.value || '';
      if (x.type === 'assign_team') x.team_id = li.querySelector('.a-team')?.value || '';
      if (x.type === 'notify_user' && li.querySelector('.a-text').value.trim()) x.text = li.querySelector('.a-text').value.trim();
      if (x.type === 'call_webhook') {
        x.url = li.querySelector('.a-url').value.trim();
        x.secret = li.querySelector('.a-secret').value;
      }
      return x;
    });
    return { name: name.value.trim(), trigger: trig, conditions, actions };
  };
  const form = h(`form.settings-card.automation-form#auto-form${sfx}`, { 'aria-label': a ? `Edit ${a.name}` : 'New rule' },
    h('h3', { text: a ? `Edit ${a.name}` : 'New rule' }),
    field('Name', name),
    field('When', ttype), tparam,
    h('fieldset.auto-set', null, h('legend', { text: 'Only if (all hold)' }), conds,
      h('button.ghost.small.add-condition', { type: 'button', text: 'Add a condition', onclick: () => conds.append(condRow({ kind: 'tag' })) })),
    h('fieldset.auto-set', null, h('legend', { text: 'Then' }), acts,
      h('button.ghost.small.add-action', { type: 'button', text: 'Add an action', onclick: () => acts.append(actRow({ type: 'add_tag' })) })),
    h('div.canned-actions', null, h('button.primary', { type: 'submit', text: a ? 'Save rule' : 'Add rule' })),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    try {
      if (a) await env.ctx.api.api('PUT', `/automations/${a.id}`, read());
      else await env.ctx.api.post('/automations', read());
      toast(a ? 'Rule saved' : 'Rule added');
      if (!a) name.value = '';
      await done();
    } catch (err) { status.textContent = err.message; }
  });
  return form;
}
