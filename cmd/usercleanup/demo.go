package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/demo"
	"github.com/example/usercleanup/internal/jobs"
	"github.com/example/usercleanup/internal/mailer"
	"github.com/example/usercleanup/internal/store"
)

// Demo defaults. The fake world and the host page are in internal/demo,
// which only this command links (no other production package imports it
// or the *test fakes it wires).
const (
	demoDefaultPort  = 8080
	demoDefaultUsers = 300
	demoMaxUsers     = 100_000
	demoDefaultData  = "data/demo"
	demoDatabaseFile = "usercleanup.db"
	// demoScheduleEvery is the schedule tick: a schedule due "now" starts
	// within seconds instead of serve's 30 s.
	demoScheduleEvery = 2 * time.Second
	// demoMailRate: e-mails per second to the demo's local mail server.
	demoMailRate      = 50.0
	demoHostScriptURL = "/static/ap-bridge.js"
)

// demoUsage describes the demo's flags.
const demoUsage = `usage: usercleanup demo [--port N] [--users N] [--reset] [--data DIR]

Runs the whole product on this computer, without an Atlassian or Microsoft
account: the app (the same code as serve, SQLite in DIR), a fake Atlassian
cloud (a Jira site, a Confluence site and the Organizations API with a seeded
organization), a fake Microsoft Graph holding the groups synced from Entra ID,
and a host page that plays Jira and Confluence at http://localhost:PORT/.`

// demoOptions is the demo's command line.
type demoOptions struct {
	Port  int
	Users int
	Reset bool
	Data  string
}

// parseDemoArgs parses the demo's flags. flag.ErrHelp means the usage was
// asked for (and printed to out).
func parseDemoArgs(args []string, out io.Writer) (demoOptions, error) {
	o := demoOptions{}
	fs := flag.NewFlagSet("usercleanup demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&o.Port, "port", demoDefaultPort, "port of the host page and the app on localhost (0: any free port)")
	fs.IntVar(&o.Users, "users", demoDefaultUsers, "accounts to seed in the fake organization")
	fs.BoolVar(&o.Reset, "reset", false, "delete the demo's data first and start fresh")
	fs.StringVar(&o.Data, "data", demoDefaultData, "folder of the demo's SQLite database and key")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(out, demoUsage)
			fmt.Fprintln(out)
			fs.SetOutput(out)
			fs.PrintDefaults()
			return o, err
		}
		return o, &usageError{msg: "demo: " + err.Error() + " (usercleanup demo -h lists the flags)"}
	}
	switch {
	case fs.NArg() > 0:
		return o, &usageError{msg: fmt.Sprintf("demo: unexpected arguments %q (usercleanup demo -h lists the flags)", fs.Args())}
	case o.Port < 0 || o.Port > 65535:
		return o, &usageError{msg: fmt.Sprintf("demo: --port must be from 0 to 65535, got %d", o.Port)}
	case o.Users < 10 || o.Users > demoMaxUsers:
		return o, &usageError{msg: fmt.Sprintf("demo: --users must be from 10 to %d, got %d", demoMaxUsers, o.Users)}
	case strings.TrimSpace(o.Data) == "":
		return o, &usageError{msg: "demo: --data must name a folder"}
	}
	o.Data = filepath.Clean(o.Data)
	return o, nil
}

// runDemo runs `usercleanup demo`: the fakes, the app as serve builds it, and
// the host page, until ctx is done or SIGINT/SIGTERM arrives. It listens on
// 127.0.0.1 only: the host page mints tokens for whoever asks.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	opts, err := parseDemoArgs(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	level, err := parseLevel(getenv("LOG_LEVEL"))
	if err != nil {
		return &startupError{err: err}
	}
	log := newLogger(stderr, level)

	if opts.Reset {
		removed, err := resetDemoData(opts.Data)
		if err != nil {
			return &startupError{err: fmt.Errorf("demo --reset: %w", err)}
		}
		log.Info("demo: deleted the previous demo data", "folder", opts.Data, "files", removed)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)))
	if err != nil {
		return &startupError{err: fmt.Errorf("demo: cannot listen on port %d (choose another with --port): %w", opts.Port, err)}
	}
	defer ln.Close() // serve closes it; this covers the early returns
	baseURL := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)

	world, err := demo.Start(opts.Users)
	if err != nil {
		return &startupError{err: err}
	}
	defer world.Close()

	cfg, jcfg := demoConfig(ln.Addr().String(), baseURL, opts, level, world)
	key, keySource, err := prepareStorage(cfg, log)
	if err != nil {
		return &startupError{err: err}
	}
	log.Info("starting usercleanup demo", append([]any{slog.String("version", versionString())}, cfg.logAttrs(keySource)...)...)

	// Every outbound request goes to a local fake; the Graph fake is TLS
	// with its own certificate, which this transport trusts.
	app, err := build(ctx, cfg, jcfg, forgeConfig{}, key, log, serveOptions{transport: world.GraphTransport()})
	if err != nil {
		return &startupError{err: err}
	}
	defer app.close(log)

	apps, err := mountHostPage(app, cfg, world, log)
	if err != nil {
		return &startupError{err: err}
	}

	return app.serve(ctx, ln, log, func(ctx context.Context) error {
		err := demoReady(ctx, world, app, apps, stdout, baseURL, opts, log)
		if err != nil && ctx.Err() != nil {
			return nil // Ctrl-C while starting: a clean stop
		}
		return err
	})
}

// demoConfig is the demo's configuration: like serve's defaults, except
// that it trusts its own install-keys server and 127.0.0.1 tenants, and
// the pages load the local AP bridge. Only this process uses it; serve's
// defaults and environment are untouched.
func demoConfig(addr, baseURL string, opts demoOptions, level slog.Level, world *demo.World) (*config, jobsConfig) {
	cfg := &config{
		Addr:            addr,
		BaseURL:         baseURL,
		Database:        databaseConfig{Driver: store.SQLite, DSN: filepath.Join(opts.Data, demoDatabaseFile), Default: true},
		AppKey:          defaultAppKey,
		InstallKeysURLs: []string{world.InstallKeysURL()},
		AllowedHosts:    []string{"127.0.0.1"},
		HostScriptURL:   demoHostScriptURL,
		LogLevel:        level,
	}
	jcfg := jobsConfig{
		Workers:         jobs.DefaultWorkers,
		RescueAfter:     jobs.DefaultRescueAfter,
		ScheduleEvery:   demoScheduleEvery,
		AtlassianAPIURL: world.OrgAPIURL(),
		Graph:           graphConfig{APIURL: world.GraphURL(), LoginURL: world.GraphURL()},
	}
	// Warning e-mails go to the demo's local mail server (the host page's
	// Mailbox shows them).
	host, port := world.SMTPAddr()
	jcfg.Mail = mailConfig{Enabled: true, Rate: demoMailRate, SMTP: mailer.Config{Host: host, Port: port, TLS: mailer.TLSNone,
		From: "User Cleanup (demo) <user-cleanup@demo.localhost>"}}
	return cfg, jcfg
}

// mountHostPage serves the host page that plays Jira and Confluence in
// front of the app, from the same origin, and returns the two apps.
func mountHostPage(app *application, cfg *config, world *demo.World, log *slog.Logger) (map[connect.Product]connect.App, error) {
	apps := map[connect.Product]connect.App{}
	var sites []demo.HostSite
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		apps[p] = connect.DescriptorParams{Product: p, BaseURL: cfg.BaseURL, AppKey: cfg.AppKey}.App()
		sites = append(sites, demo.HostSite{App: apps[p], ClientKey: demo.ClientKey(p)})
	}
	host, err := demo.NewHostPage(demo.HostPageConfig{
		Prefix:  "/",
		Sites:   sites,
		Users:   world.HostUsers(),
		Tenants: app.store,
		Mailbox: world.Mailbox,
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	app.handler = host.Wrap(app.handler)
	return apps, nil
}

// demoReady installs the app into both fake sites, pre-fills the settings
// and tells the person where to go.
func demoReady(ctx context.Context, w *demo.World, app *application, apps map[connect.Product]connect.App, stdout io.Writer, baseURL string, opts demoOptions, log *slog.Logger) error {
	products := []connect.Product{connect.Jira, connect.Confluence}
	for _, p := range products {
		if err := w.Install(ctx, &http.Client{Timeout: outboundTimeout}, apps[p], demo.ClientKey(p)); err != nil {
			return fmt.Errorf("demo: install into the fake %s site: %w", p, err)
		}
		log.Info("demo: installed the app through the signed install", "product", string(p),
			"client_key", demo.ClientKey(p), "site", w.SiteURL(p))
	}
	for _, p := range products {
		if err := w.Prefill(ctx, app.service, demo.ClientKey(p), log); err != nil {
			return fmt.Errorf("demo: settings of the %s site: %w", p, err)
		}
		// The dashboard opens with figures: the first snapshot is taken
		// now rather than at the next daily tick.
		if _, err := app.snapshots.Refresh(ctx, demo.ClientKey(p), ""); err != nil {
			log.Warn("demo: first snapshot", "product", string(p), "error", err.Error())
		}
	}
	w.Announce(stdout, baseURL, opts.Data, opts.Users)
	log.Info("demo ready", "url", baseURL+"/", "users", opts.Users, "org_id", w.OrgID(),
		"jira_site", w.SiteURL(connect.Jira), "confluence_site", w.SiteURL(connect.Confluence),
		"organizations_api", w.OrgAPIURL(), "graph", w.GraphURL(), "install_keys", w.InstallKeysURL())
	return nil
}

// resetDemoData deletes the files the demo keeps in dir (database, its
// journal files and the generated key) and returns the names it deleted.
// Other files are left alone.
func resetDemoData(dir string) ([]string, error) {
	var removed []string
	for _, name := range []string{demoDatabaseFile, demoDatabaseFile + "-wal", demoDatabaseFile + "-shm", demoDatabaseFile + "-journal", encryptionKeyFile} {
		err := os.Remove(filepath.Join(dir, name))
		switch {
		case err == nil:
			removed = append(removed, name)
		case errors.Is(err, os.ErrNotExist):
		default:
			return removed, unwrapPathError(err)
		}
	}
	return removed, nil
}
