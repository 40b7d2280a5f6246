// The contact panel's data layer, in one place: the contacts API
// (profile, notes, files, activity) with a fallback to what the
// conversation and its loaded messages say when the server has no
// contacts API.
import { api, get, ApiError } from './api.js';
import { aiWriteText } from './fields.js';

const notFound = (e) => e instanceof ApiError && (e.status === 404 || e.status === 405);

// loadContact returns {available, contact, profile, conversations, notes,
// files, activity} for a conversation's contact.
export async function loadContact(conv, messages = []) {
  const fallback = {
    available: false,
    contact: { id: conv.contact_id },
    profile: { name: conv.contact_name || '' },
    conversations: [],
    notes: [],
    files: messages.filter((m) => m.media && !m.temp).map((m) => ({ ...m.media, kind: m.kind, created_at: m.created_at })),
    activity: messages.filter((m) => m.kind === 'system').map((m) => ({ text: m.text, at: m.created_at })),
  };
  if (!conv.contact_id) return fallback;
  try {
    const r = await get(`/contacts/${conv.contact_id}`);
    const c = r.contact || r;
    let notes = r.notes;
    if (!notes) {
      try { notes = (await get(`/contacts/${conv.contact_id}/notes`)).notes; } catch { notes = []; }
    }
    return {
      available: true,
      contact: c,
      profile: c.profile || {},
      conversations: r.conversations || [],
      notes: notes || [],
      files: r.files || fallback.files,
      activity: (r.activity || fallback.activity).map((a) => ({
        text: a.type === 'contact.ai_updated' ? aiWriteText(a.ai_write) : a.text || a.summary || a.type || '', at: a.at || a.created_at, raw: a,
      })),
    };
  } catch (e) {
    if (notFound(e)) return fallback; // no contacts API on this server
    throw e;
  }
}

// saveProfile changes profile fields: name, email, phone, company, title,
// country, language, avatar.
export function saveProfile(contactID, fields) {
  return api('PATCH', `/contacts/${contactID}`, fields);
}

// addNote posts a note; @name mentions are resolved by the server. A note
// written in a conversation goes to its route, which names the
// conversation in the note (the contact route takes only the text).
export function addNote(contactID, conversationID, text) {
  if (conversationID) return api('POST', `/conversations/${conversationID}/notes`, { text });
  return api('POST', `/contacts/${contactID}/notes`, { text });
}

export const profileFields = [
  ['name', 'Name'], ['email', 'Email'], ['phone', 'Phone'], ['company', 'Company'],
  ['title', 'Title'], ['country', 'Country'], ['language', 'Language'],
];
