package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/watchtower-fleet/watchtower/migrations"
)

// ErrSchemaBehind is returned by CheckSchema when migrations are pending.
var ErrSchemaBehind = errors.New("database schema is behind: run `watchtower migrate`")

// migrateLockID is the advisory lock that makes replicas starting together
// apply migrations one at a time.
const migrateLockID = 0x77746d67 // "wtmg"

// Migration is one embedded schema file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in the order they apply.
func Migrations() ([]Migration, error) {
	entries, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, name := range entries {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %q: name must start with a positive number and an underscore", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %q and %q share version %d", other, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate applies the pending migrations in order, each in its own
// transaction, and returns the names of those it applied. A session advisory
// lock makes replicas that start together apply them one at a time; the
// others then find nothing pending.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	c := db.conn
	if db.pool != nil {
		pc, err := db.pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("store: migrate: %w", err)
		}
		defer pc.Release()
		if _, err := pc.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
			return nil, fmt.Errorf("store: migration lock: %w", err)
		}
		defer pc.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID) //nolint:errcheck // a dropped connection frees it too
		c = pc
	}
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("store: create schema_migrations: %w", err)
	}
	done, err := appliedVersions(ctx, c)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		if err := applyOne(ctx, c, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.Name)
	}
	return applied, nil
}

// applyOne runs one migration file and records it, in one transaction.
func applyOne(ctx context.Context, c conn, m Migration) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: migration %s: begin: %w", m.Name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return fmt.Errorf("store: migration %s: %w", m.Name, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
		return fmt.Errorf("store: record migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: migration %s: commit: %w", m.Name, err)
	}
	return nil
}

func appliedVersions(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (map[int]bool, error) {
	rows, err := q.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	done := make(map[int]bool, len(vs))
	for _, v := range vs {
		done[v] = true
	}
	return done, nil
}

// SchemaStatus reports which embedded migrations the database lacks.
type SchemaStatus struct {
	Applied int      // how many embedded migrations are applied
	Latest  int      // the newest embedded version
	Pending []string // names not yet applied, in order
}

// CheckSchema returns the schema status, and ErrSchemaBehind (wrapped) when
// migrations are pending.
func (db *DB) CheckSchema(ctx context.Context) (SchemaStatus, error) {
	ms, err := Migrations()
	if err != nil {
		return SchemaStatus{}, err
	}
	var st SchemaStatus
	if len(ms) > 0 {
		st.Latest = ms[len(ms)-1].Version
	}
	var exists bool
	if err := db.conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return st, fmt.Errorf("store: check schema: %w", err)
	}
	done := map[int]bool{}
	if exists {
		if done, err = appliedVersions(ctx, db.conn); err != nil {
			return st, err
		}
	}
	for _, m := range ms {
		if done[m.Version] {
			st.Applied++
		} else {
			st.Pending = append(st.Pending, m.Name)
		}
	}
	if len(st.Pending) > 0 {
		return st, fmt.Errorf("%w (%d pending: %s)", ErrSchemaBehind, len(st.Pending), strings.Join(st.Pending, ", "))
	}
	return st, nil
}
