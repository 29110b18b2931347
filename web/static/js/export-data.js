// "Export data" dialog (AP.dialog.create({key: 'export-data', customData:
// {runId}})): lists the run's identity-provider exports (one Entra "Bulk
// remove members" CSV per group, and all of them as a ZIP) and the audit
// exports (CSV, JSON). Links are the API's short-lived download URLs from
// GET /api/runs/{id}/exports.
import { api, h, listOf, stateMessage } from './api.js';

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
function render(data) {
  const files = listOf(data.identityProvider);
  const audit = listOf(data.audit);
  const sections = [];
  if (data.dryRun) sections.push(h('p', { class: 'uc-message uc-message-warning', role: 'note' }, 'This was a dry run: nothing was changed. The files show what the cleanup would do.'));
  const idpSection = h('section', { 'aria-labelledby': 'idp-heading' }, h('h2', { id: 'idp-heading' }, 'Identity provider exports'));
  if (files.length === 0) {
    idpSection.append(h('p', { class: 'uc-empty', id: 'no-idp' }, 'This cleanup did not affect any users in identity-provider groups.'));
  } else {
    idpSection.id = 'idp-exports';
    idpSection.append(
      h('p', { class: 'uc-subtle' }, 'One Microsoft Entra "Bulk remove members" file per group. In the Microsoft Entra admin center open the group → Members → Bulk operations → Remove members, and upload its file.'),
      h('table', { class: 'uc-table' },
        h('thead', {}, h('tr', {}, ['Group', 'Users', 'File'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, files.map((f) => h('tr', { dataset: { group: f.groupName || '' } },
          h('td', {}, groupLabel(f)),
          h('td', { class: 'uc-num' }, String(f.rows)),
          h('td', {}, link(f.downloadUrl, f.fileName, 'for ' + groupLabel(f))))))),
      data.bundle ? h('p', {}, link(data.bundle.downloadUrl, 'Download all (ZIP)')) : null);
  }
  sections.push(idpSection);
  const auditSection = h('section', { 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading' }, 'Audit exports'),
    h('p', { class: 'uc-subtle' }, 'Every affected user with the reason, the action and its outcome.'));
  const csv = audit.find((f) => f.kind === 'audit-csv');
  const json = audit.find((f) => f.kind === 'audit-json');
  if (csv || json) auditSection.append(h('p', { class: 'uc-actions' }, csv ? link(csv.downloadUrl, 'Audit log (CSV)') : null, json ? link(json.downloadUrl, 'Audit log (JSON)') : null));
  else auditSection.append(h('p', { class: 'uc-empty' }, 'No audit export is available for this run.'));
  sections.push(auditSection);
  if (data.linksExpireAt) sections.push(h('p', { class: 'uc-help' }, 'The links work until ' + new Date(data.linksExpireAt).toLocaleTimeString() + '. Reopen this dialog for new ones.'));
  box.replaceChildren(...sections);
}

async function load(runId) {
  stateMessage(box, 'loading', 'Preparing the exports…');
  try {
    const data = (await api('GET', '/runs/' + encodeURIComponent(runId) + '/exports')) || {};
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
