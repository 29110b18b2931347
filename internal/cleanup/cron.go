package cleanup

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed standard 5-field cron expression:
//
//	minute hour day-of-month month day-of-week
//
// Each field accepts "*", numbers, names (JAN–DEC, SUN–SAT, case-insensitive),
// lists "a,b", ranges "a-b" and steps "*/n", "a-b/n" or "a/n" (a to the
// field's maximum). Day of week is 0–7 with 0 and 7 both Sunday. The macros
// @yearly (@annually), @monthly, @weekly, @daily (@midnight) and @hourly are
// accepted. As in Vixie cron, when both day of month and day of week are
// restricted (neither starts with "*"), a day matches if either matches.
type Cron struct {
	minute, hour, dom, month, dow uint64 // bit sets
	domStar, dowStar              bool
	expr                          string
}

type cronField struct {
	name     string
	min, max int
	names    []string // names[i] is the value min+i
}

// cronFields returns the five fields in order.
func cronFields() [5]cronField {
	return [5]cronField{
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day of month", min: 1, max: 31},
		{name: "month", min: 1, max: 12,
			names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
		{name: "day of week", min: 0, max: 7,
			names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
	}
}

// ParseCron parses a 5-field cron expression. The error says which field is
// wrong and why; an expression that can never match (such as "0 0 30 2 *")
// is an error too.
func ParseCron(expr string) (*Cron, error) {
	e := strings.TrimSpace(expr)
	switch strings.ToLower(e) {
	case "@yearly", "@annually":
		e = "0 0 1 1 *"
	case "@monthly":
		e = "0 0 1 * *"
	case "@weekly":
		e = "0 0 * * 0"
	case "@daily", "@midnight":
		e = "0 0 * * *"
	case "@hourly":
		e = "0 * * * *"
	}
	if strings.HasPrefix(e, "@") {
		return nil, fmt.Errorf("unknown cron macro %q", e)
	}
	fields := strings.Fields(e)
	if len(fields) != 5 {
		return nil, fmt.Errorf("a cron expression has 5 fields (minute hour day-of-month month day-of-week), got %d", len(fields))
	}
	c := &Cron{expr: strings.Join(fields, " ")}
	var sets [5]uint64
	for i, f := range cronFields() {
		v, err := parseCronField(fields[i], f)
		if err != nil {
			return nil, err
		}
		sets[i] = v
	}
	c.minute, c.hour, c.dom, c.month, c.dow = sets[0], sets[1], sets[2], sets[3], sets[4]
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow = c.dow&^(1<<7) | 1
	}
	c.domStar = strings.HasPrefix(fields[2], "*")
	c.dowStar = strings.HasPrefix(fields[4], "*")
	if !c.possible() {
		return nil, fmt.Errorf("the cron expression %q never matches: no selected month has the selected day", c.expr)
	}
	return c, nil
}

// String returns the expression as parsed (macros expanded).
func (c *Cron) String() string { return c.expr }

// possible reports whether some date can match.
func (c *Cron) possible() bool {
	if !c.dowStar && !c.domStar {
		return true // either matches; any restricted day of week occurs every month
	}
	if !c.dowStar {
		return true
	}
	for m := 1; m <= 12; m++ {
		if c.month&(1<<m) == 0 {
			continue
		}
		n := daysIn(2024, time.Month(m)) // a leap year: Feb 29 is possible
		for d := 1; d <= n; d++ {
			if c.dom&(1<<d) != 0 {
				return true
			}
		}
	}
	return false
}

// matchDay reports whether the local date matches the day fields.
func (c *Cron) matchDay(y int, m time.Month, d int) bool {
	if c.month&(1<<int(m)) == 0 {
		return false
	}
	domOK := c.dom&(1<<d) != 0
	dowOK := c.dow&(1<<int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday())) != 0
	if c.domStar || c.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

func parseCronField(s string, f cronField) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			return 0, fmt.Errorf("%s field %q has an empty list item", f.name, s)
		}
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max-f.min+1 {
				return 0, fmt.Errorf("%s field %q: step %q must be a number from 1 to %d", f.name, s, stepText, f.max-f.min+1)
			}
			step = n
		}
		lo, hi := f.min, f.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = cronValue(a, f); err != nil {
				return 0, fmt.Errorf("%s field %q: %w", f.name, s, err)
			}
			if hi, err = cronValue(b, f); err != nil {
				return 0, fmt.Errorf("%s field %q: %w", f.name, s, err)
			}
			if lo > hi {
				return 0, fmt.Errorf("%s field %q: range %q runs backwards", f.name, s, rng)
			}
		default:
			v, err := cronValue(rng, f)
			if err != nil {
				return 0, fmt.Errorf("%s field %q: %w", f.name, s, err)
			}
			lo = v
			if !hasStep {
				hi = v
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func cronValue(s string, f cronField) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < f.min || v > f.max {
		if f.names != nil {
			return 0, fmt.Errorf("%q must be a number from %d to %d or a name like %s", s, f.min, f.max, f.names[0])
		}
		return 0, fmt.Errorf("%q must be a number from %d to %d", s, f.min, f.max)
	}
	return v, nil
}

// daysIn returns the number of days in the month.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
