// Settings › Pipelines: the workspace's pipelines and their ordered
// stages. Owners and admins rename, add, reorder (Up, Down) and remove
// stages, recolour them, and add or delete pipelines; a change is saved
// as a whole (PATCH /pipelines/{id} with the new list). The server
// refuses to remove a stage, or delete a pipeline, in which contacts
// stand (409 stage_in_use): the form says so and keeps the edit. Agents
// see the pipelines read-only, as the API allows.
import { registerSection, field } from './settings.js';
import { h, toast, confirmDialog } from './util.js';
import { invalidate } from './stages.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';

registerSection({
  id: 'pipelines', title: 'Pipelines', order: 46,
  render: async (box, ctx) => {
    const list = h('div#pipeline-list.pipeline-list');
    box.append(h('p.muted', { text: 'Each pipeline is a board of contacts by stage (the Pipeline view). Stages are its columns, in this order.' }), list);
    if (manages(ctx.me)) box.append(pipelineForm(ctx, null, () => load(ctx, list)));
    await load(ctx, list);
  },
});

async function load(ctx, list) {
  const ps = (await ctx.api.get('/pipelines')).pipelines || [];
  list.replaceChildren(...ps.map((p) => (manages(ctx.me)
    ? pipelineForm(ctx, p, () => load(ctx, list), ps.length > 1)
    : h('section.settings-card.pipeline-card', { dataset: { id: p.id }, 'aria-label': p.name },
      h('h3', { text: p.name }),
      h('ol.stage-list', null, ...p.stages.map((s) => h('li', { text: s.name })))))));
}

// errorText says what a refusal means for the person editing.
function errorText(err) {
  if (err.code === 'stage_in_use') return 'Contacts stand in a stage you removed (or in this pipeline): move them to another stage on the Pipeline board first.';
  if (err.code === 'last_pipeline') return 'A workspace keeps at least one pipeline.';
  return err.message;
}

// pipelineForm edits pipeline p (null: a new one); done runs after a
// save or a delete.
function pipelineForm(ctx, p, done, deletable = false) {
  const sfx = p ? `-${p.id}` : '-new';
  const name = h(`input#pl-name${sfx}`, { type: 'text', required: true, maxlength: '100', autocomplete: 'off', value: p ? p.name : '' });
  const rows = h('ol.stage-edit', { 'aria-label': 'Stages' });
  const status = h('p.error.pl-error', { role: 'alert' });
  let n = 0;
  const label = (li) => li.querySelector('.stage-name').value || 'stage';
  const renumber = () => {
    const lis = [...rows.children];
    lis.forEach((li, i) => {
      const nm = label(li);
      li.querySelector('[data-act=up]').disabled = i === 0;
      li.querySelector('[data-act=down]').disabled = i === lis.length - 1;
      li.querySelector('[data-act=remove]').disabled = lis.length === 1;
      li.querySelector('[data-act=up]').setAttribute('aria-label', `Move ${nm} up`);
      li.querySelector('[data-act=down]').setAttribute('aria-label', `Move ${nm} down`);
      li.querySelector('[data-act=remove]').setAttribute('aria-label', `Remove ${nm}`);
    });
  };
  const stageRow = (s) => {
    const k = `${sfx}-${n++}`;
    const input = h(`input#stage-name${k}.stage-name`, { type: 'text', required: true, maxlength: '100', autocomplete: 'off', value: s ? s.name : '', 'aria-label': 'Stage name' });
    const color = h(`input#stage-color${k}.stage-color`, { type: 'color', value: (s && s.color) || '#6b7280', 'aria-label': 'Stage colour' });
    const li = h('li.stage-row', { dataset: { id: s ? s.id : '' } }, input, color,
      h('button.ghost.small', { type: 'button', dataset: { act: 'up' }, text: '↑', onclick: () => { if (li.previousElementSibling) li.previousElementSibling.before(li); renumber(); li.querySelector('[data-act=up]').focus(); } }),
      h('button.ghost.small', { type: 'button', dataset: { act: 'down' }, text: '↓', onclick: () => { if (li.nextElementSibling) li.nextElementSibling.after(li); renumber(); li.querySelector('[data-act=down]').focus(); } }),
      h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'remove' }, text: 'Remove', onclick: () => { li.remove(); renumber(); } }));
    input.addEventListener('input', renumber);
    return li;
  };
  for (const s of (p ? p.stages : [{ name: '' }])) rows.append(stageRow(p ? s : null));
  renumber();
  const form = h('form.settings-card.pipeline-form', { dataset: { id: p ? p.id : '' }, 'aria-label': p ? `Pipeline ${p.name}` : 'New pipeline' },
    h('h3', { text: p ? p.name : 'New pipeline' }),
    field('Name', name),
    h('fieldset.stage-fieldset', null, h('legend', { text: 'Stages, in order' }), rows,
      h('button.ghost.small', { type: 'button', dataset: { act: 'add-stage' }, text: 'Add stage', onclick: () => { const li = stageRow(null); rows.append(li); renumber(); li.querySelector('input').focus(); } })),
    h('div.canned-actions', null,
      h('button.primary', { type: 'submit', text: p ? 'Save' : 'Add pipeline' }),
      p && deletable ? h('button.ghost.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete pipeline', onclick: () => remove(ctx, p, status, done) }) : null),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const stages = [...rows.children].map((li) => {
      const s = { name: li.querySelector('.stage-name').value, color: li.querySelector('.stage-color').value };
      if (li.dataset.id) s.id = li.dataset.id;
      return s;
    });
    try {
      if (p) await ctx.api.api('PATCH', `/pipelines/${p.id}`, { name: name.value, stages });
      else await ctx.api.post('/pipelines', { name: name.value, stages });
      invalidate();
      toast(p ? 'Pipeline saved' : 'Pipeline added');
      if (!p) { name.value = ''; rows.replaceChildren(stageRow(null)); renumber(); }
      await done();
    } catch (err) {
      status.textContent = errorText(err);
    }
  });
  return form;
}

async function remove(ctx, p, status, done) {
  if (!await confirmDialog(`Delete the pipeline ${p.name}?`, 'Delete', true)) return;
  status.textContent = '';
  try {
    await ctx.api.api('DELETE', `/pipelines/${p.id}`);
    invalidate();
    toast('Pipeline deleted');
    await done();
  } catch (err) {
    status.textContent = errorText(err);
  }
}
