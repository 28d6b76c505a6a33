package store

import (
	"context"
	"fmt"
	"time"
)

// OnTimeGrace is how late a trip may leave and still be on time.
const OnTimeGrace = 2 * time.Hour

// Metrics are the fleet's numbers over a period. Each is defined once, here.
type Metrics struct {
	// Trips scheduled to depart in the period, cancelled ones included.
	Trips     int
	Completed int
	Cancelled int
	// Departed counts trips that left; OnTime those that left within
	// OnTimeGrace of their scheduled departure.
	Departed, OnTime int
	// AvgTurnaround is the mean, over completed trips, of departure to
	// close (offload, else arrival, when no close was stamped).
	AvgTurnaround time.Duration
	// Utilisation is the share of active trucks that drove at least one
	// trip (departed) in the period.
	Utilisation float64
	// DistanceKm is every truck's driving in the period, summed as in
	// TruckHistory (legs between fixes, GPS jumps left out).
	DistanceKm float64
}

// FleetMetrics computes Metrics for trips scheduled in [from, to) and
// positions in the same window (capped at now).
func (db *DB) FleetMetrics(ctx context.Context, from, to, now time.Time) (Metrics, error) {
	var m Metrics
	var avgSecs *float64
	err := db.conn.QueryRow(ctx, `SELECT count(*),
			count(*) FILTER (WHERE status = 'completed'),
			count(*) FILTER (WHERE status = 'cancelled'),
			count(*) FILTER (WHERE actual_departure IS NOT NULL),
			count(*) FILTER (WHERE actual_departure IS NOT NULL AND actual_departure <= scheduled_departure + $3::interval),
			avg(extract(epoch FROM coalesce(closed_at, offloaded_at, arrived_at) - actual_departure))
				FILTER (WHERE status = 'completed' AND actual_departure IS NOT NULL AND coalesce(closed_at, offloaded_at, arrived_at) IS NOT NULL),
			coalesce(count(DISTINCT truck_id) FILTER (WHERE actual_departure IS NOT NULL)::float8
				/ nullif((SELECT count(*) FROM trucks WHERE status = 'active'), 0), 0)
		FROM trips WHERE scheduled_departure >= $1 AND scheduled_departure < $2`, from, to, OnTimeGrace).
		Scan(&m.Trips, &m.Completed, &m.Cancelled, &m.Departed, &m.OnTime, &avgSecs, &m.Utilisation)
	if err != nil {
		return m, fmt.Errorf("store: fleet metrics: %w", err)
	}
	if avgSecs != nil {
		m.AvgTurnaround = time.Duration(*avgSecs * float64(time.Second))
	}
	if to.After(now) {
		to = now
	}
	err = db.conn.QueryRow(ctx, `WITH f AS (
			SELECT fix_time, position, lag(position) OVER w AS prev_pos, lag(fix_time) OVER w AS prev_time
			FROM vehicle_positions WHERE fix_time >= $1 AND fix_time < $2 WINDOW w AS (PARTITION BY truck_id ORDER BY fix_time)),
		legs AS (SELECT ST_Distance(prev_pos, position) AS metres, extract(epoch FROM fix_time - prev_time) AS secs FROM f WHERE prev_pos IS NOT NULL)
		SELECT coalesce(sum(metres) FILTER (WHERE secs > 0 AND metres / secs * 3.6 <= $3), 0) / 1000 FROM legs`,
		from, to, glitchKmh).Scan(&m.DistanceKm)
	if err != nil {
		return m, fmt.Errorf("store: fleet metrics distance: %w", err)
	}
	return m, nil
}
