// Accessible SVG charts of the dashboard, without a chart library: every
// chart is an <svg role="img"> with a <title> and a <desc> that say its
// figures in words, and comes with a data table (the fallback that screen
// readers and people who prefer numbers read).
import { h } from './api.js';

const SVG = 'http://www.w3.org/2000/svg';
let uid = 0;

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svgRoot(width, height, title, desc) {
  const id = 'chart-' + (++uid);
  return s('svg', { xmlns: SVG, role: 'img', viewBox: '0 0 ' + width + ' ' + height, width: '100%', 'aria-labelledby': id + '-t ' + id + '-d', preserveAspectRatio: 'xMinYMin meet', class: 'uc-chart' },
    s('title', { id: id + '-t' }, title), s('desc', { id: id + '-d' }, desc));
}

/**
 * stackedBar draws one horizontal bar of segments [{key, label, value,
 * cls}] scaled to their sum, and returns {svg, table}: the table lists
 * every segment with its count and share.
 */
export function stackedBar(title, segments) {
  const total = segments.reduce((n, x) => n + x.value, 0);
  const desc = total === 0 ? 'No users.' : segments.map((x) => x.label + ': ' + x.value).join(', ') + '. ' + total + ' in all.';
  const W = 600; const H = 36;
  const svg = svgRoot(W, H, title, desc);
  let x = 0;
  for (const seg of segments) {
    if (!seg.value || !total) continue;
    const w = (seg.value / total) * W;
    svg.append(s('rect', { x: x.toFixed(2), y: 4, width: w.toFixed(2), height: H - 8, class: 'uc-seg ' + seg.cls, 'data-segment': seg.key },
      s('title', {}, seg.label + ': ' + seg.value)));
    x += w;
  }
  if (!total) svg.append(s('rect', { x: 0, y: 4, width: W, height: H - 8, class: 'uc-seg uc-seg-empty' }));
  const table = h('table', { class: 'uc-table uc-chart-table' },
    h('caption', {}, title),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Group'), h('th', { scope: 'col' }, 'Users'), h('th', { scope: 'col' }, 'Share'))),
    h('tbody', {}, segments.map((seg) => h('tr', { dataset: { segment: seg.key } },
      h('th', { scope: 'row' }, h('span', { class: 'uc-swatch ' + seg.cls, 'aria-hidden': 'true' }), seg.label),
      h('td', {}, String(seg.value)),
      h('td', {}, total ? Math.round((seg.value / total) * 100) + '%' : '—')))));
  return { svg, table };
}

/**
 * trendLine draws one line per series [{label, cls, points: [{day, value}]}]
 * over the days from..to (YYYY-MM-DD), and returns {svg, table}.
 */
export function trendLine(title, days, series) {
  const W = 600; const H = 180; const L = 40; const R = 10; const T = 10; const B = 24;
  const max = Math.max(1, ...series.flatMap((x) => x.points.map((p) => p.value)));
  const index = new Map(days.map((d, i) => [d, i]));
  const xOf = (day) => L + (days.length > 1 ? (index.get(day) / (days.length - 1)) * (W - L - R) : 0);
  const yOf = (v) => T + (1 - v / max) * (H - T - B);
  const described = series.map((x) => {
    if (!x.points.length) return x.label + ': no data';
    const first = x.points[0]; const last = x.points[x.points.length - 1];
    return x.label + ': ' + first.value + ' on ' + first.day + ', ' + last.value + ' on ' + last.day + ' (' + x.points.length + ' days of data)';
  }).join('; ');
  const svg = svgRoot(W, H, title, 'Inactive users per day from ' + days[0] + ' to ' + days[days.length - 1] + '. ' + described + '.');
  svg.append(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'uc-axis' }),
    s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'uc-axis' }),
    s('text', { x: L - 6, y: T + 4, 'text-anchor': 'end', class: 'uc-axis-label' }, String(max)),
    s('text', { x: L - 6, y: H - B, 'text-anchor': 'end', class: 'uc-axis-label' }, '0'),
    s('text', { x: L, y: H - 6, class: 'uc-axis-label' }, days[0]),
    s('text', { x: W - R, y: H - 6, 'text-anchor': 'end', class: 'uc-axis-label' }, days[days.length - 1]));
  for (const x of series) {
    const pts = x.points.filter((p) => index.has(p.day));
    if (pts.length === 1) {
      svg.append(s('circle', { cx: xOf(pts[0].day), cy: yOf(pts[0].value), r: 3, class: 'uc-line ' + x.cls }));
    } else if (pts.length > 1) {
      svg.append(s('polyline', { points: pts.map((p) => xOf(p.day).toFixed(1) + ',' + yOf(p.value).toFixed(1)).join(' '), class: 'uc-line ' + x.cls, fill: 'none' }));
    }
  }
  const byDay = new Map();
  for (const x of series) for (const p of x.points) {
    if (!byDay.has(p.day)) byDay.set(p.day, {});
    byDay.get(p.day)[x.label] = p.value;
  }
  const rows = [...byDay.keys()].sort().reverse();
  const table = h('table', { class: 'uc-table uc-chart-table' },
    h('caption', {}, title),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), series.map((x) => h('th', { scope: 'col' }, x.label)))),
    h('tbody', {}, rows.length ? rows.map((d) => h('tr', {}, h('th', { scope: 'row' }, d),
      series.map((x) => h('td', {}, byDay.get(d)[x.label] === undefined ? '—' : String(byDay.get(d)[x.label])))))
      : h('tr', {}, h('td', { colspan: String(series.length + 1) }, 'No daily snapshots yet.'))));
  return { svg, table };
}
