package store

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	gocmp "github.com/google/go-cmp/cmp"
)

// readAudit reads all of a run's audit rows through AuditRows in small
// batches, returning what was read before an error.
func readAudit(t *testing.T, ctx context.Context, s *Store, run cleanup.ExportRun) ([]cleanup.AffectedUser, error) {
	t.Helper()
	c, err := s.AuditRows(ctx, run, 3)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var all []cleanup.AffectedUser
	users := make([]cleanup.AffectedUser, 2)
	for {
		for i := range users {
			users[i].LastActive = map[string]time.Time{}
		}
		n, err := c.Next(ctx, users)
		for _, u := range users[:n] {
			u.LastActive = maps.Clone(u.LastActive)
			all = append(all, u)
		}
		if err != nil || n == 0 {
			return all, err
		}
	}
}

// checkAuditRows checks what every read of the awkward run's audit rows
// gives: the rows in id order, UTC creation times, and the golden run's
// warnings on the rows that have one.
func checkAuditRows(t *testing.T, all []cleanup.AffectedUser) {
	t.Helper()
	warned := 0
	for i, u := range all {
		if i > 0 && u.ID <= all[i-1].ID {
			t.Errorf("row %d after row %d: not in id order", u.ID, all[i-1].ID)
		}
		if u.CreatedAt.IsZero() || u.CreatedAt.Location() != time.UTC {
			t.Errorf("row %d: created %v, want a UTC time", u.ID, u.CreatedAt)
		}
		if u.Warning != nil {
			warned++
		}
	}
	if warned != len(goldenWarnings) {
		t.Errorf("%d rows with a warning, want %d", warned, len(goldenWarnings))
	}
}

// TestSQLiteAuditRowsFailLoudly: on SQLite the audit rows are read past
// database/sql; a stored value the driver would refuse is an error there
// too (never a row with a zero time or a silently short read), and a
// cancelled context stops the read.
func TestSQLiteAuditRowsFailLoudly(t *testing.T) {
	ctx := context.Background()
	s, run := openGoldenRun(t, sqliteConfig(t))
	all, err := readAudit(t, ctx, s, run)
	if err != nil || len(all) != len(awkwardRun()) {
		t.Fatalf("read %d rows, %v; want %d", len(all), err, len(awkwardRun()))
	}
	checkAuditRows(t, all)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := readAudit(t, cancelled, s, run); !errors.Is(err, context.Canceled) {
		t.Errorf("read with a cancelled context: %v, want context.Canceled", err)
	}

	for _, bad := range []struct{ column, value string }{
		{"updated_at", "'not a time'"},
		{"created_at", "12345"},
		{"group_synced", "7"},
		{"last_active", `'{"jira":"soon"}'`},
	} {
		t.Run(bad.column, func(t *testing.T) {
			victim := all[len(all)/2].ID
			var old string
			if err := s.sqlDB.QueryRowContext(ctx, `SELECT quote(`+bad.column+`) FROM run_users WHERE id = ?`, victim).Scan(&old); err != nil {
				t.Fatal(err)
			}
			if _, err := s.sqlDB.ExecContext(ctx, `UPDATE run_users SET `+bad.column+` = `+bad.value+` WHERE id = ?`, victim); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if _, err := s.sqlDB.ExecContext(ctx, `UPDATE run_users SET `+bad.column+` = `+old+` WHERE id = ?`, victim); err != nil {
					t.Fatal(err)
				}
			})
			got, err := readAudit(t, ctx, s, run)
			if err == nil || !strings.Contains(err.Error(), bad.column) {
				t.Fatalf("read %d rows, error %v; want an error naming %s", len(got), err, bad.column)
			}
			for _, u := range got {
				if u.ID >= victim {
					t.Errorf("row %d returned at or after the bad row %d", u.ID, victim)
				}
			}
		})
	}
}

// TestSQLiteReadersClosedWithStore: the store's reader connections close
// with it; a cursor opened after Close fails instead of reopening one.
func TestSQLiteReadersClosedWithStore(t *testing.T) {
	ctx := context.Background()
	s, run := openGoldenRun(t, sqliteConfig(t))
	if _, err := readAudit(t, ctx, s, run); err != nil {
		t.Fatal(err)
	}
	if n := len(s.readers.idle); n != auditReadWorkers {
		t.Fatalf("%d idle readers after one read, want %d (one per worker, back in the pool)", n, auditReadWorkers)
	}
	if _, err := readAudit(t, ctx, s, run); err != nil {
		t.Fatal(err)
	}
	if n := len(s.readers.idle); n != auditReadWorkers {
		t.Fatalf("%d idle readers after two reads, want %d (reused)", n, auditReadWorkers)
	}
	// A download that stops early: Close stops the workers that are
	// still reading ahead and gets their connections back.
	c, err := s.AuditRows(ctx, run, 1)
	if err != nil {
		t.Fatal(err)
	}
	one := []cleanup.AffectedUser{{LastActive: map[string]time.Time{}}}
	if n, err := c.Next(ctx, one); n != 1 || err != nil {
		t.Fatalf("Next = %d, %v; want one row", n, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(s.readers.idle); n != auditReadWorkers {
		t.Fatalf("%d idle readers after a cursor closed early, want %d", n, auditReadWorkers)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(s.readers.idle) != 0 {
		t.Errorf("idle readers left open after Close")
	}
	if _, err := s.AuditRows(ctx, run, 10); err == nil {
		t.Errorf("AuditRows after Close succeeded")
	}
}

// TestExportMembersReadsAllInOrder: the Entra pass's cursor returns every
// idp-export row once, in (group, e-mail key, id) byte order, across
// batches, with the erased flag of the rows erased for a closed account,
// on every backend (SQLite reads it past database/sql); a group range
// holds exactly the rows of its groups.
func TestExportMembersReadsAllInOrder(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s, run := openGoldenRun(t, b.config(t))
			if _, err := s.sqlDB.ExecContext(ctx, s.rebind(`UPDATE run_users SET erased_at = ? WHERE run_id = ? AND email = ?`),
				exportT0, run.ID, "zoe@example.com"); err != nil {
				t.Fatal(err)
			}
			var want []cleanup.ExportMember
			rows, err := s.sqlDB.QueryContext(ctx, s.rebind(`SELECT id, group_id, email, email_key, erased_at IS NOT NULL FROM run_users
				WHERE run_id = ? AND action = ? AND outcome = ?`), run.ID, run.EntraAction(), cleanup.OutcomeExported)
			if err != nil {
				t.Fatal(err)
			}
			keys := map[int64]string{}
			for rows.Next() {
				var m cleanup.ExportMember
				var key string
				if err := rows.Scan(&m.ID, &m.GroupID, &m.Email, &key, &m.Erased); err != nil {
					t.Fatal(err)
				}
				keys[m.ID] = key
				want = append(want, m)
			}
			rows.Close()
			slices.SortFunc(want, func(a, b cleanup.ExportMember) int {
				return cmp.Or(strings.Compare(a.GroupID, b.GroupID), strings.Compare(keys[a.ID], keys[b.ID]), cmp.Compare(a.ID, b.ID))
			})
			read := func(r cleanup.GroupRange) []cleanup.ExportMember {
				t.Helper()
				c, err := s.ExportMembers(ctx, run, r, 2)
				if err != nil {
					t.Fatal(err)
				}
				var got []cleanup.ExportMember
				for {
					batch, err := c.Next(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					if len(batch) == 0 {
						return got
					}
					got = append(got, batch...)
				}
			}
			got := read(cleanup.GroupRange{})
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("ExportMembers (-want +got):\n%s", diff)
			}
			// A range holds its groups' rows only, in the same order:
			// ranges that meet read every row once between them.
			for _, r := range []cleanup.GroupRange{{To: "g-d"}, {From: "g-d"}, {From: "g-conf", To: "g-jira"}, {From: "g-jira", To: "g-jiraa"}, {From: "g-k"}} {
				var inRange []cleanup.ExportMember
				for _, m := range want {
					if m.GroupID >= r.From && (r.To == "" || m.GroupID < r.To) {
						inRange = append(inRange, m)
					}
				}
				if diff := gocmp.Diff(inRange, read(r)); diff != "" {
					t.Errorf("ExportMembers(%+v) (-want +got):\n%s", r, diff)
				}
			}
			if _, err := s.ExportMembers(ctx, run, cleanup.GroupRange{From: "g-jira", To: "g-conf"}, 2); err == nil {
				t.Error("ExportMembers of an empty range: no error")
			}
			erased := 0
			for _, m := range got {
				if m.Erased {
					erased++
				}
			}
			if erased != 1 || len(got) < 5 {
				t.Errorf("%d rows, %d erased; want at least 5 rows, 1 erased", len(got), erased)
			}
		})
	}
}

// TestAuditRowsOnEveryBackend: the parallel cursor gives every row once,
// in id order, across many small chunks, with UTC times and the warnings;
// ending the context mid-read is an error from Next (not a short, clean
// end) and Close returns.
func TestAuditRowsOnEveryBackend(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s, run := openGoldenRun(t, b.config(t))
			all, err := readAudit(t, ctx, s, run)
			if err != nil || len(all) != len(awkwardRun()) {
				t.Fatalf("read %d rows, %v; want %d", len(all), err, len(awkwardRun()))
			}
			checkAuditRows(t, all)

			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			c, err := s.AuditRows(rctx, run, 1)
			if err != nil {
				t.Fatal(err)
			}
			one := []cleanup.AffectedUser{{LastActive: map[string]time.Time{}}}
			if n, err := c.Next(rctx, one); n != 1 || err != nil {
				t.Fatalf("Next = %d, %v; want one row", n, err)
			}
			cancel()
			if n, err := c.Next(rctx, one); !errors.Is(err, context.Canceled) {
				t.Fatalf("Next after the context ended = %d, %v; want context.Canceled", n, err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
