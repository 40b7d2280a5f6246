// The chat view: header with the mode pill and actions, the message
// timeline (date separators, bubbles, media, delivery ticks, system
// events, older pages keeping the scroll position) and the composer
// (AI banner or text box, attachments with preview and caption,
// optimistic sends).
import { api, get, post, mediaURL } from './api.js';
import { icons, channelIcon, channelNames } from './icons.js';
import * as composer from './composer.js';
import { h, $, avatar, time12, dayLabel, dayKey, convName, toast, confirmDialog, modal, formatSize, withLocalTimes } from './util.js';
import { menuButton } from './menu.js';
import { feedbackControl } from './feedback.js';
import * as templates from './templates.js';
import { assistantPicker } from './assistants.js';
import { teamTag } from './teams.js';

const PAGE = 30;
let app; // {state, upsert, open, back}
let cur = null; // {conv, msgs: ascending by seq, hasMore, loadingOlder, gen}
let tempSeq = 0;
let countdownTimer;

export function init(a) {
  app = a;
  $('#act-more').innerHTML = icons.more;
  $('#act-contact').innerHTML = icons.panel;
  $('#lightbox-close').innerHTML = icons.close;
  $('#lightbox-close').addEventListener('click', closeLightbox);
  $('#lightbox').addEventListener('click', (e) => { if (e.target.id === 'lightbox') closeLightbox(); });
  $('#load-older').addEventListener('click', loadOlder);
  $('#messages').addEventListener('scroll', () => {
    if (!cur) return;
    // The view sticks to the newest message while the reader is there:
    // only a move up unsticks it (content growing under it, such as a
    // photo loaded before this event came, does not).
    cur.stick = stuck();
    if (cur.stick) hideJump();
    if (cur.hasMore && $('#messages').scrollTop < 80) loadOlder();
  }, { passive: true });
  // Media that load (or anything else that grows the timeline) would push
  // the newest message out of view: follow it while stuck to the bottom.
  new ResizeObserver(() => { if (cur && stuck()) scrollToBottom(); }).observe($('#msg-list'));
  $('#jump-new').addEventListener('click', () => { scrollToBottom(); hideJump(); });
  $('#mode-pill').addEventListener('click', toggleMode);
  $('#act-solve').addEventListener('click', solve);
  $('#act-star').addEventListener('click', star);
  $('#act-more').addEventListener('click', (e) => { e.stopPropagation(); $('#more-menu').hidden = !$('#more-menu').hidden; });
  document.addEventListener('click', () => { $('#more-menu').hidden = true; });
  $('#more-menu').addEventListener('click', (e) => {
    const act = e.target.closest('button') && e.target.closest('button').dataset.act;
    $('#more-menu').hidden = true;
    if (act) more(act);
  });
  menuButton($('#act-more'), $('#more-menu'));
}

export function current() { return cur && cur.conv; }

// refreshDay draws the day separators again (Today becomes Yesterday).
export function refreshDay() { if (cur) renderMessages(); }
// refreshHead draws the header again (the assistants changed).
export function refreshHead() { if (cur) renderHead(); }
export function messages() { return cur ? cur.msgs : []; }

// ---------- opening and loading ----------

export async function open(conv) {
  const same = cur && cur.conv.id === conv.id;
  if (!same) {
    cur = { conv, server: conv, patches: [], msgs: [], hasMore: false, loadingOlder: false, gen: (cur ? cur.gen : 0) + 1, stick: true, pinnedTop: 0, unseen: 0 };
    hideJump();
    $('#chat-empty').hidden = true;
    $('#chat').hidden = false;
    $('#msg-list').replaceChildren();
    bubbleCache.clear();
  }
  // Opening it (again) reads it, even after Mark as unread.
  cur.keepUnread = false;
  renderHead();
  renderComposer();
  if (!same) await loadLatest();
  if (conv.unread_count > 0) markRead();
}

export async function reload() {
  if (!cur) return;
  try {
    const c = await get(`/conversations/${cur.conv.id}`);
    cur.server = c;
    view();
    app.upsert(cur.conv);
  } catch { /* deleted meanwhile: the event says so */ }
  cur.msgs = [];
  await loadLatest();
  renderHead();
  renderComposer();
}

async function loadLatest() {
  const gen = cur.gen;
  try {
    const r = await get(`/conversations/${cur.conv.id}/messages?limit=${PAGE}`);
    if (!cur || gen !== cur.gen) return;
    merge(r.messages);
    cur.hasMore = r.messages.length === PAGE;
    renderMessages();
    scrollToBottom();
  } catch (err) {
    toast(`Could not load messages: ${err.message}`);
  }
}

async function loadOlder() {
  if (!cur || cur.loadingOlder || !cur.hasMore) return;
  const oldest = cur.msgs.find((m) => m.seq > 0);
  if (!oldest) return;
  cur.loadingOlder = true;
  const gen = cur.gen;
  const box = $('#messages');
  $('#load-older').textContent = 'Loading…';
  try {
    const r = await get(`/conversations/${cur.conv.id}/messages?limit=${PAGE}&before=${oldest.seq}`);
    if (gen !== cur.gen) return;
    // Keep the message that was on screen where it was: measure before
    // and after and move by the height added above it.
    const before = box.scrollHeight, top = box.scrollTop;
    merge(r.messages);
    cur.hasMore = r.messages.length === PAGE;
    renderMessages();
    box.scrollTop = top + (box.scrollHeight - before);
  } catch (err) {
    toast(`Could not load older messages: ${err.message}`);
  } finally {
    if (gen === cur.gen) cur.loadingOlder = false;
    $('#load-older').textContent = 'Load older messages';
  }
}

// merge adds server messages (any order), replacing same-seq ones and
// optimistic copies they confirm.
function merge(list) {
  for (const m of list) {
    if (m.direction === 'outbound' && m.sender && m.sender.kind === 'human') {
      // The event of our own send may come before the POST answers.
      const t = cur.msgs.find((x) => x.temp && x.status === 'sending' && x.kind === m.kind &&
        (x.kind === 'text' ? x.text === m.text : x.media && m.media && x.media.filename === m.media.filename));
      if (t) {
        if (t.media && t.media.local && m.media) m.media.local = t.media.local;
        cur.msgs.splice(cur.msgs.indexOf(t), 1);
        t.confirmed = true;
      }
    }
    const i = cur.msgs.findIndex((x) => x.seq === m.seq && !x.temp);
    if (i < 0) cur.msgs.push(m);
    else if (!older(m, cur.msgs[i])) cur.msgs[i] = m;
  }
  cur.msgs.sort((a, b) => (a.temp ? Infinity : a.seq) - (b.temp ? Infinity : b.seq) || a.tempSeq - b.tempSeq);
}

const rank = { sending: 1, sent: 2, delivered: 3, read: 4 };

// older reports whether m is an earlier state of the message than have:
// a POST answer, or a page of messages, can arrive after the event of a
// later change. A stored file stays, statuses only move forward, a
// failure applies at once, and only a newer retry moves a failed message
// on.
const stored = (m) => !!(m.media && (m.media.sha256 || m.media.storage_key));

function older(m, have) {
  // A file is fetched once: a copy without it is from before.
  if (stored(have) && !stored(m)) return true;
  if (m.status === have.status || m.status === 'failed' || !m.status) return false;
  if (have.status === 'failed') return Date.parse(m.status_at || 0) < Date.parse(have.status_at || 0);
  return (rank[m.status] || 0) < (rank[have.status] || 0);
}

function nearBottom() {
  const b = $('#messages');
  return b.scrollHeight - b.scrollTop - b.clientHeight < 120;
}

function scrollToBottom() {
  const b = $('#messages');
  b.scrollTop = b.scrollHeight;
  if (cur) {
    cur.stick = true;
    cur.pinnedTop = b.scrollTop;
  }
}

// stuck reports whether the view follows the newest message: it was
// scrolled there and not moved up since (the scroll event that says so
// comes a frame late), or it is at the bottom now.
function stuck() {
  return (cur.stick && $('#messages').scrollTop >= cur.pinnedTop - 2) || nearBottom();
}

// The jump button: messages arrived below the part of the chat being read.
function showJump() {
  cur.unseen++;
  const j = $('#jump-new');
  j.textContent = cur.unseen === 1 ? '1 new message ↓' : `${cur.unseen} new messages ↓`;
  j.hidden = false;
}

function hideJump() {
  if (cur) cur.unseen = 0;
  $('#jump-new').hidden = true;
}

// ---------- events ----------

// view is the conversation shown: the server's newest copy with the
// changes of the actions still in flight on top, so that the answer or
// event of an earlier action does not undo a later one on screen (the
// shortcuts make quick successions easy).
function view(o = cur) {
  o.conv = Object.assign({ ...o.server }, ...o.patches.map((p) => p.patch));
}

export function onConversation(conv) {
  if (!cur || cur.conv.id !== conv.id || cur.server.last_seq > conv.last_seq) return;
  cur.server = conv;
  view();
  if (cur.patches.length) app.upsert({ ...cur.conv });
  renderHead();
  renderComposer();
  if (conv.unread_count > 0 && !cur.keepUnread && document.visibilityState === 'visible') markRead();
}

export function onMessage(type, m) {
  if (!cur || m.conversation_id !== cur.conv.id) return;
  const stick = stuck();
  merge([m]);
  renderMessages();
  if (stick || type === 'message.created' && m.direction === 'outbound' && m.sender && m.sender.kind === 'human') scrollToBottom();
  else if (type === 'message.created') showJump();
}

export function onDeleted(id) {
  if (!cur || cur.conv.id !== id) return;
  cur = null;
  $('#chat').hidden = true;
  $('#chat-empty').hidden = false;
  app.back(true);
}

let readTimer;
function markRead() {
  clearTimeout(readTimer);
  const id = cur.conv.id;
  // The event of the change updates the list; the answer may be stale by then.
  readTimer = setTimeout(() => post(`/conversations/${id}/read`).catch(() => {}), 150);
}

// ---------- header ----------

function renderHead() {
  const c = cur.conv;
  const name = convName(c);
  $('#chat-avatar').replaceWith(Object.assign(avatar(name, c.contact_id), { id: 'chat-avatar' }));
  $('#chat-name').textContent = name;
  $('#chat-sub').replaceChildren(h('span', { html: channelIcon(c.channel) }), ` ${channelNames[c.channel] || c.channel}`,
    ...(c.blocked ? [h('span.tag.danger', { text: 'Blocked' })] : []),
    // An offline widget conversation continues by email (README, "Web chat widget").
    ...(c.channel === 'webchat' && c.email_to ? [h('span.tag.email-to', { text: `Replies by email to ${c.email_to}`,
      title: 'The visitor left this address outside the widget\'s hours: replies are emailed, and their answers come back here' })] : []),
    ...[teamTag(c)].filter(Boolean),
    assistantPicker(c, (id) => act('assistant', { assistant_id: id }, { assistant_id: id })));
  const pill = $('#mode-pill');
  pill.dataset.mode = c.mode;
  pill.replaceChildren(h('span.dot'), c.mode === 'ai' ? 'AI' : 'Manual');
  pill.title = c.mode === 'ai' ? 'The AI is answering: click to take manual control' : 'You are answering: click to hand back to the AI';
  const solved = c.folder === 'solved';
  const s = $('#act-solve');
  s.innerHTML = solved ? icons.reopen : icons.check;
  s.title = solved ? 'Reopen' : 'Mark as solved';
  s.setAttribute('aria-label', s.title);
  const starred = (c.tags || []).includes('priority');
  const st = $('#act-star');
  st.innerHTML = starred ? icons.starFilled : icons.star;
  st.title = starred ? 'Remove priority' : 'Star as priority';
  st.setAttribute('aria-label', st.title);
  st.setAttribute('aria-pressed', String(starred));
  const blk = $('#more-menu [data-act=block]');
  blk.textContent = c.blocked ? 'Unblock contact' : 'Block contact';
  const uns = $('#more-menu [data-act=unsubscribe]');
  uns.textContent = c.unsubscribed ? 'Subscribe contact again' : 'Unsubscribe contact';
  renderFollowUp(c);
  $('#more-menu [data-act=pending]').textContent = c.folder === 'pending' ? 'Reopen (not pending)' : 'Mark as pending';
  $('#more-menu [data-act=archive]').textContent = c.folder === 'archived' ? 'Unarchive' : 'Archive';
  $('#more-menu [data-act=spam]').textContent = c.folder === 'spam' ? 'Not spam' : 'Move to Spam';
}

// act runs an action with an optimistic change to the header (a patch
// over the server's copy, see view), then takes the server's
// conversation; on failure the patch goes, which undoes the change.
async function act(path, body, optimistic, method = 'POST') {
  const on = cur;
  const id = on.conv.id;
  const p = { patch: optimistic || {} };
  on.patches.push(p);
  const settle = (server) => {
    on.patches.splice(on.patches.indexOf(p), 1);
    if (server && server.last_seq >= on.server.last_seq) on.server = server;
    view(on);
    app.upsert({ ...on.conv });
    if (cur === on) { renderHead(); renderComposer(); }
  };
  if (optimistic) {
    view(on);
    app.upsert({ ...on.conv });
    renderHead();
    renderComposer();
  }
  try {
    const r = await api(method, `/conversations/${id}/${path}`, method === 'POST' && body === undefined ? {} : body);
    settle(r && r.id === id ? r : null);
    return r;
  } catch (err) {
    settle(null);
    toast(err.message);
    return null;
  }
}

// renderFollowUp shows the follow-up scheduled, if any, in a banner over
// the timeline, with a Cancel button.
function renderFollowUp(c) {
  let el = $('#followup-banner');
  if (!el) {
    el = h('div#followup-banner.followup-banner', { role: 'status', hidden: true });
    $('#messages').before(el);
  }
  el.hidden = !c.follow_up_at;
  if (!c.follow_up_at) { el.replaceChildren(); return; }
  const at = c.follow_up_at;
  el.replaceChildren(h('span.fu-icon', { html: icons.clock, 'aria-hidden': 'true' }),
    h('span.fu-text', null, c.follow_up_auto ? 'Automatic follow-up ' : 'Follow-up ',
      h('time', { datetime: at, text: `${dayLabel(at)} ${time12(at)}` })),
    h('button.ghost.small#followup-cancel', {
      type: 'button', text: 'Cancel', 'aria-label': 'Cancel the follow-up',
      onclick: () => act('followup', undefined, { follow_up_at: undefined, follow_up_auto: false }, 'DELETE'),
    }));
}

function toggleMode() {
  if (cur.conv.mode === 'ai') return act('takeover', undefined, { mode: 'manual' });
  return act('resume-ai', undefined, { mode: 'ai', ai_resumes_at: undefined, ai_paused: false });
}

function solve() {
  const folder = cur.conv.folder === 'solved' ? 'open' : 'solved';
  return act('folder', { folder }, { folder });
}

// toggleFolder files the open conversation into folder (pending, spam, archived),
// or back into Open when it is there already (Not spam, Unarchive).
function toggleFolder(folder) {
  const to = cur.conv.folder === folder ? 'open' : folder;
  return act('folder', { folder: to }, { folder: to });
}

// shortcut runs a keyboard shortcut's action on the open conversation:
// resolve (solve or reopen), archive, spam, pending (each toggles back to
// Open). It reports whether a conversation was open to act on.
export function shortcut(what) {
  if (!cur || $('#chat').hidden) return false;
  if (what === 'resolve') solve();
  else toggleFolder({ spam: 'spam', pending: 'pending' }[what] || 'archived');
  return true;
}

// focusComposer puts the caret in the message box (manual mode only:
// in AI mode there is none).
export function focusComposer() {
  const ta = $('#compose');
  if (!cur || !ta || $('#chat').hidden) return false;
  ta.focus();
  return true;
}

function star() {
  const tags = cur.conv.tags || [];
  const on = !tags.includes('priority');
  return act('star', { starred: on }, { tags: on ? [...tags, 'priority'] : tags.filter((t) => t !== 'priority') });
}

async function more(what) {
  const c = cur.conv;
  switch (what) {
    case 'unread':
      // Stays unread while it is open, until it is opened again: the
      // update of this change must not read it back.
      clearTimeout(readTimer);
      cur.keepUnread = true;
      await act('unread', undefined, { unread_count: Math.max(1, c.unread_count) });
      return;
    case 'pending':
      await toggleFolder('pending');
      return;
    case 'archive':
      await toggleFolder('archived');
      return;
    case 'spam':
      await toggleFolder('spam');
      return;
    case 'block':
      await act(c.blocked ? 'unblock' : 'block', undefined, { blocked: !c.blocked });
      return;
    case 'unsubscribe':
      await act('subscription', { unsubscribed: !c.unsubscribed }, { unsubscribed: !c.unsubscribed });
      return;
    case 'delete':
      if (!(await confirmDialog(`Delete the chat with ${convName(c)} for good? Messages and files are removed and cannot be recovered.`, 'Delete', true))) return;
      try {
        await api('DELETE', `/conversations/${c.id}`);
        onDeleted(c.id);
      } catch (err) { toast(err.message); }
  }
}

// ---------- timeline ----------

const bubbleCache = new Map();

function sig(m) {
  return [m.seq, m.status, m.error_reason, m.text, m.reasoning, m.media && (m.media.sha256 || m.media.storage_key), m.temp, (m.sources || []).length].join('|');
}

// reactionsOf maps the channel message id of each message loaded to the
// reactions on it, one per side (the customer's, ours), the latest of
// each (an empty emoji takes a reaction off); a reaction whose message is
// loaded is shown on it rather than on its own.
function reactionsOf(msgs) {
  const ids = new Set(msgs.map((m) => m.channel_message_id).filter(Boolean));
  const on = new Map();
  for (const m of msgs) {
    const r = m.kind === 'reaction' && m.reaction;
    if (!r || !ids.has(r.target_channel_message_id)) continue;
    if (!on.has(r.target_channel_message_id)) on.set(r.target_channel_message_id, new Map());
    on.get(r.target_channel_message_id).set(m.direction, r.emoji || '');
  }
  return on;
}

function renderMessages() {
  const list = $('#msg-list');
  const out = [];
  let day = '';
  const reactions = reactionsOf(cur.msgs);
  for (const m of cur.msgs) {
    if (m.kind === 'reaction' && m.reaction && reactions.has(m.reaction.target_channel_message_id)) continue;
    const t = m.created_at;
    const k = dayKey(t);
    if (k !== day) {
      day = k;
      out.push(h('div.day-sep', { role: 'separator' }, h('span', { text: dayLabel(t) })));
    }
    const key = m.temp ? `t${m.tempSeq}` : `s${m.seq}`;
    const on = [...((m.channel_message_id && reactions.get(m.channel_message_id)) || new Map())].filter(([, e]) => e);
    const s = `${sig(m)}|${on.join()}`;
    let hit = bubbleCache.get(key);
    if (!hit || hit.sig !== s) {
      hit = { sig: s, el: bubble(m, on) };
      bubbleCache.set(key, hit);
    }
    out.push(hit.el);
  }
  list.replaceChildren(...out);
  const older = $('#load-older');
  older.hidden = !cur.hasMore;
}

// bubble draws a message; on are the reactions on it, [direction, emoji].
function bubble(m, on = []) {
  if (m.direction === 'internal' || m.kind === 'system') {
    // A person's action names them ("Moved to solved · Ann"); the rest
    // (the customer, the AI, timers) carry no user.
    const by = m.sender && m.sender.user_id ? h('span.system-by', { text: ` · ${whoName(m.sender.user_id)}` }) : null;
    return h('div.system-event', { dataset: { seq: m.seq } }, h('span', null, ...withLocalTimes(m.text), by), h('time', { text: time12(m.created_at) }));
  }
  const out = m.direction === 'outbound';
  const who = m.sender && m.sender.kind;
  const isSticker = m.kind === 'sticker';
  const b = h(`div.bubble${isSticker ? '.sticker-bubble' : ''}`, null, content(m));
  const meta = h('div.meta', null,
    out && who === 'ai' ? h('span.ai-tag', { text: 'AI', title: 'Sent by the AI agent' }) : null,
    out && who === 'human' ? h('span.who', { text: whoName(m.sender.user_id) }) : null,
    h('time', { datetime: m.created_at, text: time12(m.created_at) }),
    out ? statusIcon(m) : null);
  // The AI's reasoning folds out under its message (a readable panel,
  // not a tooltip).
  const reacts = on.length ? h('div.reactions', null, ...on.map(([dir, e]) => h('span.reaction', {
    text: e, title: dir === 'inbound' ? `The customer reacted ${e}` : `Reacted ${e}`, 'aria-label': dir === 'inbound' ? `The customer reacted ${e}` : `Reacted ${e}`, role: 'img',
  }))) : null;
  // A failed send says why under the message, with its Retry button.
  const failed = out && m.status === 'failed' ? h('div.send-error.status.failed', null,
    h('span', { text: `Not sent: ${m.error_reason || 'the channel refused it'}` }),
    h('button.retry', { type: 'button', text: 'Retry', onclick: () => retry(m) })) : null;
  // Beside the reasoning, the knowledge base passages the reply used.
  const used = m.sources && m.sources.length ? h('div.reasoning-sources', null, h('span.small', { text: 'Knowledge used:' }),
    h('ul', null, ...m.sources.map((s) => h('li', { dataset: { entry: s.entry_id } },
      h('a', { href: '#settings/knowledge', text: s.title }), h('span.muted', { text: ` (${s.kind === 'correction' ? 'correction' : s.kind})` }))))) : null;
  const why = m.reasoning || used ? h('details.reasoning', null, h('summary', { text: 'Why the AI replied this' }),
    m.reasoning ? h('p', { text: m.reasoning }) : null, used) : null;
  // People rate an AI reply (thumbs up or down, with a correction).
  const rate = out && who === 'ai' && !m.temp && cur ? feedbackControl(cur.conv.id, m) : null;
  return h(`div.msg.${out ? 'out' : 'in'}${who === 'ai' ? '.ai' : ''}`, { dataset: { seq: m.seq, status: m.status || '', kind: m.kind } }, b, reacts, meta, failed, why, rate);
}

function whoName(id) {
  const u = app.state.users.find((x) => x.id === id);
  if (app.state.me && id === app.state.me.id) return 'You';
  return u ? u.name : 'Agent';
}

function statusIcon(m) {
  switch (m.status) {
    case 'sending': return h('span.status.sending', { html: icons.spinner, title: 'Sending' });
    case 'sent': return h('span.status.sent', { html: icons.tick, title: 'Sent' });
    case 'delivered': return h('span.status.delivered', { html: icons.ticks, title: 'Delivered' });
    case 'read': return h('span.status.read', { html: icons.ticks, title: 'Read' });
    case 'failed':
      return h('span.status.failed', { title: 'Not sent', 'aria-label': 'Not sent', html: icons.alert });
  }
  return null;
}

function content(m) {
  const media = m.media;
  const caption = media && media.caption ? h('div.caption', null, ...linkify(media.caption)) : null;
  switch (m.kind) {
    case 'text': {
      const text = h('div.text', null, ...linkify(m.text));
      if (!media || !(media.sha256 || media.storage_key)) return text;
      // An email keeps its original mail, downloadable under its text.
      const link = h('a.doc.original', { download: media.filename || 'message.eml', title: 'Download the original email' },
        h('span.doc-icon', { html: icons.file }),
        h('span.doc-name', null, h('span', { text: 'Original email' }), h('small.muted', { text: formatSize(media.size) })),
        h('span', { html: icons.download }));
      load(media, (url) => { link.href = url; });
      return [text, link];
    }
    case 'image':
      return [mediaEl(m, 'img.thumb', (el, url) => { el.src = url; el.alt = media.caption || 'Image'; },
        (url) => lightbox(h('img', { src: url, alt: media.caption || 'Image' }))), caption];
    case 'sticker':
      return mediaEl(m, 'img.sticker', (el, url) => { el.src = url; el.alt = 'Sticker'; });
    case 'video': {
      const wrap = h('div.video-thumb', null, h('span.play', { html: icons.play }));
      const v = h('video', { preload: 'metadata', muted: true, playsinline: true });
      wrap.prepend(v);
      load(media, (url) => { v.src = url; });
      wrap.addEventListener('click', () => load(media, (url) => lightbox(h('video', { src: url, controls: true, autoplay: true }))));
      return [wrap, caption];
    }
    case 'audio': {
      const a = h('audio', { controls: true, preload: 'metadata' });
      load(media, (url) => { a.src = url; });
      return [a, caption];
    }
    case 'document': {
      const link = h('a.doc', { download: (media && media.filename) || 'file', title: 'Download' },
        h('span.doc-icon', { html: icons.file }),
        h('span.doc-name', null, h('span', { text: (media && media.filename) || 'Document' }), h('small.muted', { text: formatSize(media && media.size) })),
        h('span', { html: icons.download }));
      load(media, (url) => { link.href = url; });
      return [link, caption];
    }
    case 'location': {
      const l = m.location || {};
      return h('div.text', { text: `📍 ${[l.name, l.address].filter(Boolean).join(', ') || 'Location'} (${l.latitude}, ${l.longitude})` });
    }
    case 'reaction':
      return h('div.text.muted', { text: `Reacted ${(m.reaction && m.reaction.emoji) || ''}` });
    case 'interactive':
      return h('div.text', { text: (m.interactive && (m.interactive.title || m.interactive.payload)) || m.text || 'Button reply' });
    case 'contacts':
      return h('div.text', { text: '👤 Contact card' });
    case 'template':
      return [h('div.tpl-label.muted.small', { text: `Template${m.template ? `: ${m.template.name}` : ''}` }), h('div.text', null, ...linkify(m.text))];
    default:
      return h('div.text.muted', { text: m.text || `Unsupported message${m.unsupported_type ? ` (${m.unsupported_type})` : ''}` });
  }
}

// Addresses in a message's text: http(s), mailto: and tel: links, and
// www. names (as https). Anything else (javascript:, data:, ...) stays
// text: it is never matched, and a match is checked again by URL.
const linkRe = /\b(?:https?:\/\/|mailto:|tel:|www\.)[^\s<>"]+/gi;
const safeSchemes = new Set(['http:', 'https:', 'mailto:', 'tel:']);

// linkify returns text as nodes with its addresses as links that open in
// a new tab, with no access back to this page and no referrer.
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of String(text || '').matchAll(linkRe)) {
    let s = m[0];
    // Punctuation that ends a sentence is not part of the address, nor a
    // closing bracket with no opening one in it.
    for (;;) {
      const t = s.replace(/[.,;:!?'*]+$/, '');
      const u = /[)\]]$/.test(t) && !/[([]/.test(t) ? t.slice(0, -1) : t;
      if (u === s) break;
      s = u;
    }
    let url;
    try { url = new URL(/^www\./i.test(s) ? `https://${s}` : s); } catch { continue; }
    if (!safeSchemes.has(url.protocol) || (url.protocol.startsWith('http') && !url.hostname)) continue;
    out.push(text.slice(last, m.index), h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer', text: s }));
    last = m.index + s.length;
  }
  out.push(String(text || '').slice(last));
  return out;
}

function load(media, f) {
  if (!media) return;
  if (media.local) { f(media.local); return; }
  mediaURL(media).then(f).catch(() => {});
}

function mediaEl(m, tag, set, onClick) {
  const el = h(tag);
  if (!m.media || (!m.media.sha256 && !m.media.storage_key && !m.media.local)) {
    return h('div.media-pending', { text: 'Media not downloaded yet' });
  }
  load(m.media, (url) => {
    set(el, url);
    if (onClick) el.addEventListener('click', () => onClick(url));
  });
  return el;
}

function lightbox(node) {
  $('#lightbox-body').replaceChildren(node);
  $('#lightbox').hidden = false;
}

export function closeLightbox() {
  $('#lightbox').hidden = true;
  $('#lightbox-body').replaceChildren();
}

// ---------- composer ----------

function renderComposer() {
  clearInterval(countdownTimer);
  const c = cur.conv;
  const box = $('#composer');
  // In AI mode a person may still write an internal note (an @mention)
  // without taking over: the banner's "Write a note" opens a notes-only
  // composer, as does a note drafted before.
  const notesOnly = c.mode === 'ai';
  if (notesOnly && cur.aiNote === undefined) cur.aiNote = (composer.loadDraft(c.id) || {}).mode === 'note';
  const takeManual = () => h('button.primary.small#take-manual', { type: 'button', text: 'Take manual control', onclick: () => act('takeover', undefined, { mode: 'manual' }) });
  const aiLine = (...more) => h('div.ai-managing', null, h('span.ai-dots', null, h('i'), h('i'), h('i')),
    h('span', { text: 'AI is managing this conversation' }), takeManual(), ...more);
  if (notesOnly && !cur.aiNote) {
    composer.flush();
    box.dataset.mode = 'ai';
    box.replaceChildren(aiLine(h('button.ghost.small#ai-note', { type: 'button', text: 'Write a note', onclick: () => { cur.aiNote = true; renderComposer(); focusComposer(); } })));
    if (templates.outsideWindow(c)) box.append(templates.composerNotice(c, templateSent));
    return;
  }
  const kind = notesOnly ? 'ai-note' : 'manual';
  if (box.dataset.mode === kind && box.dataset.conv === c.id) { // keep what is typed
    if (!notesOnly) {
      updateCountdown();
      countdownTimer = setInterval(updateCountdown, 1000);
    }
    return;
  }
  box.dataset.mode = kind;
  box.dataset.conv = c.id;
  const ta = h('textarea#compose', { rows: 1, placeholder: 'Type a message', 'aria-label': 'Message' });
  const send = h('button.send', { type: 'button', 'aria-label': 'Send', html: icons.send, disabled: true });
  const fileIn = h('input', { type: 'file', hidden: true });
  const imgIn = h('input', { type: 'file', accept: 'image/*,video/*', hidden: true });
  const grow = () => {
    ta.style.height = 'auto';
    ta.style.height = `${Math.min(ta.scrollHeight, 160)}px`;
    send.disabled = !ta.value.trim();
  };
  ta.addEventListener('input', grow);
  ta.addEventListener('keydown', (e) => {
    if (composer.handleKey(e)) return; // the @mention or canned reply picker's keys
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  const submit = () => {
    const text = ta.value.trim();
    if (!text) return;
    ta.value = '';
    grow();
    if (composer.mode() === 'note') composer.sendNote(c.id, text); // internal: never to the customer
    else sendText(text);
    composer.sent(c.id);
  };
  send.addEventListener('click', submit);
  for (const inp of [fileIn, imgIn]) {
    inp.addEventListener('change', () => {
      const f = inp.files[0];
      inp.value = '';
      if (f) previewFile(f);
    });
  }
  composer.flush();
  const files = notesOnly ? [] : [
    h('button.icon-btn', { type: 'button', 'aria-label': 'Attach a file', title: 'Attach a file', html: icons.clip, onclick: () => fileIn.click() }),
    h('button.icon-btn', { type: 'button', 'aria-label': 'Send an image or video', title: 'Image or video', html: icons.image, onclick: () => imgIn.click() })];
  box.replaceChildren(
    notesOnly ? aiLine(h('button.ghost.small#ai-note-close', { type: 'button', text: 'Close the note', onclick: () => { cur.aiNote = false; renderComposer(); } }))
      : h('div.countdown#countdown'),
    h('div.compose-row', null, ...files, ta, send, ...(notesOnly ? [] : [fileIn, imgIn])));
  if (!notesOnly && templates.outsideWindow(c)) box.prepend(templates.composerNotice(c, templateSent));
  composer.attach({ box, ta, send, grow, conv: c, notesOnly });
  if (notesOnly) return;
  updateCountdown();
  countdownTimer = setInterval(updateCountdown, 1000);
}

function updateCountdown() {
  const el = $('#countdown');
  if (!el || !cur) return;
  const c = cur.conv;
  if (c.ai_paused) { el.textContent = 'AI paused: hand back with the AI pill'; return; }
  if (!c.ai_resumes_at) { el.textContent = 'Manual mode'; return; }
  const left = Math.max(0, Date.parse(c.ai_resumes_at) - Date.now());
  const mm = Math.floor(left / 60000), ss = Math.floor((left % 60000) / 1000);
  el.textContent = `AI resumes in ${mm}:${String(ss).padStart(2, '0')}`;
}

function optimistic(content) {
  const m = {
    temp: true, tempSeq: ++tempSeq, seq: 0, direction: 'outbound', sender: { kind: 'human', user_id: app.state.me && app.state.me.id },
    status: 'sending', created_at: new Date().toISOString(), ...content,
  };
  cur.msgs.push(m);
  renderMessages();
  scrollToBottom();
  return m;
}

// confirm swaps an optimistic message for the server's copy.
function confirmSent(conv, temp, m) {
  if (!cur || cur.conv.id !== conv) return;
  const i = cur.msgs.indexOf(temp);
  if (i >= 0) cur.msgs.splice(i, 1);
  if (temp.media && temp.media.local && m.media) m.media.local = temp.media.local;
  merge([m]);
  renderMessages();
}

function failTemp(temp, err) {
  if (temp.confirmed) return;
  temp.status = 'failed';
  temp.error_reason = err.message;
  renderMessages();
}

async function sendText(text, temp) {
  const conv = cur.conv.id;
  if (!temp) temp = optimistic({ kind: 'text', text });
  else { temp.status = 'sending'; renderMessages(); }
  temp.resend = () => sendText(text, temp);
  try {
    const m = await post(`/conversations/${conv}/messages`, { text });
    confirmSent(conv, temp, m);
  } catch (err) {
    failTemp(temp, err);
  }
}

// templateSent shows a template the picker sent (templates.js).
function templateSent(m) {
  if (!cur || cur.conv.id !== m.conversation_id) return;
  merge([m]);
  renderMessages();
  scrollToBottom();
}

async function sendFile(file, caption, temp) {
  const conv = cur.conv.id;
  const kind = file.type.startsWith('image/') ? 'image' : file.type.startsWith('video/') ? 'video' : file.type.startsWith('audio/') ? 'audio' : 'document';
  if (!temp) {
    temp = optimistic({ kind, media: { local: URL.createObjectURL(file), filename: file.name, size: file.size, caption, mime_type: file.type } });
  } else { temp.status = 'sending'; renderMessages(); }
  temp.resend = () => sendFile(file, caption, temp);
  const fd = new FormData();
  fd.append('file', file, file.name);
  if (caption) fd.append('caption', caption);
  try {
    const m = await api('POST', `/conversations/${conv}/messages`, fd);
    confirmSent(conv, temp, m);
  } catch (err) {
    failTemp(temp, err);
  }
}

async function retry(m) {
  if (m.temp) { m.resend(); return; }
  try {
    const r = await post(`/conversations/${cur.conv.id}/messages/${m.seq}/retry`);
    merge([r]);
    renderMessages();
  } catch (err) { toast(err.message); }
}

async function previewFile(file) {
  const url = URL.createObjectURL(file);
  let preview;
  if (file.type.startsWith('image/')) preview = h('img.preview', { src: url, alt: file.name });
  else if (file.type.startsWith('video/')) preview = h('video.preview', { src: url, controls: true });
  else preview = h('div.doc', null, h('span.doc-icon', { html: icons.file }), h('span.doc-name', null, h('span', { text: file.name }), h('small.muted', { text: formatSize(file.size) })));
  const cap = h('input#caption', { type: 'text', placeholder: 'Add a caption (optional)', 'aria-label': 'Caption' });
  const body = h('div.media-preview', null, h('h3', { text: 'Send file' }), preview, cap);
  setTimeout(() => cap.focus(), 0);
  cap.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); $('#modal-ok').click(); } });
  const ok = await modal(body, 'Send');
  URL.revokeObjectURL(url);
  if (ok) sendFile(file, cap.value.trim());
}
