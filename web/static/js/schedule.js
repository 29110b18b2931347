// Client-side preview of a schedule for the creation form ("Next
// cleanup"). The server computes the real next run (internal/cleanup
// schedule.go, including the DST rules) and shows it in the list once the
// schedule is saved; this preview only has to agree for ordinary times.

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const NAMES = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' };

function wall(ms, tz) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric',
  }).formatToParts(new Date(ms));
  const v = {};
  for (const p of parts) v[p.type] = Number(p.value);
  return Date.UTC(v.year, v.month - 1, v.day, v.hour, v.minute);
}

// zonedToUTC returns the instant of a wall time in tz (the first one after
// a gap, the earlier one of an overlap, approximately as the server does).
function zonedToUTC(y, m, d, hh, mm, tz) {
  const guess = Date.UTC(y, m, d, hh, mm);
  let t = guess - (wall(guess, tz) - guess);
  t = guess - (wall(t, tz) - t);
  return t;
}

function parseTime(s) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s || '');
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) return null;
  return [Number(m[1]), Number(m[2])];
}

/** nextRun returns the next run after now, or null when it cannot tell (cron, invalid). */
export function nextRun(s, now) {
  const tz = s.timeZone || 'UTC';
  const t = parseTime(s.timeOfDay);
  if (!t || s.frequency === 'cron') return null;
  let today;
  try { today = new Date(wall(now.getTime(), tz)); } catch (_) { return null; }
  for (let i = 0; i < 400; i++) {
    const day = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + i));
    const y = day.getUTCFullYear();
    const m = day.getUTCMonth();
    const d = day.getUTCDate();
    let ok = false;
    if (s.frequency === 'daily') ok = true;
    else if (s.frequency === 'weekly') ok = (s.weekdays || []).includes(DAYS[day.getUTCDay()]);
    else if (s.frequency === 'monthly') {
      const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
      ok = d === Math.min(Number(s.dayOfMonth) || 1, last);
    }
    if (!ok) continue;
    const at = zonedToUTC(y, m, d, t[0], t[1], tz);
    if (at > now.getTime()) return new Date(at);
  }
  return null;
}

/** describeSchedule says when a schedule runs, in words. */
export function describeSchedule(s) {
  const at = ' at ' + (s.timeOfDay || '?') + ' (' + (s.timeZone || 'UTC') + ')';
  switch (s.frequency) {
    case 'daily': return 'every day' + at;
    case 'weekly': return 'every ' + ((s.weekdays || []).map((w) => NAMES[w] || w).join(', ') || '(no day chosen)') + at;
    case 'monthly': return 'on day ' + (s.dayOfMonth || '?') + ' of every month' + at;
    case 'cron': return 'cron "' + (s.cron || '') + '" (' + (s.timeZone || 'UTC') + ')';
    default: return '';
  }
}
