// The broadcasts a contact received (GET /api/v1/contacts/{id}/broadcasts),
// for the inbox's contact panel and the contact page, and the words for
// a contact's opt-out entries in its activity.
import { get } from './api.js';
import { h, dayLabel, time12 } from './util.js';

// STATUS names a recipient's status for people.
export const STATUS = {
  queued: 'Queued', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Failed',
  replied: 'Replied', opted_out: 'Opted out', skipped: 'Skipped',
};

const when = (t) => (t ? `${dayLabel(t)} ${time12(t)}` : '');

// loadReceived resolves to the contact's broadcasts, newest first ([]
// when the server has no broadcasts).
export async function loadReceived(contactID) {
  if (!contactID) return [];
  const r = await get(`/contacts/${contactID}/broadcasts`);
  return r.broadcasts || [];
}

// receivedList lists broadcasts, each linking to its detail.
export function receivedList(list) {
  if (!list.length) return h('p.muted.small.bc-received-empty', { text: 'No broadcasts received' });
  return h('ul.bc-received', { 'aria-label': 'Broadcasts received' }, ...list.map((b) => h('li.bc-received-item', { dataset: { id: b.broadcast_id, status: b.status } },
    h('a', { href: `#broadcasts/${b.broadcast_id}`, text: b.name || 'Broadcast' }),
    h('span.bc-status', { dataset: { status: b.status }, text: STATUS[b.status] || b.status || '' }),
    h('time.muted.small', { datetime: b.sent_at || '', text: when(b.sent_at) }),
    b.error_reason ? h('span.muted.small', { text: ` ${b.error_reason}` }) : null)));
}

// subscriptionText says what an opt-out activity entry did
// ({type: unsubscribed|resubscribed, change: {to: what the contact
// wrote}}); '' for another entry.
export function subscriptionText(a) {
  if (a.type !== 'unsubscribed' && a.type !== 'resubscribed') return '';
  const said = a.change && a.change.to ? ` (wrote “${a.change.to}”)` : '';
  return a.type === 'unsubscribed' ? `Unsubscribed from broadcasts${said}` : `Subscribed to broadcasts again${said}`;
}
