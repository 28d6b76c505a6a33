// Package store keeps Watch Tower's state in PostgreSQL with PostGIS: the
// fleet's master data, trips, positions, geofence visits, alerts and the audit
// log. It speaks in domain terms; no SQL leaves it.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// conn is what the store needs of a connection: a pool in production, an
// open transaction in tests (its Begin opens a savepoint), so that a test's
// writes vanish with one rollback.
type conn interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// DB is the store. Its methods are safe for concurrent use.
type DB struct {
	conn  conn
	pool  *pgxpool.Pool // nil when DB wraps a transaction
	parts partitionDays

	// The fleet's calibrated detour factor, cached (see FollowTrips).
	detourMu  sync.Mutex
	detourVal float64
	detourAt  time.Time
}

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", redactURLError(err))
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (the CPUs, at least 4) starves the HTTP API's
		// concurrent reads; DATABASE_URL's pool_max_conns overrides this.
		cfg.MaxConns = DefaultPoolSize
	}
	return OpenConfig(ctx, cfg)
}

// DefaultPoolSize is the connections a replica keeps at most, unless
// DATABASE_URL says pool_max_conns.
const DefaultPoolSize = 16

// OpenConfig is Open with a parsed pool configuration (tests use it to set a
// search_path).
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*DB, error) {
	if cfg.ConnConfig.Tracer == nil {
		cfg.ConnConfig.Tracer = Tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return &DB{conn: pool, pool: pool}, nil
}

// NewWithTx returns a store whose every call runs inside tx. Tests use it to
// roll everything back at the end.
func NewWithTx(tx pgx.Tx) *DB { return &DB{conn: tx} }

// Close releases the pool. It is safe to call more than once.
func (db *DB) Close() {
	if db.pool != nil {
		db.pool.Close()
	}
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction, committing if it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit this is a no-op
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// redactURLError keeps a password in a malformed URL out of logs: pgx quotes
// the whole string in some parse errors.
func redactURLError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("malformed connection string")
	}
	return err
}

// NewFromPool returns a store on an existing pool; Close closes the pool.
func NewFromPool(pool *pgxpool.Pool) *DB { return &DB{conn: pool, pool: pool} }
