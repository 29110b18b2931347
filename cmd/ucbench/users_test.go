package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"testing"
)

func TestUsersSmall(t *testing.T) {
	dbs := []string{"sqlite"}
	if os.Getenv("TEST_POSTGRES_URL") != "" {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		t.Run(db, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), []string{"users", "--users", "3000", "--repeat", "3", "--db", db}, &out, &out); err != nil {
				t.Fatalf("users: %v\n%s", err, out.String())
			}
			for _, re := range []string{
				`database\s+` + db,
				`users in the snapshot\s+3000 `,
				`first page \(by name\)\s+median\s+\d+\.\d\d ms, slowest\s+\d+\.\d\d ms, 3000 matching`,
				`search "user 04242"\s+median .* 0 matching`,
				`synced group, by e-mail\s+median .* 600 matching`,
				`first page\s+\d+\.\d\d ms \(target < 100 ms: (met|MISSED)\)`,
			} {
				if !regexp.MustCompile(re).MatchString(out.String()) {
					t.Errorf("output lacks %s:\n%s", re, out.String())
				}
			}
		})
	}
}

func TestUsersRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--users", "0"}, {"--per-page", "201"}, {"--db", "mysql"}} {
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"users"}, args...), &out, &out); err == nil {
			t.Errorf("users %v: no error", args)
		}
	}
}
