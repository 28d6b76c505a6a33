package store_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

var dep = time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC) // 06:00 in Lagos

func newTrip(truck string, at time.Time) store.Trip {
	return store.Trip{TruckNumber: truck, Pickup: "ESSLIBRA", Delivery: "DANGOTE_IBESE", ScheduledDeparture: at, RequireDriver: true, CreatedBy: "U1"}
}

// Two replicas creating a trip for one truck at once: exactly one wins, the
// other is told which trip is in the way.
func TestCreateTripConcurrent(t *testing.T) {
	t.Parallel()
	_, db := storetest.NewMigrated(t)
	imp, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportFleet(context.Background(), "test", imp); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = db.CreateTrip(context.Background(), newTrip("T11985LA", dep.Add(time.Duration(i)*time.Minute)))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var ce *store.ConflictError
		switch {
		case err == nil:
			ok++
		case !errors.As(err, &ce):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creations won, want 1", ok)
	}
}

func TestCreateTripRulesInStore(t *testing.T) {
	t.Parallel()
	db := demoSeeded(t)
	ctx := context.Background()
	tr, err := db.CreateTrip(ctx, newTrip("t-11985-la", dep))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^05/Dec/2026-T11985LA-DA01$`).MatchString(tr.VPCID) || tr.DriverName != "Kayode Oyewole" || tr.Status != store.TripPlanned {
		t.Errorf("trip %+v", tr)
	}
	for _, c := range []struct {
		name string
		trip store.Trip
	}{
		{"inactive", newTrip("T76738LA", dep)},
		{"overlap", newTrip("T11985LA", dep.Add(11*time.Hour))},
		{"same place", func() store.Trip { x := newTrip("T63530LA", dep); x.Delivery = "ESSLIBRA"; return x }()},
		{"unknown driver", func() store.Trip { x := newTrip("T63530LA", dep); x.DriverName = "Nobody"; return x }()},
	} {
		if _, err := db.CreateTrip(ctx, c.trip); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	// The second trip of the day the next day is fine and numbered on.
	if next, err := db.CreateTrip(ctx, newTrip("T11985LA", dep.Add(13*time.Hour))); err != nil || next.VPCID != "05/Dec/2026-T11985LA-DA02" {
		t.Errorf("second trip %q %v", next.VPCID, err)
	}
}

func TestTripTransitions(t *testing.T) {
	t.Parallel()
	db := demoSeeded(t)
	ctx := context.Background()
	legal := map[string][]string{
		store.TripPlanned: {store.TripOngoing, store.TripCancelled, store.TripUnsuccessful},
		store.TripOngoing: {store.TripDelayed, store.TripCompleted, store.TripUnsuccessful, store.TripCancelled},
		store.TripDelayed: {store.TripOngoing, store.TripCompleted, store.TripUnsuccessful, store.TripCancelled},
	}
	all := []string{store.TripPlanned, store.TripOngoing, store.TripDelayed, store.TripCompleted, store.TripUnsuccessful, store.TripCancelled}
	// path puts a fresh trip into status from.
	path := map[string][]string{
		store.TripPlanned: nil, store.TripOngoing: {store.TripOngoing}, store.TripDelayed: {store.TripOngoing, store.TripDelayed},
		store.TripCompleted: {store.TripOngoing, store.TripCompleted}, store.TripUnsuccessful: {store.TripUnsuccessful},
		store.TripCancelled: {store.TripCancelled},
	}
	day := 0
	for _, from := range all {
		for _, to := range all {
			day += 2
			tr, err := db.CreateTrip(ctx, newTrip("T63530LA", dep.AddDate(0, 0, day)))
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range path[from] {
				if tr, err = db.UpdateTripStatus(ctx, store.TripStatusChange{TripID: tr.ID, To: step, Actor: "U1"}); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
			}
			want := false
			for _, x := range legal[from] {
				want = want || x == to
			}
			got, err := db.UpdateTripStatus(ctx, store.TripStatusChange{TripID: tr.ID, To: to, Actor: "U1", Reason: "test"})
			var te *store.TransitionError
			switch {
			case want && err != nil:
				t.Errorf("%s → %s refused: %v", from, to, err)
			case !want && !errors.As(err, &te):
				t.Errorf("%s → %s: %v, want a TransitionError", from, to, err)
			case want && got.Status != to:
				t.Errorf("%s → %s gave %s", from, to, got.Status)
			}
			if want && (to == store.TripCompleted || to == store.TripCancelled || to == store.TripUnsuccessful) && got.ClosedAt == nil {
				t.Errorf("%s → %s: no close time", from, to)
			}
			// Free the truck for the next case.
			cur, err := db.TripByRef(ctx, tr.VPCID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Status == store.TripOngoing || cur.Status == store.TripDelayed {
				if _, err := db.CancelTrip(ctx, cur.ID, "U1", "next case", ""); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
