// Canned replies: the workspace's saved replies (GET /canned-replies),
// and the filling of their variables. expand is a pure function: the
// composer applies it when a reply is inserted, so the person sees the
// final text before sending.
import { get } from './api.js';

// VARIABLES are the variables a canned reply's body may hold, with what
// each becomes.
export const VARIABLES = [
  ['contact.name', "the contact's name"],
  ['contact.first_name', "the first word of the contact's name"],
  ['contact.email', "the contact's email address"],
  ['contact.phone', "the contact's phone number"],
  ['agent.name', 'your name'],
  ['agent.first_name', 'the first word of your name'],
  ['workspace.name', "the workspace's name"],
];

const known = new Set(VARIABLES.map(([v]) => v));
const firstWord = (s) => String(s || '').trim().split(/\s+/)[0] || '';

// varsOf gathers the values of the variables: contact is the contact's
// profile ({name, email, phone}), agent the signed-in user ({name}),
// workspace the workspace ({name}); any of them may be missing.
export function varsOf({ contact, agent, workspace } = {}) {
  const c = contact || {}, a = agent || {}, w = workspace || {};
  return {
    'contact.name': c.name || '', 'contact.first_name': firstWord(c.name), 'contact.email': c.email || '', 'contact.phone': c.phone || '',
    'agent.name': a.name || '', 'agent.first_name': firstWord(a.name), 'workspace.name': w.name || '',
  };
}

// expand fills the variables of body ({{contact.first_name}}, spaces
// inside the braces allowed) from vars (varsOf): a known variable with
// no value becomes empty; an unknown one stays as written, so the person
// notices it before sending.
export function expand(body, vars) {
  return String(body || '').replace(/\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}/g, (m, name) => (known.has(name) ? String(vars[name] ?? '') : m));
}

let cache = null; // {at, list}

// list returns the workspace's canned replies, by short code; fresh
// unless fetched in the last 30 seconds.
export async function list(fresh = false) {
  if (!fresh && cache && Date.now() - cache.at < 30000) return cache.list;
  const r = await get('/canned-replies');
  cache = { at: Date.now(), list: r.canned_replies || [] };
  return cache.list;
}

// invalidate drops the cached list (Settings changed it).
export function invalidate() { cache = null; }

// matching returns the replies whose short code starts with q, then
// those whose short code or title contains it (case aside).
export function matching(replies, q) {
  q = String(q || '').toLowerCase();
  const starts = replies.filter((r) => r.short_code.startsWith(q));
  const rest = replies.filter((r) => !r.short_code.startsWith(q) && (r.short_code.includes(q) || r.title.toLowerCase().includes(q)));
  return [...starts, ...rest];
}
