// The REST client: bearer token from localStorage, JSON in and out, and
// {"error":{"code","message"}} turned into an ApiError.
const TOKEN_KEY = 'parley.token';

export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    // fields are an invalid_fields error's {field, message} list.
    this.fields = fields || [];
  }
}

let onUnauthorized = () => {};

export const auth = {
  get token() { return localStorage.getItem(TOKEN_KEY) || ''; },
  set token(v) {
    if (v) localStorage.setItem(TOKEN_KEY, v);
    else localStorage.removeItem(TOKEN_KEY);
  },
  onUnauthorized(f) { onUnauthorized = f; },
};

// api calls path under /api/v1 and returns the decoded JSON (null for 204).
export async function api(method, path, body, { signal } = {}) {
  const headers = {};
  const token = auth.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(`/api/v1${path}`, { method, headers, body: payload, signal });
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* empty or not JSON */ }
  if (!res.ok) {
    const e = data && data.error ? data.error : {};
    // Only the session in force ends on a 401: the answer to a request of
    // a session since signed out (and perhaps another signed in) is late.
    // Without a token there is no session to end (an invitation's wrong
    // password is a 401 too).
    if (res.status === 401 && token && !path.startsWith('/auth/login') && token === auth.token) onUnauthorized();
    throw new ApiError(res.status, e.code, e.message, e.fields);
  }
  return data;
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b) => api('POST', p, b === undefined ? {} : b);

const mediaCache = new Map();

// mediaURL fetches a stored media file with the token and returns a blob
// URL for it (an <img> cannot send the Authorization header).
export function mediaURL(media) {
  const id = media.sha256 || (media.storage_key || '').split('/').pop();
  if (!id) return Promise.reject(new Error('media not stored yet'));
  if (!mediaCache.has(id)) {
    const p = fetch(`/api/v1/media/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${auth.token}` } })
      .then((r) => {
        if (!r.ok) throw new ApiError(r.status, 'media', 'media unavailable');
        return r.blob();
      })
      .then((b) => URL.createObjectURL(b));
    p.catch(() => mediaCache.delete(id));
    mediaCache.set(id, p);
  }
  return mediaCache.get(id);
}
