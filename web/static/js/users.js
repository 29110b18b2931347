// The users screen: every user with access to the site's products, from
// the latest snapshot (GET /api/users), paged on the server; search by
// name or e-mail, filters (activity band, product, licensing group,
// synced, protected) and sortable columns. Values are shown in the words
// of labels.js.
import { api, h, listOf, stateMessage, formatDate } from './api.js';
import { loadLabels, label } from './labels.js';

const $ = (id) => document.getElementById(id);
const BANDS = ['active', 'low-usage', 'inactive', 'never-active'];
const PROTECTED = ['admin', 'exception', 'bot', 'customer'];
const COLUMNS = [
  ['name', 'Name'], ['email', 'E-mail'], ['accountType', 'Account type'], ['lastActive', 'Last active'], ['band', 'Activity'],
];

const state = { q: '', band: '', product: '', group: '', synced: '', protected: '', sort: 'name', desc: false, page: 1, perPage: 50 };
let products = new Map();
let loadSeq = 0;

function query() {
  const p = new URLSearchParams();
  for (const k of ['q', 'band', 'product', 'group', 'synced', 'protected']) if (state[k]) p.set(k, state[k]);
  p.set('sort', state.sort);
  if (state.desc) p.set('desc', 'true');
  p.set('page', String(state.page));
  p.set('perPage', String(state.perPage));
  return p.toString();
}

function header(key, text) {
  if (!key) return h('th', { scope: 'col' }, text);
  const current = state.sort === key;
  const sort = current ? (state.desc ? 'descending' : 'ascending') : 'none';
  return h('th', { scope: 'col', 'aria-sort': sort },
    h('button', { type: 'button', class: 'uc-sort', dataset: { sort: key }, onclick: () => {
      if (state.sort === key) state.desc = !state.desc; else { state.sort = key; state.desc = false; }
      state.page = 1;
      load();
    } }, text, current ? (state.desc ? ' ▼' : ' ▲') : ''));
}

function lastActive(u) {
  if (!u.products.length) return '—';
  return h('ul', { class: 'uc-user-products' }, u.products.map((p) => h('li', {},
    (products.get(p) || p) + ': ', u.lastActive[p] ? formatDate(u.lastActive[p]) : 'never')));
}

function row(u) {
  return h('tr', { dataset: { account: u.accountId } },
    h('td', {}, u.name || u.accountId),
    h('td', {}, u.email || '—'),
    h('td', {}, label('accountType', u.accountType)),
    h('td', {}, lastActive(u)),
    h('td', {}, h('span', { class: 'uc-lozenge', dataset: { band: u.band } }, label('band', u.band))),
    h('td', {}, u.groups.map((g, i) => [i ? ', ' : '', g.name, g.synced ? ' (synced)' : ''])),
    h('td', {}, u.protected ? label('protected', u.protected) + ': ' + u.protectedWhy : 'No'));
}

async function load() {
  const seq = ++loadSeq;
  const box = $('users');
  if (!box.querySelector('table')) stateMessage(box, 'loading', 'Loading users…');
  let data;
  try {
    data = await api('GET', '/users?' + query());
  } catch (err) {
    if (seq === loadSeq) stateMessage(box, 'error', err.message, load);
    return;
  }
  if (seq !== loadSeq) return; // a newer request answers
  const users = listOf(data);
  const pages = Math.max(1, Math.ceil(data.total / data.perPage));
  if (!data.snapshot) {
    $('users-status').textContent = '';
    stateMessage(box, 'empty', 'No snapshot yet: press Refresh on the Dashboard to read the organization\'s users.');
    $('users-pager').hidden = true;
    return;
  }
  $('users-status').textContent = data.total + (data.total === 1 ? ' user' : ' users') + ' · snapshot of ' + formatDate(data.snapshot.finishedAt);
  if (!users.length) {
    stateMessage(box, 'empty', 'No user matches these filters.');
  } else {
    box.replaceChildren(h('table', { class: 'uc-table', id: 'users-table' },
      h('caption', { class: 'uc-visually-hidden' }, 'Users, page ' + data.page + ' of ' + pages),
      h('thead', {}, h('tr', {}, COLUMNS.map(([k, t]) => header(k, t)), header('', 'Licensing groups'), header('', 'Protected'))),
      h('tbody', {}, users.map(row))));
  }
  $('users-pager').hidden = pages <= 1;
  $('page-of').textContent = 'Page ' + data.page + ' of ' + pages;
  $('prev-page').disabled = data.page <= 1;
  $('next-page').disabled = data.page >= pages;
}

function options(select, entries) {
  for (const [value, text] of entries) select.append(h('option', { value }, text));
}

async function start() {
  try {
    await loadLabels();
    options($('f-band'), BANDS.map((b) => [b, label('band', b)]));
    options($('f-protected'), PROTECTED.map((p) => [p, 'Protected: ' + label('protected', p)]));
    const [dash, groups] = await Promise.all([api('GET', '/dashboard'), api('GET', '/groups').catch(() => ({ groups: [] }))]);
    const ps = (dash.latest && dash.latest.stats && dash.latest.stats.products) || [];
    products = new Map(ps.map((p) => [p.key, p.name]));
    options($('f-product'), ps.map((p) => [p.key, p.name]));
    options($('f-group'), listOf(groups, 'groups').filter((g) => g.licensing).map((g) => [g.id, g.name]));
  } catch (err) {
    stateMessage($('users'), 'error', err.message, start);
    return;
  }
  await load();
}

$('user-filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  for (const k of ['q', 'band', 'product', 'group', 'synced', 'protected']) state[k] = $('f-' + k).value.trim();
  state.perPage = Number($('f-perPage').value) || 50;
  state.page = 1;
  load();
});
$('prev-page').addEventListener('click', () => { state.page--; load(); });
$('next-page').addEventListener('click', () => { state.page++; load(); });
start();
