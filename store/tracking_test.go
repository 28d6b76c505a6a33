package store_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// drive is a truck crossing Flour Mills Apapa (a 250 m circle) west to east
// at 30 km/h with a fix every 30 s (250 m apart), stopping ten minutes at
// the centre. No fix lies near the boundary, so the expected visit is exact:
// entered at the first fix inside (x = -150 m), left at the first fix
// outside (x = +400 m).
func drive(number string) (fixes []store.FixInput, entered, exited time.Time) {
	var xs []float64
	for x := -1400.0; x < 0; x += 250 {
		xs = append(xs, x)
	}
	for range 20 {
		xs = append(xs, 0)
	}
	for x := 150.0; x <= 5000; x += 250 {
		xs = append(xs, x)
	}
	for i, x := range xs {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		speed := 30.0
		if x == 0 {
			speed = 0
		}
		ign := true
		fixes = append(fixes, store.FixInput{TruckNumber: number, VehicleNumber: number, Source: "test", ReceivedAt: at,
			Fix: store.Fix{Point: offset(fmnCenter, 90, x), At: at, SpeedKmh: &speed, Ignition: &ign}})
		if x == -150 {
			entered = at
		}
		if x == 400 {
			exited = at
		}
	}
	return fixes, entered, exited
}

func visitsAt(t *testing.T, db *store.DB, number, code string) []store.Visit {
	t.Helper()
	tr, err := db.TruckByNumber(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := db.Visits(context.Background(), tr.ID, t0.Add(-time.Hour), t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(vs, func(v store.Visit) bool { return code != "" && v.LocationCode != code })
}

func record(t *testing.T, db *store.DB, fixes []store.FixInput) store.RecordResult {
	t.Helper()
	res, err := db.RecordFixes(context.Background(), fixes, store.DefaultRules())
	if err != nil {
		t.Fatalf("RecordFixes: %v", err)
	}
	return res
}

func TestRecordFixesInOrder(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	fixes, entered, exited := drive("T11985LA")
	for _, f := range fixes { // one fix per batch, as webhooks arrive
		record(t, db, []store.FixInput{f})
	}
	vs := visitsAt(t, db, "T11985LA", "FMN_APAPA")
	if len(vs) != 1 || !vs[0].EnteredAt.Equal(entered) || vs[0].ExitedAt == nil || !vs[0].ExitedAt.Equal(exited) {
		t.Fatalf("FMN_APAPA visits = %+v; want one from %v to %v", vs, entered, exited)
	}
	n, err := db.CountPositions(ctx, t0, t0.Add(24*time.Hour))
	if err != nil || n != int64(len(fixes)) {
		t.Errorf("stored %d positions, %v; want %d", n, err, len(fixes))
	}
	tr, _ := db.TruckByNumber(ctx, "T11985LA")
	last := fixes[len(fixes)-1]
	if tr.Fix == nil || !tr.Fix.At.Equal(last.At) || tr.Fix.Point != last.Point {
		t.Errorf("current position = %+v; want the last fix", tr.Fix)
	}

	// The same fixes again, as one batch: all duplicates, nothing changes.
	res := record(t, db, fixes)
	if res.Stored != 0 || res.Duplicates != len(fixes) || len(res.Alerts) != 0 {
		t.Errorf("redelivery: %+v; want %d duplicates and nothing else", res, len(fixes))
	}
	if again := visitsAt(t, db, "T11985LA", "FMN_APAPA"); !slices.EqualFunc(again, vs, sameVisit) {
		t.Errorf("visits after redelivery = %+v", again)
	}
}

func sameVisit(a, b store.Visit) bool {
	return a.LocationCode == b.LocationCode && a.EnteredAt.Equal(b.EnteredAt) &&
		(a.ExitedAt == nil) == (b.ExitedAt == nil) && (a.ExitedAt == nil || a.ExitedAt.Equal(*b.ExitedAt))
}

// shuffleLate delivers fixes in batches whose order is scrambled within a
// window: every fix arrives at most lateness after the newest one seen, and
// 2% arrive twice.
func shuffleLate(rng *rand.Rand, fixes []store.FixInput, lateness time.Duration, dupRate float64) [][]store.FixInput {
	type arrival struct {
		at  time.Time
		fix store.FixInput
	}
	var arr []arrival
	for _, f := range fixes {
		delay := time.Duration(rng.Int64N(int64(lateness)))
		arr = append(arr, arrival{f.At.Add(delay), f})
		if rng.Float64() < dupRate {
			arr = append(arr, arrival{f.At.Add(time.Duration(rng.Int64N(int64(lateness)))), f})
		}
	}
	slices.SortStableFunc(arr, func(a, b arrival) int { return a.at.Compare(b.at) })
	var batches [][]store.FixInput
	for len(arr) > 0 {
		n := min(1+rng.IntN(6), len(arr))
		var b []store.FixInput
		for _, a := range arr[:n] {
			b = append(b, a.fix)
		}
		batches = append(batches, b)
		arr = arr[n:]
	}
	return batches
}

// TestRecordFixesOutOfOrder feeds one truck in order and another the same
// path late, shuffled and duplicated: their visits must be the same.
func TestRecordFixesOutOfOrder(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	inOrder, entered, exited := drive("T11985LA")
	record(t, db, inOrder)
	shuffled, _, _ := drive("T20417LA")
	rng := rand.New(rand.NewPCG(7, 7))
	rewound := 0
	stored := 0
	for _, b := range shuffleLate(rng, shuffled, 10*time.Minute, 0.02) {
		res := record(t, db, b)
		rewound += res.Rewound
		stored += res.Stored
	}
	if rewound == 0 {
		t.Fatal("no batch was late: the test did not exercise rewinding")
	}
	if stored != len(shuffled) {
		t.Errorf("stored %d fixes, want each of %d once", stored, len(shuffled))
	}
	want := visitsAt(t, db, "T11985LA", "")
	got := visitsAt(t, db, "T20417LA", "")
	if !slices.EqualFunc(got, want, sameVisit) || len(want) == 0 {
		t.Fatalf("shuffled visits:\n%v\nin-order visits:\n%v", got, want)
	}
	fmn := visitsAt(t, db, "T20417LA", "FMN_APAPA")
	if len(fmn) != 1 || !fmn[0].EnteredAt.Equal(entered) || !fmn[0].ExitedAt.Equal(exited) {
		t.Errorf("FMN_APAPA = %+v; want %v to %v", fmn, entered, exited)
	}
	a, _ := db.TruckByNumber(ctx, "T11985LA")
	b, _ := db.TruckByNumber(ctx, "T20417LA")
	if b.Fix == nil || !b.Fix.At.Equal(a.Fix.At) || b.Fix.Point != a.Fix.Point {
		t.Errorf("current position after shuffled delivery = %+v; want %+v", b.Fix, a.Fix)
	}
}

// TestRecordFixesConcurrentReplicas has two "replicas" record one truck's
// shuffled fixes at once, through real separate transactions.
func TestRecordFixesConcurrentReplicas(t *testing.T) {
	t.Parallel()
	_, db := storetest.NewMigrated(t)
	ctx := context.Background()
	if _, err := db.ImportFleet(ctx, "test", demoFleet()); err != nil {
		t.Fatal(err)
	}
	fixes, entered, exited := drive("T11985LA")
	batches := shuffleLate(rand.New(rand.NewPCG(1, 9)), fixes, 10*time.Minute, 0.05)
	var wg sync.WaitGroup
	errs := make(chan error, len(batches))
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < len(batches); i += 2 {
				if _, err := db.RecordFixes(ctx, batches[i], store.DefaultRules()); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, _ := db.CountPositions(ctx, t0, t0.Add(24*time.Hour))
	if n != int64(len(fixes)) {
		t.Errorf("stored %d positions, want %d", n, len(fixes))
	}
	fmn := visitsAt(t, db, "T11985LA", "FMN_APAPA")
	if len(fmn) != 1 || !fmn[0].EnteredAt.Equal(entered) || !fmn[0].ExitedAt.Equal(exited) {
		t.Errorf("FMN_APAPA = %+v; want %v to %v", fmn, entered, exited)
	}
}

func TestRecordFixesUnknownVehicle(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	at := t0
	f := store.FixInput{TruckNumber: "KJA123XY", VehicleNumber: "kja-123-xy", Source: "test",
		Fix: store.Fix{Point: fmnCenter, At: at}}
	res := record(t, db, []store.FixInput{f})
	if res.Stored != 1 || len(res.Alerts) != 1 || res.Alerts[0].Kind != store.AlertUnknownVehicle {
		t.Fatalf("unknown vehicle: %+v; want the fix kept and an unknown_vehicle alert", res)
	}
	tr, err := db.TruckByNumber(ctx, "KJA 123 XY")
	if err != nil || tr.Status != store.TruckUnknown || tr.LocoNavNumber != "kja-123-xy" || tr.Fix == nil {
		t.Fatalf("registered truck = %+v, %v", tr, err)
	}
	// Seen again: no second alert.
	f.At = at.Add(time.Minute)
	if res := record(t, db, []store.FixInput{f}); len(res.Alerts) != 0 {
		t.Errorf("second fix raised %+v", res.Alerts)
	}
	// LocoNav's own spelling of a known truck finds it.
	known := store.FixInput{TruckNumber: store.NormalizeTruckNumber("t-11985-la"), VehicleNumber: "t-11985-la",
		Fix: store.Fix{Point: fmnCenter, At: at}}
	if res := record(t, db, []store.FixInput{known}); len(res.Alerts) != 0 || res.Stored != 1 {
		t.Errorf("known truck in LocoNav spelling: %+v", res)
	}
}

func TestRecordFixesRejectsBadFixes(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	bad := []store.FixInput{
		{TruckNumber: "T11985LA", Fix: store.Fix{Point: store.Point{}, At: t0}},
		{TruckNumber: "T11985LA", Fix: store.Fix{Point: store.Point{Lat: 95, Lon: 3}, At: t0}},
		{TruckNumber: "--", Fix: store.Fix{Point: fmnCenter, At: t0}},
		{TruckNumber: "T11985LA", Fix: store.Fix{Point: fmnCenter}},
	}
	res := record(t, db, bad)
	if res.Rejected != len(bad) || res.Stored != 0 {
		t.Errorf("bad fixes: %+v; want all rejected", res)
	}
}

func TestRecordFixesAlerts(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	tr, _ := db.TruckByNumber(ctx, "T11985LA")
	// A trip makes geofence arrivals and departures worth an alert.
	if _, err := db.CreateTrip(ctx, store.Trip{VPCID: "22/Nov/2026-T11985LA-FMN1", TruckNumber: "T11985LA",
		Pickup: "APAPA", Delivery: "FMN_APAPA", Status: store.TripOngoing, ScheduledDeparture: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	fixes, _, _ := drive("T11985LA")
	// Speeding on the way out: fixes 30..33 at 75 km/h, one episode.
	for i := 30; i < 34; i++ {
		v := 75.0 + float64(i)
		fixes[i].SpeedKmh = &v
	}
	var alerts []store.Alert
	for _, f := range fixes {
		alerts = append(alerts, record(t, db, []store.FixInput{f}).Alerts...)
	}
	kinds := map[string]int{}
	for _, a := range alerts {
		kinds[a.Kind+":"+a.LocationCode]++
	}
	want := map[string]int{"overspeed:": 1, "geofence_enter:FMN_APAPA": 1, "geofence_exit:FMN_APAPA": 1, "geofence_enter:APAPA_ZONE": 1, "geofence_exit:APAPA_ZONE": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s alerts = %d, want %d (all: %v)", k, kinds[k], n, kinds)
		}
	}
	stored, err := db.AlertsForTruck(ctx, tr.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range stored {
		if a.Kind == store.AlertOverspeed {
			if a.EndedAt == nil || a.Details["max_speed_kmh"] != 108.0 {
				t.Errorf("overspeed alert = %+v; want ended with max 108", a)
			}
		}
		if a.Kind == store.AlertGeofenceEnter && a.TripID == nil {
			t.Errorf("geofence alert without its trip: %+v", a)
		}
	}
}

func TestDetectOfflineTrucks(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	tr, _ := db.TruckByNumber(ctx, "T11985LA")
	f := store.FixInput{TruckNumber: "T11985LA", Fix: store.Fix{Point: fmnCenter, At: t0}}
	record(t, db, []store.FixInput{f})
	now := t0.Add(2*time.Hour + time.Minute)
	got, err := db.DetectOfflineTrucks(ctx, now, 2*time.Hour)
	if err != nil || len(got) != 1 || got[0].TruckID != tr.ID || got[0].Kind != store.AlertDeviceOffline {
		t.Fatalf("offline = %+v, %v; want T11985LA", got, err)
	}
	if again, _ := db.DetectOfflineTrucks(ctx, now.Add(10*time.Minute), 2*time.Hour); len(again) != 0 {
		t.Errorf("second sweep raised %+v; want one alert per silence", again)
	}
	// The tracker comes back: the alert ends.
	f.At = now.Add(20 * time.Minute)
	record(t, db, []store.FixInput{f})
	alerts, _ := db.AlertsForTruck(ctx, tr.ID, 10)
	if len(alerts) != 1 || alerts[0].EndedAt == nil || !alerts[0].EndedAt.Equal(f.At) {
		t.Errorf("alerts after the tracker came back = %+v", alerts)
	}
}

func TestRecordLocoNavAlerts(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	end := t0.Add(5 * time.Minute)
	speed := 75.5
	in := []store.LocoNavAlert{
		{AlertID: 123, Kind: "OverspeedAlert", TruckNumber: "T11985LA", VehicleNumber: "T-11985-LA", StartedAt: t0, EndedAt: &end, SpeedKmh: &speed, Position: &fmnCenter},
		{AlertID: 124, Kind: "GeofenceAlert", TruckNumber: "T11985LA", VehicleNumber: "T-11985-LA", StartedAt: t0, PolygonID: 5011, EventKey: "geofence_enter"},
		{Kind: "BrandNewAlert", TruckNumber: "ABC123", VehicleNumber: "ABC123", StartedAt: t0},
	}
	created, err := db.RecordLocoNavAlerts(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// Three alerts, plus one for the unknown vehicle ABC123.
	if len(created) != 4 {
		t.Fatalf("created %d alerts: %+v", len(created), created)
	}
	var geo store.Alert
	for _, a := range created {
		if a.Kind == "GeofenceAlert" {
			geo = a
		}
	}
	if geo.LocationCode != "DANGOTE_SUGAR_APAPA" {
		t.Errorf("geofence alert location = %q; want DANGOTE_SUGAR_APAPA (LocoNav polygon 5011)", geo.LocationCode)
	}
	again, err := db.RecordLocoNavAlerts(ctx, in)
	if err != nil || len(again) != 0 {
		t.Errorf("redelivered alerts created %+v, %v; want none", again, err)
	}
	pub, err := db.UnpublishedAlerts(ctx, time.Now().Add(time.Minute), 10)
	if err != nil || len(pub) != 4 {
		t.Fatalf("unpublished = %d, %v", len(pub), err)
	}
	ids := []int64{pub[0].ID, pub[1].ID}
	if err := db.MarkAlertsPublished(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if pub, _ := db.UnpublishedAlerts(ctx, time.Now().Add(time.Minute), 10); len(pub) != 2 {
		t.Errorf("after publishing two, %d unpublished; want 2", len(pub))
	}
}
