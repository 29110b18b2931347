// "Export data" dialog (AP.dialog.create({key: 'export-data', customData:
// {runId}})): lists the run's identity-provider exports (one Entra "Bulk
// remove members" CSV per group, and all of them as a ZIP) and the audit
// exports (CSV, JSON). Links are the API's short-lived download URLs from
// GET /api/runs/{id}/exports.
import { api, h, listOf, stateMessage } from './api.js';

const box = document.getElementById('exports');

function link(url, label, extra) {
  return h('a', { href: url, class: 'uc-button uc-button-default uc-download', download: '', rel: 'noopener' }, label, extra ? h('span', { class: 'uc-visually-hidden' }, ' ' + extra) : null);
}

function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

function render(run, data) {
  const idp = data.identityProvider || data.idp || {};
  const files = listOf(idp.files || data.idpFiles || [], 'files');
  const zip = idp.zipUrl || idp.downloadUrl || (idp.zip && idp.zip.downloadUrl) || null;
  const audit = data.audit || {};
  const csv = audit.csvUrl || (audit.csv && audit.csv.downloadUrl) || null;
  const json = audit.jsonUrl || (audit.json && audit.json.downloadUrl) || null;

  const sections = [];
  const idpSection = h('section', { id: 'idp-exports', 'aria-labelledby': 'idp-heading' }, h('h2', { id: 'idp-heading' }, 'Identity provider exports'));
  if (files.length === 0) {
    idpSection.append(h('p', { class: 'uc-empty', id: 'no-idp' }, 'This cleanup did not affect any users in identity-provider groups.'));
    idpSection.removeAttribute('id');
  } else {
    idpSection.append(
      h('p', { class: 'uc-subtle' }, 'Upload each file in Microsoft Entra admin center → Groups → the group → Members → Bulk operations → Remove members.'),
      h('table', { class: 'uc-table' },
        h('thead', {}, h('tr', {}, ['Group', 'Users', 'File'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, files.map((f) => h('tr', { dataset: { group: f.group || f.groupName || '' } },
          h('td', {}, f.group || f.groupName || f.idpGroup || ''),
          h('td', { class: 'uc-num' }, String(f.rows !== undefined ? f.rows : (f.users || 0))),
          h('td', {}, link(f.downloadUrl || f.url, f.fileName || f.name || 'Download', 'for ' + (f.group || f.groupName || ''))))))),
      zip ? h('p', {}, link(zip, 'Download all (ZIP)')) : null);
  }
  sections.push(idpSection);
  const auditSection = h('section', { 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading' }, 'Audit exports'),
    h('p', { class: 'uc-subtle' }, 'Every affected user with the reason, action and outcome' + (run && run.dryRun ? ' (dry run: nothing was changed).' : '.')));
  if (csv || json) auditSection.append(h('p', { class: 'uc-actions' }, csv ? link(csv, 'Audit log (CSV)') : null, json ? link(json, 'Audit log (JSON)') : null));
  else auditSection.append(h('p', { class: 'uc-empty' }, 'No audit export is available for this run.'));
  sections.push(auditSection);
  if (data.expiresAt) sections.push(h('p', { class: 'uc-help' }, 'Links expire ' + new Date(data.expiresAt).toLocaleTimeString() + '. Reopen this dialog for new ones.'));
  box.replaceChildren(...sections);
}

async function load(runId) {
  stateMessage(box, 'loading', 'Preparing the exports…');
  try {
    const [data, run] = await Promise.all([api('GET', '/runs/' + encodeURIComponent(runId) + '/exports'), api('GET', '/runs/' + encodeURIComponent(runId)).catch(() => null)]);
    render(run, data || {});
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
