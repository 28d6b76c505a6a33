package sim

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// Demo is a simulated day of a fleet, for `watchtower run --simulate`: the
// fixes to feed to the webhook, the legs to book as trips, and the places.
type Demo struct {
	Fixes  []Fix
	Trips  []Trip
	Places []store.Location
}

// NewDemo simulates the active trucks of a fleet from six hours before now
// to a day after, so that the demo has history and a fleet that keeps
// moving. The day of the year seeds it: a restart the same day replays the
// same fleet.
func NewDemo(fleet store.FleetImport, now time.Time) (*Demo, error) {
	trucks := make([]store.Truck, 0, len(fleet.Trucks))
	for _, r := range fleet.Trucks {
		if r.Value.Status == "" || r.Value.Status == store.TruckActive {
			trucks = append(trucks, r.Value)
		}
	}
	places := make([]store.Location, len(fleet.Locations))
	for i, r := range fleet.Locations {
		places[i] = r.Value
	}
	s, err := New(Config{Seed: uint64(now.YearDay()), Start: now.Add(-6 * time.Hour).Truncate(time.Second),
		Duration: 30 * time.Hour, FixInterval: 30 * time.Second, Trucks: trucks, Places: places})
	if err != nil {
		return nil, err
	}
	return &Demo{Fixes: s.Fixes(), Trips: s.Truth().Trips, Places: places}, nil
}

// TripBooker books a trip as create_trip does: the store's CreateTrip.
type TripBooker interface {
	CreateTrip(ctx context.Context, t store.Trip) (store.Trip, error)
}

// BookTrips books the demo's legs as trips through the store path
// create_trip uses, so the demo has trips in every state. A trip a previous
// demo run booked is refused as overlapping, and left alone; any other
// refusal is logged and the rest are booked.
func (d *Demo) BookTrips(ctx context.Context, db TripBooker, logger *slog.Logger) (booked, skipped int) {
	for _, t := range d.Trips {
		_, err := db.CreateTrip(ctx, store.Trip{TruckNumber: t.TruckNumber, Pickup: t.Pickup, Delivery: t.Delivery,
			ScheduledDeparture: t.ScheduledDeparture, CreatedBy: "simulator"})
		switch {
		case err == nil:
			booked++
		case errors.Is(err, store.ErrConflict):
			skipped++
		default:
			logger.Warn("simulated trip not booked", "truck", t.TruckNumber, "err", err)
		}
	}
	logger.Info("simulated trips booked", "booked", booked, "already_booked", skipped)
	return booked, skipped
}
