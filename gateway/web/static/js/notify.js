// Notifications: the open folder's unread count in the tab's title, a
// polite offer to turn on the browser's notifications (never asked on
// load; a dismissal is remembered per browser), and a notification, when
// the conversation is not the one in view, for a new conversation, a
// conversation assigned to me and a note mentioning me (with an in-app
// toast for the last two), and a conversation that needs a person after
// a handoff, each as the user's notification settings' browser column
// says (Settings › Notifications). Clicking a notification opens its
// conversation.
import { h, $, convName, toast } from './util.js';
import { get } from './api.js';

const DISMISSED = 'parley.notify.dismissed';
const BASE = document.title || 'Parley';

let app = { state: null, open: () => {} };
let last = null; // the previous event: a message's conversation.updated follows it in its frame
// prefs are the user's notification settings (GET /me/notifications);
// until they are loaded, everything shows (the server's defaults).
let prefs = null;

// setPrefs takes the user's notification settings.
export function setPrefs(settings) { prefs = settings || null; }

// loadPrefs reads the signed-in user's notification settings.
export function loadPrefs() {
  prefs = null;
  return get('/me/notifications').then((r) => setPrefs(r.settings)).catch(() => {});
}

// wants: the browser column of kind is on.
function wants(kind) {
  return !prefs || !prefs[kind] || prefs[kind].browser !== false;
}

// init wires the module to the inbox: state (me, users, convs, selected)
// and open(id) to show a conversation.
export function init({ state, open }) {
  app = { state, open };
}

// title shows unread (the open folder's unread conversations) in the
// tab's title: "(3) Parley inbox".
export function title(unread) {
  document.title = unread > 0 ? `(${unread}) ${BASE}` : BASE;
}

function supported() {
  return typeof window.Notification === 'function';
}

// banner offers to turn notifications on, while the browser has not
// been asked and the offer was not dismissed here.
export function banner() {
  const old = $('#notify-banner');
  if (old) old.remove();
  if (!supported() || Notification.permission !== 'default' || localStorage.getItem(DISMISSED)) return;
  const el = h('div#notify-banner.notify-banner', { role: 'region', 'aria-label': 'Notifications' },
    h('button.link', {
      type: 'button', text: 'Turn on notifications',
      onclick: async () => {
        try { await Notification.requestPermission(); } catch { /* an old browser's callback form: asked anyway */ }
        banner();
      },
    }),
    h('button.icon-btn.notify-dismiss', {
      type: 'button', 'aria-label': 'Dismiss', title: 'Dismiss', text: '×',
      onclick: () => { localStorage.setItem(DISMISSED, '1'); el.remove(); },
    }));
  const pane = $('#list-pane');
  pane.insertBefore(el, pane.firstChild);
}

// inView: the conversation is the one shown, in a visible tab.
function inView(id) {
  return document.visibilityState === 'visible' && app.state.selected === id
    && document.body.classList.contains('view-chat') && !document.body.classList.contains('view-settings');
}

function show(id, title, body) {
  if (!supported() || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag: id ? `parley-${id}` : undefined });
    n.onclick = () => {
      window.focus();
      if (id) app.open(id);
      n.close();
    };
  } catch { /* no Notification constructor here (Android Chrome wants a service worker) */ }
}

function userName(id) {
  if (/^0+$/.test(id || '')) return 'An automation'; // an automation's notify_user note
  const u = (app.state.users || []).find((x) => x.id === id);
  return u ? u.name || u.email : 'Someone';
}

// onEvent looks at a realtime event before the inbox applies it (prev:
// the conversation as known before it, if known).
export function onEvent(ev, prev) {
  const me = app.state.me && app.state.me.id;
  const d = ev.data || {};
  const before = last;
  last = ev;
  if (ev.type === 'note.mentioned' && d.note) {
    if (!wants('mentioned')) return;
    const n = d.note;
    const conv = n.conversation_id || '';
    const c = conv && app.state.convs.get(conv);
    const title = `${userName(n.author_id)} mentioned you${c ? ` in ${convName(c)}` : ''}`;
    toast(`${title}: ${n.text}`);
    if (!conv || !inView(conv)) show(conv, title, n.text);
    return;
  }
  if (ev.type === 'conversation.handoff' && me) {
    // For its assignee, or everyone when it has none. Its header comes
    // in the conversation.updated after it, when not in its data.
    const c = d.conversation || prev || { id: ev.conversation_id };
    if (!wants('needs_human') || (c.assignee_id && c.assignee_id !== me) || inView(c.id)) return;
    show(c.id, `Needs a person: ${convName(c)}`, (d.message && d.message.text) || c.preview || '');
    return;
  }
  const c = d.conversation;
  if (!c || !me) return;
  if (ev.type === 'conversation.created') {
    if (!wants('new_conversation')) return;
    // Its first message comes next in the same frame: tell once the
    // frame is applied, with the message's text.
    setTimeout(() => {
      const now = app.state.convs.get(c.id) || c;
      if (!inView(c.id)) show(c.id, `New conversation: ${convName(now)}`, now.preview || 'New conversation');
    }, 0);
    return;
  }
  if (ev.type !== 'conversation.updated' || c.assignee_id !== me) return;
  // An assignment changes only the header: a conversation.updated that
  // follows its message in a frame is that message's, and a conversation
  // not known before is taken as newly assigned only then.
  const companion = before && before.conversation_id === ev.conversation_id && before.seq === ev.seq - 1
    && before.type !== 'conversation.updated';
  if (prev ? prev.assignee_id === me : companion) return;
  if (!wants('assigned')) return;
  const title = `Assigned to you: ${convName(c)}`;
  if (inView(c.id)) return;
  toast(title);
  show(c.id, title, c.preview || '');
}
