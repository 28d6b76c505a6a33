package store

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	etaSpeedWindow         = 30 * time.Minute
	minMovingKmh           = 5.0
	minETASpeedKmh         = 15.0
	detourMin, detourMax   = 1.0, 3.0
	calibrationMinTrips    = 3
	calibrationTripsToRead = 50
)

// estimateArrival is the ETA at delivery: the remaining great-circle
// distance from the last fix times the detour, at the truck's recent
// moving speed (the plan's speed when it has not moved lately).
func estimateArrival(ctx context.Context, tx pgx.Tx, t *followedTrip, departed, now time.Time, detour float64) (*time.Time, error) {
	var lat, lon *float64
	var at *time.Time
	var speed *float64
	err := tx.QueryRow(ctx, `WITH last AS (
			SELECT p.position, p.fix_time FROM vehicle_positions p JOIN trucks t ON t.id = p.truck_id
			WHERE t.number = $1 AND p.fix_time >= $2 AND p.fix_time <= $3 ORDER BY p.fix_time DESC LIMIT 1)
		SELECT ST_Y(last.position::geometry), ST_X(last.position::geometry), last.fix_time,
			(SELECT avg(p.speed_kmh) FROM vehicle_positions p JOIN trucks t ON t.id = p.truck_id
			 WHERE t.number = $1 AND p.fix_time > last.fix_time - make_interval(secs => $4) AND p.fix_time <= last.fix_time
			   AND p.speed_kmh > $5)
		FROM last`, t.TruckNumber, departed, now, etaSpeedWindow.Seconds(), minMovingKmh).Scan(&lat, &lon, &at, &speed)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if lat == nil {
		return nil, nil
	}
	kmh := 35.0
	if speed != nil {
		kmh = math.Max(*speed, minETASpeedKmh)
	}
	km := greatCircleKm(Point{Lat: *lat, Lon: *lon}, t.deliveryCenter) * detour
	eta := at.Add(time.Duration(km / kmh * float64(time.Hour))).Truncate(time.Second)
	if eta.Before(now) {
		eta = now.Truncate(time.Second)
	}
	return &eta, nil
}

// greatCircleKm is the haversine distance.
func greatCircleKm(a, b Point) float64 {
	const r = 6371.0088
	la1, la2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dla, dlo := la2-la1, (b.Lon-a.Lon)*math.Pi/180
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// detour is the fleet's road distance over great-circle distance, from its
// own delivered trips (the median of the last 50), or def until there are
// enough. It is cached for an hour.
func (db *DB) detour(ctx context.Context, def float64) float64 {
	db.detourMu.Lock()
	defer db.detourMu.Unlock()
	if time.Since(db.detourAt) < time.Hour && db.detourVal > 0 {
		return db.detourVal
	}
	v, err := db.CalibrateDetour(ctx)
	if err != nil || v == 0 {
		v = def
	}
	db.detourVal, db.detourAt = v, time.Now()
	return v
}

// CalibrateDetour measures the detour factor on the last delivered trips:
// the driven distance between leaving pickup and reaching delivery (from
// the positions, ignoring jumps over 150 km/h) over the great-circle
// distance between where it left and where it arrived, for trips of more
// than a kilometre. 0 when fewer than 3 trips can say.
func (db *DB) CalibrateDetour(ctx context.Context) (float64, error) {
	rows, err := db.conn.Query(ctx, `WITH recent AS (
			SELECT tr.id, tr.truck_id, tr.actual_departure, tr.arrived_at
			FROM trips tr
			WHERE tr.actual_departure IS NOT NULL AND tr.arrived_at IS NOT NULL AND tr.status <> 'cancelled'
			ORDER BY tr.arrived_at DESC LIMIT $1),
		pts AS (
			SELECT r.id, vp.position, vp.fix_time,
				lag(vp.position) OVER w AS prev, lag(vp.fix_time) OVER w AS prev_at,
				first_value(vp.position) OVER whole AS first, last_value(vp.position) OVER whole AS last
			FROM recent r JOIN vehicle_positions vp ON vp.truck_id = r.truck_id
				AND vp.fix_time >= r.actual_departure AND vp.fix_time <= r.arrived_at
			WINDOW w AS (PARTITION BY r.id ORDER BY vp.fix_time),
				whole AS (PARTITION BY r.id ORDER BY vp.fix_time ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
		SELECT sum(ST_Distance(position, prev)) / min(ST_Distance(first, last)) FROM pts
		WHERE prev IS NOT NULL AND fix_time > prev_at
		  AND ST_Distance(position, prev) / extract(epoch FROM fix_time - prev_at) * 3.6 <= 150
		GROUP BY id HAVING min(ST_Distance(first, last)) > 1000`, calibrationTripsToRead)
	if err != nil {
		return 0, fmt.Errorf("store: calibrate detour: %w", err)
	}
	ratios, err := pgx.CollectRows(rows, pgx.RowTo[float64])
	if err != nil {
		return 0, fmt.Errorf("store: calibrate detour: %w", err)
	}
	if len(ratios) < calibrationMinTrips {
		return 0, nil
	}
	slices.Sort(ratios)
	return math.Min(detourMax, math.Max(detourMin, ratios[len(ratios)/2])), nil
}
