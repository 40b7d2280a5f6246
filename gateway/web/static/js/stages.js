// A contact's stage and owner, as the Contacts view, the contact panel
// and the contact page show and change them: the workspace's pipelines
// (read once, again after a minute or when Settings › Pipelines saves)
// and the selects that move a contact (POST /contacts/{id}/stage and
// /owner, through the contact's actor on the server).
import { get, post } from './api.js';
import { h } from './util.js';

let cache = null; // {at, pipelines: Promise}
let pipelinesRead = () => {};
const TTL = 60000;

// pipelines resolves to the workspace's pipelines.
export function pipelines() {
  if (!cache || Date.now() - cache.at > TTL) {
    const p = get('/pipelines').then((r) => {
      pipelinesRead(r.pipelines || []);
      return r.pipelines || [];
    });
    cache = { at: Date.now(), pipelines: p };
    p.catch(() => { cache = null; });
  }
  return cache.pipelines;
}

// invalidate forgets the pipelines read (they changed).
export function invalidate() { cache = null; }

// stageName names the stage s ({pipeline_id, stage_id}) among ps:
// "Stage" alone with one pipeline, "Pipeline › Stage" with several.
export function stageName(ps, s) {
  if (!s) return '';
  for (const p of ps) {
    const st = p.stages.find((x) => x.id === s.stage_id);
    if (st) return ps.length > 1 ? `${p.name} › ${st.name}` : st.name;
  }
  return '';
}

// stageOptions are the options of a stage select: first, then a group
// per pipeline (the stages alone with one pipeline).
export function stageOptions(ps, selected, first) {
  const opt = (s) => h('option', { value: s.id, text: s.name, selected: s.id === selected });
  return [first,
    ...(ps.length > 1 ? ps.map((p) => h('optgroup', { label: p.name }, ...p.stages.map(opt))) : (ps[0] ? ps[0].stages.map(opt) : []))];
}

// stageSelect is a select moving contact c; done gets the contact the
// server answers, fail its error (the select goes back).
export function stageSelect(ps, c, id, done, fail) {
  const cur = c.stage ? c.stage.stage_id : '';
  const sel = h(`select#${id}`, {
    onchange: async () => {
      try {
        done(await post(`/contacts/${c.id}/stage`, { stage_id: sel.value || null }));
      } catch (err) { sel.value = cur; fail(err); }
    },
  }, ...stageOptions(ps, cur, h('option', { value: '', text: 'No stage', selected: !cur })));
  return sel;
}

// ownerSelect is a select giving contact c an owner among users.
export function ownerSelect(users, me, c, id, done, fail) {
  const cur = c.owner_id || '';
  const known = users.some((u) => u.id === cur);
  const sel = h(`select#${id}`, {
    onchange: async () => {
      try {
        done(await post(`/contacts/${c.id}/owner`, { owner_id: sel.value || null }));
      } catch (err) { sel.value = cur; fail(err); }
    },
  }, h('option', { value: '', text: 'No owner', selected: !cur }),
  ...users.map((u) => h('option', { value: u.id, text: (u.name || u.email) + (me && u.id === me.id ? ' (me)' : ''), selected: u.id === cur })),
  cur && !known ? h('option', { value: cur, text: 'A former user', selected: true }) : null);
  return sel;
}

let known = []; // the pipelines last read, for changeText
pipelinesRead = (ps) => { known = ps; };

// changeText says what an activity entry of a stage or owner change
// ({type: stage_changed|owner_changed, change: {from, to, by}}) did, by
// name among the pipelines last read and users; '' for another entry.
export function changeText(a, users) {
  const ch = a.change;
  if (!ch || (a.type !== 'stage_changed' && a.type !== 'owner_changed')) return '';
  const user = (id) => {
    const u = (users || []).find((x) => x.id === id);
    return u ? u.name || u.email : 'a former user';
  };
  const stage = (id) => stageName(known, { stage_id: id }) || 'a removed stage';
  const by = ch.by ? ` by ${user(ch.by)}` : '';
  if (a.type === 'stage_changed') {
    return `Stage: ${ch.from ? stage(ch.from) : 'none'} → ${ch.to ? stage(ch.to) : 'none'}${by}`;
  }
  return `Owner: ${ch.from ? user(ch.from) : 'nobody'} → ${ch.to ? user(ch.to) : 'nobody'}${by || (ch.to ? '' : ' (the user was removed)')}`;
}
