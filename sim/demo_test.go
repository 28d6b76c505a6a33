package sim

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// booker books trips in memory, refusing a truck's second as the store
// refuses an overlapping one, and one truck's every trip for another reason.
type booker struct {
	seen   map[string]bool
	broken string
}

func (b *booker) CreateTrip(_ context.Context, t store.Trip) (store.Trip, error) {
	switch {
	case t.TruckNumber == b.broken:
		return store.Trip{}, errors.New("boom")
	case b.seen[t.TruckNumber+t.ScheduledDeparture.String()]:
		return store.Trip{}, store.ErrConflict
	}
	b.seen[t.TruckNumber+t.ScheduledDeparture.String()] = true
	return t, nil
}

func TestNewDemo(t *testing.T) {
	t.Parallel()
	_, _, fleet := demoFleet(t, 0)
	fleet.Trucks = fleet.Trucks[:4]
	fleet.Trucks[3].Value.Status = "inactive"
	now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	d, err := NewDemo(fleet, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Places) != len(fleet.Locations) || len(d.Fixes) == 0 || len(d.Trips) == 0 {
		t.Fatalf("demo of %d places, %d fixes, %d trips", len(d.Places), len(d.Fixes), len(d.Trips))
	}
	trucks := map[string]bool{}
	for _, f := range d.Fixes {
		trucks[f.TruckNumber] = true
		if f.At.Before(now.Add(-6*time.Hour)) || !f.At.Before(now.Add(24*time.Hour)) {
			t.Fatalf("fix at %s, outside six hours ago to a day from now", f.At)
		}
	}
	for _, r := range fleet.Trucks {
		if active := r.Value.Status == "" || r.Value.Status == store.TruckActive; trucks[r.Value.Number] && !active {
			t.Errorf("fixes of %s, a truck of status %q", r.Value.Number, r.Value.Status)
		}
	}
	if len(trucks) == 0 {
		t.Error("no truck moves")
	}
	// The same day gives the same demo.
	if again, _ := NewDemo(fleet, now.Add(time.Hour)); len(again.Fixes) != len(d.Fixes) || again.Fixes[0].Point != d.Fixes[0].Point {
		t.Error("a restart the same day simulated another fleet")
	}

	b := &booker{seen: map[string]bool{}, broken: d.Trips[0].TruckNumber}
	broken := 0
	for _, tr := range d.Trips {
		if tr.TruckNumber == b.broken {
			broken++
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if booked, skipped := d.BookTrips(t.Context(), b, logger); booked != len(d.Trips)-broken || skipped != 0 {
		t.Errorf("first booking: %d booked, %d skipped; want %d, 0", booked, skipped, len(d.Trips)-broken)
	}
	if booked, skipped := d.BookTrips(t.Context(), b, logger); booked != 0 || skipped != len(d.Trips)-broken {
		t.Errorf("second booking: %d booked, %d skipped; want 0, %d", booked, skipped, len(d.Trips)-broken)
	}
}
