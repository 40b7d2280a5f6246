// Settings › Notifications (every role): for each kind of event, where
// it reaches you (in the browser, by push, by email), saved as you
// toggle; and push on this device (enable, disable).
import { api, get } from './api.js';
import { h } from './util.js';
import { registerSection } from './settings.js';
import * as notify from './notify.js';
import * as push from './push.js';

const KINDS = [
  ['new_conversation', 'New conversation'],
  ['assigned', 'Assigned to me'],
  ['mentioned', 'Mentioned in a note'],
  ['needs_human', 'Needs a person (after a handoff)'],
];
const MEDIA = [['browser', 'Browser'], ['push', 'Push'], ['email', 'Email']];

function table(view, status) {
  const rows = KINDS.map(([kind, label]) => h('tr', { dataset: { kind } },
    h('th', { scope: 'row', text: label }),
    ...MEDIA.map(([medium, mlabel]) => {
      const box = h('input.notify-toggle', {
        type: 'checkbox', checked: !!view.settings[kind][medium], dataset: { kind, medium },
        'aria-label': `${label}: ${mlabel}`,
      });
      box.addEventListener('change', async () => {
        box.disabled = true;
        try {
          const r = await api('PUT', '/me/notifications', { settings: { [kind]: { [medium]: box.checked } } });
          notify.setPrefs(r.settings);
          status.textContent = `Saved: ${label}, ${mlabel.toLowerCase()} ${box.checked ? 'on' : 'off'}`;
        } catch (err) {
          box.checked = !box.checked;
          status.textContent = err.message;
        }
        box.disabled = false;
      });
      return h('td', null, box);
    })));
  return h('table.notify-table', { 'aria-label': 'Where each notification reaches you' },
    h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Notify me of' }),
      ...MEDIA.map(([, mlabel]) => h('th', { scope: 'col', text: mlabel })))),
    h('tbody', null, rows));
}

function pushBlock() {
  const state = h('p#push-state.muted', { role: 'status' });
  const on = h('button#push-enable.primary', { type: 'button', text: 'Enable push on this device' });
  const off = h('button#push-disable.ghost', { type: 'button', text: 'Disable' });
  const show = (s) => {
    state.dataset.state = s;
    state.textContent = s === 'on' ? 'Push is on for this device.'
      : s === 'unsupported' ? 'This browser cannot receive push notifications here (it needs HTTPS, or the installed app on a phone).'
        : 'Push is off for this device.';
    on.hidden = s !== 'off';
    off.hidden = s !== 'on';
  };
  const act = (f) => async () => {
    on.disabled = off.disabled = true;
    try { await f(); show(await push.status()); } catch (err) { state.textContent = err.message; }
    on.disabled = off.disabled = false;
  };
  on.addEventListener('click', act(push.enable));
  off.addEventListener('click', act(push.disable));
  show('off');
  push.status().then(show).catch((err) => { state.textContent = err.message; });
  return h('div.settings-card.notify-push', { role: 'group', 'aria-labelledby': 'push-title' },
    h('h3#push-title', { text: 'Push on this device' }),
    h('p.muted', { text: 'Push reaches this phone or computer even when Parley is closed. On a phone, add Parley to the home screen first (Share › Add to Home Screen).' }),
    state, h('div.notify-actions', null, on, off));
}

registerSection({
  id: 'notifications',
  title: 'Notifications',
  order: 60,
  render: async (container) => {
    const view = await get('/me/notifications');
    notify.setPrefs(view.settings);
    const status = h('p#notify-status.muted', { role: 'status' });
    container.append(
      h('div.settings-card.notify-card', { role: 'group', 'aria-labelledby': 'notify-title' },
        h('h3#notify-title', { text: 'What reaches you, and where' }),
        table(view, status),
        view.email_available ? null
          : h('p#notify-email-off.muted.small', { text: 'Email is unavailable: this server has no SMTP relay (-notify-smtp-url). Your email choices are kept for when it has one.' }),
        status),
      pushBlock());
  },
});
