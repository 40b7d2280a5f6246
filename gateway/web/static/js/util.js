// Small DOM and formatting helpers. User data only ever goes into the DOM
// through textContent and attributes, never as HTML.

// h builds an element: h('div.cls#id', {attr: v, onclick: f}, ...children).
export function h(tag, attrs, ...kids) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || 'div');
  for (const r of rest) {
    if (r[0] === '.') el.classList.add(r.slice(1));
    else el.id = r.slice(1);
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'html') el.innerHTML = v; // trusted constants only (icons)
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const k of kids.flat()) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

const dayMs = 86400000;

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

// Formatters are made once: making one per call costs more than the
// formatting (a list renders hundreds of times).
const fmtTime = new Intl.DateTimeFormat('en-US', { hour: 'numeric', minute: '2-digit' });
const fmtDay = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric' });
const fmtWeekday = new Intl.DateTimeFormat('en-US', { weekday: 'short' });
const fmtMonthDay = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric' });
const fmtMonthDayYear = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', year: 'numeric' });

// time12 formats a time as 3:04 PM.
export function time12(t) {
  return fmtTime.format(new Date(t));
}

// dayLabel is Today, Yesterday or a full date (28 April 2026).
export function dayLabel(t, now = new Date()) {
  const d = new Date(t);
  const diff = Math.round((startOfDay(now) - startOfDay(d)) / dayMs);
  if (diff === 0) return 'Today';
  if (diff === 1) return 'Yesterday';
  if (diff === -1) return 'Tomorrow';
  return fmtDay.format(d);
}

// A time the server wrote into a text (a system event's), in RFC 3339.
const rfc3339 = /\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)/g;

// withLocalTimes returns text as nodes with each RFC 3339 time in it shown
// as a <time> in the reader's time zone (Today 3:04 PM).
export function withLocalTimes(text) {
  const out = [];
  let last = 0;
  for (const m of String(text || '').matchAll(rfc3339)) {
    const t = Date.parse(m[0]);
    if (Number.isNaN(t)) continue;
    out.push(text.slice(last, m.index), h('time', { datetime: m[0], title: m[0], text: `${dayLabel(t)} ${time12(t)}` }));
    last = m.index + m[0].length;
  }
  out.push(String(text || '').slice(last));
  return out;
}

// listTime is the short time of a list row: 3:04 PM today, Yesterday,
// a weekday this week, or a date.
export function listTime(t, now = new Date()) {
  const d = new Date(t);
  const diff = Math.round((startOfDay(now) - startOfDay(d)) / dayMs);
  if (diff <= 0) return time12(d);
  if (diff === 1) return 'Yesterday';
  if (diff < 7) return fmtWeekday.format(d);
  return (d.getFullYear() === now.getFullYear() ? fmtMonthDay : fmtMonthDayYear).format(d);
}

export function dayKey(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

// initials of a display name, for avatars.
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || '?').slice(0, 2);
  return s.toUpperCase();
}

// hue picks a stable avatar colour from a string.
export function hue(s) {
  let x = 0;
  for (const c of String(s)) x = (x * 31 + c.charCodeAt(0)) % 360;
  return x;
}

export function avatar(name, key, cls = '') {
  const el = h('div.avatar' + cls, { text: initials(name), 'aria-hidden': 'true' });
  // Light and dark shades of one hue: 5:1 or more at any hue (WCAG AA).
  const hu = hue(key || name);
  el.style.background = `hsl(${hu} 60% 85%)`;
  el.style.color = `hsl(${hu} 60% 25%)`;
  return el;
}

export function debounce(f, ms) {
  let t;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => f(...a), ms);
  };
}

export function formatSize(n) {
  if (!n) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / (1 << 20)).toFixed(1)} MB`;
}

// convName is what the inbox calls a conversation's customer.
export function convName(c) {
  return c.contact_name || c.external_user_id || 'Unknown';
}

let toastTimer;
export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
}

// confirmDialog shows the modal with a message; resolves true on OK.
export function confirmDialog(message, okLabel = 'OK', danger = false) {
  return modal(h('p', { text: message }), okLabel, danger).then((ok) => ok);
}

// modal shows body in the dialog; resolves true on OK, false on Cancel.
export function modal(body, okLabel = 'OK', danger = false) {
  const m = document.getElementById('modal');
  const b = document.getElementById('modal-body');
  const ok = document.getElementById('modal-ok');
  const cancel = document.getElementById('modal-cancel');
  b.replaceChildren(body);
  ok.textContent = okLabel;
  ok.classList.toggle('danger', danger);
  m.hidden = false;
  return new Promise((resolve) => {
    const done = (v) => {
      m.hidden = true;
      ok.onclick = cancel.onclick = null;
      document.removeEventListener('keydown', onKey, true);
      resolve(v);
    };
    const onKey = (e) => {
      if (e.key === 'Escape') { e.stopPropagation(); done(false); }
    };
    document.addEventListener('keydown', onKey, true);
    ok.onclick = () => done(true);
    cancel.onclick = () => done(false);
    ok.focus();
  });
}

// fold is how search compares text: lower case, accents aside.
const fold = (s) => s.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase();

const wordChar = /[\p{L}\p{N}]/u;

// searchTerms are the words of a search query, folded; none when it has
// no letters or digits (nothing to search for).
export function searchTerms(q) {
  return fold(q).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

// highlight returns text as nodes with the words that start with one of
// terms (folded, from searchTerms) in <mark>, as the server matches them:
// word prefixes, case and accents aside.
export function highlight(text, terms) {
  if (!text || !terms.length) return [text || ''];
  // The folded form of each character of text, so that a match in the
  // folded text maps back to the characters it covers.
  const chars = [...text];
  const folded = chars.map((c) => fold(c));
  const marked = new Array(chars.length).fill(false);
  for (let i = 0; i < chars.length; i++) {
    if (!wordChar.test(chars[i]) || (i > 0 && wordChar.test(chars[i - 1]))) continue;
    for (const t of terms) {
      let j = i, got = '';
      while (j < chars.length && got.length < t.length) got += folded[j++];
      if (got.startsWith(t)) for (let k = i; k < j; k++) marked[k] = true;
    }
  }
  const out = [];
  let run = '', on = false;
  const flush = () => { if (run) out.push(on ? h('mark', { text: run }) : run); run = ''; };
  chars.forEach((c, i) => {
    if (marked[i] !== on) { flush(); on = marked[i]; }
    run += c;
  });
  flush();
  return out;
}
