package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/mailer"
	"github.com/example/usercleanup/internal/mailer/mailertest"
	"github.com/example/usercleanup/internal/store"
)

// runWarnEmail sends the warning e-mails of --users warned users through
// the real path (SQLite warnings, the Notifier's claim / send / record
// per e-mail, go-mail over SMTP) to an in-process SMTP server, in batches
// of cleanup.WarningBatch worked by --workers at once (JOB_WORKERS), at
// --rate e-mails per second (0: unlimited, to find the ceiling). It
// prints e-mails per second, peak memory and duplicates, and as the
// yardstick the same number of messages sent by the mailer alone (no
// database, one connection).
//
// It is long on purpose: a benchmark reads as one script (flags, set-up,
// the timed parts, the report).
func runWarnEmail(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("warn-email", flag.ContinueOnError)
	fs.SetOutput(stdout)
	users := fs.Int("users", 10000, "warned users to e-mail")
	workers := fs.Int("workers", 4, "batches sent at once (JOB_WORKERS)")
	rate := fs.Float64("rate", 0, "e-mails per second over all batches (SMTP_RATE); 0: no limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *users <= 0 || *workers <= 0 || *rate < 0 {
		return errors.New("warn-email: --users and --workers must be positive, --rate not negative")
	}
	dir, err := os.MkdirTemp("", "ucbench-warn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cipher, err := store.NewCipher(make([]byte, store.KeySize))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(dir, "bench.db"), Cipher: cipher})
	if err != nil {
		return err
	}
	defer st.Close()
	const ck = "bench-tenant"
	if err := st.SaveTenant(cleanup.AsOperator(ctx), &connect.Tenant{ClientKey: ck, SharedSecret: "bench-secret-0123456789abcdef",
		ProductType: connect.Jira, BaseURL: "https://bench.atlassian.net", AppKey: "com.example.usercleanup.jira", Enabled: true}); err != nil {
		return err
	}
	cs := st.Cleanups(nil)
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual = "bench", cleanup.ActionRemoveProductAccess, true
	d.Warning = cleanup.WarningOptions{Enabled: true, Days: 14}
	// Warnings are created for a stored cleanup only.
	cl, err := cs.CreateCleanup(ctx, ck, cleanup.Cleanup{Definition: d})
	if err != nil {
		return err
	}
	runID, err := cs.CreateRun(ctx, cleanup.NewRun{ClientKey: ck, CleanupID: cl.ID, CleanupName: d.Name, Definition: d, Settings: cleanup.DefaultSettings(), Trigger: cleanup.TriggerManual})
	if err != nil {
		return err
	}
	if _, err := cs.AcquireRunLease(ctx, ck, runID, "bench", time.Now().Add(time.Hour)); err != nil {
		return err
	}
	now := time.Now().UTC()
	for i := 0; i < *users; i += 500 {
		c := cleanup.Commit{ClientKey: ck, RunID: runID, Owner: "bench", LeaseUntil: time.Now().Add(time.Hour)}
		for j := i; j < min(i+500, *users); j++ {
			c.Warnings = append(c.Warnings, cleanup.WarningChange{Op: cleanup.WarnCreate, Warning: cleanup.Warning{
				CleanupID: cl.ID, AccountID: fmt.Sprintf("acc-%06d", j), Name: fmt.Sprintf("User %06d", j),
				Email: fmt.Sprintf("user%06d@example.com", j), Product: "Jira Software", Reason: "inactive in Jira Software for 120 days (threshold 90)",
				LastActive: now.AddDate(0, 0, -120), WarnedAt: now, RemovalDate: now.AddDate(0, 0, 14), EmailStatus: cleanup.EmailQueued}})
		}
		if err := cs.Commit(ctx, c); err != nil {
			return fmt.Errorf("warn-email: store warnings: %w", err)
		}
	}
	srv, err := mailertest.Start(mailertest.Options{DropData: true})
	if err != nil {
		return err
	}
	defer srv.Close()
	m, err := mailer.New(mailer.Config{Host: srv.Host(), Port: srv.Port(), TLS: mailer.TLSNone, From: "User Cleanup <cleanup@example.com>"})
	if err != nil {
		return err
	}
	n, err := cleanup.NewNotifier(cleanup.NotifierConfig{Store: cs, Mailer: m, Pacer: cleanup.NewPacer(*rate)})
	if err != nil {
		return err
	}

	// The timed part: every batch, --workers at a time.
	batches := make(chan [2]int64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sendErr error
	start := time.Now()
	for range *workers {
		wg.Go(func() {
			for b := range batches {
				if err := n.SendBatch(ctx, ck, runID, b[0], b[1], true); err != nil {
					mu.Lock()
					sendErr = errors.Join(sendErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for from := int64(1); from <= int64(*users); from += cleanup.WarningBatch {
		batches <- [2]int64{from, min(from+cleanup.WarningBatch-1, int64(*users))}
	}
	close(batches)
	wg.Wait()
	wall := time.Since(start)
	hwm, hwmErr := peakRSS()

	received := srv.Messages()
	per := map[string]int{}
	for _, msg := range received {
		per[strings.ToLower(msg.To[0])]++
	}
	dup := 0
	for _, k := range per {
		dup += k - 1
	}
	open, err := cs.EmailProgress(ctx, ck, runID)
	if err != nil {
		return err
	}

	// The yardstick: the same messages through the mailer alone.
	srv.Reset()
	conn, err := m.Dial(ctx)
	if err != nil {
		return err
	}
	o := d.Warning
	rawStart := time.Now()
	for i := range *users {
		e, err := cleanup.RenderWarning(o, cleanup.WarningData{Name: "User", Product: "Jira Software", Site: "bench.atlassian.net",
			RemovalDate: now.AddDate(0, 0, 14), Reason: "inactive"}, fmt.Sprintf("raw%06d@example.com", i))
		if err != nil {
			return err
		}
		if err := conn.Send(ctx, e); err != nil {
			return err
		}
	}
	raw := time.Since(rawStart)
	_ = conn.Close()

	rateText := "no limit"
	if *rate > 0 {
		rateText = fmt.Sprintf("%g per second", *rate)
	}
	fmt.Fprintf(stdout, "warn-email: %d warned users, batches of %d, %d at once, rate %s, SQLite, local SMTP server\n", *users, cleanup.WarningBatch, *workers, rateText)
	fmt.Fprintf(stdout, "e-mails received        %d (duplicates %d, still queued %d)\n", len(received), dup, open)
	fmt.Fprintf(stdout, "wall time               %v\n", wall.Round(time.Millisecond))
	fmt.Fprintf(stdout, "e-mails per second      %.0f\n", float64(len(received))/wall.Seconds())
	fmt.Fprintf(stdout, "mailer alone            %v for %d e-mails, %.0f per second (one connection, no database: the yardstick)\n",
		raw.Round(time.Millisecond), *users, float64(*users)/raw.Seconds())
	if hwmErr == nil {
		fmt.Fprintf(stdout, "peak memory (VmHWM)     %.1f MiB\n", float64(hwm)/(1<<20))
	}
	if sendErr != nil {
		return fmt.Errorf("warn-email: %w", sendErr)
	}
	if len(received) != *users || dup != 0 || open != 0 {
		return fmt.Errorf("warn-email: %d of %d e-mails, %d duplicated, %d left", len(received), *users, dup, open)
	}
	return nil
}
