package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScrubPayloadMigration seeds a database the way versions before the
// scrub kept install payloads (the shared secret in clear inside the
// payload), reopens it so the migration runs, and checks that no kept
// payload holds a secret any more, that the rest of each payload is kept,
// and, on SQLite, that no file of the database holds the secret's bytes.
func TestScrubPayloadMigration(t *testing.T) {
	const secret = "old-style-clear-secret-4b1d9e0c7a"
	const other = "second-tenant-clear-secret-77f0a1"
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := b.config(t)
			s, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			old := map[string]string{
				"ck-old":   `{"key":"com.example.usercleanup.jira","clientKey":"ck-old","sharedSecret":"` + secret + `","baseUrl":"https://a.atlassian.net","futureField":{"x":1}}`,
				"ck-case":  `{"clientKey":"ck-case","SharedSecret":"` + other + `"}`,
				"ck-plain": `not json ` + secret,
			}
			for ck, payload := range old {
				if err := s.SaveTenant(ctx, sampleTenant(ck, secret, now)); err != nil {
					t.Fatal(err)
				}
				// What the old code wrote: the payload verbatim.
				if err := s.db.Exec("UPDATE tenants SET payload = ? WHERE client_key = ?", payload, ck).Error; err != nil {
					t.Fatal(err)
				}
			}
			if err := s.db.Exec("DELETE FROM schema_migrations WHERE version = ?", migrationScrubPayloads().Version).Error; err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openStore(t, cfg) // runs the scrub
			for ck := range old {
				tn, err := s.GetTenant(ctx, ck)
				if err != nil {
					t.Fatal(err)
				}
				if tn.SharedSecret.Reveal() != secret {
					t.Errorf("%s: sealed shared secret lost", ck)
				}
				for _, sec := range []string{secret, other} {
					if strings.Contains(string(tn.Payload), sec) {
						t.Errorf("%s: payload still holds a secret: %s", ck, tn.Payload)
					}
				}
			}
			if tn, _ := s.GetTenant(ctx, "ck-old"); !bytes.Contains(tn.Payload, []byte(`"futureField":{"x":1}`)) ||
				!bytes.Contains(tn.Payload, []byte(`"baseUrl":"https://a.atlassian.net"`)) {
				t.Errorf("scrub dropped more than the secret: %s", tn.Payload)
			}
			if tn, _ := s.GetTenant(ctx, "ck-plain"); string(tn.Payload) != "{}" {
				t.Errorf("unparsable payload kept as %q, want {}", tn.Payload)
			}
			if b.name == "sqlite" {
				for _, f := range databaseFiles(t, cfg.DSN) {
					data, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					for _, sec := range []string{secret, other} {
						if bytes.Contains(data, []byte(sec)) {
							t.Errorf("%s holds a scrubbed secret in clear", filepath.Base(f))
						}
					}
				}
			}
		})
	}
}

// databaseFiles lists the SQLite database file and its companions (-wal,
// -shm, -journal) that exist.
func databaseFiles(t *testing.T, path string) []string {
	t.Helper()
	matches, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatalf("no database files at %s", path)
	}
	return matches
}
