package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// runRestore seeds a fake organization, runs a remove-product-access
// cleanup (not a dry run) over an Atlassian-managed and an Entra-synced
// licensing group through the real engine and a SQLite store, then
// restores it, and prints both wall times with their requests, the ratio
// restore/run of the same process, the restore's rate-limit floor and
// whether the managed group is exactly as before the run.
//
// Like the other benchmarks it reads as one script: flags, set-up, the two
// timed parts, the report.
func runRestore(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stdout)
	users := fs.Int("users", 20000, "accounts to seed")
	latency := fs.Duration("latency", 20*time.Millisecond, "latency added to every response")
	rate := fs.Float64("rate", 100, "rate limit in requests per second (0: none)")
	seed := fs.Int64("seed", 1, "generator seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *users <= 0 || *rate < 0 || *latency < 0 {
		return errors.New("restore: --users must be positive, --rate and --latency not negative")
	}
	cloud := atlassiantest.New(atlassiantest.Options{Seed: *seed, Users: *users})
	defer cloud.Close()
	bt, ctx, err := newBenchTenant(ctx, "restore", cloud)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer bt.Close()
	st, cs, conn, svc, clientKey := bt.store, bt.cleanups, bt.conn, bt.svc, bt.clientKey
	managed, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	synced, _ := cloud.GroupByName(atlassiantest.GroupEntraJira)
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "bench", cleanup.ActionRemoveProductAccess, true, 90
	d.LicensingGroupIDs = []string{managed.ID, synced.ID}
	c, err := svc.CreateCleanup(ctx, clientKey, d)
	if err != nil {
		return fmt.Errorf("restore: cleanup: %w", err)
	}
	engine, err := cleanup.NewEngine(cleanup.EngineConfig{Store: cs, Connector: conn, Exporter: idpexport.NewExporter(st, idpexport.ExporterConfig{})})
	if err != nil {
		return err
	}
	cloud.SetLatency(*latency)
	if *rate > 0 {
		cloud.SetRateLimit(*rate, max(1, int(*rate)))
	}
	timed := func(id int64) (time.Duration, int, error) {
		cloud.ResetRequests()
		start := time.Now()
		for steps := 1; ; steps++ {
			res, err := engine.Step(ctx, clientKey, id, fmt.Sprintf("bench/%d/%d", id, steps))
			if err != nil {
				return 0, 0, fmt.Errorf("restore: step %d of run %d: %w", steps, id, err)
			}
			if res.RetryAfter > 0 {
				select {
				case <-ctx.Done():
					return 0, 0, ctx.Err()
				case <-time.After(res.RetryAfter):
				}
			}
			if res.Done {
				break
			}
		}
		wall := time.Since(start)
		_, requests := cloud.Requests()
		return wall, requests, nil
	}
	before := slices.Sorted(slices.Values(cloud.Members(managed.ID)))

	runID, err := svc.StartRun(ctx, clientKey, c.ID, false, "bench")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	runWall, runRequests, err := timed(runID)
	if err != nil {
		return err
	}
	run, err := svc.GetRun(ctx, clientKey, runID)
	if err != nil {
		return err
	}
	restoreID, err := svc.StartRestore(ctx, clientKey, runID, cleanup.RestoreInput{}, "bench")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	restWall, restRequests, err := timed(restoreID)
	if err != nil {
		return err
	}
	rest, err := svc.GetRun(ctx, clientKey, restoreID)
	if err != nil {
		return err
	}
	if run.Status != cleanup.RunSucceeded || rest.Status != cleanup.RunSucceeded {
		return fmt.Errorf("restore: run %s (%s), restore %s (%s)", run.Status, run.Error, rest.Status, rest.Error)
	}
	exact := slices.Equal(before, slices.Sorted(slices.Values(cloud.Members(managed.ID))))
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restore: %d accounts, remove-product-access (90 days) in %s and %s, then its restore; latency %s, rate %g req/s\n",
		*users, managed.Name, synced.Name, *latency, *rate)
	fmt.Fprintf(stdout, "run                     %s, %d requests: %d removed in Atlassian, %d exported\n",
		runWall.Round(time.Millisecond), runRequests, run.Counts.RemovedInAtlassian, run.Counts.ExportedForIdP)
	fmt.Fprintf(stdout, "restore                 %s, %d requests: %d re-added, %d in the bulk-add file, %d already had access, %d not restored\n",
		restWall.Round(time.Millisecond), restRequests, rest.Counts.Restored, rest.Counts.ExportedForIdP, rest.Counts.HasAccess, rest.Counts.NotRestored)
	fmt.Fprintf(stdout, "restore / run           %.3f (same process, same fake)\n", restWall.Seconds()/runWall.Seconds())
	if *rate > 0 {
		floor := time.Duration(float64(restRequests) / *rate * float64(time.Second))
		fmt.Fprintf(stdout, "restore rate floor      %s (requests / rate; ratio %.3f)\n", floor.Round(time.Millisecond), restWall.Seconds()/floor.Seconds())
	}
	same := "yes"
	if !exact {
		same = "NO"
	}
	fmt.Fprintf(stdout, "group as before the run %s (%s: %d members before the run)\n", same, managed.Name, len(before))
	fmt.Fprintf(stdout, "peak memory (VmHWM)     %.1f MiB\n", float64(hwm)/(1<<20))
	if !exact {
		return errors.New("restore: the managed group is not as it was before the run")
	}
	return nil
}
