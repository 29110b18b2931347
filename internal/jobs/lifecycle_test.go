package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/store"
)

// entraSettings are settings with an organization API key (newEnv adds it)
// and a Microsoft Entra connection with its client secret.
func entraSettings() cleanup.SettingsInput {
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	in.IdentityProvider.Entra = cleanup.EntraConnection{TenantID: "0f7c2b1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b", ClientID: "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"}
	s := cleanup.Secret("entra-client-secret-of-the-test")
	in.EntraClientSecret = &s
	return in
}

func manualCleanup(t *testing.T, e *env) cleanup.Cleanup {
	t.Helper()
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "review", cleanup.ActionReview, true, 30
	d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware)}
	c, err := e.svc.CreateCleanup(context.Background(), testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dueCleanup creates a scheduled cleanup whose time has come.
func dueCleanup(t *testing.T, e *env) cleanup.Cleanup {
	t.Helper()
	ctx := context.Background()
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.DaysInactive = "nightly", cleanup.ActionReview, 30
	d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware)}
	d.Schedule = cleanup.Schedule{Active: true, Frequency: cleanup.FrequencyDaily, TimeOfDay: "02:00", TimeZone: "UTC"}
	c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	last, due := testNow.Add(-48*time.Hour), testNow.Add(-time.Minute)
	if err := e.cs.SetNextRun(ctx, testClientKey, c.ID, &due, &last); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUninstalledTenantStopsInTheBackground: a run queued (with its job)
// before the uninstall stops with the reason when its job comes, without a
// request to Atlassian; nothing new runs; and the retention tick erases
// credentials an interrupted uninstall left behind.
func TestUninstalledTenantStopsInTheBackground(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, dsn := b.open(t)
			e := newEnv(t, st, atlassiantest.Options{Seed: 5, Users: 60, Now: time.Now}, entraSettings())
			c := manualCleanup(t, e)
			dueCleanup(t, e)
			rt, work, svc := wireRuntime(t, st, dsn, e.conn, Config{Workers: 2, RescueAfter: 3 * time.Second,
				ScheduleEvery: time.Hour, PollInterval: 100 * time.Millisecond})
			runID, err := svc.StartRun(ctx, testClientKey, c.ID, false, "admin")
			if err != nil {
				t.Fatal(err)
			}
			// Only the connect part of the uninstall happens (as if the
			// process died before the app's clean-up): the run's job is
			// still queued and the credentials still stored.
			if err := st.MarkUninstalled(ctx, testClientKey, time.Now()); err != nil {
				t.Fatal(err)
			}
			// Checked before the runtime starts: its retention tick runs
			// at start and may erase them before the run has finished.
			if cr, _ := e.cs.Credentials(ctx, testClientKey); cr.APIKey == "" || cr.EntraClientSecret == "" {
				t.Fatal("the scenario needs the credentials still stored")
			}
			e.cloud.ResetRequests()
			start(t, rt, work)
			run := waitRun(t, e, runID, func(r cleanup.Run) bool { return r.Finished() })
			if run.Status != cleanup.RunFailed || run.Error != cleanup.ReasonUninstalled {
				t.Errorf("run = %s %q, want failed with %q", run.Status, run.Error, cleanup.ReasonUninstalled)
			}
			if _, n := e.cloud.Requests(); n != 0 {
				t.Errorf("the stopped run made %d requests to Atlassian", n)
			}
			// Nothing new: no manual run, no scheduled run.
			if _, err := svc.StartRun(ctx, testClientKey, c.ID, false, "admin"); cleanup.KindOf(err) != cleanup.KindConflict {
				t.Errorf("manual run after uninstall: %v, want a conflict", err)
			}
			if n, err := svc.ScheduleDue(ctx, 10); err != nil || n != 0 {
				t.Errorf("ScheduleDue after uninstall = %d, %v; want 0", n, err)
			}
			if _, total, _ := e.svc.ListRuns(ctx, testClientKey, cleanup.Page{}); total != 1 {
				t.Errorf("%d runs, want only the stopped one", total)
			}
			// The retention tick applies the rest of the uninstall (the one
			// at start may have done it already).
			if err := rt.Retain(ctx); err != nil {
				t.Fatal(err)
			}
			if cr, _ := e.cs.Credentials(ctx, testClientKey); cr.APIKey != "" || cr.EntraClientSecret != "" {
				t.Errorf("credentials after the retention tick: %v", cr)
			}
		})
	}
}

// TestDisabledTenantWaits: a disabled installation starts nothing (no
// scheduled run, manual runs refused with the reason, a queued run and a
// follow-up wait) until it is enabled; a run under way goes on.
func TestDisabledTenantWaits(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, store.SQLite, filepath.Join(t.TempDir(), "t.db"))
	e := newEnv(t, st, atlassiantest.Options{Seed: 5, Users: 60}, cleanup.SettingsInput{})
	c := manualCleanup(t, e)
	queued, err := e.svc.StartRun(ctx, testClientKey, c.ID, true, "admin")
	if err != nil {
		t.Fatal(err)
	}
	running, err := e.svc.StartRun(ctx, testClientKey, c.ID, true, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.AcquireRunLease(ctx, testClientKey, running, "w", testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.cs.BeginRun(ctx, testClientKey, running, "w", nil, testNow); err != nil {
		t.Fatal(err)
	}
	dueCleanup(t, e)
	if err := st.SetEnabled(ctx, testClientKey, false); err != nil {
		t.Fatal(err)
	}

	_, err = e.svc.StartRun(ctx, testClientKey, c.ID, false, "admin")
	var de *cleanup.Error
	if !errors.As(err, &de) || de.Kind != cleanup.KindConflict || de.Message != cleanup.ReasonDisabled {
		t.Errorf("manual run while disabled: %v, want a conflict saying %q", err, cleanup.ReasonDisabled)
	}
	if n, err := e.svc.ScheduleDue(ctx, 10); err != nil || n != 0 {
		t.Errorf("ScheduleDue while disabled = %d, %v", n, err)
	}
	if ok, wait, err := e.svc.StepGate(ctx, testClientKey, queued); err != nil || ok || wait != cleanup.DisabledRecheck {
		t.Errorf("queued run while disabled: proceed %v, wait %v, %v; want to wait %v", ok, wait, err, cleanup.DisabledRecheck)
	}
	if ok, _, err := e.svc.StepGate(ctx, testClientKey, running); err != nil || !ok {
		t.Errorf("running run while disabled: proceed %v, %v; want it to go on", ok, err)
	}
	if err := e.svc.CheckFollowUp(ctx, testClientKey, running); cleanup.KindOf(err) != cleanup.KindUnavailable || cleanup.RetryAfterOf(err) != cleanup.DisabledRecheck {
		t.Errorf("follow-up while disabled: %v, want to wait", err)
	}

	if err := st.SetEnabled(ctx, testClientKey, true); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := e.svc.StepGate(ctx, testClientKey, queued); err != nil || !ok {
		t.Errorf("queued run after enabled: proceed %v, %v", ok, err)
	}
	if n, err := e.svc.ScheduleDue(ctx, 10); err != nil || n != 1 {
		t.Errorf("ScheduleDue after enabled = %d, %v; want the due cleanup", n, err)
	}
}

// TestRetentionAndReinstall: an uninstalled tenant's history is kept for
// the retention period — a re-install in it finds its runs again but not
// its credentials — and deleted once the period is over.
func TestRetentionAndReinstall(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := b.open(t)
			e := newEnv(t, st, atlassiantest.Options{Seed: 5, Users: 60}, entraSettings())
			c := manualCleanup(t, e)
			runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, true, "admin")
			if err != nil {
				t.Fatal(err)
			}
			drive(t, e.engine(t, time.Millisecond, nil), runID)
			const retention = 30 * 24 * time.Hour
			deadline := testNow.Add(time.Hour)

			uninstall := func(at time.Time) {
				t.Helper()
				if err := st.MarkUninstalled(ctx, testClientKey, at); err != nil {
					t.Fatal(err)
				}
				if err := e.svc.TenantUninstalled(ctx, testClientKey); err != nil {
					t.Fatal(err)
				}
			}
			uninstall(testNow.Add(-29 * 24 * time.Hour))
			if n, err := e.svc.PurgeUninstalled(ctx, retention, deadline); err != nil || n != 0 {
				t.Fatalf("purge within the retention period = %d, %v", n, err)
			}

			// Re-installed within the period: the history is there, the
			// credentials must be entered again.
			tenant := e.cloud.Site(connect.Jira).Install(testAppKey, testClientKey, "a-new-shared-secret-after-reinstall-0123")
			if err := st.SaveTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			if runs, total, err := e.svc.ListRuns(ctx, testClientKey, cleanup.Page{}); err != nil || total != 1 || runs[0].ID != runID {
				t.Errorf("runs after re-install: %d, %v", total, err)
			}
			if cs, err := e.svc.ListCleanups(ctx, testClientKey); err != nil || len(cs) != 1 {
				t.Errorf("cleanups after re-install: %d, %v", len(cs), err)
			}
			set, err := e.svc.GetSettings(ctx, testClientKey)
			if err != nil || set.APIKeySet || set.IdentityProvider.Entra.SecretSet || set.OrgID == "" {
				t.Errorf("settings after re-install: %+v, %v; want the ids kept and no credentials", set, err)
			}
			if _, err := e.svc.StartRun(ctx, testClientKey, c.ID, true, "admin"); cleanup.KindOf(err) != cleanup.KindNotConfigured {
				t.Errorf("run before the credentials are entered again: %v, want not configured", err)
			}

			// Uninstalled again, longer ago than the retention period:
			// everything goes.
			uninstall(testNow.Add(-31 * 24 * time.Hour))
			if n, err := e.svc.PurgeUninstalled(ctx, retention, deadline); err != nil || n != 1 {
				t.Fatalf("purge after the retention period = %d, %v", n, err)
			}
			if _, total, _ := e.svc.ListRuns(ctx, testClientKey, cleanup.Page{}); total != 0 {
				t.Errorf("%d runs left after the purge", total)
			}
			if cs, _ := e.svc.ListCleanups(ctx, testClientKey); len(cs) != 0 {
				t.Errorf("%d cleanups left after the purge", len(cs))
			}
			if _, err := st.GetTenant(ctx, testClientKey); !errors.Is(err, connect.ErrUnknownTenant) {
				t.Errorf("installation after the purge: %v", err)
			}
		})
	}
}

// TestRetainDeletesOldHistory: the retention pass deletes the runs a
// tenant finished longer ago than its "Keep run history and exports for N
// days", with their rows, and keeps them while they are younger.
func TestRetainDeletesOldHistory(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, store.SQLite, filepath.Join(t.TempDir(), "t.db"))
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.History.KeepDays = cleanup.MaxKeepHistoryDays
	e := newEnv(t, st, atlassiantest.Options{Seed: 5, Users: 60}, in)
	c := manualCleanup(t, e)
	runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, true, "admin")
	if err != nil {
		t.Fatal(err)
	}
	drive(t, e.engine(t, time.Millisecond, nil), runID) // finished at testNow, months ago
	if rows := allRows(t, e.svc, runID, cleanup.RunUserFilter{}); len(rows) == 0 {
		t.Fatal("the run has no rows: the test proves nothing")
	}
	rt, work, _ := wireRuntime(t, st, "", e.conn, Config{Workers: 1, ScheduleEvery: time.Hour})
	start(t, rt, work)

	// Ten years: kept.
	if err := rt.Retain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetRun(ctx, testClientKey, runID); err != nil {
		t.Fatalf("run within the retention period: %v", err)
	}
	// 30 days: the run is older, so it goes with its rows.
	if _, err := e.svc.UpdateSettings(cleanup.AsOperator(ctx), testClientKey, cleanup.SettingsPatch{
		ActivityAndExport: &cleanup.ActivityAndExportSection{History: &cleanup.HistorySettings{KeepDays: cleanup.MinKeepHistoryDays}},
	}, 0); err != nil {
		t.Fatal(err)
	}
	if err := rt.Retain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetRun(ctx, testClientKey, runID); cleanup.KindOf(err) != cleanup.KindNotFound {
		t.Errorf("run older than the retention period: %v, want not found", err)
	}
	var rows int
	if err := st.SQLDB().QueryRow(`SELECT COUNT(*) FROM run_users WHERE run_id = ?`, runID).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d rows of the deleted run left (%v)", rows, err)
	}
	// Below the minimum: refused with the field.
	_, err = e.svc.UpdateSettings(cleanup.AsOperator(ctx), testClientKey, cleanup.SettingsPatch{
		ActivityAndExport: &cleanup.ActivityAndExportSection{History: &cleanup.HistorySettings{KeepDays: cleanup.MinKeepHistoryDays - 1}},
	}, 0)
	var fe cleanup.FieldErrors
	if !errors.As(err, &fe) || fe["history.keepDays"] == "" {
		t.Errorf("keepDays %d: %v, want a field error on history.keepDays", cleanup.MinKeepHistoryDays-1, err)
	}
}
