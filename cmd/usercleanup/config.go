package main

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/heapfloor"
	"github.com/example/usercleanup/internal/store"
)

// Defaults of the configuration.
const (
	defaultAddr          = ":8080"
	defaultBaseURL       = "http://localhost:8080"
	defaultDatabasePath  = "data/usercleanup.db"
	defaultAppKey        = "com.example.usercleanup"
	defaultHostScriptURL = "https://connect-cdn.atl-paas.net/all.js"
	encryptionKeyFile    = "encryption.key"
	// maxAppKeyLen keeps "{APP_KEY}.confluence" within Atlassian's 64
	// characters for an app key.
	maxAppKeyLen = 64 - len(".confluence")
)

var appKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// config is the typed, validated configuration from the environment.
type config struct {
	Addr            string
	BaseURL         string // scheme://host[:port], no trailing slash
	Database        databaseConfig
	AppKey          string
	EncryptionKey   []byte // nil when it is to be generated (default SQLite only)
	InstallKeysURLs []string
	AllowedHosts    []string
	HostScriptURL   string
	LogLevel        slog.Level
	// MetricsAddr is the listen address of GET /metrics (METRICS_ADDR);
	// empty: no metrics.
	MetricsAddr string
	// HeapFloor is the heap size below which the garbage collector does
	// not run (HEAP_FLOOR; internal/heapfloor), in bytes; 0: none.
	HeapFloor int64
}

// databaseConfig says which database to use.
type databaseConfig struct {
	Driver  store.Driver
	DSN     string // SQLite: file path; PostgreSQL: URL (may hold a password)
	Default bool   // the default SQLite file (DATABASE_URL unset)
}

// configError names the variable at fault. Its message never contains the
// variable's value when that could be a secret.
type configError struct {
	Var string
	Msg string
}

func (e *configError) Error() string { return e.Var + ": " + e.Msg }

// configErrors is every problem found, printed on one line.
type configErrors []error

func (es configErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func (es configErrors) Unwrap() []error { return es }

func badVar(name, format string, args ...any) error {
	return &configError{Var: name, Msg: fmt.Sprintf(format, args...)}
}

// loadConfig reads and validates the configuration. It has no side
// effects: folders and keys are prepared by prepareStorage.
func loadConfig(getenv func(string) string) (*config, error) {
	var errs []error
	c := &config{}

	c.Addr = envOr(getenv, "ADDR", defaultAddr)
	if err := checkAddr("ADDR", c.Addr); err != nil {
		errs = append(errs, err)
	}
	switch raw := strings.TrimSpace(getenv("METRICS_ADDR")); raw {
	case "", "off":
	default:
		if err := checkAddr("METRICS_ADDR", raw); err != nil {
			errs = append(errs, err)
		} else if raw == c.Addr {
			errs = append(errs, badVar("METRICS_ADDR", "must differ from ADDR (the metrics are never served with the app)"))
		}
		c.MetricsAddr = raw
	}

	base, err := parseBaseURL(envOr(getenv, "BASE_URL", defaultBaseURL))
	if err != nil {
		errs = append(errs, err)
	}
	c.BaseURL = base

	db, dbErr := parseDatabaseURL(getenv("DATABASE_URL"))
	if dbErr != nil {
		errs = append(errs, dbErr)
	}
	c.Database = db

	c.AppKey = envOr(getenv, "APP_KEY", defaultAppKey)
	if !appKeyPattern.MatchString(c.AppKey) || len(c.AppKey) > maxAppKeyLen {
		errs = append(errs, badVar("APP_KEY", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxAppKeyLen))
	}

	if raw := strings.TrimSpace(getenv("ENCRYPTION_KEY")); raw != "" {
		key, err := decodeKey(raw)
		if err != nil {
			errs = append(errs, badVar("ENCRYPTION_KEY", "%v", err))
		}
		c.EncryptionKey = key
	} else if dbErr == nil && !db.Default {
		errs = append(errs, badVar("ENCRYPTION_KEY", "required (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) unless DATABASE_URL is unset (the default SQLite database)"))
	}

	c.InstallKeysURLs = connect.DefaultInstallKeyURLs()
	if raw := getenv("CONNECT_INSTALL_KEYS_URLS"); strings.TrimSpace(raw) != "" {
		c.InstallKeysURLs = nil
		for _, u := range splitList(raw) {
			if err := checkHTTPSURL(u); err != nil {
				errs = append(errs, badVar("CONNECT_INSTALL_KEYS_URLS", "%q: %v", u, err))
				continue
			}
			c.InstallKeysURLs = append(c.InstallKeysURLs, strings.TrimRight(u, "/"))
		}
	}

	c.AllowedHosts = connect.DefaultAllowedHosts()
	if raw := getenv("CONNECT_ALLOWED_HOSTS"); strings.TrimSpace(raw) != "" {
		c.AllowedHosts = nil
		for _, h := range splitList(raw) {
			if !validHostPattern(h) {
				errs = append(errs, badVar("CONNECT_ALLOWED_HOSTS", "%q is not a host name or *.domain pattern", h))
				continue
			}
			c.AllowedHosts = append(c.AllowedHosts, strings.ToLower(h))
		}
	}

	c.HostScriptURL = envOr(getenv, "HOST_SCRIPT_URL", defaultHostScriptURL)
	if err := checkHTTPURL(c.HostScriptURL); err != nil && !strings.HasPrefix(c.HostScriptURL, "/") {
		errs = append(errs, badVar("HOST_SCRIPT_URL", "%v", err))
	}

	floor, err := heapfloor.FromEnv(getenv("HEAP_FLOOR"), getenv("GOGC"))
	if err != nil {
		errs = append(errs, badVar("HEAP_FLOOR", "%v", err))
	}
	c.HeapFloor = floor

	level, err := parseLevel(getenv("LOG_LEVEL"))
	if err != nil {
		errs = append(errs, err)
	}
	c.LogLevel = level

	if len(errs) > 0 {
		return nil, configErrors(errs)
	}
	return c, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func checkAddr(name, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return badVar(name, "must be host:port or :port, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return badVar(name, "invalid port %q", port)
	}
	return nil
}

// parseBaseURL checks the public URL: https, or http only for a local host.
func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", badVar("BASE_URL", "must be an absolute URL like https://app.example.com, got %q", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", badVar("BASE_URL", "must not contain credentials, a query or a fragment")
	}
	if u.Path != "" && u.Path != "/" {
		return "", badVar("BASE_URL", "must not have a path (the apps are served at /jira and /confluence), got %q", u.Path)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLocalHost(u.Hostname()) {
			return "", badVar("BASE_URL", "must use https (Atlassian only installs apps over https); http is allowed for localhost and 127.0.0.1 only")
		}
	default:
		return "", badVar("BASE_URL", "must use https, got scheme %q", u.Scheme)
	}
	return u.Scheme + "://" + u.Host, nil
}

func isLocalHost(h string) bool {
	return strings.EqualFold(h, "localhost") || h == "127.0.0.1" || h == "::1"
}

// parseDatabaseURL selects the database. The error never echoes the value:
// it may hold a password.
func parseDatabaseURL(raw string) (databaseConfig, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return databaseConfig{Driver: store.SQLite, DSN: defaultDatabasePath, Default: true}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return databaseConfig{}, badVar("DATABASE_URL", "malformed PostgreSQL URL")
		}
		if u.Host == "" {
			return databaseConfig{}, badVar("DATABASE_URL", "PostgreSQL URL has no host")
		}
		return databaseConfig{Driver: store.Postgres, DSN: raw}, nil
	case strings.HasPrefix(raw, "sqlite://"), strings.HasPrefix(raw, "file:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite://"), "file:")
		if path == "" || strings.ContainsAny(path, "?#") {
			return databaseConfig{}, badVar("DATABASE_URL", "SQLite URL needs a file path without '?' or '#' (sqlite://PATH or file:PATH)")
		}
		return databaseConfig{Driver: store.SQLite, DSN: path}, nil
	}
	scheme, _, ok := strings.Cut(raw, ":")
	if !ok || strings.ContainsAny(scheme, "/@") {
		scheme = "(none)"
	}
	return databaseConfig{}, badVar("DATABASE_URL", "unsupported scheme %q: use postgres://, postgresql://, sqlite://PATH or file:PATH", scheme)
}

// decodeKey decodes a base64 (standard or URL alphabet, padded or not)
// 32-byte key.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != store.KeySize {
				return nil, fmt.Errorf("must decode to %d bytes, got %d", store.KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not valid base64")
}

// checkHTTPSURL accepts an absolute https URL only: the URLs keys are
// fetched from (a key fetched over plain http could be anyone's). There is
// no configuration that allows http; tests serve https.
func checkHTTPSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme != "https" {
		return errors.New("must be an absolute https URL")
	}
	return nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("must be an absolute http(s) URL")
	}
	return nil
}

var hostPattern = regexp.MustCompile(`^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$`)

func validHostPattern(h string) bool { return len(h) <= 253 && hostPattern.MatchString(h) }

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, badVar("LOG_LEVEL", "must be debug, info, warn or error, got %q", s)
}

// frameAncestors turns the allowed tenant hosts into CSP sources.
func (c *config) frameAncestors() []string {
	out := make([]string, 0, len(c.AllowedHosts))
	for _, h := range c.AllowedHosts {
		out = append(out, "https://"+h)
	}
	return out
}

// logAttrs is the effective configuration for the start-up log, with
// secrets masked.
func (c *config) logAttrs(keySource string) []any {
	db := c.Database.DSN
	if c.Database.Driver == store.Postgres {
		db = store.RedactDSN(db)
	}
	return []any{
		slog.String("addr", c.Addr),
		slog.String("base_url", c.BaseURL),
		slog.String("database_driver", string(c.Database.Driver)),
		slog.String("database", db),
		slog.String("app_key", c.AppKey),
		slog.String("encryption_key", keySource),
		slog.Any("install_keys_urls", c.InstallKeysURLs),
		slog.Any("allowed_hosts", c.AllowedHosts),
		slog.String("host_script_url", c.HostScriptURL),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("metrics_addr", cmp.Or(c.MetricsAddr, "off")),
		slog.String("heap_floor", heapFloorString(c.HeapFloor)),
	}
}

func heapFloorString(b int64) string {
	if b <= 0 {
		return "off"
	}
	return strconv.FormatInt(b>>20, 10) + "MiB"
}

// prepareStorage creates the SQLite folder (checking that it is writable)
// and, for the default database without ENCRYPTION_KEY, loads or generates
// the key file next to it. It returns the key and a description of where it
// came from (never the key).
func prepareStorage(c *config, log *slog.Logger) ([]byte, string, error) {
	if c.Database.Driver == store.SQLite {
		dir := filepath.Dir(c.Database.DSN)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", badVar("DATABASE_URL", "cannot create data folder %s: %v", dir, unwrapPathError(err))
		}
		f, err := os.CreateTemp(dir, ".write-test-*")
		if err != nil {
			return nil, "", badVar("DATABASE_URL", "data folder %s is not writable: %v", dir, unwrapPathError(err))
		}
		name := f.Name()
		_ = f.Close()
		_ = os.Remove(name)
	}
	if c.EncryptionKey != nil {
		return c.EncryptionKey, "from ENCRYPTION_KEY", nil
	}
	path := filepath.Join(filepath.Dir(c.Database.DSN), encryptionKeyFile)
	key, created, err := loadOrCreateKey(path)
	if err != nil {
		return nil, "", badVar("ENCRYPTION_KEY", "not set, and the generated key file could not be used: %v", err)
	}
	if created {
		log.Warn("ENCRYPTION_KEY not set: generated a new key for the default SQLite database; back it up with the database, and set ENCRYPTION_KEY in production", "file", path)
	} else {
		log.Warn("ENCRYPTION_KEY not set: using the generated key file of the default SQLite database", "file", path)
	}
	return key, "generated file " + path, nil
}

// loadOrCreateKey reads the key file, or creates it (mode 0600) with a new
// random key when it does not exist.
func loadOrCreateKey(path string) (key []byte, created bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := decodeKey(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, false, fmt.Errorf("key file %s %v", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, unwrapPathError(err)
	}
	key = make([]byte, store.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another instance created it first: use theirs.
		return loadOrCreateKey(path)
	}
	if err != nil {
		return nil, false, unwrapPathError(err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return nil, false, err
	}
	return key, true, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
