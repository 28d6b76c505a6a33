package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// KPI rules that are not data.
const (
	// glitchKmh (see history.go) is the implied speed above which a leg
	// between two fixes is a GPS jump, left out of the distance.
	// idleLegMax is the longest gap between two fixes counted as idling:
	// a silent tracker is not an idling truck.
	idleLegMax = 10 * time.Minute
	idleKmh    = 3.0
)

// DayKPIs are the fleet's numbers for one local day, each defined once,
// here; the report, fleet_metrics and /fleet report read them.
type DayKPIs struct {
	Day string `json:"day"` // YYYY-MM-DD, local
	// OnTimeMinutes is the grace the on-time numbers were computed with.
	OnTimeMinutes int `json:"on_time_minutes"`

	// TripsStarted left pickup during the day; TripsCompleted were
	// delivered during it.
	TripsStarted   int `json:"trips_started"`
	TripsCompleted int `json:"trips_completed"`
	// OnTimeDepartures of TripsStarted left within the tolerance of their
	// scheduled departure; OnTimeDeliveries of TripsCompleted were
	// delivered within it of their planned arrival.
	OnTimeDepartures int `json:"on_time_departures"`
	OnTimeDeliveries int `json:"on_time_deliveries"`
	// Turnaround, over the trips back at base during the day: pickup
	// arrival → delivery offload, offload → back at base, and the whole.
	TurnaroundTrips        int            `json:"turnaround_trips"`
	PickupToOffloadMinutes float64        `json:"pickup_to_offload_minutes"`
	OffloadToReturnMinutes float64        `json:"offload_to_return_minutes"`
	TurnaroundMinutes      float64        `json:"turnaround_minutes"`
	ActiveTrucks           int            `json:"active_trucks"`
	TrucksOnTrips          int            `json:"trucks_on_trips"` // with at least one trip-hour
	TripHours              float64        `json:"trip_hours"`
	Utilisation            float64        `json:"utilisation"`      // TrucksOnTrips / ActiveTrucks
	TimeUtilisation        float64        `json:"time_utilisation"` // TripHours / (ActiveTrucks × 24 h)
	DistanceKm             float64        `json:"distance_km"`
	IdleHours              float64        `json:"idle_hours"` // ignition on, not moving
	Delays                 int            `json:"delays"`     // delays that began during the day
	AlertsByKind           map[string]int `json:"alerts_by_kind"`
	Dwell                  []PlaceDwell   `json:"dwell"` // by place, longest first
}

// PlaceDwell is the time trucks spent at a place during the day.
type PlaceDwell struct {
	Code    string  `json:"code"`
	Kind    string  `json:"kind"`
	Visits  int     `json:"visits"`
	Minutes float64 `json:"minutes"` // in the day, summed
}

// ComputeDay computes the KPIs of the local day starting at dayStart (in
// zone), stores them (daily_fleet_metrics, and daily_metrics per truck)
// and returns them. Recomputing a day that is over writes the same rows;
// tolerance is the on-time grace, and now bounds a day not over yet.
func (db *DB) ComputeDay(ctx context.Context, dayStart time.Time, zone *time.Location, tolerance time.Duration, now time.Time) (DayKPIs, error) {
	y, m, d := dayStart.In(zone).Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, zone)
	to := from.AddDate(0, 0, 1)
	// Open stays and trips count up to now on a day not over yet.
	until := to
	if now.Before(until) {
		until = now
	}
	k := DayKPIs{Day: from.Format(time.DateOnly), OnTimeMinutes: int(tolerance.Minutes()), AlertsByKind: map[string]int{}}
	perTruck, err := db.truckDays(ctx, from, to)
	if err != nil {
		return k, fmt.Errorf("store: compute day %s: %w", k.Day, err)
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var p2o, o2r, tat *float64
		if err := tx.QueryRow(ctx, `SELECT
				count(*) FILTER (WHERE actual_departure >= $1 AND actual_departure < $2),
				count(*) FILTER (WHERE actual_departure >= $1 AND actual_departure < $2 AND actual_departure <= scheduled_departure + $3::interval),
				count(*) FILTER (WHERE offloaded_at >= $1 AND offloaded_at < $2),
				count(*) FILTER (WHERE offloaded_at >= $1 AND offloaded_at < $2 AND offloaded_at <= coalesce(planned_arrival, scheduled_departure) + $3::interval),
				count(*) FILTER (WHERE returned_at >= $1 AND returned_at < $2 AND at_pickup_at IS NOT NULL AND offloaded_at IS NOT NULL),
				avg(extract(epoch FROM offloaded_at - at_pickup_at) / 60) FILTER (WHERE returned_at >= $1 AND returned_at < $2 AND at_pickup_at IS NOT NULL AND offloaded_at IS NOT NULL),
				avg(extract(epoch FROM returned_at - offloaded_at) / 60) FILTER (WHERE returned_at >= $1 AND returned_at < $2 AND at_pickup_at IS NOT NULL AND offloaded_at IS NOT NULL),
				avg(extract(epoch FROM returned_at - at_pickup_at) / 60) FILTER (WHERE returned_at >= $1 AND returned_at < $2 AND at_pickup_at IS NOT NULL AND offloaded_at IS NOT NULL)
			FROM trips WHERE status <> 'cancelled'`, from, to, tolerance).Scan(&k.TripsStarted, &k.OnTimeDepartures,
			&k.TripsCompleted, &k.OnTimeDeliveries, &k.TurnaroundTrips, &p2o, &o2r, &tat); err != nil {
			return fmt.Errorf("trips: %w", err)
		}
		k.PickupToOffloadMinutes, k.OffloadToReturnMinutes, k.TurnaroundMinutes = deref(p2o), deref(o2r), deref(tat)

		// Utilisation: a trip runs from arriving at pickup (or leaving it)
		// to back at base (or closed, or the day's end).
		if err := tx.QueryRow(ctx, `WITH span AS (
				SELECT truck_id, greatest(coalesce(at_pickup_at, actual_departure), $1) AS s,
					least(coalesce(returned_at, closed_at, $2), $2) AS e
				FROM trips WHERE status <> 'cancelled' AND coalesce(at_pickup_at, actual_departure) < $2
				  AND coalesce(returned_at, closed_at, $2) > $1)
			SELECT (SELECT count(*) FROM trucks WHERE status = 'active'),
				count(DISTINCT truck_id) FILTER (WHERE e - s >= interval '1 hour'),
				coalesce(sum(extract(epoch FROM e - s)) / 3600, 0)
			FROM span WHERE e > s`, from, until).Scan(&k.ActiveTrucks, &k.TrucksOnTrips, &k.TripHours); err != nil {
			return fmt.Errorf("utilisation: %w", err)
		}
		if k.ActiveTrucks > 0 {
			k.Utilisation = float64(k.TrucksOnTrips) / float64(k.ActiveTrucks)
			k.TimeUtilisation = k.TripHours / (float64(k.ActiveTrucks) * until.Sub(from).Hours())
		}

		// Per truck, from the positions (read before, in parallel):
		// written to daily_metrics.
		if _, err := tx.Exec(ctx, `DELETE FROM daily_metrics WHERE day = $1`, from.Format(time.DateOnly)); err != nil {
			return err
		}
		ids := make([]int64, len(perTruck))
		km, moving, idle := make([]float64, len(perTruck)), make([]float64, len(perTruck)), make([]float64, len(perTruck))
		for i, x := range perTruck {
			ids[i], km[i], moving[i], idle[i] = x.id, x.km, x.moving, x.idle
		}
		if _, err := tx.Exec(ctx, `INSERT INTO daily_metrics (day, truck_id, distance_km, moving_minutes, idle_minutes, trips_completed, turnaround_minutes)
			SELECT $1::date, u.id, u.km, u.moving, u.idle,
				(SELECT count(*) FROM trips t WHERE t.truck_id = u.id AND t.offloaded_at >= $2 AND t.offloaded_at < $3),
				(SELECT avg(extract(epoch FROM t.returned_at - t.at_pickup_at) / 60) FROM trips t
				 WHERE t.truck_id = u.id AND t.returned_at >= $2 AND t.returned_at < $3 AND t.at_pickup_at IS NOT NULL)
			FROM unnest($4::bigint[], $5::float8[], $6::float8[], $7::float8[]) AS u(id, km, moving, idle)`,
			from.Format(time.DateOnly), from, to, ids, km, moving, idle); err != nil {
			return fmt.Errorf("per truck: %w", err)
		}
		var idleMin float64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(distance_km), 0), coalesce(sum(idle_minutes), 0) FROM daily_metrics WHERE day = $1`,
			from.Format(time.DateOnly)).Scan(&k.DistanceKm, &idleMin); err != nil {
			return err
		}
		k.IdleHours = idleMin / 60

		// Dwell per place: visits overlapping the day, clipped to it.
		rows, err := tx.Query(ctx, `SELECT l.code, l.kind, count(*),
				sum(extract(epoch FROM least(coalesce(v.exited_at, $2), $2) - greatest(v.entered_at, $1))) / 60 AS minutes
			FROM geofence_visits v JOIN locations l ON l.id = v.location_id
			WHERE v.entered_at < $2 AND coalesce(v.exited_at, $2) > $1
			GROUP BY l.code, l.kind ORDER BY minutes DESC, l.code`, from, until)
		if err != nil {
			return fmt.Errorf("dwell: %w", err)
		}
		if k.Dwell, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PlaceDwell, error) {
			var p PlaceDwell
			err := r.Scan(&p.Code, &p.Kind, &p.Visits, &p.Minutes)
			return p, err
		}); err != nil {
			return fmt.Errorf("dwell: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM trip_events WHERE kind = 'delay_started' AND at >= $1 AND at < $2`,
			from, to).Scan(&k.Delays); err != nil {
			return fmt.Errorf("delays: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT kind, count(*) FROM alerts WHERE started_at >= $1 AND started_at < $2 GROUP BY kind`, from, to)
		if err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		var kind string
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&kind, &n}, func() error { k.AlertsByKind[kind] = n; return nil }); err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		body, err := json.Marshal(k)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO daily_fleet_metrics (day, kpis) VALUES ($1, $2)
			ON CONFLICT (day) DO UPDATE SET kpis = EXCLUDED.kpis, computed_at = now()`, from.Format(time.DateOnly), body)
		return err
	})
	if err != nil {
		return DayKPIs{}, fmt.Errorf("store: compute day %s: %w", k.Day, err)
	}
	return k, nil
}

// PeriodKPIs returns the KPIs of each local day in [from, to): a day that
// is over and was computed after it ended, with the same on-time grace, is
// read as stored; any other is computed now (and stored).
func (db *DB) PeriodKPIs(ctx context.Context, from, to time.Time, zone *time.Location, tolerance time.Duration, now time.Time) ([]DayKPIs, error) {
	var out []DayKPIs
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		end := d.AddDate(0, 0, 1)
		var body []byte
		var computed time.Time
		err := db.conn.QueryRow(ctx, `SELECT kpis, computed_at FROM daily_fleet_metrics WHERE day = $1`,
			d.Format(time.DateOnly)).Scan(&body, &computed)
		if err == nil && !end.After(now) && !computed.Before(end) {
			var k DayKPIs
			if err := json.Unmarshal(body, &k); err == nil && k.OnTimeMinutes == int(tolerance.Minutes()) {
				out = append(out, k)
				continue
			}
		} else if err != nil && !noRows(err) {
			return nil, fmt.Errorf("store: day %s: %w", d.Format(time.DateOnly), err)
		}
		k, err := db.ComputeDay(ctx, d, zone, tolerance, now)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// TruckIdle is a truck's idle time on a day.
type TruckIdle struct {
	Truck   string
	Minutes float64
}

// TopIdle returns the trucks that idled longest over the days first..last
// (YYYY-MM-DD; from daily_metrics, as ComputeDay stored them).
func (db *DB) TopIdle(ctx context.Context, first, last string, n int) ([]TruckIdle, error) {
	rows, err := db.conn.Query(ctx, `SELECT t.number, sum(m.idle_minutes) AS idle FROM daily_metrics m JOIN trucks t ON t.id = m.truck_id
		WHERE m.day BETWEEN $1 AND $2 AND m.idle_minutes > 0 GROUP BY t.number ORDER BY idle DESC, t.number LIMIT $3`, first, last, n)
	if err != nil {
		return nil, fmt.Errorf("store: top idle: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TruckIdle, error) {
		var x TruckIdle
		err := r.Scan(&x.Truck, &x.Minutes)
		return x, err
	})
}

// DelayedOn returns the trips whose delay began in [from, to).
func (db *DB) DelayedOn(ctx context.Context, from, to time.Time, n int) ([]Trip, error) {
	rows, err := db.conn.Query(ctx, `SELECT `+tripColumns+` FROM `+tripFrom+`
		WHERE tr.id IN (SELECT trip_id FROM trip_events WHERE kind = 'delay_started' AND at >= $1 AND at < $2)
		ORDER BY tr.scheduled_departure, tr.id LIMIT $3`, from, to, n)
	if err != nil {
		return nil, fmt.Errorf("store: delayed on: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trip, error) { return scanTrip(r) })
}

// SilentOn returns the trucks whose tracker went silent in [from, to).
func (db *DB) SilentOn(ctx context.Context, from, to time.Time) ([]string, error) {
	rows, err := db.conn.Query(ctx, `SELECT DISTINCT t.number FROM alerts a JOIN trucks t ON t.id = a.truck_id
		WHERE a.kind = 'device_offline' AND a.started_at >= $1 AND a.started_at < $2 ORDER BY t.number`, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: silent on: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ReportMessage returns where a day's report (weekly: the week ending that
// day) was posted ("" if not yet).
func (db *DB) ReportMessage(ctx context.Context, day string, weekly bool) (channel, ts string, err error) {
	q := `SELECT slack_channel, slack_ts FROM daily_fleet_metrics WHERE day = $1`
	if weekly {
		q = `SELECT weekly_slack_channel, weekly_slack_ts FROM daily_fleet_metrics WHERE day = $1`
	}
	err = db.conn.QueryRow(ctx, q, day).Scan(&channel, &ts)
	if noRows(err) {
		return "", "", nil
	}
	return channel, ts, err
}

// SetReportMessage records where a day's (or a week's) report was posted.
func (db *DB) SetReportMessage(ctx context.Context, day string, weekly bool, channel, ts string) error {
	q := `UPDATE daily_fleet_metrics SET slack_channel = $2, slack_ts = $3 WHERE day = $1`
	if weekly {
		q = `UPDATE daily_fleet_metrics SET weekly_slack_channel = $2, weekly_slack_ts = $3 WHERE day = $1`
	}
	_, err := db.conn.Exec(ctx, q, day, channel, ts)
	return err
}

// SumKPIs adds days up into one period's KPIs: counts and hours summed,
// turnaround weighted by its trips, utilisation averaged, dwell merged.
func SumKPIs(days []DayKPIs) DayKPIs {
	var k DayKPIs
	if len(days) == 0 {
		return k
	}
	k.Day = days[0].Day + " – " + days[len(days)-1].Day
	k.AlertsByKind = map[string]int{}
	dwell := map[string]*PlaceDwell{}
	var p2o, o2r, tat float64
	for _, d := range days {
		k.TripsStarted += d.TripsStarted
		k.TripsCompleted += d.TripsCompleted
		k.OnTimeDepartures += d.OnTimeDepartures
		k.OnTimeDeliveries += d.OnTimeDeliveries
		k.TurnaroundTrips += d.TurnaroundTrips
		p2o += d.PickupToOffloadMinutes * float64(d.TurnaroundTrips)
		o2r += d.OffloadToReturnMinutes * float64(d.TurnaroundTrips)
		tat += d.TurnaroundMinutes * float64(d.TurnaroundTrips)
		k.ActiveTrucks = max(k.ActiveTrucks, d.ActiveTrucks)
		k.TrucksOnTrips = max(k.TrucksOnTrips, d.TrucksOnTrips)
		k.TripHours += d.TripHours
		k.Utilisation += d.Utilisation / float64(len(days))
		k.TimeUtilisation += d.TimeUtilisation / float64(len(days))
		k.DistanceKm += d.DistanceKm
		k.IdleHours += d.IdleHours
		k.Delays += d.Delays
		for kind, n := range d.AlertsByKind {
			k.AlertsByKind[kind] += n
		}
		for _, p := range d.Dwell {
			if dwell[p.Code] == nil {
				dwell[p.Code] = &PlaceDwell{Code: p.Code, Kind: p.Kind}
			}
			dwell[p.Code].Visits += p.Visits
			dwell[p.Code].Minutes += p.Minutes
		}
	}
	if k.TurnaroundTrips > 0 {
		n := float64(k.TurnaroundTrips)
		k.PickupToOffloadMinutes, k.OffloadToReturnMinutes, k.TurnaroundMinutes = p2o/n, o2r/n, tat/n
	}
	for _, p := range dwell {
		k.Dwell = append(k.Dwell, *p)
	}
	slices.SortFunc(k.Dwell, func(a, b PlaceDwell) int {
		return cmp.Or(cmp.Compare(b.Minutes, a.Minutes), cmp.Compare(a.Code, b.Code))
	})
	return k
}

// truckDay is one truck's day from its positions.
type truckDay struct {
	id               int64
	km, moving, idle float64
}

// truckDays reads every truck's day from the positions: distance (legs
// over 150 km/h implied are GPS jumps, left out), minutes moving, and
// minutes idling with the engine on (legs longer than idleLegMax are a
// silent tracker, not idling). The trucks are split over two connections,
// one per core, when the store has a pool.
func (db *DB) truckDays(ctx context.Context, from, to time.Time) ([]truckDay, error) {
	parts := 1
	if db.pool != nil {
		parts = 2
	}
	out := make([][]truckDay, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			rows, err := db.conn.Query(ctx, `WITH f AS (
					SELECT truck_id, fix_time, position, speed_kmh, ignition,
						lag(position) OVER w AS prev_pos, lag(fix_time) OVER w AS prev_time,
						lag(speed_kmh) OVER w AS prev_speed, lag(ignition) OVER w AS prev_ign
					FROM vehicle_positions WHERE fix_time >= $1 AND fix_time < $2 AND truck_id % $6 = $7
					WINDOW w AS (PARTITION BY truck_id ORDER BY fix_time)),
				legs AS (
					SELECT truck_id, ST_Distance(prev_pos, position, false) AS metres, extract(epoch FROM fix_time - prev_time) AS secs,
						prev_speed, prev_ign FROM f WHERE prev_pos IS NOT NULL)
				SELECT truck_id,
					coalesce(sum(metres) FILTER (WHERE secs > 0 AND metres / secs * 3.6 <= $3), 0) / 1000,
					coalesce(sum(secs) FILTER (WHERE prev_speed > $4 AND secs <= $5), 0) / 60,
					coalesce(sum(secs) FILTER (WHERE coalesce(prev_speed, 0) <= $4 AND prev_ign AND secs <= $5), 0) / 60
				FROM legs GROUP BY truck_id ORDER BY truck_id`, from, to, glitchKmh, idleKmh, idleLegMax.Seconds(), parts, p)
			if err != nil {
				errs[p] = err
				return
			}
			out[p], errs[p] = pgx.CollectRows(rows, func(r pgx.CollectableRow) (truckDay, error) {
				var x truckDay
				err := r.Scan(&x.id, &x.km, &x.moving, &x.idle)
				return x, err
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	all := slices.Concat(out...)
	slices.SortFunc(all, func(a, b truckDay) int { return cmp.Compare(a.id, b.id) })
	return all, nil
}

// TruckPeriod is one truck's numbers summed over days, from daily_metrics
// as ComputeDay stored them.
type TruckPeriod struct {
	Truck             string
	Days              int // days with any movement
	DistanceKm        float64
	MovingMinutes     float64
	IdleMinutes       float64
	TripsCompleted    int
	TurnaroundMinutes *float64 // average over the days that had one
}

// TruckPeriods returns every truck's numbers over the days first..last
// (YYYY-MM-DD, inclusive), busiest first.
func (db *DB) TruckPeriods(ctx context.Context, first, last string) ([]TruckPeriod, error) {
	rows, err := db.conn.Query(ctx, `SELECT t.number, count(*) FILTER (WHERE m.moving_minutes > 0),
			sum(m.distance_km), sum(m.moving_minutes), sum(m.idle_minutes), sum(m.trips_completed), avg(m.turnaround_minutes)
		FROM daily_metrics m JOIN trucks t ON t.id = m.truck_id
		WHERE m.day BETWEEN $1::date AND $2::date
		GROUP BY t.number ORDER BY sum(m.moving_minutes) DESC, t.number`, first, last)
	if err != nil {
		return nil, fmt.Errorf("store: truck periods: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TruckPeriod, error) {
		var p TruckPeriod
		err := r.Scan(&p.Truck, &p.Days, &p.DistanceKm, &p.MovingMinutes, &p.IdleMinutes, &p.TripsCompleted, &p.TurnaroundMinutes)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: truck periods: %w", err)
	}
	return out, nil
}

// Turnaround is one trip's turnaround: pickup arrival → offload → back at
// base, as the KPIs define it.
type Turnaround struct {
	TripVPCID, Truck, Pickup, Delivery string
	AtPickup, Offloaded, Returned      time.Time
}

// Turnarounds returns the trips back at base in [from, to), optionally of
// one truck (normalised plate), latest first, at most limit, and how many
// there are in all.
func (db *DB) Turnarounds(ctx context.Context, from, to time.Time, truck string, limit int) ([]Turnaround, int, error) {
	rows, err := db.conn.Query(ctx, `SELECT tr.vpc_id, t.number, p.code, d.code, tr.at_pickup_at, coalesce(tr.offloaded_at, tr.returned_at), tr.returned_at,
			count(*) OVER ()
		FROM trips tr JOIN trucks t ON t.id = tr.truck_id
			JOIN locations p ON p.id = tr.pickup_id JOIN locations d ON d.id = tr.delivery_id
		WHERE tr.returned_at >= $1 AND tr.returned_at < $2 AND tr.at_pickup_at IS NOT NULL AND ($3 = '' OR t.number = $3)
		ORDER BY tr.returned_at DESC, tr.id DESC LIMIT $4`, from, to, truck, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("store: turnarounds: %w", err)
	}
	total := 0
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Turnaround, error) {
		var x Turnaround
		err := r.Scan(&x.TripVPCID, &x.Truck, &x.Pickup, &x.Delivery, &x.AtPickup, &x.Offloaded, &x.Returned, &total)
		return x, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: turnarounds: %w", err)
	}
	return out, total, nil
}
