package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnsurePositionPartitions creates the daily vehicle_positions partitions
// covering from..to (UTC days, inclusive) that do not exist yet.
func (db *DB) EnsurePositionPartitions(ctx context.Context, from, to time.Time) error {
	_, err := db.conn.Exec(ctx, `SELECT ensure_position_partition(d::date)
		FROM generate_series($1::date, $2::date, interval '1 day') AS d`,
		from.UTC().Format(time.DateOnly), to.UTC().Format(time.DateOnly))
	if err != nil {
		return fmt.Errorf("store: ensure position partitions: %w", err)
	}
	return nil
}

// DropPositionPartitionsBefore drops the daily partitions whose whole day is
// before cutoff (UTC) and returns their names. This is the retention job:
// dropping a partition costs nothing like deleting its rows.
func (db *DB) DropPositionPartitionsBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	day := cutoff.UTC().Truncate(24 * time.Hour).Format("20060102")
	rows, err := db.conn.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'vehicle_positions'::regclass
		  AND c.relname ~ '^vehicle_positions_[0-9]{8}$'
		  AND substring(c.relname from '[0-9]{8}$') < $1
		ORDER BY c.relname`, day)
	if err != nil {
		return nil, fmt.Errorf("store: list position partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: list position partitions: %w", err)
	}
	defer db.forgetDays()
	for _, n := range names {
		if _, err := db.conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{n}.Sanitize()); err != nil {
			return nil, fmt.Errorf("store: drop partition %s: %w", n, err)
		}
	}
	return names, nil
}

// CountPositions counts stored fixes with fix times in [from, to).
func (db *DB) CountPositions(ctx context.Context, from, to time.Time) (int64, error) {
	var n int64
	if err := db.conn.QueryRow(ctx, `SELECT count(*) FROM vehicle_positions WHERE fix_time >= $1 AND fix_time < $2`, from, to).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count positions: %w", err)
	}
	return n, nil
}
