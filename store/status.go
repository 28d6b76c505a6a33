package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Count is a number of trucks under a key.
type Count struct {
	Key string
	N   int
}

// Where a truck is, for FleetStatus.
const (
	WhereTerminal = "at_terminal"
	WhereClient   = "at_client"
	WhereDepot    = "at_depot"
	WhereEnRoute  = "en_route" // a recent fix inside no terminal, client site or depot
	WhereOffline  = "offline"  // its last fix is older than the offline threshold
	WhereNoFix    = "no_fix"   // it has never reported
)

// TruckWhere is one truck's status and whereabouts.
type TruckWhere struct {
	Number, Status, Where, PlaceCode, PlaceName string
	FixAt                                       *time.Time
}

// FleetStatus is the fleet at a glance.
type FleetStatus struct {
	Total    int
	ByStatus []Count // active, maintenance, inactive, unknown
	ByWhere  []Count // at_terminal, at_client, at_depot, en_route, offline, no_fix
	Trucks   []TruckWhere
}

// FleetStatus counts the trucks by status and by where they are. A truck
// inside a service area only (a port zone) is en route: those zones are
// wide and say nothing of the work. Offline wins over place: a silent
// tracker's place is stale.
func (db *DB) FleetStatus(ctx context.Context, now time.Time, offlineAfter time.Duration) (FleetStatus, error) {
	rows, err := db.conn.Query(ctx, `SELECT t.number, t.status, t.position_at, coalesce(g.code, ''), coalesce(g.name, ''), coalesce(g.kind, '')
		FROM trucks t
		LEFT JOIN LATERAL (SELECT l.code, l.name, l.kind FROM locations l
			WHERE t.position IS NOT NULL AND l.kind <> 'service_area' AND ST_Covers(l.boundary, t.position)
			ORDER BY ST_Area(l.boundary, false) LIMIT 1) g ON true
		ORDER BY t.number`)
	if err != nil {
		return FleetStatus{}, fmt.Errorf("store: fleet status: %w", err)
	}
	trucks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TruckWhere, error) {
		var w TruckWhere
		var kind string
		if err := r.Scan(&w.Number, &w.Status, &w.FixAt, &w.PlaceCode, &w.PlaceName, &kind); err != nil {
			return w, err
		}
		switch {
		case w.FixAt == nil:
			w.Where = WhereNoFix
		case now.Sub(*w.FixAt) > offlineAfter:
			w.Where = WhereOffline
		case kind == LocationTerminal:
			w.Where = WhereTerminal
		case kind == LocationClient:
			w.Where = WhereClient
		case kind == LocationDepot:
			w.Where = WhereDepot
		default:
			w.Where = WhereEnRoute
		}
		return w, nil
	})
	if err != nil {
		return FleetStatus{}, fmt.Errorf("store: fleet status: %w", err)
	}
	fs := FleetStatus{Total: len(trucks), Trucks: trucks}
	statuses := []string{TruckActive, TruckMaintenance, TruckInactive, TruckUnknown}
	wheres := []string{WhereTerminal, WhereClient, WhereDepot, WhereEnRoute, WhereOffline, WhereNoFix}
	byS, byW := map[string]int{}, map[string]int{}
	for _, t := range trucks {
		byS[t.Status]++
		byW[t.Where]++
	}
	for _, s := range statuses {
		fs.ByStatus = append(fs.ByStatus, Count{s, byS[s]})
	}
	for _, w := range wheres {
		fs.ByWhere = append(fs.ByWhere, Count{w, byW[w]})
	}
	return fs, nil
}

// TruckPlace is where a truck's last fix puts it: inside a place (since the
// dwell rule confirmed its entry), or how far from the nearest one.
type TruckPlace struct {
	Inside    *Location
	Since     *time.Time
	Nearest   *Location
	DistanceM float64
}

// TruckPlace returns the smallest place containing the truck's last fix, or
// else the nearest place by distance to its boundary. ErrNotFound when the
// truck has no fix.
func (db *DB) TruckPlace(ctx context.Context, truckID int64) (TruckPlace, error) {
	var tp TruckPlace
	// The smallest place covering the fix, found through the boundaries'
	// index; only when there is none, the nearest by the index's distance,
	// measured exactly for that one place.
	row := db.conn.QueryRow(ctx, `WITH t AS (SELECT id, position FROM trucks WHERE id = $1 AND position IS NOT NULL),
		inside AS (
			SELECT l.id, true AS inside, 0::float8 AS d FROM t JOIN locations l ON ST_Covers(l.boundary, t.position)
			ORDER BY ST_Area(l.boundary, false) LIMIT 1),
		nearest AS (
			SELECT l.id, false, ST_Distance(l.boundary, t.position) FROM t, locations l
			WHERE NOT EXISTS (SELECT 1 FROM inside)
			ORDER BY l.boundary <-> t.position LIMIT 1),
		chosen AS (SELECT * FROM inside UNION ALL SELECT * FROM nearest)
		SELECT `+locationColumns+`, c.inside, c.d,
			(SELECT v.entered_at FROM geofence_visits v WHERE v.truck_id = $1 AND v.location_id = l.id AND v.exited_at IS NULL)
		FROM chosen c JOIN `+locationFrom+` ON l.id = c.id`, truckID)
	var inside bool
	var since *time.Time
	loc, err := scanLocation(row, &inside, &tp.DistanceM, &since)
	if noRows(err) {
		return tp, fmt.Errorf("store: truck %d place: %w", truckID, ErrNotFound)
	}
	if err != nil {
		return tp, fmt.Errorf("store: truck %d place: %w", truckID, err)
	}
	if inside {
		tp.Inside, tp.Since, tp.DistanceM = &loc, since, 0
	} else {
		tp.Nearest = &loc
	}
	return tp, nil
}

// TruckAt is a truck inside a place, with the entry the dwell rule
// confirmed (nil until it has).
type TruckAt struct {
	Truck
	Since *time.Time
}

// TrucksAt returns the trucks whose last position is inside the place,
// longest there first.
func (db *DB) TrucksAt(ctx context.Context, locationID int64) ([]TruckAt, error) {
	rows, err := db.conn.Query(ctx, `SELECT `+truckColumns+`,
			(SELECT v.entered_at FROM geofence_visits v WHERE v.truck_id = t.id AND v.location_id = g.id AND v.exited_at IS NULL) AS since
		FROM `+truckFrom+` JOIN locations g ON g.id = $1 AND ST_Covers(g.boundary, t.position)
		ORDER BY since NULLS LAST, t.number`, locationID)
	if err != nil {
		return nil, fmt.Errorf("store: trucks at %d: %w", locationID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TruckAt, error) {
		var ta TruckAt
		var err error
		ta.Truck, err = scanTruck(r, &ta.Since)
		return ta, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: trucks at %d: %w", locationID, err)
	}
	return out, nil
}
