package tools_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
	"github.com/watchtower-fleet/watchtower/tools"
)

func withLocoNav(f *loconavtest.Server) func(*tools.Deps) {
	return func(d *tools.Deps) {
		c := loconav.NewClient(f.URL(), loconavtest.Token, f.Client(), nil)
		c.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
		c.Now = d.Now
		d.LocoNav = c
	}
}

// A confirmed trip is created in LocoNav too, with the geofence ids where
// known and the public tracking link stored; cancelling removes it there.
func TestCreateTripInLocoNav(t *testing.T) {
	f := loconavtest.NewServer(t)
	e := newEnv(t, withLocoNav(f))
	p := e.invoke(t, dispatcher, "create_trip", newTripArgs).Pending
	res := e.reg.Confirm(t.Context(), dispatcher, p.ID)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	d := data(t, res)
	trips := f.Trips()
	if len(trips) != 1 || trips[0].UniqueID != d["trip_id"] {
		t.Fatalf("LocoNav holds %+v", trips)
	}
	if !strings.HasPrefix(d["tracking_url"].(string), "https://track.loconav.test/") || !strings.HasPrefix(d["loconav"].(string), "in LocoNav") {
		t.Errorf("trip %v", d)
	}
	body := trips[0].Body
	if body["vehicle"].(map[string]any)["number"] != "T-11985-LA" || body["destination"].(map[string]any)["geofenceId"] != 5010.0 {
		t.Errorf("posted %v", body)
	}
	if b := res.Result.View.Buttons; len(b) != 1 || b[0].Action != tools.ActionShare {
		t.Errorf("buttons %+v", b)
	}
	p = e.invoke(t, dispatcher, "cancel_trip", `{"trip":"`+d["trip_id"].(string)+`","reason":"client postponed"}`).Pending
	if res := e.reg.Confirm(t.Context(), dispatcher, p.ID); res.Err != nil {
		t.Fatal(res.Err)
	}
	if st := f.Trips()[0].Status; st != "trashed" {
		t.Errorf("LocoNav trip is %s after cancelling", st)
	}
}

// When LocoNav is down the trip stands here, marked "not yet in LocoNav",
// and the job gives it to LocoNav later, once.
func TestCreateTripLocoNavDown(t *testing.T) {
	f := loconavtest.NewServer(t)
	f.Fail(loconavtest.Fault{Method: http.MethodPost, Path: "/trips", N: 1000, Status: http.StatusServiceUnavailable})
	e := newEnv(t, withLocoNav(f))
	p := e.invoke(t, dispatcher, "create_trip", newTripArgs).Pending
	res := e.reg.Confirm(t.Context(), dispatcher, p.ID)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	d := data(t, res)
	if d["loconav"] != "not yet in LocoNav" || !strings.Contains(res.Result.View.Footer, "not yet in LocoNav") {
		t.Fatalf("trip %v, footer %q", d, res.Result.View.Footer)
	}
	if n, err := e.reg.PushTripsToLocoNav(t.Context()); n != 0 || err != nil {
		t.Fatalf("pushed %d before the retry is due (%v)", n, err)
	}
	// LocoNav comes back; the retry is due after a minute.
	*e.clock = e.now.Add(2 * time.Minute)
	healthy := loconavtest.NewServer(t)
	reg := tools.New(func() tools.Deps { d := e.deps; withLocoNav(healthy)(&d); return d }())
	if n, err := reg.PushTripsToLocoNav(t.Context()); n != 1 || err != nil {
		t.Fatalf("pushed %d (%v)", n, err)
	}
	if n, _ := reg.PushTripsToLocoNav(t.Context()); n != 0 {
		t.Errorf("pushed again: %d", n)
	}
	if len(healthy.Trips()) != 1 {
		t.Errorf("LocoNav holds %d trips", len(healthy.Trips()))
	}
	if st := data(t, e.invoke(t, viewer, "trip_status", `{"trip":"`+d["trip_id"].(string)+`","truck":null}`)); !strings.HasPrefix(st["loconav"].(string), "in LocoNav") {
		t.Errorf("after the job: %v", st)
	}
}

// A fix over 10 minutes old is refreshed from LocoNav's last_known first.
func TestTruckLocationRefreshesStaleFix(t *testing.T) {
	f := loconavtest.NewServer(t)
	e := newEnv(t, withLocoNav(f))
	// The silent truck's tracker answers LocoNav, though not our webhook.
	tr, err := e.db.TruckByNumber(t.Context(), silentTruck)
	if err != nil {
		t.Fatal(err)
	}
	f.SetLastKnown(tr.LocoNavUUID, loconavtest.LastKnownValue(tr.LocoNavUUID, tr.LocoNavNumber, 6.4641, 3.3481, 12, testNow.Add(-90*time.Second)))
	d := data(t, e.invoke(t, viewer, "truck_location", `{"truck":"`+silentTruck+`"}`))
	if d["refreshed_from_loconav"] != true || d["age_minutes"] != 1.0 || d["lat"] != 6.4641 || d["offline"] != nil {
		t.Fatalf("got %v", d)
	}
	// A fresh fix is not refreshed.
	calls := len(f.Calls())
	e.invoke(t, viewer, "truck_location", `{"truck":"T11985LA"}`)
	if len(f.Calls()) != calls {
		t.Errorf("a fresh fix called LocoNav: %v", f.Calls()[calls:])
	}
}

// LocoNav in step: what LocoNav's people mark (delayed, unsuccessful) comes
// back as the trip's events, once; a trip closed here is ended there, once,
// and a failed END is retried by the next run.
func TestSyncTripsWithLocoNav(t *testing.T) {
	f := loconavtest.NewServer(t)
	e := newEnv(t, withLocoNav(f))
	ctx := t.Context()
	p := e.invoke(t, dispatcher, "create_trip", newTripArgs).Pending
	res := e.reg.Confirm(ctx, dispatcher, p.ID)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	id := data(t, res)["trip_id"].(string)
	lt := f.Trips()[0]

	f.SetTripStatus(lt.ID, "delayed")
	for range 2 {
		if _, _, err := e.reg.SyncTripsWithLocoNav(ctx); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := e.db.TripEventsOf(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != "loconav_delayed" {
		t.Fatalf("events %+v, want one loconav_delayed", evs)
	}

	// Completed here (by a person): ended there. The first END fails.
	p = e.invoke(t, dispatcher, "update_trip_status", `{"trip":"`+id+`","status":"ongoing","reason":null}`).Pending
	if r := e.reg.Confirm(ctx, dispatcher, p.ID); r.Err != nil {
		t.Fatal(r.Err)
	}
	p = e.invoke(t, dispatcher, "update_trip_status", `{"trip":"`+id+`","status":"completed","reason":null}`).Pending
	if r := e.reg.Confirm(ctx, dispatcher, p.ID); r.Err != nil {
		t.Fatal(r.Err)
	}
	f.Fail(loconavtest.Fault{Method: http.MethodPut, Path: fmt.Sprintf("/trips/%d", lt.ID), N: 6, Status: http.StatusBadGateway})
	if ended, _, err := e.reg.SyncTripsWithLocoNav(ctx); ended != 0 || err == nil {
		t.Fatalf("ended %d with LocoNav failing (%v)", ended, err)
	}
	runs := 1
	for ; runs < 10; runs++ {
		if ended, _, _ := e.reg.SyncTripsWithLocoNav(ctx); ended == 1 {
			break
		}
	}
	if runs == 10 {
		t.Fatal("never ended once LocoNav recovered")
	}
	if ended, _, _ := e.reg.SyncTripsWithLocoNav(ctx); ended != 0 {
		t.Fatalf("ended again")
	}
	if got := f.Trips()[0]; got.Status != "completed" || !slices.Contains(got.Actions, "END_TRIP") {
		t.Errorf("LocoNav trip %s, actions %v", got.Status, got.Actions)
	}
}
