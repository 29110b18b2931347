// "Export data" dialog (AP.dialog.create({key: 'export-data', customData:
// {runId}})): lists the run's identity-provider exports (one Entra "Bulk
// remove members" CSV per group, and all of them as a ZIP) and the audit
// exports (CSV, JSON). Links are the API's short-lived download URLs from
// GET /api/runs/{id}/exports, which also says how the run ended: a failed
// run says why it has no files, and every user the run matched is
// accounted for ("32 exported, 2 need manual action"), with a link that
// closes the dialog on exactly those users (AP.dialog.close({showUsers})).
// A restore's files are Entra "Bulk add members" files (kind entra-add):
// the users to add back to each group.
import { api, h, listOf, stateMessage, formatDate } from './api.js';
import { loadLabels, label, countText } from './labels.js';

const box = document.getElementById('exports');
const PENDING_POLL_MS = 2000;

function link(url, label, extra) {
  return h('a', { href: url, class: 'uc-button uc-button-default uc-download', download: '', rel: 'noopener' }, label, extra ? h('span', { class: 'uc-visually-hidden' }, ' ' + extra) : null);
}

function groupLabel(f) {
  const name = f.groupName || f.idpGroup || f.groupId || '';
  return f.parts > 1 ? name + ' (part ' + f.part + ' of ' + f.parts + ')' : name;
}

// render shows the listing of GET /api/runs/{id}/exports:
// {runId, identityProvider: [file], audit: [file], bundle: file|null,
//  dryRun, pending, linksExpireAt}; file: {kind, groupName, idpGroup,
//  rows, part, parts, fileName, downloadUrl, ...}.
// showUsers closes the dialog on the run's users of the outcome (History →
// Show users, filtered).
function showUsers(outcome) {
  if (window.AP && AP.dialog) AP.dialog.close({ showUsers: { outcome } });
}

// runAccount says how the run ended: why it failed, or what happened to
// every user it matched, with a link to those who need manual action.
function runAccount(run) {
  if (!run) return null;
  if (run.status === 'failed') {
    return h('p', { class: 'uc-message uc-message-error', role: 'alert', id: 'run-failed' },
      h('strong', {}, label('runStatus', run.status) + ': '), 'this run has no files, because it did not finish. ' + (run.error || ''));
  }
  const c = run.counts || {};
  const parts = ['exportedForIdp', 'removedInAtlassian', 'removedInIdp', 'deactivated', 'reviewed', 'restored', 'hasAccess', 'notRestored', 'manual', 'failed']
    .filter((k) => c[k] > 0).map((k) => countText(c[k], k));
  const box = h('div', { class: 'uc-message uc-message-' + (c.manual > 0 || c.failed > 0 ? 'warning' : 'info'), id: 'run-account', role: 'note' },
    h('p', {}, h('strong', {}, label('runStatus', run.status) + ': '), parts.length ? parts.join(', ') + '.' : 'nobody was matched.'));
  if (c.manual > 0) {
    box.append(h('ul', {}, (run.needsManual || []).map((x) => h('li', {}, x.users + (x.users === 1 ? ' user: ' : ' users: ') + x.reason))),
      h('p', {}, h('button', { type: 'button', class: 'uc-link', id: 'show-manual', onclick: () => showUsers('manual') }, 'Show the users who need manual action')));
  }
  return box;
}

// title names the run in the dialog's heading: "Export data: Leavers"
// and below it "Dry run of 3 Dec 2026, 09:41".
function title(data) {
  const run = data.run;
  if (!run) return;
  const when = formatDate(run.startedAt || run.queuedAt);
  document.getElementById('export-heading').textContent = 'Export data: ' + (run.cleanupName || 'run ' + run.id);
  document.getElementById('export-run').textContent = (data.dryRun ? 'Dry run of ' : 'Run of ') + when +
    (data.dryRun ? ': nothing was changed' : '') + ' · ' + label('runStatus', run.status) + ' · ';
}

function render(data) {
  title(data);
  const files = listOf(data.identityProvider);
  const audit = listOf(data.audit);
  const sections = [];
  if (data.dryRun) sections.push(h('p', { class: 'uc-message uc-message-warning', role: 'note' }, 'This was a dry run: nothing was changed. The files show what the ' + (data.run && data.run.restoreOf ? 'restore' : 'cleanup') + ' would do.'));
  const account = runAccount(data.run);
  if (account) sections.push(account);
  const failed = data.run && data.run.status === 'failed';
  const restore = !!(data.run && data.run.restoreOf);
  const idpSection = h('section', { 'aria-labelledby': 'idp-heading' }, h('h2', { id: 'idp-heading' }, 'Identity provider exports'));
  if (failed) {
    idpSection.append(h('p', { class: 'uc-empty', id: 'no-idp' }, 'None: the run failed before it wrote any file.'));
  } else if (files.length === 0) {
    idpSection.append(h('p', { class: 'uc-empty', id: 'no-idp' }, restore ? 'This restore has no users to add back in identity-provider groups.' : 'This cleanup did not affect any users in identity-provider groups.'));
  } else {
    idpSection.id = 'idp-exports';
    idpSection.append(
      restore
        ? h('p', { class: 'uc-subtle', id: 'idp-add-help' }, 'One Microsoft Entra "Bulk add members" file per group: the users this restore gives their access back to. In the Microsoft Entra admin center open the group → Members → Bulk operations → Import members, and upload its file (Entra may ask for at least two users per file).')
        : h('p', { class: 'uc-subtle' }, 'One Microsoft Entra "Bulk remove members" file per group. In the Microsoft Entra admin center open the group → Members → Bulk operations → Remove members, and upload its file.'),
      h('table', { class: 'uc-table uc-files' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Group'), h('th', { scope: 'col', class: 'uc-num' }, 'Users'), h('th', { scope: 'col' }, 'File'))),
        h('tbody', {}, files.map((f) => h('tr', { dataset: { group: f.groupName || '' } },
          h('td', {}, groupLabel(f)),
          h('td', { class: 'uc-num' }, String(f.rows)),
          h('td', {}, link(f.downloadUrl, f.fileName, 'for ' + groupLabel(f))))))),
      data.bundle ? h('p', {}, link(data.bundle.downloadUrl, 'Download all (ZIP)'), ' ', h('span', { class: 'uc-help' }, 'with a README that lists every group\'s file and the users who need manual action')) : null);
  }
  sections.push(idpSection);
  const auditSection = h('section', { 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading' }, 'Audit exports'),
    h('p', { class: 'uc-subtle' }, 'Every affected user with the reason, the action and its outcome.'));
  const csv = audit.find((f) => f.kind === 'audit-csv');
  const json = audit.find((f) => f.kind === 'audit-json');
  if (csv || json) auditSection.append(h('p', { class: 'uc-actions' }, csv ? link(csv.downloadUrl, label('exportKind', 'audit-csv')) : null, json ? link(json.downloadUrl, label('exportKind', 'audit-json')) : null));
  else auditSection.append(h('p', { class: 'uc-empty' }, failed ? 'None: the run failed before it wrote any file.' : 'No audit export is available for this run.'));
  sections.push(auditSection);
  if (data.linksExpireAt) sections.push(h('p', { class: 'uc-help' }, 'The links work until ' + new Date(data.linksExpireAt).toLocaleTimeString() + '. Reopen this dialog for new ones.'));
  box.replaceChildren(...sections);
}

async function load(runId) {
  stateMessage(box, 'loading', 'Preparing the exports…');
  try {
    const [data] = await Promise.all([api('GET', '/runs/' + encodeURIComponent(runId) + '/exports').then((d) => d || {}), loadLabels()]);
    if (data.pending) {
      stateMessage(box, 'loading', 'The cleanup is still running; its exports appear when it has finished…');
      setTimeout(() => load(runId), PENDING_POLL_MS);
      return;
    }
    render(data);
  } catch (err) {
    stateMessage(box, 'error', 'The exports could not be loaded. ' + err.message, () => load(runId));
  }
}

document.getElementById('close-dialog').addEventListener('click', () => {
  if (window.AP && AP.dialog) AP.dialog.close();
});

function start() {
  if (!window.AP || !AP.dialog) {
    stateMessage(box, 'error', 'The page could not connect to the product. Close the dialog and try again.');
    return;
  }
  let answered = false;
  const timer = setTimeout(() => { if (!answered) stateMessage(box, 'error', 'The product did not say which run to export. Close the dialog and try again.'); }, 10000);
  const got = (data) => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    const runId = data && data.runId;
    if (runId === undefined || runId === null || runId === '') {
      stateMessage(box, 'error', 'No run was chosen. Open this dialog from History → Export data.');
      return;
    }
    load(runId);
  };
  const p = AP.dialog.getCustomData(got);
  if (p && typeof p.then === 'function') p.then(got, () => got(null));
}
start();
