// The workspace switcher (docs/ARCHITECTURE.md, "People in several
// workspaces"): the header names the current workspace and, for a person
// in two or more, lets them pick another. Switching moves the session:
// the server ends this one and issues one in the other workspace, and the
// page starts again with it, so that nothing of the workspace left (its
// conversations, settings, socket) stays on screen.
import { api, get, auth } from './api.js';
import { $, h } from './util.js';

// showWorkspaces fills #workspace with the caller's workspaces; stop ends
// the realtime connection before the session it uses is ended.
export async function showWorkspaces(workspace, stop) {
  const box = $('#workspace');
  box.replaceChildren(h('span.ws-name#ws-name', { text: (workspace && workspace.name) || '' }));
  box.hidden = !workspace;
  let list = [];
  try { list = (await get('/me/workspaces')).workspaces || []; } catch { return; }
  if (list.length < 2) return;
  const pick = h('select#ws-switch', { 'aria-label': 'Workspace', title: 'Switch workspace' },
    list.map((w) => h('option', { value: w.id, selected: w.current, text: w.name })));
  pick.addEventListener('change', async () => {
    const id = pick.value;
    pick.disabled = true;
    stop();
    try {
      const r = await api('POST', `/me/workspaces/${encodeURIComponent(id)}/switch`);
      auth.token = r.token;
    } catch { /* the session may have ended: the reload shows the sign-in */ }
    // An open conversation of the workspace left is not one of the next.
    location.replace(location.pathname + location.search);
  });
  box.replaceChildren(pick);
}
