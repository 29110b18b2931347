// Shared helpers of the app's pages: the JSON API client (a fresh
// AP.context.getToken() token per request, one retry with a new token on
// 401), small DOM builders, field errors and flags. No framework.

const TOKEN_TIMEOUT_MS = 10000;
const REQUEST_TIMEOUT_MS = 30000;

/** ApiError is a failed API call: status 0 means the service was not reached. */
export class ApiError extends Error {
  constructor(status, message, fields) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.fields = fields || {};
  }
}

/** apiBase is where the page's product API lives, e.g. "/jira/api". */
export const apiBase = document.body.dataset.api || '';

function hostAP() {
  if (!window.AP || !window.AP.context) {
    throw new ApiError(0, 'The page could not connect to the product (the Atlassian script did not load). Reload the page.');
  }
  return window.AP;
}

/** getToken asks the product for a fresh context token. */
export function getToken() {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (!done) { done = true; reject(new ApiError(0, 'The product did not hand out a token in time. Reload the page.')); }
    }, TOKEN_TIMEOUT_MS);
    const ok = (tok) => { if (!done) { done = true; clearTimeout(timer); resolve(tok); } };
    try {
      const p = hostAP().context.getToken(ok);
      if (p && typeof p.then === 'function') {
        p.then(ok, (err) => { if (!done) { done = true; clearTimeout(timer); reject(new ApiError(0, 'Could not get a token from the product: ' + err.message)); } });
      }
    } catch (err) {
      done = true;
      clearTimeout(timer);
      reject(err instanceof ApiError ? err : new ApiError(0, String(err.message || err)));
    }
  });
}

async function once(method, path, body, extraHeaders) {
  const token = await getToken();
  const headers = Object.assign({}, extraHeaders, { Authorization: 'JWT ' + token, Accept: 'application/json' });
  const init = { method, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(apiBase + path, init);
  } catch (err) {
    throw new ApiError(0, 'The User Cleanup service cannot be reached. Check your connection and try again.');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (!res.ok) {
    const msg = (data && data.error) || (res.status >= 500
      ? 'The User Cleanup service is not available right now. Try again in a moment.'
      : 'The request failed (' + res.status + ').');
    throw new ApiError(res.status, msg, data && data.fields);
  }
  return data;
}

/**
 * api calls the JSON API; an expired token (401) is replaced once.
 * headers adds request headers (e.g. If-Match).
 */
export async function api(method, path, body, headers) {
  try {
    return await once(method, path, body, headers);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return once(method, path, body, headers);
    throw err;
  }
}

/** ifMatch returns the If-Match header for a versioned resource. */
let mePromise = null;

/**
 * capabilities returns what the signed-in user may do (GET /api/me,
 * asked once per page): {orgAdmin, orgAdminReason}. Deactivating accounts
 * and changing the organization or Microsoft Entra ID credentials need
 * orgAdmin; the server checks it again on every such request.
 */
export async function capabilities() {
  if (!mePromise) mePromise = api('GET', '/me');
  try {
    const me = await mePromise;
    return (me && me.capabilities) || { orgAdmin: false, orgAdminReason: '' };
  } catch (err) {
    mePromise = null;
    throw err;
  }
}

export function ifMatch(version) {
  return version ? { 'If-Match': '"' + version + '"' } : {};
}

/** listOf returns the array in an API list response ([...] or {items|...: [...]}). */
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  if (!data || typeof data !== 'object') return [];
  for (const k of [...keys, 'items', 'data', 'results', 'values']) {
    if (Array.isArray(data[k])) return data[k];
  }
  return [];
}

/** h builds an element: h('a', {href: '#', class: 'x', onclick: fn}, 'text', child). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** flag shows a product flag (AP.flag), or an inline banner without AP. */
export function flag(title, body, type) {
  try {
    hostAP().flag.create({ title, body: body || '', type: type || 'info', close: 'auto' });
  } catch (_) {
    const region = document.getElementById('uc-flags');
    if (region) region.replaceChildren(h('div', { class: 'uc-banner uc-banner-' + (type || 'info'), role: 'status' }, h('strong', {}, title), ' ', body || ''));
  }
}

/** clearErrors removes the field errors shown in root. */
export function clearErrors(root) {
  for (const el of root.querySelectorAll('.uc-field-error')) el.remove();
  for (const el of root.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    // Back to the field's own help, if it has one.
    if (el.dataset.describedby) el.setAttribute('aria-describedby', el.dataset.describedby);
    else el.removeAttribute('aria-describedby');
    delete el.dataset.describedby;
  }
  const summary = root.querySelector('.uc-error-summary');
  if (summary) { summary.hidden = true; summary.replaceChildren(); }
}

// sentence makes a field's error read on its own: "Days inactive must be
// a whole number between 1 and 3650." (a message that starts with a verb
// follows the field's name; any other after a colon).
function sentence(label, msg) {
  const m = String(msg || '').trim().replace(/[.]?$/, '.');
  return /^(must|is|are|has|have|cannot|can't|needs?|was|were|should)\b/.test(m) ? label + ' ' + m : label + ': ' + m;
}

/**
 * showErrors puts each field error next to the input whose data-field is
 * its JSON path (or the nearest parent path), and lists all of them in the
 * form's .uc-error-summary, each a link to its field ("Days inactive must
 * be a whole number between 1 and 3650."). It focuses the summary when it
 * lists several fields, else the invalid field.
 */
export function showErrors(root, err) {
  clearErrors(root);
  const summary = root.querySelector('.uc-error-summary');
  const items = [];
  let first = null;
  for (const [field, msg] of Object.entries(err.fields || {})) {
    // The field's input: its path, or the nearest parent path; a path the
    // server prefixes with the section ("activityAndExport.export.x") is
    // looked up without the prefix too.
    let target = null;
    for (let path = field; path && !target; path = path.includes('.') ? path.slice(path.indexOf('.') + 1) : '') {
      for (let f = path; f && !target; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') {
        target = root.querySelector('[data-field="' + CSS.escape(f) + '"]');
      }
    }
    const label = target ? fieldLabel(root, target) : fieldName(field);
    const text = sentence(label, msg);
    if (target) {
      const id = 'err-' + field.replace(/[^A-Za-z0-9_-]/g, '-');
      const note = h('p', { class: 'uc-field-error', id, dataset: { errorFor: field } }, text);
      const container = target.closest('.uc-field') || target.parentElement;
      container.append(note);
      target.setAttribute('aria-invalid', 'true');
      // The error first, then the field's own help.
      const help = target.getAttribute('aria-describedby') || '';
      if (help) target.dataset.describedby = help;
      target.setAttribute('aria-describedby', (id + ' ' + help).trim());
      if (!first) first = target;
      // The summary links to the field: focusable controls get the focus,
      // a group of controls its first one.
      const focusTarget = target.matches('input, select, textarea') ? target : target.querySelector('input, select, textarea, button') || target;
      if (!focusTarget.id) focusTarget.id = 'field-' + field.replace(/[^A-Za-z0-9_-]/g, '-');
      items.push(h('li', {}, h('a', { href: '#' + focusTarget.id, onclick: (e) => { e.preventDefault(); focusTarget.focus(); focusTarget.scrollIntoView({ block: 'center' }); } }, text)));
    } else {
      items.push(h('li', {}, text));
    }
  }
  if (summary) {
    const n = items.length;
    const head = n === 0 ? (err.message || 'Nothing was saved.')
      : n === 1 ? 'Nothing was saved: 1 field needs attention.' : 'Nothing was saved: ' + n + ' fields need attention.';
    summary.replaceChildren(h('p', {}, h('strong', {}, head)));
    if (items.length) summary.append(h('ul', {}, items));
    summary.hidden = false;
  }
  if (items.length === 1 && first && typeof first.focus === 'function') first.focus();
  else if (summary) summary.focus();
}

// fieldName words a field path the page has no field for
// ("exceptionsOverride.groupIds" → "Exceptions override group IDs").
function fieldName(path) {
  const last = String(path).split('.').pop().replace(/Ids$/, 'IDs').replace(/Id$/, 'ID');
  const words = last.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase().replace(/\bids\b/, 'IDs').replace(/\bid\b/, 'ID');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function fieldLabel(root, input) {
  if (input.id) {
    const l = root.querySelector('label[for="' + CSS.escape(input.id) + '"]');
    if (l) return l.textContent.trim();
  }
  const legend = input.closest('fieldset') && input.closest('fieldset').querySelector('legend');
  return legend ? legend.textContent.trim() : (input.getAttribute('aria-label') || input.name || 'Field');
}

/**
 * copyableID shows a long identifier (an object ID, an account ID) that
 * wraps instead of being clipped, with a button that copies it. what
 * names it for the button ("object ID of Sales").
 */
export function copyableID(value, what) {
  const status = h('span', { class: 'uc-visually-hidden', role: 'status' });
  const button = h('button', { type: 'button', class: 'uc-button uc-button-subtle uc-copy', 'aria-label': 'Copy ' + what,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(value);
        button.textContent = 'Copied';
        status.textContent = 'Copied ' + what;
      } catch (_) {
        // No clipboard in this frame: select the text for Ctrl+C.
        const r = document.createRange();
        r.selectNodeContents(code);
        getSelection().removeAllRanges();
        getSelection().addRange(r);
        status.textContent = 'Selected ' + what + ': press Ctrl+C or ⌘C to copy';
      }
    } }, 'Copy');
  const code = h('code', {}, value);
  return h('span', { class: 'uc-id', dataset: { id: value } }, code, button, status);
}

/** splitList splits a textarea's text into trimmed non-empty entries. */
export function splitList(text) {
  return String(text || '').split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean);
}

/** formatDate formats an ISO time for the admin's locale; "—" when empty. */
export function formatDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** stateMessage renders a loading / empty / error state into el. */
export function stateMessage(el, kind, text, retry) {
  const box = h('div', { class: 'uc-state uc-state-' + kind, role: kind === 'error' ? 'alert' : 'status' },
    kind === 'loading' ? h('span', { class: 'uc-spinner', 'aria-hidden': 'true' }) : null,
    h('span', {}, text),
    retry ? h('button', { type: 'button', class: 'uc-button uc-button-subtle', onclick: retry }, 'Try again') : null);
  el.replaceChildren(box);
}
