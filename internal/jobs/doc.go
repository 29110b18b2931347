// Package jobs runs the app's background work on River
// (github.com/riverqueue/river) over the app's own database: riversqlite on
// the embedded SQLite (sharing the store's *sql.DB), riverpgxv5 on
// PostgreSQL (a pgx pool from the same URL) with riverdatabasesql for
// inserts inside the store's transactions.
//
// Five job kinds exist:
//
//   - run_step {clientKey, runID}: one bounded step of a cleanup run
//     (cleanup.Engine.Step). The step commits its progress and, in the same
//     transaction, inserts the run's next run_step (River InsertTx), so
//     progress and continuation are committed together. A lease on the run
//     row makes a duplicate job (a rescued job after a crash, two instances)
//     harmless: it waits for the lease and finds the work done.
//   - schedule_tick: a River periodic job (the elected leader inserts it, so
//     one instance schedules) that starts the runs of due scheduled
//     cleanups — the UNIQUE(cleanup_id, scheduled_for) constraint makes a
//     second run for the same time impossible anyway — and re-enqueues
//     runs that stalled (no progress for the rescue period, lease expired).
//   - run_follow_up {clientKey, runID}: inserted with ScheduledAt in the
//     transaction that finishes a run that removed or exported users, due
//     FollowUpAfterMinutes later (the identity provider's next provisioning
//     cycle); it re-reads their groups and records who still has access.
//   - warning_emails {clientKey, runID, fromID, toID}: one batch of a run's
//     warning e-mails, inserted in the transaction that moves the run to
//     its notify phase; retried on temporary failures (WarningEmailAttempts
//     tries), each e-mail claimed before it is sent (cleanup.Notifier).
//   - retention_tick: a periodic job (hourly) that applies "uninstalled"
//     once more to every uninstalled tenant (credentials erased, runs
//     stopped), deletes, in bounded batches, the data of those
//     uninstalled longer than the retention period ago, then the runs
//     older than each tenant's "Keep run history and exports for N days"
//     (retention.go).
//   - personal_data_tick: a periodic job (hourly, or every reporting cycle
//     when that is shorter) that reports the stored accounts of each tenant
//     whose reporting cycle is due to Atlassian's personal data reporting
//     API, erasing closed accounts and refreshing updated ones, after
//     regenerating the exports an erasure left stale (personaldata.go).
//
// Before a run step works, the tenant's lifecycle is checked: an
// uninstalled tenant's runs stop with the reason, a disabled tenant's
// queued run waits (cleanup.Service.StepGate).
//
// The package builds no part of the domain: the command builds the engine,
// the cleanup service and the store, and hands the runtime what its jobs
// call through small interfaces (Work: a Stepper, a Scheduler, a
// FollowUpChecker and a RunLister). The runtime in turn offers the store its
// transactional inserts (EnqueueStep, EnqueueFollowUp), which the store
// calls inside the transactions that commit a run's progress or finish it.
//
// On start the runtime enqueues a step for every unfinished run, so a run
// interrupted by a crash resumes at once instead of waiting for River's
// stuck-job rescue. Stop is graceful: steps under way may finish for half
// of the time Stop is given, then those still running are cancelled and
// their jobs handed back to the queue (their runs' leases released).
//
// Every job's context names its tenant (cleanup.WithTenant), so lines
// logged below it carry the clientKey; River's own periodic info lines
// are logged at debug (quietHandler); an Observer (metrics) learns of
// every job worked, with its queue wait and duration.
package jobs
