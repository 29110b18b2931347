// The users screen: every user with access to the site's products, from
// the latest snapshot (GET /api/users), paged on the server; search by
// name or e-mail, filters (activity band, product, licensing group,
// synced, protected) and sortable columns. Values are shown in the words
// of labels.js. Users chosen with the row check boxes (kept across pages,
// at most 200) can have their product access removed, as a run of the
// engine with dry run, progress and History (POST /api/users/actions), or
// be added to the exceptions (PATCH /api/settings); users marked for
// review can be approved (the marking cleanup's removal, as a run: POST
// /api/reviews/approve) or dismissed (POST /api/reviews/dismiss). Every
// action but a dry run is behind a confirmation that states the action
// and the count (confirmAction).
import { api, h, listOf, stateMessage, formatDate, flag, ifMatch } from './api.js';
import { loadLabels, label, countText } from './labels.js';
import { openModal } from './modal.js';

const $ = (id) => document.getElementById(id);
const BANDS = ['active', 'low-usage', 'inactive', 'never-active'];
const PROTECTED = ['admin', 'exception', 'bot', 'customer'];
const COLUMNS = ['name', 'email', 'accountType', 'lastActive', 'band']; // sortable, headed by their userSort labels

const MAX_SELECTED = 200;
const ACCOUNTED = ['removedInAtlassian', 'exportedForIdp', 'removedInIdp', 'skipped', 'manual', 'failed'];
const selected = new Map(); // accountId → {name, marked}
const FILTERS = ['q', 'band', 'product', 'group', 'synced', 'protected', 'review'];
const state = { q: '', band: '', product: '', group: '', synced: '', protected: '', review: '', sort: 'name', desc: false, page: 1, perPage: 50 };
let products = new Map();
let loadSeq = 0;

function query() {
  const p = new URLSearchParams();
  for (const k of FILTERS) if (state[k]) p.set(k, state[k]);
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
    (products.get(p) || p) + ': ', u.lastActive[p] ? day(u.lastActive[p]) : 'never')));
}

// day formats a time as a date in the admin's locale.
function day(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleDateString(undefined, { dateStyle: 'medium' });
}

function row(u) {
  const name = u.name || u.accountId;
  return h('tr', { dataset: { account: u.accountId } },
    h('td', {}, h('input', { type: 'checkbox', class: 'uc-select', 'aria-label': 'Select ' + name, checked: selected.has(u.accountId),
      onchange: (ev) => { select(u, ev.target.checked); } })),
    h('td', {}, name),
    h('td', {}, u.email || '—'),
    h('td', {}, label('accountType', u.accountType)),
    h('td', {}, lastActive(u)),
    h('td', {}, h('span', { class: 'uc-lozenge', dataset: { band: u.band } }, label('band', u.band))),
    h('td', {}, u.groups.flatMap((g, i) => [i ? ', ' : '', g.name + (g.synced ? ' (synced)' : '')])),
    h('td', { class: 'uc-review' }, u.review ? 'Marked by "' + u.review.cleanupName + '", ' + day(u.review.markedAt) : '—'),
    h('td', {}, u.protected ? [label('protected', u.protected), h('span', { class: 'uc-help' }, u.protectedWhy)] : 'No'));
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
    box.replaceChildren(h('div', { class: 'uc-table-scroll' }, h('table', { class: 'uc-table', id: 'users-table' },
      h('caption', { class: 'uc-visually-hidden' }, 'Users, page ' + data.page + ' of ' + pages),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, h('input', { type: 'checkbox', id: 'select-page', 'aria-label': 'Select every user on this page',
          checked: users.every((u) => selected.has(u.accountId)),
          onchange: (ev) => { for (const u of users) select(u, ev.target.checked); showPage(); } })),
        COLUMNS.map((k) => header(k, label('userSort', k))), header('', 'Licensing groups'), header('', 'Review'), header('', 'Protected'))),
      h('tbody', {}, users.map(row)))));
  }
  $('users-pager').hidden = pages <= 1;
  $('page-of').textContent = 'Page ' + data.page + ' of ' + pages;
  $('prev-page').disabled = data.page <= 1;
  $('next-page').disabled = data.page >= pages;
}

function options(el, entries) {
  for (const [value, text] of entries) el.append(h('option', { value }, text));
}

// ---- selection and actions ----

function select(u, on) {
  const id = u.accountId;
  if (on && !selected.has(id) && selected.size >= MAX_SELECTED) {
    flag('Selection full', 'Act on at most ' + MAX_SELECTED + ' users at a time.', 'warning');
    showSelection();
    showPage();
    return;
  }
  if (on) selected.set(id, { name: u.name || id, marked: !!u.review }); else selected.delete(id);
  showSelection();
}

// showPage syncs the page's check boxes with the selection.
function showPage() {
  const boxes = [...document.querySelectorAll('#users-table tbody tr')];
  for (const tr of boxes) tr.querySelector('.uc-select').checked = selected.has(tr.dataset.account);
  const all = $('select-page');
  if (all) all.checked = boxes.length > 0 && boxes.every((tr) => selected.has(tr.dataset.account));
}

function showSelection() {
  const n = selected.size;
  $('selected-count').textContent = n === 0 ? 'No user selected' : (n === 1 ? '1 user selected' : n + ' users selected');
  for (const id of ['bulk-dry-run', 'bulk-remove', 'bulk-exceptions', 'bulk-clear']) $(id).disabled = n === 0;
  const allMarked = n > 0 && [...selected.values()].every((v) => v.marked);
  for (const id of ['review-approve', 'review-dismiss']) $(id).disabled = !allMarked;
}

function clearSelection() { selected.clear(); showSelection(); showPage(); }

async function approve() {
  const ids = [...selected.keys()];
  if (!await confirmAction('Approve the removal for ' + usersText(ids.length) + '?',
    'Runs the removal of the cleanup that marked them (remove product access in its licensing groups) for exactly these users, as a run in History, and takes them off the review list.',
    'Approve the removal for ' + usersText(ids.length), 'warning')) return;
  try {
    const r = await api('POST', '/reviews/approve', { accountIds: ids, dryRun: false });
    clearSelection();
    for (const id of r.runIds) watchRun(id, false);
    load();
  } catch (err) {
    flag('Not approved', err.message, 'error');
  }
}

async function dismiss() {
  const ids = [...selected.keys()];
  if (!await confirmAction('Dismiss ' + usersText(ids.length) + ' from the review list?',
    'Nothing changes in Atlassian; the next run of the review cleanup can mark them again.',
    'Dismiss ' + usersText(ids.length))) return;
  try {
    const r = await api('POST', '/reviews/dismiss', { accountIds: ids });
    flag('Dismissed from the review list', usersText(r.dismissed), 'success');
    clearSelection();
    load();
  } catch (err) {
    flag('Not dismissed', err.message, 'error');
  }
}

function usersText(n) { return n === 1 ? '1 user' : n + ' users'; }

/**
 * confirmAction asks the admin to confirm an action in the pages' shared
 * modal (modal.js: focus trapped, Escape cancels, focus returns to the
 * button that opened it) and resolves true on confirm, false on Cancel or
 * Escape. It is the one place the users screen asks. tone is the confirm
 * button's ('warning' for actions that take access away).
 */
export function confirmAction(title, body, yes, tone = 'primary') {
  return openModal({
    id: 'confirm-dialog', role: 'alertdialog', title, body: [body],
    buttons: [
      { label: 'Cancel', value: false, tone: 'subtle', id: 'confirm-no' },
      { label: yes, value: true, tone, id: 'confirm-yes' },
    ],
  }).then((v) => v === true);
}

async function removeAccess(dryRun) {
  const ids = [...selected.keys()];
  const what = label('action', 'remove-product-access');
  if (!dryRun && !await confirmAction(what + ' for ' + usersText(ids.length) + '?',
    'Removes ' + usersText(ids.length) + ' from every licensing group they are in (synced groups through the identity provider, as a cleanup would). Admins and exceptions are skipped. It runs as a run in History, with its audit log.',
    what + ' for ' + usersText(ids.length), 'warning')) return;
  try {
    const r = await api('POST', '/users/actions', { action: 'remove-product-access', accountIds: ids, dryRun });
    if (!dryRun) clearSelection();
    watchRun(r.runId, dryRun);
  } catch (err) {
    flag('Not started', err.message, 'error');
  }
}

function watchRun(id, dryRun) {
  const box = h('div', { class: 'uc-progress', dataset: { run: String(id), status: 'queued' } });
  $('bulk-progress').prepend(box);
  while ($('bulk-progress').children.length > 3) $('bulk-progress').lastElementChild.remove();
  const tick = async () => {
    let run;
    try {
      run = await api('GET', '/runs/' + id);
    } catch (err) {
      box.replaceChildren(h('span', { class: 'uc-run-error' }, err.message));
      return;
    }
    box.dataset.status = run.status;
    const c = run.counts || {};
    const did = ACCOUNTED.filter((k) => c[k] > 0).map((k) => countText(c[k], k)).join(', ');
    const parts = [h('strong', {}, (dryRun ? 'Dry run: ' : '') + run.cleanupName), ' · ' + label('runStatus', run.status)];
    if (run.status === 'running' || run.status === 'queued') parts.push(h('progress', { 'aria-label': 'Run progress' }));
    if (did) parts.push(h('span', { class: 'uc-accounting' }, did));
    if (run.error) parts.push(h('span', { class: 'uc-run-error' }, run.error));
    parts.push(h('span', { class: 'uc-help' }, 'Every user and outcome: Scheduling and cleanup → History.'));
    box.replaceChildren(...parts);
    if (run.status === 'queued' || run.status === 'running') { setTimeout(tick, 1000); return; }
    flag(dryRun ? 'Dry run finished' : 'Run finished', did || label('runStatus', run.status), run.status === 'failed' ? 'error' : 'success');
  };
  tick();
}

async function addExceptions() {
  const ids = [...selected.keys()];
  if (!await confirmAction('Add ' + usersText(ids.length) + ' to the exceptions?',
    'Exceptions are never removed by any cleanup. The users screen shows them as protected after the next refresh of the Dashboard.',
    'Add ' + usersText(ids.length) + ' to the exceptions')) return;
  try {
    const set = await api('GET', '/settings');
    const current = (set.exceptions && set.exceptions.accountIds) || [];
    const accountIds = [...new Set([...current, ...ids])];
    await api('PATCH', '/settings', { exceptions: { accountIds } }, ifMatch(set.version));
    flag('Added to the exceptions', usersText(ids.length), 'success');
    clearSelection();
  } catch (err) {
    flag('Exceptions not changed', err.message, 'error');
  }
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
  for (const k of FILTERS) state[k] = $('f-' + k).value.trim();
  state.perPage = Number($('f-perPage').value) || 50;
  state.page = 1;
  load();
});
$('prev-page').addEventListener('click', () => { state.page--; load(); });
$('bulk-dry-run').addEventListener('click', () => removeAccess(true));
$('bulk-remove').addEventListener('click', () => removeAccess(false));
$('bulk-exceptions').addEventListener('click', addExceptions);
$('bulk-clear').addEventListener('click', clearSelection);
$('review-approve').addEventListener('click', approve);
$('review-dismiss').addEventListener('click', dismiss);
$('next-page').addEventListener('click', () => { state.page++; load(); });
start();
