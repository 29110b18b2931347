package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
)

// syncBuffer collects the server's log from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testKeyB64() string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) }

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantCode int // 0: success
	}{
		{"version", []string{"version"}, "usercleanup ", 0},
		{"help", []string{"help"}, "usage: usercleanup", 0},
		{"unknown command", []string{"frobnicate"}, "", 2},
		{"extra arguments", []string{"version", "now"}, "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, envFunc(nil), &out, &errOut)
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				if !strings.HasPrefix(out.String(), tc.wantOut) {
					t.Errorf("stdout = %q, want prefix %q", out.String(), tc.wantOut)
				}
				return
			}
			if err == nil || exitCode(err) != tc.wantCode {
				t.Fatalf("run error = %v (exit %d), want exit %d", err, exitCode(err), tc.wantCode)
			}
		})
	}
}

// TestRunStartupErrors: bad input stops serve before it listens, with a
// one-line error naming the problem and exit code 2.
func TestRunStartupErrors(t *testing.T) {
	tmp := t.TempDir()
	notDir := filepath.Join(tmp, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"non-https base url", map[string]string{"BASE_URL": "http://cleanup.example.com"}, "BASE_URL"},
		{"malformed database url", map[string]string{"DATABASE_URL": "postgres://u:pw@%zz/db", "ENCRYPTION_KEY": testKeyB64()}, "DATABASE_URL"},
		{"unreachable postgres", map[string]string{"DATABASE_URL": "postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "ENCRYPTION_KEY": testKeyB64()}, "DATABASE_URL"},
		// The start-up log shows the database URL: a password given as a
		// query parameter is masked like one in the userinfo.
		{"unreachable postgres, password parameter", map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/db?sslmode=disable&connect_timeout=2&password=hunter2&sslpassword=hunter2", "ENCRYPTION_KEY": testKeyB64()}, "DATABASE_URL"},
		{"unwritable data folder", map[string]string{"DATABASE_URL": "sqlite://" + filepath.Join(notDir, "db", "app.db"), "ENCRYPTION_KEY": testKeyB64()}, "DATABASE_URL"},
		{"bad encryption key", map[string]string{"DATABASE_URL": "sqlite://" + filepath.Join(tmp, "a.db"), "ENCRYPTION_KEY": "short"}, "ENCRYPTION_KEY"},
		{"address in use", map[string]string{"ADDR": busy.Addr().String(), "DATABASE_URL": "sqlite://" + filepath.Join(tmp, "b.db"), "ENCRYPTION_KEY": testKeyB64()}, "ADDR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var errOut bytes.Buffer
			err := run(context.Background(), nil, envFunc(tc.env), io.Discard, &errOut)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			msg := oneLine(err.Error())
			if !strings.HasPrefix(msg, tc.want+":") {
				t.Errorf("error %q does not start with %s", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(errOut.String(), "hunter2") {
				t.Error("password leaked")
			}
		})
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestServeEndToEnd runs the real program: serve on a real port with a temp
// SQLite file, the fake install-keys server and the fake Atlassian cloud
// (which answers the admin checks and verifies the app's JWT).
func TestServeEndToEnd(t *testing.T) {
	cloud := atlassiantest.New(atlassiantest.Options{Users: 20})
	t.Cleanup(cloud.Close)
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)

	addr := freeAddr(t)
	base := "http://" + addr
	env := map[string]string{
		"ADDR": addr, "BASE_URL": base,
		"DATABASE_URL":              "sqlite://" + filepath.Join(t.TempDir(), "app.db"),
		"ENCRYPTION_KEY":            testKeyB64(),
		"CONNECT_INSTALL_KEYS_URLS": ks.URL,
		"CONNECT_ALLOWED_HOSTS":     "127.0.0.1",
		"LOG_LEVEL":                 "debug",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	// The key server is https (keys are fetched over https only); its
	// certificate reaches serve through code, never the environment.
	go func() { done <- serveWith(ctx, envFunc(env), logs, serveOptions{transport: ks.Client().Transport}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	waitHealthy(t, base+"/healthz", done)

	var admin, user string
	for _, u := range cloud.Users() {
		switch {
		case len(u.Roles) > 0 && admin == "":
			admin = u.AccountID
		case len(u.Roles) == 0 && u.AccountType == "atlassian" && user == "":
			user = u.AccountID
		}
	}
	if admin == "" || user == "" {
		t.Fatalf("seed has no admin (%q) or plain user (%q)", admin, user)
	}

	for i, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			site := cloud.Site(p)
			app := connect.DescriptorParams{Product: p, BaseURL: base, AppKey: defaultAppKey}.App()
			clientKey := "client-" + strconv.Itoa(i)
			secret := "shared-secret-for-" + string(p) + "-0123456789"
			tenant := site.Install(app.Key, clientKey, secret)
			if err := ks.Install(ctx, nil, app.BaseURL, connecttest.InstallPayload{
				Key: app.Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site.BaseURL(), ProductType: string(p),
			}); err != nil {
				t.Fatalf("install: %v", err)
			}
			load := func(account string) int {
				u := app.BaseURL + "/admin/settings?cp=&lic=none&xdm_e=" + site.BaseURL()
				tok, err := connecttest.PageToken(tenant, app, http.MethodGet, u, account, time.Now(), time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.Get(connecttest.WithJWT(u, tok))
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				return resp.StatusCode
			}
			if got := load(admin); got != http.StatusOK {
				t.Errorf("admin page load = %d, want 200", got)
			}
			if got := load(user); got != http.StatusForbidden {
				t.Errorf("non-admin page load = %d, want 403", got)
			}
		})
	}

	// Graceful shutdown: cancelling the context stops serve cleanly.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
		done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	out := logs.String()
	for _, secret := range []string{"shared-secret-for-", testKeyB64(), "jwt="} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
	// The log is written in batches: a clean shutdown writes out all of
	// it, the records of the last requests just before it included.
	for _, want := range []string{`"msg":"starting usercleanup"`, `"msg":"listening"`, `"msg":"stopped"`, `"encryption_key":"from ENCRYPTION_KEY"`,
		`"route":"/confluence/admin/settings","status":403`, `"msg":"stopping background jobs"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

func waitHealthy(t testing.TB, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		} else if !errors.Is(err, context.DeadlineExceeded) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Fatal("server did not become healthy")
}
