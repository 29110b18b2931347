package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// tenantChannelPrefix names the PostgreSQL notification channel on which
// every instance announces a changed tenant; the channel is the prefix
// and a hash of the schema, so instances of other schemas in the same
// database do not hear it. The payload is the announcing store's instance
// id, ":", and the client key; a store ignores its own announcements (it
// invalidated the entry itself).
const tenantChannelPrefix = "usercleanup_tenants_"

// tenantChannel returns the channel of the schema.
func tenantChannel(schema string) string {
	sum := sha256.Sum256([]byte(schema))
	return tenantChannelPrefix + hex.EncodeToString(sum[:8])
}

// Listener timing: how long one wait for a notification lasts before the
// connection is checked with a ping, and how long to wait before
// reconnecting (doubling up to the maximum).
const (
	listenCheckEvery  = 30 * time.Second
	listenRetryMin    = 100 * time.Millisecond
	listenRetryMax    = 5 * time.Second
	listenDialTimeout = 10 * time.Second
)

// changeTenant runs change, which writes the tenant's row (and maybe
// others), in one transaction and makes every tenant cache forget the
// tenant: on PostgreSQL the transaction also notifies the other instances
// (a notification is delivered when, and only if, the transaction
// commits); afterwards this instance's entry is invalidated, whatever the
// outcome.
func (s *Store) changeTenant(ctx context.Context, clientKey string, change func(tx *gorm.DB) error) error {
	defer s.tenants.invalidate(clientKey)
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := change(tx); err != nil {
			return err
		}
		if s.driver == Postgres {
			if err := tx.Exec("SELECT pg_notify(?, ?)", s.channel, s.instance+":"+clientKey).Error; err != nil {
				return fmt.Errorf("notify tenant change: %w", err)
			}
		}
		return nil
	})
}

// startTenantListener listens for the other instances' tenant changes on
// PostgreSQL until Close.
func (s *Store) startTenantListener(ctx context.Context, dsn string) error {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	s.instance = hex.EncodeToString(id[:])
	var schema string
	if err := s.sqlDB.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("store: current schema: %w", err)
	}
	s.channel = tenantChannel(schema)
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopListener = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		s.listenTenants(lctx, dsn)
	}()
	return nil
}

// listenTenants keeps one connection LISTENing on tenantChannel and
// invalidates the tenant each notification names. Whenever it is not
// listening (not yet connected, or the connection was lost) the cache
// keeps entries only for the short TTL, as on SQLite; once it listens
// again it empties the cache, since changes made meanwhile were not heard.
func (s *Store) listenTenants(ctx context.Context, dsn string) {
	wait := listenRetryMin
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, dsn, func() { wait = listenRetryMin })
		if ctx.Err() != nil {
			return
		}
		s.tenants.setTTL(tenantCacheTTLLocal)
		s.log.WarnContext(ctx, "tenant change listener stopped; retrying", "error", err.Error(), "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// listenOnce connects, LISTENs, calls listening and handles notifications
// until the connection fails or ctx is done.
func (s *Store) listenOnce(ctx context.Context, dsn string, listening func()) error {
	dctx, cancel := context.WithTimeout(ctx, listenDialTimeout)
	conn, err := pgx.Connect(dctx, dsn)
	cancel()
	if err != nil {
		return errors.New(redactErr(err, dsn))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return errors.New(redactErr(err, dsn))
	}
	// Listening from here on: what was cached before may have changed
	// unheard.
	s.tenants.setTTL(tenantCacheTTLListening)
	s.listenerPID.Store(conn.PgConn().PID())
	defer s.listenerPID.Store(0)
	listening()
	s.log.DebugContext(ctx, "listening for tenant changes")
	for {
		wctx, cancel := context.WithTimeout(ctx, listenCheckEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if from, clientKey, ok := strings.Cut(n.Payload, ":"); ok && from != s.instance {
				s.tenants.invalidate(clientKey)
			}
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Quiet for a while: make sure the connection is alive.
			pctx, cancel := context.WithTimeout(ctx, listenDialTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		return errors.New(redactErr(err, dsn))
	}
}
