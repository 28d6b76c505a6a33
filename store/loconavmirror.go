package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Where a trip stands with LocoNav.
const (
	LocoNavPending = "pending" // not yet sent
	LocoNavFailed  = "failed"  // sent and refused or unreachable; retried
	LocoNavSynced  = "synced"
)

// SetTripLocoNav records that LocoNav has the trip, with its id and the
// public tracking link.
func (db *DB) SetTripLocoNav(ctx context.Context, id, loconavID int64, trackingURL string) error {
	_, err := db.conn.Exec(ctx, `UPDATE trips SET loconav_trip_id = $2, tracking_url = $3, loconav_state = 'synced',
			loconav_error = '', loconav_next_attempt_at = NULL, updated_at = now() WHERE id = $1`, id, loconavID, trackingURL)
	if err != nil {
		return fmt.Errorf("store: trip %d loconav: %w", id, err)
	}
	return nil
}

// MarkTripLocoNavFailed records a failed attempt to give LocoNav the trip;
// the trip stays "not yet in LocoNav" and is tried again at next.
func (db *DB) MarkTripLocoNavFailed(ctx context.Context, id int64, errText string, next time.Time) error {
	_, err := db.conn.Exec(ctx, `UPDATE trips SET loconav_state = 'failed', loconav_error = left($2, 500),
			loconav_attempts = loconav_attempts + 1, loconav_next_attempt_at = $3, updated_at = now()
		WHERE id = $1 AND loconav_state <> 'synced'`, id, errText, next)
	if err != nil {
		return fmt.Errorf("store: trip %d loconav: %w", id, err)
	}
	return nil
}

// TripsAwaitingLocoNav are trips LocoNav does not have yet whose next
// attempt is due, not cancelled or closed.
func (db *DB) TripsAwaitingLocoNav(ctx context.Context, now time.Time, limit int) ([]Trip, error) {
	rows, err := db.conn.Query(ctx, `SELECT `+tripColumns+` FROM `+tripFrom+`
		WHERE tr.loconav_state IN ('pending', 'failed') AND tr.status NOT IN ('cancelled', 'completed', 'unsuccessful')
		  AND coalesce(tr.loconav_next_attempt_at, tr.created_at) <= $1
		ORDER BY coalesce(tr.loconav_next_attempt_at, tr.created_at) LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("store: trips awaiting loconav: %w", err)
	}
	trips, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trip, error) { return scanTrip(r) })
	if err != nil {
		return nil, fmt.Errorf("store: trips awaiting loconav: %w", err)
	}
	return trips, nil
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
