// Realtime: one WebSocket to /api/v1/ws with the token in the query. It
// remembers the epoch and the last seq seen and resumes from them after a
// disconnect; a resync frame (or a new epoch) tells the app to reload.
import { auth } from './api.js';

export class Realtime {
  constructor({ onEvent, onResync, onState, onSignedOut, onOpen }) {
    this.onEvent = onEvent;
    this.onOpen = onOpen;
    this.onSignedOut = onSignedOut || (() => {});
    this.onResync = onResync;
    this.onState = onState || (() => {});
    this.epoch = '';
    this.seq = 0;
    this.backoff = 500;
    this.closed = false;
  }

  start() {
    this.closed = false;
    this.connect();
  }

  stop() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.sock) this.sock.close();
  }

  connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ token: auth.token });
    if (this.epoch) {
      q.set('epoch', this.epoch);
      q.set('seq', String(this.seq));
    }
    const sock = new WebSocket(`${proto}//${location.host}/api/v1/ws?${q}`);
    this.sock = sock;
    this.onState('connecting');
    sock.onmessage = (m) => this.frame(m.data);
    sock.onclose = (ev) => {
      if (this.sock !== sock) return;
      this.onState('offline');
      if (this.closed) return;
      if (ev.code === 4401) { // the token was revoked: no reconnecting
        this.closed = true;
        this.onSignedOut();
        return;
      }
      this.timer = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
    sock.onopen = () => { this.backoff = 500; };
  }

  // presence reports this tab's presence (active, away, online) to the
  // server over the open connection; nothing while it is closed.
  presence(state) {
    if (this.sock && this.sock.readyState === WebSocket.OPEN) this.sock.send(JSON.stringify({ type: 'presence', state }));
  }

  frame(data) {
    let v;
    try { v = JSON.parse(data); } catch { return; }
    const list = Array.isArray(v) ? v : [v];
    for (const f of list) {
      if (f.type === 'hello') {
        const fresh = this.epoch && this.epoch !== f.epoch;
        const first = !this.epoch;
        if (first || fresh) this.seq = f.seq;
        this.epoch = f.epoch;
        this.onState('live');
        if (this.onOpen) this.onOpen();
        if (fresh) this.onResync();
        continue;
      }
      if (f.type === 'resync') {
        this.onResync();
        continue;
      }
      if (f.type === 'pong') continue;
      if (typeof f.seq === 'number') {
        if (f.seq <= this.seq) continue; // already seen (replay overlap)
        this.seq = f.seq;
      }
      this.onEvent(f);
    }
  }
}
