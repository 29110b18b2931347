// The cleanup form's "Warn users before removing access" section: the
// days, the admin's subject and message (placeholders {name}, {product},
// {site}, {lastActive}, {removalDate}, {reason}), the Reply-To address, a
// preview (POST /api/warnings/preview: rendered by the server exactly as
// users get it, the HTML in a sandboxed frame) and "Send a test e-mail
// to me" (POST /api/warnings/test, to the admin's own address).
import { api, h, flag } from './api.js';
import { label } from './labels.js';

/** warningSection returns the section for the form with prefix p and
 *  the definition's options o; .collect() returns the options. */
export function warningSection(p, o) {
  const opts = Object.assign({ enabled: false, days: 14, subject: '', message: '', replyTo: '' }, o || {});
  const field = (id, label, input, help) => {
    input.id = id;
    if (help) input.setAttribute('aria-describedby', id + '-help');
    return h('div', { class: 'uc-field' }, h('label', { for: id }, label), input,
      help ? h('p', { class: 'uc-help', id: id + '-help' }, help) : null);
  };
  const enabled = h('input', { type: 'checkbox', id: p + '-warn', checked: !!opts.enabled, dataset: { field: 'warning.enabled' } });
  const days = h('input', { type: 'number', min: '1', max: '90', value: String(opts.days || 14), dataset: { field: 'warning.days' } });
  const subject = h('input', { value: opts.subject || '', spellcheck: 'true', dataset: { field: 'warning.subject' } });
  const message = h('textarea', { rows: '10', dataset: { field: 'warning.message' } }, opts.message || '');
  const replyTo = h('input', { type: 'email', value: opts.replyTo || '', autocomplete: 'email', dataset: { field: 'warning.replyTo' } });
  const status = h('p', { class: 'uc-help', id: p + '-warn-status', role: 'status' });
  const previewSubject = h('span', { id: p + '-warn-preview-subject' });
  const frame = h('iframe', { id: p + '-warn-preview-html', title: 'The warning e-mail as users see it', sandbox: '', class: 'uc-mail-preview' });
  const text = h('pre', { id: p + '-warn-preview-text', class: 'uc-mail-text' });
  const preview = h('section', { id: p + '-warn-preview', class: 'uc-mail', 'aria-label': 'Preview of the warning e-mail', hidden: true },
    h('p', {}, h('strong', {}, 'Subject: '), previewSubject), frame,
    h('details', {}, h('summary', {}, 'Plain-text version'), text));
  const collect = () => ({
    enabled: enabled.checked, days: Number(days.value || 0), subject: subject.value.trim(),
    message: message.value.replace(/\r\n/g, '\n').trim(), replyTo: replyTo.value.trim(),
  });
  const previewBtn = h('button', { type: 'button', class: 'uc-button uc-button-default', id: p + '-warn-preview-button' }, 'Preview');
  const testBtn = h('button', { type: 'button', class: 'uc-button uc-button-default', id: p + '-warn-test' }, 'Send a test e-mail to me');
  async function show() {
    previewBtn.disabled = true;
    try {
      const res = await api('POST', '/warnings/preview', { warning: collect() });
      if (!subject.value) subject.placeholder = res.subjectTemplate;
      if (!message.value) message.value = res.messageTemplate; // start from the default text
      previewSubject.textContent = res.subject;
      frame.srcdoc = res.html;
      text.textContent = res.text;
      preview.hidden = false;
      status.textContent = (res.to ? 'Shown as ' + res.to + ' would get it, with sample values.' : 'Shown with sample values.') +
        (res.available ? '' : ' This server has no mail server configured: warnings cannot be sent.');
      testBtn.disabled = !res.available;
    } catch (err) {
      status.textContent = 'No preview: ' + err.message;
    } finally {
      previewBtn.disabled = false;
    }
  }
  previewBtn.addEventListener('click', show);
  testBtn.addEventListener('click', async () => {
    testBtn.disabled = true;
    status.textContent = 'Sending a test e-mail…';
    try {
      const res = await api('POST', '/warnings/test', { warning: collect() });
      status.textContent = 'Test e-mail sent to ' + res.sentTo + '.';
      flag('Test e-mail sent', res.sentTo, 'success');
    } catch (err) {
      status.textContent = 'The test e-mail was not sent: ' + err.message;
    } finally {
      testBtn.disabled = false;
    }
  });
  const box = h('div', { class: 'uc-indent', id: p + '-warn-box', hidden: !opts.enabled },
    field(p + '-warn-days', 'Days between the warning and the removal', days, 'The first run that matches a user e-mails them; a run on or after this many days removes their access, unless they used the product since (1–90).'),
    field(p + '-warn-subject', 'Subject', subject, 'Empty: the default subject.'),
    field(p + '-warn-message', 'Message', message, 'Placeholders: {name}, {product}, {site}, {lastActive}, {removalDate}, {reason}. Empty: the default text, which says why and how to keep access.'),
    field(p + '-warn-replyTo', 'Reply-To address (optional)', replyTo, 'Where replies go, for example your IT help desk.'),
    h('div', { class: 'uc-actions' }, previewBtn, testBtn), status, preview);
  const section = h('fieldset', { class: 'uc-field', dataset: { field: 'warning' } },
    h('legend', {}, 'Warn users before removing access'),
    h('div', { class: 'uc-check' }, enabled, h('label', { for: p + '-warn' }, 'E-mail users before their access is removed')),
    box);
  enabled.addEventListener('change', () => { box.hidden = !enabled.checked; });
  return { el: section, collect };
}

/** warningNote is the schedule list's "N warned, removal on DATE". */
export function warningNote(c, formatDate) {
  const w = c.warnings;
  if (!w || !w.open) return null;
  return h('p', { class: 'uc-help', dataset: { warnings: String(w.open) } },
    w.open + ' ' + label('warningCount', 'openWarnings') + ' ' + formatDate(w.nextRemoval));
}

/** warningCounts is History's line of a run's warning counters, in the
 *  words of the label table ("12 warned · 3 spared (active again)"). */
export function warningCounts(r) {
  const w = (r.counts || {}).warnings;
  if (!w) return null;
  const n = (key, words) => w[key] + ' ' + label('warningCount', words || key);
  const parts = [n('warned', r.dryRun ? 'wouldBeWarned' : 'warned'), n('spared'), n('removed')];
  for (const key of ['grace', 'removalFailed', 'emailFailed', 'cancelled', 'emailUnconfirmed', 'emailPending', 'noAddress']) {
    if (w[key]) parts.push(n(key));
  }
  return h('p', { class: 'uc-help', dataset: { warningCounts: '' } }, parts.join(' · '));
}
