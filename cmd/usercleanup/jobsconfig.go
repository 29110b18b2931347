package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
	"github.com/example/usercleanup/internal/jobs"
	"github.com/example/usercleanup/internal/mailer"
	"github.com/example/usercleanup/internal/metrics"
	"github.com/example/usercleanup/internal/store"
)

// jobsConfig configures the background jobs and the clients they use.
type jobsConfig struct {
	Workers       int           // JOB_WORKERS (default 4)
	RescueAfter   time.Duration // JOB_RESCUE_AFTER (default 5m)
	ScheduleEvery time.Duration // JOB_SCHEDULE_EVERY (default 30s)
	// Retention is how long an uninstalled tenant's data is kept
	// (UNINSTALL_RETENTION_DAYS, default 30 days).
	Retention time.Duration
	// AtlassianAPIURL is the Organizations and User management API base
	// (ORG_API_URL, default https://api.atlassian.com); tests and demos
	// point it at a fake. The org API key is sent to it, so it must be
	// https unless the host is the loopback.
	AtlassianAPIURL string
	// Graph holds the Microsoft Graph endpoints (GRAPH_API_URL,
	// GRAPH_LOGIN_URL).
	Graph graphConfig
	// Mail is the SMTP server of the warning e-mails (mailconfig.go).
	Mail mailConfig
	// PersonalDataEvery is the personal data reporting cycle
	// (PERSONAL_DATA_REPORT_INTERVAL, default 7 days).
	PersonalDataEvery time.Duration
}

// maxRetentionDays bounds UNINSTALL_RETENTION_DAYS (ten years).
const maxRetentionDays = 3650

// loadJobsConfig reads the job settings from the environment.
func loadJobsConfig(getenv func(string) string) (jobsConfig, error) {
	var errs configErrors
	c := jobsConfig{Workers: jobs.DefaultWorkers, RescueAfter: jobs.DefaultRescueAfter, ScheduleEvery: jobs.DefaultScheduleEvery,
		Retention: cleanup.DefaultRetention, AtlassianAPIURL: atlassian.DefaultAPIURL, PersonalDataEvery: cleanup.DefaultReportEvery}
	if raw := strings.TrimSpace(getenv("UNINSTALL_RETENTION_DAYS")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxRetentionDays {
			errs = append(errs, badVar("UNINSTALL_RETENTION_DAYS", "must be a whole number of days from 1 to %d, got %q", maxRetentionDays, raw))
		}
		c.Retention = time.Duration(n) * 24 * time.Hour
	}
	if raw := strings.TrimSpace(getenv("JOB_WORKERS")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 256 {
			errs = append(errs, badVar("JOB_WORKERS", "must be a whole number from 1 to 256, got %q", raw))
		}
		c.Workers = n
	}
	for _, d := range []struct {
		name     string
		dst      *time.Duration
		min, max time.Duration
	}{
		{"JOB_RESCUE_AFTER", &c.RescueAfter, jobs.MinRescueAfter, 24 * time.Hour},
		{"JOB_SCHEDULE_EVERY", &c.ScheduleEvery, time.Second, time.Hour},
		{"PERSONAL_DATA_REPORT_INTERVAL", &c.PersonalDataEvery, time.Second, 30 * 24 * time.Hour},
	} {
		raw := strings.TrimSpace(getenv(d.name))
		if raw == "" {
			continue
		}
		v, err := time.ParseDuration(raw)
		if err != nil || v < d.min || v > d.max {
			errs = append(errs, badVar(d.name, "must be a duration from %s to %s such as 5m, got %q", d.min, d.max, raw))
		}
		*d.dst = v
	}
	if raw := strings.TrimSpace(getenv("ORG_API_URL")); raw != "" {
		u, err := url.Parse(raw)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
			errs = append(errs, badVar("ORG_API_URL", "must be an https URL without credentials"))
		case u.Scheme == "http" && !isLocalHost(u.Hostname()):
			errs = append(errs, badVar("ORG_API_URL", "must use https (the organization API key is sent to it); http is allowed for localhost and 127.0.0.1 only"))
		default:
			c.AtlassianAPIURL = strings.TrimSuffix(u.String(), "/")
		}
	}
	graph, gerrs := loadGraphConfig(getenv)
	c.Graph = graph
	errs = append(errs, gerrs...)
	mc, merrs := loadMailConfig(getenv)
	c.Mail = mc
	errs = append(errs, merrs...)
	if len(errs) > 0 {
		return c, errs
	}
	return c, nil
}

// domain is the cleanup domain wired to its adapters and to the job
// runtime that executes its runs.
type domain struct {
	conn    *atlassian.Connector
	jobs    *jobs.Runtime
	work    jobs.Work // what the runtime's jobs do, given to it at Start
	service *cleanup.Service
	// snapshots takes and reads the licence snapshots (dashboard, users).
	snapshots *cleanup.Snapshots
}

// newDomain builds the job runtime (River on the store's database), the
// one CleanupStore (whose commits enqueue the runs' next steps and
// follow-ups through the runtime), the tenant connector (product and
// Organizations clients, Microsoft Graph), the export generator, the run
// engine and the cleanup service.
func newDomain(ctx context.Context, cfg *config, jcfg jobsConfig, st *store.Store, outbound *http.Client, log *slog.Logger, now func() time.Time, m *metrics.Metrics) (*domain, error) {
	dsn := ""
	if cfg.Database.Driver == store.Postgres {
		dsn = cfg.Database.DSN
	}
	// The observers stay nil interfaces without metrics.
	var jobObserver jobs.Observer
	var runObserver cleanup.RunObserver
	if m != nil {
		jobObserver, runObserver = m, m
	}
	rt, err := jobs.New(ctx, jobs.Config{
		DB: st.SQLDB(), Driver: string(st.Driver()), DSN: dsn,
		Workers:           jcfg.Workers,
		RescueAfter:       jcfg.RescueAfter,
		ScheduleEvery:     jcfg.ScheduleEvery,
		Retention:         jcfg.Retention,
		PersonalDataEvery: jcfg.PersonalDataEvery,
		Logger:            log,
		Now:               now,
		Observer:          jobObserver,
	})
	if err != nil {
		return nil, fmt.Errorf("background jobs: %w", err)
	}
	cs := st.Cleanups(rt.EnqueueStep).WithFollowUps(rt.EnqueueFollowUp).WithMail(rt.EnqueueWarningEmails)
	graph := newGraphClients(jcfg.Graph, outbound, log)
	conn := &atlassian.Connector{
		Tenants:     st,
		Credentials: cs,
		Atlassian: atlassian.Options{
			HTTPClient: outbound, Logger: log,
			OrgAPIURL: jcfg.AtlassianAPIURL, UserMgmtURL: jcfg.AtlassianAPIURL,
		},
		NewIdP:  graph.IdP,
		TestIdP: graph.Uncached,
	}
	budget, lease := rt.RunTiming()
	// Runs of cleanups with warnings fail with the reason when no mail
	// server is configured (they could not send).
	var (
		warnings cleanup.WarningStore
		mailJobs cleanup.EmailJobs
	)
	if jcfg.Mail.Enabled {
		warnings, mailJobs = cs, rt
	}
	exporter := idpexport.NewExporter(st, idpexport.ExporterConfig{Logger: log})
	engine, err := cleanup.NewEngine(cleanup.EngineConfig{
		Store: cs, Connector: conn, Exporter: exporter,
		Warnings: warnings, EmailJobs: mailJobs, Logger: log, Now: now, StepBudget: budget, LeaseFor: lease, Observer: runObserver,
	})
	if err != nil {
		return nil, err
	}
	svc, err := cleanup.NewService(cs, conn, log, now)
	if err != nil {
		return nil, err
	}
	snaps, err := cleanup.NewSnapshots(cleanup.SnapshotsConfig{
		Store: st.Snapshots(rt.EnqueueSnapshot), Source: cs, Connector: conn, Logger: log, Now: now,
	})
	if err != nil {
		return nil, err
	}
	var recorder cleanup.PersonalDataRecorder
	if m != nil {
		recorder = m
	}
	personal, err := cleanup.NewPersonalData(cleanup.PersonalDataConfig{
		Store: cs, Reporter: conn, Orgs: conn, Exporter: exporter, Every: jcfg.PersonalDataEvery,
		Recorder: recorder, Logger: log, Now: now,
	})
	if err != nil {
		return nil, err
	}
	work := jobs.Work{Steps: engine, Gate: svc, Schedules: svc, FollowUps: svc, Retention: svc, Runs: cs, Snapshots: snaps, PersonalData: personal}
	log.Info("warning e-mails", "mail", jcfg.Mail)
	if jcfg.Mail.Enabled {
		smtp, err := newMailer(jcfg.Mail, log)
		if err != nil {
			return nil, err
		}
		var ml cleanup.Mailer = smtp
		if m != nil {
			ml = m.Mailer(smtp)
		}
		notifier, err := cleanup.NewNotifier(cleanup.NotifierConfig{Store: cs, Mailer: ml, Pacer: cleanup.NewPacer(jcfg.Mail.Rate), Logger: log, Now: now})
		if err != nil {
			return nil, err
		}
		svc, work.Emails = svc.WithWarnings(cs, ml), notifier
		work.Gate, work.Schedules, work.FollowUps, work.Retention = svc, svc, svc, svc
	}
	return &domain{conn: conn, jobs: rt, service: svc, snapshots: snaps, work: work}, nil
}

// newMailer builds the SMTP adapter.
func newMailer(mc mailConfig, log *slog.Logger) (*mailer.Mailer, error) {
	c := mc.SMTP
	c.Logger = log
	m, err := mailer.New(c)
	if err != nil {
		return nil, fmt.Errorf("SMTP: %w", err)
	}
	return m, nil
}
