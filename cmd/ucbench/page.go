package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/cputime"
)

// pageTarget is what the load generator needs to know of the app under
// test: where the page and the descriptor are, and how to sign a page
// token for the installed tenant.
type pageTarget struct {
	appBase    string // the app's baseUrl (the qsh is relative to it)
	page       string // path of the page, relative to appBase
	query      string // the query the product adds to a page URL
	descriptor string // path of the descriptor, relative to appBase
	tenant     *connect.Tenant
	accountID  string // the acting admin (token sub)
}

// pageResult is one phase of the load.
type pageResult struct {
	name      string
	requests  int
	errors    int
	firstErr  string
	elapsed   time.Duration
	latencies []time.Duration // sorted
	bytes     int64
	cpu       time.Duration // this process's CPU time (user+system) while measuring
	serverCPU time.Duration // the server process's, when it is known (serverPID)
}

// cpuPerRequest is the process's CPU time per measured request.
func (r pageResult) cpuPerRequest() time.Duration { return r.perRequest(r.cpu) }

// serverCPUPerRequest is the server process's CPU time per measured
// request, or 0 when it is not known.
func (r pageResult) serverCPUPerRequest() time.Duration { return r.perRequest(r.serverCPU) }

func (r pageResult) perRequest(d time.Duration) time.Duration {
	if r.requests == 0 {
		return 0
	}
	return d / time.Duration(r.requests)
}

func (r pageResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

func (r pageResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.latencies)-1))
	return r.latencies[i]
}

// runPage loads an authenticated admin page with a fresh page JWT per
// request from keep-alive clients, then the unauthenticated descriptor
// route the same way, once with the page's query and a fresh token (which
// it ignores) and once plain, and prints the three. The middle one shows
// what the load generator's token and the longer URL cost by themselves,
// with nothing verified: about as close to the plain descriptor as any
// authenticated page can come under this load.
func runPage(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("page", flag.ContinueOnError)
	clients := fs.Int("clients", 32, "concurrent keep-alive clients")
	duration := fs.Duration("duration", 10*time.Second, "how long each route is loaded")
	warmup := fs.Duration("warmup", 2*time.Second, "load before measuring each route")
	db := fs.String("db", "sqlite", "our server's database: sqlite or postgres (TEST_POSTGRES_URL)")
	logLevel := fs.String("log-level", "info", "our server's LOG_LEVEL (its JSON log goes to a temporary file)")
	directLog := fs.Bool("direct-log", false, "our server: write each log record straight to the file instead of batching them (for comparison)")
	inProcess := fs.Bool("in-process", false, "run our server inside this process instead of a process of its own (flatters it: no cross-process wake-ups)")
	base := fs.String("base", "", "external target: the app's baseUrl (e.g. http://127.0.0.1:3000); empty: start our server")
	serverPID := fs.Int("server-pid", 0, "external target: the server's process ID, to report its CPU time per request (Linux)")
	page := fs.String("page", "/admin/settings", "external target: the page's path relative to -base")
	descriptor := fs.String("descriptor", "/atlassian-connect.json", "external target: the descriptor's path relative to -base")
	clientKey := fs.String("client-key", "", "external target: the installed tenant's clientKey (token iss)")
	secret := fs.String("secret", "", "external target: the tenant's shared secret (HS256 key)")
	account := fs.String("account", "557058:bench-admin", "external target: the acting user's account ID (token sub)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (the load generator, and the server with -in-process) during the page phase to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clients < 1 || *duration <= 0 || *warmup < 0 {
		return errors.New("page: -clients must be at least 1 and -duration positive")
	}

	var target pageTarget
	label := ""
	cpuScope := "the load generator only"
	switch {
	case *base == "" && *inProcess:
		self, err := startPageServer(ctx, *db, *logLevel, *directLog)
		if err != nil {
			return fmt.Errorf("page: %w", err)
		}
		defer self.close()
		target, label = self.target, "our server in this process, "+*db+", LOG_LEVEL="+*logLevel
		cpuScope = "load generator and server"
	case *base == "":
		child, err := startPageChild(ctx, *db, *logLevel, *directLog)
		if err != nil {
			return fmt.Errorf("page: %w", err)
		}
		defer child.stop()
		target, label = child.target, "our server in a process of its own, "+*db+", LOG_LEVEL="+*logLevel
		if _, ok := cputime.Of(child.pid()); ok { // Linux only: elsewhere the column shows "-"
			*serverPID = child.pid()
		}
	default:
		if *clientKey == "" || *secret == "" {
			return errors.New("page: an external -base needs -client-key and -secret")
		}
		u, err := url.Parse(*base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("page: invalid -base %q", *base)
		}
		target = pageTarget{
			appBase: strings.TrimSuffix(*base, "/"), page: *page, descriptor: *descriptor,
			query:  "xdm_e=https%3A%2F%2Fbench.atlassian.net&xdm_c=channel-bench&cp=&lic=none&cv=1001.0.0-SNAPSHOT",
			tenant: &connect.Tenant{ClientKey: *clientKey, SharedSecret: connect.Secret(*secret)}, accountID: *account,
		}
		label = "external target " + target.appBase
	}
	if *base == "" && *directLog {
		label += " (log written directly)"
	}
	if *serverPID != 0 && *base != "" {
		if _, ok := cputime.Of(*serverPID); !ok {
			return fmt.Errorf("page: cannot read the CPU time of process %d", *serverPID)
		}
	}

	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        *clients * 2,
		MaxIdleConnsPerHost: *clients * 2,
		MaxConnsPerHost:     *clients,
		IdleConnTimeout:     time.Minute,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	app := connect.App{BaseURL: target.appBase}
	// withToken returns the URL u with a fresh page token for it, as the
	// product makes one for every page load.
	withToken := func(u string) func() (string, error) {
		return func() (string, error) {
			tok, err := connecttest.PageToken(target.tenant, app, http.MethodGet, u, target.accountID, time.Now(), 3*time.Minute)
			if err != nil {
				return "", err
			}
			return connecttest.WithJWT(u, tok), nil
		}
	}
	pageReq := withToken(target.appBase + target.page + "?" + target.query)
	descURL := target.appBase + target.descriptor
	descTokenReq := withToken(descURL + "?" + target.query)
	descReq := func() (string, error) { return descURL, nil }

	// A first request of each kind says at once whether the target is
	// set up right.
	for _, probe := range []struct {
		name string
		next func() (string, error)
	}{{"page", pageReq}, {"descriptor", descReq}} {
		u, err := probe.next()
		if err != nil {
			return fmt.Errorf("page: %w", err)
		}
		if _, err := fetch(ctx, client, u); err != nil {
			return fmt.Errorf("page: first %s request: %w", probe.name, err)
		}
	}

	fmt.Fprintf(stdout, "ucbench page: %s, %d clients, %s per route after %s warm-up, GOMAXPROCS %d\n",
		label, *clients, *duration, *warmup, gomaxprocs())
	var stopProfile func()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("page: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("page: %w", err)
		}
		stopProfile = func() { pprof.StopCPUProfile(); _ = f.Close() }
	}
	pageRes := loadRoute(ctx, client, "authenticated page", pageReq, *clients, *warmup, *duration, *serverPID)
	if stopProfile != nil {
		stopProfile()
	}
	descTokenRes := loadRoute(ctx, client, "descriptor + token", descTokenReq, *clients, *warmup, *duration, *serverPID)
	descRes := loadRoute(ctx, client, "descriptor", descReq, *clients, *warmup, *duration, *serverPID)
	if err := ctx.Err(); err != nil {
		return err
	}
	results := []pageResult{pageRes, descTokenRes, descRes}
	fmt.Fprintf(stdout, "%-20s %10s %9s %9s %9s %8s %9s %10s %7s\n", "route", "req/s", "p50", "p99", "max", "bytes", "cpu/req", "server/req", "errors")
	failed := false
	for _, r := range results {
		var size int64
		if r.requests > 0 {
			size = r.bytes / int64(r.requests)
		}
		server := "-"
		if *serverPID != 0 {
			server = r.serverCPUPerRequest().Round(100 * time.Nanosecond).String()
		}
		fmt.Fprintf(stdout, "%-20s %10.0f %9s %9s %9s %8d %9s %10s %7d\n", r.name, r.rate(),
			roundDur(r.quantile(0.50)), roundDur(r.quantile(0.99)), roundDur(r.quantile(1)), size,
			r.cpuPerRequest().Round(100*time.Nanosecond), server, r.errors)
		if r.firstErr != "" {
			fmt.Fprintf(stdout, "  first error: %s\n", r.firstErr)
		}
		failed = failed || r.errors > 0
	}
	if descRes.rate() > 0 {
		fmt.Fprintf(stdout, "page / descriptor: %.2f× (req/s)", pageRes.rate()/descRes.rate())
		if *serverPID != 0 && pageRes.serverCPUPerRequest() > 0 {
			fmt.Fprintf(stdout, ", %.2f× (server CPU per request)", float64(descRes.serverCPUPerRequest())/float64(pageRes.serverCPUPerRequest()))
		} else if *inProcess && *base == "" && pageRes.cpuPerRequest() > 0 {
			fmt.Fprintf(stdout, ", %.2f× (CPU per request)", float64(descRes.cpuPerRequest())/float64(pageRes.cpuPerRequest()))
		}
		fmt.Fprintln(stdout)
		fmt.Fprintf(stdout, "descriptor + token / descriptor: %.2f× (req/s): the load generator's token and longer URL alone, nothing verified\n",
			descTokenRes.rate()/descRes.rate())
	}
	fmt.Fprintf(stdout, "cpu/req: CPU time of this process (%s) per request while measuring", cpuScope)
	if *serverPID != 0 {
		fmt.Fprintf(stdout, "; server/req: the server process's (/proc, 10 ms steps)")
	}
	fmt.Fprintln(stdout)
	if failed {
		return errors.New("page: some requests failed")
	}
	return nil
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// loadRoute runs clients loops of next+fetch for warmup, then measures
// for duration.
func loadRoute(ctx context.Context, client *http.Client, name string, next func() (string, error), clients int, warmup, duration time.Duration, serverPID int) pageResult {
	res := pageResult{name: name}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := time.Now()
	measureFrom := start.Add(warmup)
	stopAt := measureFrom.Add(duration)
	var cpuFrom, serverFrom time.Duration
	serverCPU := func() time.Duration {
		if serverPID == 0 {
			return 0
		}
		d, _ := cputime.Of(serverPID)
		return d
	}
	cpuTaken := make(chan struct{})
	go func() {
		defer close(cpuTaken)
		select {
		case <-time.After(time.Until(measureFrom)):
			cpuFrom, _ = cputime.Process()
			serverFrom = serverCPU()
		case <-ctx.Done():
		}
	}()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				lat       []time.Duration
				n, nerr   int
				bytes     int64
				firstErr  string
				measuring bool
			)
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(stopAt) {
					break
				}
				if !measuring && !t0.Before(measureFrom) {
					measuring = true
				}
				u, err := next()
				var size int64
				if err == nil {
					size, err = fetch(ctx, client, u)
				}
				if !measuring {
					continue
				}
				lat = append(lat, time.Since(t0))
				n++
				bytes += size
				if err != nil {
					nerr++
					if firstErr == "" {
						firstErr = err.Error()
					}
				}
			}
			mu.Lock()
			res.requests += n
			res.errors += nerr
			res.bytes += bytes
			res.latencies = append(res.latencies, lat...)
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-cpuTaken
	cpuTo, _ := cputime.Process()
	res.cpu = cpuTo - cpuFrom
	res.serverCPU = serverCPU() - serverFrom
	end := time.Now()
	if end.After(stopAt) {
		end = stopAt
	}
	res.elapsed = end.Sub(measureFrom)
	slices.Sort(res.latencies)
	return res
}

// fetch GETs u, reads the whole body and returns its size; any status but
// 200 is an error.
func fetch(ctx context.Context, client *http.Client, u string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, nil
}

// tempLogFile is where the in-process server's log goes: a real file, so
// every record costs the write it costs in production.
func tempLogFile(dir string) (*os.File, error) {
	return os.Create(filepath.Join(dir, "server.log"))
}
