// Settings → AI agent: the workspace's agent settings (GET/PUT
// /api/v1/agent; the API key is write-only: shown as set, replaced by
// typing a new one) and a test console (POST /api/v1/agent/test) that
// runs a sample conversation through the settings on screen, saved or
// not.
import { registerSection } from './settings.js';
import { h } from './util.js';

const kinds = [
  ['rules', 'Rules (built in)', 'Greets new conversations, answers keywords, hands the rest to a person. No AI service needed.'],
  ['openai', 'OpenAI-compatible', 'Any chat-completions server: OpenAI, Ollama, vLLM…'],
  ['webhook', 'Webhook', 'Parley posts the conversation to your URL and sends its reply.'],
  ['off', 'Off', 'No automatic replies: a person answers every conversation.'],
];

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

// field is a labelled control; hint, when given, describes it.
function field(label, control, hint) {
  const id = control.id;
  const kids = [h('label', { for: id, text: label }), control];
  if (hint) {
    control.setAttribute('aria-describedby', `${id}-hint`);
    kids.push(h('span.hint.muted.small', { id: `${id}-hint`, text: hint }));
  }
  return h('div.ai-field', null, ...kids);
}

function check(id, label, on) {
  return h('label.ai-check', { for: id }, h(`input#${id}`, { type: 'checkbox', checked: on }), h('span', { text: label }));
}

function answerRow(a = { keywords: [], answer: '' }, n) {
  const row = h('div.ai-answer', { role: 'group', 'aria-label': `Keyword answer ${n}` },
    h('input.ai-answer-keys', { type: 'text', value: a.keywords.join(', '), placeholder: 'hours, open', 'aria-label': `Keywords of answer ${n}` }),
    h('input.ai-answer-text', { type: 'text', value: a.answer, placeholder: 'We are open 9 to 5.', 'aria-label': `Answer ${n}` }),
    h('button.icon-btn.ai-remove', { type: 'button', 'aria-label': `Remove answer ${n}`, text: '×', onclick: () => row.remove() }));
  return row;
}

function lineRow(from = 'customer', text = '', n = 1) {
  const row = h('div.ai-line', { role: 'group', 'aria-label': `Line ${n}` },
    h('select.ai-line-from', { 'aria-label': `Who writes line ${n}` },
      h('option', { value: 'customer', text: 'Customer', selected: from === 'customer' }),
      h('option', { value: 'agent', text: 'Agent', selected: from === 'agent' })),
    h('input.ai-line-text', { type: 'text', value: text, placeholder: 'Type a message…', 'aria-label': `Text of line ${n}` }),
    h('button.icon-btn.ai-remove', { type: 'button', 'aria-label': `Remove line ${n}`, text: '×', onclick: () => row.remove() }));
  return row;
}

async function render(box, { api }) {
  const a = await api.get('/agent');
  const q = (sel) => box.querySelector(sel);
  const num = (id, v, min, max, step = 'any') => h(`input#${id}`, { type: 'number', value: String(v), min, max, step });
  const text = (id, v, ph = '') => h(`input#${id}`, { type: 'text', value: v || '', placeholder: ph });

  const kindGroup = h('fieldset.ai-kinds', null, h('legend', { text: 'Agent' }),
    ...kinds.map(([k, label, hint]) => h('label.ai-kind', { for: `ai-kind-${k}` },
      h(`input#ai-kind-${k}`, { type: 'radio', name: 'ai-kind', value: k, checked: a.kind === k }),
      h('span', null, h('strong', { text: label }), h('span.muted.small', { text: hint })))));

  const key = h('input#ai-api-key', { type: 'password', autocomplete: 'off',
    placeholder: a.has_api_key ? 'Set. Type a new one to replace it' : 'Not set' });
  const keyState = h('span#ai-api-key-state.badge-soft', { text: a.has_api_key ? 'set' : 'not set' });
  const service = h('fieldset.ai-group', { dataset: { for: 'openai webhook' } }, h('legend', { text: 'Service' }),
    h('div.ai-only', { dataset: { for: 'openai' } },
      field('Base URL', text('ai-base-url', a.base_url, 'https://api.openai.com/v1')),
      field('Model', text('ai-model', a.model, 'gpt-4o-mini')),
      field('Reply format', h('select#ai-reply-format', null,
        h('option', { value: 'tools', text: 'Tool calls', selected: a.reply_format === 'tools' }),
        h('option', { value: 'json', text: 'JSON (no tool calling)', selected: a.reply_format === 'json' })))),
    h('div.ai-only', { dataset: { for: 'webhook' } },
      field('Webhook URL', text('ai-webhook-url', a.webhook_url, 'https://example.com/parley'))),
    h('div.ai-field', null, h('label', { for: 'ai-api-key', text: 'API key (webhook: signing secret) ' }), h('div.ai-row', null, key, keyState)),
    field('Timeout (seconds)', num('ai-timeout', a.timeout_seconds, 0, 300)),
    field('Prompt', h('textarea#ai-prompt', { rows: 5, placeholder: 'You answer for Acme Shoes…' }, a.system_prompt || ''),
      'The business context the agent answers with.'));

  const answers = h('div#ai-answers.ai-answers', null, ...(a.answers || []).map((x, i) => answerRow(x, i + 1)));
  const rules = h('fieldset.ai-group', { dataset: { for: 'rules' } }, h('legend', { text: 'Rules' }),
    field('Greeting', text('ai-greeting', a.greeting), 'Sent to a new conversation. Empty: the default greeting.'),
    h('div.ai-field', null, h('span.label', { text: 'Keyword answers' }), answers,
      h('button#ai-add-answer.ghost.small', { type: 'button', text: 'Add answer',
        onclick: () => answers.append(answerRow(undefined, answers.children.length + 1)) })),
    field('Handoff reason when nothing matches', text('ai-fallback', a.fallback)));

  const behaviour = h('fieldset.ai-group', { dataset: { for: 'rules openai webhook' } }, h('legend', { text: 'Behaviour' }),
    field('Handoff keywords', text('ai-handoff-keywords', (a.handoff_keywords || []).join(', ')),
      'Comma-separated: a customer message with one goes to a person.'),
    field('Wait for more messages (ms)', num('ai-debounce', a.debounce_ms, 0, 60000, 1), '0: answer at once.'),
    check('ai-stays-manual', 'A handoff stays manual until a person resumes the AI', a.handoff_stays_manual),
    field('Follow up after (hours)', num('ai-followup-hours', a.auto_followup_hours, 0, 720), '0: no automatic follow-up.'),
    field('Follow-ups at most', num('ai-followup-max', a.auto_followup_max, 0, 10, 1)),
    field('Follow-up text (rules agent)', text('ai-followup-text', a.followup_text)),
    check('ai-csat', 'Send a satisfaction survey when a conversation is solved', a.auto_csat),
    field('Survey', text('ai-csat-survey', a.csat_survey)),
    check('ai-restricted', 'Answer only contacts in the CRM', a.restricted),
    field('Reply to others', text('ai-restricted-reply', a.restricted_reply), 'Empty: no reply.'));

  const status = h('p#ai-status.muted.small', { role: 'status' });
  const error = h('p#ai-error.error', { role: 'alert' });
  const form = h('form#ai-form.ai-form', { novalidate: true }, kindGroup, service, rules, behaviour,
    h('div.actions', null, h('button#ai-save.primary', { type: 'submit', text: 'Save' }), status), error);

  const lines = h('div#ai-lines.ai-lines', null, lineRow('customer', 'Hi, what are your opening hours?', 1));
  const result = h('div#ai-result.ai-result', { 'aria-live': 'polite' });
  const consoleBox = h('section.ai-console', { 'aria-labelledby': 'ai-console-title' },
    h('h2#ai-console-title', { text: 'Test console' }),
    h('p.muted.small', { text: 'Try the settings on this page (saved or not) on a sample conversation. Nothing is sent or stored.' }),
    lines,
    h('div.ai-row', null,
      h('button#ai-add-line.ghost.small', { type: 'button', text: 'Add line', onclick: () => {
        const last = lines.lastElementChild && lines.lastElementChild.querySelector('select').value;
        lines.append(lineRow(last === 'customer' ? 'agent' : 'customer', '', lines.children.length + 1));
      } }),
      h('button#ai-run.primary', { type: 'button', text: 'Run test' })),
    h('p#ai-test-error.error', { role: 'alert' }),
    result);
  box.append(h('div.ai-layout', null, form, consoleBox));

  const kind = () => q('input[name=ai-kind]:checked').value;
  const showKind = () => {
    const k = kind();
    for (const el of box.querySelectorAll('[data-for]')) el.hidden = !el.dataset.for.split(' ').includes(k);
  };
  box.addEventListener('change', (e) => { if (e.target.name === 'ai-kind') showKind(); });
  showKind();

  // settings are the form's fields as the API names them; the key only
  // when one was typed (it is never shown).
  const settings = () => {
    const n = (id) => Number(q(id).value || 0);
    const s = {
      kind: kind(), base_url: q('#ai-base-url').value.trim(), model: q('#ai-model').value.trim(),
      reply_format: q('#ai-reply-format').value, webhook_url: q('#ai-webhook-url').value.trim(),
      timeout_seconds: n('#ai-timeout'), system_prompt: q('#ai-prompt').value,
      greeting: q('#ai-greeting').value, fallback: q('#ai-fallback').value,
      answers: [...answers.children].map((r) => ({ keywords: list(r.querySelector('.ai-answer-keys').value), answer: r.querySelector('.ai-answer-text').value.trim() }))
        .filter((x) => x.keywords.length || x.answer),
      handoff_keywords: list(q('#ai-handoff-keywords').value), debounce_ms: n('#ai-debounce'),
      handoff_stays_manual: q('#ai-stays-manual').checked, auto_followup_hours: n('#ai-followup-hours'),
      auto_followup_max: n('#ai-followup-max'), followup_text: q('#ai-followup-text').value,
      auto_csat: q('#ai-csat').checked, csat_survey: q('#ai-csat-survey').value,
      restricted: q('#ai-restricted').checked, restricted_reply: q('#ai-restricted-reply').value,
    };
    if (key.value) s.api_key = key.value;
    return s;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    status.textContent = 'Saving…';
    q('#ai-save').disabled = true;
    try {
      const saved = await api.api('PUT', '/agent', settings());
      key.value = '';
      key.placeholder = saved.has_api_key ? 'Set. Type a new one to replace it' : 'Not set';
      keyState.textContent = saved.has_api_key ? 'set' : 'not set';
      status.textContent = 'Saved';
    } catch (err) {
      status.textContent = '';
      error.textContent = err.message;
    } finally {
      q('#ai-save').disabled = false;
    }
  });

  q('#ai-run').addEventListener('click', async () => {
    const msgs = [...lines.children].map((r) => ({ from: r.querySelector('select').value, text: r.querySelector('input').value.trim() }))
      .filter((m) => m.text);
    const err = q('#ai-test-error');
    err.textContent = '';
    result.replaceChildren(h('p.muted', { text: 'Asking the agent…' }));
    q('#ai-run').disabled = true;
    try {
      showResult(result, await api.post('/agent/test', { settings: settings(), messages: msgs }));
    } catch (e2) {
      result.replaceChildren();
      err.textContent = e2.message;
    } finally {
      q('#ai-run').disabled = false;
    }
  });
}

const outcomes = { reply: 'Reply', handoff: 'Handoff to a person', off: 'AI off' };
const handoffBy = { keyword: 'a handoff keyword', agent: 'the agent', error: 'an agent error' };

function showResult(box, r) {
  const row = (label, value, cls) => value ? h(`div.ai-result-row${cls ? '.' + cls : ''}`, null, h('dt', { text: label }), h('dd', { text: value })) : null;
  box.replaceChildren(...[
    h('p.ai-outcome', { dataset: { outcome: r.outcome } }, h('strong', { text: outcomes[r.outcome] || r.outcome }),
      h('span.muted.small', { text: ` · ${r.kind} agent${r.duration_ms ? ` · ${r.duration_ms} ms` : ''}` })),
    r.reply ? h('div#ai-reply.msg-bubble', { text: r.reply }) : null,
    h('dl.ai-result-list', null,
      row('Reasoning', r.reasoning, 'ai-reasoning'),
      row('Handoff', r.handoff ? `${r.handoff} (by ${handoffBy[r.handoff_by] || r.handoff_by})` : '', 'ai-handoff'),
      row('Error', r.error, 'ai-test-err'),
      row('Follow-up', r.follow_up_in_seconds ? `in ${Math.round(r.follow_up_in_seconds / 60)} min${r.follow_up_reason ? ': ' + r.follow_up_reason : ''}` : ''),
      row('Remembers', (r.remember || []).join('; ')))].filter(Boolean));
}

registerSection({ id: 'ai', title: 'AI agent', roles: ['owner', 'admin'], order: 40, render });
