// The words the pages show for the values the API carries (run statuses,
// phases, actions, outcomes, where a group is managed, ...). They are
// written once, in internal/cleanup/labels.go, and served by GET
// /api/labels; every page loads them before it renders (loadLabels) and
// looks values up with label(kind, value). Nothing on a page spells a
// status or an outcome itself.
import { api } from './api.js';

let table = null;
let loading = null;

/** loadLabels fetches the table once per page. */
export async function loadLabels() {
  if (table) return table;
  if (!loading) loading = api('GET', '/labels').then((t) => { table = t || {}; return table; }, (err) => { loading = null; throw err; });
  return loading;
}

/**
 * label returns the words for a value of a kind ("runStatus", "outcome",
 * "action", ...). A value the table does not know is shown as "Unknown
 * (value)" rather than passed off as words.
 */
export function label(kind, value) {
  if (value === undefined || value === null || value === '') return '';
  const words = table && table[kind] && table[kind][value];
  return words || 'Unknown (' + value + ')';
}

/**
 * countText words a count of a run's rows (RunCounts' names): "32
 * exported", "1 needs manual action".
 */
export function countText(n, key) {
  const words = label('countOf', key);
  return n + ' ' + (n === 1 && words.startsWith('need ') ? 'needs' + words.slice(4) : words);
}
