// Command ucbench runs the User Cleanup benchmarks against in-process fakes
// and prints the figures. Each benchmark is a subcommand:
//
//	ucbench org-read --users 100000 --latency 20ms --rate 100
//
// Run "ucbench help" for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"

	"github.com/example/usercleanup/internal/heapfloor"
)

// command is one benchmark.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

// commands lists the subcommands; add new benchmarks here.
func commands() map[string]command {
	return map[string]command{
		"org-read":     {summary: "read a whole organization from the fake Atlassian cloud under latency and a rate limit", run: runOrgRead},
		"export":       {summary: "generate the export files of a run with 1,000,000 idp-export rows from SQLite or PostgreSQL", run: runExport},
		"evaluate":     {summary: "dry-run a cleanup over a whole organization through the run engine and a SQLite store", run: runEvaluate},
		"graph-remove": {summary: "remove members from a group of the fake Microsoft Graph under the 3,000-writes-per-150-s quota", run: runGraphRemove},
		"page":         {summary: "load an authenticated admin page (fresh page JWT per request) and the descriptor route with keep-alive clients", run: runPage},
		"users":        {summary: "page, search, filter and sort the users screen over a snapshot of 100,000 users in SQLite or PostgreSQL", run: runUsers},
		"warn-email":   {summary: "send the warning e-mails of 10,000 warned users through SQLite and SMTP to a local server", run: runWarnEmail},
		"restore":      {summary: "run a cleanup that removes product access, then restore it, through the run engine and SQLite", run: runRestore},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	floor, err := heapfloor.FromEnv(os.Getenv("HEAP_FLOOR"), os.Getenv("GOGC"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ucbench: HEAP_FLOOR:", err)
		os.Exit(2)
	}
	if os.Getenv(pageServerEnv) == "1" {
		if err := runPageChild(ctx, os.Args[1:], os.Stdin, os.Stdout, floor); err != nil {
			fmt.Fprintln(os.Stderr, "ucbench page server:", err)
			os.Exit(1)
		}
		return
	}
	// The benchmarks measure work the server does, so they run with its
	// heap floor (HEAP_FLOOR, as serve reads it). Not page's load
	// generator: it stands for the load test's own client, and its
	// server process keeps the floor itself.
	if len(os.Args) < 2 || os.Args[1] != "page" {
		defer heapfloor.Start(ctx, heapfloor.Config{Floor: floor})()
	}
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ucbench:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: ucbench <command> [flags]; ucbench help lists the commands")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return errUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout, cmds)
		return nil
	}
	cmd, ok := cmds[name]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("unknown command %q", name)
	}
	return cmd.run(ctx, args[1:], stdout)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: ucbench <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun ucbench <command> -h for the command's flags.\n")
	fmt.Fprint(w, b.String())
}
