// Settings › Webhooks (owners and admins): the workspace's outgoing
// webhooks. Subscribe a URL to events (its signing secret shown once,
// with Copy), turn one off or on again, delete it, and see a webhook's
// deliveries (state, status code, latency, attempts, error) with
// Redeliver. The API is /api/v1/webhooks; README, "Outgoing webhooks".
import { registerSection, field, copyBox } from './settings.js';
import { h, toast, confirmDialog } from './util.js';

// EVENTS are the events a webhook may take, with what each means.
const EVENTS = [
  ['message_created', 'A message is stored'],
  ['message_updated', 'A message changes (its delivery status)'],
  ['conversation_created', 'A conversation opens'],
  ['conversation_status_changed', 'A conversation moves folder (resolved, spam…)'],
  ['conversation_updated', 'Any change to a conversation'],
  ['conversation_mode_changed', 'AI ↔ manual mode'],
  ['handoff', 'The AI hands over to a person'],
  ['contact_created', 'A contact is created'],
  ['contact_updated', 'A contact changes'],
];

registerSection({
  id: 'webhooks', title: 'Webhooks', roles: ['owner', 'admin'], order: 47,
  render: async (box, ctx) => {
    const list = h('div.settings-card#webhooks-list');
    const secret = h('div#webhook-secret');
    box.append(h('p.muted', {
      text: 'Send the workspace\'s events to your own URL (n8n, Zapier-style tools, your backend) as signed JSON, '
        + 'named and shaped like Chatwoot\'s webhooks. Failed deliveries are retried for 24 hours, in order per conversation.',
    }), hookForm(ctx, secret, () => load(ctx, list)), secret, list);
    await load(ctx, list);
  },
});

async function load(ctx, list) {
  const hooks = (await ctx.api.get('/webhooks')).webhooks || [];
  const rows = hooks.map((w) => h('li.webhook', { dataset: { id: w.id, active: String(w.active) } },
    h('div.webhook-head', null,
      h('span.webhook-url', { text: w.url }),
      h('span.webhook-state', { dataset: { active: String(w.active) }, text: w.active ? 'Active' : 'Off' })),
    h('p.muted.small.webhook-events', { text: w.events.join(', ') }),
    w.disabled_reason ? h('p.error.small.webhook-reason', { text: `Turned off: ${w.disabled_reason}` })
      : w.failures ? h('p.error.small.webhook-reason', { text: `${w.failures} failed attempt${w.failures === 1 ? '' : 's'} in a row` }) : null,
    h('div.row-actions', null,
      h('button.ghost.small', { type: 'button', dataset: { act: 'deliveries' }, 'aria-expanded': 'false', text: 'Deliveries', 'aria-label': `Deliveries of ${w.url}`,
        onclick: (e) => toggleDeliveries(ctx, w, e.currentTarget) }),
      h('button.ghost.small', { type: 'button', dataset: { act: 'toggle' }, text: w.active ? 'Turn off' : 'Turn on', 'aria-label': `${w.active ? 'Turn off' : 'Turn on'} ${w.url}`,
        onclick: () => setActive(ctx, w, !w.active, list) }),
      h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete ${w.url}`, onclick: () => remove(ctx, w, list) })),
    h('div.webhook-deliveries', { hidden: true })));
  list.replaceChildren(h('h3', { text: `Webhooks (${hooks.length})` }),
    hooks.length ? h('ul.webhook-list', null, ...rows) : h('p.muted', { text: 'None yet: add the first above.' }));
}

function hookForm(ctx, secretBox, done) {
  const url = h('input#webhook-url', { type: 'url', required: true, maxlength: '2048', autocomplete: 'off', placeholder: 'https://example.com/parley' });
  const boxes = EVENTS.map(([ev, what]) => h('label.webhook-event', null,
    h('input', { type: 'checkbox', value: ev, checked: ev === 'message_created' }), h('code', { text: ev }), h('span.muted.small', { text: what })));
  const status = h('p.error.webhook-error', { role: 'alert' });
  const form = h('form.settings-card.webhook-form', { 'aria-label': 'New webhook' },
    h('h3', { text: 'New webhook' }),
    field('URL', url, 'http or https; receives a POST per event'),
    h('fieldset.webhook-events-set', null, h('legend', { text: 'Events' }), ...boxes),
    h('div.canned-actions', null, h('button.primary', { type: 'submit', text: 'Add webhook' })),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const events = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (!events.length) { status.textContent = 'Choose at least one event'; return; }
    try {
      const w = await ctx.api.post('/webhooks', { url: url.value.trim(), events });
      url.value = '';
      secretBox.replaceChildren(h('div.settings-card.webhook-secret-card', { role: 'status' },
        h('p', { text: 'Webhook added. Its signing secret is shown only now: copy it to verify X-Parley-Signature.' }),
        field('Signing secret', copyBox('Signing secret', w.secret, 'webhook-secret'))));
      toast('Webhook added');
      await done();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  return form;
}

async function setActive(ctx, w, active, list) {
  try {
    await ctx.api.api('PATCH', `/webhooks/${w.id}`, { active });
    toast(active ? 'Webhook turned on' : 'Webhook turned off');
  } catch (err) { toast(err.message); }
  await load(ctx, list);
}

async function remove(ctx, w, list) {
  if (!await confirmDialog(`Delete the webhook to ${w.url}, with its delivery log?`, 'Delete', true)) return;
  try {
    await ctx.api.api('DELETE', `/webhooks/${w.id}`);
    toast('Webhook deleted');
  } catch (err) { toast(err.message); }
  await load(ctx, list);
}

async function toggleDeliveries(ctx, w, btn) {
  const box = btn.closest('li').querySelector('.webhook-deliveries');
  const open = box.hidden;
  box.hidden = !open;
  btn.setAttribute('aria-expanded', String(open));
  if (open) await showDeliveries(ctx, w, box);
}

async function showDeliveries(ctx, w, box) {
  const ds = (await ctx.api.get(`/webhooks/${w.id}/deliveries`)).deliveries || [];
  if (!ds.length) { box.replaceChildren(h('p.muted.small', { text: 'No deliveries yet.' })); return; }
  const rows = ds.map((d) => h('tr.delivery', { dataset: { id: String(d.id), state: d.state } },
    h('td', { text: `#${d.id}` }),
    h('td', null, h('code', { text: d.event })),
    h('td.delivery-state', { text: d.state }),
    h('td', { text: d.status_code ? String(d.status_code) : '—' }),
    h('td', { text: d.attempts ? `${d.latency_ms} ms` : '—' }),
    h('td', { text: String(d.attempts) }),
    h('td.small', { text: d.error || (d.next_at ? `next try ${new Date(d.next_at).toLocaleString()}` : '') }),
    h('td', null, d.state === 'pending' ? null : h('button.ghost.small', { type: 'button', text: 'Redeliver', 'aria-label': `Redeliver #${d.id}`,
      onclick: async () => {
        try {
          const nd = await ctx.api.post(`/webhooks/${w.id}/deliveries/${d.id}/redeliver`, {});
          toast(`Queued again as #${nd.id}`);
        } catch (err) { toast(err.message); }
        await showDeliveries(ctx, w, box);
      } }))));
  box.replaceChildren(h('div.table-wrap', null, h('table.settings-table.delivery-table', null,
    h('caption.muted.small', { text: 'Deliveries, newest first' }),
    h('thead', null, h('tr', null, ...['Delivery', 'Event', 'State', 'Status', 'Latency', 'Attempts', 'Error', ''].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', null, ...rows))));
}
