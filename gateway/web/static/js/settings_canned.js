// Settings › Canned replies: the workspace's saved replies, by short
// code. Owners and admins create, edit and delete them; agents, who use
// them in the composer (`/` or its button), see the list read-only, as
// the API allows (GET for every role, changes for admins).
import { registerSection, field } from './settings.js';
import { h, toast, confirmDialog } from './util.js';
import { VARIABLES, invalidate } from './canned.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';

registerSection({
  id: 'canned', title: 'Canned replies', order: 45,
  render: async (box, ctx) => {
    const list = h('div.settings-card#canned-replies');
    box.append(h('p.muted', {
      text: 'Saved replies for the composer: type / and the short code at the start of a message, or use its canned reply button. '
        + 'Variables are filled in when a reply is inserted, so you see the final text before sending.',
    }), variablesCard());
    if (manages(ctx.me)) box.append(cannedForm(ctx, null, () => load(ctx, list)));
    box.append(list);
    await load(ctx, list);
  },
});

function variablesCard() {
  return h('details.settings-card.canned-vars', null, h('summary', { text: 'Variables' }),
    h('p.muted.small', { text: 'An unknown variable stays as written, so you notice it; a value the contact does not have becomes empty.' }),
    h('dl', null, ...VARIABLES.flatMap(([v, what]) => [h('dt', null, h('code', { text: `{{${v}}}` })), h('dd', { text: what })])));
}

async function load(ctx, list) {
  invalidate();
  const replies = (await ctx.api.get('/canned-replies')).canned_replies || [];
  const rows = replies.map((r) => h('li.canned-reply', { dataset: { id: r.id, code: r.short_code } },
    h('div.canned-head', null, h('code.canned-code', { text: `/${r.short_code}` }), h('span.canned-title', { text: r.title }),
      manages(ctx.me) ? h('span.row-actions', null,
        h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, text: 'Edit', 'aria-label': `Edit /${r.short_code}`, onclick: (e) => edit(ctx, r, e.target.closest('li'), list) }),
        h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete /${r.short_code}`, onclick: () => remove(ctx, r, list) })) : null),
    h('p.canned-body', { text: r.body })));
  list.replaceChildren(h('h3', { text: `Canned replies (${replies.length})` }),
    replies.length ? h('ul.canned-list', null, ...rows)
      : h('p.muted', { text: manages(ctx.me) ? 'None yet: add the first above.' : 'None yet: an owner or admin adds them here.' }));
}

// cannedForm creates a reply (r null) or edits r; done runs after a save.
function cannedForm(ctx, r, done, cancel) {
  const sfx = r ? `-${r.id}` : '';
  const code = h(`input#canned-code${sfx}`, { type: 'text', required: true, maxlength: '32', autocomplete: 'off', value: r ? r.short_code : '' });
  const title = h(`input#canned-title${sfx}`, { type: 'text', required: true, maxlength: '200', autocomplete: 'off', value: r ? r.title : '' });
  const body = h(`textarea#canned-body${sfx}`, { rows: 4, required: true, maxlength: '4096' });
  body.value = r ? r.body : '';
  const status = h('p.error.canned-error', { role: 'alert' });
  const insertVar = (v) => {
    body.focus();
    body.setRangeText(`{{${v}}}`, body.selectionStart, body.selectionEnd, 'end');
  };
  const vars = h('div.canned-var-btns', { role: 'group', 'aria-label': 'Insert a variable' },
    ...VARIABLES.map(([v, what]) => h('button.ghost.small', { type: 'button', text: `{{${v}}}`, title: what, 'aria-label': `Insert {{${v}}}: ${what}`, onclick: () => insertVar(v) })));
  const form = h('form.settings-card.canned-form', { 'aria-label': r ? `Edit /${r.short_code}` : 'New canned reply' },
    h('h3', { text: r ? `Edit /${r.short_code}` : 'New canned reply' }),
    field('Short code', code, 'Letters, digits, - and _: typed after / in the composer'),
    field('Title', title),
    field('Reply', body), vars,
    h('div.canned-actions', null,
      h('button.primary', { type: 'submit', text: r ? 'Save' : 'Add canned reply' }),
      cancel ? h('button.ghost', { type: 'button', text: 'Cancel', onclick: cancel }) : null),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const payload = { short_code: code.value.trim().replace(/^\//, ''), title: title.value, body: body.value };
    try {
      if (r) await ctx.api.api('PATCH', `/canned-replies/${r.id}`, payload);
      else await ctx.api.post('/canned-replies', payload);
      if (!r) { code.value = ''; title.value = ''; body.value = ''; }
      toast(r ? 'Canned reply saved' : 'Canned reply added');
      await done();
    } catch (err) {
      status.textContent = err.code === 'short_code_taken' ? `/${payload.short_code} is taken: pick another short code` : err.message;
    }
  });
  return form;
}

function edit(ctx, r, li, list) {
  const form = cannedForm(ctx, r, () => load(ctx, list), () => load(ctx, list));
  li.replaceChildren(form);
  form.querySelector('input').focus();
}

async function remove(ctx, r, list) {
  if (!await confirmDialog(`Delete the canned reply /${r.short_code}?`, 'Delete', true)) return;
  try {
    await ctx.api.api('DELETE', `/canned-replies/${r.id}`);
    toast('Canned reply deleted');
  } catch (err) { toast(err.message); }
  await load(ctx, list);
}
