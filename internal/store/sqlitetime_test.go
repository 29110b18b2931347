package store

import (
	"context"
	"testing"
	"time"
)

// TestParseSQLiteTimeMatchesDriver: times the driver wrote into a DATETIME
// column read back through parseSQLiteTime at the same instant as through
// the driver (database/sql), whatever their zone and precision.
func TestParseSQLiteTimeMatchesDriver(t *testing.T) {
	s := openStore(t, sqliteConfig(t))
	ctx := context.Background()
	if _, err := s.sqlDB.ExecContext(ctx, `CREATE TABLE times (id INTEGER PRIMARY KEY, at DATETIME NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	east := time.FixedZone("", 5*3600+30*60)
	west := time.FixedZone("", -(9*3600 + 45*60))
	times := []time.Time{
		time.Date(2026, 12, 1, 8, 15, 30, 0, time.UTC),
		time.Date(2026, 12, 1, 8, 15, 30, 500_000_000, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 1, east),
		time.Date(2025, 12, 31, 23, 30, 0, 123_456_000, west),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Now(), // local zone, monotonic reading
	}
	for i, at := range times {
		if _, err := s.sqlDB.ExecContext(ctx, `INSERT INTO times (id, at) VALUES (?, ?)`, i, at); err != nil {
			t.Fatal(err)
		}
	}
	for i, at := range times {
		var viaDriver time.Time
		var text string
		// at || '' is the column's text: an expression has no declared
		// type, so the driver does not parse it.
		if err := s.sqlDB.QueryRowContext(ctx, `SELECT at, at || '' FROM times WHERE id = ?`, i).Scan(&viaDriver, &text); err != nil {
			t.Fatal(err)
		}
		got, err := parseSQLiteTime([]byte(text))
		if err != nil {
			t.Fatalf("parseSQLiteTime(%q): %v", text, err)
		}
		if !got.Equal(viaDriver) || !got.Equal(at) {
			t.Errorf("parseSQLiteTime(%q) = %v, driver %v, written %v", text, got, viaDriver, at)
		}
		if _, ok := parseStoredTime([]byte(text)); !ok {
			t.Errorf("%q: the driver's own form did not take the fast path", text)
		}
	}
}

// TestParseSQLiteTimeForms: the fast path and the driver's layouts agree,
// and what the driver refuses is an error.
func TestParseSQLiteTimeForms(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	for _, tc := range []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"2026-12-01 08:15:30+00:00", utc(2026, 12, 1, 8, 15, 30, 0)},
		{"2026-12-01 08:15:30.5+01:00", utc(2026, 12, 1, 7, 15, 30, 500_000_000)},
		{"2026-12-01 08:15:30.000000001-02:30", utc(2026, 12, 1, 10, 45, 30, 1)},
		{"2026-12-01T08:15:30+00:00", utc(2026, 12, 1, 8, 15, 30, 0)},
		{"2026-12-01 08:15:30Z", utc(2026, 12, 1, 8, 15, 30, 0)},
		{"2026-12-01 08:15:30", utc(2026, 12, 1, 8, 15, 30, 0)},
		{"2026-12-01 08:15", utc(2026, 12, 1, 8, 15, 0, 0)},
		{"2026-12-01", utc(2026, 12, 1, 0, 0, 0, 0)},
		{"2026-12-01 08:15:30.123456789 +0000 UTC", utc(2026, 12, 1, 8, 15, 30, 123456789)},
		{"2026-12-01 08:15:30.1 +0100 CET m=+0.5", utc(2026, 12, 1, 7, 15, 30, 100_000_000)},
		{"2026-02-30 08:15:30+00:00", time.Time{}},
		{"2026-13-01 08:15:30+00:00", time.Time{}},
		{"2026-12-01 24:00:00+00:00", time.Time{}},
		{"2026-12-01 08:15:30.+00:00", time.Time{}},
		{"2026-12-01 08:15:30.1234567891+00:00", utc(2026, 12, 1, 8, 15, 30, 123456789)}, // the driver ignores digits past the ninth
		{"2026-12-0a 08:15:30+00:00", time.Time{}},
		{"yesterday", time.Time{}},
		{"", time.Time{}},
	} {
		got, err := parseSQLiteTime([]byte(tc.in))
		switch {
		case tc.want.IsZero() && err == nil:
			t.Errorf("parseSQLiteTime(%q) = %v, want an error", tc.in, got)
		case !tc.want.IsZero() && (err != nil || !got.Equal(tc.want)):
			t.Errorf("parseSQLiteTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		// The fast path, when it answers, answers as the layouts do.
		if fast, ok := parseStoredTime([]byte(tc.in)); ok {
			slow, err := parseSQLiteTimeLayouts(tc.in)
			if err != nil || !slow.Equal(fast) {
				t.Errorf("%q: fast path %v, driver's layouts %v, %v", tc.in, fast, slow, err)
			}
		}
	}
}

// FuzzParseStoredTime: whatever the fast path accepts, the driver's
// layouts read as the same instant.
func FuzzParseStoredTime(f *testing.F) {
	for _, s := range []string{"2026-12-01 08:15:30+00:00", "2026-12-01 08:15:30.5+01:00", "2024-02-29 23:59:59.999999999-23:59", "2026-02-30 08:15:30+00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := parseStoredTime([]byte(s))
		if !ok {
			return
		}
		slow, err := parseSQLiteTimeLayouts(s)
		if err != nil || !slow.Equal(fast) {
			t.Errorf("%q: fast path %v, driver's layouts %v, %v", s, fast, slow, err)
		}
	})
}
