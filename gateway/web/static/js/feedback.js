// Feedback on AI replies: the thumbs under each AI message in the chat
// (a thumbs down opens a small box for the correction), and Settings ›
// AI feedback, the report of the worst-rated answers (GET /feedback),
// each with the question before it, the reply and the correction. The
// newest corrections are given to the AI agent as examples.
import { api, get } from './api.js';
import { registerSection } from './settings.js';
import { h, toast, time12, dayLabel } from './util.js';

const thumb = (down) => `<svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"${down ? ' style="transform:rotate(180deg)"' : ''}><path d="M7 10v11H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h3zm0 0 4-8a3 3 0 0 1 3 3v4h5.5a2 2 0 0 1 2 2.3l-1.4 8A2 2 0 0 1 18.1 21H7"/></svg>`;

// given remembers this page's ratings by conversation and seq, so that a
// redrawn bubble shows them.
const given = new Map();

// feedbackControl is the rating row of AI message m of conversation conv.
export function feedbackControl(conv, m) {
  const key = `${conv}/${m.seq}`;
  const path = `/conversations/${conv}/messages/${m.seq}/feedback`;
  const up = h('button.ghost.small.fb-up', { type: 'button', html: thumb(false), title: 'Good answer', 'aria-label': 'Good answer', 'aria-pressed': 'false' });
  const down = h('button.ghost.small.fb-down', { type: 'button', html: thumb(true), title: 'Bad answer', 'aria-label': 'Bad answer', 'aria-pressed': 'false', 'aria-expanded': 'false' });
  const box = h(`textarea#fb-correction-${m.seq}.fb-correction`, { rows: 2, maxlength: '4096', placeholder: 'What should it have said? (optional)' });
  const form = h('form.fb-form', { hidden: true, 'aria-label': 'Correct the AI' },
    h('label.sr-only', { for: `fb-correction-${m.seq}`, text: 'Correction of the AI reply' }), box,
    h('div.fb-actions', null,
      h('button.small', { type: 'submit', text: 'Send feedback' }),
      h('button.ghost.small', { type: 'button', text: 'Cancel', onclick: () => { form.hidden = true; down.setAttribute('aria-expanded', 'false'); } })));
  const show = (r) => {
    up.setAttribute('aria-pressed', String(r === 'up'));
    down.setAttribute('aria-pressed', String(r === 'down'));
  };
  show(given.get(key));
  const rate = async (rating, correction) => {
    try {
      await api('POST', path, correction ? { rating, correction } : { rating });
      given.set(key, rating);
      show(rating);
      form.hidden = true;
      down.setAttribute('aria-expanded', 'false');
      toast(rating === 'up' ? 'Thanks: marked as a good answer' : 'Thanks: the AI will learn from your correction');
    } catch (err) { toast(err.message); }
  };
  up.addEventListener('click', () => rate('up'));
  down.addEventListener('click', () => {
    form.hidden = !form.hidden;
    down.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) box.focus();
  });
  form.addEventListener('submit', (e) => { e.preventDefault(); rate('down', box.value.trim()); });
  return h('div.fb', { dataset: { seq: m.seq } }, h('div.fb-buttons', { role: 'group', 'aria-label': 'Rate this AI reply' }, up, down), form);
}

registerSection({
  id: 'feedback', title: 'AI feedback', order: 35,
  render: async (box) => {
    const list = h('div#feedback-report');
    const pick = h('select#feedback-rating', { 'aria-label': 'Show answers rated' },
      h('option', { value: 'down', text: 'Rated down (worst first)' }), h('option', { value: 'up', text: 'Rated up' }));
    pick.addEventListener('change', () => load(list, pick.value, ''));
    box.append(h('p.muted', { text: 'Answers of the AI people rated, newest first. The newest corrections are given to the AI agent as examples with every request.' }),
      pick, list);
    await load(list, pick.value, '');
  },
});

async function load(list, rating, cursor) {
  const page = await get(`/feedback?rating=${rating}&limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  const items = page.feedback || [];
  const rows = items.map((f) => h('li.settings-card.fb-item', { dataset: { conv: f.conversation_id, seq: f.seq } },
    h('p.fb-q', null, h('strong', { text: 'Question: ' }), h('span', { text: f.question || '(none)' })),
    h('p.fb-a', null, h('strong', { text: 'AI answered: ' }), h('span', { text: f.answer })),
    f.correction ? h('p.fb-c', null, h('strong', { text: 'Correction: ' }), h('span', { text: f.correction })) : null,
    h('p.muted.small', null, h('time', { datetime: f.at, text: `${dayLabel(f.at)} ${time12(f.at)}` }), ' · ',
      h('a', { href: `#c/${f.conversation_id}`, text: 'Open the conversation' }))));
  if (!cursor) list.replaceChildren();
  list.querySelector('.fb-more')?.remove();
  if (!cursor && !items.length) {
    list.append(h('p.muted', { text: rating === 'down' ? 'No answer rated down yet.' : 'No answer rated up yet.' }));
    return;
  }
  let ul = list.querySelector('ul');
  if (!ul) { ul = h('ul.fb-list'); list.append(ul); }
  ul.append(...rows);
  if (page.next_cursor) {
    list.append(h('button.ghost.fb-more', { type: 'button', text: 'Load more', onclick: () => load(list, rating, page.next_cursor) }));
  }
}
