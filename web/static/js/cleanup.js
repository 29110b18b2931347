// Scheduling and cleanup page: tabs Schedules / Manual cleanup / History.
// Schedules and manual cleanups are Definitions (GET/POST /api/cleanups,
// GET/PUT/DELETE /api/cleanups/{id}); "Dry run" and "Run now" start a run
// (POST /api/cleanups/{id}/run). The runs themselves (progress, History,
// Show users, Export data) are runs.js. Every action is shown in words from
// labels.js.
import { api, ApiError, h, listOf, flag, clearErrors, showErrors, splitList, stateMessage, formatDate, ifMatch, capabilities } from './api.js';
import { describeSchedule, nextRun } from './schedule.js';
import { warningSection, warningNote } from './warning.js';
import { loadLabels, label } from './labels.js';
import { initRuns, startRun, loadHistory, statusLabel } from './runs.js';
import { confirmModal } from './modal.js';

const $ = (id) => document.getElementById(id);

// The actions a cleanup can choose (the others are what a row's action
// becomes: an Entra file or a direct removal).
const CHOSEN_ACTIONS = ['review', 'remove-product-access', 'deactivate', 'entra'];

let settings = null;
let groups = [];
let cleanups = [];
// What the user may do (GET /api/me): deactivating accounts needs the
// product's highest admin level; for anyone else its controls are disabled
// with caps.orgAdminReason.
let caps = { orgAdmin: false, orgAdminReason: '' };
const orgWide = (action) => action === 'deactivate';
const mayRun = (c) => caps.orgAdmin || !orgWide(c.action);

// ---- tabs (WAI-ARIA tabs pattern: arrows move, Home/End jump) ----
const tabs = [...document.querySelectorAll('[role="tab"]')];
function selectTab(tab, focus) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) tab.focus();
  if (tab.id === 'tab-history') loadHistory(0);
  if (tab.id === 'tab-manual') renderManual();
}
for (const t of tabs) {
  t.addEventListener('click', () => selectTab(t, false));
  t.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(t);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    selectTab(tabs[(to + tabs.length) % tabs.length], true);
  });
}

// ---- field helpers ----
function field(id, label, input, help) {
  input.id = id;
  if (help) input.setAttribute('aria-describedby', id + '-help');
  return h('div', { class: 'uc-field' }, h('label', { for: id }, label), input, help ? h('p', { class: 'uc-help', id: id + '-help' }, help) : null);
}
function check(id, label, checked, dataField) {
  return h('div', { class: 'uc-check' }, h('input', { type: 'checkbox', id, checked: !!checked, dataset: dataField ? { field: dataField } : undefined }), h('label', { for: id }, label));
}
function groupChecklist(prefix, legend, list, chosen, dataField, empty) {
  const set = new Set(chosen || []);
  return h('fieldset', { class: 'uc-field', dataset: { field: dataField } },
    h('legend', {}, legend),
    list.length === 0 ? h('p', { class: 'uc-empty' }, empty)
      : h('div', { class: 'uc-checklist', id: prefix },
        list.map((g) => check(prefix + '-' + g.id, g.name + (g.synced ? ' (synced)' : ''), set.has(g.id)))));
}
function checkedIDs(root, prefix) {
  return [...root.querySelectorAll('#' + prefix + ' input:checked')].map((el) => el.id.slice(prefix.length + 1));
}
const idpConfigured = () => !!(settings && settings.identityProvider && settings.identityProvider.provider);

// ---- the cleanup creation form ----
function defaults(manual) {
  return {
    name: '', licensingGroupIds: [], extraGroupIds: [], exceptionsOverride: null, daysInactive: 90,
    includeNeverActive: false, neverActiveMinAccountAgeDays: 30, emailDomains: [], externalOnly: false,
    skipApps: true, skipCustomers: true, action: 'review', entraMode: 'export', manual: !!manual,
    warning: { enabled: false, days: 14, subject: '', message: '', replyTo: '' },
    schedule: { active: false, frequency: 'weekly', weekdays: ['mon'], dayOfMonth: 1, timeOfDay: '03:00', timeZone: browserZone() },
  };
}
function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (_) { return 'UTC'; }
}
function zones() {
  try { return Intl.supportedValuesOf('timeZone'); } catch (_) { return ['UTC']; }
}

function cleanupForm(def, opts) {
  const p = opts.prefix;
  const d = Object.assign(defaults(def.manual), def);
  const s = Object.assign(defaults(false).schedule, d.schedule || {});
  const licensing = groups.filter((g) => g.licensing);
  const others = groups.filter((g) => !g.licensing);
  const exc = d.exceptionsOverride;

  const actionOptions = CHOSEN_ACTIONS.map((k) => [k, label('action', k)]).filter(([k]) => k !== 'entra' || idpConfigured() || d.action === 'entra');
  const locked = !caps.orgAdmin && orgWide(d.action); // an existing deactivating cleanup
  const actionSel = h('select', { dataset: { field: 'action' }, disabled: locked },
    actionOptions.map(([k, v]) => h('option', { value: k, selected: d.action === k, disabled: orgWide(k) && !caps.orgAdmin && !locked }, v)));
  const actionHelp = [idpConfigured() ? '' : 'Configure an identity provider in Settings to use the Microsoft Entra ID action.',
    caps.orgAdmin ? '' : caps.orgAdminReason].filter(Boolean).join(' ') || null;
  // Direct removal needs a Microsoft Entra ID connection in settings.
  const entraIdP = (settings && settings.identityProvider) || {};
  const entraConn = entraIdP.entra || {};
  const graphConnected = entraIdP.provider === 'entra' && !!(entraConn.tenantId && entraConn.clientId && entraConn.clientSecretSet);
  const entraMode = h('select', { dataset: { field: 'entraMode' } },
    h('option', { value: 'export', selected: d.entraMode !== 'direct' }, label('entraMode', 'export')),
    h('option', { value: 'direct', selected: d.entraMode === 'direct', disabled: !graphConnected && d.entraMode !== 'direct' }, label('entraMode', 'direct')));
  const entraRow = field(p + '-entraMode', 'Microsoft Entra ID removal', entraMode,
    graphConnected ? 'Users who cannot be removed directly still go to the export files.' : 'Connect Microsoft Entra ID in Settings to remove members directly.');

  // Warnings need a later run of the same cleanup: schedules only (the
  // Manual tab makes a new cleanup each time).
  const warn = opts.manual ? null : warningSection(p, d.warning);

  const freq = h('select', { dataset: { field: 'schedule.frequency' } },
    [['daily', 'Daily'], ['weekly', 'Weekly'], ['monthly', 'Monthly'], ['cron', 'Cron expression']].map(([k, v]) => h('option', { value: k, selected: s.frequency === k }, v)));
  const weekdays = h('fieldset', { class: 'uc-field', dataset: { field: 'schedule.weekdays' } }, h('legend', {}, 'On'),
    h('div', { class: 'uc-inline' }, ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((w) =>
      check(p + '-wd-' + w, w[0].toUpperCase() + w.slice(1), (s.weekdays || []).includes(w)))));
  const dom = field(p + '-dom', 'Day of the month', h('input', { type: 'number', min: '1', max: '31', value: String(s.dayOfMonth || 1), dataset: { field: 'schedule.dayOfMonth' } }));
  const cron = field(p + '-cron', 'Cron expression (minute hour day month weekday)', h('input', { value: s.cron || '', spellcheck: 'false', dataset: { field: 'schedule.cron' } }));
  const timeRow = field(p + '-time', 'Time', h('input', { type: 'time', value: s.timeOfDay || '03:00', dataset: { field: 'schedule.timeOfDay' } }));
  const zoneList = h('datalist', { id: p + '-zones' }, zones().map((z) => h('option', { value: z })));
  const zone = field(p + '-zone', 'Time zone', h('input', { value: s.timeZone || 'UTC', list: p + '-zones', spellcheck: 'false', dataset: { field: 'schedule.timeZone' } }));
  const preview = h('p', { class: 'uc-next', id: p + '-next', role: 'status' });

  const excBox = h('div', { class: 'uc-indent', hidden: !exc },
    groupChecklist(p + '-excg', 'Exception groups', groups, exc ? exc.groupIds : (settings ? settings.exceptions.groupIds : []), 'exceptionsOverride.groupIds', 'No groups.'),
    field(p + '-exca', 'Exception account IDs', h('textarea', { rows: '2', dataset: { field: 'exceptionsOverride.accountIds' } },
      ((exc ? exc.accountIds : (settings ? settings.exceptions.accountIds : [])) || []).join('\n'))));

  const form = h('form', { class: 'uc-form', novalidate: true, id: p + '-form' },
    h('div', { class: 'uc-error-summary uc-message uc-message-error', role: 'alert', tabindex: '-1', hidden: true }),
    field(p + '-name', 'Name', h('input', { value: d.name, required: true, dataset: { field: 'name' } })),
    h('h3', {}, 'Selection criteria'),
    groupChecklist(p + '-lic', 'Licensing groups', licensing, d.licensingGroupIds, 'licensingGroupIds', 'No licensing groups found.'),
    groupChecklist(p + '-extra', 'Part of the following groups (in addition to licensing groups)', others, d.extraGroupIds, 'extraGroupIds', 'No other groups.'),
    check(p + '-excOverride', 'Override the exceptions from settings for this cleanup', !!exc, 'exceptionsOverride'),
    excBox,
    field(p + '-days', 'Days inactive', h('input', { type: 'number', min: '1', value: String(d.daysInactive), dataset: { field: 'daysInactive' } }), 'Users without activity for this many days are selected.'),
    check(p + '-never', 'Include users who were never active', d.includeNeverActive, 'includeNeverActive'),
    field(p + '-minAge', 'Minimum account age for never-active users (days)', h('input', { type: 'number', min: '0', value: String(d.neverActiveMinAccountAgeDays), dataset: { field: 'neverActiveMinAccountAgeDays' } })),
    field(p + '-domains', 'Matching e-mail domains', h('textarea', { rows: '2', dataset: { field: 'emailDomains' } }, (d.emailDomains || []).join('\n')), 'Only users with an e-mail in these domains; empty: all.'),
    check(p + '-external', 'External users only', d.externalOnly, 'externalOnly'),
    check(p + '-skipApps', 'Skip app and bot accounts', d.skipApps, 'skipApps'),
    check(p + '-skipCustomers', 'Skip Jira Service Management customers', d.skipCustomers, 'skipCustomers'),
    h('h3', {}, 'Cleanup action'),
    field(p + '-action', 'Action', actionSel, actionHelp),
    entraRow,
    warn ? warn.el : null,
    opts.manual ? null : h('div', {},
      h('h3', {}, 'Time'),
      h('div', { class: 'uc-toggle' }, h('input', { type: 'checkbox', role: 'switch', id: p + '-active', checked: !!s.active, dataset: { field: 'schedule.active' } }), h('label', { for: p + '-active' }, 'Active')),
      h('p', { class: 'uc-help' }, 'A new schedule starts inactive: start a dry run from the list first, then switch it on.'),
      field(p + '-freq', 'Frequency', freq), weekdays, dom, cron, timeRow, zone, zoneList, preview),
    h('div', { class: 'uc-actions' }, opts.buttons()));

  const q = (sel) => form.querySelector(sel);
  function collect() {
    const out = {
      name: q('#' + p + '-name').value.trim(),
      licensingGroupIds: checkedIDs(form, p + '-lic'),
      extraGroupIds: checkedIDs(form, p + '-extra'),
      exceptionsOverride: q('#' + p + '-excOverride').checked
        ? { groupIds: checkedIDs(form, p + '-excg'), accountIds: splitList(q('#' + p + '-exca').value) } : null,
      daysInactive: Number(q('#' + p + '-days').value || 0),
      includeNeverActive: q('#' + p + '-never').checked,
      neverActiveMinAccountAgeDays: Number(q('#' + p + '-minAge').value || 0),
      emailDomains: splitList(q('#' + p + '-domains').value),
      externalOnly: q('#' + p + '-external').checked,
      skipApps: q('#' + p + '-skipApps').checked,
      skipCustomers: q('#' + p + '-skipCustomers').checked,
      action: actionSel.value,
      entraMode: entraMode.value,
      manual: !!opts.manual,
      warning: warn ? warn.collect() : Object.assign({}, d.warning, { enabled: false }),
    };
    if (!opts.manual) {
      const f = freq.value;
      out.schedule = {
        active: q('#' + p + '-active').checked, frequency: f,
        timeOfDay: q('#' + p + '-time').value, timeZone: q('#' + p + '-zone').value.trim(),
      };
      if (f === 'weekly') out.schedule.weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].filter((w) => q('#' + p + '-wd-' + w).checked);
      if (f === 'monthly') out.schedule.dayOfMonth = Number(q('#' + p + '-dom').value || 0);
      if (f === 'cron') out.schedule.cron = q('#' + p + '-cron').value.trim();
    } else {
      out.schedule = Object.assign({}, s, { active: false });
    }
    return out;
  }
  function sync() {
    entraRow.hidden = actionSel.value !== 'entra';
    q('#' + p + '-minAge').closest('.uc-field').hidden = !q('#' + p + '-never').checked;
    excBox.hidden = !q('#' + p + '-excOverride').checked;
    if (opts.manual) return;
    const f = freq.value;
    weekdays.hidden = f !== 'weekly';
    dom.hidden = f !== 'monthly';
    cron.hidden = f !== 'cron';
    timeRow.hidden = f === 'cron';
    const sched = collect().schedule;
    const next = sched.active ? nextRun(sched, new Date()) : null;
    preview.dataset.next = next ? next.toISOString() : '';
    preview.textContent = 'Next cleanup: ' + (!sched.active ? 'not scheduled (inactive)'
      : next ? formatDate(next.toISOString()) + ' — ' + describeSchedule(sched) : describeSchedule(sched) + ' (shown after saving)');
  }
  form.addEventListener('input', sync);
  form.addEventListener('change', sync);
  sync();
  form.collect = collect;
  return form;
}

// ---- schedules ----
function actionLabel(a) { return label('action', a); }
function nextOf(c) { return c.nextRunAt || null; }
// lastRuns maps a cleanup id to its newest run (from the first page of
// GET /api/runs, newest first).
let lastRuns = new Map();
// lastDryRuns maps a cleanup id to its newest finished dry run: the
// confirmations say how many users a run would affect from it.
let lastDryRuns = new Map();
function lastOf(c) {
  const l = lastRuns.get(c.id);
  if (!l) return 'Never';
  return formatDate(l.startedAt || l.queuedAt) + ' · ' + statusLabel(l.status) + (l.dryRun ? ' (dry run)' : '');
}
async function loadLastRuns() {
  try {
    const runs = listOf(await api('GET', '/runs?page=1&perPage=200'), 'runs');
    lastRuns = new Map();
    lastDryRuns = new Map();
    for (const r of runs) {
      if (r.cleanupId && !lastRuns.has(r.cleanupId)) lastRuns.set(r.cleanupId, r);
      if (r.cleanupId && r.dryRun && DRY_RUN_DONE.has(r.status) && !lastDryRuns.has(r.cleanupId)) lastDryRuns.set(r.cleanupId, r);
    }
  } catch (_) {
    lastRuns = new Map(); // the list still shows; "Last run" says Never
    lastDryRuns = new Map();
  }
}

async function loadSchedules() {
  const box = $('schedules');
  stateMessage(box, 'loading', 'Loading schedules…');
  try {
    const [list] = await Promise.all([api('GET', '/cleanups'), loadLastRuns()]);
    cleanups = listOf(list, 'cleanups');
  } catch (err) {
    stateMessage(box, 'error', 'Schedules could not be loaded. ' + err.message, loadSchedules);
    return;
  }
  const scheduled = cleanups.filter((c) => !c.manual);
  if (scheduled.length === 0) {
    stateMessage(box, 'empty', 'No schedules yet. Add one to clean up inactive users automatically.');
    return;
  }
  box.replaceChildren(h('table', { class: 'uc-table', id: 'schedules-table' },
    h('thead', {}, h('tr', {}, ['Name', 'Action', 'Active', 'Next cleanup', 'Last run', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, scheduled.map((c) => {
      const toggleID = 'active-' + c.id;
      return h('tr', { dataset: { cleanup: String(c.id) } },
        h('td', {}, c.name),
        h('td', {}, actionLabel(c.action)),
        h('td', {}, h('div', { class: 'uc-toggle' },
          h('input', { type: 'checkbox', role: 'switch', id: toggleID, checked: !!(c.schedule && c.schedule.active), disabled: !mayRun(c), title: mayRun(c) ? null : caps.orgAdminReason, onchange: (e) => setActive(c, e.target) }),
          h('label', { for: toggleID, class: 'uc-visually-hidden' }, 'Active: ' + c.name))),
        h('td', {}, c.schedule && c.schedule.active ? formatDate(nextOf(c)) : '—', warningNote(c, formatDate)),
        h('td', {}, lastOf(c)),
        h('td', { class: 'uc-row-actions' },
          h('button', { type: 'button', class: 'uc-button uc-button-subtle', onclick: () => editSchedule(c) }, 'Edit'),
          h('button', { type: 'button', class: 'uc-button uc-button-default', dataset: { run: 'dry' }, disabled: !mayRun(c), title: mayRun(c) ? null : caps.orgAdminReason, onclick: () => startRun(c, true) }, 'Dry run'),
          h('button', { type: 'button', class: 'uc-button uc-button-warning', dataset: { run: 'now' }, disabled: !mayRun(c), title: mayRun(c) ? null : caps.orgAdminReason, onclick: (e) => confirmRun(e.target, c) }, 'Run now'),
          h('button', { type: 'button', class: 'uc-button uc-button-subtle', dataset: { delete: String(c.id) }, onclick: (e) => deleteCleanup(e.target, c) }, 'Delete')));
    }))));
}

async function setActive(c, input) {
  if (input.checked) {
    const when = describeSchedule(Object.assign({}, c.schedule, { active: true }));
    const yes = await confirmModal({
      id: 'confirm-activate', opener: input, title: 'Activate "' + c.name + '"?',
      body: [h('p', {}, 'It runs ' + when + ', without asking again.'), ...impactBody(c, await fullRun(lastDryRuns.get(c.id)))],
      confirm: 'Activate', tone: confirmTone(c),
    });
    if (!yes) { input.checked = false; return; }
  }
  const def = Object.assign({}, c, { schedule: Object.assign({}, c.schedule, { active: input.checked }) });
  input.disabled = true;
  try {
    await api('PUT', '/cleanups/' + c.id, def, ifMatch(c.version));
    const on = input.checked;
    await loadSchedules();
    flag(on ? 'Schedule activated' : 'Schedule paused', c.name, 'success');
    const again = $('active-' + c.id); // the row was drawn again
    if (again) again.focus();
  } catch (err) {
    input.checked = !input.checked;
    flag('Schedule not changed', err.message, 'error');
    if (err instanceof ApiError && err.status === 409) loadSchedules();
  } finally {
    input.disabled = false;
  }
}

const DRY_RUN_DONE = new Set(['succeeded', 'partially_failed']);

// productsOf names the products whose access the cleanup's licensing
// groups grant ("Jira Software", "Jira Software and Confluence").
function productsOf(def) {
  const chosen = new Set(def.licensingGroupIds || []);
  const names = [];
  for (const g of groups) {
    if (!chosen.has(g.id)) continue;
    for (const pr of g.products || []) if (!names.includes(pr.name)) names.push(pr.name);
  }
  if (names.length <= 1) return names[0] || 'product';
  return names.slice(0, -1).join(', ') + ' and ' + names[names.length - 1];
}

const users = (n) => (n === 1 ? '1 user' : Number(n).toLocaleString() + ' users');

// impactQuestion says what the cleanup's action does to n users, as the
// question of its confirmation ("Remove Jira Software access for 34
// users?"); n null: the number is not known.
function impactQuestion(def, n) {
  const who = n === null ? 'the matching users' : users(n);
  const product = productsOf(def);
  switch (def.action) {
    case 'remove-product-access': return 'Remove ' + product + ' access for ' + who + '?';
    case 'deactivate': return 'Deactivate ' + who + ' in the organization? They lose access to every Atlassian product.';
    case 'review': return 'Add ' + who + ' to the list for review? Nobody loses access.';
    case 'entra': return def.entraMode === 'direct'
      ? 'Remove ' + who + ' from their Microsoft Entra ID groups (' + product + ')?'
      : 'Write the Microsoft Entra ID removal files for ' + who + ' (' + product + ')? You upload them in the Entra admin center.';
    default: return actionLabel(def.action) + ' for ' + who + '?';
  }
}

// impactBody is the confirmation's text from the cleanup's last dry run
// (or says that there is none yet).
function impactBody(def, dry) {
  if (!dry) {
    return [h('p', { dataset: { impact: 'unknown' } }, impactQuestion(def, null)),
      h('p', { class: 'uc-message uc-message-warning', dataset: { noDryRun: '' } }, 'No dry run yet: it is not known how many users this affects. Start a dry run first to see them without changing anything.')];
  }
  const c = dry.counts || {};
  const out = [h('p', { dataset: { impact: String(c.matched || 0) } }, impactQuestion(def, c.matched || 0))];
  // Users (not rows: a user in two groups has two) who need manual action.
  const manual = dry.needsManual ? dry.needsManual.reduce((n, x) => n + x.users, 0) : 0;
  if (manual > 0) {
    out.push(h('p', { dataset: { impactManual: String(manual) } }, (manual === 1 ? '1 user needs' : manual + ' users need') +
      ' manual action: the run cannot act for them and lists them.'));
  }
  if (def.warning && def.warning.enabled) out.push(h('p', {}, 'They are e-mailed a warning first; their access is removed ' + def.warning.days + ' days later unless they use the product.'));
  out.push(h('p', { class: 'uc-help' }, 'From the dry run of ' + formatDate(dry.finishedAt || dry.startedAt || dry.queuedAt) + '. The run checks every user again, so the numbers can change.'));
  return out;
}

function confirmTone(def) { return def.action === 'review' || (def.action === 'entra' && def.entraMode !== 'direct') ? 'primary' : 'danger'; }

// fullRun returns the run with its reasons (GET /api/runs/{id}), or the
// list's copy when that fails.
async function fullRun(r) {
  if (!r) return null;
  try { return await api('GET', '/runs/' + r.id); } catch (_) { return r; }
}

async function confirmRun(button, c) {
  const dry = await fullRun(lastDryRuns.get(c.id));
  const yes = await confirmModal({
    id: 'confirm-run', opener: button, title: 'Run "' + c.name + '" now?', body: impactBody(c, dry),
    confirm: 'Run now', tone: confirmTone(c),
  });
  if (yes) startRun(c, false);
}

async function deleteCleanup(button, c) {
  const yes = await confirmModal({
    id: 'confirm-delete', opener: button, title: 'Delete "' + c.name + '"?',
    body: ['The schedule stops and is removed. Its runs stay in History with their exports.'],
    confirm: 'Delete', tone: 'danger',
  });
  if (!yes) return;
  try {
    await api('DELETE', '/cleanups/' + c.id);
    flag('Schedule deleted', c.name, 'success');
  } catch (err) {
    flag('Schedule not deleted', err.message, 'error');
  }
  await loadSchedules();
  $('add-schedule').focus();
}

function showEditor(def) {
  const editor = $('schedule-editor');
  const isNew = !def.id;
  const form = cleanupForm(def, {
    prefix: 'sched',
    buttons: () => [
      h('button', { type: 'submit', class: 'uc-button', id: 'save-schedule', disabled: !mayRun(def), title: mayRun(def) ? null : caps.orgAdminReason }, isNew ? 'Create schedule' : 'Save'),
      h('button', { type: 'button', class: 'uc-button uc-button-subtle', dataset: { cancel: '' }, onclick: closeEditor }, 'Cancel'),
    ],
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = form.collect();
    const btn = $('save-schedule');
    btn.disabled = true;
    try {
      await api(isNew ? 'POST' : 'PUT', isNew ? '/cleanups' : '/cleanups/' + def.id, Object.assign({}, def, body), isNew ? {} : ifMatch(def.version));
      flag(isNew ? 'Schedule created' : 'Schedule saved', body.name, 'success');
      closeEditor();
      loadSchedules();
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) showErrors(form, err);
      else showErrors(form, { message: 'Nothing was saved. ' + err.message, fields: {} });
    } finally {
      btn.disabled = false;
    }
  });
  editor.replaceChildren(h('h2', {}, isNew ? 'Add schedule' : 'Edit schedule'), form);
  editor.hidden = false;
  $('schedules-list').hidden = true;
  form.querySelector('input').focus();
}
function closeEditor() {
  $('schedule-editor').hidden = true;
  $('schedule-editor').replaceChildren();
  $('schedules-list').hidden = false;
  $('add-schedule').focus();
}
function editSchedule(c) { showEditor(c); }
$('add-schedule').addEventListener('click', () => showEditor(defaults(false)));

// ---- manual cleanup ----
function renderManual() {
  const box = $('manual-editor');
  if (box.firstChild) return;
  const form = cleanupForm(defaults(true), {
    prefix: 'manual',
    manual: true,
    buttons: () => [
      h('button', { type: 'submit', class: 'uc-button uc-button-default', id: 'manual-dry', dataset: { dry: '1' } }, 'Dry run'),
      h('button', { type: 'submit', class: 'uc-button uc-button-warning', id: 'manual-run', dataset: { dry: '0' } }, 'Run now'),
    ],
  });
  // The last dry run of exactly these settings: Run now says from it how
  // many users it affects.
  let lastDry = null; // {key, run}
  const keyOf = (body) => JSON.stringify(Object.assign({}, body, { name: '' }));
  async function start(dry) {
    clearErrors(form);
    const body = form.collect();
    try {
      const created = await api('POST', '/cleanups', body);
      const run = await startRun(Object.assign({}, body, created), dry, { near: form.querySelector('.uc-actions') });
      if (dry && run && DRY_RUN_DONE.has(run.status)) lastDry = { key: keyOf(body), run };
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) showErrors(form, err);
      else showErrors(form, { message: 'The cleanup was not started. ' + err.message, fields: {} });
    }
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const dry = !e.submitter || e.submitter.dataset.dry !== '0';
    if (dry) { start(true); return; }
    const body = form.collect();
    const same = lastDry && lastDry.key === keyOf(body) ? lastDry.run : null;
    const yes = await confirmModal({
      id: 'confirm-run', opener: e.submitter, title: 'Run "' + (body.name || 'this cleanup') + '" now?',
      body: impactBody(body, same), confirm: 'Run now', tone: confirmTone(body),
    });
    if (yes) start(false);
  });
  box.replaceChildren(form);
}

// ---- start ----
initRuns({ groups: () => groups, selectTab: (focus) => selectTab($('tab-history'), focus), loadSchedules, schedulesShown: () => !$('schedules-list').hidden });

async function init() {
  const box = $('schedules');
  stateMessage(box, 'loading', 'Loading…');
  try {
    const [s, g, c] = await Promise.all([api('GET', '/settings'), api('GET', '/groups').catch(() => []), capabilities(), loadLabels()]);
    settings = s;
    caps = c;
    groups = listOf(g, 'groups');
  } catch (err) {
    stateMessage(box, 'error', 'The page could not be loaded. ' + err.message, init);
    return;
  }
  loadSchedules();
}
init();
