package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/heapfloor"
	"github.com/example/usercleanup/internal/jobs"
	"github.com/example/usercleanup/internal/logging"
	"github.com/example/usercleanup/internal/metrics"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

// Server timeouts. Writes may take a while for exports later; reads are
// small (lifecycle payloads, JSON settings).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 20 * time.Second
	dbConnectTimeout  = 10 * time.Second
	outboundTimeout   = 30 * time.Second
)

// startupError marks a failure before the server started (bad
// configuration, unreachable database, address in use): exit code 2.
type startupError struct{ err error }

func (e *startupError) Error() string { return e.err.Error() }
func (e *startupError) Unwrap() error { return e.err }

// usageError marks a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCode maps run's error to the process exit code.
func exitCode(err error) int {
	var se *startupError
	var ue *usageError
	if errors.As(err, &se) || errors.As(err, &ue) {
		return 2
	}
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

const usage = "usage: usercleanup [serve|demo|version|forge-manifest]"

// run is the whole program; main only supplies the process environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if cmd == "forge-manifest" {
		return forgeManifest(args[1:], getenv, stdout, stderr)
	}
	if cmd == "demo" {
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 1 {
		return &usageError{msg: fmt.Sprintf("unexpected arguments %q; %s", args[1:], usage)}
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stderr)
	case "version":
		_, err := fmt.Fprintln(stdout, versionString())
		return err
	case "help", "-h", "-help", "--help":
		_, err := fmt.Fprintln(stdout, usage)
		return err
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q; %s", cmd, usage)}
}

func versionString() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	return fmt.Sprintf("usercleanup %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// newLogger logs text to a terminal and JSON otherwise; every line
// written for a tenant names it (tenantHandler).
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(tenantHandler{next: formatHandler(w, w, level)})
}

// newServeLogger is newLogger for serve: the per-request lines go out in
// batches through lw, every other line at once (logging.Writer.Direct),
// so requests never wait for stderr and a crash loses at most the last
// 50 ms of request lines.
func newServeLogger(w io.Writer, lw *logging.Writer, level slog.Level) *slog.Logger {
	return slog.New(tenantHandler{next: logging.SplitHandler{
		Batched: formatHandler(w, lw, level),
		Direct:  formatHandler(w, lw.Direct(), level),
		Batch: func(r slog.Record) bool {
			return r.Message == server.RequestLogMessage && r.Level < slog.LevelWarn
		},
	}})
}

// formatHandler writes text to out when w is a terminal, JSON otherwise.
func formatHandler(w, out io.Writer, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(interface{ Fd() uintptr }); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return slog.NewTextHandler(out, opts)
	}
	return slog.NewJSONHandler(out, opts)
}

// serveOptions are settings only code can make, never the environment:
// tests use them to reach local fakes.
type serveOptions struct {
	// heapFloor starts the HEAP_FLOOR (internal/heapfloor): serve does,
	// tests that run several servers in one process do not, since the
	// collector's setting is the process's.
	heapFloor bool
	// transport carries every outbound request; nil is Go's default
	// transport (serve). Tests pass one that trusts their fakes' TLS
	// certificate.
	transport http.RoundTripper
	// now is the domain's clock (runs, schedules, warnings); nil is the
	// real one. The warnings test moves it days ahead. Request
	// authentication always uses the real clock.
	now func() time.Time
}

// serve runs the HTTP server until ctx is done or SIGINT/SIGTERM arrives,
// then drains it.
func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	return serveWith(ctx, getenv, stderr, serveOptions{heapFloor: true})
}

func serveWith(ctx context.Context, getenv func(string) string, stderr io.Writer, opts serveOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := loadConfig(getenv)
	if err != nil {
		return &startupError{err: err}
	}
	jcfg, err := loadJobsConfig(getenv)
	if err != nil {
		return &startupError{err: err}
	}
	fcfg, ferrs := loadForgeConfig(getenv)
	if len(ferrs) > 0 {
		return &startupError{err: configErrors(ferrs)}
	}
	// Request lines go out in batches from one goroutine, so requests
	// never wait for a write to stderr; Close (deferred first, so it runs
	// last) writes out everything, the shutdown's own records included.
	logOut := logging.NewWriter(stderr)
	defer func() { _ = logOut.Close() }()
	log := newServeLogger(stderr, logOut, cfg.LogLevel)
	if opts.heapFloor {
		defer heapfloor.Start(ctx, heapfloor.Config{Floor: cfg.HeapFloor, Logger: log})()
	}

	key, keySource, err := prepareStorage(cfg, log)
	if err != nil {
		return &startupError{err: err}
	}
	log.Info("starting usercleanup", append([]any{slog.String("version", versionString())}, cfg.logAttrs(keySource)...)...)

	app, err := build(ctx, cfg, jcfg, fcfg, key, log, opts)
	if err != nil {
		return &startupError{err: err}
	}
	defer app.close(log)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return &startupError{err: fmt.Errorf("ADDR: cannot listen on %s: %w", cfg.Addr, err)}
	}
	if err := app.listenMetrics(); err != nil {
		_ = ln.Close()
		return &startupError{err: err}
	}
	return app.serve(ctx, ln, log, func(context.Context) error {
		log.Info("listening", "addr", ln.Addr().String(), "jira_descriptor", cfg.BaseURL+"/jira/atlassian-connect.json",
			"confluence_descriptor", cfg.BaseURL+"/confluence/atlassian-connect.json")
		return nil
	})
}

// serve starts the background jobs and the HTTP server on ln, calls ready
// once the server accepts requests, and runs until ctx is done, then
// drains the requests. An error from ready stops the server and is
// returned. It closes ln.
func (a *application) serve(ctx context.Context, ln net.Listener, log *slog.Logger, ready func(context.Context) error) error {
	if err := a.startJobs(ctx); err != nil {
		_ = ln.Close()
		return &startupError{err: err}
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if a.metricsLn != nil {
		msrv := &http.Server{
			Handler:           a.metricsHandler,
			ReadHeaderTimeout: readHeaderTimeout,
			WriteTimeout:      writeTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() {
			if err := msrv.Serve(a.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("metrics server", "error", err.Error())
			}
		}()
		log.Info("metrics listening", "addr", a.metricsLn.Addr().String(), "path", "/metrics")
		// The metrics stay up while the app drains, then stop with it.
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = msrv.Shutdown(sctx)
		}()
	}

	var failed error
	if err := ready(ctx); err != nil {
		failed = err
	} else {
		select {
		case err := <-serveErr:
			return fmt.Errorf("http server: %w", err)
		case <-ctx.Done():
		}
	}
	log.Info("shutting down: draining requests", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return errors.Join(failed, fmt.Errorf("shutdown: %w", err))
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(failed, fmt.Errorf("http server: %w", err))
	}
	if failed != nil {
		return failed
	}
	log.Info("stopped")
	return nil
}

// application is everything serve wires together.
type application struct {
	handler http.Handler
	// metricsHandler serves GET /metrics on metricsAddr (METRICS_ADDR);
	// nil when metrics are off.
	metricsHandler http.Handler
	metricsAddr    string
	metricsLn      net.Listener
	store          *store.Store
	service        *cleanup.Service
	snapshots      *cleanup.Snapshots
	jobs           *jobs.Runtime
	work           jobs.Work
	jobsStarted    bool
}

// listenMetrics opens the metrics listener (METRICS_ADDR) when metrics
// are on.
func (a *application) listenMetrics() error {
	if a.metricsHandler == nil {
		return nil
	}
	ln, err := net.Listen("tcp", a.metricsAddr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: cannot listen on %s: %w", a.metricsAddr, err)
	}
	a.metricsLn = ln
	return nil
}

// startJobs starts the background job runtime.
func (a *application) startJobs(ctx context.Context) error {
	if err := a.jobs.Start(ctx, a.work); err != nil {
		return err
	}
	a.jobsStarted = true
	return nil
}

func (a *application) close(log *slog.Logger) {
	if a.jobsStarted {
		log.Info("stopping background jobs", "timeout", shutdownTimeout)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := a.jobs.Stop(ctx); err != nil {
			log.Warn("stop background jobs", "error", err.Error())
		}
		cancel()
	}
	if err := a.store.Close(); err != nil {
		log.Warn("close database", "error", err.Error())
	}
}

// build opens the database and wires the Connect framework, the product
// clients and the HTTP server. opts.transport carries every outbound
// request; nil is Go's default transport (serve). The demo passes one that trusts
// its fake Microsoft Graph's certificate.
func build(ctx context.Context, cfg *config, jcfg jobsConfig, fcfg forgeConfig, key []byte, log *slog.Logger, opts serveOptions) (*application, error) {
	cipher, err := store.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTION_KEY: %w", err)
	}
	st, err := store.Open(ctx, store.Config{
		Driver: cfg.Database.Driver, DSN: cfg.Database.DSN, Cipher: cipher,
		Logger: log, ConnectTimeout: dbConnectTimeout, Now: opts.now,
	})
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = st.Close()
		}
	}()

	var apps []connect.App
	descriptors := map[connect.Product][]byte{}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		params := connect.DescriptorParams{Product: p, BaseURL: cfg.BaseURL, AppKey: cfg.AppKey}
		d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, params)
		if err != nil {
			return nil, fmt.Errorf("descriptor for %s: %w", p, err)
		}
		descriptors[p] = d
		apps = append(apps, params.App())
	}

	// Metrics (METRICS_ADDR): one registry, handed to what it measures.
	var m *metrics.Metrics
	transport := opts.transport
	if cfg.MetricsAddr != "" {
		m = metrics.New(log)
		transport = m.Transport(transport, outgoingAPIs(cfg, jcfg, fcfg))
	}
	outbound := &http.Client{Timeout: outboundTimeout, Transport: transport}
	dom, err := newDomain(ctx, cfg, jcfg, st, outbound, log, opts.now, m)
	if err != nil {
		return nil, err
	}
	var serverMetrics server.Metrics
	if m != nil {
		serverMetrics = m
		if err := m.AddGauge("runs", "Cleanup runs in the database (every instance and tenant), by status.", "status", st.RunsByStatus); err != nil {
			return nil, err
		}
		if err := m.AddGauge("job_queue_depth", "Background jobs not finished in the shared queue (every instance), by River state.", "state", dom.jobs.QueueDepth); err != nil {
			return nil, err
		}
	}
	downloadKey, err := server.DeriveDownloadKey(key)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTION_KEY: %w", err)
	}
	verifier := &connect.Verifier{Store: st, Leeway: 10 * time.Second}
	lifecycle := &connect.Lifecycle{
		Store:        st,
		Keys:         connect.NewInstallKeyFetcher(cfg.InstallKeysURLs, outbound),
		Verifier:     verifier,
		AllowedHosts: cfg.AllowedHosts,
		Leeway:       10 * time.Second,
		// Uninstalling erases the tenant's credentials and stops its runs.
		OnUninstalled: dom.service.TenantUninstalled,
	}
	srv, err := server.New(server.Config{
		BaseURL:        cfg.BaseURL,
		Apps:           apps,
		Descriptors:    descriptors,
		Lifecycle:      lifecycle,
		Verifier:       verifier,
		Forge:          newForgeAuthenticator(fcfg, apps, st, outbound, log),
		Admin:          &productAdmins{clients: dom.conn.Clients()},
		Health:         st,
		HostScriptURL:  cfg.HostScriptURL,
		FrameAncestors: cfg.frameAncestors(),
		Cleanup:        dom.service,
		Snapshots:      dom.snapshots,
		Exports:        st,
		DownloadKey:    downloadKey,
		Metrics:        serverMetrics,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	ok = true
	app := &application{handler: srv, store: st, service: dom.service, snapshots: dom.snapshots, jobs: dom.jobs, work: dom.work}
	if m != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		app.metricsHandler, app.metricsAddr = mux, cfg.MetricsAddr
	}
	return app, nil
}

// productAdmins asks the tenant's product whether a user is an admin, or
// holds its highest admin level (server caches the answers). It uses the
// tenant's Site client from the connector's shared cache, so both checks
// are paced with the tenant's other product requests and no client is
// built per check.
type productAdmins struct {
	clients *atlassian.Clients
}

func (p *productAdmins) site(t *connect.Tenant) (*atlassian.Site, error) {
	site, err := p.clients.Site(t)
	if err != nil {
		return nil, fmt.Errorf("product client for %s: %w", t.ClientKey, err)
	}
	return site, nil
}

func (p *productAdmins) IsAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error) {
	site, err := p.site(t)
	if err != nil {
		return false, err
	}
	return site.IsAdmin(ctx, accountID)
}

func (p *productAdmins) IsSystemAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error) {
	site, err := p.site(t)
	if err != nil {
		return false, err
	}
	return site.IsSystemAdmin(ctx, accountID)
}
