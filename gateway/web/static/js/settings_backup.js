// Settings › Backups (owners): download a consistent backup of the whole
// data directory (POST /api/v1/admin/backup, a tar whose first file is
// manifest.json), and the commands that make and restore backups from
// the server (README, "Backups").
import { auth } from './api.js';
import { registerSection } from './settings.js';
import { h } from './util.js';

const fmtDate = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });

// tarManifest reads manifest.json from the start of a backup's tar:
// headers of 512 bytes, contents padded to 512, PAX records skipped.
export async function tarManifest(blob) {
  let off = 0;
  for (let i = 0; i < 4 && off + 512 <= blob.size; i++) {
    const head = new Uint8Array(await blob.slice(off, off + 512).arrayBuffer());
    const text = (from, len) => new TextDecoder().decode(head.slice(from, from + len)).replace(/\0.*$/s, '').trim();
    const name = text(0, 100);
    const size = parseInt(text(124, 12), 8) || 0;
    const type = String.fromCharCode(head[156]);
    if (name === 'manifest.json' && (type === '0' || type === '\0')) {
      return JSON.parse(await blob.slice(off + 512, off + 512 + size).text());
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error('the backup has no manifest');
}

function fmtBytes(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

async function download(btn, status) {
  btn.disabled = true;
  status.textContent = 'Making the backup…';
  delete status.dataset.files;
  try {
    const r = await fetch('/api/v1/admin/backup', { method: 'POST', headers: { Authorization: `Bearer ${auth.token}` } });
    if (!r.ok) {
      let msg = `${r.status} ${r.statusText}`;
      try { msg = (await r.json()).error.message; } catch { /* not JSON */ }
      throw new Error(msg);
    }
    const blob = await r.blob();
    const m = await tarManifest(blob);
    const name = /filename="([^"]+)"/.exec(r.headers.get('Content-Disposition') || '');
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name ? name[1] : 'parley-backup.tar', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    const files = (m.files || []).length;
    status.dataset.files = String(files);
    status.dataset.createdAt = m.created_at;
    status.textContent = `Backup downloaded: ${files} files, ${fmtBytes(blob.size)}, as of ${fmtDate.format(new Date(m.created_at))}.`;
  } catch (err) {
    status.textContent = `No backup: ${err.message}`;
  }
  btn.disabled = false;
}

registerSection({
  id: 'backups', title: 'Backups', roles: ['owner'], order: 80,
  render: (box) => {
    const status = h('p#backup-status.muted', { role: 'status' });
    const btn = h('button#backup-download.primary', { type: 'button', text: 'Download a backup' });
    btn.addEventListener('click', () => download(btn, status));
    box.append(
      h('p.muted', { text: 'A backup holds every conversation, contact, setting and media file of this server, as they were when it began; '
        + 'messages keep arriving while it is made. It downloads as a .tar file; keep it somewhere safe: it holds your customers\u2019 data.' }),
      h('div.settings-card', { role: 'group', 'aria-labelledby': 'backup-title' },
        h('h3#backup-title', { text: 'Download' }), btn, status),
      h('div.settings-card', { role: 'group', 'aria-labelledby': 'backup-cli-title' },
        h('h3#backup-cli-title', { text: 'From the server' }),
        h('p.muted', { text: 'Scheduled backups are made on the server with an owner\u2019s API token; a downloaded .tar is unpacked into a directory (tar -xf) and restored the same way, into a new data directory:' }),
        h('pre.backup-commands', null, h('code', { text: 'PARLEY_TOKEN=<token> parley backup /var/backups/parley/<date>\nparley restore /var/backups/parley/<date> /var/lib/parley-restored' }))),
    );
  },
});
