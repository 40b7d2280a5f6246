// Settings › Knowledge base: what the AI agent answers from
// (/assistants/{assistant}/knowledge; with several assistants an
// Assistant menu picks whose base is shown, the default one first). Entries are FAQ pairs, pasted texts,
// uploaded documents (PDF, Markdown, HTML, plain text: the original stays
// downloadable) and the team's corrections of AI replies. Owners and
// admins add, edit, delete and upload; the tester asks "what would the
// assistant answer?" and shows the passages it would be given with the
// agent's reply. Agents see the list, as the API allows.
import { registerSection, field } from './settings.js';
import { auth } from './api.js';
import { h, toast, confirmDialog, formatSize } from './util.js';
import { assistants, loadAssistants } from './assistants.js';

// current is the assistant whose base the section shows.
let current = 'default';
const base = () => `/assistants/${encodeURIComponent(current)}/knowledge`;
const manages = (me) => me.role === 'owner' || me.role === 'admin';
const KINDS = { faq: 'FAQ', text: 'Text', document: 'Document', correction: 'Correction' };

registerSection({
  id: 'knowledge', title: 'Knowledge base', order: 110,
  render: (box, ctx) => render(box, ctx),
});

async function render(box, ctx) {
  box.replaceChildren();
  const list = h('div.settings-card#kn-entries');
  box.append(h('p.muted', {
    text: 'What the AI agent answers from. With every customer message the agent receives the best-matching passages; '
      + 'the built-in agent answers an FAQ that matches the question well, with no AI service. Corrections of AI replies land here too.',
  }));
  await loadAssistants();
  const all = assistants();
  if (!all.some((a) => a.id === current)) current = 'default';
  if (all.length > 1) {
    const pick = h('select#kn-assistant', { onchange: () => { current = pick.value; render(box, ctx); } },
      ...all.map((a) => h('option', { value: a.id, text: a.name, selected: a.id === current })));
    box.append(h('div.settings-card', null, field('Assistant', pick, 'Each assistant answers from its own knowledge base')));
  }
  if (manages(ctx.me)) box.append(tester(ctx), entryForm(ctx, null, () => load(ctx, list)), uploadForm(ctx, () => load(ctx, list)), await embeddingsForm(ctx));
  box.append(list);
  await load(ctx, list);
}

async function load(ctx, list) {
  const r = await ctx.api.get(base());
  const entries = r.entries || [];
  const admin = manages(ctx.me);
  const rows = entries.map((e) => h('tr.kn-entry', { dataset: { id: e.id, kind: e.kind } },
    h('td.kn-kind', null, h('span.kn-badge', { text: KINDS[e.kind] || e.kind })),
    h('td', null, h('strong.kn-title', { text: e.title }),
      e.kind === 'faq' || e.kind === 'correction' ? h('p.kn-answer.muted.small', { text: e.answer }) : null,
      e.document ? h('p.muted.small', { text: `${e.document.filename} · ${formatSize(e.document.size)}` }) : null),
    h('td.kn-passages', { text: String(e.passages) }),
    h('td.row-actions', null,
      e.document ? h('button.ghost.small', { type: 'button', dataset: { act: 'download' }, text: 'Download', 'aria-label': `Download ${e.document.filename}`, onclick: () => download(e) }) : null,
      admin ? h('button.ghost.small', { type: 'button', dataset: { act: 'edit' }, text: 'Edit', 'aria-label': `Edit ${e.title}`, onclick: (ev) => edit(ctx, e, ev.target.closest('tr'), list) }) : null,
      admin ? h('button.ghost.small.danger-text', { type: 'button', dataset: { act: 'delete' }, text: 'Delete', 'aria-label': `Delete ${e.title}`, onclick: () => remove(ctx, e, list) }) : null)));
  list.replaceChildren(h('h3', { text: `Entries (${entries.length})` }),
    h('p.muted.small', { text: `${r.passages} passages indexed` }),
    entries.length ? h('div.table-wrap', null, h('table.settings-table', null,
      h('thead', null, h('tr', null, h('th', { text: 'Kind' }), h('th', { text: 'Entry' }), h('th', { text: 'Passages' }), h('th', null, h('span.sr-only', { text: 'Actions' })))),
      h('tbody', null, ...rows)))
      : h('p.muted', { text: admin ? 'None yet: add an FAQ, paste a text or upload a document above.' : 'None yet: an owner or admin adds them here.' }));
}

// entryForm adds an FAQ or a text (e null) or edits e; done runs after a
// save, cancel (an edit's) puts the list back.
function entryForm(ctx, e, done, cancel) {
  const sfx = e ? `-${e.id}` : '';
  const kind = h(`select#kn-kind${sfx}`, { disabled: !!e }, h('option', { value: 'faq', text: 'FAQ (question and answer)' }), h('option', { value: 'text', text: 'Text' }));
  kind.value = e ? (e.kind === 'correction' ? 'faq' : e.kind === 'document' ? 'text' : e.kind) : 'faq';
  const question = h(`input#kn-question${sfx}`, { type: 'text', maxlength: '1000', autocomplete: 'off', value: e ? e.question || '' : '' });
  const answer = h(`textarea#kn-answer${sfx}`, { rows: 3 });
  answer.value = e ? e.answer || '' : '';
  const title = h(`input#kn-title${sfx}`, { type: 'text', maxlength: '200', autocomplete: 'off', value: e ? e.title : '' });
  const text = h(`textarea#kn-text${sfx}`, { rows: 6 });
  text.value = e ? e.text || '' : '';
  const faqFields = [field('Question', question), field('Answer', answer)];
  const textFields = [field('Title', title), field('Text', text, 'Cut into passages at paragraphs')];
  const isDoc = e && e.kind === 'document';
  const show = () => {
    const faq = kind.value === 'faq';
    faqFields.forEach((f) => { f.hidden = !faq; });
    textFields[0].hidden = faq;
    textFields[1].hidden = faq || isDoc;
  };
  kind.addEventListener('change', show);
  show();
  const status = h('p.error.kn-form-error', { role: 'alert' });
  const form = h('form.settings-card.settings-form.kn-form', { 'aria-label': e ? `Edit ${e.title}` : 'New knowledge entry', novalidate: true },
    h('h3', { text: e ? `Edit ${e.title}` : 'New entry' }),
    field('Kind', kind), ...faqFields, ...textFields,
    h('div.canned-actions', null,
      h('button.primary', { type: 'submit', text: e ? 'Save' : 'Add entry' }),
      cancel ? h('button.ghost', { type: 'button', text: 'Cancel', onclick: cancel }) : null),
    status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.textContent = '';
    const faq = kind.value === 'faq';
    const payload = faq ? { question: question.value, answer: answer.value } : (isDoc ? { title: title.value } : { title: title.value, text: text.value });
    try {
      if (e) await ctx.api.api('PATCH', `${base()}/${e.id}`, payload);
      else await ctx.api.post(base(), { kind: kind.value, ...payload });
      if (!e) { question.value = ''; answer.value = ''; title.value = ''; text.value = ''; }
      toast(e ? 'Entry saved' : 'Entry added');
      await done();
    } catch (err) { status.textContent = err.message; }
  });
  return form;
}

function uploadForm(ctx, done) {
  const file = h('input#kn-file', { type: 'file', accept: '.pdf,.md,.markdown,.html,.htm,.txt,application/pdf,text/markdown,text/html,text/plain' });
  const title = h('input#kn-doc-title', { type: 'text', maxlength: '200', autocomplete: 'off' });
  const status = h('p.error.kn-upload-error', { role: 'alert' });
  const form = h('form.settings-card.settings-form.kn-upload', { 'aria-label': 'Upload a document', novalidate: true },
    h('h3', { text: 'Upload a document' }),
    field('File', file, 'PDF, Markdown, HTML or plain text; the original stays downloadable'),
    field('Title', title, 'Optional: the file name without its extension by default'),
    h('div.canned-actions', null, h('button.primary', { type: 'submit', text: 'Upload' })), status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.textContent = '';
    if (!file.files.length) { status.textContent = 'Choose a file first'; return; }
    const fd = new FormData();
    fd.append('file', file.files[0]);
    if (title.value.trim()) fd.append('title', title.value.trim());
    try {
      const e = await ctx.api.api('POST', `${base()}/documents`, fd);
      file.value = ''; title.value = '';
      toast(`Document added: ${e.passages} passages`);
      await done();
    } catch (err) { status.textContent = err.message; }
  });
  return form;
}

// embeddingsForm sets the assistant's optional OpenAI-compatible
// embeddings endpoint and shows how many passages are embedded (the
// embedding runs in the background: Refresh reads the progress again).
async function embeddingsForm(ctx) {
  const st = await ctx.api.get(`${base()}/embeddings`);
  const on = h('input#kn-emb-enabled', { type: 'checkbox', checked: st.enabled });
  const url = h('input#kn-emb-url', { type: 'url', autocomplete: 'off', placeholder: 'https://api.openai.com/v1', value: st.base_url || '' });
  const model = h('input#kn-emb-model', { type: 'text', autocomplete: 'off', placeholder: 'text-embedding-3-small', value: st.model || '' });
  const key = h('input#kn-emb-key', { type: 'password', autocomplete: 'off', placeholder: st.api_key_set ? 'Saved: leave empty to keep it' : 'Optional' });
  const progress = h('p.small.kn-emb-progress', { role: 'status' });
  const status = h('p.error.kn-emb-error', { role: 'alert' });
  const show = (v) => {
    progress.textContent = v.enabled ? `Embedded ${v.embedded} of ${v.passages} passages` + (v.last_error ? ` · last error: ${v.last_error}` : '')
      : 'Off: passages are ranked by BM25 alone';
    key.placeholder = v.api_key_set ? 'Saved: leave empty to keep it' : 'Optional';
  };
  show(st);
  const form = h('form.settings-card.settings-form.kn-embeddings', { 'aria-label': 'Embeddings', novalidate: true },
    h('h3', { text: 'Embeddings' }),
    h('p.muted.small', { text: 'Optional: an OpenAI-compatible embeddings endpoint finds passages by meaning, not only by their words. '
      + 'Ranking then combines both (reciprocal rank fusion); if the endpoint fails, words alone.' }),
    h('label.ai-check', { for: 'kn-emb-enabled' }, on, h('span', { text: 'Rank with embeddings too' })),
    field('Base URL', url), field('Model', model), field('API key', key, 'Sent as a bearer token, never shown again'),
    progress,
    h('div.canned-actions', null, h('button.primary', { type: 'submit', text: 'Save embeddings' }),
      h('button.ghost', { type: 'button', text: 'Refresh progress', onclick: async () => show(await ctx.api.get(`${base()}/embeddings`)) })),
    status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.textContent = '';
    const body = { enabled: on.checked, base_url: url.value.trim(), model: model.value.trim() };
    if (key.value) body.api_key = key.value;
    try {
      show(await ctx.api.api('PUT', `${base()}/embeddings`, body));
      key.value = '';
      toast('Embeddings saved');
    } catch (err) { status.textContent = err.message; }
  });
  return form;
}

// tester asks what the assistant would answer, and shows the passages
// the agent would be given, best first, beside its reply.
function tester(ctx) {
  const query = h('input#kn-query', { type: 'text', maxlength: '2000', autocomplete: 'off', placeholder: 'How long does shipping take?' });
  const out = h('div#kn-results', { 'aria-live': 'polite' });
  const form = h('form.settings-card.settings-form.kn-tester', { 'aria-label': 'What would the assistant answer?', novalidate: true },
    h('h3', { text: 'What would the assistant answer?' }),
    field('Customer message', query),
    h('div.canned-actions', null, h('button.primary', { type: 'submit', text: 'Test' })), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!query.value.trim()) return;
    out.replaceChildren(h('p.muted', { text: 'Asking…' }));
    try {
      const r = await ctx.api.post(`${base()}/search`, { query: query.value, answer: true });
      out.replaceChildren(answerView(r.answer), passagesView(r.passages, r.took_ms));
    } catch (err) { out.replaceChildren(h('p.error', { role: 'alert', text: err.message })); }
  });
  return form;
}

function answerView(a) {
  if (!a) return null;
  let text = a.reply;
  if (a.outcome === 'handoff') text = `Hands the conversation to a person: ${a.handoff}`;
  if (a.outcome === 'off') text = a.reasoning;
  return h('div.kn-answer-box', { dataset: { outcome: a.outcome } },
    h('p.kn-answer-label.small', { text: 'The assistant would answer' }),
    h('p.kn-reply', { text: text || '—' }),
    a.reasoning && a.outcome !== 'off' ? h('p.muted.small.kn-reasoning', { text: a.reasoning }) : null);
}

function passagesView(ps, took) {
  if (!ps.length) return h('p.muted.kn-none', { text: 'No passage of the knowledge base matches this message.' });
  return h('div', null,
    h('p.small.muted', { text: `Passages the agent receives, best first (${took.toFixed(1)} ms):` }),
    h('ol.kn-results-list', null, ...ps.map((p) => h('li.kn-passage', { dataset: { entry: p.entry_id } },
      h('div.kn-passage-head', null, h('span.kn-badge', { text: KINDS[p.kind] || p.kind }), h('strong', { text: p.title }),
        h('span.muted.small.kn-match', { text: `${Math.round(p.match * 100)}% of the question · score ${p.score.toFixed(2)}`
          + (p.similarity ? ` · similarity ${p.similarity.toFixed(2)}` : '') })),
      h('p.kn-passage-text.small', { text: p.text.length > 400 ? p.text.slice(0, 400) + '…' : p.text })))));
}

function edit(ctx, e, tr, list) {
  const form = entryForm(ctx, e, () => load(ctx, list), () => load(ctx, list));
  tr.replaceChildren(h('td', { colspan: '4' }, form));
  form.querySelector('input:not([hidden]), textarea').focus();
}

async function remove(ctx, e, list) {
  if (!await confirmDialog(`Delete ${e.title}? The agent stops receiving it at once.`, 'Delete', true)) return;
  try {
    await ctx.api.api('DELETE', `${base()}/${e.id}`);
    toast('Entry deleted');
  } catch (err) { toast(err.message); }
  await load(ctx, list);
}

// download fetches a document's original with the token and saves it.
async function download(e) {
  const res = await fetch(`/api/v1${base()}/${e.id}/original`, { headers: { Authorization: `Bearer ${auth.token}` } });
  if (!res.ok) { toast('The file could not be downloaded'); return; }
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: e.document.filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
