package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Driver names a supported database.
type Driver string

// The supported databases.
const (
	SQLite   Driver = "sqlite"
	Postgres Driver = "postgres"
)

// Config says which database to open and how.
type Config struct {
	Driver Driver
	// DSN is, for SQLite, the database file path (its folder must exist);
	// for PostgreSQL, a postgres:// URL. It may hold a password: never log it.
	DSN    string
	Cipher *Cipher          // encrypts stored credentials; required
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	// ConnectTimeout bounds the first connection (default 10 s).
	ConnectTimeout time.Duration
}

// Store is the app's database. It is safe for concurrent use.
type Store struct {
	db     *gorm.DB
	sqlDB  *sql.DB
	driver Driver
	cipher *Cipher
	log    *slog.Logger
	now    func() time.Time

	// readers are the SQLite connections of the export's bulk reads
	// (sqliteread.go); nil on PostgreSQL.
	readers *sqliteReaders

	// tenants caches GetTenant (tenantcache.go); stopListener stops the
	// PostgreSQL listener that keeps it in step with other instances.
	tenants      *tenantCache
	stopListener func()
	listenerPID  atomic.Uint32 // server process of the listening connection; 0: not listening
	instance     string        // random id of this store in its change notifications
	channel      string        // the schema's notification channel (tenantChannel)
	// afterTenantRead, when set (tests), runs between GetTenant's read of
	// a row and its filling of the cache.
	afterTenantRead func(clientKey string)
}

// ErrUnavailable wraps failures to reach the database at Open.
var ErrUnavailable = errors.New("store: database unavailable")

// Open connects to the database, checks that it answers and applies all
// pending migrations. Connection failures wrap ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Cipher == nil {
		return nil, errors.New("store: no cipher configured")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}

	var dialector gorm.Dialector
	switch cfg.Driver {
	case SQLite:
		if cfg.DSN == "" || strings.ContainsAny(cfg.DSN, "?#") {
			return nil, fmt.Errorf("store: invalid SQLite path %q", cfg.DSN)
		}
		dialector = sqlite.Open(sqliteDSN(cfg.DSN))
	case Postgres:
		if _, err := url.Parse(cfg.DSN); err != nil {
			return nil, errors.New("store: invalid PostgreSQL URL")
		}
		dialector = postgres.New(postgres.Config{DSN: cfg.DSN})
	default:
		return nil, fmt.Errorf("store: unsupported driver %q", cfg.Driver)
	}

	db, err := gorm.Open(dialector, &gorm.Config{
		TranslateError:         true,
		DisableAutomaticPing:   true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return now().UTC() },
		Logger:                 newGormLogger(log),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrUnavailable, cfg.Driver, redactErr(err, cfg.DSN))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("%w: connect to %s: %v", ErrUnavailable, cfg.Driver, redactErr(err, cfg.DSN))
	}
	configurePool(sqlDB, cfg.Driver)
	s := &Store{db: db, sqlDB: sqlDB, driver: cfg.Driver, cipher: cfg.Cipher, log: log, now: now,
		tenants: newTenantCache(tenantCacheTTLLocal)}
	if cfg.Driver == SQLite {
		s.readers = &sqliteReaders{path: cfg.DSN}
	}
	if err := s.migrate(ctx, migrations()); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	s.truncateWAL(ctx)
	if cfg.Driver == Postgres {
		if err := s.startTenantListener(ctx, cfg.DSN); err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
	}
	return s, nil
}

// Connection pool sizes (see configurePool).
const (
	sqliteMaxConns   = 32
	postgresMaxConns = 24
	// postgresConnLifetime retires PostgreSQL connections now and then, so
	// a pool follows a fail-over or a pgbouncer restart and no server
	// backend grows forever; postgresConnIdle closes the spare ones a
	// quiet pool no longer needs.
	postgresConnLifetime = 30 * time.Minute
	postgresConnIdle     = 5 * time.Minute
)

// configurePool sizes the connection pool. database/sql keeps only 2 idle
// connections by default, so under concurrent requests about one in four
// opened a new connection and closed it again.
//
// SQLite (modernc, pure Go): opening a connection is expensive (it reads
// and parses the whole schema, under the C-to-Go allocator's global lock)
// and a connection costs nothing on a server, so the pool keeps every
// connection it opened: as many idle as open, no lifetime, no idle
// timeout. The limit bounds memory (each connection has its own page
// cache) and is well above the concurrency SQLite can use: readers run in
// parallel under WAL, writers queue on the busy timeout anyway. It is
// also far above what the background jobs hold at once with the default
// JOB_WORKERS (a job step holds at most two connections: a cursor and a
// write), so a bounded pool does not make them wait on each other.
//
// PostgreSQL: each connection is a server process and instances share the
// server's max_connections (River's workers have their own pgx pool
// besides), so the pool is bounded at a modest size, again with as many
// idle as open so a steady load never reconnects, but with a lifetime and
// an idle timeout.
func configurePool(db *sql.DB, d Driver) {
	switch d {
	case SQLite:
		db.SetMaxOpenConns(sqliteMaxConns)
		db.SetMaxIdleConns(sqliteMaxConns)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	case Postgres:
		db.SetMaxOpenConns(postgresMaxConns)
		db.SetMaxIdleConns(postgresMaxConns)
		db.SetConnMaxLifetime(postgresConnLifetime)
		db.SetConnMaxIdleTime(postgresConnIdle)
	}
}

// truncateWAL checkpoints SQLite's write-ahead log into the database and
// truncates it, so content a migration replaced (scrubbed secrets) does
// not stay behind in old log frames. Another process reading the database
// can keep the log from being truncated; that is not an error.
func (s *Store) truncateWAL(ctx context.Context) {
	if s.driver != SQLite {
		return
	}
	if err := s.db.WithContext(ctx).Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
		s.log.DebugContext(ctx, "checkpoint write-ahead log", "error", err.Error())
	}
}

// sqliteDSN adds the pragmas every connection needs: WAL for concurrent
// readers, a busy timeout instead of immediate SQLITE_BUSY, enforced foreign
// keys, secure deletion, and immediate transactions so two writers queue on the busy timeout
// instead of failing to upgrade a read lock.
func sqliteDSN(path string) string {
	q := url.Values{}
	// The busy timeout first: the pragmas run in this order when a
	// connection opens, and switching a fresh file to WAL takes a lock that
	// another process or connection opening it at the same moment may hold.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Deleted and overwritten content is zeroed, not left in free space:
	// scrubbed secrets and deleted history do not linger in the file.
	q.Add("_pragma", "secure_delete(1)")
	// Checkpoint the write-ahead log at 10,000 pages (about 40 MiB)
	// rather than SQLite's 1,000: a run's commits change many of the same
	// index pages again and again, and a checkpoint copies each changed
	// page once however often it changed since the last one. Commits of a
	// large evaluation cost about 15% less CPU (BenchmarkCommitRows).
	q.Add("_pragma", "wal_autocheckpoint(10000)")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}

// redactErr returns err's message with the DSN's passwords removed, in
// case a driver echoes the connection string.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	for _, p := range dsnPasswords(dsn) {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// passwordParams are the connection-string parameters that hold a
// password (libpq and pgx accept both in a URL's query).
var passwordParams = []string{"password", "sslpassword"}

// dsnPasswords returns the passwords a PostgreSQL URL holds: the userinfo
// password and the password query parameters.
func dsnPasswords(dsn string) []string {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p)
	}
	q := u.Query()
	for _, name := range passwordParams {
		for _, p := range q[name] {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// RedactDSN returns a PostgreSQL URL fit for a log: the userinfo password
// and the password query parameters replaced by "xxxxx". An unparsable URL
// is "(unparsable)": it is not shown at all.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable)"
	}
	q := u.Query()
	masked := false
	for _, name := range passwordParams {
		if vs, ok := q[name]; ok {
			for i := range vs {
				vs[i] = "xxxxx"
			}
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Driver reports which database the store uses.
func (s *Store) Driver() Driver { return s.driver }

// SQLDB returns the underlying connection pool, for components that share
// the database (River's drivers). Do not close it; call Store.Close.
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// ErrNotMigrated is returned by Ready while a migration this build knows
// is not applied (another instance is still migrating, or the schema
// belongs to an older build).
var ErrNotMigrated = errors.New("store: database schema not migrated")

// Ready checks that the database answers and that every migration this
// build knows is applied (GET /readyz). A database migrated further by a
// newer instance is ready: migrations only add.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	var versions []int
	if err := s.db.WithContext(ctx).Raw(`SELECT version FROM schema_migrations`).Scan(&versions).Error; err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	applied := make(map[int]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	for _, m := range migrations() {
		if !applied[m.Version] {
			return fmt.Errorf("%w: version %d (%s) missing", ErrNotMigrated, m.Version, m.Name)
		}
	}
	return nil
}

// Close stops the tenant change listener and closes the database.
func (s *Store) Close() error {
	if s.stopListener != nil {
		s.stopListener()
	}
	if s.readers != nil {
		s.readers.close()
	}
	return s.sqlDB.Close()
}
