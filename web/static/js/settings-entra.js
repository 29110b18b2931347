// Microsoft Entra ID part of the settings page: the connection test of the
// values as typed (POST /api/settings/test-entra) and the group mapping of
// every group synced from Entra ID (GET /api/entra/mapping), whose targets
// are saved with the settings as identityProvider.groupMappings.
import { api, h, formatDate, copyableID } from './api.js';
import { label } from './labels.js';
import { markClean } from './sections.js';

const $ = (id) => document.getElementById(id);

const STATUS_TONE = { found: 'uc-lozenge-success', unverified: '' };

let settings = null;
let report = null; // last GET /entra/mapping
let onSettings = () => {}; // tells the page of settings a stored test recorded

function connectionText(entra) {
  if (!entra.tenantId || !entra.clientId || !entra.clientSecretSet) return ['', ''];
  if (entra.clientSecretVerifiedAt) return ['Verified ' + formatDate(entra.clientSecretVerifiedAt), 'uc-result-ok'];
  if (entra.lastTestMessage) return ['Last test failed: ' + entra.lastTestMessage, 'uc-result-error'];
  return ['Not tested yet', ''];
}

function renderMapping() {
  const box = $('entra-mapping');
  if (!report) {
    box.replaceChildren();
    return;
  }
  if (report.groups.length === 0) {
    box.replaceChildren(h('p', { class: 'uc-empty' }, 'No group is synced from the identity provider.'));
    return;
  }
  const mappings = (settings && settings.identityProvider.groupMappings) || {};
  const rows = report.groups.map((g) => {
    const cls = g.status in STATUS_TONE ? STATUS_TONE[g.status] : 'uc-lozenge-removed';
    const inputID = 'entra-map-' + g.groupId;
    return h('tr', { dataset: { group: g.groupId, status: g.status } },
      h('td', {}, g.groupName),
      h('td', {},
        h('label', { for: inputID, class: 'uc-visually-hidden' }, 'Microsoft Entra ID group for ' + g.groupName),
        h('input', { id: inputID, class: 'uc-entra-map', value: mappings[g.groupId] || '', placeholder: g.groupName,
          spellcheck: 'false', autocomplete: 'off', dataset: { groupId: g.groupId } })),
      h('td', {}, h('span', { class: 'uc-lozenge ' + cls }, label('mappingStatus', g.status)),
        g.entraGroupId ? h('p', { class: 'uc-help' }, 'Object ID ', copyableID(g.entraGroupId, 'object ID of ' + g.groupName)) : null,
        g.reason ? h('p', { class: 'uc-help' }, g.reason) : null));
  });
  box.replaceChildren(h('table', { class: 'uc-table' },
    h('caption', { class: 'uc-visually-hidden' }, 'Microsoft Entra ID group mapping'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Synced group'), h('th', { scope: 'col' }, 'Entra group (object ID or name)'), h('th', { scope: 'col' }, 'Check'))),
    h('tbody', {}, rows)));
  markClean(box); // the stored mappings, drawn after the section was filled
}

async function loadMapping() {
  const status = $('entra-mapping-status');
  const button = $('check-entra-mapping');
  const box = $('entra-mapping');
  button.disabled = true;
  box.setAttribute('aria-busy', 'true'); // its rows are replaced when the check ends
  status.textContent = 'Checking the mapping…';
  try {
    report = await api('GET', '/entra/mapping');
    status.textContent = report.connected ? 'Checked ' + formatDate(report.checkedAt) : 'Not checked: no Microsoft Entra ID connection.';
  } catch (err) {
    report = null;
    status.textContent = 'The mapping could not be checked: ' + err.message;
  } finally {
    button.disabled = false;
  }
  renderMapping();
  box.setAttribute('aria-busy', 'false');
}

// fillEntra shows the connection state of the loaded or saved settings.
export function fillEntra(s) {
  settings = s;
  const idp = s.identityProvider || {};
  const [text, cls] = connectionText(idp.entra || {});
  $('entra-test-result').className = cls;
  $('entra-test-result').textContent = text;
  if (idp.provider === 'entra') loadMapping();
  else {
    report = null;
    renderMapping();
  }
}

// collectMappings returns groupMappings for PATCH /api/settings: the table's
// entries (empty or the group's own name means the default) over the
// stored ones.
export function collectMappings(s) {
  const out = Object.assign({}, (s.identityProvider || {}).groupMappings || {});
  for (const el of document.querySelectorAll('.uc-entra-map')) {
    const v = el.value.trim();
    if (v === '' || v === el.placeholder) delete out[el.dataset.groupId];
    else out[el.dataset.groupId] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

// initEntra wires the page: onSettings receives the settings a test of the
// stored connection recorded (they have a new version).
export function initEntra(opts) {
  onSettings = opts.onSettings || onSettings;
}

// entraTestInput returns what to test when the typed connection differs
// from the stored one (a secret typed, or another directory or
// application), null when nothing new is typed or nothing can be tested.
export function entraTestInput(s) {
  const entra = (s.identityProvider || {}).entra || {};
  const body = { tenantId: $('entraTenantId').value.trim(), clientId: $('entraClientId').value.trim() };
  const secret = $('entraClientSecret').value;
  if (secret !== '') body.clientSecret = secret;
  const changed = secret !== '' || body.tenantId !== (entra.tenantId || '') || body.clientId !== (entra.clientId || '');
  if (!changed || !body.tenantId || !body.clientId || (secret === '' && !entra.clientSecretSet)) return null;
  return body;
}

$('check-entra-mapping').addEventListener('click', loadMapping);

// Test connection tests the registration as typed (the stored secret when
// none is typed); nothing is saved by the test. A test of the stored
// registration records its verdict.
$('test-entra').addEventListener('click', async () => {
  const out = $('entra-test-result');
  const button = $('test-entra');
  const body = { tenantId: $('entraTenantId').value.trim(), clientId: $('entraClientId').value.trim() };
  if ($('entraClientSecret').value !== '') body.clientSecret = $('entraClientSecret').value;
  button.disabled = true;
  out.className = '';
  out.textContent = 'Testing the Microsoft Entra ID connection…';
  try {
    const res = await api('POST', '/settings/test-entra', body);
    if (!res.typed) {
      settings = res.settings;
      onSettings(res.settings);
    }
    out.className = res.ok ? 'uc-result-ok' : 'uc-result-error';
    if (!res.ok) out.textContent = 'Connection failed: ' + res.message;
    else out.textContent = res.typed ? 'Connected to Microsoft Entra ID with the values as typed. Save to keep them.' : 'Connected to Microsoft Entra ID.';
    if (res.ok && !res.typed) loadMapping();
  } catch (err) {
    out.className = 'uc-result-error';
    out.textContent = 'The connection could not be tested: ' + err.message;
  } finally {
    button.disabled = false;
  }
});
