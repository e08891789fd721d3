// Small hand-written SVG charts for the Live page: a line chart of several series over the last samples and a
// horizontal bar chart. Each has a <title> and <desc> (screen readers) and the page shows the numbers too.
import { el, svg } from './common.js';

const W = 640;
const H = 200;
const PAD = { l: 44, r: 8, t: 10, b: 22 };

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A line chart: `series` = [{label, points: [number]}] (oldest first), the y axis from 0. */
export function lineChart(title, unit, series, capacity) {
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points)) * 1.1;
  const x = (i) => PAD.l + ((W - PAD.l - PAD.r) * i) / Math.max(1, capacity - 1);
  const y = (v) => H - PAD.b - ((H - PAD.t - PAD.b) * v) / max;
  const grid = [0, 0.5, 1].map((f) => [
    svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y(max * f / 1.1), y2: y(max * f / 1.1), stroke: '#d0d7de' }),
    svg('text', { x: 4, y: y(max * f / 1.1) + 4 }, `${fmt(max * f / 1.1)}`),
  ]);
  const lines = series.map((s, i) => {
    const offset = capacity - s.points.length;
    const points = s.points.map((v, j) => `${x(offset + j).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return svg('polyline', { class: `line c${i % 6}`, points });
  });
  const latest = series.map((s) => `${s.label}: ${fmt(s.points[s.points.length - 1] || 0)} ${unit}`).join('; ');
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}. Latest: ${latest || 'no data yet'}` },
    svg('title', {}, title), svg('desc', {}, `Latest: ${latest || 'no data yet'}`),
    grid, lines,
    svg('text', { x: PAD.l, y: H - 4 }, 'older'), svg('text', { x: W - PAD.r - 40, y: H - 4 }, 'now'),
    svg('text', { x: W - PAD.r - 90, y: PAD.t + 10 }, unit));
  return [chart, legend(series)];
}

/** A horizontal bar chart of ratios in [0, 1]: items = [{label, value}]. */
export function ratioBars(title, items) {
  const rowH = 26;
  const height = Math.max(1, items.length) * rowH + 8;
  const barW = W - 220;
  const rows = items.map((item, i) => [
    svg('text', { x: 4, y: i * rowH + 18 }, item.label),
    svg('rect', { x: 170, y: i * rowH + 6, width: barW, height: 16, fill: '#eaeef2' }),
    svg('rect', { x: 170, y: i * rowH + 6, width: Math.max(0, Math.min(1, item.value || 0)) * barW, height: 16, class: `c${i % 6}` }),
    svg('text', { x: 176 + barW, y: i * rowH + 18 }, item.value === null ? '—' : `${(item.value * 100).toFixed(0)}%`),
  ]);
  const text = items.map((i) => `${i.label}: ${i.value === null ? 'no lookups' : `${(i.value * 100).toFixed(0)}%`}`).join('; ');
  return svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': `${title}. ${text || 'no caches'}` },
    svg('title', {}, title), rows);
}

function legend(series) {
  return el('ul', { class: 'legend' }, series.map((s, i) => el('li', {}, el('span', { class: `key c${i % 6}`, 'aria-hidden': 'true' }), s.label)));
}
