// Settings → Channels: the connected WhatsApp numbers, Messenger pages,
// Instagram accounts, email addresses (with their SMTP submission
// settings) and API channel accounts; connect, edit, disconnect;
// each account's AI agent override; the webhook URLs and verify token to
// paste into Meta; and an API channel account's inbound URL, token and
// webhook secret for its integrator (the secrets shown once).
import { registerSection, copyBox, field } from './settings.js';
import { h, $, toast, confirmDialog, modal } from './util.js';
import { channelIcon, channelNames } from './icons.js';
import { agentForm } from './agent_form.js';

const CHANNELS = ['whatsapp', 'messenger', 'instagram', 'email', 'api'];
const ACCOUNT_LABEL = { whatsapp: 'Phone number ID', messenger: 'Page ID', instagram: 'Instagram account ID', email: 'Email address' };
const TOKEN_LABEL = { email: 'SMTP password' };

// channelColumns are extra columns of the accounts table, for a later
// state of the account (its health): { title, render(account) → Node,
// loaded?(accounts) } (loaded gets the whole list each time it loads).
export const channelColumns = [];

const enc = encodeURIComponent;
const acctPath = (a) => `/channels/${enc(a.channel)}/${enc(a.account_id)}`;

registerSection({
  id: 'channels', title: 'Channels', roles: ['owner', 'admin'], order: 10,
  render: async (box, ctx) => {
    const list = h('div.settings-card#channel-accounts');
    const hooks = h('div.settings-card#channel-webhooks');
    box.append(
      h('p.muted', { text: 'Connect your Meta accounts, then paste the webhook URL and verify token into the Meta app. An email address receives through Parley\'s SMTP receiver (-smtp-addr) and replies through its own SMTP server. An API channel connects anything else (a LinkedIn bridge, an SMS gateway, your own app\'s chat) through your own code.' }),
      list, h('div#api-secrets'), connectForm(ctx, () => loadAccounts(ctx, list)), hooks);
    await Promise.all([loadAccounts(ctx, list), loadWebhooks(ctx, hooks)]);
  },
});

async function loadAccounts(ctx, list) {
  const r = await ctx.api.get('/channels');
  const accts = r.channels || [];
  for (const c of channelColumns) if (c.loaded) c.loaded(accts);
  const head = h('tr', null, h('th', { text: 'Channel' }), h('th', { text: 'Name' }), h('th', { text: 'Account ID' }),
    ...channelColumns.map((c) => h('th', { text: c.title })), h('th', null, h('span.sr-only', { text: 'Actions' })));
  const rows = accts.map((a) => h('tr.account', { dataset: { channel: a.channel, account: a.account_id } },
    h('td', null, h('span.ch-icon', { html: channelIcon(a.channel) }), ' ', channelNames[a.channel] || a.channel),
    h('td.account-name', { text: a.name || '—' }),
    h('td', null, h('code', { text: a.account_id }), a.has_app_secret ? h('span.muted.small', { text: ' · own app secret' }) : null),
    ...channelColumns.map((c) => h('td', null, c.render(a))),
    h('td.row-actions', null,
      h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, 'aria-label': `Edit ${a.name || a.account_id}`, text: 'Edit', onclick: () => edit(ctx, a, list) }),
      h('button.ghost.small', { type: 'button', dataset: { act: 'agent' }, 'aria-label': `AI agent of ${a.name || a.account_id}`, text: 'AI agent', onclick: (e) => agentPanel(ctx, a, e.target.closest('tr')) }),
      h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'disconnect' }, 'aria-label': `Disconnect ${a.name || a.account_id}`, text: 'Disconnect', onclick: () => disconnect(ctx, a, list) }))));
  list.replaceChildren(h('h3', { text: 'Connected accounts' }),
    accts.length ? h('div.table-wrap', null, h('table.settings-table', null, h('thead', null, head), h('tbody', null, ...rows)))
      : h('p.muted#no-accounts', { text: 'No account connected yet.' }));
}

function connectForm(ctx, reload) {
  const channel = h('select#connect-channel', { 'aria-label': 'Channel' },
    ...CHANNELS.map((c) => h('option', { value: c, text: channelNames[c] })));
  const account = h('input#connect-account', { required: true, autocomplete: 'off' });
  const accountLabel = h('span.field-label', { text: ACCOUNT_LABEL.whatsapp });
  const name = h('input#connect-name', { autocomplete: 'off', placeholder: 'Support line' });
  const token = h('input#connect-token', { type: 'password', required: true, autocomplete: 'off' });
  const secret = h('input#connect-secret', { type: 'password', autocomplete: 'off' });
  const webhook = h('input#connect-webhook', { type: 'url', autocomplete: 'off', placeholder: 'https://bridge.example.com/parley' });
  const err = h('p.error', { role: 'alert' });
  const tokenLabel = h('span.field-label', { text: 'Access token' });
  const tokenHint = h('span.muted.small', { text: 'A system user token of the Meta app (stored, never shown again)' });
  const secretField = field('App secret (optional)', secret, 'Only if this account\'s webhooks come from a Meta app of its own');
  const mail = emailFields('connect');
  const metaFields = [h('label.field', null, accountLabel, account),
    h('label.field', null, tokenLabel, token, tokenHint), secretField];
  const apiFields = [field('Webhook URL', webhook, 'Where Parley posts this account\'s outbound messages, signed with its webhook secret')];
  const showFields = () => {
    const api = channel.value === 'api';
    const isEmail = channel.value === 'email';
    for (const f of metaFields) f.hidden = api;
    for (const f of apiFields) f.hidden = !api;
    account.required = token.required = !api;
    webhook.required = api;
    accountLabel.textContent = ACCOUNT_LABEL[channel.value] || '';
    tokenLabel.textContent = TOKEN_LABEL[channel.value] || 'Access token';
    tokenHint.textContent = isEmail ? 'The password of the SMTP submission login (stored, never shown again)'
      : 'A system user token of the Meta app (stored, never shown again)';
    secretField.hidden = api || isEmail;
    mail.box.hidden = !isEmail;
    account.type = isEmail ? 'email' : 'text';
  };
  channel.addEventListener('change', showFields);
  const form = h('form.settings-card.settings-form#connect-form', { 'aria-label': 'Connect an account' },
    h('h3', { text: 'Connect an account' }),
    field('Channel', channel),
    metaFields[0],
    field('Name', name),
    ...metaFields.slice(1), mail.box, ...apiFields,
    err, h('div', null, h('button.primary#connect-submit', { type: 'submit', text: 'Connect' })));
  showFields();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    let body;
    if (channel.value === 'api') {
      body = { channel: 'api', name: name.value.trim(), webhook_url: webhook.value.trim() };
      if (!body.webhook_url) { err.textContent = 'Webhook URL is required'; return; }
    } else {
      body = { channel: channel.value, account_id: account.value.trim(), name: name.value.trim(), access_token: token.value.trim() };
      if (body.channel === 'email') {
        body.account_id = body.account_id.toLowerCase();
        body.email = mail.value();
      } else if (secret.value.trim()) body.app_secret = secret.value.trim();
      if (!body.account_id || !body.access_token) { err.textContent = `${accountLabel.textContent} and ${tokenLabel.textContent.toLowerCase()} are required`; return; }
    }
    try {
      const made = await ctx.api.post('/channels', body);
      form.reset();
      showFields();
      toast(`${channelNames[body.channel]} account connected`);
      await reload();
      if (made.channel === 'api') showAPISecrets(made);
    } catch (ex) { err.textContent = ex.message; }
  });
  return form;
}

// showAPISecrets shows what an API channel account's integrator needs,
// copyable: the inbound URL, and the inbound token and webhook secret
// the answer carries (only when just made: they are never shown again).
function showAPISecrets(a) {
  const box = $('#api-secrets');
  if (!box) return;
  const label = a.name || a.account_id;
  const card = h('section.settings-card.api-secrets', { 'aria-label': `Integration details of ${label}` },
    h('h3', { text: `Integration details of ${label}` }),
    h('p.warning', { text: 'Copy the secrets now: Parley shows them this once. Rotate them from Edit if they are lost.' }),
    field('Inbound URL', copyBox('Inbound URL', a.inbound_url, 'api-inbound-url'), 'Your integration posts messages/, statuses/ and contacts/ under it'),
    a.inbound_token ? field('Inbound token', copyBox('Inbound token', a.inbound_token, 'api-inbound-token'), 'Authorization: Bearer <token> on every call to the inbound URL') : null,
    a.webhook_secret ? field('Webhook secret', copyBox('Webhook secret', a.webhook_secret, 'api-webhook-secret'), 'Verify X-Parley-Signature: HMAC-SHA256 of X-Parley-Timestamp, a dot and the body') : null,
    h('div', null, h('button.ghost.small#api-secrets-done', { type: 'button', text: 'Done', onclick: () => box.replaceChildren() })));
  box.replaceChildren(card);
  $('input.copy-value', card).focus();
}

// emailFields are an email account's settings: the SMTP submission
// server and login, the From name and the further addresses; value()
// gives the API's email object.
function emailFields(prefix, cur = {}) {
  const host = h(`input#${prefix}-smtp-host`, { autocomplete: 'off', placeholder: 'smtp.example.com', value: cur.smtp_host || '' });
  const port = h(`input#${prefix}-smtp-port`, { type: 'number', min: '1', max: '65535', inputmode: 'numeric', placeholder: '587', value: cur.smtp_port ? String(cur.smtp_port) : '' });
  const security = h(`select#${prefix}-smtp-security`, null,
    h('option', { value: 'starttls', text: 'STARTTLS (usually port 587)' }), h('option', { value: 'tls', text: 'TLS (usually port 465)' }));
  security.value = cur.smtp_security || 'starttls';
  const user = h(`input#${prefix}-smtp-username`, { autocomplete: 'off', placeholder: 'the email address', value: cur.smtp_username || '' });
  const from = h(`input#${prefix}-from-name`, { autocomplete: 'off', placeholder: 'Acme Support', value: cur.from_name || '' });
  const aliases = h(`input#${prefix}-addresses`, { autocomplete: 'off', placeholder: 'help@example.com, sales@example.com', value: (cur.addresses || []).join(', ') });
  const imap = imapFields(prefix, cur.imap);
  const dkim = dkimFields(prefix, cur.dkim);
  const quote = h(`input#${prefix}-quote`, { type: 'checkbox', checked: !!cur.quote });
  const box = h(`fieldset.email-settings#${prefix}-email`, null, h('legend', { text: 'Email settings' }),
    field('SMTP server', host), field('SMTP port', port), field('Security', security),
    field('SMTP username', user, 'Empty: the email address'), field('From name', from),
    field('Other addresses (optional)', aliases, 'Aliases this account also receives for, separated by commas'),
    h('label.check-line', null, quote, ' Quote the customer\'s mail under the AI\'s replies'),
    imap.box, dkim.box);
  const value = () => {
    const v = { smtp_host: host.value.trim(), smtp_security: security.value };
    if (port.value.trim()) v.smtp_port = Number(port.value);
    if (user.value.trim()) v.smtp_username = user.value.trim();
    if (from.value.trim()) v.from_name = from.value.trim();
    const list = aliases.value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    if (list.length) v.addresses = list;
    v.quote = quote.checked;
    // Always named, so that an edit's copy of the account's settings
    // (with has_password, has_private_key) is replaced.
    v.imap = imap.value();
    v.dkim = dkim.value();
    return v;
  };
  return { box, value };
}

// imapFields read a mailbox over IMAP: off unless ticked; an empty
// password keeps the one set (has_password) or means the SMTP password.
function imapFields(prefix, cur) {
  const on = h(`input#${prefix}-imap-on`, { type: 'checkbox', checked: !!cur });
  const c = cur || {};
  const host = h(`input#${prefix}-imap-host`, { autocomplete: 'off', placeholder: 'imap.example.com', value: c.host || '' });
  const port = h(`input#${prefix}-imap-port`, { type: 'number', min: '1', max: '65535', inputmode: 'numeric', placeholder: '993', value: c.port ? String(c.port) : '' });
  const security = h(`select#${prefix}-imap-security`, null,
    h('option', { value: 'tls', text: 'TLS (usually port 993)' }), h('option', { value: 'starttls', text: 'STARTTLS (usually port 143)' }));
  security.value = c.security || 'tls';
  const user = h(`input#${prefix}-imap-username`, { autocomplete: 'off', placeholder: 'the email address', value: c.username || '' });
  const pass = h(`input#${prefix}-imap-password`, { type: 'password', autocomplete: 'off', placeholder: c.has_password ? 'unchanged' : 'the SMTP password' });
  const folder = h(`input#${prefix}-imap-folder`, { autocomplete: 'off', placeholder: 'INBOX', value: c.folder || '' });
  const inner = h(`div.email-sub#${prefix}-imap`, { hidden: !cur },
    field('IMAP server', host), field('IMAP port', port), field('IMAP security', security),
    field('IMAP username', user, 'Empty: the email address'),
    field('IMAP password', pass, c.has_password ? 'Leave empty to keep the current one' : 'Empty: the SMTP password'),
    field('Folder', folder, 'Empty: INBOX. Mail already in it is not imported'));
  on.addEventListener('change', () => { inner.hidden = !on.checked; });
  const box = h('div.email-part', null, h('label.check-line', null, on, ' Read a mailbox over IMAP'), inner);
  const value = () => {
    if (!on.checked) return undefined;
    const v = { host: host.value.trim(), security: security.value };
    if (port.value.trim()) v.port = Number(port.value);
    if (user.value.trim()) v.username = user.value.trim();
    if (pass.value) v.password = pass.value;
    if (folder.value.trim()) v.folder = folder.value.trim();
    return v;
  };
  return { box, value };
}

// dkimFields sign outbound mail with DKIM: off unless ticked; an empty
// key keeps the one set (has_private_key).
function dkimFields(prefix, cur) {
  const on = h(`input#${prefix}-dkim-on`, { type: 'checkbox', checked: !!cur });
  const c = cur || {};
  const domain = h(`input#${prefix}-dkim-domain`, { autocomplete: 'off', placeholder: 'example.com', value: c.domain || '' });
  const selector = h(`input#${prefix}-dkim-selector`, { autocomplete: 'off', placeholder: 'parley', value: c.selector || '' });
  const key = h(`textarea#${prefix}-dkim-key`, { rows: 4, autocomplete: 'off', spellcheck: 'false', placeholder: c.has_private_key ? 'unchanged' : '-----BEGIN PRIVATE KEY-----' });
  const inner = h(`div.email-sub#${prefix}-dkim`, { hidden: !cur },
    field('DKIM domain', domain), field('DKIM selector', selector, 'The public key goes in DNS at <selector>._domainkey.<domain>'),
    field('DKIM private key', key, c.has_private_key ? 'Leave empty to keep the current one' : 'PEM: RSA, or Ed25519'));
  on.addEventListener('change', () => { inner.hidden = !on.checked; });
  const box = h('div.email-part', null, h('label.check-line', null, on, ' Sign outbound mail with DKIM'), inner);
  const value = () => {
    if (!on.checked) return undefined;
    const v = { domain: domain.value.trim(), selector: selector.value.trim() };
    if (key.value.trim()) v.private_key = key.value.trim() + '\n';
    return v;
  };
  return { box, value };
}

async function loadWebhooks(ctx, box) {
  const r = await ctx.api.get('/settings/webhooks');
  box.replaceChildren(...[h('h3', { text: 'Webhooks for the Meta app' }),
    h('p.muted.small', { text: 'In the Meta app\'s Webhooks settings, subscribe each product with its callback URL and this verify token.' }),
    r.public_url ? null : h('p.warning#no-public-url', { text: 'No public URL is set (-public-url): these URLs are the address you opened Parley at. Meta needs an HTTPS address it can reach.' }),
    ...(r.webhooks || []).map((w) => field(`${channelNames[w.channel] || w.channel} callback URL`, copyBox(`${channelNames[w.channel] || w.channel} callback URL`, w.url, `webhook-${w.channel}`))),
    r.verify_token ? field('Verify token', copyBox('Verify token', r.verify_token, 'verify-token'))
      : h('p.warning#no-verify-token', { text: 'No verify token is set: start Parley with -meta-verify-token (PARLEY_META_VERIFY_TOKEN) to subscribe webhooks.' }),
    r.app_secret_set ? null : h('p.warning', { text: 'No Meta app secret is set (-meta-app-secret): only accounts with their own app secret receive webhooks.' })].filter(Boolean));
}

async function edit(ctx, a, list) {
  if (a.channel === 'api') { await editAPI(ctx, a, list); return; }
  const name = h('input#edit-name', { value: a.name || '', autocomplete: 'off' });
  const token = h('input#edit-token', { type: 'password', autocomplete: 'off', placeholder: 'unchanged' });
  const secret = h('input#edit-secret', { type: 'password', autocomplete: 'off', placeholder: a.has_app_secret ? 'unchanged' : 'none' });
  const isEmail = a.channel === 'email';
  const mail = isEmail ? emailFields('edit', a.email || {}) : null;
  // A WhatsApp number names its WhatsApp Business Account, where its
  // message templates live (templates.js).
  const waba = a.channel === 'whatsapp' ? h('input#edit-waba', { value: a.waba_id || '', autocomplete: 'off', inputmode: 'numeric' }) : null;
  const body = h('div.settings-form', null, h('h3', { text: `Edit ${channelNames[a.channel]} ${a.account_id}` }),
    field('Name', name), field(TOKEN_LABEL[a.channel] || 'Access token', token, 'Leave empty to keep the current one'),
    isEmail ? mail.box : field('App secret', secret, 'Leave empty to keep the current one'),
    waba ? field('WhatsApp Business Account ID', waba, 'Where the number\'s message templates live (Settings › Templates)') : null);
  if (!await modal(body, 'Save')) return;
  const patch = { name: name.value.trim() };
  if (waba) patch.waba_id = waba.value.trim();
  if (isEmail) patch.email = { ...(a.email || {}), ...mail.value() };
  if (token.value.trim()) patch.access_token = token.value.trim();
  if (secret.value.trim()) patch.app_secret = secret.value.trim();
  try {
    await ctx.api.api('PATCH', acctPath(a), patch);
    toast('Account saved');
    await loadAccounts(ctx, list);
  } catch (ex) { toast(`Could not save: ${ex.message}`); }
}

// editAPI edits an API channel account: its name and webhook URL, and
// new secrets when asked (shown once, like at connection).
async function editAPI(ctx, a, list) {
  const name = h('input#edit-name', { value: a.name || '', autocomplete: 'off' });
  const webhook = h('input#edit-webhook', { type: 'url', value: a.webhook_url || '', autocomplete: 'off', required: true });
  const rotToken = h('input#edit-rotate-token', { type: 'checkbox' });
  const rotSecret = h('input#edit-rotate-secret', { type: 'checkbox' });
  const body = h('div.settings-form', null, h('h3', { text: `Edit ${channelNames.api} ${a.name || a.account_id}` }),
    field('Inbound URL', copyBox('Inbound URL', a.inbound_url || '', 'edit-inbound-url')),
    field('Name', name), field('Webhook URL', webhook),
    h('label.check-line', null, rotToken, ' New inbound token (the current one stops working)'),
    h('label.check-line', null, rotSecret, ' New webhook secret (the current one stops working)'));
  if (!await modal(body, 'Save')) return;
  const patch = { name: name.value.trim(), webhook_url: webhook.value.trim() };
  if (rotToken.checked) patch.rotate_inbound_token = true;
  if (rotSecret.checked) patch.rotate_webhook_secret = true;
  try {
    const saved = await ctx.api.api('PATCH', acctPath(a), patch);
    toast('Account saved');
    await loadAccounts(ctx, list);
    if (saved.inbound_token || saved.webhook_secret) showAPISecrets(saved);
  } catch (ex) { toast(`Could not save: ${ex.message}`); }
}

async function disconnect(ctx, a, list) {
  const ok = await confirmDialog(`Disconnect ${channelNames[a.channel]} ${a.name || a.account_id}? Its messages are no longer received, and replies to its conversations fail until it is connected again; the conversations stay.`, 'Disconnect', true);
  if (!ok) return;
  try {
    await ctx.api.api('DELETE', acctPath(a));
    toast('Account disconnected');
    await loadAccounts(ctx, list);
  } catch (ex) { toast(`Could not disconnect: ${ex.message}`); }
}

// agentPanel opens, under the account's row, its AI agent: the
// workspace's, or an override of its own, in the AI agent screen's form
// (agent_form.js) with its test console.
async function agentPanel(ctx, a, tr) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains('agent-row')) { next.remove(); return; }
  for (const open of document.querySelectorAll('#channel-accounts .agent-row')) open.remove();
  const cur = await ctx.api.get(`${acctPath(a)}/agent`);
  const cols = tr.children.length;
  const inherit = h('input#agent-inherit', { type: 'radio', name: `agent-${a.channel}-${a.account_id}`, value: 'inherit', checked: cur.inherited });
  const own = h('input#agent-own', { type: 'radio', name: `agent-${a.channel}-${a.account_id}`, value: 'own', checked: !cur.inherited });
  const ui = agentForm(cur, {
    prefix: 'agent',
    before: [h('fieldset.agent-choice', null, h('legend', { text: 'AI agent for this account' }),
      h('label.radio', null, inherit, ' Use the workspace agent'),
      h('label.radio', null, own, ' Its own agent'))],
    save: async (settings) => {
      let saved = null;
      if (inherit.checked) {
        if (!cur.inherited) await ctx.api.api('DELETE', `${acctPath(a)}/agent`);
      } else {
        saved = await ctx.api.api('PUT', `${acctPath(a)}/agent`, settings);
      }
      toast('Agent saved');
      row.remove();
      return saved;
    },
    // With the workspace agent chosen, the console tries the workspace's.
    test: (settings, messages) => (inherit.checked ? ctx.api.post('/agent/test', { messages })
      : ctx.api.post(`${acctPath(a)}/agent/test`, { settings, messages })),
  });
  ui.form.setAttribute('aria-label', `AI agent of ${a.name || a.account_id}`);
  ui.form.classList.add('agent-form');
  const showFields = () => { ui.settingsBox.hidden = inherit.checked; };
  inherit.addEventListener('change', showFields);
  own.addEventListener('change', showFields);
  showFields();
  const row = h('tr.agent-row', null, h('td', { colspan: String(cols) }, h('div.ai-layout.agent-layout', null, ui.form, ui.console)));
  tr.after(row);
  $('input:checked', ui.form).focus();
}
