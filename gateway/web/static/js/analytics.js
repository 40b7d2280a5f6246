// Analytics: the business figures of GET /api/v1/analytics for a period
// and channel, as figure cards and day-by-day charts (js/charts.js), with
// the per-channel breakdown. A settings section, linked from the header.
import { registerSection } from './settings.js';
import { barChart, lineChart } from './charts.js';
import { channelNames } from './icons.js';
import { h, $ } from './util.js';

const periods = [['today', 'Today'], ['week', '7 days'], ['month', '30 days'], ['quarter', '90 days']];
const channels = ['whatsapp', 'instagram', 'messenger', 'webchat', 'email', 'api'];

// duration formats seconds as 350 ms, 45 s, 12 min, 3.5 h or 2.1 d.
export function duration(sec) {
  if (sec == null) return '–';
  if (sec < 1) return `${Math.round(sec * 1000)} ms`;
  if (sec < 60) return `${Math.round(sec)} s`;
  if (sec < 3600) return `${Math.round(sec / 60)} min`;
  if (sec < 86400) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86400).toFixed(1)} d`;
}
const pct = (v) => (v == null ? '–' : `${Math.round(v * 100)}%`);
const csat = (v) => (v == null ? '–' : `${v.toFixed(1)} / 5`);
const count = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

const fmtDay = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });

function card(id, label, value, sub) {
  return h(`div.kpi#${id}`, null, h('div.kpi-label', { text: label }), h('div.kpi-value', { text: value }),
    sub ? h('div.kpi-sub.muted.small', { text: sub }) : null);
}

async function render(box, { api }) {
  const state = { period: 'week', channel: '' };
  const bar = h('div.an-controls', null,
    h('div.an-periods', { role: 'group', 'aria-label': 'Period' }, ...periods.map(([p, label]) =>
      h('button.chip', { type: 'button', dataset: { period: p }, 'aria-pressed': String(p === state.period), text: label }))),
    h('label.an-channel', { for: 'an-channel' }, h('span', { text: 'Channel' }),
      h('select#an-channel', null, h('option', { value: '', text: 'All channels' }),
        ...channels.map((c) => h('option', { value: c, text: channelNames[c] || c })))),
    h('span.muted.small', { text: 'Days are UTC days.' }));
  const out = h('div#an-out.an-out', { 'aria-live': 'polite' });
  box.append(bar, out);

  const load = async () => {
    out.setAttribute('aria-busy', 'true');
    try {
      const q = new URLSearchParams({ period: state.period });
      if (state.channel) q.set('channel', state.channel);
      draw(out, await api.get(`/analytics?${q}`));
    } catch (err) {
      out.replaceChildren(h('p.error', { role: 'alert', text: err.message }));
    } finally {
      out.removeAttribute('aria-busy');
    }
  };
  bar.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-period]');
    if (!b) return;
    state.period = b.dataset.period;
    for (const x of bar.querySelectorAll('button[data-period]')) x.setAttribute('aria-pressed', String(x === b));
    load();
  });
  $('#an-channel', bar).addEventListener('change', (e) => { state.channel = e.target.value; load(); });
  await load();
}

function draw(out, a) {
  const t = a.totals;
  const days = a.days || [];
  const labels = days.map((d) => fmtDay.format(new Date(`${d.date}T00:00:00Z`)));
  const col = (k) => days.map((d) => d[k]);
  // Two charts a row from 900 px, one below: drawn at the width shown.
  const wide = out.clientWidth || 600;
  const width = Math.round(Math.max(300, Math.min(600, wide >= 900 ? wide / 2 - 40 : wide - 30)));
  out.replaceChildren(
    h('div.kpis', null,
      card('kpi-opened', 'Conversations opened', count(t.conversations_opened)),
      card('kpi-first-response', 'First response', duration(t.first_response_avg_seconds), `average of ${t.first_responses}`),
      card('kpi-resolution', 'Resolution time', duration(t.resolution_avg_seconds), `${t.resolved} resolved`),
      card('kpi-resolution-rate', 'Resolution rate', pct(t.resolution_rate)),
      card('kpi-ai-share', 'AI share of replies', pct(t.ai_share), `${t.replies_ai} AI · ${t.replies_human} human`),
      card('kpi-csat', 'CSAT', csat(t.csat_average), `${t.csat_ratings} rating${t.csat_ratings === 1 ? '' : 's'}`)),
    h('div.charts', null,
      barChart({ id: 'chart-opened', title: 'Conversations opened and resolved', labels,
        series: [{ name: 'Opened', values: col('conversations_opened') }, { name: 'Resolved', values: col('resolved') }], fmt: count, grouped: true, width }),
      barChart({ id: 'chart-replies', title: 'Replies by AI and people', labels,
        series: [{ name: 'AI', values: col('replies_ai') }, { name: 'Human', values: col('replies_human') }], fmt: count, width }),
      lineChart({ id: 'chart-first-response', title: 'First response time (average)', labels,
        series: [{ name: 'First response', values: col('first_response_avg_seconds') }], fmt: duration, width }),
      lineChart({ id: 'chart-csat', title: 'CSAT (average)', labels,
        series: [{ name: 'CSAT', values: col('csat_average') }], fmt: (v) => v.toFixed(1), width })),
    byChannel(a.channels || {}));
}

function byChannel(chs) {
  const names = Object.keys(chs).sort();
  if (!names.length) return h('p.muted', { text: 'No activity in this period.' });
  return h('table#an-channels.an-table', null, h('caption', { text: 'By channel' }),
    h('thead', null, h('tr', null, ...['Channel', 'Opened', 'First response', 'Resolved', 'Resolution rate', 'AI share', 'CSAT']
      .map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', null, ...names.map((n) => {
      const f = chs[n];
      return h('tr', { dataset: { channel: n } }, h('th', { scope: 'row', text: channelNames[n] || n }),
        h('td', { text: count(f.conversations_opened) }), h('td', { text: duration(f.first_response_avg_seconds) }),
        h('td', { text: count(f.resolved) }), h('td', { text: pct(f.resolution_rate) }), h('td', { text: pct(f.ai_share) }),
        h('td', { text: csat(f.csat_average) }));
    })));
}

registerSection({ id: 'analytics', title: 'Analytics', roles: ['owner', 'admin', 'agent'], order: 50, render });

// The header links here.
const chartIcon = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true"><path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/></svg>';
$('.topbar-right').prepend(h('a#open-analytics.top-link', { href: '#settings/analytics', 'aria-label': 'Analytics', title: 'Analytics' },
  h('span.top-icon', { html: chartIcon }), h('span.top-label', { text: 'Analytics' })));
