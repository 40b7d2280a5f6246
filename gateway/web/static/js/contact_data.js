// A contact's data on its page (contact_page.js): download everything
// Parley holds about the contact (GET /contacts/{id}/export, a ZIP),
// and, for owners and admins, the legal hold (PUT and DELETE
// /contacts/{id}/legal-hold: exempt from retention and erasure) and the
// erasure (POST /contacts/{id}/erase, confirmed by typing the word
// ERASE; the body repeats the contact's id).
import { api, get, auth } from './api.js';
import { h, modal, toast } from './util.js';

const fmtDate = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium' });

// exported keeps the last export's report per contact, so that a
// re-render of the page (a live update) keeps showing it.
const exported = new Map();

function report(id, status, text, size) {
  exported.set(id, { text, size });
  status.textContent = text;
  if (size !== undefined) status.dataset.size = String(size);
  else delete status.dataset.size;
}

// exportZIP downloads the contact's export.
async function exportZIP(id, btn, status) {
  btn.disabled = true;
  report(id, status, 'Preparing the export…');
  try {
    const r = await fetch(`/api/v1/contacts/${encodeURIComponent(id)}/export`, { headers: { Authorization: `Bearer ${auth.token}` } });
    if (!r.ok) {
      let msg = `${r.status} ${r.statusText}`;
      try { msg = (await r.json()).error.message; } catch { /* not JSON */ }
      throw new Error(msg);
    }
    const blob = await r.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `contact-${id}.zip`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    report(id, status, 'Export downloaded.', blob.size);
  } catch (err) {
    report(id, status, `No export: ${err.message}`);
  }
  btn.disabled = false;
}

// dataCard is the "Data and privacy" card of contact c. admin says
// whether the user may hold and erase; onErased runs after an erasure.
export function dataCard(c, admin, onErased) {
  const status = h('p#ct-data-status.muted.small', { role: 'status' });
  const last = exported.get(c.id);
  if (last) report(c.id, status, last.text, last.size);
  const exp = h('button#ct-data-export.ghost.small', { type: 'button', text: 'Export data (ZIP)' });
  exp.addEventListener('click', () => exportZIP(c.id, exp, status));
  const kids = [h('p.muted.small', { text: 'Everything held about this contact: profile, conversations, notes, memories and files.' }), exp];
  if (admin) {
    const hold = h('p#ct-hold-state.small');
    const holdBtn = h('button#ct-hold.ghost.small', { type: 'button' });
    const erase = h('button#ct-erase.ghost.small.danger', { type: 'button', text: 'Erase contact…' });
    let held = false;
    const show = (v) => {
      held = v.held;
      hold.textContent = v.held
        ? `On legal hold since ${fmtDate.format(new Date(v.hold.set_at))}${v.hold.reason ? `: ${v.hold.reason}` : ''}. Retention and erasure skip it.`
        : 'Not on legal hold.';
      holdBtn.textContent = v.held ? 'Release legal hold' : 'Put on legal hold';
      erase.disabled = v.held;
      erase.title = v.held ? 'Release the legal hold first' : '';
    };
    get(`/contacts/${c.id}/legal-hold`).then(show).catch((err) => { hold.textContent = err.message; });
    holdBtn.addEventListener('click', async () => {
      holdBtn.disabled = true;
      try {
        if (held) {
          await api('DELETE', `/contacts/${c.id}/legal-hold`);
          show({ held: false });
        } else {
          const reason = h('input#ct-hold-reason', { type: 'text', maxlength: '1000', 'aria-label': 'Reason for the hold', placeholder: 'Reason (optional)' });
          const body = h('div', null, h('p', { text: 'Keep everything of this contact from retention and erasure until the hold is released?' }), reason);
          setTimeout(() => reason.focus(), 0);
          if (await modal(body, 'Put on hold')) show(await api('PUT', `/contacts/${c.id}/legal-hold`, { reason: reason.value }));
        }
      } catch (err) { toast(err.message); }
      holdBtn.disabled = false;
    });
    erase.addEventListener('click', async () => {
      const typed = h('input#ct-erase-confirm', { type: 'text', autocomplete: 'off', 'aria-label': 'Type ERASE to confirm' });
      const body = h('div', null,
        h('p', { text: 'Erase this contact for good? Its conversations, messages, files, notes and memories are deleted and cannot be recovered. Analytics counts stay.' }),
        h('label', { for: 'ct-erase-confirm', text: 'Type ERASE to confirm' }), typed);
      setTimeout(() => typed.focus(), 0);
      if (!(await modal(body, 'Erase', true))) return;
      if (typed.value.trim() !== 'ERASE') { toast('Not erased: type ERASE to confirm'); return; }
      erase.disabled = true;
      try {
        const r = await api('POST', `/contacts/${c.id}/erase`, { confirm: c.id });
        toast(`Contact erased: ${r.conversations} conversations, ${r.messages} messages, ${r.files} files`);
        onErased();
      } catch (err) {
        toast(err.message);
        erase.disabled = false;
      }
    });
    kids.push(hold, holdBtn, erase);
  }
  kids.push(status);
  return h('section.ct-card#ct-data', { 'aria-labelledby': 'ct-data-h' }, h('h3#ct-data-h', { text: 'Data and privacy' }), ...kids);
}
