package jobs

import (
	"context"
	"errors"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/mailer"
	"github.com/example/usercleanup/internal/mailer/mailertest"
)

// shiftClock is real time plus an offset the test moves forward (the
// domain's clock; River keeps real time).
type shiftClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *shiftClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *shiftClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// warnWorld is the command's wiring of warnings on one database: River,
// the engine with the warning store and the sending jobs, the notifier
// with the SMTP adapter and a local SMTP server.
type warnWorld struct {
	e     *env
	svc   *cleanup.Service
	mail  *mailertest.Server
	clock *shiftClock
}

// newWarnWorld starts it; wrap, when set, wraps the notifier as the
// warning_emails jobs' sender (fault injection).
func newWarnWorld(t *testing.T, b backend, cfg Config, wrap func(EmailSender) EmailSender) *warnWorld {
	t.Helper()
	ctx := context.Background()
	st, dsn := b.open(t)
	clock := &shiftClock{}
	e := newEnv(t, st, atlassiantest.Options{Seed: 19, Users: 120, Now: time.Now}, cleanup.SettingsInput{})
	srv, err := mailertest.Start(mailertest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	m, err := mailer.New(mailer.Config{Host: srv.Host(), Port: srv.Port(), TLS: mailer.TLSNone, From: "cleanup@example.com", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DB, cfg.Driver, cfg.DSN = st.SQLDB(), string(st.Driver()), dsn
	rt, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs := st.Cleanups(rt.EnqueueStep).WithFollowUps(rt.EnqueueFollowUp).WithMail(rt.EnqueueWarningEmails)
	conn := &atlassian.Connector{Tenants: st, Credentials: cs, Atlassian: e.conn.Atlassian}
	budget, lease := rt.RunTiming()
	// Small apply batches: a test can act between two of them.
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: cs, Connector: conn, Warnings: cs, EmailJobs: rt,
		Now: clock.Now, StepBudget: budget, LeaseFor: lease, ApplyBatch: 5})
	if err != nil {
		t.Fatal(err)
	}
	n, err := cleanup.NewNotifier(cleanup.NotifierConfig{Store: cs, Mailer: m, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cleanup.NewService(cs, conn, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	svc = svc.WithWarnings(cs, m)
	var sender EmailSender = n
	if wrap != nil {
		sender = wrap(n)
	}
	snaps, err := cleanup.NewSnapshots(cleanup.SnapshotsConfig{Store: st.Snapshots(rt.EnqueueSnapshot), Source: cs, Connector: conn})
	if err != nil {
		t.Fatal(err)
	}
	start(t, rt, Work{Steps: en, Gate: svc, Schedules: svc, FollowUps: svc, Retention: svc, Runs: cs, Emails: sender, Snapshots: snaps})
	return &warnWorld{e: e, svc: svc, mail: srv, clock: clock}
}

// warnCleanup creates a manual cleanup of Jira Software's inactive users
// (60 days) that warns them 7 days before removing their access.
func (w *warnWorld) warnCleanup(t *testing.T) cleanup.Cleanup {
	t.Helper()
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "warn first", cleanup.ActionRemoveProductAccess, true, 60
	d.LicensingGroupIDs = []string{w.e.groupID(t, atlassiantest.GroupJiraSoftware)}
	d.Warning = cleanup.WarningOptions{Enabled: true, Days: 7}
	c, err := w.svc.CreateCleanup(context.Background(), testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run starts a run of the cleanup and waits until it is finished.
func (w *warnWorld) run(t *testing.T, cleanupID int64, timeout time.Duration) cleanup.Run {
	t.Helper()
	id, err := w.svc.StartRun(context.Background(), testClientKey, cleanupID, false, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return w.wait(t, id, timeout, func(r cleanup.Run) bool { return r.Finished() })
}

func (w *warnWorld) wait(t *testing.T, runID int64, timeout time.Duration, ok func(cleanup.Run) bool) cleanup.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := w.svc.GetRun(context.Background(), testClientKey, runID)
		if err != nil {
			t.Fatal(err)
		}
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d: still %s in phase %s after %s", runID, r.Status, r.Phase, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// accountsOf returns the sorted accounts of the rows with the outcome.
func accountsOf(rows []cleanup.AffectedUser, outcome string) []string {
	var out []string
	for _, r := range rows {
		if r.Outcome == outcome && !slices.Contains(out, r.AccountID) {
			out = append(out, r.AccountID)
		}
	}
	sort.Strings(out)
	return out
}

// removedAccounts returns the accounts whose membership the cloud removed.
func removedAccounts(cloud *atlassiantest.Cloud) map[string]bool {
	out := map[string]bool{}
	for _, c := range cloud.Calls() {
		if c.Result == "removed" {
			out[c.AccountID] = true
		}
	}
	return out
}

// TestWarningsHonouredAfterTheOptionChanges: the removal date a warning
// announced holds whatever the admin changes afterwards. Switched off (or
// shortened to one day) three days after the warnings went out, the next
// run removes none of the warned users (they wait, outcome grace), while
// with the option off an inactive user who was never warned is acted on
// at once; on the announced date the warned users are re-evaluated: the
// one who came back is spared, the others removed.
func TestWarningsHonouredAfterTheOptionChanges(t *testing.T) {
	for _, b := range backends(t) {
		for _, tc := range []struct {
			name   string
			change func(*cleanup.WarningOptions)
		}{
			{"switched off", func(o *cleanup.WarningOptions) { o.Enabled = false }},
			{"one day", func(o *cleanup.WarningOptions) { o.Days = 1 }},
		} {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				w := newWarnWorld(t, b, Config{Workers: 2, RescueAfter: 5 * time.Second, ScheduleEvery: time.Hour, PollInterval: 100 * time.Millisecond}, nil)
				c := w.warnCleanup(t)
				first := w.run(t, c.ID, 60*time.Second)
				warned := accountsOf(allRows(t, w.svc, first.ID, cleanup.RunUserFilter{}), cleanup.OutcomeWarned)
				if first.Status != cleanup.RunSucceeded || len(warned) < 5 || len(removedAccounts(w.e.cloud)) != 0 {
					t.Fatalf("warning run %s: %d warned, %d removed", first.Status, len(warned), len(removedAccounts(w.e.cloud)))
				}
				announced := first.StartedAt.AddDate(0, 0, 7)

				d := c.Definition
				tc.change(&d.Warning)
				if _, err := w.svc.UpdateCleanup(ctx, testClientKey, c.ID, d, 0); err != nil {
					t.Fatal(err)
				}
				w.clock.advance(3 * 24 * time.Hour)
				// An inactive user nobody warned: with the option off the
				// run acts on them at once.
				admins := map[string]bool{}
				for _, g := range w.e.cloud.Groups() {
					if g.SiteAdmin {
						for _, a := range w.e.cloud.Members(g.ID) {
							admins[a] = true
						}
					}
				}
				firstRows := accountsOf(allRows(t, w.svc, first.ID, cleanup.RunUserFilter{}), cleanup.OutcomeSkipped)
				var fresh string
				for _, a := range w.e.cloud.Members(w.e.groupID(t, atlassiantest.GroupJiraSoftware)) {
					if u, ok := w.e.cloud.User(a); ok && u.AccountType == cleanup.AccountAtlassian && u.Status == cleanup.StatusActive &&
						len(u.Roles) == 0 && !admins[a] && !slices.Contains(warned, a) && !slices.Contains(firstRows, a) &&
						w.e.cloud.SetLastActive(a, cleanup.ProductJiraSoftware, w.clock.Now().AddDate(0, 0, -90)) {
						fresh = a
						break
					}
				}
				if fresh == "" {
					t.Fatal("no unwarned member to make inactive")
				}
				second := w.run(t, c.ID, 60*time.Second)
				rows := allRows(t, w.svc, second.ID, cleanup.RunUserFilter{})
				if got := accountsOf(rows, cleanup.OutcomeGrace); !slices.Equal(got, warned) {
					t.Errorf("run before the announced date held %v, want the warned users %v", got, warned)
				}
				removed := removedAccounts(w.e.cloud)
				for _, a := range warned {
					if removed[a] {
						t.Errorf("warned user %s removed before the announced date %s", a, announced.Format(time.DateOnly))
					}
				}
				for _, r := range rows {
					if r.AccountID == fresh && !(tc.name == "switched off" && r.Outcome == cleanup.OutcomeDone ||
						tc.name == "one day" && r.Outcome == cleanup.OutcomeWarned && r.Warning != nil &&
							r.Warning.RemovalDate.Equal(second.StartedAt.AddDate(0, 0, 1))) {
						t.Errorf("unwarned inactive user's row: %s %q %+v", r.Outcome, r.Message, r.Warning)
					}
				}

				// On the announced date: re-evaluated, one is back.
				w.clock.advance(5 * 24 * time.Hour)
				back := warned[0]
				if !w.e.cloud.SetLastActive(back, cleanup.ProductJiraSoftware, w.clock.Now()) {
					t.Fatal("cannot make a warned user active")
				}
				third := w.run(t, c.ID, 60*time.Second)
				rows = allRows(t, w.svc, third.ID, cleanup.RunUserFilter{})
				if got := accountsOf(rows, cleanup.OutcomeSpared); !slices.Equal(got, []string{back}) {
					t.Errorf("spared %v, want %s", got, back)
				}
				removed = removedAccounts(w.e.cloud)
				for _, a := range warned[1:] {
					if !removed[a] {
						t.Errorf("warned user %s still inactive on the announced date was not removed", a)
					}
				}
				if removed[back] {
					t.Errorf("the user who came back was removed")
				}
				wantRemoved := len(warned) - 1
				if tc.name == "one day" {
					wantRemoved++ // the user warned with one day, in the second run
				}
				if wc := third.Counts.Warnings; wc == nil || wc.Removed != wantRemoved || wc.Spared != 1 {
					t.Errorf("counts on the announced date %+v, want %d removed and 1 spared", wc, wantRemoved)
				}
			})
		}
	}
}

// TestDeletedCleanupCancelsItsWarnings: deleting a cleanup closes its
// open warnings as cancelled, with the reason in Show users and the
// audit cell, and its unfinished run removes nobody it has not started
// removing already.
func TestDeletedCleanupCancelsItsWarnings(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWarnWorld(t, b, Config{Workers: 2, RescueAfter: 5 * time.Second, ScheduleEvery: time.Hour, PollInterval: 100 * time.Millisecond}, nil)
			c := w.warnCleanup(t)
			first := w.run(t, c.ID, 60*time.Second)
			warned := accountsOf(allRows(t, w.svc, first.ID, cleanup.RunUserFilter{}), cleanup.OutcomeWarned)
			if len(warned) < 5 {
				t.Fatalf("%d warned", len(warned))
			}
			// On the removal date, slow removals: the cleanup is deleted
			// while its run is removing.
			w.clock.advance(8 * 24 * time.Hour)
			w.e.cloud.SetLatency(150 * time.Millisecond)
			id, err := w.svc.StartRun(ctx, testClientKey, c.ID, false, "admin")
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for len(removedAccounts(w.e.cloud)) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the run removed nobody")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := w.svc.DeleteCleanup(ctx, testClientKey, c.ID); err != nil {
				t.Fatal(err)
			}
			w.e.cloud.SetLatency(0)
			second := w.wait(t, id, 60*time.Second, func(r cleanup.Run) bool { return r.Finished() })
			removed := removedAccounts(w.e.cloud)
			t.Logf("deleted during the removals: %d of %d warned users removed", len(removed), len(warned))
			if len(removed) >= len(warned) {
				t.Fatalf("all %d warned users removed: the deletion stopped nothing", len(removed))
			}
			for _, r := range allRows(t, w.svc, second.ID, cleanup.RunUserFilter{}) {
				if r.Warning == nil && r.Outcome == cleanup.OutcomeSkipped && strings.HasPrefix(r.Message, "protected") {
					continue // never warned
				}
				if r.Warning == nil || r.Warning.State != cleanup.WarningCancelled || r.Warning.Message != cleanup.CancelledDeleted {
					t.Errorf("row of %s: warning %+v, want cancelled", r.AccountID, r.Warning)
					continue
				}
				switch {
				case removed[r.AccountID] && r.Outcome == cleanup.OutcomeDone:
				case !removed[r.AccountID] && r.Outcome == cleanup.OutcomeSkipped && strings.Contains(r.Message, cleanup.CancelledDeleted):
				default:
					t.Errorf("row of %s: %s %q (removed: %v)", r.AccountID, r.Outcome, r.Message, removed[r.AccountID])
				}
				if !strings.Contains(r.Warning.AuditOutcome(), "warning cancelled: "+cleanup.CancelledDeleted) {
					t.Errorf("audit cell %q", r.Warning.AuditOutcome())
				}
			}
			if wc := second.Counts.Warnings; wc != nil && wc.Removed != 0 {
				t.Errorf("counts %+v: warnings of a deleted cleanup closed as removed", wc)
			}
			list, err := w.svc.ListCleanups(ctx, testClientKey)
			if err != nil || len(list) != 0 {
				t.Errorf("cleanups after delete: %v, %v", list, err)
			}
		})
	}
}

// failingSender makes every warning_emails job fail: "discarded" lets
// the notifier send on each attempt but the last, which fails with an
// error instead (as if the database went away then), so River discards
// the job with e-mails left; "cancelled" cancels every job at once.
type failingSender struct {
	inner EmailSender
	mu    sync.Mutex
	mode  string
	calls int
}

func (f *failingSender) set(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
}

func (f *failingSender) executions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *failingSender) SendBatch(ctx context.Context, clientKey string, runID, fromID, toID int64, lastAttempt bool) error {
	f.mu.Lock()
	f.calls++
	mode := f.mode
	f.mu.Unlock()
	switch {
	case mode == "none":
	case mode == "cancelled":
		return river.JobCancel(errors.New("cancelled by an operator"))
	case lastAttempt:
		return errors.New("the database went away")
	}
	return f.inner.SendBatch(ctx, clientKey, runID, fromID, toID, lastAttempt)
}

// fixedRetry retries failed jobs after a short fixed wait.
type fixedRetry time.Duration

func (d fixedRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(time.Duration(d)) }

// TestWarningEmailJobsFailRepeatedly: when every sending job ends with
// e-mails left (River discards it after its last attempt, or it is
// cancelled), the run does not wait forever: the e-mails left are queued
// again three times, then recorded as not sent, their warnings cancelled
// (nobody is removed for a warning nobody got), and the run finishes
// with its counts. The SMTP server defers a few addresses for good; no
// address gets two e-mails.
func TestWarningEmailJobsFailRepeatedly(t *testing.T) {
	for _, b := range backends(t) {
		for _, mode := range []string{"discarded", "cancelled"} {
			t.Run(b.name+"/"+mode, func(t *testing.T) {
				fs := &failingSender{mode: mode}
				w := newWarnWorld(t, b, Config{Workers: 3, RescueAfter: 5 * time.Second, ScheduleEvery: time.Hour,
					PollInterval: 100 * time.Millisecond, EmailAttempts: 2, RetryPolicy: fixedRetry(100 * time.Millisecond)},
					func(n EmailSender) EmailSender { fs.inner = n; return fs })
				c := w.warnCleanup(t)
				// The addresses of the users the run will warn, from a
				// dry run; three of them deferred (451) for good.
				dryID, err := w.svc.StartRun(context.Background(), testClientKey, c.ID, true, "admin")
				if err != nil {
					t.Fatal(err)
				}
				w.wait(t, dryID, 60*time.Second, func(r cleanup.Run) bool { return r.Finished() })
				var valid []string
				for _, a := range accountsOf(allRows(t, w.svc, dryID, cleanup.RunUserFilter{}), cleanup.OutcomeWarned) {
					if u, _ := w.e.cloud.User(a); u.Email != "" {
						if _, err := mail.ParseAddress(u.Email); err == nil {
							valid = append(valid, strings.ToLower(u.Email))
						}
					}
				}
				if len(valid) < 6 {
					t.Fatalf("only %d warned users with an address", len(valid))
				}
				deferred := valid[:3]
				for _, a := range deferred {
					w.mail.Defer(a, 1000)
				}

				started := time.Now()
				run := w.run(t, c.ID, 90*time.Second)
				t.Logf("%s: the run finished in %s after %d sending-job executions", mode, time.Since(started).Round(time.Millisecond), fs.executions())
				if run.Status != cleanup.RunSucceeded {
					t.Fatalf("run %s %q", run.Status, run.Error)
				}
				rows := allRows(t, w.svc, run.ID, cleanup.RunUserFilter{})
				warned := accountsOf(rows, cleanup.OutcomeWarned)
				notSent := map[string]bool{}
				for _, r := range rows {
					if r.Warning == nil || r.Warning.EmailStatus != cleanup.EmailFailed || r.Warning.EmailMessage != cleanup.NotSentJobFailed {
						continue
					}
					notSent[strings.ToLower(r.Email)] = true
					if r.Warning.State != cleanup.WarningCancelled || r.Warning.Message != cleanup.CancelledNotSent {
						t.Errorf("warning of %s whose e-mail was never sent: %s %q", r.AccountID, r.Warning.State, r.Warning.Message)
					}
				}
				sent := map[string]int{}
				for _, m := range w.mail.Messages() {
					sent[strings.ToLower(m.To[0])]++
				}
				for a, n := range sent {
					if n != 1 {
						t.Errorf("%s got %d e-mails", a, n)
					}
				}
				wantSent := len(valid) - len(deferred)
				if mode == "cancelled" {
					wantSent = 0
				}
				wc := run.Counts.Warnings
				if len(sent) != wantSent || wc == nil || wc.Warned != len(warned) || wc.EmailSent != wantSent || wc.EmailPending != 0 ||
					wc.EmailFailed < len(valid)-wantSent || wc.Cancelled != len(valid)-wantSent {
					t.Errorf("%d addresses got an e-mail, want %d; counts %+v", len(sent), wantSent, wc)
				}
				for _, a := range deferred {
					if !notSent[a] {
						t.Errorf("deferred address %s not recorded as not sent", a)
					}
				}

				// A week later nobody whose warning was cancelled is
				// removed: the next run warns them again.
				w.mail.Reset()
				w.clock.advance(8 * 24 * time.Hour)
				fs.set("none")
				next := w.run(t, c.ID, 90*time.Second)
				removed := removedAccounts(w.e.cloud)
				for _, r := range allRows(t, w.svc, next.ID, cleanup.RunUserFilter{}) {
					if notSent[strings.ToLower(r.Email)] && (removed[r.AccountID] || r.Outcome != cleanup.OutcomeWarned) {
						t.Errorf("user %s whose warning was never sent: %s %q, removed %v", r.AccountID, r.Outcome, r.Message, removed[r.AccountID])
					}
				}
			})
		}
	}
}
