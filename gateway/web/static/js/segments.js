// The workspace's segments (saved filters over contacts, GET /segments),
// read once and again after a minute or when Settings › Segments saves,
// for the segment filters of the inbox, the Contacts list and the
// Pipeline board.
import { get } from './api.js';
import { h } from './util.js';

let cache = null; // {at, segments: Promise}
const TTL = 60000;

// segments resolves to the workspace's segments, oldest first.
export function segments() {
  if (!cache || Date.now() - cache.at > TTL) {
    const p = get('/segments').then((r) => r.segments || []);
    cache = { at: Date.now(), segments: p };
    p.catch(() => { cache = null; });
  }
  return cache.segments;
}

// invalidate forgets the segments read (they changed).
export function invalidate() { cache = null; }

// segmentOptions are the options of a segment select: first (the "any"
// option), then one per segment, selected the one whose id is sel.
export function segmentOptions(list, sel, first) {
  return [first, ...list.map((s) => h('option', { value: s.id, text: s.name, selected: s.id === sel }))];
}
