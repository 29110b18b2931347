package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
)

// BenchmarkPageRequest loads the authenticated settings page of the real
// program (serve on a loopback port, SQLite file, LOG_LEVEL=info with the
// JSON log in a file) with a fresh page JWT per request from 16 keep-alive
// clients per CPU, and the unauthenticated descriptor route the same way,
// reporting req/s, p50 and p99 of each:
//
//	go test -run '^$' -bench BenchmarkPageRequest -benchtime 5s ./cmd/usercleanup
func BenchmarkPageRequest(b *testing.B) {
	cloud := atlassiantest.New(atlassiantest.Options{Users: 20})
	b.Cleanup(cloud.Close)
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ks.Close)
	dir := b.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = logFile.Close() })
	addr := freeAddr(b)
	base := "http://" + addr
	env := map[string]string{
		"ADDR": addr, "BASE_URL": base,
		"DATABASE_URL":              "sqlite://" + filepath.Join(dir, "app.db"),
		"ENCRYPTION_KEY":            testKeyB64(),
		"CONNECT_INSTALL_KEYS_URLS": ks.URL,
		"CONNECT_ALLOWED_HOSTS":     "127.0.0.1",
		"LOG_LEVEL":                 "info",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, envFunc(env), logFile, serveOptions{transport: ks.Client().Transport}) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	waitHealthy(b, base+"/healthz", done)

	site := cloud.Site(connect.Jira)
	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: base, AppKey: defaultAppKey}.App()
	tenant := site.Install(app.Key, "bench-tenant", "bench-shared-secret-0123456789")
	if err := ks.Install(ctx, nil, app.BaseURL, connecttest.InstallPayload{
		Key: app.Key, ClientKey: tenant.ClientKey, SharedSecret: tenant.SharedSecret.Reveal(),
		BaseURL: site.BaseURL(), ProductType: string(connect.Jira),
	}); err != nil {
		b.Fatal(err)
	}
	var admin string
	for _, u := range cloud.Users() {
		if len(u.Roles) > 0 {
			admin = u.AccountID
			break
		}
	}
	pageURL := app.BaseURL + "/admin/settings?xdm_e=" + site.BaseURL() + "&xdm_c=channel-bench&cp=&lic=none&cv=1001.0.0-SNAPSHOT"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	b.Cleanup(client.CloseIdleConnections)

	routes := []struct {
		name string
		url  func() (string, error)
	}{
		{"page", func() (string, error) {
			tok, err := connecttest.PageToken(tenant, app, http.MethodGet, pageURL, admin, time.Now(), 3*time.Minute)
			return connecttest.WithJWT(pageURL, tok), err
		}},
		{"descriptor", func() (string, error) { return app.BaseURL + "/atlassian-connect.json", nil }},
	}
	for _, r := range routes {
		b.Run(r.name, func(b *testing.B) {
			var (
				mu  sync.Mutex
				lat []time.Duration
			)
			b.SetParallelism(16)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					u, err := r.url()
					if err != nil {
						b.Error(err)
						return
					}
					resp, err := client.Get(u)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("%s: status %d", r.name, resp.StatusCode)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if len(lat) == 0 {
				return
			}
			slices.Sort(lat)
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
