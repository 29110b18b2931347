// Runs on the Scheduling and cleanup page: a run's progress (polled from
// GET /api/runs/{id} without blocking the page), History (GET /api/runs),
// Show users (GET /api/runs/{id}/users) and the Export data dialog. A run
// that failed says why; a finished run accounts for every user it matched
// ("32 exported, 2 need manual action") with links to exactly those who
// need manual action or failed, and Show users lists the failures and the
// manual actions by reason. Every status, action and outcome is shown in
// words from labels.js. "Restore access" (a whole run from its History
// row, or the users ticked in Show users) starts a restore after a
// confirmation that says what will happen to how many users; a restore is
// a run too (POST /api/runs/{id}/restore) and shows like one.
import { api, h, listOf, flag, stateMessage, formatDate, copyableID } from './api.js';
import { label, countText } from './labels.js';
import { warningCounts } from './warning.js';
import { openModal } from './modal.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const PAGE_SIZE = 25;
const OUTCOMES = ['pending', 'done', 'exported', 'review', 'skipped', 'manual', 'failed', 'warned', 'grace', 'spared', 'has-access', 'not-restored']; // in the order a row goes
const EMAIL_OUTCOMES = ['sent', 'failed', 'unconfirmed', 'no-address', 'queued']; // of the warning e-mails
const ACTIVE_STATUSES = new Set(['queued', 'running']);

/** statusLabel words a run's status. */
export const statusLabel = (s) => label('runStatus', s);

// ctx is what the page gives: its groups (for the filter), a way to show
// the History tab, and the schedules to reload when a run ends.
let ctx = { groups: () => [], selectTab: () => {}, loadSchedules: () => {}, schedulesShown: () => false };

/** initRuns wires the page's parts this module calls back. */
export function initRuns(c) { ctx = c; }

// ---- runs and progress ----
function runID(r) { return r.runId !== undefined ? r.runId : r.id; }
function counts(r) { return r.counts || {}; }
// progress returns how many users the run has evaluated, and of how many
// when the API knows the total.
function progress(r) {
  const pr = r.progress || {};
  const c = counts(r);
  return { done: pr.evaluated !== undefined ? pr.evaluated : (c.evaluated || 0), total: pr.total || r.total || 0 };
}

// ---- what a run did, in words ----
const ACCOUNTED = ['removedInAtlassian', 'exportedForIdp', 'removedInIdp', 'deactivated', 'reviewed', 'restored', 'hasAccess', 'notRestored', 'manual', 'failed'];

// accounting says what happened to every user the run matched: "32
// exported, 2 need manual action" (empty when nothing happened).
function accounting(r) {
  const c = counts(r);
  return ACCOUNTED.filter((k) => c[k] > 0).map((k) => countText(c[k], k)).join(', ');
}

// runSummary is a run's outcome for the progress banner, the History row
// and Show users: why it failed, what it did, and links to exactly the
// users that need manual action or failed.
function runSummary(r, opts) {
  const c = counts(r);
  const out = [];
  if (r.status === 'failed') {
    out.push(h('p', { class: 'uc-run-error', role: opts && opts.alert ? 'alert' : null }, r.error || 'The run failed; the app\'s log has the details.'));
    return out;
  }
  if (ACTIVE_STATUSES.has(r.status)) return out;
  const text = accounting(r);
  out.push(h('p', { class: 'uc-accounting' }, text || (r.restoreOf ? 'Nothing to restore: the run changed none of these users.' : 'Nobody was matched: no user was inactive in the selection.')));
  const links = [];
  const show = (outcome, text) => h('button', { type: 'button', class: 'uc-link', dataset: { show: outcome },
    onclick: () => { ctx.selectTab(false); showUsers(r, { offset: 0, outcome }); } }, text);
  if (c.manual > 0) links.push(show('manual', 'Show the users who need manual action'));
  if (c.failed > 0) links.push(show('failed', 'Show the users it failed for'));
  if (links.length) out.push(h('p', { class: 'uc-help' }, links));
  return out;
}

// startRun starts a run of the cleanup and shows its progress; it resolves
// with the finished run (null when it did not start or its progress was
// lost). opts.near is an element (a form's buttons) the progress is shown
// right after, so a run started at the bottom of a form stays in view;
// without it the progress goes to the list above the tabs.
export async function startRun(c, dryRun, opts) {
  let res;
  try {
    res = await api('POST', '/cleanups/' + c.id + '/run', { dryRun });
  } catch (err) {
    flag(dryRun ? 'Dry run not started' : 'Cleanup not started', err.message, 'error');
    return null;
  }
  const id = runID(res);
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'Progress of ' + c.name });
  const text = h('span', { class: 'uc-progress-text' }, 'Starting…');
  const item = h('div', { class: 'uc-progress', tabindex: '-1', dataset: { runId: String(id), status: 'queued' } },
    h('strong', {}, (dryRun ? 'Dry run: ' : 'Cleanup: ') + c.name), bar, text);
  const near = opts && opts.near;
  if (near) {
    let list = near.nextElementSibling;
    if (!list || !list.classList.contains('uc-progress-list')) {
      list = h('div', { class: 'uc-progress-list uc-progress-near', 'aria-live': 'polite' });
      near.after(list);
    }
    list.prepend(item);
  } else {
    $('runs-progress').prepend(item);
  }
  item.scrollIntoView({ block: 'nearest' });
  flag(dryRun ? 'Dry run started' : 'Cleanup started', c.name, 'info');
  return poll(id, item, bar, text, c, dryRun);
}

const num = (n) => Number(n || 0).toLocaleString();

// evaluatedText is the same words during and after a run: how many users
// were evaluated and how many of them matched. While evaluating, the
// total is an estimate from the selected groups' member counts (a user in
// several groups counts once per group), so it says "about".
function evaluatedText(r, done) {
  const pr = r.progress || {};
  const c = counts(r);
  const of = !done && pr.total ? (pr.totalEstimated ? ' of about ' : ' of ') + num(pr.total) : '';
  const n = done ? c.evaluated : pr.evaluated;
  return 'evaluated ' + num(n) + of + (n === 1 && !of ? ' user' : ' users') + ', matched ' + num(c.matched);
}

// finished shows a run's end in its progress item and a flag: why it
// failed, or what it did with a link to the users who need manual action.
function finished(r, item, text, c, dryRun) {
  const status = r.status;
  const go = h('button', { type: 'button', class: 'uc-link', dataset: { results: String(r.id) }, onclick: () => { ctx.selectTab(false); showUsers(r, { offset: 0 }); } }, 'Go to results');
  text.replaceChildren(statusLabel(status) + ' — ' + evaluatedText(r, true) + '. ', go);
  item.append(...runSummary(r, { alert: true }));
  const est = Number(item.dataset.estimate || 0);
  if (est && est !== (counts(r).evaluated || 0)) {
    item.append(h('p', { class: 'uc-help', dataset: { estimateNote: '' } }, 'During the run the total was an estimate (' + num(est) +
      ') from the selected groups\' member counts; a user in several groups is evaluated once, so ' + num(counts(r).evaluated) + ' were evaluated.'));
  }
  if (ctx.schedulesShown()) ctx.loadSchedules();
  const what = (dryRun ? 'Dry run: ' : (c.restore ? 'Restore: ' : 'Cleanup: ')) + statusLabel(status).toLowerCase();
  const body = status === 'failed' ? c.name + ': ' + (r.error || '') : c.name + ': ' + (accounting(r) || 'nobody was matched');
  flag(what, body, status === 'succeeded' ? 'success' : 'error');
}

async function poll(id, item, bar, text, c, dryRun) {
  let failures = 0;
  for (;;) {
    let r;
    try {
      r = await api('GET', '/runs/' + id);
      failures = 0;
    } catch (err) {
      if (++failures >= 5) { text.textContent = 'Progress unavailable: ' + err.message; return null; }
      await sleep(POLL_MS * failures);
      continue;
    }
    const status = r.status || 'running';
    item.dataset.status = status;
    const { done, total } = progress(r);
    const pr = r.progress || {};
    const applying = pr.phase && pr.phase !== 'evaluate' && pr.phase !== 'restore-plan' && pr.rows > 0;
    if (applying) { bar.max = 100; bar.value = pr.percent || 0; }
    else if (total > 0) { bar.max = total; bar.value = Math.min(done, total); }
    else bar.removeAttribute('value');
    if (pr.totalEstimated && pr.total) item.dataset.estimate = String(pr.total);
    if (!ACTIVE_STATUSES.has(status)) {
      bar.max = 1; bar.value = 1;
      finished(r, item, text, c, dryRun);
      return r;
    }
    text.textContent = statusLabel(status) + ' — ' + label('phase', pr.phase || 'evaluate') + ': ' + evaluatedText(r, false) +
      (applying ? ', ' + num(pr.settled) + ' of ' + num(pr.rows) + ' rows done' : '');
    await sleep(POLL_MS);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- history ----
export async function loadHistory(offset) {
  const box = $('history-list');
  $('run-users').hidden = true;
  box.hidden = false;
  stateMessage(box, 'loading', 'Loading history…');
  let data;
  try {
    data = await api('GET', '/runs?page=' + (offset / PAGE_SIZE + 1) + '&perPage=' + PAGE_SIZE);
  } catch (err) {
    stateMessage(box, 'error', 'History could not be loaded. ' + err.message, () => loadHistory(offset));
    return;
  }
  const runs = listOf(data, 'runs');
  if (runs.length === 0 && offset === 0) {
    stateMessage(box, 'empty', 'No cleanups have run yet. Start a dry run from Schedules or Manual cleanup.');
    return;
  }
  box.replaceChildren(
    h('table', { class: 'uc-table', id: 'history-table' },
      h('thead', {}, h('tr', {}, ['Name', 'Started', 'Dry run', 'Status'].map((c) => h('th', { scope: 'col' }, c)),
        ['Evaluated', 'Matched', 'Failed'].map((c) => h('th', { scope: 'col', class: 'uc-num' }, c)), h('th', { scope: 'col' }, 'Actions'))),
      h('tbody', {}, runs.map((r) => {
        const ct = counts(r);
        return h('tr', { dataset: { run: String(r.id), status: r.status } },
          h('td', {}, runName(r)),
          h('td', { class: 'uc-nowrap' }, formatDate(r.startedAt || r.queuedAt)),
          h('td', {}, r.dryRun ? 'Yes' : 'No'),
          h('td', { class: 'uc-run-status' }, h('span', { class: 'uc-lozenge uc-lozenge-' + statusTone(r.status) }, statusLabel(r.status)),
            runSummary(r), followUpNote(r), warningCounts(r)),
          h('td', { class: 'uc-num' }, num(ct.evaluated)),
          h('td', { class: 'uc-num' }, num(ct.matched)),
          h('td', { class: 'uc-num' }, num(ct.failed)),
          h('td', { class: 'uc-row-actions' },
            h('button', { type: 'button', class: 'uc-button uc-button-subtle', dataset: { users: String(r.id) }, onclick: () => showUsers(r, { offset: 0 }) }, 'Show users'),
            h('button', { type: 'button', class: 'uc-button uc-button-default', dataset: { export: String(r.id) }, onclick: () => openExport(r) }, 'Export data'),
            restorable(r) ? h('button', { type: 'button', class: 'uc-button uc-button-warning', dataset: { restore: String(r.id) }, onclick: (e) => restoreRun(e.target, r, []) }, 'Restore access') : null));
      }))),
    pager(offset, runs.length, data, (o) => loadHistory(o)) || '');
}

// runName names a run in History: the cleanup's name, or what a restore
// restores.
function runName(r) {
  const name = r.cleanupName || ('Cleanup ' + (r.cleanupId || ''));
  return r.restoreOf ? 'Restore of run #' + r.restoreOf + ': ' + name : name;
}

// ---- restore ----
// restorable: a finished run, not a dry run nor itself a restore, that
// changed someone (the only runs POST /runs/{id}/restore accepts with
// something to do).
function restorable(r) {
  const c = counts(r);
  return !r.dryRun && !r.restoreOf && !ACTIVE_STATUSES.has(r.status) && r.status !== 'failed' &&
    (c.removedInAtlassian > 0 || c.removedInIdp > 0 || c.deactivated > 0 || c.exportedForIdp > 0);
}

// restorableRow: a row of a run that a restore gives back (the domain's
// RestoreActionOf; the server re-checks every row).
function restorableRow(u) {
  return (['remove-product-access', 'deactivate', 'idp-remove'].includes(u.action) && u.outcome === 'done') ||
    (u.action === 'idp-export' && u.outcome === 'exported');
}

// restoreSummary says what a restore of the run will do, from its counts.
function restoreSummary(r, selected) {
  const c = counts(r);
  const what = [];
  if (c.removedInAtlassian > 0) what.push('re-add ' + c.removedInAtlassian + ' removed group membership' + (c.removedInAtlassian === 1 ? '' : 's') + ' in Atlassian');
  if (c.deactivated > 0) what.push('reactivate ' + c.deactivated + ' deactivated account' + (c.deactivated === 1 ? '' : 's'));
  if (c.removedInIdp > 0) what.push('re-add ' + c.removedInIdp + ' membership' + (c.removedInIdp === 1 ? '' : 's') + ' removed in Microsoft Entra ID');
  if (c.exportedForIdp > 0) what.push('write ' + c.exportedForIdp + ' exported user' + (c.exportedForIdp === 1 ? '' : 's') + ' to the Entra "Bulk add members" file of their group (Export data)');
  const first = selected.length > 0
    ? 'For the ' + selected.length + ' selected user' + (selected.length === 1 ? '' : 's') + ' of this run, it will undo what the run did to them: re-add them to the groups the run removed them from (in Atlassian, or in Microsoft Entra ID), reactivate the accounts it deactivated, and write those it exported to the Entra "Bulk add members" file of their group (Export data).'
    : 'For every user this run changed, it will undo what the run did: ' + (what.join('; ') || 'nothing') + '.';
  return [first,
    'Users removed, deactivated or deleted since by someone else are not restored, and users who already have their access back are left alone; each says so in the restore\'s users.'];
}

// confirmRestore asks before a restore, in the pages' modal (modal.js,
// as an alertdialog): what will happen and to how many users, focus on
// Restore access, Escape or Cancel cancels, the focus returns to the button
// that opened it. It resolves to 'restore', 'dry' or null.
async function confirmRestore(anchor, title, lines) {
  const answer = await openModal({
    id: 'restore-confirm', role: 'alertdialog', opener: anchor, title, body: lines, initial: 'restore',
    buttons: [
      { label: 'Cancel', value: null, tone: 'subtle', id: 'restore-confirm-cancel' },
      { label: 'Dry run first', value: 'dry', tone: 'default', id: 'restore-confirm-dry' },
      { label: 'Restore access', value: 'restore', tone: 'warning', id: 'restore-confirm-yes' },
    ],
  });
  return answer || null;
}

// restoreRun confirms and starts a restore of the run, for the accounts
// given (none: all of the run's users).
async function restoreRun(anchor, r, accountIds) {
  const answer = await confirmRestore(anchor, 'Restore access of ' + runName(r) + ' (run #' + r.id + ')?', restoreSummary(r, accountIds));
  if (!answer) return;
  const dryRun = answer === 'dry';
  let res;
  try {
    res = await api('POST', '/runs/' + r.id + '/restore', { dryRun, accountIds });
  } catch (err) {
    flag(dryRun ? 'Dry run of the restore not started' : 'Restore not started', err.message, 'error');
    return;
  }
  const id = runID(res);
  const name = 'run #' + r.id + ' (' + (r.cleanupName || 'cleanup') + ')' + (accountIds.length ? ', ' + accountIds.length + ' selected user' + (accountIds.length === 1 ? '' : 's') : '');
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'Progress of the restore of ' + name });
  const text = h('span', {}, 'Starting…');
  const item = h('div', { class: 'uc-progress', dataset: { runId: String(id), status: 'queued', restore: String(r.id) } },
    h('strong', {}, (dryRun ? 'Dry run of the restore: ' : 'Restore: ') + name), bar, text);
  $('runs-progress').prepend(item);
  flag(dryRun ? 'Dry run of the restore started' : 'Restore started', name, 'info');
  poll(id, item, bar, text, { name: 'restore of ' + name, restore: true }, dryRun);
}

// followUpNote shows the re-check after the next provisioning cycle:
// when it is due and what it asks, then how many removed users still
// have access.
function followUpNote(r) {
  const f = r.followUp;
  if (!f) return null;
  if (!f.checkedAt) {
    return h('p', { class: 'uc-help', dataset: { followUp: 'pending' } },
      'Follow-up check at ' + formatDate(f.dueAt) + ': are the removed users still in the group after the next provisioning cycle?');
  }
  if (f.error) return h('p', { class: 'uc-help', dataset: { followUp: 'error' } }, 'The follow-up check failed: ' + f.error);
  return h('p', { class: 'uc-help', dataset: { followUp: f.stillPresent > 0 ? 'present' : 'clean' } },
    f.stillPresent > 0 ? 'Follow-up check: ' + f.stillPresent + ' of ' + f.checked + ' removed users still have access' : 'Follow-up check: every removed user is out of the group');
}

// outcomeLabel words a row's outcome; "done" says what was done
// ("Removed", "Deactivated").
function outcomeLabel(u) {
  return u.outcome === 'done' && u.action ? label('doneAction', u.action) : label('outcome', u.outcome);
}

function outcomeTone(o) {
  if (o === 'failed') return 'removed';
  if (o === 'manual') return 'moved';
  if (o === 'done' || o === 'exported') return 'success';
  return 'default';
}

function statusTone(s) {
  if (s === 'failed' || s === 'partially_failed') return 'removed';
  if (s === 'succeeded') return 'success';
  if (ACTIVE_STATUSES.has(s)) return 'inprogress';
  return 'default';
}

function pager(offset, n, data, go) {
  const total = data && typeof data.total === 'number' ? data.total : null;
  const more = data && data.hasMore !== undefined ? !!data.hasMore : (total !== null ? offset + n < total : n === PAGE_SIZE);
  if (offset === 0 && !more) return null;
  return h('nav', { class: 'uc-pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', class: 'uc-button uc-button-subtle', disabled: offset === 0, onclick: () => go(Math.max(0, offset - PAGE_SIZE)) }, 'Previous'),
    h('span', {}, (offset + 1) + '–' + (offset + n) + (total !== null ? ' of ' + total : '')),
    h('button', { type: 'button', class: 'uc-button uc-button-subtle', disabled: !more, onclick: () => go(offset + PAGE_SIZE) }, 'Next'));
}

// openExport opens the Export data dialog; the dialog may close with
// {showUsers: {outcome}} to show exactly those users of the run here.
function openExport(r) {
  try {
    AP.dialog.create({ key: 'export-data', size: 'large', chrome: false, customData: { runId: r.id } })
      .on('close', (data) => {
        if (data && data.showUsers) {
          ctx.selectTab(false);
          showUsers(r, { offset: 0, outcome: data.showUsers.outcome || '' });
          return;
        }
        const b = document.querySelector('[data-export="' + r.id + '"]');
        if (b) b.focus();
      });
  } catch (err) {
    flag('Export data is not available', 'The product could not open the dialog: ' + err.message, 'error');
  }
}

// reasonList shows a run's rows of an outcome grouped by reason: how many
// users each reason concerns.
function reasonList(title, reasons, tone, outcome) {
  if (!reasons || reasons.length === 0) return '';
  return h('div', { class: 'uc-message uc-message-' + tone, dataset: { reasons: outcome } },
    h('p', {}, h('strong', {}, title)),
    h('ul', {}, reasons.map((x) => h('li', {}, x.users + (x.users === 1 ? ' user: ' : ' users: ') + x.reason))));
}

// runHeader says how the run ended, above its users: why it failed, or
// what it did, with the failures and the manual actions by reason.
async function runHeader(r) {
  let run = r;
  try { run = await api('GET', '/runs/' + r.id); } catch (_) { /* the list's copy will do */ }
  const box = h('div', { class: 'uc-run-header', dataset: { status: run.status } },
    h('p', {}, h('span', { class: 'uc-lozenge uc-lozenge-' + statusTone(run.status) }, statusLabel(run.status)), ' ', accounting(run)));
  if (run.status === 'failed') box.append(h('p', { class: 'uc-message uc-message-error', role: 'alert' }, 'This run failed, so it changed nobody: ' + (run.error || 'the app\'s log has the details.')));
  box.append(reasonList('Why the run failed for some users', run.failures, 'error', 'failed'),
    reasonList('Why some users need manual action', run.needsManual, 'warning', 'manual'));
  return { box, run };
}

// selection holds the users ticked in Show users for a restore, across
// pages, for one run at a time.
let selection = null;
function selectedLabel() {
  const n = selection ? selection.ids.size : 0;
  return 'Restore access for ' + n + ' selected user' + (n === 1 ? '' : 's');
}

async function showUsers(r, f) {
  const box = $('run-users');
  $('history-list').hidden = true;
  box.hidden = false;
  const q = new URLSearchParams({ page: String((f.offset || 0) / PAGE_SIZE + 1), perPage: String(PAGE_SIZE) });
  if (f.outcome) q.set('outcome', f.outcome);
  if (f.group) q.set('group', f.group);
  if (f.email) q.set('email', f.email);
  const back = h('button', { type: 'button', class: 'uc-button uc-button-subtle', id: 'users-back', onclick: () => { box.hidden = true; $('history-list').hidden = false; } }, '← Back to History');
  const outcome = h('select', { id: 'filter-outcome' }, h('option', { value: '' }, 'All outcomes'), OUTCOMES.map((o) => h('option', { value: o, selected: f.outcome === o }, label('outcome', o))));
  const group = h('select', { id: 'filter-group' }, h('option', { value: '' }, 'All groups'), ctx.groups().map((g) => h('option', { value: g.id, selected: f.group === g.id }, g.name)));
  const email = h('select', { id: 'filter-email' }, h('option', { value: '' }, 'Any'),
    EMAIL_OUTCOMES.map((k) => h('option', { value: k, selected: f.email === k }, label('emailStatus', k))));
  const filters = h('form', { class: 'uc-filters', onsubmit: (e) => { e.preventDefault(); showUsers(r, { offset: 0, outcome: outcome.value, group: group.value, email: email.value }); } },
    h('div', { class: 'uc-field' }, h('label', { for: 'filter-outcome' }, 'Outcome'), outcome),
    h('div', { class: 'uc-field' }, h('label', { for: 'filter-group' }, 'Group'), group),
    h('div', { class: 'uc-field' }, h('label', { for: 'filter-email' }, 'Warning e-mail'), email),
    h('button', { type: 'submit', class: 'uc-button uc-button-default' }, 'Filter'));
  const results = h('div', { id: 'users-results' });
  const header = h('div', { id: 'run-header' });
  const canRestore = restorable(r);
  if (!selection || selection.run !== r.id) selection = { run: r.id, ids: new Set() };
  const restoreSelected = h('button', { type: 'button', class: 'uc-button uc-button-warning', id: 'restore-selected', hidden: !canRestore, disabled: selection.ids.size === 0,
    onclick: (e) => restoreRun(e.target, r, [...selection.ids].sort()) }, selectedLabel());
  box.replaceChildren(back, h('h2', {}, 'Users of ' + runName(r) + (r.dryRun ? ' (dry run)' : '')), header, filters,
    canRestore ? h('p', { class: 'uc-actions' }, restoreSelected, ' ', h('span', { class: 'uc-help' }, 'Tick users below to restore only them; "Restore access" in History restores the whole run.')) : '', results);
  back.focus();
  stateMessage(results, 'loading', 'Loading users…');
  let data;
  let run;
  try {
    const [d, hd] = await Promise.all([api('GET', '/runs/' + r.id + '/users?' + q.toString()), runHeader(r)]);
    data = d;
    run = hd.run;
    header.replaceWith(hd.box);
    hd.box.id = 'run-header';
  } catch (err) {
    stateMessage(results, 'error', 'Users could not be loaded. ' + err.message, () => showUsers(r, f));
    return;
  }
  const users = listOf(data, 'users');
  if (users.length === 0) {
    let empty = 'This cleanup matched no users: nobody in the selection was inactive.';
    if (f.outcome || f.group || f.email) empty = 'No users match these filters.';
    else if (run.status === 'failed') empty = 'The run failed before it matched any users.';
    stateMessage(results, 'empty', empty);
    return;
  }
  const tick = (u) => {
    if (!canRestore) return null;
    if (!restorableRow(u)) return h('td', {});
    const who = u.name || u.email || u.accountId;
    return h('td', {}, h('input', { type: 'checkbox', class: 'uc-select', dataset: { account: u.accountId }, checked: selection.ids.has(u.accountId),
      'aria-label': 'Select ' + who + ' to restore',
      onchange: (e) => {
        if (e.target.checked) selection.ids.add(u.accountId); else selection.ids.delete(u.accountId);
        document.querySelectorAll('input.uc-select[data-account="' + CSS.escape(u.accountId) + '"]').forEach((x) => { x.checked = e.target.checked; });
        restoreSelected.textContent = selectedLabel();
        restoreSelected.disabled = selection.ids.size === 0;
      } }));
  };
  results.replaceChildren(
    h('table', { class: 'uc-table', id: 'users-table' },
      h('thead', {}, h('tr', {}, (canRestore ? ['Restore'] : []).concat(['User', 'E-mail', 'Group', 'Reason', 'Action', 'Outcome']).map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, users.map((u) => h('tr', { dataset: { outcome: u.outcome, account: u.accountId } },
        tick(u),
        h('td', {}, u.name || u.displayName || copyableID(u.accountId, 'account ID')),
        h('td', {}, u.email || ''),
        h('td', {}, (u.groupName || '') + (u.groupSynced ? ' (synced)' : '')),
        h('td', {}, u.reason || ''),
        h('td', {}, label('action', u.action)),
        h('td', {}, h('span', { class: 'uc-lozenge uc-lozenge-' + outcomeTone(u.outcome) }, outcomeLabel(u)), u.message ? ' ' + u.message : '',
          u.warning ? h('p', { class: 'uc-help' }, 'Warned ' + formatDate(u.warning.warnedAt) + ', removal ' + formatDate(u.warning.removalDate) +
            ', e-mail ' + label('emailStatus', u.warning.emailStatus).toLowerCase() + (u.warning.emailMessage ? ': ' + u.warning.emailMessage : '') +
            (u.warning.state === 'cancelled' ? '. Warning ' + label('warningState', 'cancelled').toLowerCase() + (u.warning.message ? ' (' + u.warning.message + ')' : '') : '')) : null))))),
    pager(f.offset || 0, users.length, data, (o) => showUsers(r, Object.assign({}, f, { offset: o }))) || '');
}
