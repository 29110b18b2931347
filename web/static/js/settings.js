// Settings page: loads GET /api/settings and GET /api/groups and shows the
// five sections (organization, products, identityProvider, exceptions,
// activityAndExport) as tabs (sections.js). Each section is saved on its
// own with PATCH /api/settings, carrying only that section and the version
// of it the page showed (sectionVersions): two admins who change
// different sections do not conflict, and a section someone else changed
// meanwhile is refused with 409 and can be reloaded alone. Saving a section
// keeps the unsaved changes of the others. Credentials are tested as typed.
//
// Nothing the admin set is lost: a section (or a part of one) that did
// not load is not sent, so the server leaves it as it is (the products
// section and the exception groups need the groups; when those fail to
// load, their settings stay as saved). Every save carries the ETag of the
// copy it was built on (If-Match): a change someone else saved meanwhile
// is refused with 409 and the section says to reload. A typed API key or
// Entra secret is tested before it is saved; one that fails its test is
// saved only when the admin confirms, else the stored one stays.
import { api, ApiError, h, listOf, flag, clearErrors, showErrors, splitList, stateMessage, formatDate, capabilities } from './api.js';
import { loadLabels, label } from './labels.js';
import { fillEntra, collectMappings, entraTestInput, initEntra } from './settings-entra.js';
import { initSections, markClean } from './sections.js';

const page = document.getElementById('settings-form');
const state = document.getElementById('settings-state');
const $ = (id) => document.getElementById(id);
const SECTIONS = ['organization', 'products', 'identityProvider', 'exceptions', 'activityAndExport'];
const formOf = (name) => $('section-' + name);
const sections = initSections(page.querySelector('[role="tablist"]'));

let current = null; // settings as last loaded or saved (with their sectionVersions)
let versions = {}; // the version of each section as its fields show it
let catalog = null; // GET /groups: {groups, products}; null while it did not load
let groupsError = ''; // why the groups did not load

function overrideValue(s, id) {
  const o = (s.identityProvider.groupOverrides || {})[id];
  return o === true ? 'synced' : o === false ? 'atlassian' : 'auto';
}

const groups = () => (catalog ? catalog.groups : []);

// groupsNotLoaded says, in the sections that need the groups, that they
// are kept as saved.
function groupsNotLoaded(what) {
  return h('p', { class: 'uc-message uc-message-warning', role: 'status', dataset: { notLoaded: '1' } },
    'The groups could not be loaded: ' + groupsError + ' ' + what + ' stay as saved until they load: saving now does not change them.');
}

// decisionCell says where the group's members are removed and why, in the
// server's words ("synced: reported by Atlassian").
function decisionCell(g) {
  const [verdict, why] = g.decision.split(/:\s(.*)/s);
  return h('td', { dataset: { decision: g.decision, source: g.source } },
    h('strong', { class: g.synced ? 'uc-decision-synced' : '' }, verdict), why ? ': ' + why : '',
    g.disagreement ? h('p', { class: 'uc-help uc-disagreement' }, g.disagreement) : null);
}

function overrideCell(g) {
  const selID = 'override-' + g.id;
  const v = overrideValue(current, g.id);
  return h('td', {},
    h('label', { for: selID, class: 'uc-visually-hidden' }, 'Where ' + g.name + ' is managed'),
    h('select', { id: selID, class: 'uc-override', dataset: { groupId: g.id, field: 'identityProvider.groupOverrides' } },
      h('option', { value: 'auto', selected: v === 'auto' }, 'Automatic'),
      h('option', { value: 'synced', selected: v === 'synced' }, 'Synced (identity provider)'),
      h('option', { value: 'atlassian', selected: v === 'atlassian' }, 'Managed in Atlassian')));
}

// licensingOverride lets the admin choose a product's licensing groups by
// hand where the product does not list them itself (Confluence): the
// groups the Organizations API found are used unless some are chosen.
function licensingOverride(p) {
  const chosen = new Set(((current.licensingGroups || {})[p.key]) || []);
  if (p.groupsFrom === 'product' && chosen.size === 0) return null;
  const id = 'lg-' + p.key;
  return h('details', { class: 'uc-field', open: chosen.size > 0 },
    h('summary', {}, 'Choose the licensing groups of ' + p.name + ' by hand'),
    h('fieldset', { class: 'uc-licensing-override', dataset: { product: p.key, field: 'licensingGroups' } },
      h('legend', { class: 'uc-visually-hidden' }, 'Licensing groups of ' + p.name + ', chosen by hand'),
      h('p', { class: 'uc-help' }, 'Leave all unticked to use the groups User Cleanup finds.'),
      h('div', { class: 'uc-checklist' }, groups().map((g) => h('div', { class: 'uc-check' },
        h('input', { type: 'checkbox', id: id + '-' + g.id, value: g.id, checked: chosen.has(g.id) }),
        h('label', { for: id + '-' + g.id }, g.name))))));
}

function productBlock(p) {
  const toggleID = 'prov-' + p.key;
  const rows = groups().filter((g) => (g.products || []).some((x) => x.key === p.key)).map((g) =>
    h('tr', { dataset: { group: g.id } },
      h('td', {}, g.name),
      h('td', { class: 'uc-num' }, g.memberCount >= 0 ? String(g.memberCount) : '—'),
      decisionCell(g),
      overrideCell(g)));
  return h('div', { class: 'uc-product', dataset: { product: p.key } },
    h('div', { class: 'uc-product-head' },
      h('h3', {}, p.name),
      h('div', { class: 'uc-toggle' },
        h('input', { type: 'checkbox', role: 'switch', id: toggleID, class: 'uc-prov', dataset: { product: p.key }, checked: !!p.provisioningEnabled }),
        h('label', { for: toggleID }, 'Is user provisioning enabled?', h('span', { class: 'uc-visually-hidden' }, ' (' + p.name + ')')))),
    h('p', { class: 'uc-subtle' }, 'Licensing groups: ' + label('groupsFrom', p.groupsFrom) + '.'),
    (p.warnings || []).length
      ? h('div', { class: 'uc-message uc-message-warning', role: 'note' }, h('ul', { class: 'uc-warnings' }, p.warnings.map((w) => h('li', {}, w)))) : null,
    rows.length
      ? h('table', { class: 'uc-table' },
        h('caption', { class: 'uc-visually-hidden' }, 'Licensing groups of ' + p.name),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Licensing group'), h('th', { scope: 'col', class: 'uc-num' }, 'Members'),
          h('th', { scope: 'col' }, 'Where its members are removed'), h('th', { scope: 'col' }, 'Your setting'))),
        h('tbody', {}, rows))
      : h('p', { class: 'uc-empty' }, 'No licensing groups grant this product.'),
    licensingOverride(p));
}

function renderProducts() {
  const box = $('products');
  if (!catalog) {
    box.replaceChildren(groupsNotLoaded('The provisioning toggles, your per-group settings and the licensing groups'));
    return;
  }
  const list = catalog.products || [];
  if (list.length === 0) {
    box.replaceChildren(h('p', { class: 'uc-empty' }, 'No products found on this site.'));
    return;
  }
  box.replaceChildren(...list.map(productBlock));
}

function renderExceptionGroups() {
  const box = $('exception-groups');
  if (!catalog) {
    box.replaceChildren(groupsNotLoaded('The exception groups (' + (current.exceptions.groupIds || []).length + ')'));
    return;
  }
  const chosen = new Set(current.exceptions.groupIds || []);
  if (groups().length === 0) {
    box.replaceChildren(h('p', { class: 'uc-empty' }, 'No groups found.'));
    return;
  }
  box.replaceChildren(...groups().map((g) => {
    const id = 'exc-group-' + g.id;
    return h('div', { class: 'uc-check' },
      h('input', { type: 'checkbox', id, value: g.id, checked: chosen.has(g.id) }),
      h('label', { for: id }, g.name));
  }));
}

function showVerified(s) {
  $('test-result').className = '';
  $('test-result').textContent = s.apiKeyVerifiedAt ? 'Last verified ' + formatDate(s.apiKeyVerifiedAt) : '';
}

// fillSection shows a section's stored values and marks them saved.
const FILL = {
  organization(s) {
    $('orgId').value = s.orgId || '';
    $('apiKey').value = '';
    $('apiKey').placeholder = s.apiKeySet ? '•••••••• (stored)' : '';
    $('apiKey-remove-row').hidden = !s.apiKeySet;
    $('apiKeyRemove').checked = false;
    showVerified(s);
    $('companyDomains').value = (s.companyDomains || []).join('\n');
  },
  products() { renderProducts(); },
  identityProvider(s) {
    const idp = s.identityProvider || {};
    $('provider').value = idp.provider || '';
    const entra = idp.entra || {};
    $('entraTenantId').value = entra.tenantId || '';
    $('entraClientId').value = entra.clientId || '';
    $('entraClientSecret').value = '';
    $('entraClientSecret').placeholder = entra.clientSecretSet ? '•••••••• (stored)' : '';
    $('followUp').value = idp.followUpAfterMinutes || 60;
    $('entra-fields').hidden = !idp.provider;
    fillEntra(s);
  },
  exceptions(s) {
    $('exceptionAccounts').value = ((s.exceptions || {}).accountIds || []).join('\n');
    renderExceptionGroups();
  },
  activityAndExport(s) {
    $('activeDays').value = s.activity.activeDays;
    $('lowUsageDays').value = s.activity.lowUsageDays;
    $('legacyVersionRow').checked = !!s.export.legacyVersionRow;
    $('exampleRow').checked = !!s.export.exampleRow;
    $('noBom').checked = !!s.export.noBom;
    $('maxRowsPerFile').value = s.export.maxRowsPerFile;
    $('identifier').value = s.export.identifier || 'upn';
    $('keepHistoryDays').value = (s.history || {}).keepDays || 400;
  },
};

function fillSection(name, s) {
  FILL[name](s);
  versions[name] = (s.sectionVersions || {})[name];
  markClean(formOf(name));
  sections.refresh(name);
}

// fill shows the settings in every section, except the ones listed in
// keep (sections with unsaved changes the admin has not saved yet).
function fill(s, keep) {
  current = s;
  for (const name of SECTIONS) if (!(keep || []).includes(name)) fillSection(name, s);
}

function num(id) {
  const v = $(id).value.trim();
  return v === '' ? 0 : Number(v);
}

// productsSection is the products section as the page shows it; only
// called when the groups loaded.
function productsSection() {
  const provisioningEnabled = {};
  const form = formOf('products');
  for (const el of form.querySelectorAll('.uc-prov')) provisioningEnabled[el.dataset.product] = el.checked;
  const groupOverrides = {};
  for (const el of form.querySelectorAll('.uc-override')) {
    if (el.value === 'synced') groupOverrides[el.dataset.groupId] = true;
    else if (el.value === 'atlassian') groupOverrides[el.dataset.groupId] = false;
  }
  const licensingGroups = Object.assign({}, current.licensingGroups || {});
  for (const fs of form.querySelectorAll('.uc-licensing-override')) {
    const ids = [...fs.querySelectorAll('input:checked')].map((el) => el.value);
    if (ids.length) licensingGroups[fs.dataset.product] = ids;
    else delete licensingGroups[fs.dataset.product];
  }
  return { provisioningEnabled, groupOverrides, licensingGroups };
}

// BODY builds each section's part of the PATCH body from its fields.
const BODY = {
  organization() {
    const organization = { orgId: $('orgId').value.trim(), companyDomains: splitList($('companyDomains').value) };
    if ($('apiKeyRemove').checked) organization.apiKey = '';
    else if ($('apiKey').value !== '') organization.apiKey = $('apiKey').value;
    return organization;
  },
  // The products section needs the groups: null (not sent) when they did
  // not load, so the stored settings stay.
  products() { return catalog ? productsSection() : null; },
  identityProvider() {
    const identityProvider = {
      provider: $('provider').value,
      entra: { tenantId: $('entraTenantId').value.trim(), clientId: $('entraClientId').value.trim() },
      groupMappings: collectMappings(current) || {},
      followUpAfterMinutes: num('followUp'),
    };
    if ($('entraClientSecret').value !== '') identityProvider.entraClientSecret = $('entraClientSecret').value;
    return identityProvider;
  },
  exceptions() {
    const exceptions = { accountIds: splitList($('exceptionAccounts').value) };
    if (catalog) exceptions.groupIds = [...$('exception-groups').querySelectorAll('input:checked')].map((el) => el.value);
    return exceptions;
  },
  activityAndExport() {
    return {
      activity: { activeDays: num('activeDays'), lowUsageDays: num('lowUsageDays') },
      export: {
        legacyVersionRow: $('legacyVersionRow').checked,
        exampleRow: $('exampleRow').checked,
        noBom: $('noBom').checked,
        maxRowsPerFile: num('maxRowsPerFile'),
        identifier: $('identifier').value,
      },
      history: { keepDays: num('keepHistoryDays') },
    };
  },
};

async function loadGroups() {
  try {
    catalog = await api('GET', '/groups');
    catalog.groups = listOf(catalog, 'groups');
    groupsError = '';
  } catch (err) {
    if (err instanceof ApiError && err.status === 0) throw err;
    catalog = null;
    groupsError = err.message;
  }
}

// The organization and Microsoft Entra ID credentials affect the whole
// organization: only the product's highest admin level may change (or
// test) them. For anyone else the fields are disabled (so saving sends
// them unchanged) and the notes say why.
const ORG_CREDENTIAL_FIELDS = ['orgId', 'apiKey', 'apiKeyRemove', 'entraTenantId', 'entraClientId', 'entraClientSecret', 'test-connection', 'test-entra'];

function applyCapabilities(caps) {
  for (const id of ORG_CREDENTIAL_FIELDS) $(id).disabled = !caps.orgAdmin;
  for (const note of page.querySelectorAll('[data-org-admin-note]')) {
    note.textContent = caps.orgAdmin ? '' : caps.orgAdminReason;
    note.hidden = !!caps.orgAdmin;
  }
}

async function load() {
  stateMessage(state, 'loading', 'Loading settings…');
  page.hidden = true;
  try {
    const [s, caps] = await Promise.all([api('GET', '/settings'), capabilities(), loadLabels()]);
    applyCapabilities(caps);
    current = s;
    await loadGroups();
    state.replaceChildren();
    page.hidden = false;
    fill(s);
  } catch (err) {
    stateMessage(state, 'error', 'Settings could not be loaded. ' + err.message, load);
  }
}

// askToSave shows a question next to the section's Save button and
// resolves to the admin's answer.
function askToSave(name, text, yesLabel, noLabel) {
  const box = $('confirm-' + name);
  return new Promise((resolve) => {
    const answer = (v) => { box.replaceChildren(); box.hidden = true; resolve(v); };
    const yes = h('button', { type: 'button', class: 'uc-button uc-button-warning', id: 'save-anyway', onclick: () => answer(true) }, yesLabel);
    box.replaceChildren(h('p', { role: 'alert' }, text), yes,
      h('button', { type: 'button', class: 'uc-button uc-button-subtle', id: 'save-cancel', onclick: () => answer(false) }, noLabel));
    box.hidden = false;
    yes.focus();
  });
}

// typedOrgTest is the organization test the save runs first: when a key is
// typed, or the organization ID changed with a key stored.
function typedOrgTest() {
  const orgId = $('orgId').value.trim();
  const key = $('apiKey').value;
  if ($('apiKeyRemove').checked || (key === '' && (orgId === (current.orgId || '') || !current.apiKeySet))) return null;
  const body = { orgId };
  if (key !== '') body.apiKey = key;
  return body;
}

// credentialsConfirmed tests the section's typed credentials before they
// are saved; a failed test saves only when the admin confirms.
async function credentialsConfirmed(name) {
  const tests = [];
  const org = name === 'organization' ? typedOrgTest() : null;
  if (org) tests.push({ what: 'The organization API key', path: '/settings/test-connection', body: org, keep: 'Keep the stored key' });
  const entra = name === 'identityProvider' && $('provider').value === 'entra' ? entraTestInput(current) : null;
  if (entra) tests.push({ what: 'The Microsoft Entra ID connection', path: '/settings/test-entra', body: entra, keep: 'Keep the stored secret' });
  for (const test of tests) {
    sections.setStatus(name, 'Testing before saving…', 'busy');
    const res = await api('POST', test.path, test.body);
    if (res.ok) continue;
    sections.setStatus(name, '', '');
    const yes = await askToSave(name, test.what + ' failed its test: ' + res.message + ' Save it anyway?', 'Save anyway', test.keep);
    if (!yes) return false;
  }
  return true;
}

// The sections whose view depends on the groups' decisions: saving the
// products or the identity provider changes where members are removed.
const AFFECTS_GROUPS = new Set(['organization', 'products', 'identityProvider']);

// reloadSection drops the section's unsaved changes and shows it as stored
// now (after someone else changed it).
async function reloadSection(name) {
  const form = formOf(name);
  clearErrors(form);
  try {
    const s = await api('GET', '/settings');
    current = s;
    if (name === 'products' || name === 'exceptions') await loadGroups();
    fillSection(name, s);
    sections.setStatus(name, 'Reloaded: as saved now', 'ok');
    form.querySelector('input, select, textarea, button').focus();
  } catch (err) {
    showErrors(form, { message: 'The section could not be reloaded. ' + err.message, fields: {} });
  }
}

async function save(name) {
  const form = formOf(name);
  const button = $('save-' + name);
  clearErrors(form);
  const body = BODY[name]();
  if (!body) {
    showErrors(form, { message: 'Nothing was saved: the groups could not be loaded, so this section cannot be changed now. ' + groupsError, fields: {} });
    return;
  }
  button.disabled = true;
  try {
    if (!(await credentialsConfirmed(name))) {
      sections.setStatus(name, 'Nothing was saved.', 'error');
      return;
    }
    sections.setStatus(name, 'Saving…', 'busy');
    const saved = await api('PATCH', '/settings', { versions: { [name]: versions[name] }, [name]: body });
    if (AFFECTS_GROUPS.has(name)) await loadGroups();
    // The other sections show the stored values too, unless they hold
    // unsaved changes: those stay as the admin left them.
    fill(saved, SECTIONS.filter((n) => n !== name && sections.dirty(n)));
    flag(label('section', name) + ' saved', 'User Cleanup uses the new settings from the next cleanup on.', 'success');
    sections.setStatus(name, 'Saved', 'ok');
  } catch (err) {
    sections.setStatus(name, 'Nothing was saved.', 'error');
    if (err instanceof ApiError && err.status === 400) showErrors(form, err);
    else {
      showErrors(form, { message: 'Nothing was saved. ' + err.message, fields: {} });
      if (err instanceof ApiError && err.status === 409) {
        form.querySelector('.uc-error-summary').append(h('button', { type: 'button', class: 'uc-button uc-button-default', id: 'reload-' + name, onclick: () => reloadSection(name) }, 'Reload this section'));
      }
      flag(label('section', name) + ' not saved', err.message, 'error');
    }
  } finally {
    button.disabled = false;
  }
}

for (const name of SECTIONS) {
  formOf(name).addEventListener('submit', (e) => {
    e.preventDefault();
    save(name);
  });
}

$('provider').addEventListener('change', () => { $('entra-fields').hidden = !$('provider').value; });

// Test connection tests the organization ID and API key as typed (or the
// stored key when none is typed): nothing is saved by the test.
$('test-connection').addEventListener('click', async () => {
  const out = $('test-result');
  const button = $('test-connection');
  const body = { orgId: $('orgId').value.trim() };
  if ($('apiKey').value !== '') body.apiKey = $('apiKey').value;
  button.disabled = true;
  out.className = '';
  out.textContent = 'Testing the connection…';
  try {
    const res = await api('POST', '/settings/test-connection', body);
    if (!res.typed) current = res.settings; // a test of the stored key records its verdict (a new version)
    out.className = res.ok ? 'uc-result-ok' : 'uc-result-error';
    if (!res.ok) out.textContent = 'Connection failed: ' + res.message;
    else if (res.typed) out.textContent = 'Connected to organization ' + body.orgId + ' with the values as typed. Save to keep them.';
    else out.textContent = 'Connected to organization ' + (current.orgId || '') + '. Verified ' + formatDate(current.apiKeyVerifiedAt) + '.';
  } catch (err) {
    out.className = 'uc-result-error';
    out.textContent = 'The connection could not be tested: ' + err.message;
  } finally {
    button.disabled = false;
  }
});

initEntra({ onSettings: (s) => { current = s; } });
load();
