package store

import (
	"context"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// tenantTables are the tables holding a tenant's data, and how to count
// a tenant's rows in each.
var tenantTables = map[string]string{
	"tenants":                `SELECT COUNT(*) FROM tenants WHERE client_key = ?`,
	"tenant_settings":        `SELECT COUNT(*) FROM tenant_settings WHERE client_key = ?`,
	"cleanups":               `SELECT COUNT(*) FROM cleanups WHERE client_key = ?`,
	"runs":                   `SELECT COUNT(*) FROM runs WHERE client_key = ?`,
	"run_users":              `SELECT COUNT(*) FROM run_users WHERE client_key = ?`,
	"run_follow_ups":         `SELECT COUNT(*) FROM run_follow_ups WHERE client_key = ?`,
	"run_follow_up_users":    `SELECT COUNT(*) FROM run_follow_up_users WHERE client_key = ?`,
	"export_files":           `SELECT COUNT(*) FROM export_files WHERE client_key = ?`,
	"export_chunks":          `SELECT COUNT(*) FROM export_chunks c JOIN export_files f ON f.id = c.file_id WHERE f.client_key = ?`,
	"snapshots":              `SELECT COUNT(*) FROM snapshots WHERE client_key = ?`,
	"snapshot_users":         `SELECT COUNT(*) FROM snapshot_users WHERE client_key = ?`,
	"snapshot_history":       `SELECT COUNT(*) FROM snapshot_history WHERE client_key = ?`,
	"personal_data_reports":  `SELECT COUNT(*) FROM personal_data_reports WHERE client_key = ?`,
	"personal_data_erasures": `SELECT COUNT(*) FROM personal_data_erasures WHERE client_key = ?`,
}

func countRows(t *testing.T, s *Store, clientKey string) (map[string]int64, int64) {
	t.Helper()
	out := map[string]int64{}
	var total int64
	for table, q := range tenantTables {
		var n int64
		if err := s.sqlDB.QueryRowContext(context.Background(), s.rebind(q), clientKey).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
		total += n
	}
	return out, total
}

// seedTenantData gives a tenant settings with both credentials, a
// scheduled cleanup that is due, a queued and a running run, and a
// finished run with rows, export files (in small chunks), a follow-up not
// yet checked and one verdict.
func seedTenantData(t *testing.T, s *Store, clientKey string) (queued, running, finished int64) {
	t.Helper()
	ctx := context.Background()
	cs := s.Cleanups(nil)
	set := cleanup.DefaultSettings()
	set.OrgID, set.APIKeySet = "org-1", true
	set.IdentityProvider.Provider = cleanup.ProviderEntra
	set.IdentityProvider.Entra = cleanup.EntraConnection{TenantID: "0f7c2b1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b",
		ClientID: "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d", SecretSet: true}
	if _, err := cs.SaveSettings(ctx, clientKey, set, cleanup.SecretChanges{APIKey: secretPtr("key-of-" + clientKey), EntraClientSecret: secretPtr("entra-of-" + clientKey)}, 0); err != nil {
		t.Fatal(err)
	}
	past := exportT0.Add(-time.Hour)
	d := cleanup.DefaultDefinition()
	d.Name = "nightly"
	d.Schedule = cleanup.Schedule{Active: true, Frequency: cleanup.FrequencyDaily, TimeOfDay: "02:00", TimeZone: "UTC"}
	if _, err := cs.CreateCleanup(ctx, clientKey, cleanup.Cleanup{Definition: d, NextRunAt: &past, LastScheduledAt: &past}); err != nil {
		t.Fatal(err)
	}
	queued = insertRun(t, s, clientKey, false, false, set)
	if err := s.db.Exec(`UPDATE runs SET status = 'queued', phase = 'evaluate' WHERE id = ?`, queued).Error; err != nil {
		t.Fatal(err)
	}
	running = insertRun(t, s, clientKey, false, false, set)
	if err := s.db.Exec(`UPDATE runs SET phase = 'apply', lease_owner = 'worker-1', lease_until = ? WHERE id = ?`, exportT0.Add(time.Hour), running).Error; err != nil {
		t.Fatal(err)
	}
	finished = insertRun(t, s, clientKey, false, true, set)
	insertRunUsers(t, s, clientKey, finished, sampleRun())
	if err := idpexport.NewExporter(s, idpexport.ExporterConfig{BatchSize: 3, ChunkSize: 64}).GenerateRunExports(ctx, clientKey, finished); err != nil {
		t.Fatal(err)
	}
	var rowID int64
	if err := s.db.Raw(`SELECT id FROM run_users WHERE run_id = ? ORDER BY id LIMIT 1`, finished).Scan(&rowID).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.db.Create(&followUpRow{RunID: finished, ClientKey: clientKey, DueAt: exportT0.Add(2 * time.Hour), CreatedAt: exportT0, UpdatedAt: exportT0}).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.db.Create(&followUpUserRow{RunUserID: rowID, RunID: finished, ClientKey: clientKey, StillPresent: true}).Error; err != nil {
		t.Fatal(err)
	}
	seedSnapshot(t, s, clientKey, 5)
	// Personal data reporting: the site's cycle and an erasure's audit entry.
	if err := cs.ReportDone(ctx, clientKey, exportT0, exportT0.Add(7*24*time.Hour), 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Exec(`INSERT INTO personal_data_erasures (client_key, tombstone, run_rows, warnings, runs, erased_at) VALUES (?, ?, 1, 0, 0, ?)`,
		clientKey, "closed-account-000000000000", exportT0).Error; err != nil {
		t.Fatal(err)
	}
	return queued, running, finished
}

// TestUninstallErasesAndStops: what uninstalling does to the data — the
// credentials erased, unfinished runs and follow-ups stopped with the
// reason, no run can be created or is scheduled — for that tenant only.
func TestUninstallErasesAndStops(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			cs := s.Cleanups(nil)
			queued, running, finished := seedTenantData(t, s, "ck-a")
			seedTenantData(t, s, "ck-b")
			at := exportT0.Add(3 * time.Hour)

			if err := s.MarkUninstalled(ctx, "ck-a", at); err != nil {
				t.Fatal(err)
			}
			if tn, err := s.GetTenant(ctx, "ck-a"); err != nil || tn.SharedSecret != "" || tn.Installed() {
				t.Fatalf("uninstalled tenant: %+v, %v; want no shared secret", tn, err)
			}
			// A repeated uninstall keeps the first time (the retention
			// period counts from it).
			if err := s.MarkUninstalled(ctx, "ck-a", at.Add(24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if tn, _ := s.GetTenant(ctx, "ck-a"); !tn.UninstalledAt.Equal(at) {
				t.Errorf("uninstalled at %v after a repeated uninstall, want %v", tn.UninstalledAt, at)
			}
			if erased, err := cs.EraseCredentials(ctx, "ck-a"); err != nil || !erased {
				t.Fatalf("EraseCredentials = %v, %v", erased, err)
			}
			if erased, err := cs.EraseCredentials(ctx, "ck-a"); err != nil || erased {
				t.Fatalf("EraseCredentials again = %v, %v; want nothing left to erase", erased, err)
			}
			if n, err := cs.StopRuns(ctx, "ck-a", cleanup.ReasonUninstalled, at); err != nil || n != 2 {
				t.Fatalf("StopRuns = %d, %v; want the queued and the running run", n, err)
			}

			cr, err := cs.Credentials(ctx, "ck-a")
			if err != nil || cr.APIKey != "" || cr.EntraClientSecret != "" {
				t.Errorf("credentials after uninstall: %v, %v", cr, err)
			}
			set, _ := cs.Settings(ctx, "ck-a")
			if set.APIKeySet || set.APIKeyVerifiedAt != nil || set.IdentityProvider.Entra.SecretSet || set.OrgID != "org-1" {
				t.Errorf("settings after uninstall: %+v (the ids stay, the secrets go)", set)
			}
			for _, id := range []int64{queued, running} {
				r, err := cs.Run(ctx, "ck-a", id)
				if err != nil || r.Status != cleanup.RunFailed || r.Error != cleanup.ReasonUninstalled || r.FinishedAt == nil {
					t.Errorf("run %d after uninstall: %+v, %v", id, r, err)
				}
			}
			// The worker that held the running run's lease can commit
			// nothing more.
			if err := cs.Commit(ctx, cleanup.Commit{ClientKey: "ck-a", RunID: running, Owner: "worker-1", LeaseUntil: at.Add(time.Hour)}); cleanup.KindOf(err) != cleanup.KindConflict {
				t.Errorf("commit of the stopped run: %v, want a lost lease", err)
			}
			if r, _ := cs.Run(ctx, "ck-a", finished); r.Status != cleanup.RunSucceeded || r.FollowUp == nil || r.FollowUp.Error != cleanup.ReasonUninstalled {
				t.Errorf("finished run: status %s, follow-up %+v; want the follow-up cancelled", r.Status, r.FollowUp)
			}

			// Nothing new runs.
			if _, err := cs.CreateRun(ctx, cleanup.NewRun{ClientKey: "ck-a", CleanupName: "x", Trigger: cleanup.TriggerManual}); cleanup.KindOf(err) != cleanup.KindConflict || err.Error() != cleanup.ReasonUninstalled {
				t.Errorf("CreateRun for the uninstalled tenant: %v", err)
			}
			due, err := cs.DueCleanups(ctx, at, 10)
			if err != nil || len(due) != 1 || due[0].ClientKey != "ck-b" {
				t.Errorf("due cleanups: %+v, %v; want ck-b's only", due, err)
			}

			// ck-b is untouched.
			if cr, _ := cs.Credentials(ctx, "ck-b"); cr.APIKey.Reveal() != "key-of-ck-b" || cr.EntraClientSecret.Reveal() != "entra-of-ck-b" {
				t.Errorf("ck-b's credentials: %v", cr)
			}
			if runs, _, _ := cs.Runs(ctx, "ck-b", cleanup.Page{}); len(runs) != 3 || runs[1].Status != cleanup.RunRunning || runs[2].Status != cleanup.RunQueued {
				t.Errorf("ck-b's runs: %+v", runs)
			}

			// Disabled: no scheduled or new run, until enabled.
			if err := s.SetEnabled(ctx, "ck-b", false); err != nil {
				t.Fatal(err)
			}
			if st, _ := cs.TenantState(ctx, "ck-b"); st != cleanup.TenantDisabled {
				t.Errorf("state of ck-b = %v, want disabled", st)
			}
			if due, _ := cs.DueCleanups(ctx, at, 10); len(due) != 0 {
				t.Errorf("due cleanups of a disabled tenant: %+v", due)
			}
			if _, err := cs.CreateRun(ctx, cleanup.NewRun{ClientKey: "ck-b", CleanupName: "x", Trigger: cleanup.TriggerManual}); cleanup.KindOf(err) != cleanup.KindConflict || err.Error() != cleanup.ReasonDisabled {
				t.Errorf("CreateRun for the disabled tenant: %v", err)
			}
			if err := s.SetEnabled(ctx, "ck-b", true); err != nil {
				t.Fatal(err)
			}
			if due, _ := cs.DueCleanups(ctx, at, 10); len(due) != 1 {
				t.Errorf("due cleanups after enabled: %+v", due)
			}
		})
	}
}

// TestPurgeTenantInBatches: an uninstalled tenant's data goes in bounded
// deletes (each call at most the batch, or 16 export chunks), the
// installation last; an installed tenant is never purged, and another
// tenant keeps everything.
func TestPurgeTenantInBatches(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			cs := s.Cleanups(nil)
			seedTenantData(t, s, "ck-a")
			seedTenantData(t, s, "ck-b")
			_, keepB := countRows(t, s, "ck-b")
			if done, err := cs.PurgeTenant(ctx, "ck-a", 3); err != nil || !done {
				t.Fatalf("purge of an installed tenant: %v, %v", done, err)
			}
			if _, n := countRows(t, s, "ck-a"); n == 0 {
				t.Fatal("an installed tenant was purged")
			}
			if err := s.MarkUninstalled(ctx, "ck-a", exportT0); err != nil {
				t.Fatal(err)
			}
			counts, before := countRows(t, s, "ck-a")
			if counts["export_chunks"] <= exportChunkBatch || counts["run_users"] <= 3 {
				t.Fatalf("the seed is too small to show batches: %v", counts)
			}
			calls := 0
			for {
				done, err := cs.PurgeTenant(ctx, "ck-a", 3)
				if err != nil {
					t.Fatal(err)
				}
				calls++
				_, after := countRows(t, s, "ck-a")
				if deleted := before - after; deleted > exportChunkBatch {
					t.Fatalf("call %d deleted %d rows", calls, deleted)
				}
				before = after
				if done {
					break
				}
				if calls > 1000 {
					t.Fatal("the purge does not end")
				}
			}
			if counts, n := countRows(t, s, "ck-a"); n != 0 {
				t.Errorf("left after the purge: %v", counts)
			}
			if calls < 10 {
				t.Errorf("purged in %d calls: not in batches", calls)
			}
			if _, n := countRows(t, s, "ck-b"); n != keepB {
				t.Errorf("ck-b has %d rows after ck-a's purge, want %d", n, keepB)
			}
		})
	}
}

// TestPurgeRunsBefore: the runs a tenant finished before the cutoff go
// with everything that refers to them (users, follow-ups, export files
// and chunks), each call deleting at most one batch; newer runs,
// unfinished runs and the other tenant's runs stay.
func TestPurgeRunsBefore(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			cs := s.Cleanups(nil)
			queued, running, old := seedTenantData(t, s, "ck-a")
			_, _, otherOld := seedTenantData(t, s, "ck-b")
			newer := insertRun(t, s, "ck-a", false, true, cleanup.DefaultSettings())
			insertRunUsers(t, s, "ck-a", newer, sampleRun())
			if err := s.db.Exec(`UPDATE runs SET finished_at = ? WHERE id = ?`, exportT0.Add(100*24*time.Hour), newer).Error; err != nil {
				t.Fatal(err)
			}
			cutoff := exportT0.Add(10 * 24 * time.Hour)

			keys, err := cs.TenantsWithRunsBefore(ctx, cutoff, 10)
			if err != nil || len(keys) != 2 || keys[0] != "ck-a" || keys[1] != "ck-b" {
				t.Fatalf("TenantsWithRunsBefore = %v, %v; want both tenants", keys, err)
			}
			before, total := countRows(t, s, "ck-a")
			otherBefore, otherTotal := countRows(t, s, "ck-b")
			const batch = 3
			calls, deleted := 0, 0
			steps := map[bool]int{} // calls that deleted a run, and the others
			for {
				calls++
				if calls > 1000 {
					t.Fatal("PurgeRunsBefore never reports done")
				}
				n, done, err := cs.PurgeRunsBefore(ctx, "ck-a", cutoff, batch)
				if err != nil {
					t.Fatal(err)
				}
				deleted += n
				steps[n > 0]++
				_, now := countRows(t, s, "ck-a")
				// One statement per call: at most a batch of rows, or of
				// export chunks (their own, byte-sized bound).
				if total-now > max(batch, exportChunkBatch) {
					t.Fatalf("one call deleted %d rows, more than one batch", total-now)
				}
				total = now
				if done {
					break
				}
			}
			if deleted != 1 || steps[false] < 5 {
				t.Errorf("deleted %d runs in %d calls, want the one old run in many small steps", deleted, calls)
			}
			after, _ := countRows(t, s, "ck-a")
			var oldRows int64
			if err := s.db.Raw(`SELECT COUNT(*) FROM run_users WHERE run_id = ?`, old).Scan(&oldRows).Error; err != nil {
				t.Fatal(err)
			}
			if oldRows != 0 || after["export_files"] != 0 || after["export_chunks"] != 0 || after["run_follow_ups"] != 0 || after["run_follow_up_users"] != 0 {
				t.Errorf("after the purge: %v, %d rows of the old run; want its rows, exports and follow-ups gone", after, oldRows)
			}
			if after["runs"] != before["runs"]-1 || after["run_users"] != int64(len(sampleRun())) {
				t.Errorf("runs %d → %d, run_users %d; want one run fewer and the newer run's %d rows", before["runs"], after["runs"], after["run_users"], len(sampleRun()))
			}
			for _, id := range []int64{queued, running, newer} {
				if _, err := cs.Run(ctx, "ck-a", id); err != nil {
					t.Errorf("run %d: %v; want kept", id, err)
				}
			}
			if _, err := cs.Run(ctx, "ck-a", old); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("old run: %v, want not found", err)
			}
			otherAfter, otherNow := countRows(t, s, "ck-b")
			if otherNow != otherTotal {
				t.Errorf("the other tenant lost rows: %v → %v", otherBefore, otherAfter)
			}
			if _, err := cs.Run(ctx, "ck-b", otherOld); err != nil {
				t.Errorf("the other tenant's old run: %v", err)
			}
			// Nothing left to do.
			if n, done, err := cs.PurgeRunsBefore(ctx, "ck-a", cutoff, batch); n != 0 || !done || err != nil {
				t.Errorf("second purge = %d, %v, %v; want done", n, done, err)
			}
		})
	}
}
