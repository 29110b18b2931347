package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"
)

func TestExportSmall(t *testing.T) {
	dbs := []string{"sqlite"}
	if os.Getenv("TEST_POSTGRES_URL") != "" {
		dbs = append(dbs, "postgres")
	}
	// Both seeds: rows settled by an UPDATE (a removal run's) and rows
	// inserted settled (a dry run's) must all reach the Entra files, also
	// after a vacuum on PostgreSQL (which reads the index alone then).
	for _, tc := range []struct{ name, db, flag string }{
		{"sqlite", "sqlite", "--dry-run-rows=false"}, {"sqlite dry-run rows", "sqlite", "--dry-run-rows"},
		{"postgres", "postgres", "--dry-run-rows=false"}, {"postgres dry-run rows", "postgres", "--dry-run-rows"},
		{"postgres vacuumed", "postgres", "--vacuum-first"},
	} {
		if !slices.Contains(dbs, tc.db) {
			continue
		}
		db := tc.db
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), []string{"export", "--rows", "700", "--groups", "7", "--db", db,
				"--max-rows-per-file", "40", "--batch", "64", "--floor=false", tc.flag}, &out, &out)
			if err != nil {
				t.Fatalf("export: %v\n%s", err, out.String())
			}
			for _, re := range []string{
				`database\s+` + db,
				`rows / groups\s+700 / 7`,
				`files\s+21 Entra \(700 rows, `,
				`throughput\s+\d+ rows/s`,
				`peak memory \(VmHWM\)\s+\d+\.\d MiB`,
				`download audit-csv\s+.*: \d+ rows/s`,
				`download audit-json\s+.*: \d+ rows/s`,
			} {
				if !regexp.MustCompile(re).MatchString(out.String()) {
					t.Errorf("output lacks %s:\n%s", re, out.String())
				}
			}
			vacuum := regexp.MustCompile(`vacuum before the step\s+\S+ \(VACUUM run_users`).MatchString(out.String())
			if want := tc.flag == "--vacuum-first"; vacuum != want {
				t.Errorf("vacuum line shown: %v, want %v:\n%s", vacuum, want, out.String())
			}
		})
	}
}

// TestExportFloorFirst checks that --floor-first times the floor before the
// step and says so, and that the default times it after.
func TestExportFloorFirst(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 is not installed: the floor cannot be measured")
	}
	for _, tc := range []struct{ flag, when string }{{"--floor-first", "before the step"}, {"--floor-first=false", "after the step"}} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"export", "--rows", "300", "--groups", "3", "--batch", "64", tc.flag}, &out, &out)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.flag, err, out.String())
		}
		for _, re := range []string{
			`floor \(sqlite3 CSV dump\)\s+\S+ for the Entra read \(Entra order, ` + tc.when + `\): \d+ rows/s; the export step takes \d+\.\d\dx the floor`,
			`floor \(sqlite3 CSV dump\)\s+\S+ for the audit read \(id order, ` + tc.when + `\): \d+ rows/s; download audit-csv takes`,
		} {
			if !regexp.MustCompile(re).MatchString(out.String()) {
				t.Errorf("%s: output lacks %s:\n%s", tc.flag, re, out.String())
			}
		}
	}
}

func TestExportRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"export", "--rows", "0"},
		{"export", "--rows", "10", "--groups", "11"},
		{"export", "--db", "mysql", "--rows", "1"},
		{"export", "--batch", "-1"},
		{"export", "--db", "sqlite", "--vacuum-first", "--rows", "1"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
