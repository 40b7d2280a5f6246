// Settings › Opt-out keywords (GET/PUT /api/v1/settings/opt-out): the
// words that, as a whole WhatsApp message, unsubscribe a contact from
// broadcasts (STOP and its translations by default) or subscribe it again
// (START), and the confirmations sent back. Owners and admins change
// them; agents see them read-only, as the API allows.
import { registerSection, field } from './settings.js';
import { h, toast } from './util.js';

const manages = (me) => me.role === 'owner' || me.role === 'admin';

// words reads a comma or newline separated list.
const words = (s) => s.split(/[,\n]/).map((w) => w.trim()).filter(Boolean);

registerSection({
  id: 'opt-out', title: 'Opt-out keywords', order: 201,
  render: async (box, ctx) => {
    const s = await ctx.api.get('/settings/opt-out');
    const ro = !manages(ctx.me);
    const kw = h('textarea#optout-keywords', { rows: 3, readonly: ro, 'aria-describedby': 'optout-kw-hint' });
    kw.value = (s.keywords || []).join(', ');
    const conf = h('textarea#optout-confirmation', { rows: 3, maxlength: '1024', readonly: ro });
    conf.value = s.confirmation || '';
    const re = h('textarea#optout-resubscribe', { rows: 2, readonly: ro });
    re.value = (s.resubscribe_keywords || []).join(', ');
    const reConf = h('textarea#optout-resubscribe-confirmation', { rows: 3, maxlength: '1024', readonly: ro });
    reConf.value = s.resubscribe_confirmation || '';
    const status = h('p.error#optout-error', { role: 'alert' });
    const form = h('form.settings-card.optout-form#optout-form', { 'aria-label': 'Opt-out keywords' },
      field('Opt-out keywords', kw, ''),
      h('p.muted.small#optout-kw-hint', { text: 'Separated by commas. A WhatsApp message that is one of these as a whole (case, accents and punctuation aside) unsubscribes the contact from broadcasts. Leave empty to turn opt-out keywords off.' }),
      field('Confirmation sent after an opt-out', conf),
      field('Resubscribe keywords', re, 'Separated by commas; empty turns them off.'),
      field('Confirmation sent after a resubscribe', reConf),
      ro ? h('p.muted.small', { text: 'Owners and admins change these.' }) : h('div.canned-actions', null,
        h('button.primary#optout-save', { type: 'submit', text: 'Save' }),
        h('button.ghost#optout-defaults', {
          type: 'button', text: 'Use the defaults',
          onclick: () => {
            kw.value = s.defaults.keywords.join(', ');
            conf.value = s.defaults.confirmation;
            re.value = s.defaults.resubscribe_keywords.join(', ');
            reConf.value = s.defaults.resubscribe_confirmation;
          },
        })),
      status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (ro) return;
      status.textContent = '';
      try {
        await ctx.api.api('PUT', '/settings/opt-out', {
          keywords: words(kw.value), confirmation: conf.value,
          resubscribe_keywords: words(re.value), resubscribe_confirmation: reConf.value,
        });
        toast('Opt-out keywords saved');
      } catch (err) { status.textContent = err.message; }
    });
    box.append(h('p.muted', { text: 'Customers who write one of these keywords on WhatsApp are unsubscribed from broadcasts and get the confirmation; the AI does not answer that message. It shows in the contact’s activity.' }), form);
  },
});
