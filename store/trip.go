package store

import (
	"context"
	"fmt"
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

// Trip is one haul of a container from a pickup to a delivery place.
type Trip struct {
	ID                 int64
	VPCID              string // e.g. 01/Apr/2025-T11985LA-CA60
	LocoNavTripID      int64
	TruckNumber        string
	Pickup, Delivery   string // location codes
	Client             string // organization name
	ContainerNo        string
	Status             string
	ScheduledDeparture time.Time
	CreatedBy          string
}

// CreateTrip stores a new trip, resolving the truck by number and the
// places by code, and records who created it in the audit log.
func (db *DB) CreateTrip(ctx context.Context, t Trip) (Trip, error) {
	if t.Status == "" {
		t.Status = TripPlanned
	}
	if t.VPCID == "" || t.ScheduledDeparture.IsZero() {
		return Trip{}, fmt.Errorf("store: trip: %w: a VPC id and a scheduled departure are required", ErrInvalid)
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		truck, err := lookupID(ctx, tx, "truck", `SELECT id FROM trucks WHERE number = $1`, NormalizeTruckNumber(t.TruckNumber))
		if err != nil {
			return err
		}
		pickup, err := lookupID(ctx, tx, "pickup", `SELECT id FROM locations WHERE code = $1`, LocationCode(t.Pickup))
		if err != nil {
			return err
		}
		delivery, err := lookupID(ctx, tx, "delivery", `SELECT id FROM locations WHERE code = $1`, LocationCode(t.Delivery))
		if err != nil {
			return err
		}
		client, err := lookupID(ctx, tx, "client", `SELECT id FROM organizations WHERE lower(name) = lower($1)`, t.Client)
		if err != nil {
			return err
		}
		if truck == nil || pickup == nil || delivery == nil {
			return fmt.Errorf("%w: a trip needs a truck, a pickup and a delivery", ErrInvalid)
		}
		var loconavID *int64
		if t.LocoNavTripID != 0 {
			loconavID = &t.LocoNavTripID
		}
		if err := tx.QueryRow(ctx, `INSERT INTO trips (vpc_id, loconav_trip_id, truck_id, client_id, pickup_id, delivery_id,
				container_no, status, scheduled_departure, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			t.VPCID, loconavID, *truck, client, *pickup, *delivery, t.ContainerNo, t.Status, t.ScheduledDeparture, t.CreatedBy).Scan(&t.ID); err != nil {
			return err
		}
		actor := t.CreatedBy
		if actor == "" {
			actor = "system"
		}
		return appendEvent(ctx, tx, Event{Actor: actor, Action: "trip.created", Subject: "trip:" + t.VPCID,
			Payload: map[string]any{"truck": t.TruckNumber, "pickup": t.Pickup, "delivery": t.Delivery}})
	})
	if err != nil {
		return Trip{}, fmt.Errorf("store: trip %s: %w", t.VPCID, err)
	}
	return t, nil
}
