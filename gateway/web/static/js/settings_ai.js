// Settings → AI agent: the workspace's agent settings (GET/PUT
// /api/v1/agent) and a test console (POST /api/v1/agent/test) that runs
// a sample conversation through the settings on screen, saved or not;
// the form and console are agent_form.js's, which Settings → Channels
// uses for an account's own agent too. The workspace's form also holds
// Paid access: the Stripe endpoint's URL and signing secret.
import { registerSection } from './settings.js';
import { h } from './util.js';
import { agentForm } from './agent_form.js';

async function render(box, { api, me }) {
  const a = await api.get('/agent');
  const ui = agentForm(a, {
    prefix: 'ai',
    stripeURL: `${location.origin}/webhooks/stripe/${me.workspace_id}`,
    save: (s) => api.api('PUT', '/agent', s),
    test: (settings, messages) => api.post('/agent/test', { settings, messages }),
  });
  box.append(h('p.muted.small.ai-default-note', { text: 'The workspace’s agent: the default assistant’s settings. Other assistants, each with its own agent and channel accounts, are in Settings › Assistants.' }),
    h('div.ai-layout', null, ui.form, ui.console));
}

registerSection({ id: 'ai', title: 'AI agent', roles: ['owner', 'admin'], order: 40, render });
