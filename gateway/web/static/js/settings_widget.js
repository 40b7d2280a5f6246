// Settings › Chat widget (owners and admins): the workspace's web chat
// widgets. Make one, set where it may be embedded (allowed origins), its
// colours, title, greeting and position, the pre-chat form, business
// hours and the offline message; copy the snippet to paste in a site;
// rotate the secret that signs verified visitors' user ids (shown once,
// with Copy). The API is /api/v1/widgets; README, "Web chat widget".
import { registerSection, field, copyBox } from './settings.js';
import { h, toast, confirmDialog } from './util.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

registerSection({
  id: 'widget', title: 'Chat widget', roles: ['owner', 'admin'], order: 48,
  render: async (box, ctx) => {
    const list = h('div#widget-list');
    const secret = h('div#widget-secret');
    box.append(h('p.muted', {
      text: 'A chat window for your website: paste its snippet before </body>. Visitors\' messages land in the inbox under Web chat, '
        + 'where the AI and your team answer them like any channel.',
    }), newForm(ctx, secret, () => load(ctx, list, secret)), secret, list);
    await load(ctx, list, secret);
  },
});

async function load(ctx, list, secret) {
  const widgets = (await ctx.api.get('/widgets')).widgets || [];
  list.replaceChildren(...(widgets.length ? widgets.map((w) => editor(ctx, w, secret, () => load(ctx, list, secret)))
    : [h('p.muted.settings-card', { text: 'No widget yet: make the first above.' })]));
}

// showSecret shows a widget's secret, once, with the server-side code
// that signs a user id with it.
function showSecret(box, w) {
  box.replaceChildren(h('div.settings-card.widget-secret', { dataset: { id: w.id } },
    h('h3', { text: `Secret of ${w.name}` }),
    h('p.muted.small', { text: 'Shown this once. Your server signs a signed-in user\'s id with it (HMAC-SHA256, hex) and gives the page both: '
      + 'data-user-id and data-user-hash on the script tag. Keep it on the server.' }),
    copyBox('Widget secret', w.secret, 'widget-secret'),
    h('pre.widget-code', { text: `// Node.js\nconst hash = require('crypto').createHmac('sha256', SECRET).update(userId).digest('hex');` })));
}

function newForm(ctx, secretBox, done) {
  const name = h('input#widget-new-name', { type: 'text', required: true, maxlength: '256', autocomplete: 'off', placeholder: 'My website' });
  const status = h('p.error', { role: 'alert' });
  const form = h('form.settings-card.widget-new', { 'aria-label': 'New chat widget' },
    h('h3', { text: 'New chat widget' }), field('Name', name),
    h('button.primary#widget-create', { type: 'submit', text: 'Make widget' }), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    try {
      const w = await ctx.api.post('/widgets', { name: name.value.trim() });
      name.value = '';
      showSecret(secretBox, w);
      toast('Widget made');
      await done();
    } catch (err) { status.textContent = err.message; }
  });
  return form;
}

// editor is a widget's card: its snippet and its settings form.
function editor(ctx, w, secretBox, reload) {
  const s = w.settings;
  const id = (n) => `widget-${n}-${w.id}`;
  const name = h(`input#${id('name')}`, { type: 'text', required: true, maxlength: '256', value: w.name });
  const origins = h(`textarea#${id('origins')}`, { rows: 3, placeholder: 'https://www.example.com' });
  origins.value = s.allowed_origins.join('\n');
  const color = h(`input#${id('color')}`, { type: 'color', value: s.color });
  const textColor = h(`input#${id('text-color')}`, { type: 'color', value: s.text_color });
  const title = h(`input#${id('title')}`, { type: 'text', maxlength: '1024', value: s.title });
  const greeting = h(`textarea#${id('greeting')}`, { rows: 2, maxlength: '1024' });
  greeting.value = s.greeting;
  const position = h(`select#${id('position')}`, null, ...['right', 'left'].map((p) => h('option', { value: p, text: p === 'right' ? 'Bottom right' : 'Bottom left', selected: s.position === p })));
  const asks = (k) => s.pre_chat.some((f) => f.kind === k);
  const kinds = ['name', 'email', 'phone'].map((k) => h('label.widget-check', null,
    h('input', { type: 'checkbox', value: k, checked: asks(k), dataset: { prechat: k } }), h('span', { text: `Ask for ${k}` })));
  const custom = h(`textarea#${id('custom')}`, { rows: 2, placeholder: 'order_id: Order number' });
  custom.value = s.pre_chat.filter((f) => f.kind === 'text').map((f) => `${f.key}: ${f.label}`).join('\n');
  const hoursOn = h(`input#${id('hours-on')}`, { type: 'checkbox', checked: !!s.hours });
  const zone = h(`input#${id('zone')}`, { type: 'text', value: s.hours ? s.hours.time_zone : (Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC') });
  const first = s.hours && s.hours.days[0];
  const openAt = h(`input#${id('open')}`, { type: 'time', value: first ? first.open : '09:00' });
  const closeAt = h(`input#${id('close')}`, { type: 'time', value: first ? first.close : '17:00' });
  const days = DAYS.map((d, i) => h('label.widget-check', null,
    h('input', { type: 'checkbox', value: String(i), dataset: { day: String(i) }, checked: s.hours ? s.hours.days.some((x) => x.day === i) : i >= 1 && i <= 5 }),
    h('span', { text: d })));
  const offline = h(`textarea#${id('offline')}`, { rows: 2, maxlength: '1024' });
  offline.value = s.offline_message;
  const status = h('p.error', { role: 'alert' });

  const form = h('form.widget-form', { 'aria-label': `Settings of ${w.name}` },
    field('Name', name),
    field('Allowed origins', origins, 'One per line, exactly as the browser shows it (https://www.example.com): other sites cannot use the widget'),
    h('div.widget-colors', null, field('Colour', color), field('Text on the colour', textColor), field('Position', position)),
    field('Title', title), field('Greeting', greeting),
    h('fieldset.widget-fieldset', null, h('legend', { text: 'Pre-chat form' }), ...kinds,
      field('Other fields', custom, 'One per line: key: Label (saved on the contact as custom fields)')),
    h('fieldset.widget-fieldset', null, h('legend', { text: 'Business hours' }),
      h('label.widget-check', null, hoursOn, h('span', { text: 'Only open during business hours' })),
      field('Time zone', zone, 'An IANA name such as Europe/Paris'),
      h('div.widget-days', { role: 'group', 'aria-label': 'Open days' }, ...days),
      h('div.widget-colors', null, field('Opens', openAt), field('Closes', closeAt)),
      field('Offline message', offline, 'Shown outside business hours; the visitor leaves an email, and with an email channel connected the replies go there by email')),
    h('div.row-actions', null,
      h('button.primary', { type: 'submit', text: 'Save', dataset: { act: 'save' } }),
      h('button.ghost', { type: 'button', text: 'Rotate secret', dataset: { act: 'rotate' }, onclick: () => rotate(ctx, w, secretBox) }),
      h('button.ghost.danger-text', { type: 'button', text: 'Delete', dataset: { act: 'delete' }, 'aria-label': `Delete ${w.name}`, onclick: () => remove(ctx, w, reload) })),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const preChat = kinds.map((l) => l.querySelector('input')).filter((i) => i.checked)
      .map((i) => ({ kind: i.value, label: i.value[0].toUpperCase() + i.value.slice(1), required: i.value === 'email' }));
    for (const line of custom.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const [key, ...label] = line.split(':');
      preChat.push({ kind: 'text', key: key.trim(), label: (label.join(':').trim() || key.trim()) });
    }
    const openDays = days.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => Number(i.value));
    const body = {
      name: name.value.trim(), allowed_origins: origins.value.split('\n').map((o) => o.trim()).filter(Boolean),
      color: color.value, text_color: textColor.value, title: title.value, greeting: greeting.value, position: position.value,
      pre_chat: preChat, offline_message: offline.value,
      hours: hoursOn.checked ? { time_zone: zone.value.trim(), days: openDays.map((d) => ({ day: d, open: openAt.value, close: closeAt.value })) } : null,
    };
    try {
      await ctx.api.api('PATCH', `/widgets/${w.id}`, body);
      toast('Widget saved');
      await reload();
    } catch (err) { status.textContent = err.message; }
  });
  return h('section.settings-card.widget', { dataset: { id: w.id }, 'aria-label': w.name },
    h('h3', { text: w.name }),
    h('p.muted.small', { text: 'Paste before </body> on every page that shows the chat:' }),
    copyBox(`Snippet of ${w.name}`, w.snippet, 'widget-snippet'),
    form);
}

async function rotate(ctx, w, secretBox) {
  if (!await confirmDialog(`Make a new secret for ${w.name}? The current one stops verifying users at once.`, 'Rotate secret', true)) return;
  try {
    showSecret(secretBox, await ctx.api.api('PATCH', `/widgets/${w.id}`, { rotate_secret: true }));
    secretBox.scrollIntoView({ block: 'nearest' });
  } catch (err) { toast(err.message); }
}

async function remove(ctx, w, reload) {
  if (!await confirmDialog(`Delete the widget ${w.name}? Sites using it stop showing the chat; its conversations stay.`, 'Delete', true)) return;
  try {
    await ctx.api.api('DELETE', `/widgets/${w.id}`);
    toast('Widget deleted');
  } catch (err) { toast(err.message); }
  await reload();
}
