// Settings › Plan & usage (owners and admins): the workspace's plan as
// the server's operator set it, and for each limited resource what is
// used of its limit, with a bar (GET /api/v1/usage). A creation past a
// limit is refused with 402 plan_limit; planLimitNote turns such an error
// into a message that points here.
import { registerSection } from './settings.js';
import { h } from './util.js';

const LABELS = {
  seats: 'Users',
  channel_accounts: 'Channel accounts',
  contacts: 'Contacts',
  ai_replies_per_month: 'AI replies this month',
  broadcasts_per_month: 'Broadcasts this month',
};

const fmt = new Intl.NumberFormat('en-US');

// planLimitNote returns the nodes that explain an API error: for a
// plan_limit, its message and a link to Settings › Plan & usage; for
// anything else, its message.
export function planLimitNote(err) {
  if (!err || err.code !== 'plan_limit') return [document.createTextNode(err ? err.message : '')];
  return [document.createTextNode(`${err.message} `), h('a', { href: '#settings/plan', text: 'See Plan & usage' })];
}

function row(u) {
  const label = LABELS[u.resource] || u.resource;
  const limited = u.limit > 0;
  const id = `plan-${u.resource}`;
  const text = limited ? `${fmt.format(u.used)} of ${fmt.format(u.limit)}` : `${fmt.format(u.used)} (unlimited)`;
  const bar = limited
    ? h('progress', { id: `${id}-bar`, max: String(u.limit), value: String(Math.min(u.used, u.limit)), 'aria-labelledby': `${id}-label`, 'aria-describedby': `${id}-text` })
    : null;
  const state = !limited ? 'unlimited' : u.used > u.limit ? 'over' : u.used >= u.limit ? 'full' : 'ok';
  return h('div.plan-usage', { dataset: { resource: u.resource, used: String(u.used), limit: String(u.limit), state } },
    h('div.plan-usage-head', null,
      h('span.plan-usage-label', { id: `${id}-label`, text: label }),
      h('span.plan-usage-text', { id: `${id}-text`, text })),
    bar,
    state === 'over' ? h('p.plan-usage-note.error', { text: 'Over the limit: customers\u2019 messages are still taken in, but new ones cannot be created by hand or import.' }) : null,
    state === 'full' ? h('p.plan-usage-note.muted', { text: 'The limit is reached: new ones are refused until it is raised.' }) : null,
    u.period ? h('p.muted.small', { text: `Counted in ${u.period}; starts again next month.` }) : null);
}

registerSection({
  id: 'plan', title: 'Plan & usage', roles: ['owner', 'admin'], order: 25,
  render: async (box, ctx) => {
    const card = h('div.settings-card#plan-usage', { role: 'group', 'aria-labelledby': 'plan-title' });
    box.append(card);
    try {
      const r = await ctx.api.get('/usage');
      card.replaceChildren(
        h('h3#plan-title', { text: r.plan ? `Plan: ${r.plan}` : 'Plan' }),
        h('p.muted', { text: 'Your provider sets these limits. When one is reached, creating more is refused until it is raised.' }),
        ...(r.usage || []).map(row));
    } catch (ex) {
      card.replaceChildren(h('h3#plan-title', { text: 'Plan' }), h('p.error', { role: 'alert', text: ex.message }));
    }
  },
});
