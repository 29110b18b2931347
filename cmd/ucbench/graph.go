package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra"
	"github.com/example/usercleanup/internal/entra/entratest"
)

// graphTargetRatio is the goal for graph-remove: wall time within 1.1× the
// throttle floor.
const graphTargetRatio = 1.1

// runGraphRemove removes --members members from one group of the fake
// Microsoft Graph, which enforces Graph's app+tenant write quota
// (--writes per sliding --window), through entra.Client.RemoveMembers with
// the same client-side limit, and prints requests, batches, 429s, wall time,
// the throttle floor, their ratio and lost or duplicated removals.
// --time-scale N divides the window of both the fake and the client by N so
// the real-scale run (~500 s) can be reproduced in seconds.
//
// It is long on purpose: a benchmark reads as one script (flags, set-up,
// the timed part, the report), so what is measured and under which
// conditions stays visible in one place.
func runGraphRemove(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("graph-remove", flag.ContinueOnError)
	fs.SetOutput(stdout)
	members := fs.Int("members", 10000, "members to remove from the group")
	writes := fs.Int("writes", entra.DefaultWritesPerWindow, "write quota: writes per window (Graph app+tenant: 3000)")
	window := fs.Duration("window", entra.DefaultWindow, "write quota window (Graph app+tenant: 150s)")
	scale := fs.Float64("time-scale", 1, "divide the window (fake and client) by this factor")
	verbose := fs.Bool("v", false, "log the client's debug messages to stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *members <= 0 || *writes <= 0 || *window <= 0 || *scale <= 0 {
		return errors.New("graph-remove: --members, --writes, --window and --time-scale must be positive")
	}
	win := time.Duration(float64(*window) / *scale)

	srv := entratest.NewServer(entratest.Options{WritesPerWindow: *writes, Window: win})
	defer srv.Close()
	group := srv.AddGroup("jira-software-users", entratest.GroupFlags{})
	ids := make([]string, *members)
	for i := range ids {
		ids[i] = srv.AddUser(fmt.Sprintf("user%06d@contoso.com", i), "", false)
		srv.AddMember(group, ids[i])
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	client, err := entra.New(ctx, entra.Config{
		TenantID: srv.TenantID(), ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
		GraphURL: srv.URL, LoginURL: srv.URL, HTTPClient: srv.Client(),
		WritesPerWindow: *writes, Window: win, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("graph-remove: %w", err)
	}

	start := time.Now()
	results, runErr := client.RemoveMembers(ctx, group, ids)
	wall := time.Since(start)

	st := srv.Stats()
	outcomes := map[string]int{}
	for _, r := range results {
		outcomes[r.Outcome]++
	}
	perUser := map[string]int{}
	for _, r := range srv.Removals() {
		perUser[r.UserID]++
	}
	lost, dup := 0, st.RepeatedDeletes
	for _, id := range ids {
		switch n := perUser[id]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	lost += len(srv.Members(group))
	floor := time.Duration(float64(*members) / float64(*writes) * float64(win))
	ratio := wall.Seconds() / floor.Seconds()

	fmt.Fprintf(stdout, "graph-remove: %d members, quota %d writes per %v (time scale %g: %v)\n", *members, *writes, *window, *scale, win)
	fmt.Fprintf(stdout, "requests        %d (Graph HTTP requests; token requests: %d)\n", st.Requests, st.Tokens)
	fmt.Fprintf(stdout, "batches         %d with %d sub-requests (%.1f per batch)\n", st.Batches, st.BatchItems, float64(st.BatchItems)/float64(max(st.Batches, 1)))
	fmt.Fprintf(stdout, "429s            %d\n", st.Throttled)
	fmt.Fprintf(stdout, "outcomes        removed %d, not-member %d, failed %d, unreported %d\n",
		outcomes[cleanup.RemovalRemoved], outcomes[cleanup.RemovalNotMember], outcomes[cleanup.RemovalFailed], *members-len(results))
	fmt.Fprintf(stdout, "wall time       %v\n", wall.Round(time.Millisecond))
	fmt.Fprintf(stdout, "throttle floor  %v (members / writes × window)\n", floor.Round(time.Millisecond))
	fmt.Fprintf(stdout, "ratio           %.3f (target ≤ %.1f)\n", ratio, graphTargetRatio)
	fmt.Fprintf(stdout, "lost removals   %d\n", lost)
	fmt.Fprintf(stdout, "duplicated      %d\n", dup)
	if runErr != nil {
		return fmt.Errorf("graph-remove: %w", runErr)
	}
	if lost != 0 || dup != 0 {
		return fmt.Errorf("graph-remove: %d lost and %d duplicated removals", lost, dup)
	}
	return nil
}
