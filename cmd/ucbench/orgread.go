package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// orgReadTargets are the figures the org-read benchmark must meet.
const (
	targetRatio = 1.2 // wall time within 1.2x the rate-limit floor
	targetMiB   = 150 // peak resident memory
)

// runOrgRead seeds a fake organization, then reads every group and user
// through atlassian.Org with the given latency and rate limit, and prints
// requests made, wall time, the rate-limit floor, their ratio and the
// process's peak resident memory.
//
// It is long on purpose: a benchmark reads as one script (flags, set-up,
// the timed part, the report), so what is measured and under which
// conditions stays visible in one place.
func runOrgRead(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("org-read", flag.ContinueOnError)
	fs.SetOutput(stdout)
	users := fs.Int("users", 100000, "accounts to seed (about 90% people, whom the directory lists; the rest apps and JSM customers)")
	latency := fs.Duration("latency", 20*time.Millisecond, "latency added to every response")
	rate := fs.Float64("rate", 100, "rate limit in requests per second (0: none)")
	burst := fs.Int("burst", 0, "rate-limit burst (default: one second's worth)")
	concurrency := fs.Int("concurrency", atlassian.DefaultMaxConcurrency, "requests in flight per tenant")
	split := fs.Bool("split", true, "scan the managed and unmanaged halves concurrently")
	seed := fs.Int64("seed", 1, "generator seed")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the read to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *users <= 0 || *rate < 0 || *concurrency <= 0 || *latency < 0 {
		return errors.New("org-read: --users and --concurrency must be positive, --rate and --latency not negative")
	}
	if *burst <= 0 {
		*burst = max(1, int(*rate))
	}

	seedStart := time.Now()
	cloud := atlassiantest.New(atlassiantest.Options{Seed: *seed, Users: *users})
	defer cloud.Close()
	seeded := time.Since(seedStart)
	cloud.SetLatency(*latency)
	if *rate > 0 {
		cloud.SetRateLimit(*rate, *burst)
	}
	org, err := atlassian.NewOrg(cleanup.OrgCredentials{OrgID: cloud.OrgID(), APIKey: "test-org-api-key"}, atlassian.Options{
		HTTPClient: cloud.HTTPClient(), OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL(), MaxConcurrency: *concurrency,
	})
	if err != nil {
		return err
	}
	cloud.ResetRequests()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("org-read: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("org-read: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var s orgStats
	start := time.Now()
	groups, err := org.Groups(ctx)
	if err != nil {
		return fmt.Errorf("org-read: groups: %w", err)
	}
	for _, g := range groups {
		if g.SyncedFromIdP() {
			s.syncedGroups++
		}
	}
	scan := org.EachUser
	if *split {
		scan = org.ScanUsers
	}
	if err := scan(ctx, cleanup.UserQuery{}, s.add); err != nil {
		return fmt.Errorf("org-read: users: %w", err)
	}
	wall := time.Since(start)

	_, requests := cloud.Requests()
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "org-read: %d users, latency %s, rate %g req/s (burst %d), concurrency %d, split %v, GOMAXPROCS %d\n",
		*users, *latency, *rate, *burst, *concurrency, *split, runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "seeded fake in          %s\n", seeded.Round(time.Millisecond))
	types := cloud.AccountTypes()
	fmt.Fprintf(stdout, "organization            %d accounts: %d atlassian, %d app, %d customer (the directory lists atlassian accounts)\n",
		*users, types[cleanup.AccountAtlassian], types[cleanup.AccountApp], types[cleanup.AccountCustomer])
	fmt.Fprintf(stdout, "users read              %d (%d managed, %d unmanaged, %d synced from an IdP, %d with a never-used product)\n",
		s.users, s.managed, s.users-s.managed, s.synced, s.neverActive)
	fmt.Fprintf(stdout, "groups read             %d (%d synced from an IdP)\n", len(groups), s.syncedGroups)
	fmt.Fprintf(stdout, "requests made           %d (%d answered 429)\n", requests, cloud.RateLimited())
	fmt.Fprintf(stdout, "wall time               %s\n", wall.Round(time.Millisecond))
	if *rate > 0 {
		floor := time.Duration(float64(requests) / *rate * float64(time.Second))
		ratio := wall.Seconds() / floor.Seconds()
		fmt.Fprintf(stdout, "rate-limit floor        %s (requests / rate)\n", floor.Round(time.Millisecond))
		fmt.Fprintf(stdout, "ratio                   %.3f (target <= %.1f: %s)\n", ratio, targetRatio, verdict(ratio <= targetRatio))
	}
	fmt.Fprintf(stdout, "peak memory (VmHWM)     %.1f MiB (target < %d MiB: %s)\n", float64(hwm)/(1<<20), targetMiB, verdict(hwm < targetMiB<<20))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// orgStats aggregates users as pages arrive, as the cleanup engine does:
// a page is processed and dropped, never the whole organization held.
type orgStats struct {
	users, managed, synced, neverActive, syncedGroups int
}

func (s *orgStats) add(users []cleanup.OrgUser) error {
	for _, u := range users {
		s.users++
		if u.Managed {
			s.managed++
		}
		if u.ManagementSource == cleanup.SourceSynced {
			s.synced++
		}
		for _, at := range u.LastActive {
			if at.IsZero() {
				s.neverActive++
				break
			}
		}
	}
	return nil
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("peak memory: parse VmHWM %q: %w", rest, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("peak memory: %w", err)
	}
	return 0, errors.New("peak memory: no VmHWM in /proc/self/status")
}
