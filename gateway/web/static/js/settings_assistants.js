// Settings › Assistants: the workspace's named assistants (GET
// /assistants). Each answers the new conversations of the channel
// accounts it handles with its own agent settings; the default one is
// the workspace's agent (Settings › AI agent) and handles every account
// no other assistant lists. Owners and admins add one, rename it, choose
// its channel accounts, edit its agent in agent_form.js's form (with its
// test console) and delete it (its accounts and conversations go back to
// the default assistant); agents see the list.
import { registerSection, field } from './settings.js';
import { h, toast, confirmDialog } from './util.js';
import { agentForm } from './agent_form.js';
import { loadAssistants } from './assistants.js';
import { channelNames } from './icons.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';
const refKey = (r) => `${r.channel}/${r.account_id}`;

registerSection({
  id: 'assistants', title: 'Assistants', order: 105,
  render: async (box, ctx) => {
    box.append(h('p.muted', {
      text: 'Each assistant answers the new conversations of its channel accounts with its own AI agent settings. '
        + 'The default assistant is the workspace’s agent and handles every account no other assistant lists. '
        + 'A person can hand a conversation to another assistant from its header.',
    }));
    const list = h('div.settings-card#assistants-list');
    const editor = h('div#assistant-editor');
    const page = { ctx, list, editor, open: '' };
    if (manages(ctx.me)) box.append(newForm(page));
    box.append(list, editor);
    await load(page);
  },
});

// load draws the list (and the open editor's assistant again).
async function load(page) {
  const { ctx, list } = page;
  const [r, ch] = await Promise.all([ctx.api.get('/assistants'), ctx.api.get('/channels').catch(() => ({ channels: [] }))]);
  loadAssistants();
  const all = r.assistants || [];
  page.accounts = ch.channels || [];
  page.all = all;
  const acctName = (ref) => {
    const a = page.accounts.find((x) => x.channel === ref.channel && x.account_id === ref.account_id);
    return `${channelNames[ref.channel] || ref.channel} · ${(a && a.name) || ref.account_id}`;
  };
  list.replaceChildren(h('h3', { text: `Assistants (${all.length})` }), h('ul.assistant-list', null, ...all.map((a) => h('li.assistant', { dataset: { id: a.id } },
    h('div.assistant-head', null,
      h('strong.assistant-name', { text: a.name }),
      a.default ? h('span.badge-soft', { text: 'Default' }) : null,
      h('span.muted.small.assistant-count', { text: `${a.conversations} conversation${a.conversations === 1 ? '' : 's'}` }),
      manages(ctx.me) ? h('span.row-actions', null,
        h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, text: 'Edit', 'aria-label': `Edit ${a.name}`, onclick: () => edit(page, a.id) }),
        a.default ? null : h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete ${a.name}`, onclick: () => remove(page, a) })) : null),
    h('p.muted.small.assistant-acct-list', {
      text: a.accounts.length ? a.accounts.map(acctName).join(', ') : 'No channel account: only conversations handed to it',
    })))));
  if (page.open && !all.some((a) => a.id === page.open)) { page.open = ''; page.editor.replaceChildren(); }
}

// newForm adds an assistant by its name and opens it.
function newForm(page) {
  const name = h('input#assistant-new-name', { type: 'text', required: true, maxlength: '100', autocomplete: 'off', placeholder: 'Sales' });
  const status = h('p.error', { role: 'alert' });
  const form = h('form.settings-card.assistant-new', { 'aria-label': 'New assistant' },
    h('h3', { text: 'New assistant' }), field('Name', name),
    h('div.actions', null, h('button.primary', { type: 'submit', text: 'Add assistant' })), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    try {
      const a = await page.ctx.api.post('/assistants', { name: name.value });
      name.value = '';
      toast('Assistant added');
      await load(page);
      edit(page, a.id);
    } catch (err) { status.textContent = err.message; }
  });
  return form;
}

// edit opens the editor of assistant id: its name, its channel accounts
// and its agent with the test console.
function edit(page, id) {
  const { ctx, editor } = page;
  const a = page.all.find((x) => x.id === id);
  if (!a) return;
  page.open = id;
  const path = `/assistants/${encodeURIComponent(id)}`;
  const saved = async (msg) => { toast(msg); await load(page); };

  const name = h('input#assistant-name', { type: 'text', required: true, maxlength: '100', autocomplete: 'off', value: a.name });
  const nameStatus = h('p.error', { role: 'alert' });
  const nameForm = h('form.assistant-rename', { 'aria-label': `Name of ${a.name}` }, field('Name', name),
    h('div.actions', null, h('button.primary#assistant-rename', { type: 'submit', text: 'Rename' })), nameStatus);
  nameForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    nameStatus.textContent = '';
    try {
      await ctx.api.api('PATCH', path, { name: name.value });
      await saved('Assistant renamed');
      a.name = name.value.trim();
      title.textContent = a.name;
    } catch (err) { nameStatus.textContent = err.message; }
  });

  let accounts;
  if (a.default) {
    accounts = h('p.muted.small', { text: 'The default assistant handles every channel account no other assistant lists: choose the accounts of the others.' });
  } else {
    const owner = (acct) => page.all.find((x) => !x.default && x.id !== id && x.accounts.some((r) => refKey(r) === refKey(acct)));
    const boxes = page.accounts.map((acct, i) => {
      const other = owner(acct);
      const cb = h(`input#assistant-acct-${i}.assistant-account`, { type: 'checkbox', checked: a.accounts.some((r) => refKey(r) === refKey(acct)),
        dataset: { channel: acct.channel, account: acct.account_id } });
      return h('label.ai-check', { for: `assistant-acct-${i}` }, cb,
        h('span', { text: `${channelNames[acct.channel] || acct.channel} · ${acct.name || acct.account_id}${other ? ` (now ${other.name})` : ''}` }));
    });
    const accStatus = h('p.error', { role: 'alert' });
    accounts = h('form.assistant-accounts', { 'aria-label': `Channel accounts of ${a.name}` },
      h('fieldset', null, h('legend', { text: 'Channel accounts' }),
        ...(boxes.length ? boxes : [h('p.muted.small', { text: 'No channel account is connected yet.' })])),
      h('div.actions', null, h('button.primary#assistant-accounts-save', { type: 'submit', text: 'Save channel accounts' })), accStatus);
    accounts.addEventListener('submit', async (e) => {
      e.preventDefault();
      accStatus.textContent = '';
      const refs = [...accounts.querySelectorAll('input.assistant-account:checked')].map((cb) => ({ channel: cb.dataset.channel, account_id: cb.dataset.account }));
      try {
        await ctx.api.api('PATCH', path, { accounts: refs });
        await saved('Channel accounts saved');
      } catch (err) { accStatus.textContent = err.message; }
    });
  }

  const ui = agentForm(a.agent, {
    prefix: 'asst',
    stripeURL: a.default ? `${location.origin}/webhooks/stripe/${ctx.me.workspace_id}` : '',
    save: async (settings) => {
      const r = await ctx.api.api('PATCH', path, { agent: settings });
      await saved('Assistant saved');
      return r.agent;
    },
    test: (settings, messages) => ctx.api.post(`${path}/test`, { settings, messages }),
  });
  ui.form.setAttribute('aria-label', `AI agent of ${a.name}`);
  const title = h('span', { text: a.name });
  editor.replaceChildren(h('section.settings-card.assistant-editor', { 'aria-labelledby': 'assistant-editor-title', dataset: { id } },
    h('div.assistant-editor-head', null, h('h3#assistant-editor-title', null, 'Edit ', title),
      h('button.ghost.small', { type: 'button', text: 'Close', 'aria-label': 'Close the editor', onclick: () => { page.open = ''; editor.replaceChildren(); } })),
    nameForm, accounts, h('div.ai-layout', null, ui.form, ui.console)));
  name.focus();
}

async function remove(page, a) {
  if (!await confirmDialog(`Delete the assistant ${a.name}? Its channel accounts and conversations go back to the default assistant.`, 'Delete', true)) return;
  try {
    await page.ctx.api.api('DELETE', `/assistants/${encodeURIComponent(a.id)}`);
    toast('Assistant deleted');
  } catch (err) { toast(err.message); }
  await load(page);
}
