// Settings › Audit log (owners and admins): who did what, when and from
// where, newest first, filtered by actor, action, resource and dates, a
// page more with Load more, and the matches exported as CSV or JSON Lines
// (GET /api/v1/audit).
import { auth, ApiError } from './api.js';
import { registerSection, field } from './settings.js';
import { h, toast } from './util.js';

const fmtDate = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'medium' });

registerSection({
  id: 'audit', title: 'Audit log', roles: ['owner', 'admin'], order: 80,
  render: async (box, ctx) => {
    const users = ((await ctx.api.get('/users')).users || []);
    const actor = h('select#audit-actor', null, h('option', { value: '', text: 'Anyone' }),
      ...users.map((u) => h('option', { value: u.id, text: u.name || u.email })));
    const action = h('input#audit-action', { type: 'text', placeholder: 'POST /api/v1/agent' });
    const resource = h('input#audit-resource', { type: 'text', placeholder: 'an id' });
    const since = h('input#audit-since', { type: 'date' });
    const until = h('input#audit-until', { type: 'date' });
    const body = h('tbody#audit-rows');
    const status = h('p#audit-status.muted', { role: 'status' });
    const more = h('button#audit-more.ghost.small', { type: 'button', text: 'Load more', hidden: true });
    let cursor = '';

    const query = () => {
      const q = new URLSearchParams();
      if (actor.value) q.set('actor', actor.value);
      if (action.value.trim()) q.set('action', action.value.trim());
      if (resource.value.trim()) q.set('resource', resource.value.trim());
      if (since.value) q.set('since', `${since.value}T00:00:00Z`);
      if (until.value) q.set('until', new Date(Date.parse(`${until.value}T00:00:00Z`) + 86400000).toISOString().replace('.000', ''));
      return q;
    };
    const load = async (reset) => {
      const q = query();
      q.set('limit', '50');
      if (!reset && cursor) q.set('cursor', cursor);
      try {
        const r = await ctx.api.get(`/audit?${q}`);
        if (reset) body.replaceChildren();
        body.append(...(r.entries || []).map(row));
        cursor = r.next_cursor || '';
        more.hidden = !cursor;
        status.textContent = body.children.length ? `${body.children.length} entries shown` : 'No entries';
      } catch (err) { status.textContent = err.message; }
    };
    const exportAs = async (format) => {
      const q = query();
      q.set('format', format);
      try {
        const res = await fetch(`/api/v1/audit?${q}`, { headers: { Authorization: `Bearer ${auth.token}` } });
        if (!res.ok) {
          let e = {};
          try { e = (await res.json()).error || {}; } catch { /* not JSON */ }
          throw new ApiError(res.status, e.code, e.message);
        }
        const url = URL.createObjectURL(await res.blob());
        const a = h('a', { href: url, download: `audit.${format}`, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      } catch (err) { toast(`Export failed: ${err.message}`); }
    };
    more.addEventListener('click', () => load(false));
    const form = h('form#audit-filters.settings-card', {
      onsubmit: (e) => { e.preventDefault(); cursor = ''; load(true); },
    },
    field('Who', actor), field('Action', action), field('Resource id', resource), field('From', since), field('To', until),
    h('div.row', null,
      h('button#audit-apply.primary.small', { type: 'submit', text: 'Filter' }),
      h('button#audit-csv.ghost.small', { type: 'button', text: 'Export CSV', onclick: () => exportAs('csv') }),
      h('button#audit-jsonl.ghost.small', { type: 'button', text: 'Export JSON Lines', onclick: () => exportAs('jsonl') })));
    box.append(
      h('p.muted', { text: 'Every change made by a person or a token, and every export, with who, when and from where. Entries are never changed or removed.' }),
      form,
      h('div.table-wrap', null, h('table#audit-table.settings-table', null,
        h('caption.muted.small', { text: 'Newest first' }),
        h('thead', null, h('tr', null, ...['When', 'Who', 'Action', 'Resource', 'From'].map((t) => h('th', { scope: 'col', text: t })))),
        body)),
      more, status);
    await load(true);
  },
});

function row(e) {
  const res = Object.entries(e.resource || {}).map(([k, v]) => `${k}: ${v}`).join(', ');
  const change = e.before || e.after ? h('details.audit-change', null, h('summary', { text: 'Before / after' }),
    h('pre.small', { text: `${JSON.stringify(e.before ?? null, null, 1)}\n→\n${JSON.stringify(e.after ?? null, null, 1)}` })) : null;
  return h('tr.audit-row', { dataset: { id: e.id, action: e.action } },
    h('td', { text: fmtDate.format(new Date(e.at)) }),
    h('td', null, h('span', { text: e.user_name || e.user_id }), h('span.muted.small', { text: e.token_kind === 'api' ? ' · API token' : '' })),
    h('td', null, h('code', { text: e.action }), change),
    h('td', { text: res }),
    h('td', null, h('span', { text: e.ip }), h('div.muted.small', { text: (e.user_agent || '').slice(0, 80) })));
}
