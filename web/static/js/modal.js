// The pages' modal dialog, in the Atlassian Design System's style: a
// native <dialog> opened with showModal() (the rest of the page is inert),
// a heading, a body, and the buttons at the bottom right, the primary one
// last. Tab and Shift+Tab stay inside it, Escape (and Cancel) closes it,
// and the focus goes back to the control that opened it.
//
// The product grows the frame with the page, so the frame can be taller
// than the window: a box centred in the frame could open off screen. The
// dialog therefore opens at the height of its opener and is scrolled into
// view.
//
//   const yes = await confirmModal({
//     title: 'Run "Leavers" now?',
//     body: ['Remove Jira Software access for 34 users?', '2 need manual action.'],
//     confirm: 'Remove access', tone: 'danger', opener: button,
//   });
import { h } from './api.js';

let seq = 0;

const focusable = (root) => [...root.querySelectorAll('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')]
  .filter((el) => !el.disabled && !el.hidden && el.getClientRects().length > 0);

/**
 * openModal shows a modal dialog and resolves with the value of the button
 * that closed it (undefined for Escape or Cancel). opts: {title, body
 * (nodes or strings, a string per paragraph), buttons: [{label, value,
 * tone ('primary'|'danger'|'warning'|'default'|'subtle'), id}], opener, id,
 * role ('alertdialog' for a question that needs an answer), initial (the
 * value of the button to focus first; default: the first, which is Cancel
 * in confirmModal)}.
 */
export function openModal(opts) {
  const id = opts.id || 'uc-modal-' + (++seq);
  const opener = opts.opener || document.activeElement;
  const titleID = id + '-title';
  const bodyID = id + '-body';
  return new Promise((resolve) => {
    const buttons = (opts.buttons || []).map((b) => h('button', {
      type: 'button', id: b.id, class: 'uc-button' + (b.tone && b.tone !== 'primary' ? ' uc-button-' + b.tone : ''),
      onclick: () => close(b.value),
    }, b.label));
    const body = h('div', { class: 'uc-modal-body', id: bodyID },
      [].concat(opts.body || []).map((x) => (typeof x === 'string' ? h('p', {}, x) : x)));
    const dialog = h('dialog', { class: 'uc-modal uc-ds-modal', id, role: opts.role, 'aria-labelledby': titleID, 'aria-describedby': bodyID },
      h('h2', { class: 'uc-modal-title', id: titleID }, opts.title),
      body,
      h('div', { class: 'uc-modal-footer' }, buttons));
    let done = false;
    function close(value) {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(value);
    }
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(undefined); });
    dialog.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); close(undefined); return; }
      if (e.key !== 'Tab') return;
      const list = focusable(dialog);
      if (list.length === 0) { e.preventDefault(); return; }
      const first = list[0];
      const last = list[list.length - 1];
      if (e.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    });
    document.body.append(dialog);
    // Open next to the opener: the frame may be taller than the window.
    const r = opener && opener.getBoundingClientRect ? opener.getBoundingClientRect() : null;
    const top = r ? Math.max(16, window.scrollY + r.top - 160) : window.scrollY + 16;
    dialog.style.top = top + 'px';
    dialog.showModal();
    const first = opts.initial !== undefined ? buttons[(opts.buttons || []).findIndex((b) => b.value === opts.initial)] : buttons[0];
    if (first) first.focus();
    dialog.scrollIntoView({ block: 'nearest' });
  });
}

/**
 * confirmModal asks a yes/no question: Cancel first (focused), then the
 * action's button. Resolves true when the admin confirms.
 */
export async function confirmModal(opts) {
  const v = await openModal({
    title: opts.title, body: opts.body, opener: opts.opener, id: opts.id, role: 'alertdialog',
    buttons: [
      { label: opts.cancel || 'Cancel', value: false, tone: 'subtle', id: (opts.id || 'uc-modal') + '-cancel' },
      { label: opts.confirm, value: true, tone: opts.tone || 'primary', id: (opts.id || 'uc-modal') + '-confirm' },
    ],
  });
  return v === true;
}
