package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stop is a time a truck stood still.
type Stop struct {
	Start, End   time.Time
	Point        Point
	LocationCode string // the smallest place it stood in, if any
}

// History is what a truck did over a period.
type History struct {
	TruckNumber   string
	From, To      time.Time
	Fixes         int
	DistanceKm    float64
	MovingMinutes float64
	MaxSpeedKmh   float64
	Stops         []Stop // at most historyCap
	StopsTotal    int
	Visits        []Visit // at most historyCap
	VisitsTotal   int
}

const (
	historyCap = 50
	// A leg implying more than 150 km/h is a GPS jump, not driving.
	glitchKmh = 150
	// A gap longer than this between fixes counts no moving time: the
	// tracker was silent, and we do not know.
	maxLegGap = 10 * time.Minute
	// A stop is at most stopSpeedKmh for at least minStop.
	stopSpeedKmh = 3
	minStop      = 10 * time.Minute
)

// TruckHistory summarises a truck's fixes in [from, to) (at most 31 days):
// distance as the sum of legs between consecutive fixes (GPS jumps left
// out), moving time as the legs whose start was moving, the stops of at
// least 10 minutes, and the place visits that began in the window.
func (db *DB) TruckHistory(ctx context.Context, truckID int64, from, to time.Time) (History, error) {
	if !from.Before(to) || to.Sub(from) > 31*24*time.Hour {
		return History{}, fmt.Errorf("store: truck history: %w", invalidf("the period must run forwards and span at most 31 days"))
	}
	h := History{From: from, To: to}
	if err := db.conn.QueryRow(ctx, `SELECT number FROM trucks WHERE id = $1`, truckID).Scan(&h.TruckNumber); err != nil {
		return h, fmt.Errorf("store: truck %d history: %w", truckID, notFound(err))
	}
	err := db.conn.QueryRow(ctx, `WITH f AS (
			SELECT fix_time, position, coalesce(speed_kmh, 0) AS speed,
				lag(position) OVER w AS prev_pos, lag(fix_time) OVER w AS prev_time, lag(coalesce(speed_kmh, 0)) OVER w AS prev_speed
			FROM vehicle_positions WHERE truck_id = $1 AND fix_time >= $2 AND fix_time < $3
			WINDOW w AS (ORDER BY fix_time)),
		legs AS (
			SELECT speed, prev_speed, extract(epoch FROM fix_time - prev_time) AS secs,
				CASE WHEN prev_pos IS NULL THEN 0 ELSE ST_Distance(prev_pos, position) END AS metres
			FROM f)
		SELECT count(*), coalesce(sum(metres) FILTER (WHERE secs > 0 AND metres / secs * 3.6 <= $4), 0) / 1000,
			coalesce(sum(secs) FILTER (WHERE secs <= $5 AND (prev_speed > $6 OR speed > $6)), 0) / 60,
			coalesce(max(speed), 0)
		FROM legs`, truckID, from, to, glitchKmh, maxLegGap.Seconds(), stopSpeedKmh).
		Scan(&h.Fixes, &h.DistanceKm, &h.MovingMinutes, &h.MaxSpeedKmh)
	if err != nil {
		return h, fmt.Errorf("store: truck %d history: %w", truckID, err)
	}
	rows, err := db.conn.Query(ctx, `WITH f AS (
			SELECT fix_time, position, coalesce(speed_kmh, 0) <= $4 AS still FROM vehicle_positions
			WHERE truck_id = $1 AND fix_time >= $2 AND fix_time < $3),
		runs AS (SELECT *, sum(CASE WHEN still THEN 0 ELSE 1 END) OVER (ORDER BY fix_time) AS grp FROM f),
		stops AS (SELECT min(fix_time) AS s, max(fix_time) AS e, (array_agg(position ORDER BY fix_time))[1] AS p
			FROM runs WHERE still GROUP BY grp HAVING max(fix_time) - min(fix_time) >= $5::interval)
		SELECT s, e, ST_Y(p::geometry), ST_X(p::geometry),
			coalesce((SELECT l.code FROM locations l WHERE ST_Covers(l.boundary, p) ORDER BY ST_Area(l.boundary, false) LIMIT 1), ''),
			count(*) OVER ()
		FROM stops ORDER BY s LIMIT $6`, truckID, from, to, stopSpeedKmh, minStop, historyCap)
	if err != nil {
		return h, fmt.Errorf("store: truck %d stops: %w", truckID, err)
	}
	h.Stops, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stop, error) {
		var s Stop
		err := r.Scan(&s.Start, &s.End, &s.Point.Lat, &s.Point.Lon, &s.LocationCode, &h.StopsTotal)
		return s, err
	})
	if err != nil {
		return h, fmt.Errorf("store: truck %d stops: %w", truckID, err)
	}
	visits, err := db.Visits(ctx, truckID, from, to)
	if err != nil {
		return h, err
	}
	h.VisitsTotal = len(visits)
	h.Visits = visits[:min(len(visits), historyCap)]
	return h, nil
}
