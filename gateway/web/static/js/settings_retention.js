// Settings › Data retention (owners and admins): how long messages and
// closed conversations are kept (GET and PUT /api/v1/retention; 0 keeps
// forever) and how far the background run got.
import { get, api } from './api.js';
import { registerSection } from './settings.js';
import { h } from './util.js';

const fmtDate = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });

function runText(run) {
  if (!run) return 'Retention has not run yet.';
  if (run.finished_at) {
    return `Last run finished ${fmtDate.format(new Date(run.finished_at))}: ${run.messages} messages and ${run.conversations} conversations deleted.`;
  }
  return `A run is in progress since ${fmtDate.format(new Date(run.started_at))}: ${run.messages} messages and ${run.conversations} conversations deleted so far.`;
}

function dayInput(id, value) {
  return h(`input#${id}`, { type: 'number', min: '0', max: '36500', step: '1', required: true, value: String(value || 0) });
}

registerSection({
  id: 'retention', title: 'Data retention', roles: ['owner', 'admin'], order: 85,
  render: async (box) => {
    const v = await get('/retention');
    const msgs = dayInput('retention-messages', v.policy.message_days);
    const closed = dayInput('retention-closed', v.policy.closed_conversation_days);
    const status = h('p#retention-status.muted', { role: 'status' });
    const run = h('p#retention-run.muted.small', { text: runText(v.run) });
    const form = h('form#retention-form.settings-card', { 'aria-labelledby': 'retention-title' },
      h('h3#retention-title', { text: 'Retention policy' }),
      h('p.muted', { text: 'Old data is deleted in the background, a little at a time. 0 keeps it forever. Contacts on legal hold keep everything.' }),
      h('label', { for: 'retention-messages', text: 'Delete messages and their files older than (days)' }), msgs,
      h('label', { for: 'retention-closed', text: 'Delete solved and archived conversations idle for (days)' }), closed,
      h('button#retention-save.primary', { type: 'submit', text: 'Save' }), status, run);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      status.textContent = 'Saving…';
      try {
        const r = await api('PUT', '/retention', {
          message_days: Number(msgs.value), closed_conversation_days: Number(closed.value),
        });
        status.textContent = 'Saved.';
        run.textContent = runText(r.run);
      } catch (err) {
        status.textContent = err.message;
      }
    });
    box.append(form);
  },
});
