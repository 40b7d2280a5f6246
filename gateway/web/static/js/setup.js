// First run and password reset: the one-time links #setup/<code> (printed
// at the server's first start: the owner chooses a name, an email and a
// password) and #reset/<code> (made by an owner or admin: the user
// chooses a new password). Either signs the user in.
import { api, auth } from './api.js';
import { h, $ } from './util.js';

const pages = {
  setup: {
    title: 'Set up Parley',
    intro: 'Choose the name, email and password you will sign in with. This link works once.',
    path: '/auth/setup',
    fields: [
      ['name', 'Your name', 'text', 'name'],
      ['email', 'Email', 'email', 'username'],
      ['password', 'Password (8 characters or more)', 'password', 'new-password'],
    ],
    submit: 'Save and sign in',
  },
  reset: {
    title: 'Choose a new password',
    intro: 'Your administrator sent you this link. It works once.',
    path: '/auth/reset-password',
    fields: [['password', 'New password (8 characters or more)', 'password', 'new-password']],
    submit: 'Save and sign in',
  },
};

// route shows the setup or reset page when the address is one of their
// links, and returns whether it did;
// signedIn is called once the user is signed in (a link opened later,
// in a tab already open, is followed too).
export function route(signedIn) {
  onSignedIn = signedIn;
  const m = /^#(setup|reset)\/([\w-]+)$/.exec(location.hash);
  if (!m) return false;
  $('#setup')?.remove();
  show(m[1], m[2], signedIn);
  return true;
}

let onSignedIn = null;
window.addEventListener('hashchange', () => { if (onSignedIn) route(onSignedIn); });

function show(kind, code, signedIn) {
  const page = pages[kind];
  $('#login').hidden = true;
  $('#app').hidden = true;
  const inputs = {};
  const error = h('p#setup-error.error', { role: 'alert' });
  const submit = h('button#setup-submit.primary', { type: 'submit', text: page.submit });
  const form = h('form#setup-form.login-card', { autocomplete: 'on' },
    h('h1', { text: 'Parley' }),
    h('h2.setup-title', { text: page.title }),
    h('p.muted', { text: page.intro }),
    ...page.fields.map(([name, label, type, ac]) => {
      inputs[name] = h(`input#setup-${name}`, { name, type, autocomplete: ac, required: true, minlength: name === 'password' ? '8' : null });
      return h('label', null, label, inputs[name]);
    }),
    error, submit);
  const view = h('div#setup.login', { role: 'main' }, form);
  document.body.prepend(view);
  inputs[page.fields[0][0]].focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    const body = { code };
    for (const [name, el] of Object.entries(inputs)) body[name] = name === 'password' ? el.value : el.value.trim();
    try {
      const r = await api('POST', page.path, body);
      auth.token = r.token;
      // The code is spent: a reload must not show the form again.
      history.replaceState(null, '', location.pathname + location.search);
      view.remove();
      await signedIn();
    } catch (err) {
      error.textContent = err.code === 'invalid_link'
        ? 'This link was already used or has expired. Ask for a new one (or restart Parley for a new setup link).'
        : err.message;
    } finally {
      submit.disabled = false;
    }
  });
}
