package cleanup

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Schedule frequencies.
const (
	FrequencyDaily   = "daily"
	FrequencyWeekly  = "weekly"  // on Weekdays
	FrequencyMonthly = "monthly" // on DayOfMonth, clamped to the month's last day
	FrequencyCron    = "cron"    // a 5-field cron expression; TimeOfDay is unused
)

// Schedule says when a scheduled cleanup runs. Times are wall-clock times in
// TimeZone (an IANA name such as "Europe/Oslo"; empty means UTC).
//
// Daylight saving time: a wall time that does not exist on a
// spring-forward day runs at the first valid instant after the gap (02:30
// in Oslo on the last Sunday of March runs at 03:00 CEST); a wall time that
// occurs twice on a fall-back day runs once, at its first occurrence.
type Schedule struct {
	Active     bool     `json:"active"`
	Frequency  string   `json:"frequency"`
	Weekdays   []string `json:"weekdays,omitempty"`   // "mon" … "sun", for weekly
	DayOfMonth int      `json:"dayOfMonth,omitempty"` // 1–31, for monthly
	Cron       string   `json:"cron,omitempty"`       // for cron
	TimeOfDay  string   `json:"timeOfDay"`            // "HH:MM", 24-hour, for daily/weekly/monthly
	TimeZone   string   `json:"timeZone"`             // IANA time zone
}

// weekdayIndex returns the time.Weekday of "sun" … "sat" (any case), or -1.
func weekdayIndex(name string) int {
	return slices.Index([]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, strings.ToLower(strings.TrimSpace(name)))
}

// compiledSchedule is a Schedule checked and ready to compute times.
type compiledSchedule struct {
	freq         string
	loc          *time.Location
	hour, minute int
	weekdays     [7]bool
	dom          int
	cron         *Cron
}

// Validate adds field errors for s under prefix (e.g. "schedule").
func (s Schedule) Validate(fe FieldErrors, prefix string) {
	if _, err := s.compile(prefix); err != nil {
		var e *Error
		if errors.As(err, &e) {
			fe.Add(e.Field, "%s", e.Message)
			return
		}
		fe.Add(prefix, "%s", err.Error())
	}
}

// compile validates s; errors are *Error of KindInvalid naming the field.
func (s Schedule) compile(prefix string) (compiledSchedule, error) {
	c := compiledSchedule{freq: s.Frequency}
	tz := strings.TrimSpace(s.TimeZone)
	switch tz {
	case "":
		c.loc = time.UTC
	case "Local":
		return c, Invalid(prefix+".timeZone", "must be an IANA time zone such as Europe/Oslo, not Local")
	default:
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return c, Invalid(prefix+".timeZone", "unknown time zone %q: use an IANA name such as Europe/Oslo", tz)
		}
		c.loc = loc
	}
	if s.Frequency != FrequencyCron {
		h, m, ok := parseTimeOfDay(s.TimeOfDay)
		if !ok {
			return c, Invalid(prefix+".timeOfDay", "must be a time HH:MM between 00:00 and 23:59")
		}
		c.hour, c.minute = h, m
	}
	switch s.Frequency {
	case FrequencyDaily:
	case FrequencyWeekly:
		if len(s.Weekdays) == 0 {
			return c, Invalid(prefix+".weekdays", "choose at least one day of the week")
		}
		for _, d := range s.Weekdays {
			i := weekdayIndex(d)
			if i < 0 {
				return c, Invalid(prefix+".weekdays", "%q is not a day of the week (mon, tue, wed, thu, fri, sat, sun)", d)
			}
			c.weekdays[i] = true
		}
	case FrequencyMonthly:
		if s.DayOfMonth < 1 || s.DayOfMonth > 31 {
			return c, Invalid(prefix+".dayOfMonth", "must be a day from 1 to 31 (days past the month's end run on its last day)")
		}
		c.dom = s.DayOfMonth
	case FrequencyCron:
		cr, err := ParseCron(s.Cron)
		if err != nil {
			return c, &Error{Kind: KindInvalid, Field: prefix + ".cron", Message: err.Error()}
		}
		c.cron = cr
	default:
		return c, Invalid(prefix+".frequency", "must be %q, %q, %q or %q", FrequencyDaily, FrequencyWeekly, FrequencyMonthly, FrequencyCron)
	}
	return c, nil
}

func parseTimeOfDay(s string) (h, m int, ok bool) {
	hs, ms, found := strings.Cut(strings.TrimSpace(s), ":")
	if !found || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 {
		return 0, 0, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// Search horizons: plain frequencies repeat within a month; a cron
// expression such as "0 0 29 2 1" (Feb 29 or a Monday) or "0 0 29 2 *" (leap
// days only) needs up to 8 years.
const (
	horizonDays     = 400
	horizonCronDays = 9 * 366
)

// NextRun returns the first scheduled instant strictly after after, in the
// schedule's time zone (see Schedule for the daylight saving rules). It
// ignores Active. An invalid schedule gives a KindInvalid *Error naming the
// field.
func NextRun(s Schedule, after time.Time) (time.Time, error) {
	c, err := s.compile("schedule")
	if err != nil {
		return time.Time{}, err
	}
	return c.next(after)
}

func (c compiledSchedule) next(after time.Time) (time.Time, error) {
	local := after.In(c.loc)
	// Start a day early: a candidate of the previous local date can resolve
	// (through a gap) to an instant on this date; checking it is cheap.
	y, m, d := local.Date()
	horizon := horizonDays
	if c.cron != nil {
		horizon = horizonCronDays
	}
	for i := -1; i <= horizon; i++ {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, time.UTC)
		dy, dm, dd := day.Date()
		if c.cron != nil {
			if !c.cron.matchDay(dy, dm, dd) {
				continue
			}
			for h := 0; h < 24; h++ {
				if c.cron.hour&(1<<h) == 0 {
					continue
				}
				for mi := 0; mi < 60; mi++ {
					if c.cron.minute&(1<<mi) == 0 {
						continue
					}
					if t := resolveLocal(dy, dm, dd, h, mi, c.loc); t.After(after) {
						return t, nil
					}
				}
			}
			continue
		}
		switch c.freq {
		case FrequencyWeekly:
			if !c.weekdays[day.Weekday()] {
				continue
			}
		case FrequencyMonthly:
			if dd != min(c.dom, daysIn(dy, dm)) {
				continue
			}
		}
		if t := resolveLocal(dy, dm, dd, c.hour, c.minute, c.loc); t.After(after) {
			return t, nil
		}
	}
	return time.Time{}, Invalid("schedule", "the schedule has no run in the next %d days", horizon)
}

// resolveLocal returns the instant of a wall-clock time in loc: the first
// occurrence when the time is ambiguous (fall back) and the first instant
// after the gap when it does not exist (spring forward).
func resolveLocal(y int, mo time.Month, d, h, mi int, loc *time.Location) time.Time {
	wall := time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
	t := time.Date(y, mo, d, h, mi, 0, 0, loc)
	// The offsets in effect around t: its own and its neighbours'.
	_, off := t.Zone()
	offsets := []int{off}
	start, end := t.ZoneBounds()
	if !start.IsZero() {
		_, o := start.Add(-time.Second).Zone()
		offsets = append(offsets, o)
	}
	if !end.IsZero() {
		_, o := end.Zone()
		offsets = append(offsets, o)
	}
	var best, latest time.Time
	for _, o := range offsets {
		inst := wall.Add(-time.Duration(o) * time.Second).In(loc)
		if latest.IsZero() || inst.After(latest) {
			latest = inst
		}
		if _, io := inst.Zone(); io == o && (best.IsZero() || inst.Before(best)) {
			best = inst
		}
	}
	if !best.IsZero() {
		return best
	}
	// In a gap: no offset gives this wall time. The transition that caused
	// the gap is the start of the zone in effect at the latest candidate.
	gapEnd, _ := latest.ZoneBounds()
	return gapEnd.In(loc)
}

// Due is the answer to "should this schedule run now?".
type Due struct {
	// Due reports whether a run should start now.
	Due bool
	// ScheduledAt is the latest scheduled time at or before now: the run to
	// start. Store it as the schedule's last scheduled time; it also makes a
	// good idempotency key (one run per schedule and ScheduledAt).
	ScheduledAt time.Time
	// FirstMissed is the earliest scheduled time after the last one; it
	// differs from ScheduledAt when several times were missed (the app was
	// down) and collapse into this one run.
	FirstMissed time.Time
	// Next is the first scheduled time after now (zero when inactive).
	Next time.Time
}

// Collapsed reports whether more than one scheduled time collapsed into this run.
func (d Due) Collapsed() bool { return d.Due && !d.FirstMissed.Equal(d.ScheduledAt) }

// DueRuns decides whether a schedule must run at now, given the last
// scheduled time it ran for. Times missed while the app was down run once,
// not once per missed time. An inactive schedule is never due. A zero
// lastScheduled means the schedule never ran: nothing is due, and the
// caller stores now as the starting point (a new schedule does not catch up
// on times before it existed).
func DueRuns(s Schedule, lastScheduled, now time.Time) (Due, error) {
	c, err := s.compile("schedule")
	if err != nil {
		return Due{}, err
	}
	if !s.Active {
		return Due{}, nil
	}
	next, err := c.next(now)
	if err != nil {
		return Due{}, err
	}
	if lastScheduled.IsZero() {
		return Due{Next: next}, nil
	}
	first, err := c.next(lastScheduled)
	if err != nil {
		return Due{}, err
	}
	if first.After(now) {
		return Due{Next: first}, nil
	}
	// Find the latest scheduled time <= now without walking every missed
	// time: look back over growing windows and walk only the last one.
	latest := first
	for _, w := range []time.Duration{time.Hour, 25 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour} {
		from := now.Add(-w)
		if !from.After(first) {
			break
		}
		t, err := c.next(from)
		if err != nil {
			return Due{}, err
		}
		if !t.After(now) {
			latest = t
			break
		}
	}
	for {
		t, err := c.next(latest)
		if err != nil {
			return Due{}, err
		}
		if t.After(now) {
			break
		}
		latest = t
	}
	return Due{Due: true, ScheduledAt: latest, FirstMissed: first, Next: next}, nil
}

// Describe returns a short English description of the schedule, for lists.
func (s Schedule) Describe() string {
	tz := s.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	switch s.Frequency {
	case FrequencyDaily:
		return fmt.Sprintf("daily at %s (%s)", s.TimeOfDay, tz)
	case FrequencyWeekly:
		return fmt.Sprintf("weekly on %s at %s (%s)", strings.Join(s.Weekdays, ", "), s.TimeOfDay, tz)
	case FrequencyMonthly:
		return fmt.Sprintf("monthly on day %d at %s (%s)", s.DayOfMonth, s.TimeOfDay, tz)
	case FrequencyCron:
		return fmt.Sprintf("cron %q (%s)", s.Cron, tz)
	}
	return "not scheduled"
}
