package ingest_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/sim"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// followDay runs a simulated day's fixes through the fold in batches, in
// the order given, following the trips every simulated quarter hour as the
// job would, and returns the trips and their events.
func followDay(t *testing.T, s *sim.Sim, fixes []sim.Fix, end time.Time) (map[string]store.Trip, map[string][]string, *store.DB) {
	t.Helper()
	ctx := context.Background()
	_, db := storetest.NewMigrated(t)
	fleet, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportFleet(ctx, "test", fleet); err != nil {
		t.Fatal(err)
	}
	truth := s.Truth()
	ids := map[string]sim.Trip{}
	for _, tr := range truth.Trips {
		got, err := db.CreateTrip(ctx, store.Trip{TruckNumber: tr.TruckNumber, Pickup: tr.Pickup, Delivery: tr.Delivery,
			ScheduledDeparture: tr.ScheduledDeparture, CreatedBy: "simulator"})
		if err != nil {
			t.Fatalf("book %s %s→%s: %v", tr.TruckNumber, tr.Pickup, tr.Delivery, err)
		}
		ids[got.VPCID] = tr
	}
	rules := store.DefaultFollowRules()
	// The fold follows the trucks whose visits it changes, at the batch's
	// last fix time; the job catches up every quarter hour.
	var foldNow time.Time
	followedByFold := 0
	fold := store.DefaultRules()
	fold.Follow, fold.Now = &rules, func() time.Time { return foldNow }
	next := fixes[0].At.Add(15 * time.Minute)
	for i := 0; i < len(fixes); i += 500 {
		batch := fixes[i:min(i+500, len(fixes))]
		var in []store.FixInput
		for _, f := range batch {
			sp, ign := f.SpeedKmh, f.Ignition
			in = append(in, store.FixInput{TruckNumber: f.TruckNumber, VehicleNumber: f.VehicleNumber, Source: "sim", ReceivedAt: f.At,
				Fix: store.Fix{Point: f.Point, At: f.At, SpeedKmh: &sp, Ignition: &ign}})
		}
		foldNow = batch[len(batch)-1].At
		res, err := db.RecordFixes(ctx, in, fold)
		if err != nil || res.FollowErr != nil {
			t.Fatal(err, res.FollowErr)
		}
		followedByFold += len(res.TripEvents)
		if at := batch[len(batch)-1].At; at.After(next) {
			if _, err := db.FollowTrips(ctx, nil, at, rules); err != nil {
				t.Fatal(err)
			}
			next = at.Add(15 * time.Minute)
		}
	}
	if _, err := db.FollowTrips(ctx, nil, end, rules); err != nil {
		t.Fatal(err)
	}
	if followedByFold == 0 {
		t.Error("the fold followed no trip: every event came from the job")
	}
	trips, _, err := db.Trips(ctx, store.TripFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Trip{}
	for _, tr := range trips {
		out[tr.VPCID] = tr
	}
	events := map[string][]string{}
	for id := range out {
		evs, err := db.TripEventsOf(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			events[id] = append(events[id], fmt.Sprintf("%s#%d@%s", e.Kind, e.Seq, e.At.UTC().Format("15:04:05")))
		}
	}
	return out, events, db
}

// A simulated day whose trips are known: every milestone within one fix
// interval of the truth, every late departure found as a delay that
// started and cleared at the right times, and no event for a place a
// truck only drove through. Shuffled and duplicated delivery gives the
// same milestones and events.
func TestTripsFollowSimulatedDay(t *testing.T) {
	t.Parallel()
	trucks, places := simFleet(t, 16)
	const interval = 30 * time.Second
	start := time.Date(2026, 11, 20, 5, 0, 0, 0, time.UTC)
	end := start.Add(30 * time.Hour)
	s, err := sim.New(sim.Config{Seed: 21, Start: start, Duration: 30 * time.Hour, FixInterval: interval, Trucks: trucks, Places: places})
	if err != nil {
		t.Fatal(err)
	}
	truth := s.Truth()
	late := 0
	for _, tr := range truth.Trips {
		if tr.Late {
			late++
		}
	}
	if len(truth.Trips) < 10 || late == 0 {
		t.Fatalf("the day books %d trips, %d late: too few to check", len(truth.Trips), late)
	}

	inOrder, inOrderEvents, db := followDay(t, s, s.Fixes(), end)
	// The detour factor, from the day's own delivered trips: a road is
	// longer than the straight line, and not absurdly so.
	detour, err := db.CalibrateDetour(context.Background())
	if err != nil || detour <= 1.0 || detour >= 3 {
		t.Errorf("detour factor %.2f (%v), want within (1, 3)", detour, err)
	}
	t.Logf("detour factor calibrated on the day's trips: %.2f", detour)
	checkDayKPIs(t, db, s, start)

	near := func(what string, got *time.Time, want time.Time) string {
		switch {
		case want.IsZero() && got == nil:
			return ""
		case want.IsZero():
			return fmt.Sprintf("%s %s, want none", what, got.UTC().Format(time.TimeOnly))
		case got == nil:
			return fmt.Sprintf("%s none, want %s", what, want.UTC().Format(time.TimeOnly))
		case got.Sub(want) > interval || want.Sub(*got) > interval:
			return fmt.Sprintf("%s %s, want %s", what, got.UTC().Format(time.TimeOnly), want.UTC().Format(time.TimeOnly))
		}
		return ""
	}
	byKey := map[string]store.Trip{}
	for _, tr := range inOrder {
		byKey[tr.TruckNumber+tr.ScheduledDeparture.UTC().Format(time.RFC3339)] = tr
	}
	delays := 0
	for _, want := range truth.Trips {
		got, ok := byKey[want.TruckNumber+want.ScheduledDeparture.UTC().Format(time.RFC3339)]
		if !ok {
			t.Errorf("trip %s at %s not stored", want.TruckNumber, want.ScheduledDeparture)
			continue
		}
		var probs []string
		for _, p := range []string{
			near("at pickup", got.AtPickupAt, want.AtPickup), near("departed", got.ActualDeparture, want.Departed),
			near("at delivery", got.ArrivedAt, want.AtDelivery), near("delivered", got.OffloadedAt, want.Delivered),
			near("returned", got.ReturnedAt, want.Returned),
		} {
			if p != "" {
				probs = append(probs, p)
			}
		}
		evs := strings.Join(inOrderEvents[got.VPCID], " ")
		if want.Late {
			delays++
			if !strings.Contains(evs, "delay_started#1@"+want.DelayStarted.UTC().Format("15:04:05")) || !strings.Contains(evs, "delay_cleared#1@") {
				probs = append(probs, "late departure not found as a delay: "+evs)
			}
		} else if strings.Contains(evs, "delay_started#1") {
			probs = append(probs, "a delay on a trip that left in time: "+evs)
		}
		for _, e := range inOrderEvents[got.VPCID] {
			if !slices.Contains([]string{"at_pickup", "departed_pickup", "at_delivery", "delivered", "departed_delivery", "returned",
				"delay_started", "delay_cleared", "exception_idle", "exception_offline"}, strings.Split(e, "#")[0]) {
				probs = append(probs, "unexpected event "+e)
			}
		}
		if len(probs) > 0 {
			t.Errorf("%s %s→%s: %s", got.VPCID, want.Pickup, want.Delivery, strings.Join(probs, "; "))
		}
	}
	if delays != late {
		t.Errorf("%d late trips checked, %d in the truth", delays, late)
	}

	// Shuffled within ten minutes, 3% twice: the same milestones and
	// events.
	rng := rand.New(rand.NewPCG(5, 6))
	type arrival struct {
		at time.Time
		f  sim.Fix
	}
	var arr []arrival
	for _, f := range s.Fixes() {
		arr = append(arr, arrival{f.At.Add(time.Duration(rng.Int64N(int64(10 * time.Minute)))), f})
		if rng.Float64() < 0.03 {
			arr = append(arr, arrival{f.At.Add(time.Duration(rng.Int64N(int64(10 * time.Minute)))), f})
		}
	}
	slices.SortStableFunc(arr, func(a, b arrival) int { return a.at.Compare(b.at) })
	shuffled := make([]sim.Fix, len(arr))
	for i, a := range arr {
		shuffled[i] = a.f
	}
	again, againEvents, _ := followDay(t, s, shuffled, end)
	for id, a := range inOrder {
		b := again[id]
		if fmt.Sprint(a.AtPickupAt, a.ActualDeparture, a.ArrivedAt, a.OffloadedAt, a.ReturnedAt, a.Status, a.Milestone) !=
			fmt.Sprint(b.AtPickupAt, b.ActualDeparture, b.ArrivedAt, b.OffloadedAt, b.ReturnedAt, b.Status, b.Milestone) {
			t.Errorf("%s: in order %v %v %v %v %v %s %s; shuffled %v %v %v %v %v %s %s", id,
				a.AtPickupAt, a.ActualDeparture, a.ArrivedAt, a.OffloadedAt, a.ReturnedAt, a.Status, a.Milestone,
				b.AtPickupAt, b.ActualDeparture, b.ArrivedAt, b.OffloadedAt, b.ReturnedAt, b.Status, b.Milestone)
		}
		x, y := milestoneEvents(inOrderEvents[id]), milestoneEvents(againEvents[id])
		if !slices.Equal(x, y) {
			t.Errorf("%s events: in order %v, shuffled %v", id, x, y)
		}
	}
	t.Logf("%d trips (%d late) followed through %d fixes", len(truth.Trips), late, len(s.Fixes()))
}

// milestoneEvents are the events fixed by the fixes alone (an ETA delay
// depends on when it was noticed).
func milestoneEvents(evs []string) []string {
	var out []string
	for _, e := range evs {
		if !strings.HasPrefix(e, "delay_started#") || strings.HasPrefix(e, "delay_started#1@") {
			if !strings.HasPrefix(e, "delay_cleared#") || strings.HasPrefix(e, "delay_cleared#1@") {
				out = append(out, e)
			}
		}
	}
	slices.Sort(out)
	return out
}

// checkDayKPIs computes the KPIs of the simulated Lagos day and holds them
// to the simulator's truth: distance, dwell, turnaround and utilisation
// within 1%; and a second computation gives the same row.
func checkDayKPIs(t *testing.T, db *store.DB, s *sim.Sim, start time.Time) store.DayKPIs {
	t.Helper()
	ctx := context.Background()
	day := start.In(lagos)
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, lagos)
	to := from.AddDate(0, 0, 1)
	k, err := db.ComputeDay(ctx, from, lagos, 2*time.Hour, to.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	again, err := db.ComputeDay(ctx, from, lagos, 2*time.Hour, to.Add(2*time.Hour))
	if err != nil || fmt.Sprint(again) != fmt.Sprint(k) {
		t.Errorf("recomputing the day differs:\n%+v\n%+v", k, again)
	}
	truth := s.Truth()
	within := func(what string, got, want float64) {
		t.Helper()
		if want == 0 || math.Abs(got-want)/want > 0.01 {
			t.Errorf("%s = %.3f, truth %.3f (more than 1%% off)", what, got, want)
		}
	}
	// Distance: the legs between each truck's fixes in the day, jumps over
	// 150 km/h left out.
	var km float64
	last := map[string]sim.Fix{}
	for _, f := range s.Fixes() {
		if f.At.Before(from) || !f.At.Before(to) {
			continue
		}
		if p, ok := last[f.TruckNumber]; ok {
			d := haversineKm(p.Point, f.Point)
			if secs := f.At.Sub(p.At).Seconds(); secs > 0 && d/secs*3600 <= 150 {
				km += d
			}
		}
		last[f.TruckNumber] = f
	}
	within("distance km", k.DistanceKm, km)
	// Dwell: the true visits, clipped to the day.
	var dwell float64
	for _, v := range truth.Visits {
		end := v.Exited
		if end.IsZero() || end.After(to) {
			end = to
		}
		begin := v.Entered
		if begin.Before(from) {
			begin = from
		}
		if end.After(begin) {
			dwell += end.Sub(begin).Minutes()
		}
	}
	var gotDwell float64
	for _, p := range k.Dwell {
		gotDwell += p.Minutes
	}
	within("dwell minutes", gotDwell, dwell)
	// Turnaround: pickup arrival to back at base, for trips back that day.
	var tat float64
	n := 0
	for _, tr := range truth.Trips {
		if !tr.Returned.IsZero() && !tr.Returned.Before(from) && tr.Returned.Before(to) {
			tat += tr.Returned.Sub(tr.AtPickup).Minutes()
			n++
		}
	}
	if k.TurnaroundTrips != n {
		t.Errorf("%d trips with a turnaround, truth %d", k.TurnaroundTrips, n)
	} else if n > 0 {
		within("turnaround minutes", k.TurnaroundMinutes, tat/float64(n))
	}
	// Time utilisation: trip hours (pickup arrival to back, or the day's
	// end) over the active trucks' day.
	var hours float64
	working := map[string]bool{}
	for _, tr := range truth.Trips {
		b, e := tr.AtPickup, tr.Returned
		if e.IsZero() || e.After(to) {
			e = to
		}
		if b.Before(from) {
			b = from
		}
		if e.After(b) {
			hours += e.Sub(b).Hours()
		}
		if e.Sub(b) >= time.Hour {
			working[tr.TruckNumber] = true
		}
	}
	if k.ActiveTrucks > 0 && len(working) > 0 {
		within("utilisation", k.Utilisation, float64(len(working))/float64(k.ActiveTrucks))
	}
	if hours > 0 || k.TripHours > 0 {
		within("trip hours", k.TripHours, hours)
	}
	t.Logf("%s KPIs: %d started, %d completed, turnaround %.0f min over %d trips, %.1f trip-hours, %.0f km, utilisation %.0f%%",
		k.Day, k.TripsStarted, k.TripsCompleted, k.TurnaroundMinutes, k.TurnaroundTrips, k.TripHours, k.DistanceKm, 100*k.Utilisation)
	return k
}

// A simulated week whose trips the simulator booked: each day's KPIs
// against its truth (distance, dwell, turnaround and trip hours within
// 1%), and the week's sum adds the days up.
func TestKPIsSimulatedWeek(t *testing.T) {
	t.Parallel()
	trucks, places := simFleet(t, 8)
	start := time.Date(2026, 11, 15, 23, 0, 0, 0, time.UTC) // Monday 16 November, 00:00 in Lagos
	end := start.Add(7 * 24 * time.Hour)
	s, err := sim.New(sim.Config{Seed: 9, Start: start, Duration: 7 * 24 * time.Hour, FixInterval: time.Minute, Trucks: trucks, Places: places})
	if err != nil {
		t.Fatal(err)
	}
	_, _, db := followDay(t, s, s.Fixes(), end)
	var days []store.DayKPIs
	for d := range 7 {
		days = append(days, checkDayKPIs(t, db, s, start.AddDate(0, 0, d)))
	}
	week := store.SumKPIs(days)
	started, km := 0, 0.0
	for _, d := range days {
		started += d.TripsStarted
		km += d.DistanceKm
	}
	if week.TripsStarted != started || math.Abs(week.DistanceKm-km) > 1e-6 || week.TripsStarted == 0 {
		t.Errorf("the week: %d trips started, %.1f km; the days add up to %d and %.1f", week.TripsStarted, week.DistanceKm, started, km)
	}
}

func haversineKm(a, b store.Point) float64 {
	const r = 6371.0088
	la1, la2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dla, dlo := la2-la1, (b.Lon-a.Lon)*math.Pi/180
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// simFleet is the first n active trucks of the test fleet and its places.
func simFleet(t *testing.T, n int) ([]store.Truck, []store.Location) {
	t.Helper()
	fleet, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	var trucks []store.Truck
	for _, r := range fleet.Trucks {
		if r.Value.Status == "" || r.Value.Status == store.TruckActive {
			trucks = append(trucks, r.Value)
		}
		if len(trucks) == n {
			break
		}
	}
	var places []store.Location
	for _, r := range fleet.Locations {
		places = append(places, r.Value)
	}
	return trucks, places
}
