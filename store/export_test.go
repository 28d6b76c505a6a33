package store

// Queries only the tests use, kept out of the package's API: the store's
// callers reach places and trucks through the tools' own queries.

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LocationsContaining returns the places whose geofence covers p (boundary
// included), the smallest first: a client site before the service area
// around it.
func (db *DB) LocationsContaining(ctx context.Context, p Point) ([]Location, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("store: locations containing: %w", err)
	}
	rows, err := db.conn.Query(ctx, `SELECT `+locationColumns+` FROM `+locationFrom+`
		WHERE ST_Covers(l.boundary, `+pointSQL(1, 2)+`)
		ORDER BY ST_Area(l.boundary, false), l.code`, p.Lat, p.Lon)
	if err != nil {
		return nil, fmt.Errorf("store: locations containing %s: %w", p, err)
	}
	ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Location, error) { return scanLocation(r) })
	if err != nil {
		return nil, fmt.Errorf("store: locations containing %s: %w", p, err)
	}
	return ls, nil
}

// Locations lists every place ordered by code.
func (db *DB) Locations(ctx context.Context) ([]Location, error) {
	rows, err := db.conn.Query(ctx, `SELECT `+locationColumns+` FROM `+locationFrom+` ORDER BY l.code`)
	if err != nil {
		return nil, fmt.Errorf("store: locations: %w", err)
	}
	ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Location, error) { return scanLocation(r) })
	if err != nil {
		return nil, fmt.Errorf("store: locations: %w", err)
	}
	return ls, nil
}

// TrucksNearLocation returns the trucks within radiusM metres of a named
// place's centre, nearest first.
func (db *DB) TrucksNearLocation(ctx context.Context, place string, radiusM float64) (Location, []TruckDistance, error) {
	loc, err := db.LocationByName(ctx, place)
	if err != nil {
		return Location{}, nil, err
	}
	ts, err := db.TrucksWithin(ctx, loc.Center, radiusM)
	return loc, ts, err
}

// TrucksInLocation returns the trucks whose last known position lies inside
// the named place's geofence, with the place itself.
func (db *DB) TrucksInLocation(ctx context.Context, place string) (Location, []Truck, error) {
	loc, err := db.LocationByName(ctx, place)
	if err != nil {
		return Location{}, nil, err
	}
	rows, err := db.conn.Query(ctx, `SELECT `+truckColumns+` FROM `+truckFrom+`
		JOIN locations g ON g.id = $1 AND ST_Covers(g.boundary, t.position)
		ORDER BY t.number`, loc.ID)
	if err != nil {
		return loc, nil, fmt.Errorf("store: trucks in %s: %w", loc.Code, err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Truck, error) { return scanTruck(r) })
	if err != nil {
		return loc, nil, fmt.Errorf("store: trucks in %s: %w", loc.Code, err)
	}
	return loc, ts, nil
}
