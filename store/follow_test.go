package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

func at(h, m int) time.Time { return time.Date(2026, 12, 4, h, m, 0, 0, time.UTC) }

func tp(h, m int) *time.Time { t := at(h, m); return &t }

func fmtM(m store.Milestones) string {
	f := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format("15:04")
	}
	return fmt.Sprintf("pickup %s departed %s delivery %s delivered %s left %s returned %s",
		f(m.AtPickup), f(m.Departed), f(m.AtDelivery), f(m.Delivered), f(m.DepartedDelivery), f(m.Returned))
}

// Milestones from visits, case by case.
func TestDeriveMilestones(t *testing.T) {
	const pickup, delivery, depot, other = 1, 2, 3, 4
	v := func(loc int64, kind string, in time.Time, out *time.Time) store.VisitSpan {
		return store.VisitSpan{LocationID: loc, Kind: kind, Entered: in, Exited: out}
	}
	open := at(6, 0)
	cases := []struct {
		name   string
		visits []store.VisitSpan
		now    time.Time
		want   string
	}{
		{"nothing yet", nil, at(7, 0), "pickup - departed - delivery - delivered - left - returned -"},
		{"a pickup visit over before the window is another trip's",
			[]store.VisitSpan{v(pickup, "terminal", at(1, 0), tp(2, 0))}, at(7, 0), "pickup - departed - delivery - delivered - left - returned -"},
		{"waiting since before the window: at pickup when it opens",
			[]store.VisitSpan{v(pickup, "terminal", at(4, 0), nil)}, at(7, 0), "pickup 06:00 departed - delivery - delivered - left - returned -"},
		{"at delivery, offload dwell not passed",
			[]store.VisitSpan{v(pickup, "terminal", at(6, 10), tp(7, 0)), v(other, "client", at(7, 20), tp(7, 40)), v(delivery, "client", at(8, 0), nil)},
			at(8, 30), "pickup 06:10 departed 07:00 delivery 08:00 delivered - left - returned -"},
		{"delivered once the offload dwell passes, still inside",
			[]store.VisitSpan{v(pickup, "terminal", at(6, 10), tp(7, 0)), v(delivery, "client", at(8, 0), nil)},
			at(8, 50), "pickup 06:10 departed 07:00 delivery 08:00 delivered 08:45 left - returned -"},
		{"delivered on leaving before the dwell; back at the depot",
			[]store.VisitSpan{v(pickup, "terminal", at(6, 10), tp(7, 0)), v(delivery, "client", at(8, 0), tp(8, 20)),
				v(other, "client", at(8, 40), tp(9, 0)), v(depot, "depot", at(9, 30), nil)},
			at(10, 0), "pickup 06:10 departed 07:00 delivery 08:00 delivered 08:20 left 08:20 returned 09:30"},
		{"a delivery visit before leaving pickup does not count",
			[]store.VisitSpan{v(delivery, "client", at(6, 0), tp(6, 5)), v(pickup, "terminal", at(6, 10), tp(7, 0))},
			at(7, 30), "pickup 06:10 departed 07:00 delivery - delivered - left - returned -"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := fmtM(store.DeriveMilestones(pickup, delivery, open, c.visits, 45*time.Minute, c.now))
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// driveDay records T11985LA's day: at Apapa from 05:00, out to Flour Mills at
// 07:00 with a 27-minute stop, engine on, on the way; offloading until
// 08:10; back at Apapa by 08:25.
func driveDay(t *testing.T, db *store.DB, until time.Time) {
	t.Helper()
	apapa := store.Point{Lat: 6.4435, Lon: 3.3665}
	var in []store.FixInput
	add := func(when time.Time, p store.Point, speed float64) {
		if when.After(until) {
			return
		}
		ign := true
		in = append(in, store.FixInput{TruckNumber: "T11985LA", VehicleNumber: "T-11985-LA", Source: "test", ReceivedAt: when,
			Fix: store.Fix{Point: p, At: when, SpeedKmh: &speed, Ignition: &ign}})
	}
	lerp := func(a, b store.Point, f float64) store.Point {
		return store.Point{Lat: a.Lat + (b.Lat-a.Lat)*f, Lon: a.Lon + (b.Lon-a.Lon)*f}
	}
	mid := lerp(apapa, fmnCenter, 0.5)
	for m := 0; m < 120; m++ { // 05:00–06:59 at Apapa
		add(at(5, 0).Add(time.Duration(m)*time.Minute), apapa, 0)
	}
	for m := 0; m < 3; m++ { // 07:00–07:02 half way
		add(at(7, m), lerp(apapa, mid, float64(m+1)/3), 25)
	}
	for m := 3; m < 30; m++ { // 07:03–07:29 stopped, engine on
		add(at(7, m), mid, 0)
	}
	for m := 30; m < 35; m++ { // 07:30–07:34 on to Flour Mills
		add(at(7, m), lerp(mid, fmnCenter, float64(m-29)/5), 25)
	}
	for m := 35; m < 70; m++ { // 07:35–08:09 offloading
		add(at(7, 0).Add(time.Duration(m)*time.Minute), fmnCenter, 0)
	}
	for m := 70; m < 85; m++ { // 08:10–08:24 back
		add(at(7, 0).Add(time.Duration(m)*time.Minute), lerp(fmnCenter, apapa, float64(m-69)/15), 20)
	}
	for m := 85; m < 150; m++ { // 08:25 on at Apapa
		add(at(7, 0).Add(time.Duration(m)*time.Minute), apapa, 0)
	}
	if _, err := db.RecordFixes(context.Background(), in, store.DefaultRules()); err != nil {
		t.Fatal(err)
	}
}

func events(t *testing.T, db *store.DB, id string) string {
	t.Helper()
	evs, err := db.TripEventsOf(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s#%d@%s", e.Kind, e.Seq, e.At.UTC().Format("15:04")))
	}
	return strings.Join(out, " ")
}

// A trip follows itself through the day: late leaving pickup (a delay that
// starts and clears), an ETA that slips past plan while the truck stands
// with its engine on (a second delay and an exception), delivered, back at
// base and closed.
func TestFollowTripThroughTheDay(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	trip, err := db.CreateTrip(ctx, store.Trip{TruckNumber: "T11985LA", Pickup: "APAPA", Delivery: "FMN_APAPA",
		ScheduledDeparture: at(4, 0), CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	rules := store.DefaultFollowRules()
	step := func(now time.Time) store.Trip {
		t.Helper()
		driveDay(t, db, now)
		if _, err := db.FollowTrips(ctx, []string{"T11985LA"}, now, rules); err != nil {
			t.Fatal(err)
		}
		got, err := db.TripByRef(ctx, trip.VPCID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	got := step(at(6, 30))
	if got.Status != store.TripDelayed || got.Milestone != store.MilestoneAtPickup || got.DelayReason != "departure" {
		t.Errorf("06:30: %s at %s (%s)", got.Status, got.Milestone, got.DelayReason)
	}
	got = step(at(7, 28))
	if got.Status != store.TripDelayed || got.Milestone != store.MilestoneDeparted || got.DelayReason != "eta" || got.ETA == nil {
		t.Errorf("07:28: %s at %s (%s), eta %v", got.Status, got.Milestone, got.DelayReason, got.ETA)
	}
	got = step(at(9, 0))
	if got.Status != store.TripCompleted || got.Milestone != store.MilestoneClosed || got.ClosedAt == nil || got.DelayedSince != nil {
		t.Errorf("09:00: %s at %s, closed %v, delayed since %v", got.Status, got.Milestone, got.ClosedAt, got.DelayedSince)
	}
	// The 07:00 fix is still inside the terminal; 07:01 is the first out.
	want := "at_pickup#1@05:00 delay_started#1@06:00 departed_pickup#1@07:01 delay_cleared#1@07:01"
	evs := events(t, db, trip.VPCID)
	if !strings.HasPrefix(evs, want) {
		t.Errorf("events %s\nwant them to start %s", evs, want)
	}
	for _, kind := range []string{"delay_started#2@07:28", "exception_idle#", "at_delivery#1@07:3", "delivered#1@08:1", "departed_delivery#1@08:1", "returned#1@08:2", "delay_cleared#2@09:00"} {
		if !strings.Contains(evs, kind) {
			t.Errorf("events %s lack %s", evs, kind)
		}
	}
	// Following again changes nothing: each event once.
	before := evs
	step(at(9, 0))
	if after := events(t, db, trip.VPCID); after != before {
		t.Errorf("a second follow changed the events:\n%s\n%s", before, after)
	}
}

// A person's status is never undone by automatic progress.
func TestFollowRespectsPeople(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	trip, err := db.CreateTrip(ctx, store.Trip{TruckNumber: "T11985LA", Pickup: "APAPA", Delivery: "FMN_APAPA",
		ScheduledDeparture: at(6, 30), CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	driveDay(t, db, at(7, 10))
	if _, err := db.UpdateTripStatus(ctx, store.TripStatusChange{TripID: trip.ID, To: store.TripOngoing, Actor: "U1", At: at(7, 5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateTripStatus(ctx, store.TripStatusChange{TripID: trip.ID, To: store.TripUnsuccessful, Actor: "U1", Reason: "container refused", At: at(7, 10)}); err != nil {
		t.Fatal(err)
	}
	driveDay(t, db, at(9, 0))
	if _, err := db.FollowTrips(ctx, nil, at(9, 0), store.DefaultFollowRules()); err != nil {
		t.Fatal(err)
	}
	got, _ := db.TripByRef(ctx, trip.VPCID)
	if got.Status != store.TripUnsuccessful {
		t.Errorf("status %s after following, want the person's unsuccessful", got.Status)
	}
}

// A cancelled trip is not followed.
func TestFollowSkipsCancelled(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	trip, err := db.CreateTrip(ctx, store.Trip{TruckNumber: "T11985LA", Pickup: "APAPA", Delivery: "FMN_APAPA",
		ScheduledDeparture: at(6, 30), CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CancelTrip(ctx, trip.ID, "U1", "client postponed", ""); err != nil {
		t.Fatal(err)
	}
	driveDay(t, db, at(9, 0))
	evs, err := db.FollowTrips(ctx, nil, at(9, 0), store.DefaultFollowRules())
	if err != nil || len(evs) != 0 {
		t.Errorf("a cancelled trip was followed: %v %v", evs, err)
	}
	if got, _ := db.TripByRef(ctx, trip.VPCID); got.Status != store.TripCancelled || got.Milestone != store.MilestoneScheduled {
		t.Errorf("cancelled trip now %s at %s", got.Status, got.Milestone)
	}
}
