// The dashboard: per product, the users with access by activity band and
// the protected users apart (a stacked bar), the seats the product
// reports, how many seats the current cleanups could free, and the 90-day
// trend of inactive users (a line), all from the latest snapshot
// (GET /api/dashboard). The page never waits for a scan: Refresh queues a
// snapshot job (POST /api/snapshots) and its progress is polled
// (GET /api/snapshots/{id}) until it ends.
import { api, h, flag, stateMessage, formatDate } from './api.js';
import { loadLabels, label } from './labels.js';
import { stackedBar, trendLine } from './charts.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

// segments of a product's bar, in order: the bands, then the protected.
const SEGMENTS = [
  ['active', 'band', 'active', 'uc-seg-active'],
  ['lowUsage', 'band', 'low-usage', 'uc-seg-low'],
  ['inactive', 'band', 'inactive', 'uc-seg-inactive'],
  ['never', 'band', 'never-active', 'uc-seg-never'],
  ['protectedAdmins', 'protected', 'admin', 'uc-seg-admin'],
  ['protectedExceptions', 'protected', 'exception', 'uc-seg-exception'],
  ['protectedBots', 'protected', 'bot', 'uc-seg-bot'],
  ['protectedCustomers', 'protected', 'customer', 'uc-seg-customer'],
];

let polling = null;

function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

function seatsText(p) {
  if (!p.seats) return 'Seats: not available (' + p.name + ' does not report its licence seats to apps)';
  if (p.seats.unlimited) return 'Seats: ' + p.seats.used + ' used, unlimited licence';
  return 'Seats: ' + p.seats.used + ' used of ' + p.seats.licensed + ' licensed';
}

function productCard(p) {
  const segments = SEGMENTS.map(([field, kind, value, cls]) => ({
    key: value, value: p[field] || 0, cls,
    label: kind === 'protected' ? 'Protected: ' + label('protected', value) : label('band', value),
  }));
  const chart = stackedBar(p.name + ': users by activity', segments);
  return h('section', { class: 'uc-section uc-product-card', dataset: { product: p.key }, 'aria-labelledby': 'prod-' + p.key },
    h('h2', { id: 'prod-' + p.key }, p.name),
    h('p', { class: 'uc-figures' },
      h('span', { dataset: { figure: 'users' } }, plural(p.users, 'user', 'users') + ' with access'), ' · ',
      h('span', { dataset: { figure: 'seats' } }, seatsText(p)), ' · ',
      h('span', { dataset: { figure: 'freeable' } }, plural(p.freeable, 'seat', 'seats') + ' could be freed by the current cleanups')),
    chart.svg,
    h('ul', { class: 'uc-legend' }, segments.map((seg) => h('li', {}, h('span', { class: 'uc-swatch ' + seg.cls, 'aria-hidden': 'true' }), seg.label + ' ' + seg.value))),
    h('details', { class: 'uc-chart-data' }, h('summary', {}, 'Figures as a table'), chart.table));
}

function trendCard(d) {
  const products = (d.latest && d.latest.stats && d.latest.stats.products) || [];
  const from = new Date(d.trendFrom + 'T00:00:00Z');
  const days = [];
  for (let t = from.getTime(); t <= Date.now(); t += DAY_MS) days.push(new Date(t).toISOString().slice(0, 10));
  const classes = ['uc-line-1', 'uc-line-2', 'uc-line-3', 'uc-line-4'];
  const keys = [...new Set([...products.map((p) => p.key), ...d.trend.map((x) => x.product)])];
  const names = new Map(products.map((p) => [p.key, p.name]));
  const series = keys.map((k, i) => ({
    label: names.get(k) || k, cls: classes[i % classes.length],
    points: d.trend.filter((x) => x.product === k).map((x) => ({ day: x.day, value: x.inactive })),
  }));
  const chart = trendLine('Inactive users over the last 90 days', days, series);
  return h('section', { class: 'uc-section', 'aria-labelledby': 'trend-heading', id: 'trend' },
    h('h2', { id: 'trend-heading' }, 'Inactive users, last 90 days'),
    h('p', { class: 'uc-subtle' }, 'One point per daily snapshot; protected users are not counted.'),
    chart.svg,
    h('ul', { class: 'uc-legend' }, series.map((x) => h('li', {}, h('span', { class: 'uc-swatch ' + x.cls, 'aria-hidden': 'true' }), x.label))),
    h('details', { class: 'uc-chart-data' }, h('summary', {}, 'Figures as a table'), chart.table));
}

function render(d) {
  const root = $('dashboard');
  const latest = d.latest;
  if (!latest) {
    $('snapshot-time').textContent = 'No snapshot yet.';
    stateMessage(root, 'empty', 'No figures yet: press Refresh to read the organization\'s users. It runs in the background; this page shows its progress.');
    return;
  }
  const st = latest.stats || { products: [] };
  $('snapshot-time').replaceChildren('Snapshot of ', h('time', { datetime: latest.finishedAt }, formatDate(latest.finishedAt)),
    ' · ' + plural(st.users, 'user', 'users') + ' with access · ' + plural(st.freeable || 0, 'user', 'users') + ' the current cleanups would remove');
  const parts = [];
  if (!st.products.length) parts.push(h('p', { class: 'uc-state' }, 'The site has no licensing groups: no product access to show.'));
  parts.push(...st.products.map(productCard));
  if ((st.notCounted || []).length) {
    parts.push(h('p', { class: 'uc-message uc-message-info' }, 'Not counted in the seats that could be freed: ' + st.notCounted.join('; ')));
  }
  parts.push(trendCard(d));
  root.replaceChildren(...parts);
}

function showProgress(snap) {
  const box = $('snapshot-progress');
  if (!snap) { box.replaceChildren(); return; }
  if (snap.status === 'failed') {
    box.replaceChildren(h('div', { class: 'uc-progress', dataset: { status: 'failed' } },
      h('strong', {}, 'The last refresh failed: '), h('span', { class: 'uc-run-error' }, snap.error || 'see the app\'s log')));
    return;
  }
  box.replaceChildren(h('div', { class: 'uc-progress', dataset: { status: snap.status } },
    h('strong', {}, label('snapshotStatus', snap.status)),
    h('progress', { 'aria-label': 'Refresh progress' }),
    h('span', { dataset: { read: String(snap.usersRead) } }, plural(snap.usersRead, 'user', 'users') + ' read')));
}

function poll(id) {
  if (polling === id) return;
  polling = id;
  $('refresh').disabled = true;
  const tick = async () => {
    try {
      const snap = await api('GET', '/snapshots/' + id);
      showProgress(snap);
      if (snap.status === 'succeeded' || snap.status === 'failed') {
        polling = null;
        $('refresh').disabled = false;
        if (snap.status === 'succeeded') {
          flag('Dashboard refreshed', plural(snap.usersRead, 'user', 'users') + ' read', 'success');
          showProgress(null);
        } else {
          flag('Refresh failed', snap.error || '', 'error');
        }
        await load();
        return;
      }
    } catch (err) {
      showProgress(null);
      $('snapshot-progress').replaceChildren(h('p', { class: 'uc-message uc-message-error', role: 'alert' }, err.message));
    }
    setTimeout(tick, POLL_MS);
  };
  tick();
}

async function load() {
  const d = await api('GET', '/dashboard');
  render(d);
  if (d.current && (d.current.status === 'queued' || d.current.status === 'running')) poll(d.current.id);
  else if (!polling) showProgress(d.current);
}

async function refresh() {
  $('refresh').disabled = true;
  try {
    const r = await api('POST', '/snapshots', {});
    poll(r.snapshotId);
  } catch (err) {
    $('refresh').disabled = false;
    $('snapshot-progress').replaceChildren(h('p', { class: 'uc-message uc-message-error', role: 'alert' }, err.message));
  }
}

async function start() {
  stateMessage($('dashboard'), 'loading', 'Loading the dashboard…');
  try {
    await loadLabels();
    await load();
  } catch (err) {
    stateMessage($('dashboard'), 'error', err.message, start);
  }
}

$('refresh').addEventListener('click', refresh);
start();
