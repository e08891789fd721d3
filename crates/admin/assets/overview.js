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
    p.last_key_refresh ? `${when(p.last_key_refresh.at || p.last_key_refresh)}${p.last_key_refresh.result ? ` (${p.last_key_refresh.result})` : ''}` : (p.keys_loaded ? 'loaded' : 'not loaded'),
    p.last_key_error ? el('span', { class: 'fail' }, p.last_key_error) : el('span', { class: 'pass' }, 'OK'),
  ]);
  const managers = (o.user_managers || []).map((u) => [
    u.label, el('code', {}, text(u.fqn_prefix)),
    u.reachable === undefined ? '—' : badge(u.reachable, 'Reachable', 'Unreachable'),
  ]);
  const shared = o.shared_state;
  render(
    el('dl', { class: 'facts' },
      el('dt', {}, 'Version'), el('dd', {}, text(o.version)),
      el('dt', {}, 'Settings version'), el('dd', {}, text(o.settings_version)),
      el('dt', {}, 'Replicas seen'), el('dd', {}, Array.isArray(o.replicas_seen) ? o.replicas_seen.length ? o.replicas_seen.map((r) => r.id || r.name || JSON.stringify(r)).join(', ') : '—' : text(o.replicas_seen)),
      el('dt', {}, 'Database'), el('dd', {}, text(o.storage && o.storage.database)),
      el('dt', {}, 'Shared state'), el('dd', {}, shared ? [shared.store, ' ', badge(!shared.degraded, 'Healthy', 'Degraded')] : 'process memory (one replica)'),
    ),
    el('h2', {}, 'Routes'),
    table('Routes', ['Name', 'Prefix', 'Upstream', 'State', 'Authentication'], routes),
    el('h2', {}, 'Token providers'),
    table('Providers', ['Name', 'Issuer', 'Audiences', 'Key ids', 'Last key refresh', 'Result'], providers, 'no bearer providers configured.'),
    el('h2', {}, 'User managers'),
    table('User managers', ['Label', 'FQN prefix', 'Directory'], managers),
  );
});
