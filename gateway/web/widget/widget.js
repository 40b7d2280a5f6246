// Parley's web chat widget. A page embeds it with
//   <script src="https://<parley>/widget.js" data-widget="<widget id>" async></script>
// (data-user-id and data-user-hash sign a visitor in). It talks only to
// the Parley that served it, keeps its styles in a Shadow DOM, and shows
// what anyone writes as text (textContent), never as HTML.
(() => {
  'use strict';
  const me = document.currentScript || document.querySelector('script[data-widget]');
  if (!me || !me.dataset.widget || window.__parleyWidget) return;
  window.__parleyWidget = true;
  const base = new URL(me.src, location.href).origin;
  const id = me.dataset.widget;
  const user = me.dataset.userId || '';
  const userHash = me.dataset.userHash || '';
  const api = base + '/widget/v1/' + encodeURIComponent(id);
  const storeKey = 'parley-widget:' + id;

  let cfg = null;
  let session = null;
  let conv = '';
  let epoch = '';
  let seq = null;
  let ws = null;
  let retry = 0;
  let open = false;
  let seen = false;
  let emailTo = ''; // replies go by email to the address left offline
  let unread = 0;
  let typingTimer = 0;
  let lastTyping = 0;
  const msgs = new Map(); // id → message

  // el makes an element with attributes and children (strings become
  // text nodes).
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };

  const css = `
:host{all:initial}
*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.launcher{position:fixed;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;
 background:var(--c);color:var(--t);box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;display:grid;place-items:center}
.launcher svg{width:26px;height:26px;fill:none;stroke:currentColor;stroke-width:2}
.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#c62828;color:#fff;font-size:12px;
 display:grid;place-items:center;padding:0 5px}
.badge[hidden]{display:none}
.attach svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;vertical-align:middle}
.right{right:20px}.left{left:20px}
.panel{position:fixed;bottom:88px;width:370px;max-width:calc(100vw - 40px);height:560px;max-height:calc(100vh - 108px);background:#fff;
 color:#1b1f24;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden;z-index:2147483001;font-size:15px}
.panel[hidden]{display:none}
header{background:var(--c);color:var(--t);padding:14px 16px;display:flex;align-items:center;gap:8px}
header h2{font-size:17px;margin:0;flex:1;font-weight:600}
.close{background:none;border:0;color:inherit;font-size:24px;line-height:1;cursor:pointer;padding:4px 8px;border-radius:6px}
button:focus-visible,input:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #ffbf47;outline-offset:1px}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}
.m{max-width:82%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.35}
.m.visitor{align-self:flex-end;background:var(--c);color:var(--t);border-bottom-right-radius:4px}
.m.ai,.m.agent,.m.greeting{align-self:flex-start;background:#fff;border:1px solid #d9dde3;border-bottom-left-radius:4px}
.who{display:block;font-size:12px;color:#4a5360;margin-bottom:2px}
.st{display:block;font-size:12px;text-align:right;margin-top:2px}
.m img{max-width:100%;border-radius:8px;display:block}
.m a{color:inherit}
.typing{font-size:13px;color:#4a5360;padding:0 14px 6px;min-height:20px;background:#f6f7f9}
form{display:flex;flex-direction:column;gap:8px;padding:10px;border-top:1px solid #d9dde3;background:#fff}
.row{display:flex;gap:6px;align-items:flex-end}
textarea{flex:1;resize:none;border:1px solid #8a93a0;border-radius:10px;padding:9px;font-size:15px;min-height:42px;max-height:120px;color:#1b1f24}
input{border:1px solid #8a93a0;border-radius:8px;padding:8px;font-size:15px;width:100%;color:#1b1f24}
label{font-size:13px;color:#333b45;display:flex;flex-direction:column;gap:3px}
.send,.attach{border:0;border-radius:10px;height:42px;padding:0 14px;cursor:pointer;font-size:15px}
.send{background:var(--c);color:var(--t)}
.attach{background:#e9ecf0;color:#1b1f24}
.note{font-size:13px;color:#333b45;margin:0}
.err{color:#b00020;font-size:13px;margin:0}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){.panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0;bottom:0}}`;

  const host = el('div', { 'data-parley-widget': id });
  const root = host.attachShadow({ mode: 'open' });
  const badge = el('span', { class: 'badge', hidden: '' });
  // svg draws an icon of one path (hidden from screen readers: its
  // button has a label).
  const svg = (d) => {
    const ns = 'http://www.w3.org/2000/svg';
    const s = document.createElementNS(ns, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', d);
    s.append(p);
    return s;
  };
  const icon = svg('M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z');
  const launcher = el('button', { class: 'launcher', type: 'button', 'aria-label': 'Open chat', 'aria-expanded': 'false', onclick: () => toggle(!open) }, icon, badge);
  const title = el('h2', { id: 'pw-title' });
  const closeBtn = el('button', { class: 'close', type: 'button', 'aria-label': 'Close chat', onclick: () => toggle(false) }, '×');
  const log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages', tabindex: '0' });
  const typing = el('div', { class: 'typing', 'aria-live': 'polite' });
  const text = el('textarea', { id: 'pw-text', rows: '1', maxlength: '4000', placeholder: 'Write a message…' });
  const fileIn = el('input', { type: 'file', class: 'sr', id: 'pw-file', tabindex: '-1', 'aria-hidden': 'true' });
  const attach = el('button', { class: 'attach', type: 'button', 'aria-label': 'Attach a file', onclick: () => fileIn.click() },
    svg('M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5'));
  const sendBtn = el('button', { class: 'send', type: 'submit' }, 'Send');
  const fields = el('div', { class: 'fields' });
  const error = el('p', { class: 'err', role: 'alert' });
  const form = el('form', { onsubmit: (e) => { e.preventDefault(); submit(); } },
    fields, error,
    el('div', { class: 'row' }, el('label', { for: 'pw-text', class: 'sr' }, 'Message'), text, attach, fileIn, sendBtn));
  const panel = el('section', { class: 'panel', role: 'dialog', 'aria-labelledby': 'pw-title', hidden: '' },
    el('header', {}, title, closeBtn), log, typing, form);
  root.append(el('style', {}, css), launcher, panel);

  const saved = () => { try { return JSON.parse(localStorage.getItem(storeKey) || 'null'); } catch { return null; } };
  const save = (v) => { try { localStorage.setItem(storeKey, JSON.stringify(v)); } catch { /* private mode: this page only */ } };

  const call = async (method, path, body, isForm) => {
    const headers = {};
    if (session) headers.Authorization = 'Bearer ' + session.token;
    if (user && userHash) { headers['X-Parley-User'] = user; headers['X-Parley-User-Hash'] = userHash; }
    if (body && !isForm) headers['Content-Type'] = 'application/json';
    const r = await fetch(api + path, { method, headers, body: isForm ? body : body && JSON.stringify(body), credentials: 'omit' });
    const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error((data.error && data.error.message) || 'Request failed'), { status: r.status });
    return data;
  };

  const who = { ai: 'Assistant', agent: 'Agent', visitor: 'You' };
  // render draws the thread, oldest first, from msgs.
  const render = () => {
    const list = [...msgs.values()].sort((a, b) => a.seq - b.seq);
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.replaceChildren();
    if (cfg.greeting) log.append(el('div', { class: 'm greeting' }, el('span', { class: 'who' }, cfg.title || 'Chat'), cfg.greeting));
    if (!cfg.open && !conv) log.append(el('div', { class: 'm greeting' }, cfg.offline_message));
    if (emailTo) log.append(el('div', { class: 'm greeting email-to' }, 'We will answer by email at ' + emailTo + '.'));
    let lastMine = null;
    for (const m of list) {
      const body = el('div', { class: 'm ' + m.from, 'data-id': m.id, 'data-from': m.from });
      body.append(el('span', { class: m.from === 'visitor' ? 'sr' : 'who' }, who[m.from] || ''));
      if (m.file) {
        const href = api + '/files/' + m.seq + '?token=' + encodeURIComponent(session.token) +
          (user && userHash ? '&user=' + encodeURIComponent(user) + '&user_hash=' + encodeURIComponent(userHash) : '');
        if ((m.file.mime_type || '').startsWith('image/')) body.append(el('img', { src: href, alt: m.file.name || 'image' }));
        else body.append(el('a', { href, target: '_blank', rel: 'noopener' }, m.file.name || 'file'));
        if (m.text) body.append(el('div', {}, m.text));
      } else body.append(m.text || '');
      if (m.from === 'visitor') lastMine = body;
      log.append(body);
    }
    if (lastMine) lastMine.append(el('span', { class: 'st' }, seen ? 'Seen' : 'Sent'));
    if (atEnd) log.scrollTop = log.scrollHeight;
    fields.replaceChildren();
    const ask = !conv && (!cfg.open || cfg.pre_chat.length);
    if (ask) {
      const list = cfg.open ? cfg.pre_chat : [{ kind: 'email', key: 'email', label: 'Your email', required: true }];
      for (const f of list) {
        const type = f.kind === 'email' ? 'email' : f.kind === 'phone' ? 'tel' : 'text';
        const input = el('input', { type, name: f.key, 'data-kind': f.kind, autocomplete: f.kind === 'text' ? 'off' : f.kind === 'phone' ? 'tel' : f.kind });
        if (f.required) input.required = true;
        fields.append(el('label', {}, f.label + (f.required ? ' *' : ''), input));
      }
    }
    markSeen();
  };

  const upsert = (m) => {
    const old = msgs.get(m.id);
    const fresh = !old;
    msgs.set(m.id, m);
    if (fresh && m.from !== 'visitor') {
      typing.textContent = '';
      if (!open) { unread++; badge.textContent = String(unread); badge.hidden = false; }
    }
    render();
  };

  // markSeen reports the replies shown: read while the panel is open in
  // a visible page, delivered otherwise.
  const reported = new Map();
  const markSeen = () => {
    if (!ws || ws.readyState !== 1) return;
    const state = open && document.visibilityState === 'visible' ? 'read' : 'delivered';
    for (const m of msgs.values()) {
      if (m.from === 'visitor' || m.status === 'read' || reported.get(m.id) === 'read' || reported.get(m.id) === state) continue;
      reported.set(m.id, state);
      ws.send(JSON.stringify({ type: state, message_id: m.id }));
    }
  };

  const load = async () => {
    const r = await call('GET', '/messages');
    msgs.clear();
    for (const m of r.messages) msgs.set(m.id, m);
    if (r.conversation_id) conv = r.conversation_id;
    seen = !!r.seen;
    emailTo = r.email_to || '';
    render();
  };

  const connect = () => {
    if (ws) { ws.onclose = null; ws.close(); }
    let q = '?token=' + encodeURIComponent(session.token);
    if (user && userHash) q += '&user=' + encodeURIComponent(user) + '&user_hash=' + encodeURIComponent(userHash);
    if (epoch && seq != null) q += '&epoch=' + encodeURIComponent(epoch) + '&seq=' + seq;
    const s = new WebSocket(base.replace(/^http/, 'ws') + '/widget/v1/' + encodeURIComponent(id) + '/ws' + q);
    ws = s;
    s.onmessage = (e) => {
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      if (f.seq != null && f.type !== 'hello') seq = Math.max(seq || 0, f.seq);
      switch (f.type) {
        case 'hello':
          retry = 0;
          if (f.epoch !== epoch) { epoch = f.epoch; seq = f.seq; }
          if (seq == null) seq = f.seq;
          if (f.conversation_id && f.conversation_id !== conv) { conv = f.conversation_id; }
          markSeen();
          break;
        case 'message': upsert(f.message); break;
        case 'conversation': seen = !!f.seen; render(); break;
        case 'typing':
          typing.textContent = 'Agent is typing…';
          clearTimeout(typingTimer);
          typingTimer = setTimeout(() => { typing.textContent = ''; }, 5000);
          break;
        case 'resync': load().catch(() => {}); break;
      }
    };
    s.onclose = (e) => {
      if (ws !== s) return;
      ws = null;
      if (e.code === 4400 || e.code === 4404 || e.code === 1008) return; // a bad frame, a deleted widget
      setTimeout(connect, Math.min(30000, 500 * 2 ** retry++));
    };
  };

  // formValues reads the pre-chat (or offline) form: the message's form.
  const formValues = () => {
    const inputs = [...fields.querySelectorAll('input')];
    if (!inputs.length) return null;
    const out = {};
    for (const i of inputs) {
      const v = i.value.trim();
      if (!v) continue;
      if (i.dataset.kind === 'text') (out.fields = out.fields || {})[i.name] = v;
      else out[i.dataset.kind] = v;
    }
    return out;
  };

  const clientId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
  const context = () => ({ page_url: location.href.slice(0, 4000), referrer: document.referrer.slice(0, 4000), browser: navigator.userAgent.slice(0, 500) });

  const sent = (r) => {
    upsert(r.message);
    if (!conv || conv !== r.conversation_id) { conv = r.conversation_id; connect(); }
    if (!cfg.open || emailTo) load().catch(() => {}); // where the replies go may have changed
  };

  const submit = async () => {
    error.textContent = '';
    const t = text.value.trim();
    if (!t) { text.focus(); return; }
    for (const i of fields.querySelectorAll('input')) {
      if (!i.checkValidity()) { error.textContent = 'Please fill in ' + i.parentElement.firstChild.textContent.replace(' *', '') + '.'; i.focus(); return; }
    }
    const body = { client_id: clientId(), text: t, ...context() };
    const f = formValues();
    if (f) body.form = f;
    sendBtn.disabled = true;
    try {
      sent(await call('POST', '/messages', body));
      text.value = '';
    } catch (err) {
      error.textContent = err.status === 429 ? 'You are sending too fast. Please wait a moment.' : err.message;
    } finally {
      sendBtn.disabled = false;
      text.focus();
    }
  };

  fileIn.addEventListener('change', async () => {
    const file = fileIn.files[0];
    if (!file) return;
    const fd = new FormData();
    const payload = { client_id: clientId(), text: text.value.trim(), ...context() };
    const f = formValues();
    if (f) payload.form = f;
    fd.append('payload', JSON.stringify(payload));
    fd.append('file', file);
    try {
      sent(await call('POST', '/files', fd, true));
      text.value = '';
    } catch (err) {
      error.textContent = err.message;
    }
    fileIn.value = '';
  });

  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); submit(); }
  });
  text.addEventListener('input', () => {
    const now = Date.now();
    if (ws && ws.readyState === 1 && conv && now - lastTyping > 2000) { lastTyping = now; ws.send('{"type":"typing"}'); }
  });
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') toggle(false); });
  document.addEventListener('visibilitychange', markSeen);

  const toggle = (on) => {
    open = on;
    panel.hidden = !on;
    launcher.setAttribute('aria-expanded', String(on));
    launcher.setAttribute('aria-label', on ? 'Close chat' : 'Open chat');
    if (on) {
      unread = 0;
      badge.hidden = true;
      log.scrollTop = log.scrollHeight;
      text.focus();
      markSeen();
    } else launcher.focus();
  };

  const start = async () => {
    cfg = await call('GET', '/config');
    host.style.setProperty('--c', cfg.color);
    host.style.setProperty('--t', cfg.text_color);
    launcher.classList.add(cfg.position);
    panel.classList.add(cfg.position);
    panel.style[cfg.position] = '20px';
    title.textContent = cfg.title || 'Chat';
    const old = saved() || {};
    const s = await call('POST', '/sessions', { page_url: location.href.slice(0, 4000), visitor_id: old.visitor_id || '', token: old.token || '', user_id: user, user_hash: userHash });
    session = s;
    save({ visitor_id: s.visitor_id, token: s.token });
    if (s.conversation_id) conv = s.conversation_id;
    await load();
    document.body.append(host); // drawn once it has something to show
    connect();
  };

  const mount = () => {
    start().catch((err) => { host.remove(); console.warn('Parley widget:', err.message); });
  };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
