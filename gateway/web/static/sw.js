// Parley's service worker: it shows Web Push notifications and, on a
// click, focuses an open Parley window on the conversation or opens one.
// It caches nothing and answers no request: the app and its API data
// always come from the server (no fetch handler).

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { body: event.data ? event.data.text() : '' }; }
  const title = data.title || 'Parley';
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || '',
    tag: data.tag || 'parley',
    icon: '/icons/icon-192.png',
    badge: '/icons/icon-192.png',
    data: { url: data.url || '/' },
  }));
});

// target is the notification's address on this origin (a push from
// another server's URL opens the inbox here).
function target(url) {
  try {
    const u = new URL(url || '/', self.location.origin);
    return u.origin === self.location.origin ? u.href : self.location.origin + '/';
  } catch { return self.location.origin + '/'; }
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = target(event.notification.data && event.notification.data.url);
  event.waitUntil((async () => {
    const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of wins) {
      if (new URL(w.url).origin !== self.location.origin) continue;
      await w.focus();
      // The app routes on its hash (#c/<id>): tell it, or navigate.
      w.postMessage({ type: 'parley.open', url });
      return;
    }
    await self.clients.openWindow(url);
  })());
});
