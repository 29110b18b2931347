package cleanup_test

import (
	"fmt"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// A daily 02:30 cleanup in Oslo on the night clocks spring forward runs at
// 03:00, the first valid instant after the gap, and at 02:30 the day after.
func ExampleNextRun() {
	s := cleanup.Schedule{Active: true, Frequency: cleanup.FrequencyDaily, TimeOfDay: "02:30", TimeZone: "Europe/Oslo"}
	t := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	for range 2 {
		var err error
		if t, err = cleanup.NextRun(s, t); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(t.Format("2006-01-02 15:04 MST"))
	}
	// Output:
	// 2026-03-29 03:00 CEST
	// 2026-03-30 02:30 CEST
}

// After the app was down for a week, a daily cleanup runs once, for the
// latest missed time.
func ExampleDueRuns() {
	s := cleanup.Schedule{Active: true, Frequency: cleanup.FrequencyDaily, TimeOfDay: "03:00", TimeZone: "UTC"}
	last := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	due, err := cleanup.DueRuns(s, last, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(due.Due, due.Collapsed(), due.ScheduledAt.Format(time.DateTime), due.Next.Format(time.DateTime))
	// Output:
	// true true 2026-11-28 03:00:00 2026-11-29 03:00:00
}
