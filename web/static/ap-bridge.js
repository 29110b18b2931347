// A local stand-in for Atlassian's all.js, for tests and the demo. It
// implements the part of the AP API the app's pages use, over postMessage
// with the page that frames it (internal/demo.HostPage, whose
// host-bridge.js answers):
//   AP.context.getToken([cb]) → Promise<string>
//   AP.context.getContext([cb])
//   AP.dialog.create(options) → {on('close', cb)}
//   AP.dialog.close([data]), AP.dialog.getCustomData(cb) → Promise
//   AP.flag.create({title, body, type, close}) → {close()}
//   AP.resize([width, height]), AP.sizeToParent()
// Pages must not depend on anything beyond what all.js offers.
(() => {
  'use strict';
  if (window.AP) return;
  const host = window.parent;
  let hostOrigin = '*';
  try {
    if (document.referrer) hostOrigin = new URL(document.referrer).origin;
  } catch (_) { /* keep '*' */ }

  let seq = 0;
  const pending = new Map();
  const listeners = new Map(); // event → [callbacks]

  function call(method, args) {
    return new Promise((resolve, reject) => {
      if (host === window) {
        reject(new Error('AP: this page is not framed by a host'));
        return;
      }
      const id = ++seq;
      pending.set(id, { resolve, reject });
      host.postMessage({ apBridge: 1, id, method, args: args === undefined ? null : args }, hostOrigin);
    });
  }

  window.addEventListener('message', (e) => {
    if (e.source !== host) return;
    if (hostOrigin !== '*' && e.origin !== hostOrigin) return;
    const msg = e.data;
    if (!msg || msg.apBridge !== 1) return;
    if (msg.event) {
      for (const cb of listeners.get(msg.event) || []) {
        try { cb(msg.data); } catch (err) { console.error(err); }
      }
      return;
    }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error !== undefined) p.reject(new Error(msg.error));
    else p.resolve(msg.result);
  });

  function on(event, cb) {
    if (!listeners.has(event)) listeners.set(event, []);
    listeners.get(event).push(cb);
  }

  function withCallback(promise, cb) {
    if (typeof cb === 'function') promise.then(cb, (err) => console.error(err));
    return promise;
  }

  const AP = {
    context: {
      getToken: (cb) => withCallback(call('context.getToken'), cb),
      getContext: (cb) => withCallback(call('context.getContext'), cb),
    },
    dialog: {
      create(options) {
        const closeCallbacks = [];
        const handle = {
          on(event, cb) {
            if (event === 'close') closeCallbacks.push(cb);
            return handle;
          },
        };
        call('dialog.create', options || {}).then(() => {
          const once = (data) => {
            const list = listeners.get('dialog.close');
            list.splice(list.indexOf(once), 1);
            for (const cb of closeCallbacks) cb(data);
          };
          on('dialog.close', once);
        }, (err) => console.error(err));
        return handle;
      },
      close: (data) => call('dialog.close', data === undefined ? null : data),
      getCustomData: (cb) => withCallback(call('dialog.getCustomData'), cb),
    },
    flag: {
      create(options) {
        const id = call('flag.create', options || {});
        return { close: () => id.then((flagId) => call('flag.close', flagId)) };
      },
    },
    events: { on },
    resize: (width, height) => call('resize', { width, height }),
    sizeToParent: () => call('sizeToParent'),
  };
  window.AP = AP;

  // Escape inside a dialog closes it unless it was opened with
  // closeOnEscape: false; the host decides, and ignores it elsewhere.
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !e.defaultPrevented) call('dialog.escape').catch(() => {});
  });

  // Keep the frame as tall as the content, as all.js does for .ac-content.
  function autoResize() {
    const content = document.querySelector('.ac-content') || document.body;
    if (!content || typeof ResizeObserver === 'undefined') return;
    let last = 0;
    new ResizeObserver(() => {
      const h = Math.ceil(content.getBoundingClientRect().height) + 32;
      if (h !== last) {
        last = h;
        AP.resize('100%', h).catch(() => {});
      }
    }).observe(content);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', autoResize);
  else autoResize();
})();
