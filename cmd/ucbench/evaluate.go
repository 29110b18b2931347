package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// evaluateTargetMiB is the peak resident memory the evaluate benchmark
// must stay under (the fake organization lives in the same process).
const evaluateTargetMiB = 200

// runEvaluate seeds a fake organization, installs a Jira tenant in a
// temporary SQLite store and runs a dry run of a remove-product-access
// cleanup over every user through the real engine (steps, commits, the
// export generation), then prints wall time, requests, rows, the
// rate-limit floor and peak memory.
//
// It is long on purpose: a benchmark reads as one script (flags, set-up,
// the timed part, the report), so what is measured and under which
// conditions stays visible in one place.
func runEvaluate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.SetOutput(stdout)
	users := fs.Int("users", 100000, "accounts to seed")
	latency := fs.Duration("latency", 20*time.Millisecond, "latency added to every response")
	rate := fs.Float64("rate", 100, "rate limit in requests per second (0: none)")
	days := fs.Int("days", 90, "days inactive threshold of the cleanup")
	seed := fs.Int64("seed", 1, "generator seed")
	exports := fs.Bool("exports", true, "generate the run's export files, as a real dry run does")
	chains := fs.Int("chains", cleanup.DefaultEvalChains, "cursor chains the evaluation follows at once (1: one chain)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *users <= 0 || *rate < 0 || *latency < 0 || *days < 1 || *chains < 1 {
		return errors.New("evaluate: --users, --days and --chains must be positive, --rate and --latency not negative")
	}

	seedStart := time.Now()
	cloud := atlassiantest.New(atlassiantest.Options{Seed: *seed, Users: *users})
	defer cloud.Close()
	seeded := time.Since(seedStart)

	bt, ctx, err := newBenchTenant(ctx, "evaluate", cloud)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	defer bt.Close()
	st, cs, conn, svc, clientKey := bt.store, bt.cleanups, bt.conn, bt.svc, bt.clientKey
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "bench", cleanup.ActionRemoveProductAccess, true, *days
	d.IncludeNeverActive = true
	for _, name := range []string{atlassiantest.GroupJiraSoftware, atlassiantest.GroupEntraJira} {
		g, ok := cloud.GroupByName(name)
		if !ok {
			return fmt.Errorf("evaluate: no group %s", name)
		}
		d.LicensingGroupIDs = append(d.LicensingGroupIDs, g.ID)
	}
	c, err := svc.CreateCleanup(ctx, clientKey, d)
	if err != nil {
		return fmt.Errorf("evaluate: cleanup: %w", err)
	}
	runID, err := svc.StartRun(ctx, clientKey, c.ID, true, "bench")
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	var exp cleanup.Exporter
	if *exports {
		exp = idpexport.NewExporter(st, idpexport.ExporterConfig{})
	}
	engine, err := cleanup.NewEngine(cleanup.EngineConfig{Store: cs, Connector: conn, Exporter: exp, EvalChains: *chains})
	if err != nil {
		return err
	}

	cloud.SetLatency(*latency)
	if *rate > 0 {
		cloud.SetRateLimit(*rate, max(1, int(*rate)))
	}
	cloud.ResetRequests()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	steps := 0
	for {
		steps++
		res, err := engine.Step(ctx, clientKey, runID, fmt.Sprintf("bench/step-%d", steps))
		if err != nil {
			return fmt.Errorf("evaluate: step %d: %w", steps, err)
		}
		if res.RetryAfter > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(res.RetryAfter):
			}
		}
		if res.Done {
			break
		}
	}
	wall := time.Since(start)
	run, err := svc.GetRun(ctx, clientKey, runID)
	if err != nil {
		return err
	}
	if run.Status != cleanup.RunSucceeded {
		return fmt.Errorf("evaluate: run %s: %s", run.Status, run.Error)
	}
	_, requests := cloud.Requests()
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	pages := (run.Counts.Evaluated + atlassian.OrgSearchLimit - 1) / atlassian.OrgSearchLimit
	fmt.Fprintf(stdout, "evaluate: %d accounts, dry run of remove-product-access (%d days, never-active included), latency %s, rate %g req/s, up to %d cursor chains, GOMAXPROCS %d\n",
		*users, *days, *latency, *rate, *chains, runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "seeded fake in          %s\n", seeded.Round(time.Millisecond))
	fmt.Fprintf(stdout, "users evaluated         %d (%d matched, %d protected)\n", run.Counts.Evaluated, run.Counts.Matched, run.Counts.Protected)
	byAction := map[string]int{}
	for _, a := range []string{cleanup.ActionRemoveProductAccess, cleanup.ActionIdPExport} {
		_, n, err := svc.RunUsers(ctx, clientKey, runID, cleanup.RunUserFilter{Action: a}, cleanup.Page{PerPage: 1})
		if err != nil {
			return err
		}
		byAction[a] = n
	}
	fmt.Fprintf(stdout, "rows stored             %d (%d remove in Atlassian, %d export for the IdP; dry run: nothing changed)\n",
		run.Counts.Rows, byAction[cleanup.ActionRemoveProductAccess], byAction[cleanup.ActionIdPExport])
	fmt.Fprintf(stdout, "engine steps            %d\n", steps)
	fmt.Fprintf(stdout, "requests made           %d (%d answered 429; %d user pages)\n", requests, cloud.RateLimited(), pages)
	fmt.Fprintf(stdout, "wall time               %s\n", wall.Round(time.Millisecond))
	if *rate > 0 {
		floor := time.Duration(float64(requests) / *rate * float64(time.Second))
		fmt.Fprintf(stdout, "rate-limit floor        %s (requests / rate)\n", floor.Round(time.Millisecond))
		fmt.Fprintf(stdout, "latency floor, 1 chain  %s (user pages x latency: a cursor chain is sequential; parallel chains split it)\n", (time.Duration(pages) * *latency).Round(time.Millisecond))
		fmt.Fprintf(stdout, "ratio to rate floor     %.3f\n", wall.Seconds()/floor.Seconds())
	}
	fmt.Fprintf(stdout, "peak memory (VmHWM)     %.1f MiB (target < %d MiB: %s)\n", float64(hwm)/(1<<20), evaluateTargetMiB, verdict(hwm < evaluateTargetMiB<<20))
	return nil
}
