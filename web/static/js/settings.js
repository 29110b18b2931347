// Settings page: loads GET /api/settings and GET /api/groups, saves with
// PUT /api/settings (all fields at once: the server saves everything or
// nothing), and tests the organization connection.
import { api, ApiError, h, listOf, flag, clearErrors, showErrors, splitList, stateMessage, formatDate, capabilities } from './api.js';
import { fillEntra, collectMappings } from './settings-entra.js';

const form = document.getElementById('settings-form');
const state = document.getElementById('settings-state');
const $ = (id) => document.getElementById(id);

let current = null; // settings as last loaded or saved
let groups = [];

const SOURCE_LABEL = {
  detected: 'Synced (detected)',
  admin: 'Synced (set by admin)',
  provisioning: 'Synced (via provisioning)',
};

function syncLozenge(g) {
  if (g.synced) return h('span', { class: 'uc-lozenge uc-lozenge-info', dataset: { source: g.source } }, SOURCE_LABEL[g.source] || 'Synced');
  const text = g.source === 'admin' ? 'Not synced (set by admin)' : 'Not synced';
  return h('span', { class: 'uc-lozenge', dataset: { source: g.source || 'none' } }, text);
}

function overrideValue(s, id) {
  const o = (s.identityProvider.groupOverrides || {})[id];
  return o === true ? 'synced' : o === false ? 'not-synced' : 'auto';
}

function products() {
  const byKey = new Map();
  for (const g of groups) {
    for (const p of g.products || []) {
      if (!byKey.has(p.key)) byKey.set(p.key, { key: p.key, name: p.name || p.key, groups: [] });
      byKey.get(p.key).groups.push(g);
    }
  }
  for (const key of Object.keys(current.identityProvider.provisioningEnabled || {})) {
    if (!byKey.has(key)) byKey.set(key, { key, name: key, groups: [] });
  }
  return [...byKey.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function renderProducts() {
  const box = $('products');
  const list = products();
  if (list.length === 0) {
    box.replaceChildren(h('p', { class: 'uc-empty' }, 'No licensing groups found. Check the organization settings above, then reload.'));
    return;
  }
  const enabled = current.identityProvider.provisioningEnabled || {};
  box.replaceChildren(...list.map((p) => {
    const toggleID = 'prov-' + p.key;
    const rows = p.groups.map((g) => {
      const selID = 'override-' + g.id;
      return h('tr', { dataset: { group: g.id } },
        h('td', {}, g.name),
        h('td', { class: 'uc-num' }, g.memberCount >= 0 ? String(g.memberCount) : '—'),
        h('td', {}, syncLozenge(g)),
        h('td', {},
          h('label', { for: selID, class: 'uc-visually-hidden' }, 'Synced setting for ' + g.name),
          h('select', { id: selID, class: 'uc-override', dataset: { groupId: g.id, field: 'identityProvider.groupOverrides' } },
            h('option', { value: 'auto', selected: overrideValue(current, g.id) === 'auto' }, 'Automatic'),
            h('option', { value: 'synced', selected: overrideValue(current, g.id) === 'synced' }, 'Synced from the identity provider'),
            h('option', { value: 'not-synced', selected: overrideValue(current, g.id) === 'not-synced' }, 'Not synced'))));
    });
    return h('div', { class: 'uc-product', dataset: { product: p.key } },
      h('div', { class: 'uc-product-head' },
        h('h4', {}, p.name),
        h('div', { class: 'uc-toggle' },
          h('input', { type: 'checkbox', role: 'switch', id: toggleID, class: 'uc-prov', dataset: { product: p.key }, checked: !!enabled[p.key] }),
          h('label', { for: toggleID }, 'Is user provisioning enabled?', h('span', { class: 'uc-visually-hidden' }, ' (' + p.name + ')')))),
      rows.length
        ? h('table', { class: 'uc-table' },
          h('caption', { class: 'uc-visually-hidden' }, 'Licensing groups of ' + p.name),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Licensing group'), h('th', { scope: 'col', class: 'uc-num' }, 'Members'), h('th', { scope: 'col' }, 'Synced'), h('th', { scope: 'col' }, 'Override'))),
          h('tbody', {}, rows))
        : h('p', { class: 'uc-empty' }, 'No licensing groups grant this product.'));
  }));
}

// renderDeclaredLicensing fills the Confluence-only list of groups that
// grant the product (settings.licensingGroups.confluence).
function renderDeclaredLicensing() {
  const box = $('declared-licensing-groups');
  if (!box) return;
  const chosen = new Set(((current.licensingGroups || {}).confluence) || []);
  if (groups.length === 0) {
    box.replaceChildren(h('p', { class: 'uc-empty' }, 'No groups found.'));
    return;
  }
  box.replaceChildren(...groups.map((g) => {
    const id = 'lg-' + g.id;
    return h('div', { class: 'uc-check' },
      h('input', { type: 'checkbox', id, value: g.id, checked: chosen.has(g.id) }),
      h('label', { for: id }, g.name));
  }));
}

function renderExceptionGroups() {
  const box = $('exception-groups');
  const chosen = new Set(current.exceptions.groupIds || []);
  if (groups.length === 0) {
    box.replaceChildren(h('p', { class: 'uc-empty' }, 'No groups found.'));
    return;
  }
  box.replaceChildren(...groups.map((g) => {
    const id = 'exc-group-' + g.id;
    return h('div', { class: 'uc-check' },
      h('input', { type: 'checkbox', id, value: g.id, checked: chosen.has(g.id) }),
      h('label', { for: id }, g.name));
  }));
}

function fill(s) {
  current = s;
  $('orgId').value = s.orgId || '';
  $('apiKey').value = '';
  $('apiKey').placeholder = s.apiKeySet ? '•••••••• (stored)' : '';
  $('apiKey-remove-row').hidden = !s.apiKeySet;
  $('apiKeyRemove').checked = false;
  $('test-result').textContent = s.apiKeyVerifiedAt ? 'Last verified ' + formatDate(s.apiKeyVerifiedAt) : '';
  $('companyDomains').value = (s.companyDomains || []).join('\n');
  const idp = s.identityProvider || {};
  $('provider').value = idp.provider || '';
  const entra = idp.entra || {};
  $('entraTenantId').value = entra.tenantId || '';
  $('entraClientId').value = entra.clientId || '';
  $('entraClientSecret').value = '';
  $('entraClientSecret').placeholder = entra.clientSecretSet ? '•••••••• (stored)' : '';
  $('followUp').value = idp.followUpAfterMinutes || 60;
  $('exceptionAccounts').value = ((s.exceptions || {}).accountIds || []).join('\n');
  $('activeDays').value = s.activity.activeDays;
  $('lowUsageDays').value = s.activity.lowUsageDays;
  $('legacyVersionRow').checked = !!s.export.legacyVersionRow;
  $('exampleRow').checked = !!s.export.exampleRow;
  $('noBom').checked = !!s.export.noBom;
  $('maxRowsPerFile').value = s.export.maxRowsPerFile;
  $('identifier').value = s.export.identifier || 'upn';
  $('entra-fields').hidden = !idp.provider;
  renderProducts();
  renderDeclaredLicensing();
  renderExceptionGroups();
  fillEntra(s);
}

function num(id) {
  const v = $(id).value.trim();
  return v === '' ? 0 : Number(v);
}

// collect builds the SettingsInput to PUT from the form.
function collect() {
  const s = current;
  const provisioningEnabled = {};
  for (const el of form.querySelectorAll('.uc-prov')) provisioningEnabled[el.dataset.product] = el.checked;
  const groupOverrides = {};
  for (const el of form.querySelectorAll('.uc-override')) {
    if (el.value === 'synced') groupOverrides[el.dataset.groupId] = true;
    else if (el.value === 'not-synced') groupOverrides[el.dataset.groupId] = false;
  }
  let licensingGroups = s.licensingGroups || undefined;
  if ($('declared-licensing-groups') && groups.length > 0) {
    licensingGroups = Object.assign({}, s.licensingGroups || {}, {
      confluence: [...$('declared-licensing-groups').querySelectorAll('input:checked')].map((el) => el.value),
    });
  }
  const input = {
    orgId: $('orgId').value.trim(),
    companyDomains: splitList($('companyDomains').value),
    licensingGroups,
    identityProvider: {
      provider: $('provider').value,
      provisioningEnabled,
      groupOverrides,
      groupMappings: collectMappings(s),
      entra: { tenantId: $('entraTenantId').value.trim(), clientId: $('entraClientId').value.trim() },
      followUpAfterMinutes: num('followUp'),
    },
    exceptions: {
      groupIds: [...$('exception-groups').querySelectorAll('input:checked')].map((el) => el.value),
      accountIds: splitList($('exceptionAccounts').value),
    },
    activity: { activeDays: num('activeDays'), lowUsageDays: num('lowUsageDays') },
    export: {
      legacyVersionRow: $('legacyVersionRow').checked,
      exampleRow: $('exampleRow').checked,
      noBom: $('noBom').checked,
      maxRowsPerFile: num('maxRowsPerFile'),
      identifier: $('identifier').value,
    },
  };
  if ($('apiKeyRemove').checked) input.apiKey = '';
  else if ($('apiKey').value !== '') input.apiKey = $('apiKey').value;
  if ($('entraClientSecret').value !== '') input.entraClientSecret = $('entraClientSecret').value;
  return input;
}

async function loadGroups() {
  try {
    groups = listOf(await api('GET', '/groups'), 'groups');
  } catch (err) {
    groups = [];
    if (err instanceof ApiError && err.status === 0) throw err;
    $('products').replaceChildren(h('p', { class: 'uc-message uc-message-warning', role: 'status' },
      'Groups could not be loaded: ' + err.message));
    return false;
  }
  return true;
}

// The organization and Microsoft Entra ID credentials affect the whole
// organization: only the product's highest admin level may change them.
// For anyone else the fields are disabled (so saving sends them unchanged)
// and the notes say why.
const ORG_CREDENTIAL_FIELDS = ['orgId', 'apiKey', 'apiKeyRemove', 'entraTenantId', 'entraClientId', 'entraClientSecret'];

function applyCapabilities(caps) {
  for (const id of ORG_CREDENTIAL_FIELDS) $(id).disabled = !caps.orgAdmin;
  for (const note of form.querySelectorAll('[data-org-admin-note]')) {
    note.textContent = caps.orgAdmin ? '' : caps.orgAdminReason;
    note.hidden = !!caps.orgAdmin;
  }
}

async function load() {
  stateMessage(state, 'loading', 'Loading settings…');
  form.hidden = true;
  try {
    const [s, caps] = await Promise.all([api('GET', '/settings'), capabilities()]);
    applyCapabilities(caps);
    current = s;
    const ok = await loadGroups();
    state.replaceChildren();
    form.hidden = false;
    if (ok) fill(s);
    else {
      const warning = $('products').firstChild;
      fill(s);
      $('products').replaceChildren(warning);
    }
  } catch (err) {
    stateMessage(state, 'error', 'Settings could not be loaded. ' + err.message, load);
  }
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = $('save');
  clearErrors(form);
  button.disabled = true;
  $('save-status').textContent = 'Saving…';
  try {
    const saved = await api('PUT', '/settings', collect());
    $('save-status').textContent = '';
    await loadGroups();
    fill(saved && saved.identityProvider ? saved : await api('GET', '/settings'));
    flag('Settings saved', 'User Cleanup uses the new settings from the next cleanup on.', 'success');
    $('save-status').textContent = 'Saved';
  } catch (err) {
    $('save-status').textContent = '';
    if (err instanceof ApiError && err.status === 400) showErrors(form, err);
    else {
      showErrors(form, { message: 'Nothing was saved. ' + err.message, fields: {} });
      flag('Settings not saved', err.message, 'error');
    }
  } finally {
    button.disabled = false;
  }
});

$('provider').addEventListener('change', () => { $('entra-fields').hidden = !$('provider').value; });

// Test connection checks the stored organization ID and API key (the
// server never receives a key just to test it), so unsaved changes must be
// saved first.
$('test-connection').addEventListener('click', async () => {
  const out = $('test-result');
  const button = $('test-connection');
  out.className = '';
  if ($('apiKey').value !== '' || $('orgId').value.trim() !== (current.orgId || '')) {
    out.className = 'uc-result-error';
    out.textContent = 'Save the settings first, then test the connection.';
    return;
  }
  button.disabled = true;
  out.textContent = 'Testing the connection…';
  try {
    const s = await api('POST', '/settings/test-connection');
    if (s && s.orgId !== undefined) current = Object.assign({}, current, { apiKeyVerifiedAt: s.apiKeyVerifiedAt });
    out.className = 'uc-result-ok';
    out.textContent = 'Connected to organization ' + (current.orgId || '') + '.' + (s && s.apiKeyVerifiedAt ? ' Verified ' + formatDate(s.apiKeyVerifiedAt) + '.' : '');
  } catch (err) {
    out.className = 'uc-result-error';
    out.textContent = 'Connection failed: ' + err.message;
  } finally {
    button.disabled = false;
  }
});

load();
