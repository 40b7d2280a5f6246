// Web Push on this device: the service worker (/sw.js, which shows the
// pushed notifications and opens their conversation), and subscribing
// this browser with the server's VAPID key or unsubscribing it. The
// worker caches nothing.
import { api, get } from './api.js';

// supported: the browser can receive Web Push here (a secure context:
// HTTPS or localhost).
export function supported() {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && typeof Notification === 'function';
}

let registration = null;

// register installs the service worker once per page; it resolves to its
// registration once active, or null where there is none.
export function register() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return Promise.resolve(null);
  if (!registration) {
    registration = navigator.serviceWorker.register('/sw.js', { scope: '/' })
      .then(() => navigator.serviceWorker.ready)
      .catch(() => null);
  }
  return registration;
}

// A click on a pushed notification in an open window: the worker asks
// it to show the conversation (the app routes on #c/<id>).
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.addEventListener('message', (e) => {
    const d = e.data || {};
    if (d.type !== 'parley.open' || !d.url) return;
    const u = new URL(d.url, location.origin);
    if (u.origin === location.origin && u.hash && u.hash !== location.hash) location.hash = u.hash;
  });
}

function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function b64url(buf) {
  return btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// enable asks the browser's permission, subscribes it with the server's
// key (again with the new key if an older subscription had another) and
// registers the subscription with the server.
export async function enable() {
  if (!supported()) throw new Error('This browser cannot receive push notifications here (it needs HTTPS)');
  const perm = await Notification.requestPermission();
  if (perm !== 'granted') throw new Error('Notifications are blocked for this site in the browser’s settings');
  const reg = await register();
  if (!reg) throw new Error('The service worker did not start');
  const { public_key: key } = await get('/push/key');
  let sub = await reg.pushManager.getSubscription();
  if (sub && sub.options && sub.options.applicationServerKey && b64url(sub.options.applicationServerKey) !== key) {
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  const j = sub.toJSON();
  await api('POST', '/push/subscriptions', { endpoint: j.endpoint, keys: { p256dh: j.keys.p256dh, auth: j.keys.auth } });
  return sub;
}

// disable removes this device's subscription from the server and the
// browser.
export async function disable() {
  const reg = await register();
  const sub = reg ? await reg.pushManager.getSubscription() : null;
  const q = sub ? `?endpoint=${encodeURIComponent(sub.endpoint)}` : '';
  await api('DELETE', `/push/subscriptions${q}`);
  if (sub) await sub.unsubscribe();
}

// status says whether this device gets pushes: the browser has a
// subscription and the server knows it.
export async function status() {
  if (!supported()) return 'unsupported';
  const reg = await register();
  const sub = reg ? await reg.pushManager.getSubscription() : null;
  if (!sub) return 'off';
  const r = await get('/push/subscriptions');
  return (r.subscriptions || []).some((s) => s.endpoint === sub.endpoint) ? 'on' : 'off';
}

register();
