// Keyboard shortcuts of the inbox and the "?" cheat sheet that lists
// them. None works while a text field has the focus (typing "e" in the
// search box searches). The list keys (/, arrows, Enter, Esc) are
// app.js's; they are listed here too.
import { h, $ } from './util.js';
import { icons } from './icons.js';
import * as chat from './chat.js';
import * as panel from './panel.js';

let app; // {state, open, visibleRows, loadMore}

// keys are every shortcut: what the cheat sheet shows, and the action of
// those handled here.
export const keys = [
  { key: 'j', label: 'J', what: 'Next conversation', run: () => step(1) },
  { key: 'k', label: 'K', what: 'Previous conversation', run: () => step(-1) },
  { key: 'r', label: 'R', what: 'Resolve the conversation (or reopen it)', run: () => chat.shortcut('resolve') },
  { key: 'e', label: 'E', what: 'Archive (or unarchive)', run: () => chat.shortcut('archive') },
  { key: 'w', label: 'W', what: 'Mark pending, waiting for the customer (or reopen)', run: () => chat.shortcut('pending') },
  { key: '!', label: '!', what: 'Move to Spam (or Not spam)', run: () => chat.shortcut('spam') },
  // The composer takes the focus once the key is up, so the "c" is not typed into it.
  { key: 'c', label: 'C', what: 'Write a reply (focus the composer)', run: () => document.addEventListener('keyup', () => chat.focusComposer(), { once: true }) },
  { key: 'p', label: 'P', what: 'Show or hide the contact panel', run: () => panel.toggle() },
  { label: '/', what: 'Search' },
  { label: '↑ ↓', what: 'Move through the list' },
  { label: 'Enter', what: 'Open the highlighted conversation' },
  { label: 'Esc', what: 'Close a menu or panel, clear the search' },
  { key: '?', label: '?', what: 'Show these shortcuts', run: () => toggleSheet() },
];

export function init(a) {
  app = a;
  // Capture: the sheet closes on Esc before the list's Esc clears anything.
  document.addEventListener('keydown', onKey, true);
}

function typing(t) {
  return t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.isContentEditable);
}

function onKey(e) {
  // Not over the Settings view (body.view-settings) either: its keys are its own.
  if ($('#app').hidden || !$('#modal').hidden || document.body.classList.contains('view-settings') || document.body.classList.contains('view-contacts') || e.ctrlKey || e.metaKey || e.altKey) return;
  const s = sheet && !sheet.hidden;
  if (s && (e.key === 'Escape' || e.key === '?')) {
    e.preventDefault();
    e.stopImmediatePropagation();
    closeSheet();
    return;
  }
  if (typing(e.target)) return;
  const k = keys.find((x) => x.run && x.key === e.key);
  if (!k || (s && k.key !== '?')) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  k.run();
}

// step opens the conversation after (d = 1) or before (d = -1) the open
// one in the list shown (the highlighted one when none is open).
function step(d) {
  const rows = app.visibleRows();
  if (!rows.length) return;
  const st = app.state;
  const at = rows.findIndex((r) => r.conversation.id === (st.selected || st.focus));
  const idx = at < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, at + d));
  if (idx >= rows.length - 5) app.loadMore();
  const id = rows[idx].conversation.id;
  if (id === st.selected && at >= 0) return;
  app.open(id);
  const el = $(`#conv-list li.conv[data-id="${id}"]`);
  if (el) el.scrollIntoView({ block: 'nearest' });
}

let sheet = null;
let before = null; // what had the focus before the sheet

function toggleSheet() {
  if (sheet && !sheet.hidden) closeSheet();
  else openSheet();
}

function openSheet() {
  if (!sheet) {
    const close = h('button.icon-btn.sheet-close', { type: 'button', 'aria-label': 'Close', html: icons.close, onclick: closeSheet });
    sheet = h('div#shortcuts.shortcuts', { role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'shortcuts-title', hidden: true },
      h('div.shortcuts-card', null,
        h('div.shortcuts-head', null, h('h2#shortcuts-title', { text: 'Keyboard shortcuts' }), close),
        h('dl.shortcuts-list', null, ...keys.flatMap((k) => [
          h('dt', null, ...k.label.split(' ').map((l) => h('kbd', { text: l }))),
          h('dd', { text: k.what })]))));
    sheet.addEventListener('click', (e) => { if (e.target === sheet) closeSheet(); });
    document.body.append(sheet);
  }
  before = document.activeElement;
  sheet.hidden = false;
  $('.sheet-close', sheet).focus();
}

function closeSheet() {
  if (!sheet) return;
  sheet.hidden = true;
  if (before && before.focus) before.focus();
}
