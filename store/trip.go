package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Trip statuses, after LocoNav's (initialized → planned).
const (
	TripPlanned      = "planned"
	TripOngoing      = "ongoing"
	TripDelayed      = "delayed"
	TripCompleted    = "completed"
	TripUnsuccessful = "unsuccessful"
	TripCancelled    = "cancelled"
)

// TripOverlapWindow is how close two planned trips of one truck may leave:
// a trip takes most of a day out and back.
const TripOverlapWindow = 12 * time.Hour

// Trip is one haul of a container from a pickup to a delivery place.
type Trip struct {
	ID                 int64
	VPCID              string // e.g. 01/Apr/2025-T11985LA-CA60
	LocoNavTripID      int64
	TruckID            int64
	TruckNumber        string
	TruckLocoNavNumber string // the plate as LocoNav spells it
	Pickup, Delivery   string // location codes
	PickupName         string
	DeliveryName       string
	Client             string // organization name
	DriverName         string // on input: a driver's name or phone; empty for the truck's own
	DriverPhone        string
	ContainerNo        string
	CargoType          string
	Status             string
	StatusManual       bool
	ScheduledDeparture time.Time
	ActualDeparture    *time.Time
	ArrivedAt          *time.Time
	OffloadedAt        *time.Time
	ClosedAt           *time.Time
	CancelReason       string
	TrackingURL        string
	LocoNavState       string
	LocoNavError       string
	LocoNavAttempts    int
	CreatedBy          string
	CreatedAt          time.Time

	// Following (see FollowTrips): the latest milestone and its times
	// besides ActualDeparture (left pickup), ArrivedAt (at delivery) and
	// OffloadedAt (delivered); the plan, the ETA and the delay.
	Milestone      string
	AtPickupAt     *time.Time
	ReturnedAt     *time.Time
	PlannedArrival *time.Time
	ETA            *time.Time
	DelayedSince   *time.Time
	DelayReason    string
	LocoNavStatus  string

	// On input only: refuse a trip without a driver, and the request that
	// caused it, for the audit log.
	RequireDriver bool
	CorrelationID string
}

// NewTripID is the fleet's own trip id: DD/Mon/YYYY-TRUCK-XXNN, the Lagos
// day of departure, the plate, the first two letters of the delivery code
// and the truck's sequence number for that day (01, 02 …).
func NewTripID(dep time.Time, zone *time.Location, truck, delivery string, n int) string {
	code := strings.ToUpper(LocationCode(delivery))
	code = strings.ReplaceAll(code, "_", "")
	for len(code) < 2 {
		code += "X"
	}
	return fmt.Sprintf("%s-%s-%s%02d", dep.In(zone).Format("02/Jan/2006"), NormalizeTruckNumber(truck), code[:2], n)
}

// tripZone is the zone of trip ids' days.
var tripZone = func() *time.Location {
	z, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		return time.FixedZone("WAT", 3600)
	}
	return z
}()

// CreateTrip stores a new trip. Inside one transaction, with the truck's
// row locked so that two creations cannot both pass, it checks: the truck
// is active and has no overlapping open trip, both places are known and differ, and
// (with RequireDriver, as for every trip people create) a driver is named
// or assigned to the truck. It writes the audit event. A
// trip without a VPC id gets one (NewTripID).
func (db *DB) CreateTrip(ctx context.Context, t Trip) (Trip, error) {
	if t.Status == "" {
		t.Status = TripPlanned
	}
	if t.ScheduledDeparture.IsZero() {
		return Trip{}, fmt.Errorf("store: trip: %w", invalidf("a scheduled departure is required"))
	}
	var id int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var truckID int64
		var number, status string
		err := tx.QueryRow(ctx, `SELECT id, number, status FROM trucks WHERE number = $1 FOR UPDATE`, NormalizeTruckNumber(t.TruckNumber)).
			Scan(&truckID, &number, &status)
		if err != nil {
			if noRows(err) {
				return &NotFoundError{What: "truck", Query: t.TruckNumber}
			}
			return err
		}
		if status != TruckActive {
			return invalidf("%s is %s, not active", number, status)
		}
		pickup, err := lookupID(ctx, tx, "pickup", `SELECT id FROM locations WHERE code = $1`, LocationCode(t.Pickup))
		if err != nil {
			return err
		}
		delivery, err := lookupID(ctx, tx, "delivery", `SELECT id FROM locations WHERE code = $1`, LocationCode(t.Delivery))
		if err != nil {
			return err
		}
		if pickup == nil || delivery == nil {
			return invalidf("a trip needs a known pickup and delivery")
		}
		if *pickup == *delivery {
			return invalidf("the pickup and the delivery are the same place")
		}
		client, err := lookupID(ctx, tx, "client", `SELECT id FROM organizations WHERE lower(name) = lower($1)`, t.Client)
		if err != nil {
			return err
		}
		var c ConflictError
		err = tx.QueryRow(ctx, `SELECT vpc_id, status, scheduled_departure FROM trips
			WHERE truck_id = $1 AND (status IN ('ongoing', 'delayed')
			   OR (status = 'planned' AND scheduled_departure > $2::timestamptz - $3::interval AND scheduled_departure < $2::timestamptz + $3::interval))
			ORDER BY scheduled_departure LIMIT 1`, truckID, t.ScheduledDeparture, TripOverlapWindow).Scan(&c.TripVPCID, &c.Status, &c.Departure)
		switch {
		case err == nil:
			c.Truck = number
			return &c
		case !noRows(err):
			return err
		}
		driverID, err := tripDriver(ctx, tx, truckID, number, t.DriverName, t.RequireDriver)
		if err != nil {
			return err
		}
		var loconavID *int64
		if t.LocoNavTripID != 0 {
			loconavID = &t.LocoNavTripID
		}
		auto := t.VPCID == ""
		for n := 1; ; n++ {
			if auto {
				var seq int
				if err := tx.QueryRow(ctx, `SELECT count(*) + $3 FROM trips WHERE truck_id = $1
					AND (scheduled_departure AT TIME ZONE 'Africa/Lagos')::date = ($2::timestamptz AT TIME ZONE 'Africa/Lagos')::date`,
					truckID, t.ScheduledDeparture, n).Scan(&seq); err != nil {
					return err
				}
				t.VPCID = NewTripID(t.ScheduledDeparture, tripZone, number, t.Delivery, seq)
			}
			err = tx.QueryRow(ctx, `INSERT INTO trips (vpc_id, loconav_trip_id, truck_id, driver_id, client_id, pickup_id, delivery_id,
					container_no, cargo_type, status, scheduled_departure, created_by, loconav_state, loconav_next_attempt_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
					-- the creator pushes it at once; the job picks it up if that is lost
					CASE WHEN $13 = 'pending' THEN now() + interval '2 minutes' END)
				ON CONFLICT (vpc_id) DO NOTHING RETURNING id`,
				t.VPCID, loconavID, truckID, driverID, client, *pickup, *delivery, t.ContainerNo, t.CargoType, t.Status,
				t.ScheduledDeparture, t.CreatedBy, t.LocoNavState).Scan(&id)
			if noRows(err) && auto && n < 100 {
				continue // a cancelled trip took the sequence number
			}
			if noRows(err) {
				return invalidf("trip id %s is taken", t.VPCID)
			}
			if err != nil {
				return err
			}
			break
		}
		actor := t.CreatedBy
		if actor == "" {
			actor = "system"
		}
		return appendEvent(ctx, tx, Event{Actor: actor, Action: "trip.created", Subject: "trip:" + t.VPCID, CorrelationID: t.CorrelationID,
			Payload: map[string]any{"truck": number, "pickup": t.Pickup, "delivery": t.Delivery, "scheduled_departure": t.ScheduledDeparture,
				"client": t.Client, "container_no": t.ContainerNo, "cargo_type": t.CargoType, "driver_id": driverID}})
	})
	if err != nil {
		return Trip{}, fmt.Errorf("store: trip: %w", err)
	}
	return db.tripWhere(ctx, `tr.id = $1`, id)
}

// tripDriver resolves a trip's driver: the one named (by name or phone),
// else the truck's own. With require, no driver is an error.
func tripDriver(ctx context.Context, tx pgx.Tx, truckID int64, truck, named string, require bool) (*int64, error) {
	var id int64
	if named = strings.TrimSpace(named); named != "" {
		err := tx.QueryRow(ctx, `SELECT id FROM drivers WHERE phone = $1 OR lower(name) = lower($2) ORDER BY phone = $1 DESC LIMIT 1`,
			NormalizePhone(named), named).Scan(&id)
		if noRows(err) {
			return nil, &NotFoundError{What: "driver", Query: named}
		}
		if err != nil {
			return nil, err
		}
		return &id, nil
	}
	err := tx.QueryRow(ctx, `SELECT id FROM drivers WHERE truck_id = $1`, truckID).Scan(&id)
	switch {
	case noRows(err) && require:
		return nil, invalidf("no driver is assigned to %s; name one", truck)
	case noRows(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &id, nil
}

const tripColumns = `tr.id, tr.vpc_id, coalesce(tr.loconav_trip_id, 0), tr.truck_id, t.number, t.loconav_number,
	p.code, p.name, d.code, d.name, coalesce(o.name, ''), coalesce(dr.name, ''), coalesce(dr.phone, ''),
	tr.container_no, tr.cargo_type, tr.status, tr.status_manual, tr.scheduled_departure, tr.actual_departure,
	tr.arrived_at, tr.offloaded_at, tr.closed_at, tr.cancel_reason, tr.tracking_url, tr.loconav_state,
	tr.loconav_error, tr.loconav_attempts, tr.created_by, tr.created_at,
	tr.milestone, tr.at_pickup_at, tr.returned_at, tr.planned_arrival, tr.eta, tr.delayed_since, tr.delay_reason, tr.loconav_status`

const tripFrom = `trips tr JOIN trucks t ON t.id = tr.truck_id
	JOIN locations p ON p.id = tr.pickup_id JOIN locations d ON d.id = tr.delivery_id
	LEFT JOIN organizations o ON o.id = tr.client_id LEFT JOIN drivers dr ON dr.id = tr.driver_id`

func scanTrip(row pgx.Row) (Trip, error) {
	var t Trip
	err := row.Scan(&t.ID, &t.VPCID, &t.LocoNavTripID, &t.TruckID, &t.TruckNumber, &t.TruckLocoNavNumber,
		&t.Pickup, &t.PickupName, &t.Delivery, &t.DeliveryName, &t.Client, &t.DriverName, &t.DriverPhone,
		&t.ContainerNo, &t.CargoType, &t.Status, &t.StatusManual, &t.ScheduledDeparture, &t.ActualDeparture,
		&t.ArrivedAt, &t.OffloadedAt, &t.ClosedAt, &t.CancelReason, &t.TrackingURL, &t.LocoNavState,
		&t.LocoNavError, &t.LocoNavAttempts, &t.CreatedBy, &t.CreatedAt,
		&t.Milestone, &t.AtPickupAt, &t.ReturnedAt, &t.PlannedArrival, &t.ETA, &t.DelayedSince, &t.DelayReason, &t.LocoNavStatus)
	return t, err
}

func (db *DB) tripWhere(ctx context.Context, where string, args ...any) (Trip, error) {
	t, err := scanTrip(db.conn.QueryRow(ctx, `SELECT `+tripColumns+` FROM `+tripFrom+` WHERE `+where, args...))
	if err != nil {
		return Trip{}, fmt.Errorf("store: trip: %w", notFound(err))
	}
	return t, nil
}

// TripByRef finds a trip by the fleet's id (any case), its number in this
// store, or LocoNav's id written "LN123".
func (db *DB) TripByRef(ctx context.Context, ref string) (Trip, error) {
	ref = strings.TrimSpace(ref)
	var t Trip
	var err error
	switch {
	case ref == "":
		return Trip{}, fmt.Errorf("store: trip: %w", invalidf("empty id"))
	case onlyDigits(ref):
		n, _ := strconv.ParseInt(ref, 10, 64)
		t, err = db.tripWhere(ctx, `tr.id = $1`, n)
	case len(ref) > 2 && strings.EqualFold(ref[:2], "LN") && onlyDigits(ref[2:]):
		n, _ := strconv.ParseInt(ref[2:], 10, 64)
		t, err = db.tripWhere(ctx, `tr.loconav_trip_id = $1`, n)
	default:
		t, err = db.tripWhere(ctx, `lower(tr.vpc_id) = lower($1)`, ref)
	}
	if errors.Is(err, ErrNotFound) {
		return Trip{}, fmt.Errorf("store: trip: %w", &NotFoundError{What: "trip", Query: ref})
	}
	return t, err
}

// TripFilter selects trips. Zero fields do not filter.
type TripFilter struct {
	Statuses    []string
	TruckNumber string
	Pickup      string    // location code
	Delivery    string    // location code
	From, To    time.Time // scheduled departure in [From, To)
	Limit       int       // default 20, at most 500
	// Before continues a list after the trip with this key.
	Before *TripKey
}

// TripKey is a trip's place in the newest-departure-first order.
type TripKey struct {
	Departure time.Time
	ID        int64
}

// Trips returns the trips matching f, newest departure first, and how many
// match in all.
func (db *DB) Trips(ctx context.Context, f TripFilter) ([]Trip, int, error) {
	for _, s := range f.Statuses {
		if NextTripStatuses(s) == nil && !isFinal(s) {
			return nil, 0, fmt.Errorf("store: trips: %w", invalidf("status %q is not one of planned, ongoing, delayed, completed, unsuccessful, cancelled", s))
		}
	}
	if f.Limit <= 0 {
		f.Limit = 20
	}
	f.Limit = min(f.Limit, 500)
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	var beforeAt *time.Time
	var beforeID int64
	if f.Before != nil {
		beforeAt, beforeID = &f.Before.Departure, f.Before.ID
	}
	rows, err := db.conn.Query(ctx, `SELECT `+tripColumns+`, count(*) OVER () FROM `+tripFrom+`
		WHERE (coalesce(cardinality($1::text[]), 0) = 0 OR tr.status = ANY($1))
		  AND ($2 = '' OR t.number = $2) AND ($3 = '' OR p.code = $3) AND ($4 = '' OR d.code = $4)
		  AND ($5::timestamptz IS NULL OR tr.scheduled_departure >= $5)
		  AND ($6::timestamptz IS NULL OR tr.scheduled_departure < $6)
		  AND ($8::timestamptz IS NULL OR (tr.scheduled_departure, tr.id) < ($8, $9))
		ORDER BY tr.scheduled_departure DESC, tr.id DESC LIMIT $7`,
		f.Statuses, NormalizeTruckNumber(f.TruckNumber), LocationCode(f.Pickup), LocationCode(f.Delivery), from, to, f.Limit, beforeAt, beforeID)
	if err != nil {
		return nil, 0, fmt.Errorf("store: trips: %w", err)
	}
	total := 0
	trips, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trip, error) {
		var t Trip
		err := r.Scan(&t.ID, &t.VPCID, &t.LocoNavTripID, &t.TruckID, &t.TruckNumber, &t.TruckLocoNavNumber,
			&t.Pickup, &t.PickupName, &t.Delivery, &t.DeliveryName, &t.Client, &t.DriverName, &t.DriverPhone,
			&t.ContainerNo, &t.CargoType, &t.Status, &t.StatusManual, &t.ScheduledDeparture, &t.ActualDeparture,
			&t.ArrivedAt, &t.OffloadedAt, &t.ClosedAt, &t.CancelReason, &t.TrackingURL, &t.LocoNavState,
			&t.LocoNavError, &t.LocoNavAttempts, &t.CreatedBy, &t.CreatedAt,
			&t.Milestone, &t.AtPickupAt, &t.ReturnedAt, &t.PlannedArrival, &t.ETA, &t.DelayedSince, &t.DelayReason, &t.LocoNavStatus, &total)
		return t, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: trips: %w", err)
	}
	if len(trips) == 0 {
		// The window count is only on returned rows.
		total = 0
	}
	return trips, total, nil
}

// DelayedTrips are the trips late now: marked delayed, or planned or
// ongoing but not departed more than grace after their scheduled
// departure. Most late first.
func (db *DB) DelayedTrips(ctx context.Context, now time.Time, grace time.Duration) ([]Trip, error) {
	rows, err := db.conn.Query(ctx, `SELECT `+tripColumns+` FROM `+tripFrom+`
		WHERE tr.status = 'delayed'
		   OR (tr.status IN ('planned', 'ongoing') AND tr.actual_departure IS NULL AND tr.scheduled_departure < $1::timestamptz - $2::interval)
		ORDER BY tr.scheduled_departure, tr.id LIMIT 500`, now, grace)
	if err != nil {
		return nil, fmt.Errorf("store: delayed trips: %w", err)
	}
	trips, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trip, error) { return scanTrip(r) })
	if err != nil {
		return nil, fmt.Errorf("store: delayed trips: %w", err)
	}
	return trips, nil
}

// tripMoves is the trip state machine: where each status may go.
var tripMoves = map[string][]string{
	TripPlanned: {TripOngoing, TripCancelled, TripUnsuccessful},
	TripOngoing: {TripDelayed, TripCompleted, TripUnsuccessful, TripCancelled},
	TripDelayed: {TripOngoing, TripCompleted, TripUnsuccessful, TripCancelled},
}

func isFinal(s string) bool {
	return s == TripCompleted || s == TripUnsuccessful || s == TripCancelled
}

// NextTripStatuses lists where a trip in status from may go; nil for a
// final status (completed, unsuccessful, cancelled) or an unknown one.
func NextTripStatuses(from string) []string { return tripMoves[from] }

// TripStatusChange is a person's (or a job's) move of a trip.
type TripStatusChange struct {
	TripID        int64
	To            string
	Actor         string
	Reason        string
	CorrelationID string
	At            time.Time
}

// UpdateTripStatus moves a trip, checked against its locked current status,
// stamps the times the move implies and audits it. A person's move is
// marked manual, so automatic progress does not undo it.
func (db *DB) UpdateTripStatus(ctx context.Context, c TripStatusChange) (Trip, error) {
	if c.At.IsZero() {
		c.At = time.Now()
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var from, vpc string
		if err := tx.QueryRow(ctx, `SELECT status, vpc_id FROM trips WHERE id = $1 FOR UPDATE`, c.TripID).Scan(&from, &vpc); err != nil {
			return notFound(err)
		}
		allowed := NextTripStatuses(from)
		ok := false
		for _, s := range allowed {
			ok = ok || s == c.To
		}
		if !ok {
			return &TransitionError{Trip: vpc, From: from, To: c.To, Allowed: allowed}
		}
		if _, err := tx.Exec(ctx, `UPDATE trips SET status = $2, status_manual = true, updated_at = now(),
				actual_departure = CASE WHEN $2 = 'ongoing' THEN coalesce(actual_departure, $3) ELSE actual_departure END,
				closed_at = CASE WHEN $2 IN ('completed', 'unsuccessful', 'cancelled') THEN $3 ELSE closed_at END,
				offloaded_at = CASE WHEN $2 = 'completed' THEN coalesce(offloaded_at, $3) ELSE offloaded_at END,
				cancel_reason = CASE WHEN $2 = 'cancelled' THEN $4 ELSE cancel_reason END
			WHERE id = $1`, c.TripID, c.To, c.At, c.Reason); err != nil {
			return err
		}
		actor := c.Actor
		if actor == "" {
			actor = "system"
		}
		return appendEvent(ctx, tx, Event{Actor: actor, Action: "trip.status_changed", Subject: "trip:" + vpc, CorrelationID: c.CorrelationID,
			Payload: map[string]any{"from": from, "to": c.To, "reason": c.Reason}})
	})
	if err != nil {
		return Trip{}, fmt.Errorf("store: trip %d: %w", c.TripID, err)
	}
	return db.tripWhere(ctx, `tr.id = $1`, c.TripID)
}

// CancelTrip cancels a trip that is not final yet.
func (db *DB) CancelTrip(ctx context.Context, id int64, actor, reason, correlationID string) (Trip, error) {
	return db.UpdateTripStatus(ctx, TripStatusChange{TripID: id, To: TripCancelled, Actor: actor, Reason: reason, CorrelationID: correlationID})
}
