package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra/entratest"
	"github.com/example/usercleanup/internal/jobs"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

// Demo defaults. The seed is fixed so every start shows the same
// organization (last-active dates are relative to the start time).
const (
	demoDefaultPort  = 8080
	demoDefaultUsers = 300
	demoMaxUsers     = 100_000
	demoDefaultData  = "data/demo"
	demoSeed         = 2026
	demoOrgAPIKey    = "demo-org-api-key"
	demoDatabaseFile = "usercleanup.db"
	// demoScheduleEvery is the schedule tick: a schedule due "now" starts
	// within seconds instead of serve's 30 s.
	demoScheduleEvery = 2 * time.Second
	demoHostScriptURL = "/static/ap-bridge.js"
)

// demoClientKey is the client key of the app's installation on the
// product's fake site.
func demoClientKey(p connect.Product) string { return "demo-" + string(p) }

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

// demo runs `usercleanup demo`: the fakes, the app as serve builds it, and
// the host page, until ctx is done or SIGINT/SIGTERM arrives. It listens on
// 127.0.0.1 only: the host page mints tokens for whoever asks.
func demo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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

	world, err := startDemoWorld(opts.Users)
	if err != nil {
		return &startupError{err: err}
	}
	defer world.close()

	// The demo configuration: like serve's defaults, except that it trusts
	// its own install-keys server and 127.0.0.1 tenants, and the pages load
	// the local AP bridge. Only this process uses it; serve's defaults and
	// environment are untouched.
	cfg := &config{
		Addr:            ln.Addr().String(),
		BaseURL:         baseURL,
		Database:        databaseConfig{Driver: store.SQLite, DSN: filepath.Join(opts.Data, demoDatabaseFile), Default: true},
		AppKey:          defaultAppKey,
		InstallKeysURLs: []string{world.keys.URL},
		AllowedHosts:    []string{"127.0.0.1"},
		HostScriptURL:   demoHostScriptURL,
		LogLevel:        level,
	}
	jcfg := jobsConfig{
		Workers:         jobs.DefaultWorkers,
		RescueAfter:     jobs.DefaultRescueAfter,
		ScheduleEvery:   demoScheduleEvery,
		AtlassianAPIURL: world.cloud.APIURL(),
		Graph:           graphConfig{APIURL: world.graph.URL, LoginURL: world.graph.URL},
	}
	key, keySource, err := prepareStorage(cfg, log)
	if err != nil {
		return &startupError{err: err}
	}
	log.Info("starting usercleanup demo", append([]any{slog.String("version", versionString())}, cfg.logAttrs(keySource)...)...)

	// Every outbound request goes to a local fake; the Graph fake is TLS
	// with its own certificate, which this transport trusts.
	app, err := build(ctx, cfg, jcfg, forgeConfig{}, key, log, world.graph.Client().Transport)
	if err != nil {
		return &startupError{err: err}
	}
	defer app.close(log)

	apps := map[connect.Product]connect.App{}
	var sites []server.HostSite
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		apps[p] = connect.DescriptorParams{Product: p, BaseURL: cfg.BaseURL, AppKey: cfg.AppKey}.App()
		sites = append(sites, server.HostSite{App: apps[p], ClientKey: demoClientKey(p)})
	}
	host, err := server.NewHostPage(server.HostPageConfig{
		Prefix:  "/",
		Sites:   sites,
		Users:   world.hostUsers(),
		Tenants: app.store,
		Logger:  log,
	})
	if err != nil {
		return &startupError{err: err}
	}
	app.handler = host.Wrap(app.handler)

	return app.serve(ctx, ln, log, func(ctx context.Context) error {
		err := world.ready(ctx, app, apps, stdout, baseURL, opts, log)
		if err != nil && ctx.Err() != nil {
			return nil // Ctrl-C while starting: a clean stop
		}
		return err
	})
}

// ready installs the app into both fake sites, pre-fills the settings and
// tells the person where to go.
func (w *demoWorld) ready(ctx context.Context, app *application, apps map[connect.Product]connect.App, stdout io.Writer, baseURL string, opts demoOptions, log *slog.Logger) error {
	products := []connect.Product{connect.Jira, connect.Confluence}
	for _, p := range products {
		if err := w.install(ctx, apps[p], demoClientKey(p)); err != nil {
			return fmt.Errorf("demo: install into the fake %s site: %w", p, err)
		}
		log.Info("demo: installed the app through the signed install", "product", string(p),
			"client_key", demoClientKey(p), "site", w.cloud.Site(p).BaseURL())
	}
	for _, p := range products {
		if err := w.prefill(ctx, app.jobs.Service(), demoClientKey(p), log); err != nil {
			return fmt.Errorf("demo: settings of the %s site: %w", p, err)
		}
	}
	w.announce(stdout, baseURL, opts)
	log.Info("demo ready", "url", baseURL+"/", "users", opts.Users, "org_id", w.cloud.OrgID(),
		"jira_site", w.cloud.Site(connect.Jira).BaseURL(), "confluence_site", w.cloud.Site(connect.Confluence).BaseURL(),
		"organizations_api", w.cloud.APIURL(), "graph", w.graph.URL, "install_keys", w.keys.URL)
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

// demoWorld is the outside world of the demo: the fake Atlassian cloud, the
// fake Microsoft Graph and the install-keys server.
type demoWorld struct {
	cloud *atlassiantest.Cloud
	graph *entratest.Server
	keys  *connecttest.KeyServer
	// admin and member are the accounts the host page acts as.
	admin, member atlassiantest.User
	// syncedGroups and syncedUsers count what the Graph fake holds.
	syncedGroups, syncedUsers int
}

// startDemoWorld seeds the organization and starts the fakes.
func startDemoWorld(users int) (*demoWorld, error) {
	keys, err := connecttest.NewKeyServer()
	if err != nil {
		return nil, fmt.Errorf("demo: install-keys server: %w", err)
	}
	w := &demoWorld{
		keys:  keys,
		cloud: atlassiantest.New(atlassiantest.Options{Seed: demoSeed, Users: users, APIKey: demoOrgAPIKey}),
		graph: entratest.NewServer(entratest.Options{}),
	}
	for _, u := range w.cloud.Users() {
		switch {
		case w.admin.AccountID == "" && len(u.Roles) > 0:
			w.admin = u
		case w.member.AccountID == "" && len(u.Roles) == 0 && u.AccountType == cleanup.AccountAtlassian && u.Status == cleanup.StatusActive:
			w.member = u
		}
	}
	if w.admin.AccountID == "" || w.member.AccountID == "" {
		w.close()
		return nil, errors.New("demo: the seeded organization has no admin or no plain user")
	}
	w.seedGraph()
	return w, nil
}

// seedGraph puts the organization's IdP-synced groups into the Graph fake
// under the same display names, with their members: every seeded user with
// a UPN (synced users: the e-mail; B2B guests: the #EXT# form).
func (w *demoWorld) seedGraph() {
	groupIDs := map[string]string{} // Atlassian group id → Graph object id
	for _, g := range w.cloud.Groups() {
		if g.Synced() {
			groupIDs[g.ID] = w.graph.AddGroup(g.Name, entratest.GroupFlags{})
		}
	}
	w.syncedGroups = len(groupIDs)
	for _, u := range w.cloud.Users() {
		if u.UPN == "" {
			continue
		}
		var id string
		for _, gid := range u.GroupIDs {
			graphGroup, ok := groupIDs[gid]
			if !ok {
				continue
			}
			if id == "" {
				id = w.graph.AddUser(u.UPN, u.Email, u.Guest)
				w.syncedUsers++
			}
			w.graph.AddMember(graphGroup, id)
		}
	}
}

func (w *demoWorld) close() {
	w.cloud.Close()
	w.graph.Close()
	w.keys.Close()
}

// groupsGranting returns the ids of the seeded groups that grant the
// product.
func (w *demoWorld) groupsGranting(product string) []string {
	var ids []string
	for _, g := range w.cloud.Groups() {
		if slices.Contains(g.Products, product) {
			ids = append(ids, g.ID)
		}
	}
	return ids
}

// hostUsers are the accounts a person can act as on the host page: an
// organization admin (the default) and a user without admin rights, who
// sees the pages refuse access.
func (w *demoWorld) hostUsers() []server.HostUser {
	return []server.HostUser{
		{AccountID: w.admin.AccountID, Name: w.admin.Name + " (organization admin)"},
		{AccountID: w.member.AccountID, Name: w.member.Name + " (no admin rights)"},
	}
}

// install installs the app into the product's fake site the way the product
// does: the site learns the shared secret, and the key server signs the
// installed callback (RS256 with kid, aud = the app's baseUrl, qsh) that the
// app verifies against the key server, its only trusted key source.
func (w *demoWorld) install(ctx context.Context, app connect.App, clientKey string) error {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	secret := hex.EncodeToString(buf)
	site := w.cloud.Site(app.Product)
	site.RegisterApp(app.Key, clientKey, secret)
	return w.keys.Install(ctx, &http.Client{Timeout: outboundTimeout}, app.BaseURL, connecttest.InstallPayload{
		Key: app.Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site.BaseURL(),
		ProductType: string(app.Product), CloudID: site.CloudID(), AccountID: w.admin.AccountID,
	})
}

// prefill saves the demo organization's ID and API key and the Microsoft
// Entra ID connection, unless the settings already name an organization
// (kept from an earlier start), and tests both connections.
func (w *demoWorld) prefill(ctx context.Context, svc *cleanup.Service, clientKey string, log *slog.Logger) error {
	cur, err := svc.GetSettings(ctx, clientKey)
	if err != nil {
		return err
	}
	if cur.OrgID != "" {
		log.Info("demo: keeping the saved settings (start with --reset to pre-fill them again)", "client_key", clientKey)
		return nil
	}
	in := cleanup.SettingsInput{Settings: cur}
	in.OrgID = w.cloud.OrgID()
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	in.IdentityProvider.Entra.TenantID = w.graph.TenantID()
	in.IdentityProvider.Entra.ClientID = w.graph.ClientID()
	if clientKey == demoClientKey(connect.Confluence) {
		// Confluence's API does not say which groups grant it, so an admin
		// declares them; the demo declares the seeded ones.
		in.LicensingGroups = map[string][]string{cleanup.ProductConfluence: w.groupsGranting(cleanup.ProductConfluence)}
	}
	apiKey, graphSecret := cleanup.Secret(demoOrgAPIKey), cleanup.Secret(w.graph.ClientSecret())
	in.APIKey, in.EntraClientSecret = &apiKey, &graphSecret
	// The demo fills in the organization and Entra credentials itself.
	if _, err := svc.SaveSettings(cleanup.AsOperator(ctx), clientKey, in); err != nil {
		return err
	}
	// Both connections are tested as an admin's "Test connection" would;
	// the settings page shows the verdicts. A failure is logged and the
	// demo goes on.
	orgOK, entraOK := true, true
	if _, err := svc.TestConnection(ctx, clientKey); err != nil {
		orgOK = false
		log.Warn("demo: the pre-filled Organizations API connection failed its test", "client_key", clientKey, "error", err.Error())
	}
	res, err := svc.TestEntraConnection(ctx, clientKey)
	switch {
	case err != nil:
		entraOK = false
		log.Warn("demo: the pre-filled Microsoft Entra ID connection could not be tested", "client_key", clientKey, "error", err.Error())
	case !res.OK:
		entraOK = false
		log.Warn("demo: the pre-filled Microsoft Entra ID connection failed its test", "client_key", clientKey, "message", res.Message)
	}
	log.Info("demo: pre-filled the settings: organization ID and API key of the fake organization, Microsoft Entra ID connection to the fake Graph",
		"client_key", clientKey, "org_id", in.OrgID, "org_verified", orgOK, "declared_licensing_groups", in.LicensingGroups,
		"entra_tenant_id", in.IdentityProvider.Entra.TenantID, "entra_verified", entraOK)
	return nil
}

// announce prints what the demo started and where to go.
func (w *demoWorld) announce(out io.Writer, baseURL string, o demoOptions) {
	jira, conf := w.cloud.Site(connect.Jira), w.cloud.Site(connect.Confluence)
	types := w.cloud.AccountTypes()
	fmt.Fprintf(out, `
User Cleanup demo is running. Open %s/ in your browser.

  App                 %s (Jira and Confluence apps, SQLite in %s)
  Fake Jira site      %s (app installed through the signed install)
  Fake Confluence     %s (app installed through the signed install)
  Organizations API   %s: organization %s, %d accounts (%d people, %d bots, %d customers)
  Microsoft Graph     %s: %d groups synced from Entra ID, %d of their users
  Install keys        %s

Pre-filled for the demo: the organization ID and API key, and the Microsoft
Entra ID connection. Walkthrough: README.md ("Try it"). Ctrl-C stops the demo;
--reset starts from fresh data.

`, baseURL, baseURL, o.Data, jira.BaseURL(), conf.BaseURL(), w.cloud.APIURL(), w.cloud.OrgID(),
		o.Users, types[cleanup.AccountAtlassian], types[cleanup.AccountApp], types[cleanup.AccountCustomer],
		w.graph.URL, w.syncedGroups, w.syncedUsers, w.keys.URL)
}
