package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Visit is a stay of a truck at a place, decided by the dwell rule.
type Visit struct {
	ID           int64
	TruckID      int64
	TruckNumber  string
	LocationID   int64
	LocationCode string
	TripID       *int64
	EnteredAt    time.Time
	ExitedAt     *time.Time // nil while the truck is still there
}

// Visits returns the visits that began in [from, to), optionally for one
// truck (truckID 0 for all), ordered by truck, then time, then place.
func (db *DB) Visits(ctx context.Context, truckID int64, from, to time.Time) ([]Visit, error) {
	rows, err := db.conn.Query(ctx, `SELECT v.id, v.truck_id, t.number, v.location_id, l.code, v.trip_id, v.entered_at, v.exited_at
		FROM geofence_visits v JOIN trucks t ON t.id = v.truck_id JOIN locations l ON l.id = v.location_id
		WHERE v.entered_at >= $1 AND v.entered_at < $2 AND ($3 = 0 OR v.truck_id = $3)
		ORDER BY t.number, v.entered_at, l.code`, from, to, truckID)
	if err != nil {
		return nil, fmt.Errorf("store: visits: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Visit, error) {
		var v Visit
		err := r.Scan(&v.ID, &v.TruckID, &v.TruckNumber, &v.LocationID, &v.LocationCode, &v.TripID, &v.EnteredAt, &v.ExitedAt)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: visits: %w", err)
	}
	return out, nil
}
