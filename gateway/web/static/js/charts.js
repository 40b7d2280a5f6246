// Small charts drawn as inline SVG (no library): bars (stacked or side
// by side) and lines, drawn width units wide (the width they are shown
// at, so that their text keeps its size). Each chart is a <figure> whose
// SVG is an image named by an aria-label, with a table of the numbers
// as its text alternative.
import { h } from './util.js';

const NS = 'http://www.w3.org/2000/svg';
const H = 200;
const PAD = { l: 40, r: 8, t: 10, b: 24 };

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const k of kids) if (k) el.append(k);
  return el;
}

// niceMax rounds a maximum up to 1, 2 or 5 × a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function axes(svg, W, max, labels, fmt) {
  const ih = H - PAD.t - PAD.b;
  for (const f of [0, 0.5, 1]) {
    const y = PAD.t + ih * (1 - f);
    svg.append(s('line', { class: 'grid', x1: PAD.l, x2: W - PAD.r, y1: y, y2: y }),
      s('text', { class: 'tick', x: PAD.l - 4, y: y + 4, 'text-anchor': 'end' }, fmt(max * f)));
  }
  const step = Math.max(1, Math.ceil(labels.length / 8));
  const iw = (W - PAD.l - PAD.r) / labels.length;
  labels.forEach((l, i) => {
    if (i % step === 0 || i === labels.length - 1) {
      svg.append(s('text', { class: 'tick', x: PAD.l + iw * (i + 0.5), y: H - 6, 'text-anchor': 'middle' }, l));
    }
  });
}

// table is the chart's numbers as a table (the text alternative).
function table(caption, labels, series, fmt) {
  return h('table.chart-table', null, h('caption', { text: caption }),
    h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Day' }), ...series.map((x) => h('th', { scope: 'col', text: x.name })))),
    h('tbody', null, ...labels.map((l, i) => h('tr', null, h('th', { scope: 'row', text: l }),
      ...series.map((x) => h('td', { text: x.values[i] == null ? '–' : fmt(x.values[i]) }))))));
}

function summary(title, labels, series, fmt) {
  return `${title}: ` + series.map((x) => `${x.name} ` + labels.map((l, i) => `${l} ${x.values[i] == null ? 'none' : fmt(x.values[i])}`).join(', ')).join('; ');
}

function legend(series) {
  if (series.length < 2) return null;
  return h('div.chart-legend', { 'aria-hidden': 'true' }, ...series.map((x, i) => h('span', null, h(`i.sw.c${i}`), x.name)));
}

// barChart draws a bar per label and series ([{name, values}]), stacked
// (parts of a whole) or side by side when grouped; null values are drawn
// as none.
export function barChart({ id, title, labels, series, fmt = String, grouped = false, width: W = 600 }) {
  const totals = labels.map((_, i) => (grouped ? Math.max(0, ...series.map((x) => x.values[i] || 0))
    : series.reduce((a, x) => a + (x.values[i] || 0), 0)));
  const max = niceMax(Math.max(0, ...totals));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary(title, labels, series, fmt), class: 'chart-svg' });
  axes(svg, W, max, labels, fmt);
  const ih = H - PAD.t - PAD.b;
  const iw = (W - PAD.l - PAD.r) / labels.length;
  const bw = Math.max(2, Math.min(40, iw * 0.7));
  const each = grouped ? bw / series.length : bw;
  labels.forEach((l, i) => {
    let base = 0;
    series.forEach((x, k) => {
      const v = x.values[i] || 0;
      if (v <= 0) return;
      const y0 = PAD.t + ih * (1 - base / max);
      const y1 = PAD.t + ih * (1 - (base + v) / max);
      const x0 = PAD.l + iw * i + (iw - bw) / 2 + (grouped ? each * k : 0);
      svg.append(s('rect', { class: `bar c${k}`, x: x0, y: y1, width: each, height: Math.max(0, y0 - y1) },
        s('title', null, `${l}: ${x.name} ${fmt(v)}`)));
      if (!grouped) base += v;
    });
  });
  return figure(id, title, svg, series, labels, fmt);
}

// lineChart draws each series as a line with a dot per known value.
export function lineChart({ id, title, labels, series, fmt = String, width: W = 600 }) {
  const max = niceMax(Math.max(0, ...series.flatMap((x) => x.values.filter((v) => v != null))));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary(title, labels, series, fmt), class: 'chart-svg' });
  axes(svg, W, max, labels, fmt);
  const ih = H - PAD.t - PAD.b;
  const iw = (W - PAD.l - PAD.r) / labels.length;
  series.forEach((x, k) => {
    const pts = [];
    x.values.forEach((v, i) => {
      if (v == null) return;
      const px = PAD.l + iw * (i + 0.5);
      const py = PAD.t + ih * (1 - v / max);
      pts.push(`${px.toFixed(1)},${py.toFixed(1)}`);
      svg.append(s('circle', { class: `dot c${k}`, cx: px, cy: py, r: 3 }, s('title', null, `${labels[i]}: ${fmt(v)}`)));
    });
    if (pts.length > 1) svg.prepend(s('polyline', { class: `line c${k}`, points: pts.join(' ') }));
  });
  return figure(id, title, svg, series, labels, fmt);
}

function figure(id, title, svg, series, labels, fmt) {
  return h(`figure.chart#${id}`, null, h('figcaption', { text: title }), legend(series), svg,
    h('details.chart-data', null, h('summary', { text: 'Show the numbers' }), table(title, labels, series, fmt)));
}
