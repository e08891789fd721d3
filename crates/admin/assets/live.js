// Live: requests per second by route and decision, token-verify latency percentiles and cache hit ratios,
// from GET live every 2.5 s (rates are the differences between two samples).
import { el, get, render, start, table } from './common.js';
import { lineChart, ratioBars } from './charts.js';

const EVERY_MS = 2500;
const KEEP = 40;

const decision = (status) => {
  const s = Number(status);
  if (s < 400) return 'served';
  if (s === 401) return 'unauthenticated';
  if (s === 403) return 'forbidden';
  if (s === 429) return 'rate limited';
  if (s >= 500) return 'error';
  return `refused ${s}`;
};

const rates = new Map(); // "route · decision" -> [req/s]
const latency = { p50: [], p90: [], p99: [] };
let previous = null;

function push(list, value) {
  list.push(value);
  if (list.length > KEEP) list.shift();
}

function sample(now) {
  const counts = new Map();
  for (const r of now.requests || []) {
    const key = `${r.route} · ${decision(r.status)}`;
    counts.set(key, (counts.get(key) || 0) + Number(r.count || 0));
  }
  if (previous) {
    const seconds = Math.max(0.001, (Date.parse(now.at) - Date.parse(previous.at)) / 1000 || EVERY_MS / 1000);
    const keys = new Set([...counts.keys(), ...previous.counts.keys(), ...rates.keys()]);
    for (const key of keys) {
      const delta = Math.max(0, (counts.get(key) || 0) - (previous.counts.get(key) || 0));
      if (!rates.has(key)) rates.set(key, []);
      push(rates.get(key), delta / seconds);
    }
  }
  const tv = now.token_verify || {};
  push(latency.p50, Number(tv.p50_ms || 0));
  push(latency.p90, Number(tv.p90_ms || 0));
  push(latency.p99, Number(tv.p99_ms || 0));
  previous = { at: now.at, counts };
}

function draw(now) {
  const busiest = [...rates.entries()]
    .map(([label, points]) => ({ label, points }))
    .sort((a, b) => Math.max(...b.points) - Math.max(...a.points))
    .slice(0, 6);
  const tv = now.token_verify || {};
  const caches = (now.caches || []).map((c) => {
    const total = Number(c.hits || 0) + Number(c.misses || 0);
    return { label: c.name, value: total ? Number(c.hits || 0) / total : null, hits: c.hits, misses: c.misses };
  });
  const up = Number(now.uptime_seconds || 0);
  render(
    el('p', { class: 'hint' }, `Updated every ${EVERY_MS / 1000} s · sampled at ${new Date(now.at).toLocaleTimeString()} · up ${Math.floor(up / 3600)} h ${Math.floor((up % 3600) / 60)} min`),
    el('section', { 'aria-labelledby': 'rps-h' },
      el('h2', { id: 'rps-h' }, 'Requests per second by route and decision'),
      busiest.length ? lineChart('Requests per second', 'req/s', busiest, KEEP) : el('p', { class: 'muted' }, 'Measuring: the rates appear after the second sample.'),
      table('Requests since start', ['Route', 'Status', 'Decision', 'Count'], (now.requests || []).map((r) => [r.route, String(r.status), decision(r.status), String(r.count)]), 'no requests yet.'),
      table('Authentication decisions since start', ['Method', 'Outcome', 'Reason', 'Count'], (now.decisions || []).map((d) => [d.method, d.outcome, d.reason || '—', String(d.count)]), 'no decisions yet.')),
    el('section', { 'aria-labelledby': 'tv-h' },
      el('h2', { id: 'tv-h' }, 'Token verification latency'),
      lineChart('Token-verify latency percentiles', 'ms', [
        { label: 'p50', points: latency.p50 }, { label: 'p90', points: latency.p90 }, { label: 'p99', points: latency.p99 }], KEEP),
      el('p', {}, `${tv.count || 0} tokens verified · p50 ${tv.p50_ms ?? '—'} ms · p90 ${tv.p90_ms ?? '—'} ms · p99 ${tv.p99_ms ?? '—'} ms`)),
    el('section', { 'aria-labelledby': 'cache-h' },
      el('h2', { id: 'cache-h' }, 'Cache hit ratios'),
      caches.length ? ratioBars('Cache hit ratios', caches) : null,
      table('Caches', ['Cache', 'Hits', 'Misses', 'Hit ratio'], caches.map((c) => [c.label, String(c.hits), String(c.misses), c.value === null ? '—' : `${(c.value * 100).toFixed(1)}%`]), 'no caches.')),
  );
}

start(async () => {
  const tick = async () => {
    try {
      const now = await get('/live');
      sample(now);
      draw(now);
      document.getElementById('alert').hidden = true;
    } catch (e) {
      const box = document.getElementById('alert');
      box.textContent = `Live data unavailable: ${e.message}`;
      box.hidden = false;
      if (!previous) render(el('p', { class: 'muted' }, 'No live data yet; retrying every few seconds.'));
    }
    setTimeout(tick, EVERY_MS);
  };
  await tick();
});
