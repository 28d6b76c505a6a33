package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

const driverSelect = `SELECT d.id, d.name, d.phone, d.has_smartphone, coalesce(t.number, '') FROM drivers d LEFT JOIN trucks t ON t.id = d.truck_id`

func scanDriver(r pgx.CollectableRow) (Driver, error) {
	var d Driver
	err := r.Scan(&d.ID, &d.Name, &d.Phone, &d.HasSmartphone, &d.TruckNumber)
	return d, err
}

// DriverForTruck returns the driver assigned to a truck; ErrNotFound when
// there is none.
func (db *DB) DriverForTruck(ctx context.Context, truckID int64) (Driver, error) {
	rows, err := db.conn.Query(ctx, driverSelect+` WHERE d.truck_id = $1`, truckID)
	if err != nil {
		return Driver{}, fmt.Errorf("store: driver of truck %d: %w", truckID, err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDriver)
	if err != nil {
		return Driver{}, fmt.Errorf("store: driver of truck %d: %w", truckID, notFound(err))
	}
	return d, nil
}

// DriverByName finds a driver by phone (any spelling), by name ignoring
// case, by a unique partial name ("kayode"), or by a close spelling
// (trigram similarity). Several matches give an *AmbiguousError, none a
// *NotFoundError with suggestions.
func (db *DB) DriverByName(ctx context.Context, q string) (Driver, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return Driver{}, fmt.Errorf("store: driver: %w", invalidf("empty name"))
	}
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q)) + "%"
	rows, err := db.conn.Query(ctx, `SELECT d.id, d.name, d.phone, d.has_smartphone, coalesce(t.number, ''), s.score
		FROM drivers d LEFT JOIN trucks t ON t.id = d.truck_id, LATERAL (SELECT CASE
			WHEN d.phone = $2 THEN 3 WHEN lower(d.name) = lower($1) THEN 2 WHEN lower(d.name) LIKE $3 THEN 1
			ELSE public.similarity(lower(d.name), lower($1)) END::float8 AS score) s
		WHERE d.phone = $2 OR lower(d.name) LIKE $3 OR public.similarity(lower(d.name), lower($1)) >= 0.3
		ORDER BY s.score DESC, d.name LIMIT 6`, q, NormalizePhone(q), like)
	if err != nil {
		return Driver{}, fmt.Errorf("store: driver %q: %w", q, err)
	}
	type scored struct {
		Driver
		score float64
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scored, error) {
		var s scored
		err := r.Scan(&s.ID, &s.Name, &s.Phone, &s.HasSmartphone, &s.TruckNumber, &s.score)
		return s, err
	})
	if err != nil {
		return Driver{}, fmt.Errorf("store: driver %q: %w", q, err)
	}
	var names []string
	for _, f := range found {
		names = append(names, f.Name)
	}
	switch {
	case len(found) == 0:
		return Driver{}, fmt.Errorf("store: driver: %w", &NotFoundError{What: "driver", Query: q})
	case len(found) == 1 && found[0].score >= 0.45, len(found) > 1 && found[0].score >= 1 && found[0].score > found[1].score,
		len(found) > 1 && found[0].score >= 0.45 && found[0].score < 1 && found[0].score-found[1].score >= 0.15:
		return found[0].Driver, nil
	case found[0].score < 0.45:
		return Driver{}, fmt.Errorf("store: driver: %w", &NotFoundError{What: "driver", Query: q, Suggestions: names[:min(3, len(names))]})
	}
	return Driver{}, fmt.Errorf("store: driver: %w", &AmbiguousError{Query: q, Candidates: names})
}
