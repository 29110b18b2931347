package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/heapfloor"
)

// The page benchmark's server runs in a process of its own by default, as
// it does in production and in the load test the targets come from: the
// load generator and the server then compete for the cores as two
// processes, each with its own scheduler and garbage collector. (In one
// process a client's write wakes the server's goroutine through the same
// runtime, which flatters the figures: on one machine in one hour a page
// request took about 100 µs of CPU in one process, and 120 µs in two
// (load generator and server together).)
//
// The child is this program run again with pageServerEnv set: it starts
// the server (startPageServer), writes one line of JSON describing the
// target (pageChildTarget) to its stdout, and serves until its stdin is
// closed, which happens at the latest when the parent exits.

// pageServerEnv, set to "1", makes this program the page benchmark's
// server (runPageChild) instead of the benchmark command.
const pageServerEnv = "UCBENCH_PAGE_SERVER"

// pageChildTarget is what the child tells the parent about the server.
// The shared secret is the benchmark tenant's, made for this run.
type pageChildTarget struct {
	Base       string `json:"base"`
	Page       string `json:"page"`
	Query      string `json:"query"`
	Descriptor string `json:"descriptor"`
	ClientKey  string `json:"client_key"`
	Secret     string `json:"secret"`
	Account    string `json:"account"`
}

// runPageChild is the child's main: args are its flags (-db, -log-level,
// -direct-log), stdin is watched for its end. It keeps the heap floor as
// serve does (floor bytes; 0: none).
func runPageChild(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, floor int64) error {
	fs := flag.NewFlagSet("page-server", flag.ContinueOnError)
	db := fs.String("db", "sqlite", "database: sqlite or postgres (TEST_POSTGRES_URL)")
	logLevel := fs.String("log-level", "info", "LOG_LEVEL of the server")
	directLog := fs.Bool("direct-log", false, "write each log record straight to the file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	defer heapfloor.Start(ctx, heapfloor.Config{Floor: floor})()
	self, err := startPageServer(ctx, *db, *logLevel, *directLog)
	if err != nil {
		return err
	}
	defer self.close()
	tg := self.target
	line, err := json.Marshal(pageChildTarget{
		Base: tg.appBase, Page: tg.page, Query: tg.query, Descriptor: tg.descriptor,
		ClientKey: tg.tenant.ClientKey, Secret: tg.tenant.SharedSecret.Reveal(), Account: tg.accountID,
	})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
	return nil
}

// pageChild is a running child server.
type pageChild struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	target pageTarget
	stderr *tailBuffer
	done   chan error
}

// startPageChild runs this program as the page benchmark's server and
// waits for the line that describes it.
func startPageChild(ctx context.Context, db, logLevel string, directLog bool) (*pageChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("page server process: %w", err)
	}
	args := []string{"-db", db, "-log-level", logLevel}
	if directLog {
		args = append(args, "-direct-log")
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), pageServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &pageChild{cmd: cmd, stdin: stdin, stderr: &tailBuffer{max: 8 << 10}, done: make(chan error, 1)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("page server process: %w", err)
	}
	lines := make(chan []byte, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadBytes('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
		c.done <- cmd.Wait()
	}()
	fail := func(err error) (*pageChild, error) {
		c.stop()
		return nil, fmt.Errorf("page server process: %w%s", err, c.stderr.suffix())
	}
	var line []byte
	select {
	case line = <-lines:
	case <-time.After(time.Minute):
		return fail(errors.New("no target after a minute"))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	var t pageChildTarget
	if err := json.Unmarshal(line, &t); err != nil || t.Base == "" {
		return fail(fmt.Errorf("it did not start (its first line: %q)", bytes.TrimSpace(line)))
	}
	c.target = pageTarget{
		appBase: t.Base, page: t.Page, query: t.Query, descriptor: t.Descriptor,
		tenant: &connect.Tenant{ClientKey: t.ClientKey, SharedSecret: connect.Secret(t.Secret)}, accountID: t.Account,
	}
	return c, nil
}

func (c *pageChild) pid() int { return c.cmd.Process.Pid }

// stop closes the child's stdin, which ends it, and waits for it; after
// 10 seconds it is killed.
func (c *pageChild) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// tailBuffer keeps the last max bytes written to it: the child's stderr,
// shown when it fails.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// suffix is "; its stderr: <what it holds>" for an error message, or
// nothing when it is empty.
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := bytes.TrimSpace(t.b); len(s) > 0 {
		return "; its stderr: " + string(s)
	}
	return ""
}
