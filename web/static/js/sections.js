// Pages made of sections that are saved on their own (Settings): tabs
// that find a section, each section a <form> with its own Save button,
// status and error summary, a clear "unsaved changes" state per section
// (on its tab too), and a warning before leaving the page with unsaved
// changes.
//
// Markup: a [role=tablist] of buttons [role=tab][data-section=NAME]
// (each with a .uc-dirty-mark and a .uc-dirty-text inside), and per
// section a form#section-NAME[role=tabpanel] holding a #status-NAME.
// A section is clean when each of its controls holds the value it had
// when the section was last filled (markClean); controls drawn later
// (tables that load afterwards) are marked by the code that draws them.

const valueOf = (el) => (el.type === 'checkbox' || el.type === 'radio' ? String(el.checked) : el.value);
const controls = (root) => [...root.querySelectorAll('input, select, textarea')];

/** markClean records the values of root's controls as saved. */
export function markClean(root) {
  for (const el of controls(root)) el.dataset.clean = valueOf(el);
}

/** isDirty reports whether a control of root differs from its saved value. */
export function isDirty(root) {
  return controls(root).some((el) => el.dataset.clean !== undefined && el.dataset.clean !== valueOf(el));
}

/**
 * initSections wires the tabs (WAI-ARIA tabs: arrows, Home, End), the
 * unsaved-changes marks and the warning before leaving. It returns
 * {select(name, focus), dirty(name), refresh(name), anyDirty(), setStatus(name, text, tone)}.
 */
export function initSections(tablist) {
  const tabs = [...tablist.querySelectorAll('[role="tab"]')];
  const form = (name) => document.getElementById('section-' + name);
  const status = (name) => document.getElementById('status-' + name);
  const tabOf = (name) => tabs.find((t) => t.dataset.section === name);

  function select(name, focus) {
    for (const t of tabs) {
      const on = t.dataset.section === name;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      form(t.dataset.section).hidden = !on;
    }
    if (focus) tabOf(name).focus();
  }
  for (const t of tabs) {
    t.addEventListener('click', () => select(t.dataset.section, false));
    t.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(t);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      select(tabs[(to + tabs.length) % tabs.length].dataset.section, true);
    });
  }

  // refresh shows whether the section has unsaved changes, on its tab
  // and next to its Save button.
  function refresh(name) {
    const d = isDirty(form(name));
    const tab = tabOf(name);
    tab.querySelector('.uc-dirty-mark').hidden = !d;
    tab.querySelector('.uc-dirty-text').hidden = !d;
    form(name).dataset.dirty = d ? '1' : '';
    const st = status(name);
    if (d) setStatus(name, 'Unsaved changes', 'dirty');
    else if (st.dataset.tone === 'dirty') setStatus(name, '', '');
  }
  function setStatus(name, text, tone) {
    const st = status(name);
    st.textContent = text;
    st.dataset.tone = tone || '';
  }
  for (const t of tabs) {
    const name = t.dataset.section;
    form(name).addEventListener('input', () => refresh(name));
    form(name).addEventListener('change', () => refresh(name));
  }
  const anyDirty = () => tabs.some((t) => isDirty(form(t.dataset.section)));
  // The browser asks before leaving (or reloading) with unsaved changes.
  window.addEventListener('beforeunload', (e) => {
    if (!anyDirty()) return;
    e.preventDefault();
    e.returnValue = '';
  });
  return { select, refresh, anyDirty, setStatus, dirty: (name) => isDirty(form(name)) };
}
