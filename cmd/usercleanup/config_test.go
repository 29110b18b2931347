package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/heapfloor"
	"github.com/example/usercleanup/internal/store"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	keyB64 := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name string
		env  map[string]string
		want *config
	}{
		{"defaults", nil, &config{
			Addr: ":8080", BaseURL: "http://localhost:8080",
			Database:        databaseConfig{Driver: store.SQLite, DSN: "data/usercleanup.db", Default: true},
			AppKey:          "com.example.usercleanup",
			InstallKeysURLs: connect.DefaultInstallKeyURLs(), AllowedHosts: connect.DefaultAllowedHosts(),
			HostScriptURL: defaultHostScriptURL, LogLevel: slog.LevelInfo,
			HeapFloor: heapfloor.Default,
		}},
		{"everything set", map[string]string{
			"ADDR": "127.0.0.1:9000", "BASE_URL": "https://cleanup.example.com/", "DATABASE_URL": "postgresql://u:p@db:5432/uc",
			"APP_KEY": "com.acme.cleanup", "ENCRYPTION_KEY": keyB64,
			"CONNECT_INSTALL_KEYS_URLS": "https://keys.example.com/, https://127.0.0.1:9999",
			"CONNECT_ALLOWED_HOSTS":     "*.atlassian.net, Jira.Example.com", "HOST_SCRIPT_URL": "/static/bridge.js", "LOG_LEVEL": "DEBUG",
			"METRICS_ADDR": "127.0.0.1:9090", "HEAP_FLOOR": "128MiB",
		}, &config{
			Addr: "127.0.0.1:9000", BaseURL: "https://cleanup.example.com",
			Database: databaseConfig{Driver: store.Postgres, DSN: "postgresql://u:p@db:5432/uc"},
			AppKey:   "com.acme.cleanup", EncryptionKey: key,
			InstallKeysURLs: []string{"https://keys.example.com", "https://127.0.0.1:9999"},
			AllowedHosts:    []string{"*.atlassian.net", "jira.example.com"},
			HostScriptURL:   "/static/bridge.js", LogLevel: slog.LevelDebug,
			MetricsAddr: "127.0.0.1:9090", HeapFloor: 128 << 20,
		}},
		{"metrics off", map[string]string{"METRICS_ADDR": "off"}, nil},
		{"sqlite url", map[string]string{"DATABASE_URL": "sqlite:///var/lib/uc/app.db", "ENCRYPTION_KEY": keyB64}, nil},
		{"file url", map[string]string{"DATABASE_URL": "file:./x.db", "ENCRYPTION_KEY": keyB64}, nil},
		{"raw url-safe key", map[string]string{"ENCRYPTION_KEY": base64.RawURLEncoding.EncodeToString(key)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadConfig(envFunc(tc.env))
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("config (-want +got):\n%s", diff)
				}
			}
		})
	}

	t.Run("database kinds", func(t *testing.T) {
		for raw, want := range map[string]databaseConfig{
			"sqlite:///var/lib/uc/app.db": {Driver: store.SQLite, DSN: "/var/lib/uc/app.db"},
			"sqlite://rel/app.db":         {Driver: store.SQLite, DSN: "rel/app.db"},
			"file:./x.db":                 {Driver: store.SQLite, DSN: "./x.db"},
			"postgres://h/db":             {Driver: store.Postgres, DSN: "postgres://h/db"},
		} {
			got, err := parseDatabaseURL(raw)
			if err != nil {
				t.Errorf("parseDatabaseURL(%q): %v", raw, err)
				continue
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parseDatabaseURL(%q) (-want +got):\n%s", raw, diff)
			}
		}
	})
}

func TestLoadConfigErrors(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
		notIn   string // must not appear in the message (secrets)
	}{
		{"http public base url", map[string]string{"BASE_URL": "http://cleanup.example.com"}, "BASE_URL", ""},
		{"base url with path", map[string]string{"BASE_URL": "https://x.example.com/app"}, "BASE_URL", ""},
		{"base url not absolute", map[string]string{"BASE_URL": "cleanup.example.com"}, "BASE_URL", ""},
		{"base url ftp", map[string]string{"BASE_URL": "ftp://x.example.com"}, "BASE_URL", ""},
		{"bad addr", map[string]string{"ADDR": "8080"}, "ADDR", ""},
		{"bad port", map[string]string{"ADDR": ":http-alt"}, "ADDR", ""},
		{"unsupported database", map[string]string{"DATABASE_URL": "mysql://root:hunter2@db/x", "ENCRYPTION_KEY": key}, "DATABASE_URL", "hunter2"},
		{"malformed postgres url", map[string]string{"DATABASE_URL": "postgres://u:hunter2@%zz/x", "ENCRYPTION_KEY": key}, "DATABASE_URL", "hunter2"},
		{"postgres without host", map[string]string{"DATABASE_URL": "postgres:///x", "ENCRYPTION_KEY": key}, "DATABASE_URL", ""},
		{"sqlite without path", map[string]string{"DATABASE_URL": "sqlite://", "ENCRYPTION_KEY": key}, "DATABASE_URL", ""},
		{"sqlite path with query", map[string]string{"DATABASE_URL": "file:x.db?mode=ro", "ENCRYPTION_KEY": key}, "DATABASE_URL", ""},
		{"key not base64", map[string]string{"ENCRYPTION_KEY": "not base64 !!"}, "ENCRYPTION_KEY", ""},
		{"key too short", map[string]string{"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16))}, "ENCRYPTION_KEY", ""},
		{"key missing for postgres", map[string]string{"DATABASE_URL": "postgres://h/db"}, "ENCRYPTION_KEY", ""},
		{"key missing for explicit sqlite", map[string]string{"DATABASE_URL": "sqlite://x.db"}, "ENCRYPTION_KEY", ""},
		{"bad app key", map[string]string{"APP_KEY": "com/example"}, "APP_KEY", ""},
		{"app key too long", map[string]string{"APP_KEY": strings.Repeat("a", 54)}, "APP_KEY", ""},
		{"bad install keys url", map[string]string{"CONNECT_INSTALL_KEYS_URLS": "https://ok.example.com,keys"}, "CONNECT_INSTALL_KEYS_URLS", ""},
		{"install keys over http", map[string]string{"CONNECT_INSTALL_KEYS_URLS": "http://127.0.0.1:9999"}, "CONNECT_INSTALL_KEYS_URLS", ""},
		{"bad allowed host", map[string]string{"CONNECT_ALLOWED_HOSTS": "*.atlassian.net,https://x.com"}, "CONNECT_ALLOWED_HOSTS", ""},
		{"bad host script", map[string]string{"HOST_SCRIPT_URL": "all.js"}, "HOST_SCRIPT_URL", ""},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL", ""},
		{"bad metrics addr", map[string]string{"METRICS_ADDR": "9090"}, "METRICS_ADDR", ""},
		{"metrics with the app", map[string]string{"ADDR": ":9000", "METRICS_ADDR": ":9000"}, "METRICS_ADDR", ""},
		{"bad heap floor", map[string]string{"HEAP_FLOOR": "64MB"}, "HEAP_FLOOR", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(envFunc(tc.env))
			if err == nil {
				t.Fatal("loadConfig succeeded")
			}
			var ce *configError
			if !errors.As(err, &ce) || ce.Var != tc.wantVar {
				t.Errorf("error %q does not name %s", err, tc.wantVar)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if tc.notIn != "" && strings.Contains(err.Error(), tc.notIn) {
				t.Errorf("error leaks %q: %v", tc.notIn, err)
			}
		})
	}
}

func TestPrepareStorageGeneratesKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg := &config{Database: databaseConfig{Driver: store.SQLite, DSN: filepath.Join(dir, "usercleanup.db"), Default: true}}
	log := slog.New(slog.DiscardHandler)

	first, _, err := prepareStorage(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, encryptionKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
	if len(first) != store.KeySize {
		t.Fatalf("key length = %d", len(first))
	}
	second, _, err := prepareStorage(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(first, second) {
		t.Error("second start generated a different key; want the saved one reused")
	}

	if err := os.WriteFile(filepath.Join(dir, encryptionKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := prepareStorage(cfg, log); err == nil {
		t.Error("corrupt key file accepted")
	}
}

// TestHeapFloorConfig: HEAP_FLOOR sets the floor, off turns it off, and a
// GOGC chosen by the operator turns off the default one.
func TestHeapFloorConfig(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want int64
	}{
		{nil, heapfloor.Default},
		{map[string]string{"HEAP_FLOOR": "off"}, 0},
		{map[string]string{"GOGC": "200"}, 0},
		{map[string]string{"GOGC": "200", "HEAP_FLOOR": "32MiB"}, 32 << 20},
	} {
		c, err := loadConfig(envFunc(tc.env))
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if c.HeapFloor != tc.want {
			t.Errorf("%v: floor %d, want %d", tc.env, c.HeapFloor, tc.want)
		}
		if got, want := fmt.Sprint(c.logAttrs("")[len(c.logAttrs(""))-1]), "heap_floor="+heapFloorString(tc.want); got != want {
			t.Errorf("%v: logged %s, want %s", tc.env, got, want)
		}
	}
	if heapFloorString(0) != "off" || heapFloorString(64<<20) != "64MiB" {
		t.Errorf("heapFloorString: %q, %q", heapFloorString(0), heapFloorString(64<<20))
	}
}
