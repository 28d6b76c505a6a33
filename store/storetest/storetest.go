// Package storetest gives tests a real PostgreSQL/PostGIS store, the way
// riverqueue/river does: one migrated schema per test binary, a transaction
// per test rolled back in t.Cleanup, and a fresh schema for tests that need
// several connections (migrations, concurrency, benchmarks).
//
// The database comes from TEST_DATABASE_URL (default: the local
// watchtower_test database that scripts/services.sh creates). There is no
// skip: a test that cannot reach it fails, saying how to start it.
package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/watchtower-fleet/watchtower/store"
)

// DefaultURL is used when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/watchtower_test?sslmode=disable"

// URL returns the test database URL.
func URL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var (
	sharedOnce sync.Once
	sharedPool *pgxpool.Pool
	sharedErr  error
)

// New returns a store on the binary's shared, migrated schema whose every
// write happens in one transaction that is rolled back when the test ends.
// Tests using it may run in parallel. One caveat of a transaction per test:
// recording fixes creates a day's vehicle_positions partition inside that
// transaction, so other tests recording fixes for the same day wait until
// the first one ends; two such stores in one test would wait for each other.
// Use NewMigrated for tests that need several writers.
func New(t testing.TB) *store.DB {
	t.Helper()
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var name string
		name, sharedErr = createSchema(ctx)
		if sharedErr != nil {
			return
		}
		sharedPool, sharedErr = poolFor(ctx, name)
		if sharedErr == nil {
			_, sharedErr = store.NewFromPool(sharedPool).Migrate(ctx)
		}
	})
	if sharedErr != nil {
		t.Fatalf("storetest: %v", sharedErr)
	}
	ctx := context.Background()
	tx, err := sharedPool.Begin(ctx)
	if err != nil {
		t.Fatalf("storetest: begin: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return store.NewWithTx(tx)
}

// Schema is a fresh schema of its own, dropped when the test ends.
type Schema struct {
	Name string
	// URL connects to the test database with search_path set to the schema,
	// for code under test that opens its own connections.
	URL string
	// Pool is a pool on the schema, closed when the test ends.
	Pool *pgxpool.Pool
}

// NewSchema creates an empty schema (no migrations applied) for tests that
// need real transactions or several connections.
func NewSchema(t testing.TB) *Schema {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name, err := createSchema(ctx)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	pool, err := poolFor(ctx, name)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		if err := dropSchema(context.Background(), name); err != nil {
			t.Logf("storetest: drop schema %s: %v", name, err)
		}
	})
	return &Schema{Name: name, URL: withSearchPath(URL(), name), Pool: pool}
}

// NewMigrated is NewSchema with the migrations applied, returned as a store
// on the schema's pool.
func NewMigrated(t testing.TB) (*Schema, *store.DB) {
	t.Helper()
	s := NewSchema(t)
	db := store.NewFromPool(s.Pool)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("storetest: migrate %s: %v", s.Name, err)
	}
	return s, db
}

func withSearchPath(url, schema string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema + ",public"
}

func poolFor(ctx context.Context, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(URL())
	if err != nil {
		return nil, fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema + ",public"
	cfg.MaxConns = 8
	cfg.ConnConfig.Tracer = store.Tracer
	return pgxpool.NewWithConfig(ctx, cfg)
}

// binaryTag names schemas after the test binary (store.test → store), so a
// stale one is easy to trace.
var binaryTag = func() string {
	b := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	return strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(b, "_"))
}()

var schemaRE = regexp.MustCompile(`^wt_test_[a-z0-9_]+_p([0-9]+)_[0-9a-f]+$`)

func createSchema(ctx context.Context) (string, error) {
	conn, err := pgx.Connect(ctx, URL())
	if err != nil {
		return "", fmt.Errorf("cannot reach the test database at TEST_DATABASE_URL (%s): %w; start it with scripts/services.sh", URL(), err)
	}
	defer conn.Close(ctx)
	dropStale(ctx, conn)
	name := fmt.Sprintf("wt_test_%s_p%d_%08x", binaryTag, os.Getpid(), rand.Uint32())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create schema %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public"); err != nil {
		return "", fmt.Errorf("postgis is not available in the test database (scripts/services.sh installs it): %w", err)
	}
	return name, nil
}

// dropStale removes schemas left by test processes that no longer run (a
// killed `go test` cannot clean up after itself).
func dropStale(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'wt_test_%'")
	if err != nil {
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		m := schemaRE.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{n}.Sanitize()+" CASCADE")
	}
}

func dropSchema(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, URL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
	return err
}
