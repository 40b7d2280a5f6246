// The AI agent form and its test console, shared by Settings → AI agent
// (the workspace's agent) and Settings → Channels (an account's own
// agent). agentForm(a, opts) builds them for the settings a (as GET
// /agent or GET /channels/{channel}/{account}/agent answer them; the API
// key is write-only: shown as set, replaced by typing a new one):
//
//	opts.prefix   the ids' prefix ('ai' → #ai-form, #ai-kind-rules, ...)
//	opts.save     async (settings) → saved settings (Save)
//	opts.test     async (settings, messages) → test result (Run test)
//	opts.before   nodes put first in the form (the account's choice of
//	              the workspace agent or its own)
//	opts.stripeURL the workspace's Stripe webhook URL: the form then has
//	              the Paid access group and its write-only signing secret
//	              (the workspace's form only)
//
// It returns { form, console, settingsBox, settings() }: settingsBox
// holds the settings' fieldsets (hide it to show none).
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

export function agentForm(a, { prefix = 'ai', save, test, before = [], stripeURL = '' }) {
  const p = (id) => `${prefix}-${id}`;
  const num = (id, v, min, max, step = 'any') => h(`input#${p(id)}`, { type: 'number', value: String(v ?? 0), min, max, step });
  const text = (id, v, ph = '') => h(`input#${p(id)}`, { type: 'text', value: v || '', placeholder: ph });

  const kindGroup = h('fieldset.ai-kinds', null, h('legend', { text: 'Agent' }),
    ...kinds.map(([k, label, hint]) => h('label.ai-kind', { for: p(`kind-${k}`) },
      h(`input#${p(`kind-${k}`)}`, { type: 'radio', name: p('kind'), value: k, checked: a.kind === k }),
      h('span', null, h('strong', { text: label }), h('span.muted.small', { text: hint })))));

  const key = h(`input#${p('api-key')}`, { type: 'password', autocomplete: 'off',
    placeholder: a.has_api_key ? 'Set. Type a new one to replace it' : 'Not set' });
  const keyState = h(`span#${p('api-key-state')}.badge-soft`, { text: a.has_api_key ? 'set' : 'not set' });
  const replyFormat = h(`select#${p('reply-format')}`, null,
    h('option', { value: 'tools', text: 'Tool calls', selected: a.reply_format === 'tools' }),
    h('option', { value: 'json', text: 'JSON (no tool calling)', selected: a.reply_format === 'json' }));
  const prompt = h(`textarea#${p('prompt')}`, { rows: 5, placeholder: 'You answer for Acme Shoes…' }, a.system_prompt || '');
  const service = h('fieldset.ai-group', { dataset: { for: 'openai webhook' } }, h('legend', { text: 'Service' }),
    h('div.ai-only', { dataset: { for: 'openai' } },
      field('Base URL', text('base-url', a.base_url, 'https://api.openai.com/v1')),
      field('Model', text('model', a.model, 'gpt-4o-mini')),
      field('Reply format', replyFormat)),
    h('div.ai-only', { dataset: { for: 'webhook' } },
      field('Webhook URL', text('webhook-url', a.webhook_url, 'https://example.com/parley'))),
    h('div.ai-field', null, h('label', { for: p('api-key'), text: 'API key (webhook: signing secret) ' }), h('div.ai-row', null, key, keyState)),
    field('Timeout (seconds)', num('timeout', a.timeout_seconds, 0, 300)),
    field('Prompt', prompt, 'The business context the agent answers with.'));

  const answers = h(`div#${p('answers')}.ai-answers`, null, ...(a.answers || []).map((x, i) => answerRow(x, i + 1)));
  const rules = h('fieldset.ai-group', { dataset: { for: 'rules' } }, h('legend', { text: 'Rules' }),
    field('Greeting', text('greeting', a.greeting), 'Sent to a new conversation. Empty: the default greeting.'),
    h('div.ai-field', null, h('span.label', { text: 'Keyword answers' }), answers,
      h(`button#${p('add-answer')}.ghost.small`, { type: 'button', text: 'Add answer',
        onclick: () => answers.append(answerRow(undefined, answers.children.length + 1)) })),
    field('Handoff reason when nothing matches', text('fallback', a.fallback)));

  const behaviour = h('fieldset.ai-group', { dataset: { for: 'rules openai webhook' } }, h('legend', { text: 'Behaviour' }),
    field('Handoff keywords', text('handoff-keywords', (a.handoff_keywords || []).join(', ')),
      'Comma-separated: a customer message with one goes to a person.'),
    field('Wait for more messages (ms)', num('debounce', a.debounce_ms, 0, 60000, 1), '0: answer at once.'),
    check(p('stays-manual'), 'A handoff stays manual until a person resumes the AI', a.handoff_stays_manual),
    field('Follow up after (hours)', num('followup-hours', a.auto_followup_hours, 0, 720), '0: no automatic follow-up.'),
    field('Follow-ups at most', num('followup-max', a.auto_followup_max, 0, 10, 1)),
    field('Follow-up text (rules agent)', text('followup-text', a.followup_text)),
    check(p('csat'), 'Send a satisfaction survey when a conversation is solved', a.auto_csat),
    field('Survey', text('csat-survey', a.csat_survey)),
    check(p('restricted'), 'Answer only some contacts', a.restricted),
    field('Who the AI answers', h(`select#${p('restricted-to')}`, null,
      h('option', { value: 'crm', text: 'Contacts in the CRM', selected: a.restricted_to !== 'paid' }),
      h('option', { value: 'paid', text: 'Paying subscribers', selected: a.restricted_to === 'paid' })),
    'Paying subscribers: contacts a Stripe checkout made subscribers.'),
    field('Reply to others', text('restricted-reply', a.restricted_reply),
      'Empty: no reply. {{contact.id}} becomes the contact\'s id: a payment link\'s ?client_reference_id={{contact.id}} names who pays.'));

  const secret = h(`input#${p('stripe-secret')}`, { type: 'password', autocomplete: 'off',
    placeholder: a.stripe_webhook_secret_set ? 'Set. Type a new one to replace it' : 'whsec_…' });
  const secretState = h(`span#${p('stripe-secret-state')}.badge-soft`, { text: a.stripe_webhook_secret_set ? 'set' : 'not set' });
  const paid = stripeURL ? h('fieldset.ai-group', { dataset: { for: 'rules openai webhook' } }, h('legend', { text: 'Paid access (Stripe)' }),
    h('p.muted.small', { text: 'In Stripe, add a webhook endpoint with this URL for the events checkout.session.completed and customer.subscription.deleted. A checkout makes its buyer a paying subscriber (pass the contact id as client_reference_id, or the buyer is matched by email or phone); a cancelled subscription ends it.' }),
    field('Endpoint URL', h(`input#${p('stripe-url')}`, { type: 'text', readOnly: true, value: stripeURL })),
    h('div.ai-field', null, h('label', { for: p('stripe-secret'), text: 'Signing secret ' }), h('div.ai-row', null, secret, secretState))) : null;

  const settingsBox = h('div.ai-settings', null, kindGroup, service, rules, behaviour, paid);
  const status = h(`p#${p('status')}.muted.small`, { role: 'status' });
  const error = h(`p#${p('error')}.error`, { role: 'alert' });
  const saveBtn = h(`button#${p('save')}.primary`, { type: 'submit', text: 'Save' });
  const form = h(`form#${p('form')}.ai-form`, { novalidate: true }, ...before, settingsBox,
    h('div.actions', null, saveBtn, status), error);
  const q = (id) => form.querySelector(`#${p(id)}`);

  const lines = h(`div#${p('lines')}.ai-lines`, null, lineRow('customer', 'Hi, what are your opening hours?', 1));
  const result = h(`div#${p('result')}.ai-result`, { 'aria-live': 'polite' });
  const runBtn = h(`button#${p('run')}.primary`, { type: 'button', text: 'Run test' });
  const testError = h(`p#${p('test-error')}.error`, { role: 'alert' });
  const consoleBox = h('section.ai-console', { 'aria-labelledby': p('console-title') },
    h(`h2#${p('console-title')}`, { text: 'Test console' }),
    h('p.muted.small', { text: 'Try the settings on this page (saved or not) on a sample conversation. Nothing is sent or stored.' }),
    lines,
    h('div.ai-row', null,
      h(`button#${p('add-line')}.ghost.small`, { type: 'button', text: 'Add line', onclick: () => {
        const last = lines.lastElementChild && lines.lastElementChild.querySelector('select').value;
        lines.append(lineRow(last === 'customer' ? 'agent' : 'customer', '', lines.children.length + 1));
      } }),
      runBtn),
    testError,
    result);

  const kind = () => (form.querySelector(`input[name=${p('kind')}]:checked`) || {}).value || 'rules';
  const showKind = () => {
    const k = kind();
    for (const el of settingsBox.querySelectorAll('[data-for]')) el.hidden = !el.dataset.for.split(' ').includes(k);
  };
  form.addEventListener('change', (e) => { if (e.target.name === p('kind')) showKind(); });
  showKind();

  // settings are the form's fields as the API names them; the key only
  // when one was typed (it is never shown).
  const settings = () => {
    const n = (id) => Number(q(id).value || 0);
    const s = {
      kind: kind(), base_url: q('base-url').value.trim(), model: q('model').value.trim(),
      reply_format: replyFormat.value, webhook_url: q('webhook-url').value.trim(),
      timeout_seconds: n('timeout'), system_prompt: prompt.value,
      greeting: q('greeting').value, fallback: q('fallback').value,
      answers: [...answers.children].map((r) => ({ keywords: list(r.querySelector('.ai-answer-keys').value), answer: r.querySelector('.ai-answer-text').value.trim() }))
        .filter((x) => x.keywords.length || x.answer),
      handoff_keywords: list(q('handoff-keywords').value), debounce_ms: n('debounce'),
      handoff_stays_manual: q('stays-manual').checked, auto_followup_hours: n('followup-hours'),
      auto_followup_max: n('followup-max'), followup_text: q('followup-text').value,
      auto_csat: q('csat').checked, csat_survey: q('csat-survey').value,
      restricted: q('restricted').checked, restricted_to: q('restricted-to').value, restricted_reply: q('restricted-reply').value,
    };
    if (key.value) s.api_key = key.value;
    if (paid && secret.value) s.stripe_webhook_secret = secret.value.trim();
    return s;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    status.textContent = 'Saving…';
    saveBtn.disabled = true;
    try {
      const saved = await save(settings());
      key.value = '';
      const hasKey = saved ? saved.has_api_key : false;
      key.placeholder = hasKey ? 'Set. Type a new one to replace it' : 'Not set';
      keyState.textContent = hasKey ? 'set' : 'not set';
      if (paid) {
        secret.value = '';
        const set = saved ? saved.stripe_webhook_secret_set : false;
        secret.placeholder = set ? 'Set. Type a new one to replace it' : 'whsec_…';
        secretState.textContent = set ? 'set' : 'not set';
      }
      status.textContent = 'Saved';
    } catch (err) {
      status.textContent = '';
      error.textContent = err.message;
    } finally {
      saveBtn.disabled = false;
    }
  });

  runBtn.addEventListener('click', async () => {
    const msgs = [...lines.children].map((r) => ({ from: r.querySelector('select').value, text: r.querySelector('input').value.trim() }))
      .filter((m) => m.text);
    testError.textContent = '';
    result.replaceChildren(h('p.muted', { text: 'Asking the agent…' }));
    runBtn.disabled = true;
    try {
      showResult(result, await test(settings(), msgs), p('reply'));
    } catch (e2) {
      result.replaceChildren();
      testError.textContent = e2.message;
    } finally {
      runBtn.disabled = false;
    }
  });

  return { form, console: consoleBox, settingsBox, settings };
}

const outcomes = { reply: 'Reply', handoff: 'Handoff to a person', off: 'AI off' };
const handoffBy = { keyword: 'a handoff keyword', agent: 'the agent', error: 'an agent error' };

function showResult(box, r, replyID) {
  const row = (label, value, cls) => value ? h(`div.ai-result-row${cls ? '.' + cls : ''}`, null, h('dt', { text: label }), h('dd', { text: value })) : null;
  box.replaceChildren(...[
    h('p.ai-outcome', { dataset: { outcome: r.outcome } }, h('strong', { text: outcomes[r.outcome] || r.outcome }),
      h('span.muted.small', { text: ` · ${r.kind} agent${r.duration_ms ? ` · ${r.duration_ms} ms` : ''}` })),
    r.reply ? h(`div#${replyID}.msg-bubble`, { text: r.reply }) : null,
    h('dl.ai-result-list', null,
      row('Reasoning', r.reasoning, 'ai-reasoning'),
      row('Handoff', r.handoff ? `${r.handoff} (by ${handoffBy[r.handoff_by] || r.handoff_by})` : '', 'ai-handoff'),
      row('Error', r.error, 'ai-test-err'),
      row('Follow-up', r.follow_up_in_seconds ? `in ${Math.round(r.follow_up_in_seconds / 60)} min${r.follow_up_reason ? ': ' + r.follow_up_reason : ''}` : ''),
      row('Remembers', (r.remember || []).map((f) => (typeof f === 'string' ? f : `${f.text} (${f.type})`)).join('; ')))].filter(Boolean));
}
