// Overview: version, routes, providers, user managers, storage and shared state (GET overview).
import { badge, el, get, render, start, table, when } from './common.js';

const text = (v) => (v === undefined || v === null || v === '' ? '—' : String(v));
const list = (v) => (Array.isArray(v) && v.length ? v.join(', ') : '—');

start(async () => {
  const o = await get('/overview');
  const routes = (o.routes || []).map((r) => [
    r.name, el('code', {}, r.prefix), r.upstream,
    el('span', {}, badge(r.enabled, 'On', 'Off'), r.disabled ? ` answers ${r.disabled.status}: ${r.disabled.message}` : ''),
    r.auth ? [r.auth.basic ? 'Basic' : null, r.auth.bearer ? 'Bearer' : null].filter(Boolean).join(' + ') || 'none' : 'public',
  ]);
  const providers = (o.providers || []).map((p) => [
    p.name, p.issuer, list(p.audiences), list(p.key_ids),
    p.last_key_refresh ? when(p.last_key_refresh.at) : (p.keys_loaded ? 'loaded' : 'not yet'),
    p.last_key_error ? el('span', { class: 'fail' }, `Failed: ${p.last_key_error}`) : el('span', { class: 'pass' }, p.keys_loaded ? 'OK' : 'not loaded'),
  ]);
  const managers = (o.user_managers || []).map((u) => [u.label, el('code', {}, text(u.fqn_prefix))]);
  const d = o.directory || {};
  const directory = d.kind === undefined ? '—' : el('span', {},
    badge(d.ok, 'Reachable', 'Unreachable'), ` ${d.kind}${d.target ? ` at ${d.target}` : ''}`,
    d.error ? ` — ${d.error}` : '', d.checked_at ? ` (checked ${when(d.checked_at)})` : '');
  const seen = o.replicas_seen || {};
  const replicas = Array.isArray(seen.replicas)
    ? `${seen.replicas.length} in the last ${seen.within_seconds} s${seen.replicas.length ? `: ${seen.replicas.map((r) => r.id).join(', ')}` : ''}`
    : text(seen.error);
  const storage = o.storage || {};
  const shared = o.shared_state;
  render(
    el('dl', { class: 'facts' },
      el('dt', {}, 'Version'), el('dd', {}, text(o.version)),
      el('dt', {}, 'Settings version'), el('dd', {}, text(o.settings_version)),
      el('dt', {}, 'Replicas seen'), el('dd', { id: 'replicas' }, replicas),
      el('dt', {}, 'Database'), el('dd', {}, text(storage.database), ' ', storage.healthy === undefined ? '' : badge(storage.healthy, 'Healthy', 'Unavailable')),
      el('dt', {}, 'Basic directory'), el('dd', { id: 'directory' }, directory),
      el('dt', {}, 'Shared state'), el('dd', {}, shared ? [shared.store, ' ', badge(!shared.degraded, 'Healthy', 'Degraded')] : 'process memory (one replica)'),
    ),
    el('h2', {}, 'Routes'),
    table('Routes', ['Name', 'Prefix', 'Upstream', 'State', 'Authentication'], routes),
    el('h2', {}, 'Token providers'),
    table('Providers', ['Name', 'Issuer', 'Audiences', 'Key ids', 'Last key refresh', 'Result'], providers, 'no bearer providers configured.'),
    el('h2', {}, 'User managers'),
    table('User managers', ['Label', 'FQN prefix'], managers),
  );
});
