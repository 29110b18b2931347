package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
)

// twoTenants opens a store of the backend with tenants "ck-a" and "ck-b".
func twoTenants(t *testing.T, b backend) *Store {
	t.Helper()
	s := openStore(t, b.config(t))
	for _, k := range []string{"ck-a", "ck-b"} {
		if err := s.SaveTenant(context.Background(), sampleTenant(k, "secret-"+k, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func secretPtr(s string) *cleanup.Secret { v := cleanup.Secret(s); return &v }

func TestSettingsStore(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			cs := s.Cleanups(nil)
			got, err := cs.Settings(ctx, "ck-a")
			if err != nil || !cmp.Equal(got, cleanup.DefaultSettings()) {
				t.Fatalf("defaults: %+v, %v", got, err)
			}
			in := cleanup.DefaultSettings()
			in.OrgID, in.APIKeySet = "org-1", true
			saved, err := cs.SaveSettings(ctx, "ck-a", in, cleanup.SecretChanges{APIKey: secretPtr("key-of-a"), EntraClientSecret: secretPtr("entra-of-a")}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if saved.OrgID != "org-1" || !saved.APIKeySet || saved.UpdatedAt.IsZero() {
				t.Errorf("saved = %+v", saved)
			}
			cr, err := cs.Credentials(ctx, "ck-a")
			if err != nil || cr.APIKey.Reveal() != "key-of-a" || cr.EntraClientSecret.Reveal() != "entra-of-a" {
				t.Fatalf("credentials: %v %v", cr, err)
			}
			// Sealed at rest, bound to the tenant.
			var row settingsRow
			if err := s.db.Where("client_key = ?", "ck-a").Take(&row).Error; err != nil {
				t.Fatal(err)
			}
			if strings.Contains(row.OrgAPIKey, "key-of-a") || strings.Contains(row.Settings, "key-of-a") || strings.Contains(row.EntraClientSecret, "entra-of-a") {
				t.Fatal("credential stored in plain text")
			}
			if err := s.db.Create(&settingsRow{ClientKey: "ck-b", Settings: "{}", OrgAPIKey: row.OrgAPIKey, Version: 1,
				CreatedAt: time.Now(), UpdatedAt: time.Now()}).Error; err != nil {
				t.Fatal(err)
			}
			if _, err := cs.Credentials(ctx, "ck-b"); !errors.Is(err, ErrDecrypt) {
				t.Errorf("a sealed key copied to another tenant opened: %v", err)
			}
			// nil keeps, "" removes.
			if _, err := cs.SaveSettings(ctx, "ck-a", saved, cleanup.SecretChanges{EntraClientSecret: secretPtr("")}, saved.Version); err != nil {
				t.Fatal(err)
			}
			cr, _ = cs.Credentials(ctx, "ck-a")
			if cr.APIKey.Reveal() != "key-of-a" || cr.EntraClientSecret != "" {
				t.Errorf("after removing the Entra secret: %v", cr)
			}
			at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			if v, err := cs.MarkAPIKeyVerified(ctx, "ck-a", "org-1", at); err != nil || v.APIKeyVerifiedAt == nil || !v.APIKeyVerifiedAt.Equal(at) {
				t.Errorf("verified: %+v %v", v.APIKeyVerifiedAt, err)
			}
			if v, _ := cs.MarkAPIKeyVerified(ctx, "ck-a", "org-other", at.Add(time.Hour)); !v.APIKeyVerifiedAt.Equal(at) {
				t.Errorf("a test of another org id was recorded")
			}
			if _, err := cs.SaveSettings(ctx, "ck-unknown", in, cleanup.SecretChanges{}, 0); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("settings of an unknown tenant: %v", err)
			}
		})
	}
}

// TestSettingsStoreVersioned: every save is conditional on the version it
// was built on. A save on an outdated version changes nothing
// (KindConflict); of saves racing on the same version exactly one wins; a
// recorded connection test bumps the version and returns the new one.
func TestSettingsStoreVersioned(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cs := twoTenants(t, b).Cleanups(nil)
			in := cleanup.DefaultSettings()
			in.OrgID, in.APIKeySet = "org-1", true
			first, err := cs.SaveSettings(ctx, "ck-a", in, cleanup.SecretChanges{APIKey: secretPtr("key-1")}, 0)
			if err != nil || first.Version != 1 {
				t.Fatalf("first save: version %d, %v", first.Version, err)
			}
			if _, err := cs.SaveSettings(ctx, "ck-a", in, cleanup.SecretChanges{}, 0); cleanup.KindOf(err) != cleanup.KindConflict {
				t.Errorf("a second first save: %v, want a conflict", err)
			}
			second := first
			second.CompanyDomains = []string{"example.com"}
			saved, err := cs.SaveSettings(ctx, "ck-a", second, cleanup.SecretChanges{}, first.Version)
			if err != nil || saved.Version != 2 {
				t.Fatalf("second save: version %d, %v", saved.Version, err)
			}
			stale := first
			stale.OrgID = "org-stale"
			if _, err := cs.SaveSettings(ctx, "ck-a", stale, cleanup.SecretChanges{APIKey: secretPtr("stale-key")}, first.Version); cleanup.KindOf(err) != cleanup.KindConflict {
				t.Errorf("save on version 1 after version 2: %v, want a conflict", err)
			}
			got, _ := cs.Settings(ctx, "ck-a")
			cr, _ := cs.Credentials(ctx, "ck-a")
			if got.OrgID != "org-1" || got.Version != 2 || cr.APIKey.Reveal() != "key-1" || len(got.CompanyDomains) != 1 {
				t.Errorf("after the refused save: %+v, key %q", got, cr.APIKey.Reveal())
			}
			v, err := cs.MarkAPIKeyVerified(ctx, "ck-a", "org-1", time.Now())
			if again, _ := cs.Settings(ctx, "ck-a"); err != nil || v.Version != again.Version || v.Version != 3 {
				t.Errorf("verified: returned version %d, stored %d, %v", v.Version, again.Version, err)
			}

			// Racing saves on the same version: one wins.
			const n = 6
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					s := got
					s.CompanyDomains = []string{fmt.Sprintf("racer%d.example.com", i)}
					_, errs[i] = cs.SaveSettings(ctx, "ck-a", s, cleanup.SecretChanges{}, v.Version)
				})
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case cleanup.KindOf(err) != cleanup.KindConflict:
					t.Errorf("racing save: %v", err)
				}
			}
			if final, _ := cs.Settings(ctx, "ck-a"); won != 1 || final.Version != v.Version+1 {
				t.Errorf("%d racing saves won (version %d), want exactly one", won, final.Version)
			}
		})
	}
}

func TestCleanupStoreScopedAndVersioned(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cs := twoTenants(t, b).Cleanups(nil)
			now := time.Now().UTC().Truncate(time.Second)
			d := cleanup.DefaultDefinition()
			d.Name = "weekly"
			d.Schedule.Active = true
			next, last := now.Add(-time.Minute), now.Add(-7*24*time.Hour)
			c, err := cs.CreateCleanup(ctx, "ck-a", cleanup.Cleanup{Definition: d, NextRunAt: &next, LastScheduledAt: &last})
			if err != nil {
				t.Fatal(err)
			}
			if c.ID == 0 || c.Version != 1 || c.Name != "weekly" || !c.NextRunAt.Equal(next) {
				t.Fatalf("created %+v", c)
			}
			manual := cleanup.DefaultDefinition()
			manual.Name, manual.Manual = "manual", true
			if _, err := cs.CreateCleanup(ctx, "ck-b", cleanup.Cleanup{Definition: manual}); err != nil {
				t.Fatal(err)
			}
			for _, err := range []error{
				func() error { _, err := cs.Cleanup(ctx, "ck-b", c.ID); return err }(),
				func() error { _, err := cs.UpdateCleanup(ctx, "ck-b", c, 0); return err }(),
				cs.DeleteCleanup(ctx, "ck-b", c.ID),
			} {
				if cleanup.KindOf(err) != cleanup.KindNotFound {
					t.Errorf("other tenant: %v, want not found", err)
				}
			}
			if list, _ := cs.Cleanups(ctx, "ck-b"); len(list) != 1 || list[0].Name != "manual" {
				t.Errorf("tenant b lists %+v", list)
			}
			c.Name = "renamed"
			u, err := cs.UpdateCleanup(ctx, "ck-a", c, 1)
			if err != nil || u.Version != 2 || u.Name != "renamed" {
				t.Fatalf("update: %+v %v", u, err)
			}
			if _, err := cs.UpdateCleanup(ctx, "ck-a", c, 1); cleanup.KindOf(err) != cleanup.KindConflict {
				t.Errorf("stale version: %v, want conflict", err)
			}
			due, err := cs.DueCleanups(ctx, now, 10)
			if err != nil || len(due) != 1 || due[0].ClientKey != "ck-a" || due[0].ID != c.ID {
				t.Fatalf("due = %+v, %v", due, err)
			}
			if due, _ := cs.DueCleanups(ctx, now.Add(-time.Hour), 10); len(due) != 0 {
				t.Errorf("not yet due: %+v", due)
			}
		})
	}
}

func TestRunStoreLeaseRowsAndContinuation(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			var enqueued []int64
			failEnqueue := false
			cs := s.Cleanups(func(ctx context.Context, tx *sql.Tx, clientKey string, runID int64) error {
				if tx == nil {
					t.Error("enqueue without a transaction")
				}
				if failEnqueue {
					return errors.New("queue down")
				}
				enqueued = append(enqueued, runID)
				return nil
			})
			d := cleanup.DefaultDefinition()
			d.Name = "n"
			at := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
			nr := cleanup.NewRun{ClientKey: "ck-a", CleanupID: 7, CleanupName: "n", Definition: d, Settings: cleanup.DefaultSettings(),
				Trigger: cleanup.TriggerSchedule, ScheduledFor: &at}
			id, err := cs.CreateRun(ctx, nr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cs.CreateRun(ctx, nr); cleanup.KindOf(err) != cleanup.KindConflict {
				t.Errorf("second run for the same schedule time: %v, want conflict", err)
			}
			if !cmp.Equal(enqueued, []int64{id}) {
				t.Errorf("enqueued %v, want [%d]", enqueued, id)
			}
			if _, err := cs.Run(ctx, "ck-b", id); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("other tenant's run: %v", err)
			}

			until := time.Now().Add(time.Hour)
			run, err := cs.AcquireRunLease(ctx, "ck-a", id, "w1", until)
			if err != nil || run.Status != cleanup.RunQueued || run.Definition.Name != "n" {
				t.Fatalf("acquire: %+v %v", run, err)
			}
			_, err = cs.AcquireRunLease(ctx, "ck-a", id, "w2", until)
			if cleanup.KindOf(err) != cleanup.KindConflict || cleanup.RetryAfterOf(err) < 59*time.Minute {
				t.Fatalf("second worker: %v (retry after %s)", err, cleanup.RetryAfterOf(err))
			}
			if err := cs.BeginRun(ctx, "ck-a", id, "w2", nil, time.Now()); cleanup.KindOf(err) != cleanup.KindConflict {
				t.Errorf("write without the lease: %v", err)
			}
			if err := cs.BeginRun(ctx, "ck-a", id, "w1", []cleanup.GroupInfo{{ID: "g1", Name: "G"}}, time.Now()); err != nil {
				t.Fatal(err)
			}
			row := func(acc, outcome string) cleanup.AffectedUser {
				return cleanup.AffectedUser{AccountID: acc, Name: "Name " + acc, Email: " " + strings.ToUpper(acc) + "@Example.com ", GroupID: "g1", GroupName: "G",
					Action: cleanup.ActionRemoveProductAccess, Outcome: outcome, LastActive: map[string]time.Time{"jira-software": {}, "confluence": at}}
			}
			counts := cleanup.Counts{Evaluated: 3, Matched: 2, Rows: 2}
			cursor := "c1"
			page := cleanup.Commit{ClientKey: "ck-a", RunID: id, Owner: "w1", LeaseUntil: until,
				Rows: []cleanup.AffectedUser{row("u1", cleanup.OutcomePending), row("u2", cleanup.OutcomePending)}, AddCounts: &counts, Cursor: &cursor}
			for range 2 { // the same page committed twice inserts its rows once
				if err := cs.Commit(ctx, page); err != nil {
					t.Fatal(err)
				}
			}
			// A continuation that cannot be enqueued rolls the commit back.
			failEnqueue = true
			bad := page
			bad.Rows, bad.AddCounts, bad.EndChunk = []cleanup.AffectedUser{row("u3", cleanup.OutcomeFailed)}, nil, true
			if err := cs.Commit(ctx, bad); err == nil {
				t.Fatal("commit with a failed enqueue succeeded")
			}
			failEnqueue = false
			rows, total, err := cs.RunUsers(ctx, "ck-a", id, cleanup.RunUserFilter{}, cleanup.Page{})
			if err != nil || total != 2 || len(rows) != 2 {
				t.Fatalf("rows = %d/%d %v", len(rows), total, err)
			}
			if !rows[0].LastActive["jira-software"].IsZero() || !rows[0].LastActive["confluence"].Equal(at) {
				t.Errorf("last active = %v", rows[0].LastActive)
			}
			if got, _ := cs.Run(ctx, "ck-a", id); got.Counts.Evaluated != 6 || got.Cursor != "c1" || got.Counts.Pending != 2 {
				t.Errorf("counts %+v cursor %q (two commits of 3 evaluated)", got.Counts, got.Cursor)
			}
			if _, n, _ := cs.RunUsers(ctx, "ck-a", id, cleanup.RunUserFilter{Search: "U2@example"}, cleanup.Page{}); n != 1 {
				t.Errorf("search by e-mail found %d", n)
			}
			if _, n, _ := cs.RunUsers(ctx, "ck-b", id, cleanup.RunUserFilter{}, cleanup.Page{}); n != 0 {
				t.Errorf("other tenant sees %d rows", n)
			}

			pending, err := cs.PendingRows(ctx, "ck-a", id, []string{cleanup.ActionRemoveProductAccess}, 10)
			if err != nil || len(pending) != 2 || pending[0].AttemptedAt != nil {
				t.Fatalf("pending %+v %v", pending, err)
			}
			if err := cs.MarkAttempted(ctx, "ck-a", id, "w1", []int64{pending[0].ID}, time.Now()); err != nil {
				t.Fatal(err)
			}
			pending, _ = cs.PendingRows(ctx, "ck-a", id, []string{cleanup.ActionRemoveProductAccess}, 10)
			if pending[0].AttemptedAt == nil || pending[1].AttemptedAt != nil {
				t.Errorf("attempted marks: %v %v", pending[0].AttemptedAt, pending[1].AttemptedAt)
			}
			end := cleanup.Commit{ClientKey: "ck-a", RunID: id, Owner: "w1", LeaseUntil: until, EndChunk: true, Phase: cleanup.PhaseExport,
				Outcomes: []cleanup.RowOutcome{{ID: pending[0].ID, Outcome: cleanup.OutcomeDone}, {ID: pending[1].ID, Outcome: cleanup.OutcomeFailed, Message: "boom"}}}
			if err := cs.Commit(ctx, end); err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(enqueued, []int64{id, id}) {
				t.Errorf("enqueued %v after the chunk ended", enqueued)
			}
			// The chunk's end released the lease: another worker takes it.
			if _, err := cs.AcquireRunLease(ctx, "ck-a", id, "w2", until); err != nil {
				t.Fatalf("after release: %v", err)
			}
			if err := cs.FinishRun(ctx, "ck-a", id, "w2", "", "", time.Now()); err != nil {
				t.Fatal(err)
			}
			got, _ := cs.Run(ctx, "ck-a", id)
			if got.Status != cleanup.RunPartiallyFailed || got.Phase != cleanup.PhaseDone || got.Counts.RemovedInAtlassian != 1 || got.Counts.Failed != 1 {
				t.Errorf("finished run %s/%s %+v", got.Status, got.Phase, got.Counts)
			}
			if refs, _ := cs.UnfinishedRuns(ctx, time.Time{}, 10); len(refs) != 0 {
				t.Errorf("unfinished runs: %v", refs)
			}
			list, n, err := cs.Runs(ctx, "ck-a", cleanup.Page{})
			if err != nil || n != 1 || list[0].ID != id || list[0].Counts.Failed != 1 {
				t.Errorf("runs = %+v %d %v", list, n, err)
			}
		})
	}
}

// TestRunReasons: a run's rows of one outcome grouped by message, most
// users first, each counting distinct accounts and rows; scoped to the
// tenant.
func TestRunReasons(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := openStore(t, b.config(t))
			runID := insertRun(t, s, "tenant-a", false, true, cleanup.DefaultSettings())
			row := func(account, group, outcome, message string) testRunUser {
				return testRunUser{account: account, group: group, action: cleanup.ActionRemoveProductAccess, outcome: outcome, message: message}
			}
			insertRunUsers(t, s, "tenant-a", runID, []testRunUser{
				row("a", "g1", cleanup.OutcomeFailed, "HTTP 500"),
				row("a", "g2", cleanup.OutcomeFailed, "HTTP 500"), // one user, two rows
				row("b", "g1", cleanup.OutcomeFailed, "HTTP 500"),
				row("c", "g1", cleanup.OutcomeFailed, "the group is read-only"),
				row("d", "g1", cleanup.OutcomeManual, "no e-mail"),
				row("e", "g1", cleanup.OutcomeDone, ""),
			})
			cs := s.Cleanups(nil)
			got, err := cs.RunReasons(context.Background(), "tenant-a", runID, cleanup.OutcomeFailed, 10)
			want := []cleanup.ReasonCount{{Reason: "HTTP 500", Users: 2, Rows: 3}, {Reason: "the group is read-only", Users: 1, Rows: 1}}
			if err != nil || !cmp.Equal(want, got) {
				t.Errorf("failed reasons %+v, %v; want %+v", got, err, want)
			}
			if got, _ := cs.RunReasons(context.Background(), "tenant-a", runID, cleanup.OutcomeFailed, 1); len(got) != 1 {
				t.Errorf("limit 1: %+v", got)
			}
			if got, _ := cs.RunReasons(context.Background(), "tenant-b", runID, cleanup.OutcomeFailed, 10); len(got) != 0 {
				t.Errorf("another tenant sees %+v", got)
			}
		})
	}
}
