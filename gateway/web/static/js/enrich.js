// What Parley worked out about a contact by itself (the API's
// `detected`): the country and the formatted number read from its phone,
// the language of the customer's own messages. A person's country and
// language win; a detected one shows, marked "(detected)", only where the
// person set none. Names come from the browser (Intl.DisplayNames):
// nothing is fetched.
import { h } from './util.js';

const regions = displayNames('region');
const languages = displayNames('language');

function displayNames(type) {
  try { return new Intl.DisplayNames(['en'], { type }); } catch { return null; }
}

function nameOf(names, code) {
  try { return (names && names.of(code)) || code; } catch { return code; }
}

// detectedRows returns the [label, value] rows to show for contact c.
export function detectedRows(c) {
  const p = (c && c.profile) || {}, d = (c && c.detected) || {};
  const rows = [];
  if (!p.country && d.country) rows.push(['Country', `${nameOf(regions, d.country)} (detected)`]);
  if (!p.language && d.language) rows.push(['Language', `${nameOf(languages, d.language)} (detected)`]);
  if (!p.phone && d.phone_international) rows.push(['Phone', d.phone_international]);
  return rows;
}

// detectedList returns the list of what was detected about contact c
// (hidden while there is nothing); fillDetected redraws it in place.
export function detectedList(c) {
  const dl = h('dl.detected', { 'aria-label': 'Detected' });
  fillDetected(dl, c);
  return dl;
}

export function fillDetected(dl, c) {
  const rows = detectedRows(c);
  dl.replaceChildren(...rows.map(([k, v]) => h('div', null, h('dt', { text: k }), h('dd', { text: v }))));
  dl.hidden = !rows.length;
}
