package store

import (
	"fmt"
	"strings"
	"time"
)

// SQLite has no time type: the driver writes a time.Time as text in
// sqliteTimeLayouts[0] (e.g. "2026-12-01 08:15:30.5+00:00") and, reading
// a DATETIME column, tries time.String's form and then each of the
// layouts in turn. The export's direct reads (sqliteread.go) get the text
// and parse it here: parseSQLiteTime accepts what the driver accepts and
// gives the same instant, reading the driver's own form by hand because
// trying layouts with time.Parse was about 13% of a download's CPU.

// sqliteTimeLayouts are the driver's layouts, in the order it tries them
// (github.com/glebarez/go-sqlite parseTimeFormats).
var sqliteTimeLayouts = [...]string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseSQLiteTime reads a DATETIME column's text as the driver does.
func parseSQLiteTime(b []byte) (time.Time, error) {
	if t, ok := parseStoredTime(b); ok {
		return t, nil
	}
	return parseSQLiteTimeLayouts(string(b))
}

// parseSQLiteTimeLayouts is the driver's parse, step by step.
func parseSQLiteTimeLayouts(s string) (time.Time, error) {
	// time.String's form, possibly with a monotonic clock reading.
	ts := s
	if x := strings.Index(s, "m="); x > 0 {
		ts = s[:x]
	}
	if t, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", strings.TrimSpace(ts)); err == nil {
		return t, nil
	}
	ts = strings.TrimSuffix(s, "Z")
	for _, layout := range sqliteTimeLayouts {
		if t, err := time.ParseInLocation(layout, ts, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("store: %q is not a time", s)
}

// parseStoredTime reads the form the driver writes,
// "YYYY-MM-DD hh:mm:ss[.f{1,9}]±hh:mm", with every field in range; false
// means "not exactly that form", for the general parser, which also
// reports the errors.
func parseStoredTime(b []byte) (time.Time, bool) {
	// The fixed parts: date, time, and the offset's sign and colon.
	if len(b) < len("2006-01-02 15:04:05+00:00") || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		digits := j - i - 1
		if digits == 0 || digits > 9 {
			return time.Time{}, false
		}
		nsec, _ = num(i+1, digits)
		for k := digits; k < 9; k++ {
			nsec *= 10
		}
		i = j
	}
	if len(b) != i+6 || (b[i] != '+' && b[i] != '-') || b[i+3] != ':' {
		return time.Time{}, false
	}
	offH, ok7 := num(i+1, 2)
	offM, ok8 := num(i+4, 2)
	if !ok7 || !ok8 || offH > 23 || offM > 59 {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	offset := offH*3600 + offM*60
	if b[i] == '-' {
		offset = -offset
	}
	// The instant: the wall clock in UTC, less the offset.
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 April and the like: the general parser refuses them
		return time.Time{}, false
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}
