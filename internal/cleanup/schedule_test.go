package cleanup

import (
	"testing"
	"time"

	_ "time/tzdata" // tests must not depend on the machine's zoneinfo

	"github.com/google/go-cmp/cmp"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

func TestNextRun(t *testing.T) {
	const oslo, ny = "Europe/Oslo", "America/New_York"
	daily := func(tz, at string) Schedule {
		return Schedule{Frequency: FrequencyDaily, TimeOfDay: at, TimeZone: tz}
	}
	cron := func(tz, expr string) Schedule {
		return Schedule{Frequency: FrequencyCron, Cron: expr, TimeZone: tz}
	}
	tests := []struct {
		name  string
		s     Schedule
		after string
		want  string // RFC 3339, UTC
	}{
		{"daily UTC later today", daily("", "03:00"), "2026-11-28T01:00:00Z", "2026-11-28T03:00:00Z"},
		{"daily UTC strictly after", daily("UTC", "03:00"), "2026-11-28T03:00:00Z", "2026-11-29T03:00:00Z"},
		{"daily Oslo winter", daily(oslo, "03:00"), "2026-11-28T03:00:00Z", "2026-11-29T02:00:00Z"},
		{"daily Oslo summer", daily(oslo, "03:00"), "2026-06-01T12:00:00Z", "2026-06-02T01:00:00Z"},
		// Spring forward, Oslo 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
		{"Oslo gap runs at the end of the gap", daily(oslo, "02:30"), "2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z"},
		{"Oslo day after the gap", daily(oslo, "02:30"), "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
		{"Oslo just before the gap is normal", daily(oslo, "01:59"), "2026-03-28T12:00:00Z", "2026-03-29T00:59:00Z"},
		{"Oslo 03:00 on spring-forward day", daily(oslo, "03:00"), "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
		// Fall back, Oslo 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens at 00:30Z and 01:30Z.
		{"Oslo ambiguous runs at first occurrence", daily(oslo, "02:30"), "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
		{"Oslo ambiguous runs once", daily(oslo, "02:30"), "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		// New York 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
		{"New York gap", daily(ny, "02:15"), "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"},
		{"New York after gap", daily(ny, "02:15"), "2026-03-08T07:00:00Z", "2026-03-09T06:15:00Z"},
		// New York 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens at 05:30Z and 06:30Z.
		{"New York ambiguous first", daily(ny, "01:30"), "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z"},
		{"New York ambiguous once", daily(ny, "01:30"), "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		{"weekly next Monday", Schedule{Frequency: FrequencyWeekly, Weekdays: []string{"mon", "THU"}, TimeOfDay: "09:00"},
			"2026-11-28T00:00:00Z", "2026-11-30T09:00:00Z"},
		{"weekly then Thursday", Schedule{Frequency: FrequencyWeekly, Weekdays: []string{"mon", "thu"}, TimeOfDay: "09:00"},
			"2026-11-30T09:00:00Z", "2026-12-03T09:00:00Z"},
		{"weekly Sunday in Oslo", Schedule{Frequency: FrequencyWeekly, Weekdays: []string{"sun"}, TimeOfDay: "00:30", TimeZone: oslo},
			"2026-11-28T12:00:00Z", "2026-11-28T23:30:00Z"},
		{"monthly 31 clamps to Feb 28", Schedule{Frequency: FrequencyMonthly, DayOfMonth: 31, TimeOfDay: "10:00"},
			"2026-02-01T00:00:00Z", "2026-02-28T10:00:00Z"},
		{"monthly 31 clamps to Feb 29 in a leap year", Schedule{Frequency: FrequencyMonthly, DayOfMonth: 31, TimeOfDay: "10:00"},
			"2028-02-01T00:00:00Z", "2028-02-29T10:00:00Z"},
		{"monthly 31 clamps to Apr 30", Schedule{Frequency: FrequencyMonthly, DayOfMonth: 31, TimeOfDay: "10:00"},
			"2026-04-01T00:00:00Z", "2026-04-30T10:00:00Z"},
		{"monthly 31 in a long month", Schedule{Frequency: FrequencyMonthly, DayOfMonth: 31, TimeOfDay: "10:00"},
			"2026-04-30T10:00:00Z", "2026-05-31T10:00:00Z"},
		{"monthly 15 next month", Schedule{Frequency: FrequencyMonthly, DayOfMonth: 15, TimeOfDay: "00:00", TimeZone: ny},
			"2026-11-15T05:00:00Z", "2026-12-15T05:00:00Z"},
		{"cron every 15 min", cron("", "*/15 * * * *"), "2026-11-28T10:07:00Z", "2026-11-28T10:15:00Z"},
		{"cron Oslo gap collapses to 03:00", cron(oslo, "*/15 2 * * *"), "2026-03-29T00:50:00Z", "2026-03-29T01:00:00Z"},
		{"cron Oslo gap runs once", cron(oslo, "*/15 2 * * *"), "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"},
		{"cron Oslo ambiguous first", cron(oslo, "30 2 * * *"), "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
		{"cron Oslo ambiguous once", cron(oslo, "30 2 * * *"), "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		{"cron Vixie OR: Friday before the 13th", cron("", "0 12 13 * FRI"), "2026-11-28T12:00:00Z", "2026-12-04T12:00:00Z"},
		{"cron Vixie OR: the 13th", cron("", "0 12 13 * FRI"), "2026-12-11T12:00:00Z", "2026-12-13T12:00:00Z"},
		{"cron dom only", cron("", "0 12 13 * *"), "2026-11-28T12:00:00Z", "2026-12-13T12:00:00Z"},
		{"cron star dom ANDs", cron("", "0 12 */2 * FRI"), "2026-11-28T12:00:00Z", "2026-12-11T12:00:00Z"},
		{"cron names", cron("", "0 9 * JAN,jul Mon-Fri"), "2026-11-28T00:00:00Z", "2027-01-01T09:00:00Z"},
		{"cron 7 is Sunday", cron("", "0 0 * * 7"), "2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"},
		{"cron leap day", cron("", "0 0 29 2 *"), "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"cron a/n step", cron("", "50/5 10 * * *"), "2026-11-28T10:51:00Z", "2026-11-28T10:55:00Z"},
		{"cron range step", cron("", "0 8-18/5 * * *"), "2026-11-28T13:00:00Z", "2026-11-28T18:00:00Z"},
		{"cron @hourly", cron("", "@hourly"), "2026-11-28T10:00:00Z", "2026-11-28T11:00:00Z"},
		{"cron @weekly", cron("", "@weekly"), "2026-11-28T10:00:00Z", "2026-11-29T00:00:00Z"},
		{"cron in New York", cron(ny, "0 9 * * MON"), "2026-11-28T00:00:00Z", "2026-11-30T14:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NextRun(tt.s, mustTime(t, tt.after))
			if err != nil {
				t.Fatalf("NextRun: %v", err)
			}
			if want := mustTime(t, tt.want); !got.Equal(want) {
				t.Errorf("NextRun(%s) = %s, want %s", tt.after, got.UTC().Format(time.RFC3339), tt.want)
			}
			if tt.s.TimeZone != "" && got.Location().String() != tt.s.TimeZone {
				t.Errorf("location = %s, want %s", got.Location(), tt.s.TimeZone)
			}
		})
	}
}

func TestNextRunInvalid(t *testing.T) {
	tests := []struct {
		name      string
		s         Schedule
		wantField string
	}{
		{"unknown frequency", Schedule{Frequency: "hourly", TimeOfDay: "01:00"}, "schedule.frequency"},
		{"empty frequency", Schedule{TimeOfDay: "01:00"}, "schedule.frequency"},
		{"bad time", Schedule{Frequency: FrequencyDaily, TimeOfDay: "24:00"}, "schedule.timeOfDay"},
		{"time without minutes", Schedule{Frequency: FrequencyDaily, TimeOfDay: "7"}, "schedule.timeOfDay"},
		{"bad time zone", Schedule{Frequency: FrequencyDaily, TimeOfDay: "01:00", TimeZone: "Mars/Olympus"}, "schedule.timeZone"},
		{"Local time zone", Schedule{Frequency: FrequencyDaily, TimeOfDay: "01:00", TimeZone: "Local"}, "schedule.timeZone"},
		{"weekly without days", Schedule{Frequency: FrequencyWeekly, TimeOfDay: "01:00"}, "schedule.weekdays"},
		{"weekly bad day", Schedule{Frequency: FrequencyWeekly, Weekdays: []string{"monday"}, TimeOfDay: "01:00"}, "schedule.weekdays"},
		{"monthly day 0", Schedule{Frequency: FrequencyMonthly, DayOfMonth: 0, TimeOfDay: "01:00"}, "schedule.dayOfMonth"},
		{"monthly day 32", Schedule{Frequency: FrequencyMonthly, DayOfMonth: 32, TimeOfDay: "01:00"}, "schedule.dayOfMonth"},
		{"bad cron", Schedule{Frequency: FrequencyCron, Cron: "61 * * * *"}, "schedule.cron"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NextRun(tt.s, mustTime(t, "2026-11-28T00:00:00Z"))
			if KindOf(err) != KindInvalid {
				t.Fatalf("NextRun error = %v (kind %v), want KindInvalid", err, KindOf(err))
			}
			fe := FieldErrors{}
			tt.s.Validate(fe, "schedule")
			if _, ok := fe[tt.wantField]; !ok || len(fe) != 1 {
				t.Errorf("Validate = %v, want one error for %s", fe, tt.wantField)
			}
		})
	}
}

func TestParseCronErrors(t *testing.T) {
	for _, expr := range []string{
		"", "* * * *", "* * * * * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
		"* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/61 * * * *", "0 0 * * FOO",
		"0 0 * FOO *", "@reboot", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "1,,2 * * * *", "a * * * *",
		"-1 * * * *", "1- * * * *",
	} {
		if c, err := ParseCron(expr); err == nil {
			t.Errorf("ParseCron(%q) = %v, want an error", expr, c)
		}
	}
	// Impossible day of month is fine when day of week is restricted too (either matches).
	if _, err := ParseCron("0 0 30 2 MON"); err != nil {
		t.Errorf("ParseCron(0 0 30 2 MON): %v", err)
	}
}

func TestDueRuns(t *testing.T) {
	daily := Schedule{Active: true, Frequency: FrequencyDaily, TimeOfDay: "03:00", TimeZone: "UTC"}
	everyMinute := Schedule{Active: true, Frequency: FrequencyCron, Cron: "* * * * *"}
	monthly := Schedule{Active: true, Frequency: FrequencyMonthly, DayOfMonth: 31, TimeOfDay: "00:00", TimeZone: "Europe/Oslo"}
	inactive := daily
	inactive.Active = false
	tests := []struct {
		name      string
		s         Schedule
		last, now string
		want      Due
	}{
		{"not yet", daily, "2026-11-28T03:00:00Z", "2026-11-28T10:00:00Z",
			Due{Next: mustTime(t, "2026-11-29T03:00:00Z")}},
		{"due on time", daily, "2026-11-27T03:00:00Z", "2026-11-28T03:00:00Z",
			Due{Due: true, ScheduledAt: mustTime(t, "2026-11-28T03:00:00Z"), FirstMissed: mustTime(t, "2026-11-28T03:00:00Z"), Next: mustTime(t, "2026-11-29T03:00:00Z")}},
		{"down for a week runs once", daily, "2026-11-20T03:00:00Z", "2026-11-28T10:00:00Z",
			Due{Due: true, ScheduledAt: mustTime(t, "2026-11-28T03:00:00Z"), FirstMissed: mustTime(t, "2026-11-21T03:00:00Z"), Next: mustTime(t, "2026-11-29T03:00:00Z")}},
		{"down for a year, every minute", everyMinute, "2025-11-28T10:00:00Z", "2026-11-28T10:00:30Z",
			Due{Due: true, ScheduledAt: mustTime(t, "2026-11-28T10:00:00Z"), FirstMissed: mustTime(t, "2025-11-28T10:01:00Z"), Next: mustTime(t, "2026-11-28T10:01:00Z")}},
		{"monthly, down three months", monthly, "2026-07-30T22:00:00Z", "2026-11-02T00:00:00Z",
			Due{Due: true, ScheduledAt: mustTime(t, "2026-10-30T23:00:00Z"), FirstMissed: mustTime(t, "2026-08-30T22:00:00Z"), Next: mustTime(t, "2026-11-29T23:00:00Z")}},
		{"never ran: no catch-up", daily, "", "2026-11-28T10:00:00Z",
			Due{Next: mustTime(t, "2026-11-29T03:00:00Z")}},
		{"inactive", inactive, "2026-11-20T03:00:00Z", "2026-11-28T10:00:00Z", Due{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var last time.Time
			if tt.last != "" {
				last = mustTime(t, tt.last)
			}
			got, err := DueRuns(tt.s, last, mustTime(t, tt.now))
			if err != nil {
				t.Fatalf("DueRuns: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("DueRuns mismatch (-want +got):\n%s", diff)
			}
			if got.Due {
				// Storing ScheduledAt as the last scheduled time makes the
				// schedule not due again until Next.
				again, err := DueRuns(tt.s, got.ScheduledAt, mustTime(t, tt.now))
				if err != nil || again.Due {
					t.Errorf("DueRuns after running = %+v, %v; want not due", again, err)
				}
			}
		})
	}
	if _, err := DueRuns(Schedule{Active: true, Frequency: "x"}, time.Time{}, time.Now()); KindOf(err) != KindInvalid {
		t.Errorf("DueRuns(invalid) error = %v, want KindInvalid", err)
	}
}

func TestBandsAndDaysSince(t *testing.T) {
	now := mustTime(t, "2026-11-28T12:00:00Z")
	b := ActivityBands{ActiveDays: 15, LowUsageDays: 30}
	tests := []struct {
		last time.Time
		want string
	}{
		{time.Time{}, BandNever},
		{now.Add(time.Hour), BandActive}, // clock skew: in the future
		{now.Add(-14*24*time.Hour - 23*time.Hour), BandActive},
		{now.Add(-15 * 24 * time.Hour), BandLowUsage},
		{now.Add(-30*24*time.Hour + time.Minute), BandLowUsage},
		{now.Add(-30 * 24 * time.Hour), BandInactive},
	}
	for _, tt := range tests {
		if got := b.Band(tt.last, now); got != tt.want {
			t.Errorf("Band(%s) = %s, want %s", tt.last, got, tt.want)
		}
	}
}

// FuzzParseCron checks that any expression either fails to parse with an
// error or yields strictly increasing run times, never a panic.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/15 2 * * *", "0 12 13 * FRI", "0 0 29 2 *", "50/5 8-18/5 1,15 JAN-JUN mon-fri", "@daily"} {
		f.Add(s)
	}
	after := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		if _, err := ParseCron(expr); err != nil {
			return
		}
		s := Schedule{Frequency: FrequencyCron, Cron: expr, TimeZone: "Europe/Oslo"}
		first, err := NextRun(s, after)
		if err != nil {
			t.Fatalf("NextRun(%q): %v", expr, err)
		}
		second, err := NextRun(s, first)
		if err != nil || !second.After(first) || !first.After(after) {
			t.Fatalf("NextRun(%q): %s then %s (%v)", expr, first, second, err)
		}
	})
}

func TestScheduleDescribe(t *testing.T) {
	tests := []struct {
		s    Schedule
		want string
	}{
		{Schedule{Frequency: FrequencyDaily, TimeOfDay: "03:00"}, "daily at 03:00 (UTC)"},
		{Schedule{Frequency: FrequencyWeekly, Weekdays: []string{"mon", "fri"}, TimeOfDay: "09:30", TimeZone: "Europe/Oslo"}, "weekly on mon, fri at 09:30 (Europe/Oslo)"},
		{Schedule{Frequency: FrequencyMonthly, DayOfMonth: 31, TimeOfDay: "00:00"}, "monthly on day 31 at 00:00 (UTC)"},
		{Schedule{Frequency: FrequencyCron, Cron: "0 3 * * *", TimeZone: "America/New_York"}, `cron "0 3 * * *" (America/New_York)`},
		{Schedule{}, "not scheduled"},
	}
	for _, tt := range tests {
		if got := tt.s.Describe(); got != tt.want {
			t.Errorf("Describe() = %q, want %q", got, tt.want)
		}
	}
}
