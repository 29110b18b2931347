// Host side of the local AP bridge. The host page plays Jira or Confluence:
// it answers the calls that web/static/ap-bridge.js (the app page's stand-in
// for all.js) posts from inside the iframe. Messages:
//   page → host   {apBridge: 1, id, method, args}
//   host → page   {apBridge: 1, id, result} | {apBridge: 1, id, error}
//   host → page   {apBridge: 1, event, data}   (e.g. "dialog.close")
// Only messages from the app's origin and from frames this page created are
// answered.
(() => {
  'use strict';
  const config = JSON.parse(document.getElementById('host-config').textContent);
  const mainFrame = document.getElementById('host-frame');
  const overlay = document.getElementById('host-dialog');
  const dialogBox = overlay.querySelector('.host-dialog-box');
  const flags = document.getElementById('host-flags');
  let dialog = null; // {frame, customData, opener}
  let flagSeq = 0;

  async function hostAPI(path, body) {
    const res = await fetch(config.prefix + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Host-Page': '1' },
      body: JSON.stringify(Object.assign({ product: config.product, user: config.user }, body)),
    });
    if (!res.ok) throw new Error((await res.text()).trim() || ('host page error ' + res.status));
    return res.json();
  }

  function frameOf(source) {
    if (source === mainFrame.contentWindow) return mainFrame;
    if (dialog && source === dialog.frame.contentWindow) return dialog.frame;
    return null;
  }

  function post(target, msg) {
    if (target && target.contentWindow) target.contentWindow.postMessage(Object.assign({ apBridge: 1 }, msg), config.appOrigin);
  }

  function showFlag(opts) {
    const id = 'flag-' + (++flagSeq);
    const el = document.createElement('div');
    el.className = 'host-flag';
    el.id = id;
    el.setAttribute('role', opts.type === 'error' ? 'alert' : 'status');
    el.dataset.type = opts.type || 'info';
    const title = document.createElement('strong');
    title.textContent = opts.title || '';
    const body = document.createElement('div');
    body.textContent = opts.body || '';
    const close = document.createElement('button');
    close.type = 'button';
    close.textContent = 'Dismiss';
    close.addEventListener('click', () => el.remove());
    el.append(title, body, close);
    flags.append(el);
    if (opts.close === 'auto') setTimeout(() => el.remove(), 8000);
    return id;
  }

  async function openDialog(opener, opts) {
    if (dialog) closeDialog(undefined);
    const { url } = await hostAPI('api/frame', { key: String(opts.key || '') });
    const frame = document.createElement('iframe');
    frame.id = 'host-dialog-frame';
    frame.title = opts.header || opts.key;
    frame.src = url;
    dialogBox.replaceChildren(frame);
    dialog = { frame, customData: opts.customData === undefined ? null : opts.customData, opener, closeOnEscape: opts.closeOnEscape !== false };
    overlay.hidden = false;
    frame.focus();
    return true;
  }

  function closeDialog(data) {
    if (!dialog) return false;
    const { opener } = dialog;
    dialog = null;
    overlay.hidden = true;
    dialogBox.replaceChildren();
    post(opener, { event: 'dialog.close', data: data === undefined ? null : data });
    mainFrame.focus();
    return true;
  }

  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && dialog && dialog.closeOnEscape) closeDialog(undefined);
  });

  const methods = {
    'context.getToken': async () => (await hostAPI('api/token', {})).token,
    'context.getContext': async () => ({ product: config.product }),
    'dialog.create': (frame, args) => openDialog(frame, args || {}),
    'dialog.close': (frame, args) => {
      if (!dialog || frame !== dialog.frame) throw new Error('no dialog of this frame is open');
      return closeDialog(args);
    },
    'dialog.escape': (frame) => {
      if (!dialog || frame !== dialog.frame || !dialog.closeOnEscape) return false;
      return closeDialog(undefined);
    },
    'dialog.getCustomData': (frame) => {
      if (!dialog || frame !== dialog.frame) throw new Error('not a dialog');
      return dialog.customData;
    },
    'flag.create': (frame, args) => showFlag(args || {}),
    'flag.close': (frame, args) => { const el = document.getElementById(String(args)); if (el) el.remove(); return true; },
    'resize': (frame, args) => {
      if (frame === mainFrame && args && Number(args.height) > 0) frame.style.height = Math.ceil(Number(args.height)) + 'px';
      return true;
    },
    'sizeToParent': (frame) => {
      if (frame === mainFrame) frame.style.height = (window.innerHeight - 56) + 'px';
      return true;
    },
  };

  window.addEventListener('message', async (e) => {
    const msg = e.data;
    if (!msg || msg.apBridge !== 1 || typeof msg.method !== 'string') return;
    if (e.origin !== config.appOrigin) return;
    const frame = frameOf(e.source);
    if (!frame) return;
    const fn = methods[msg.method];
    try {
      if (!fn) throw new Error('AP.' + msg.method + ' is not supported by the host page');
      const result = await (msg.method.startsWith('context.') ? fn() : fn(frame, msg.args));
      post(frame, { id: msg.id, result: result === undefined ? null : result });
    } catch (err) {
      post(frame, { id: msg.id, error: String(err && err.message ? err.message : err) });
    }
  });

  window.hostPage = { closeDialog, config };
})();
