package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

// pageServer is our app served in-process on a loopback port, wired like
// serve wires it (real store, connect verifier, Echo server, JSON log at
// the level asked for), with one Jira tenant installed whose site is the
// fake Atlassian cloud (it answers the admin check, cached by the server).
type pageServer struct {
	target pageTarget
	close  func()
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

func startPageServer(ctx context.Context, db, logLevel string, directLog bool) (*pageServer, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	dir, err := os.MkdirTemp("", "ucbench-page-")
	if err != nil {
		return nil, err
	}
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() { _ = os.RemoveAll(dir) })
	ok := false
	defer func() {
		if !ok {
			closeAll()
		}
	}()

	logFile, err := tempLogFile(dir)
	if err != nil {
		return nil, err
	}
	log, flushLog := benchLogger(logFile, level, directLog)
	closers = append(closers, func() { flushLog(); _ = logFile.Close() })

	key := make([]byte, store.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	cipher, err := store.NewCipher(key)
	if err != nil {
		return nil, err
	}
	cfg := store.Config{Cipher: cipher, Logger: log}
	switch db {
	case "sqlite":
		cfg.Driver, cfg.DSN = store.SQLite, filepath.Join(dir, "bench.db")
	case "postgres":
		base := os.Getenv("TEST_POSTGRES_URL")
		if base == "" {
			return nil, errors.New("-db postgres needs TEST_POSTGRES_URL")
		}
		dsn, drop, err := benchSchema(ctx, base)
		if err != nil {
			return nil, err
		}
		closers = append(closers, drop)
		cfg.Driver, cfg.DSN = store.Postgres, dsn
	default:
		return nil, fmt.Errorf("-db %q: want sqlite or postgres", db)
	}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = st.Close() })

	cloud := atlassiantest.New(atlassiantest.Options{Users: 20})
	closers = append(closers, cloud.Close)
	var admin string
	for _, u := range cloud.Users() {
		if len(u.Roles) > 0 {
			admin = u.AccountID
			break
		}
	}
	if admin == "" {
		return nil, errors.New("the fake cloud has no admin")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	baseURL := "http://" + ln.Addr().String()
	var apps []connect.App
	descriptors := map[connect.Product][]byte{}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		params := connect.DescriptorParams{Product: p, BaseURL: baseURL, AppKey: "com.example.usercleanup"}
		d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, params)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		descriptors[p] = d
		apps = append(apps, params.App())
	}
	app := apps[0]
	tenant := cloud.Site(connect.Jira).Install(app.Key, "bench-tenant", "bench-shared-secret-0123456789abcdef")
	if err := st.SaveTenant(ctx, tenant); err != nil {
		_ = ln.Close()
		return nil, err
	}

	verifier := &connect.Verifier{Store: st, Leeway: 10 * time.Second}
	srv, err := server.New(server.Config{
		BaseURL:     baseURL,
		Apps:        apps,
		Descriptors: descriptors,
		Lifecycle:   &connect.Lifecycle{Store: st, Verifier: verifier, AllowedHosts: []string{"127.0.0.1"}},
		Verifier:    verifier,
		Admin: &siteAdmins{clients: atlassian.NewClients(atlassian.Options{
			HTTPClient: cloud.HTTPClient(), OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL(),
		})},
		Health:        st,
		HostScriptURL: "https://connect-cdn.atl-paas.net/all.js",
		Logger:        log,
	})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	// The limits serve sets (cmd/usercleanup/run.go): with a read and a
	// write timeout net/http sets a deadline on the connection for every
	// request, which is part of a request's cost.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go func() { _ = hs.Serve(ln) }()
	closers = append(closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	})
	ok = true
	return &pageServer{
		target: pageTarget{
			appBase: app.BaseURL, page: "/admin/settings", descriptor: "/atlassian-connect.json",
			query:  "xdm_e=" + strings.ReplaceAll(tenant.BaseURL, ":", "%3A") + "&xdm_c=channel-bench&cp=&lic=none&cv=1001.0.0-SNAPSHOT",
			tenant: tenant, accountID: admin,
		},
		close: closeAll,
	}, nil
}

// siteAdmins answers the server's admin check through the tenant's site
// client, like the program's wiring.
type siteAdmins struct{ clients *atlassian.Clients }

func (a *siteAdmins) IsAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error) {
	site, err := a.clients.Site(t)
	if err != nil {
		return false, err
	}
	return site.IsAdmin(ctx, accountID)
}
