package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Milestone names, in the order a trip passes them.
const (
	MilestoneScheduled  = "scheduled"
	MilestoneAtPickup   = "at_pickup"
	MilestoneDeparted   = "departed"
	MilestoneAtDelivery = "at_delivery"
	MilestoneDelivered  = "delivered"
	MilestoneReturned   = "returned"
	MilestoneClosed     = "closed"
)

// Trip event kinds: what the alert channel is told, threaded under the
// trip's message.
const (
	EventAtPickup          = "at_pickup"
	EventDepartedPickup    = "departed_pickup"
	EventAtDelivery        = "at_delivery"
	EventDelivered         = "delivered"
	EventDepartedDelivery  = "departed_delivery"
	EventReturned          = "returned"
	EventDelayStarted      = "delay_started"
	EventDelayCleared      = "delay_cleared"
	EventExceptionIdle     = "exception_idle"
	EventExceptionOffline  = "exception_offline"
	EventLocoNavDelayed    = "loconav_delayed"
	EventLocoNavUnsuccess  = "loconav_unsuccessful"
	EventLocoNavCompleted  = "loconav_completed"
	delayReasonDeparture   = "departure"
	delayReasonETA         = "eta"
	departureDelaySeq      = 1 // the departure delay is the first; ETA delays count from 2
	followLookback         = 3 * 24 * time.Hour
	etaSpeedWindow         = 30 * time.Minute
	minMovingKmh           = 5.0
	minETASpeedKmh         = 15.0
	detourMin, detourMax   = 1.0, 3.0
	calibrationMinTrips    = 3
	calibrationTripsToRead = 50
)

// FollowRules say how trips follow themselves.
type FollowRules struct {
	// WindowBefore is how long before its scheduled departure a trip may
	// begin: arriving at the pickup earlier is not this trip yet.
	WindowBefore time.Duration
	// OffloadDwell delivers a trip that stays this long at its delivery.
	OffloadDwell time.Duration
	// DelayAfter is the grace: not left pickup this long after the
	// scheduled departure, or an ETA this much later than planned, is
	// delayed.
	DelayAfter time.Duration
	// PlanSpeedKmh and Detour plan a trip's arrival when none is given:
	// the great-circle distance times Detour at this speed.
	PlanSpeedKmh float64
	// Detour is the road distance over the great-circle distance when the
	// fleet's own trips cannot calibrate it yet.
	Detour float64
}

// DefaultFollowRules are the fleet's.
func DefaultFollowRules() FollowRules {
	return FollowRules{WindowBefore: 12 * time.Hour, OffloadDwell: 45 * time.Minute, DelayAfter: 2 * time.Hour,
		PlanSpeedKmh: 35, Detour: 1.3}
}

// VisitSpan is a visit as milestones need it.
type VisitSpan struct {
	LocationID int64
	Kind       string // the location's kind
	Entered    time.Time
	Exited     *time.Time
}

// Milestones are a trip's milestone times (fix times); nil not yet.
type Milestones struct {
	AtPickup, Departed, AtDelivery, Delivered, DepartedDelivery, Returned *time.Time
}

// Current is the latest milestone reached.
func (m Milestones) Current() string {
	switch {
	case m.Returned != nil:
		return MilestoneClosed
	case m.Delivered != nil:
		return MilestoneDelivered
	case m.AtDelivery != nil:
		return MilestoneAtDelivery
	case m.Departed != nil:
		return MilestoneDeparted
	case m.AtPickup != nil:
		return MilestoneAtPickup
	}
	return MilestoneScheduled
}

// DeriveMilestones reads a trip's milestones from its truck's visits
// (sorted by entry), as of now. The trip begins at the first pickup visit
// that lasts into its window (which opens at open); it departs when that
// visit ends; it is at delivery at the first delivery visit after that; it
// is delivered when it leaves, or once it has stayed offload; it is back
// at the first depot or terminal after leaving delivery. The same visits
// always give the same milestones, however the fixes arrived.
func DeriveMilestones(pickup, delivery int64, open time.Time, visits []VisitSpan, offload time.Duration, now time.Time) Milestones {
	var m Milestones
	i := slices.IndexFunc(visits, func(v VisitSpan) bool {
		return v.LocationID == pickup && (v.Exited == nil || v.Exited.After(open)) && v.Entered.Before(now.Add(time.Second))
	})
	if i < 0 {
		return m
	}
	pv := visits[i]
	at := pv.Entered
	if at.Before(open) {
		at = open
	}
	m.AtPickup = &at
	if pv.Exited == nil {
		return m
	}
	m.Departed = ptr(*pv.Exited)
	j := slices.IndexFunc(visits, func(v VisitSpan) bool { return v.LocationID == delivery && !v.Entered.Before(*m.Departed) })
	if j < 0 {
		return m
	}
	dv := visits[j]
	m.AtDelivery = ptr(dv.Entered)
	offloaded := dv.Entered.Add(offload)
	switch {
	case dv.Exited != nil && dv.Exited.Before(offloaded):
		m.Delivered = ptr(*dv.Exited)
	case dv.Exited != nil || !now.Before(offloaded):
		m.Delivered = &offloaded
	}
	if dv.Exited == nil {
		return m
	}
	m.DepartedDelivery = ptr(*dv.Exited)
	k := slices.IndexFunc(visits, func(v VisitSpan) bool {
		return v.LocationID != delivery && !v.Entered.Before(*dv.Exited) && (v.Kind == LocationDepot || v.Kind == LocationTerminal)
	})
	if k >= 0 {
		m.Returned = ptr(visits[k].Entered)
	}
	return m
}

func ptr[T any](v T) *T { return &v }

// followedTrip is a trip and what following it needs.
type followedTrip struct {
	Trip
	milestone                    string
	atPickup, returned           *time.Time
	plannedArrival, eta          *time.Time
	delayedSince                 *time.Time
	delayReason                  string
	pickupCenter, deliveryCenter Point
	pickupLoc, deliveryLoc       int64
}

// TripEvent is an event of a trip for the alert channel.
type TripEvent struct {
	ID          int64
	TripID      int64
	TripVPCID   string
	TruckNumber string
	Kind        string
	Seq         int
	At          time.Time
	Details     map[string]any
}

// FollowTrips brings the trips of these trucks (nil: every truck) up to
// date as of now: milestones from the visits, delay, ETA, status, and the
// events the channel is told, once each. Cancelled and closed trips are
// not followed. It returns the events it added.
func (db *DB) FollowTrips(ctx context.Context, trucks []string, now time.Time, rules FollowRules) ([]TripEvent, error) {
	var truckIDs []int64
	rows, err := db.conn.Query(ctx, `SELECT DISTINCT tr.truck_id FROM trips tr JOIN trucks t ON t.id = tr.truck_id
		WHERE tr.closed_at IS NULL AND tr.status <> 'cancelled' AND tr.scheduled_departure <= $2
		  AND ($1::text[] IS NULL OR t.number = ANY($1))`, trucks, now.Add(rules.WindowBefore))
	if err != nil {
		return nil, fmt.Errorf("store: follow trips: %w", err)
	}
	if truckIDs, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return nil, fmt.Errorf("store: follow trips: %w", err)
	}
	if len(truckIDs) == 0 {
		return nil, nil
	}
	detour := db.detour(ctx, rules.Detour)
	var out []TripEvent
	for _, id := range truckIDs {
		evs, err := db.followTruck(ctx, id, now, rules, detour)
		if err != nil {
			return out, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// followInTx follows the trips of these trucks inside a fold's
// transaction, which holds their tracking locks, under a savepoint: a
// failure here undoes only the following, never the fixes.
func (db *DB) followInTx(ctx context.Context, tx pgx.Tx, trucks []string, now time.Time, rules FollowRules) ([]TripEvent, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT tr.truck_id FROM trips tr JOIN trucks t ON t.id = tr.truck_id
		WHERE tr.closed_at IS NULL AND tr.status <> 'cancelled' AND tr.scheduled_departure <= $2 AND t.number = ANY($1)`,
		trucks, now.Add(rules.WindowBefore))
	if err != nil {
		return nil, fmt.Errorf("store: follow trips: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	detour := db.detour(ctx, rules.Detour)
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	var out []TripEvent
	for _, id := range ids {
		evs, err := followTruckTx(ctx, sp, id, now, rules, detour)
		if err != nil {
			_ = sp.Rollback(ctx)
			return nil, fmt.Errorf("store: follow truck %d: %w", id, err)
		}
		out = append(out, evs...)
	}
	return out, sp.Commit(ctx)
}

// followTruck follows one truck's trips in one transaction, under the
// truck's tracking lock so that it sees a finished fold.
func (db *DB) followTruck(ctx context.Context, truckID int64, now time.Time, rules FollowRules, detour float64) ([]TripEvent, error) {
	var out []TripEvent
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2::int)`, trackLockSpace, truckID); err != nil {
			return err
		}
		var err error
		out, err = followTruckTx(ctx, tx, truckID, now, rules, detour)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: follow truck %d: %w", truckID, err)
	}
	return out, nil
}

// followTruckTx follows one truck's trips; the caller holds its lock.
func followTruckTx(ctx context.Context, tx pgx.Tx, truckID int64, now time.Time, rules FollowRules, detour float64) ([]TripEvent, error) {
	var out []TripEvent
	err := func() error {
		trips, err := loadFollowed(ctx, tx, truckID, now.Add(-followLookback), now.Add(rules.WindowBefore))
		if err != nil || len(trips) == 0 {
			return err
		}
		visits, err := loadSpans(ctx, tx, truckID, trips[0].ScheduledDeparture.Add(-rules.WindowBefore))
		if err != nil {
			return err
		}
		var prevDeparted *time.Time
		for i := range trips {
			t := &trips[i]
			following := t.ClosedAt == nil && t.Status != TripCancelled
			if t.Status == TripCancelled {
				continue
			}
			if !following {
				prevDeparted = t.ActualDeparture
				continue
			}
			open := t.ScheduledDeparture.Add(-rules.WindowBefore)
			if i > 0 && prevDeparted == nil {
				// The truck has not left on its earlier trip: this one
				// cannot have begun.
				open = now.Add(time.Hour)
			} else if prevDeparted != nil && prevDeparted.After(open) {
				open = *prevDeparted
			}
			m := DeriveMilestones(t.pickupLoc, t.deliveryLoc, open, visits, rules.OffloadDwell, now)
			evs, err := applyFollow(ctx, tx, t, m, now, rules, detour)
			if err != nil {
				return err
			}
			out = append(out, evs...)
			prevDeparted = m.Departed
		}
		return nil
	}()
	return out, err
}

func loadFollowed(ctx context.Context, tx pgx.Tx, truckID int64, from, to time.Time) ([]followedTrip, error) {
	rows, err := tx.Query(ctx, `SELECT tr.id, tr.vpc_id, t.number, tr.pickup_id, tr.delivery_id, p.code, d.code,
			ST_Y(p.center::geometry), ST_X(p.center::geometry), ST_Y(d.center::geometry), ST_X(d.center::geometry),
			tr.status, tr.status_manual, tr.scheduled_departure, tr.actual_departure, tr.arrived_at, tr.offloaded_at,
			tr.closed_at, tr.milestone, tr.at_pickup_at, tr.returned_at, tr.planned_arrival, tr.eta, tr.delayed_since, tr.delay_reason
		FROM trips tr JOIN trucks t ON t.id = tr.truck_id JOIN locations p ON p.id = tr.pickup_id JOIN locations d ON d.id = tr.delivery_id
		WHERE tr.truck_id = $1 AND tr.scheduled_departure >= $2 AND tr.scheduled_departure <= $3
		ORDER BY tr.scheduled_departure, tr.id FOR UPDATE OF tr`, truckID, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (followedTrip, error) {
		var t followedTrip
		err := r.Scan(&t.ID, &t.VPCID, &t.TruckNumber, &t.pickupLoc, &t.deliveryLoc, &t.Pickup, &t.Delivery,
			&t.pickupCenter.Lat, &t.pickupCenter.Lon, &t.deliveryCenter.Lat, &t.deliveryCenter.Lon,
			&t.Status, &t.StatusManual, &t.ScheduledDeparture, &t.ActualDeparture, &t.ArrivedAt, &t.OffloadedAt,
			&t.ClosedAt, &t.milestone, &t.atPickup, &t.returned, &t.plannedArrival, &t.eta, &t.delayedSince, &t.delayReason)
		return t, err
	})
}

func loadSpans(ctx context.Context, tx pgx.Tx, truckID int64, from time.Time) ([]VisitSpan, error) {
	rows, err := tx.Query(ctx, `SELECT v.location_id, l.kind, v.entered_at, v.exited_at
		FROM geofence_visits v JOIN locations l ON l.id = v.location_id
		WHERE v.truck_id = $1 AND (v.exited_at IS NULL OR v.exited_at >= $2)
		ORDER BY v.entered_at, v.location_id`, truckID, from)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (VisitSpan, error) {
		var v VisitSpan
		err := r.Scan(&v.LocationID, &v.Kind, &v.Entered, &v.Exited)
		return v, err
	})
}

// statusRank orders statuses so that automatic progress only moves a
// person's choice forward.
var statusRank = map[string]int{TripPlanned: 0, TripOngoing: 1, TripDelayed: 1, TripCompleted: 2, TripUnsuccessful: 2, TripCancelled: 3}

// applyFollow writes a trip's milestones, ETA, delay and status, and adds
// the events they imply.
func applyFollow(ctx context.Context, tx pgx.Tx, t *followedTrip, m Milestones, now time.Time, rules FollowRules, detour float64) ([]TripEvent, error) {
	planned := t.plannedArrival
	if planned == nil {
		km := greatCircleKm(t.pickupCenter, t.deliveryCenter) * detour
		planned = ptr(t.ScheduledDeparture.Add(time.Duration(km / rules.PlanSpeedKmh * float64(time.Hour))).Truncate(time.Second))
	}
	var eta *time.Time
	switch {
	case m.AtDelivery != nil:
		eta = m.AtDelivery
	case m.Departed != nil:
		var err error
		if eta, err = estimateArrival(ctx, tx, t, *m.Departed, now, detour); err != nil {
			return nil, err
		}
	}
	// Delay: not left pickup DelayAfter past the departure, or an ETA more
	// than DelayAfter later than planned.
	late := t.ScheduledDeparture.Add(rules.DelayAfter)
	delayed, reason := false, ""
	switch {
	case m.Departed == nil && !now.Before(late):
		delayed, reason = true, delayReasonDeparture
	case m.Departed != nil && m.AtDelivery == nil && eta != nil && eta.After(planned.Add(rules.DelayAfter)):
		delayed, reason = true, delayReasonETA
	}
	var since *time.Time
	switch {
	case delayed && reason == delayReasonDeparture:
		since = &late
	case delayed && t.delayReason == delayReasonETA && t.delayedSince != nil:
		since = t.delayedSince
	case delayed:
		since = &now
	}

	var evs []TripEvent
	add := func(kind string, seq int, at *time.Time, details map[string]any) {
		if at != nil {
			evs = append(evs, TripEvent{TripID: t.ID, TripVPCID: t.VPCID, TruckNumber: t.TruckNumber, Kind: kind, Seq: seq, At: *at, Details: details})
		}
	}
	add(EventAtPickup, 1, m.AtPickup, map[string]any{"place": t.Pickup})
	add(EventDepartedPickup, 1, m.Departed, map[string]any{"place": t.Pickup})
	add(EventAtDelivery, 1, m.AtDelivery, map[string]any{"place": t.Delivery})
	add(EventDelivered, 1, m.Delivered, map[string]any{"place": t.Delivery})
	add(EventDepartedDelivery, 1, m.DepartedDelivery, map[string]any{"place": t.Delivery})
	add(EventReturned, 1, m.Returned, nil)
	// The departure delay is a fact of the fixes: it began DelayAfter past
	// the departure and ended when the truck left.
	if m.Departed == nil && !now.Before(late) || m.Departed != nil && m.Departed.After(late) {
		add(EventDelayStarted, departureDelaySeq, &late, map[string]any{"reason": "not left pickup " + spell(rules.DelayAfter) + " after the scheduled departure"})
		add(EventDelayCleared, departureDelaySeq, m.Departed, map[string]any{"reason": "left pickup"})
	}
	// An ETA delay is noticed: it starts and clears when seen.
	if (reason == delayReasonETA) != (t.delayReason == delayReasonETA) {
		etaSeq, err := nextSeq(ctx, tx, t.ID, EventDelayStarted)
		if err != nil {
			return nil, err
		}
		etaSeq = max(etaSeq, departureDelaySeq+1)
		if reason == delayReasonETA {
			add(EventDelayStarted, etaSeq, &now, map[string]any{"reason": "arriving late: the ETA is more than " + spell(rules.DelayAfter) + " past the planned arrival",
				"eta": eta.UTC().Format(time.RFC3339), "planned_arrival": planned.UTC().Format(time.RFC3339)})
		} else {
			add(EventDelayCleared, etaSeq-1, &now, map[string]any{"reason": "ETA back within plan"})
		}
	}
	exc, err := tripExceptions(ctx, tx, t, m, now)
	if err != nil {
		return nil, err
	}
	evs = append(evs, exc...)

	// Status: derived from the milestones; a person's choice only moves
	// forward.
	status := TripPlanned
	switch {
	case m.Delivered != nil:
		status = TripCompleted
	case delayed:
		status = TripDelayed
	case m.Departed != nil:
		status = TripOngoing
	}
	if t.Status == TripUnsuccessful || (t.StatusManual && statusRank[status] <= statusRank[t.Status]) {
		status = t.Status
	}
	var closed *time.Time
	if m.Returned != nil {
		closed = m.Returned
	}
	same := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	unchanged := same(t.atPickup, m.AtPickup) && same(t.ActualDeparture, m.Departed) && same(t.ArrivedAt, m.AtDelivery) &&
		same(t.OffloadedAt, m.Delivered) && same(t.returned, m.Returned) && t.milestone == m.Current() &&
		same(t.plannedArrival, planned) && same(t.eta, eta) && same(t.delayedSince, since) && t.delayReason == reason &&
		t.Status == status && same(t.ClosedAt, closed)
	if unchanged {
		return saveTripEvents(ctx, tx, t.ID, evs)
	}
	_, err = tx.Exec(ctx, `UPDATE trips SET at_pickup_at = $2, actual_departure = $3, arrived_at = $4, offloaded_at = $5,
			returned_at = $6, milestone = $7, planned_arrival = $8, eta = $9, delayed_since = $10, delay_reason = $11,
			status = $12, closed_at = $13, updated_at = now()
		WHERE id = $1 AND (at_pickup_at, actual_departure, arrived_at, offloaded_at, returned_at, milestone, planned_arrival, eta,
			delayed_since, delay_reason, status, closed_at) IS DISTINCT FROM ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		t.ID, m.AtPickup, m.Departed, m.AtDelivery, m.Delivered, m.Returned, m.Current(), planned, eta, since, reason, status, closed)
	if err != nil {
		return nil, err
	}
	if status != t.Status {
		if err := appendEvent(ctx, tx, Event{Actor: "watchtower", Action: "trip.follow", Subject: "trip:" + t.VPCID,
			Payload: map[string]any{"from": t.Status, "to": status, "milestone": m.Current()}}); err != nil {
			return nil, err
		}
	}
	return saveTripEvents(ctx, tx, t.ID, evs)
}

// saveTripEvents adds the events not yet recorded; a recorded one not yet
// posted takes the new time (a late fix moved it), and an unposted one
// whose milestone is gone (refolded away) is dropped. One statement.
func saveTripEvents(ctx context.Context, tx pgx.Tx, tripID int64, evs []TripEvent) ([]TripEvent, error) {
	kinds := make([]string, len(evs))
	seqs := make([]int32, len(evs))
	ats := make([]time.Time, len(evs))
	details := make([]string, len(evs))
	for i, e := range evs {
		kinds[i], seqs[i], ats[i] = e.Kind, int32(e.Seq), e.At
		details[i] = "{}"
		if e.Details != nil {
			b, _ := json.Marshal(e.Details)
			details[i] = string(b)
		}
	}
	rows, err := tx.Query(ctx, `WITH input AS (
			SELECT * FROM unnest($2::text[], $3::int[], $4::timestamptz[], $5::text[]) AS i(kind, seq, at, details)),
		gone AS (
			-- Only milestone events can be refolded away; delays,
			-- exceptions and LocoNav's reports stand.
			DELETE FROM trip_events e WHERE e.trip_id = $1 AND e.posted_at IS NULL AND e.kind = ANY($6)
			  AND NOT EXISTS (SELECT 1 FROM input i WHERE i.kind = e.kind AND i.seq = e.seq)),
		saved AS (
			INSERT INTO trip_events (trip_id, kind, seq, at, details)
			SELECT $1, kind, seq, at, details::jsonb FROM input
			ON CONFLICT (trip_id, kind, seq) DO UPDATE SET at = EXCLUDED.at
				WHERE trip_events.posted_at IS NULL AND trip_events.at <> EXCLUDED.at
			RETURNING id, kind, seq, xmax = 0 AS inserted)
		SELECT id, kind, seq FROM saved WHERE inserted`, tripID, kinds, seqs, ats, details,
		[]string{EventAtPickup, EventDepartedPickup, EventAtDelivery, EventDelivered, EventDepartedDelivery, EventReturned})
	if err != nil {
		return nil, err
	}
	type key struct {
		kind string
		seq  int
	}
	ids := map[key]int64{}
	var (
		id   int64
		kind string
		seq  int
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &kind, &seq}, func() error { ids[key{kind, seq}] = id; return nil }); err != nil {
		return nil, err
	}
	var added []TripEvent
	for _, e := range evs {
		if id, ok := ids[key{e.Kind, e.Seq}]; ok {
			e.ID = id
			added = append(added, e)
		}
	}
	return added, nil
}

func nextSeq(ctx context.Context, tx pgx.Tx, tripID int64, kind string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM trip_events WHERE trip_id = $1 AND kind = $2`, tripID, kind).Scan(&n)
	return n, err
}

// tripExceptions ties the truck's idling and silent-tracker alerts during
// the trip's run (left pickup, not yet at delivery) to the trip.
func tripExceptions(ctx context.Context, tx pgx.Tx, t *followedTrip, m Milestones, now time.Time) ([]TripEvent, error) {
	if m.Departed == nil {
		return nil, nil
	}
	end := now
	if m.AtDelivery != nil {
		end = *m.AtDelivery
	}
	rows, err := tx.Query(ctx, `UPDATE alerts a SET trip_id = $2
		FROM trucks t WHERE t.id = a.truck_id AND t.number = $1 AND a.trip_id IS NULL
		  AND a.kind = ANY($3) AND a.started_at >= $4 AND a.started_at < $5
		RETURNING a.id, a.kind, a.started_at`, t.TruckNumber, t.ID, []string{AlertIdle, AlertDeviceOffline}, *m.Departed, end)
	if err != nil {
		return nil, err
	}
	type hit struct {
		id      int64
		kind    string
		started time.Time
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hit, error) {
		var h hit
		err := r.Scan(&h.id, &h.kind, &h.started)
		return h, err
	})
	if err != nil {
		return nil, err
	}
	var evs []TripEvent
	for _, h := range hits {
		kind := EventExceptionIdle
		if h.kind == AlertDeviceOffline {
			kind = EventExceptionOffline
		}
		evs = append(evs, TripEvent{TripID: t.ID, TripVPCID: t.VPCID, TruckNumber: t.TruckNumber, Kind: kind,
			Seq: int(h.id), At: h.started, Details: map[string]any{"alert_id": h.id}})
	}
	return evs, nil
}

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

// TripEventsOf returns a trip's events, oldest first.
func (db *DB) TripEventsOf(ctx context.Context, vpcID string) ([]TripEvent, error) {
	rows, err := db.conn.Query(ctx, `SELECT e.id, e.trip_id, tr.vpc_id, t.number, e.kind, e.seq, e.at, e.details
		FROM trip_events e JOIN trips tr ON tr.id = e.trip_id JOIN trucks t ON t.id = tr.truck_id
		WHERE tr.vpc_id = $1 ORDER BY e.at, e.id`, vpcID)
	if err != nil {
		return nil, fmt.Errorf("store: trip events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanTripEvent)
	if err != nil {
		return nil, fmt.Errorf("store: trip events: %w", err)
	}
	return out, nil
}

func scanTripEvent(r pgx.CollectableRow) (TripEvent, error) {
	var e TripEvent
	err := r.Scan(&e.ID, &e.TripID, &e.TripVPCID, &e.TruckNumber, &e.Kind, &e.Seq, &e.At, &e.Details)
	return e, err
}

// TripNotice is a trip event with what its message needs.
type TripNotice struct {
	TripEvent
	Pickup, Delivery   string
	ScheduledDeparture time.Time
	TrackingURL        string
	// Channel and RootTS are the trip's message in the channel ("" until
	// its first event is posted).
	Channel, RootTS string
}

// PostTripEvents hands the events not yet posted to post, oldest first,
// each once across replicas: the event's row and its trip's are locked
// while post runs, and the event is marked posted only when post succeeds
// (a failure leaves it for the next round). post returns the trip's
// message, which later events thread under. Events whose time is more than
// maxAge ago are history (a backfill), marked without posting.
func (db *DB) PostTripEvents(ctx context.Context, limit int, maxAge time.Duration, now time.Time,
	post func(ctx context.Context, n TripNotice) (channel, rootTS string, err error)) (int, error) {
	posted := 0
	for posted < limit {
		done := false
		err := db.inTx(ctx, func(tx pgx.Tx) error {
			var n TripNotice
			err := tx.QueryRow(ctx, `SELECT e.id, e.trip_id, tr.vpc_id, t.number, e.kind, e.seq, e.at, e.details,
					p.code, d.code, tr.scheduled_departure, tr.tracking_url, tr.slack_channel, tr.slack_ts
				FROM trip_events e JOIN trips tr ON tr.id = e.trip_id JOIN trucks t ON t.id = tr.truck_id
				JOIN locations p ON p.id = tr.pickup_id JOIN locations d ON d.id = tr.delivery_id
				WHERE e.posted_at IS NULL ORDER BY e.id LIMIT 1 FOR UPDATE OF e SKIP LOCKED`).Scan(
				&n.ID, &n.TripID, &n.TripVPCID, &n.TruckNumber, &n.Kind, &n.Seq, &n.At, &n.Details,
				&n.Pickup, &n.Delivery, &n.ScheduledDeparture, &n.TrackingURL, &n.Channel, &n.RootTS)
			if noRows(err) {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			// The trip's lock makes its message once, whichever replica
			// posts its first event; its current message is read again under it.
			if err := tx.QueryRow(ctx, `SELECT slack_channel, slack_ts FROM trips WHERE id = $1 FOR UPDATE`, n.TripID).
				Scan(&n.Channel, &n.RootTS); err != nil {
				return err
			}
			if now.Sub(n.At) <= maxAge {
				ch, ts, err := post(ctx, n)
				if err != nil {
					return err
				}
				if ch != n.Channel || ts != n.RootTS {
					if _, err := tx.Exec(ctx, `UPDATE trips SET slack_channel = $2, slack_ts = $3 WHERE id = $1`, n.TripID, ch, ts); err != nil {
						return err
					}
				}
				posted++
			}
			_, err = tx.Exec(ctx, `UPDATE trip_events SET posted_at = now() WHERE id = $1`, n.ID)
			return err
		})
		if err != nil {
			return posted, fmt.Errorf("store: post trip events: %w", err)
		}
		if done {
			return posted, nil
		}
	}
	return posted, nil
}

// LocoNavTrip is a trip as the LocoNav jobs need it.
type LocoNavTrip struct {
	ID, LocoNavTripID int64
	VPCID             string
	LocoNavStatus     string
}

// TripsToEndInLocoNav are the closed trips LocoNav has not been told of.
func (db *DB) TripsToEndInLocoNav(ctx context.Context, limit int) ([]LocoNavTrip, error) {
	return db.loconavTrips(ctx, `closed_at IS NOT NULL AND loconav_status NOT IN ('completed', 'trashed', 'unsuccessful')`, limit)
}

// TripsInLocoNav are the trips LocoNav follows that may still change
// there: not cancelled, and open or closed within three days.
func (db *DB) TripsInLocoNav(ctx context.Context, limit int) ([]LocoNavTrip, error) {
	return db.loconavTrips(ctx, `status <> 'cancelled' AND (closed_at IS NULL OR closed_at > now() - interval '3 days')`, limit)
}

func (db *DB) loconavTrips(ctx context.Context, where string, limit int) ([]LocoNavTrip, error) {
	rows, err := db.conn.Query(ctx, `SELECT id, loconav_trip_id, vpc_id, loconav_status FROM trips
		WHERE loconav_trip_id IS NOT NULL AND loconav_state = 'synced' AND `+where+` ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: loconav trips: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LocoNavTrip, error) {
		var t LocoNavTrip
		err := r.Scan(&t.ID, &t.LocoNavTripID, &t.VPCID, &t.LocoNavStatus)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: loconav trips: %w", err)
	}
	return out, nil
}

// SetTripLocoNavStatus records what LocoNav says of a trip. A change to
// delayed, unsuccessful or completed is an event for the channel (once);
// unsuccessful also becomes the trip's status unless a person set one.
func (db *DB) SetTripLocoNavStatus(ctx context.Context, tripID int64, status string, at time.Time) (bool, error) {
	changed := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var old, vpc, tripStatus string
		var manual bool
		if err := tx.QueryRow(ctx, `SELECT loconav_status, vpc_id, status, status_manual FROM trips WHERE id = $1 FOR UPDATE`, tripID).
			Scan(&old, &vpc, &tripStatus, &manual); err != nil {
			return err
		}
		if old == status {
			return nil
		}
		changed = true
		if _, err := tx.Exec(ctx, `UPDATE trips SET loconav_status = $2, updated_at = now() WHERE id = $1`, tripID, status); err != nil {
			return err
		}
		if status == "delayed" || status == "unsuccessful" || status == "completed" {
			if _, err := tx.Exec(ctx, `INSERT INTO trip_events (trip_id, kind, seq, at, details) VALUES ($1, $2, 1, $3, $4)
				ON CONFLICT DO NOTHING`, tripID, "loconav_"+status, at, map[string]any{"loconav_status": status}); err != nil {
				return err
			}
		}
		if status == "unsuccessful" && !manual && (tripStatus == TripPlanned || tripStatus == TripOngoing || tripStatus == TripDelayed) {
			if _, err := tx.Exec(ctx, `UPDATE trips SET status = 'unsuccessful' WHERE id = $1`, tripID); err != nil {
				return err
			}
			return appendEvent(ctx, tx, Event{Actor: "loconav", Action: "trip.status", Subject: "trip:" + vpc,
				Payload: map[string]any{"from": tripStatus, "to": TripUnsuccessful}})
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: trip %d loconav status: %w", tripID, err)
	}
	return changed, nil
}

// spell writes a grace period as people say it: "2 h", "90 min".
func spell(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}
