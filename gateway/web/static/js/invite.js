// The invitation page: a teammate opens the link an admin copied from
// Settings → Team (#invite/<code>: after the #, so the code never reaches
// a server log or a Referer), chooses a name and a password, and is
// signed in.
import { api, auth } from './api.js';
import { h } from './util.js';

// acceptInvite shows the invitation page when the address is an
// invitation link and returns true; signedIn(token) runs once accepted.
export function acceptInvite(signedIn) {
  const m = /^#invite\/([\w%-]+)$/.exec(location.hash);
  if (!m) return false;
  const code = decodeURIComponent(m[1]);
  const name = h('input#invite-name', { name: 'name', autocomplete: 'name', required: true });
  const pass = h('input#invite-pass', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const pass2 = h('input#invite-pass2', { type: 'password', autocomplete: 'new-password', required: true });
  const err = h('p.error#invite-error', { role: 'alert' });
  const submit = h('button.primary#invite-accept', { type: 'submit', text: 'Join the workspace' });
  const form = h('form.login-card#invite-form-accept', { 'aria-label': 'Accept the invitation' },
    h('h1', { text: 'Parley' }), h('p.muted', { text: 'You are invited to a Parley inbox. Choose your name and a password; if your email already signs in to another Parley workspace here, enter that password.' }),
    h('label', null, 'Your name', name), h('label', null, 'Password (8 characters or more)', pass),
    h('label', null, 'Password again', pass2), err, submit,
    h('a.link.small', { href: '/', text: 'I already have an account: sign in' }));
  const page = h('div.login#invite-page', { role: 'main' }, form);
  document.getElementById('login').hidden = true;
  document.body.append(page);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (pass.value !== pass2.value) { err.textContent = 'The passwords differ'; return; }
    submit.disabled = true;
    try {
      const r = await api('POST', '/auth/accept-invite', { code, name: name.value, password: pass.value });
      auth.token = r.token;
      history.replaceState(null, '', location.pathname + location.search);
      page.remove();
      await signedIn();
    } catch (ex) {
      err.textContent = ex.code === 'invalid_invitation' ? 'This invitation was used, has expired or does not exist: ask for a new one.'
        : ex.code === 'email_taken' ? 'An account with this email already exists: sign in instead.'
        : ex.code === 'invalid_credentials' ? 'This email already has a Parley account: enter its password to join.' : ex.message;
    } finally { submit.disabled = false; }
  });
  name.focus();
  return true;
}
