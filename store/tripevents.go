package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Trip event kinds: what the alert channel is told, threaded under the
// trip's message.
const (
	EventAtPickup         = "at_pickup"
	EventDepartedPickup   = "departed_pickup"
	EventAtDelivery       = "at_delivery"
	EventDelivered        = "delivered"
	EventDepartedDelivery = "departed_delivery"
	EventReturned         = "returned"
	EventDelayStarted     = "delay_started"
	EventDelayCleared     = "delay_cleared"
	EventExceptionIdle    = "exception_idle"
	EventExceptionOffline = "exception_offline"
	EventLocoNavDelayed   = "loconav_delayed"
	EventLocoNavUnsuccess = "loconav_unsuccessful"
	EventLocoNavCompleted = "loconav_completed"
)

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
