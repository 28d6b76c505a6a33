package store_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

func TestMigrateFromEmptyTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.NewSchema(t)
	db := store.NewFromPool(s.Pool)

	st, err := db.CheckSchema(ctx)
	if !errors.Is(err, store.ErrSchemaBehind) || len(st.Pending) == 0 || st.Applied != 0 {
		t.Fatalf("empty schema: CheckSchema = %+v, %v; want behind with pending migrations", st, err)
	}
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(applied) != len(ms) {
		t.Fatalf("first migrate applied %v, want all %d", applied, len(ms))
	}
	applied, err = db.Migrate(ctx)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate = %v, %v; want nothing applied", applied, err)
	}
	if st, err := db.CheckSchema(ctx); err != nil || st.Applied != len(ms) {
		t.Fatalf("after migrate: CheckSchema = %+v, %v", st, err)
	}

	// The tables the rest of Watch Tower relies on, and how they are built.
	for _, table := range []string{"organizations", "locations", "trucks", "drivers", "trips", "vehicle_positions",
		"alerts", "geofence_visits", "events", "raw_events", "daily_metrics", "sync_status", "users"} {
		var kind string
		if err := s.Pool.QueryRow(ctx, `SELECT c.relkind::text FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, s.Name, table).Scan(&kind); err != nil {
			t.Errorf("table %s: %v", table, err)
			continue
		}
		want := "r"
		if table == "vehicle_positions" {
			want = "p" // partitioned
		}
		if kind != want {
			t.Errorf("table %s has relkind %s, want %s", table, kind, want)
		}
	}
	for _, idx := range []string{"locations_boundary_idx", "trucks_position_idx"} {
		var method string
		if err := s.Pool.QueryRow(ctx, `SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, s.Name, idx).Scan(&method); err != nil || method != "gist" {
			t.Errorf("index %s: method %q, %v; want gist", idx, method, err)
		}
	}
}

func TestMigrateConcurrentReplicas(t *testing.T) {
	t.Parallel()
	s := storetest.NewSchema(t)
	db := store.NewFromPool(s.Pool)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			applied, err := db.Migrate(context.Background())
			errs[i] = err
			mu.Lock()
			total += len(applied)
			mu.Unlock()
		})
	}
	wg.Wait()
	ms, _ := store.Migrations()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent migrate: %v", err)
	}
	if total != len(ms) {
		t.Fatalf("migrations applied %d times in total, want each once (%d)", total, len(ms))
	}
}

func TestNormalizeTruckNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"T11985LA": "T11985LA", "t-11985-la": "T11985LA", "T 11985 LA": "T11985LA", " t11985la\n": "T11985LA",
		"T.11985/LA": "T11985LA", "11985": "11985", "": "", "--": "", "Т11985LA": "11985LA", // Cyrillic Т is not T
	} {
		if got := store.NormalizeTruckNumber(in); got != want {
			t.Errorf("NormalizeTruckNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+2348031234567": "+2348031234567", "0803 123 4567": "+2348031234567", "2348031234567": "+2348031234567",
		"(0803) 123-4567": "+2348031234567", "+44 20 7946 0958": "+442079460958",
		"": "", "0803": "", "call me": "", "+234+803": "",
	} {
		if got := store.NormalizePhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTruckByNumber(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	for _, q := range []string{"T11985LA", "t-11985-la", "T 11985 LA", "11985", "t11985la", "T11985", "t-11985"} {
		tr, err := db.TruckByNumber(ctx, q)
		if err != nil || tr.Number != "T11985LA" {
			t.Errorf("TruckByNumber(%q) = %q, %v; want T11985LA", q, tr.Number, err)
			continue
		}
		if tr.Company != "Watch Tower Haulage Ltd" || tr.OperatingLocation != "APAPA" || tr.LocoNavNumber != "T-11985-LA" ||
			tr.LocoNavUUID != "96371d6a-93a3-46e6-a663-3b59d53bb2fc" || tr.TrailerSize != "40ft" || tr.Fix != nil {
			t.Errorf("TruckByNumber(%q) = %+v", q, tr)
		}
	}
	for _, q := range []string{"20417", "T20417"} {
		var amb *store.AmbiguousError
		if _, err := db.TruckByNumber(ctx, q); !errors.As(err, &amb) || !errors.Is(err, store.ErrAmbiguous) ||
			!slices.Equal(amb.Candidates, []string{"T20417LA", "T20417LG"}) {
			t.Errorf("TruckByNumber(%s) error = %v; want ambiguous between T20417LA and T20417LG", q, err)
		}
	}
	for _, q := range []string{"T99999LA", "99999", "1985", "T1985", "11985LA", "T1198"} {
		if _, err := db.TruckByNumber(ctx, q); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TruckByNumber(%q) error = %v; want ErrNotFound", q, err)
		}
	}
	if _, err := db.TruckByNumber(ctx, " - "); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("TruckByNumber(\" - \") error = %v; want ErrInvalid", err)
	}
}

func TestLocationByName(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	for q, want := range map[string]string{
		"APAPA": "APAPA", "apapa": "APAPA", "Apapa Port": "APAPA", "apmt apapa": "APAPA",
		"Apapa Port Zone": "APAPA_ZONE", "apapa_zone": "APAPA_ZONE", "apapa zone": "APAPA_ZONE",
		"Golden Penny Apapa": "FMN_APAPA", "flour mills": "FMN_APAPA", "ibese": "DANGOTE_IBESE",
		"Dangote Sugar": "DANGOTE_SUGAR_APAPA",
	} {
		l, err := db.LocationByName(ctx, q)
		if err != nil || l.Code != want {
			t.Errorf("LocationByName(%q) = %q, %v; want %s", q, l.Code, err, want)
		}
	}
	if _, err := db.LocationByName(ctx, "dangote"); !errors.Is(err, store.ErrAmbiguous) {
		t.Errorf("LocationByName(dangote) error = %v; want ambiguous (Ibese or Sugar)", err)
	}
	if _, err := db.LocationByName(ctx, "Kano"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LocationByName(Kano) error = %v; want ErrNotFound", err)
	}
	if _, err := db.LocationByName(ctx, "100%"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LocationByName(100%%) error = %v; want ErrNotFound (LIKE wildcards are literal)", err)
	}
	l, err := db.LocationByName(ctx, "FMN_APAPA")
	if err != nil || l.RadiusM != 250 || l.Organization != "Flour Mills of Nigeria" || l.Center != fmnCenter {
		t.Errorf("FMN_APAPA = %+v, %v", l, err)
	}
}

func codes(ls []store.Location) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Code
	}
	return out
}

// TestLocationsContainingCircle checks a 200 m circle every 15 degrees, 1 m
// inside and 1 m outside the radius.
func TestLocationsContainingCircle(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	for b := 0.0; b < 360; b += 15 {
		in := offset(dangoteSugarCenter, b, 199)
		out := offset(dangoteSugarCenter, b, 201)
		got, err := db.LocationsContaining(ctx, in)
		// The circle pokes out of the zone's southern edge, so only the
		// site, smallest first, is certain.
		if err != nil || len(got) == 0 || got[0].Code != "DANGOTE_SUGAR_APAPA" {
			t.Errorf("bearing %v, 199 m: %v, %v; want the site first", b, codes(got), err)
		}
		got, err = db.LocationsContaining(ctx, out)
		if err != nil || slices.Contains(codes(got), "DANGOTE_SUGAR_APAPA") {
			t.Errorf("bearing %v, 201 m: %v, %v; want outside the site", b, codes(got), err)
		}
	}
}

// TestLocationsContainingPolygon checks every edge of the Apapa terminal
// polygon 1 m either side of its midpoint.
func TestLocationsContainingPolygon(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	centre := store.Point{Lat: 6.4435, Lon: 3.3665}
	for i := range apapaRing {
		a, b := apapaRing[i], apapaRing[(i+1)%len(apapaRing)]
		mid := store.Point{Lat: (a.Lat + b.Lat) / 2, Lon: (a.Lon + b.Lon) / 2}
		edge := bearing(a, b)
		p1, p2 := offset(mid, edge+90, 1), offset(mid, edge-90, 1)
		in, out := p1, p2
		if dist(p2, centre) < dist(p1, centre) {
			in, out = p2, p1
		}
		got, err := db.LocationsContaining(ctx, in)
		if err != nil || !slices.Equal(codes(got), []string{"APAPA", "APAPA_ZONE"}) {
			t.Errorf("edge %d, 1 m inside: %v, %v; want APAPA then APAPA_ZONE", i, codes(got), err)
		}
		got, err = db.LocationsContaining(ctx, out)
		if err != nil || !slices.Equal(codes(got), []string{"APAPA_ZONE"}) {
			t.Errorf("edge %d, 1 m outside: %v, %v; want only APAPA_ZONE", i, codes(got), err)
		}
	}
	// A vertex itself is on the boundary, which covers it.
	if got, err := db.LocationsContaining(ctx, apapaRing[0]); err != nil || !slices.Contains(codes(got), "APAPA") {
		t.Errorf("vertex: %v, %v; want APAPA", codes(got), err)
	}
	// Far from everything.
	if got, err := db.LocationsContaining(ctx, store.Point{Lat: 9.05, Lon: 7.49}); err != nil || len(got) != 0 {
		t.Errorf("Abuja: %v, %v; want nothing", codes(got), err)
	}
	if _, err := db.LocationsContaining(ctx, store.Point{Lat: 91, Lon: 3}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("latitude 91: error %v; want ErrInvalid", err)
	}
}

// dist is a flat-earth distance in metres, good enough to pick a side.
func dist(p, q store.Point) float64 {
	dy := (p.Lat - q.Lat) * 111_000
	dx := (p.Lon - q.Lon) * 111_000 * math.Cos(p.Lat*math.Pi/180)
	return math.Hypot(dx, dy)
}

func fix(p store.Point, at time.Time) store.Fix {
	speed := 42.0
	return store.Fix{Point: p, At: at, SpeedKmh: &speed}
}

func TestTrucksWithinAndInLocation(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	origin := fmnCenter
	place := map[string]store.Point{
		"T11985LA": offset(origin, 30, 500),  // 500 m NE
		"T20417LA": offset(origin, 200, 999), // 999 m SSW
		"T20417LG": offset(origin, 90, 1001), // just out of a 1 km radius
		"T30001LA": apapaRing[0],             // far-ish, on the Apapa boundary
	}
	for number, p := range place {
		tr, err := db.TruckByNumber(ctx, number)
		if err != nil {
			t.Fatal(err)
		}
		if moved, err := db.UpdateTruckPosition(ctx, tr.ID, fix(p, now)); err != nil || !moved {
			t.Fatalf("UpdateTruckPosition(%s) = %v, %v", number, moved, err)
		}
	}
	got, err := db.TrucksWithin(ctx, origin, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Number != "T11985LA" || got[1].Number != "T20417LA" {
		t.Fatalf("TrucksWithin 1 km = %+v; want T11985LA then T20417LA", got)
	}
	for i, want := range []float64{500, 999} {
		if math.Abs(got[i].DistanceM-want) > 0.5 {
			t.Errorf("%s distance = %.2f m, want %v ± 0.5", got[i].Number, got[i].DistanceM, want)
		}
	}
	if f := got[0].Fix; f == nil || !f.At.Equal(now) || f.SpeedKmh == nil || *f.SpeedKmh != 42 ||
		math.Abs(f.Lat-place["T11985LA"].Lat) > 1e-9 {
		t.Errorf("T11985LA fix = %+v", got[0].Fix)
	}

	loc, near, err := db.TrucksNearLocation(ctx, "Golden Penny Apapa", 1002)
	if err != nil || loc.Code != "FMN_APAPA" || len(near) != 3 {
		t.Errorf("TrucksNearLocation(Golden Penny Apapa, 1002 m) = %s, %d trucks, %v; want FMN_APAPA, 3", loc.Code, len(near), err)
	}

	loc, in, err := db.TrucksInLocation(ctx, "apapa port")
	if err != nil || loc.Code != "APAPA" || len(in) != 1 || in[0].Number != "T30001LA" {
		t.Errorf("TrucksInLocation(apapa port) = %s, %+v, %v; want T30001LA", loc.Code, in, err)
	}
	// T20417LG, 1001 m east of FMN at lon 3.38705, is just past the zone's
	// eastern edge (lon 3.38681 at that latitude).
	_, in, err = db.TrucksInLocation(ctx, "APAPA_ZONE")
	var numbers []string
	for _, tr := range in {
		numbers = append(numbers, tr.Number)
	}
	if err != nil || !slices.Equal(numbers, []string{"T11985LA", "T20417LA", "T30001LA"}) {
		t.Errorf("TrucksInLocation(APAPA_ZONE) = %v, %v; want T11985LA, T20417LA, T30001LA", numbers, err)
	}
	if _, _, err := db.TrucksInLocation(ctx, "Kano"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TrucksInLocation(Kano) error = %v; want ErrNotFound", err)
	}
	if _, err := db.TrucksWithin(ctx, origin, -1); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("negative radius: %v; want ErrInvalid", err)
	}
}

func TestUpdateTruckPositionOnlyMovesForward(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	ctx := context.Background()
	tr, err := db.TruckByNumber(ctx, "T11985LA")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	steps := []struct {
		at    time.Time
		p     store.Point
		moved bool
	}{
		{t0, fmnCenter, true},
		{t0.Add(time.Minute), dangoteSugarCenter, true},
		{t0.Add(30 * time.Second), fmnCenter, false}, // late fix
		{t0.Add(time.Minute), fmnCenter, false},      // same time again
	}
	for i, s := range steps {
		moved, err := db.UpdateTruckPosition(ctx, tr.ID, fix(s.p, s.at))
		if err != nil || moved != s.moved {
			t.Errorf("step %d: moved = %v, %v; want %v", i, moved, err, s.moved)
		}
	}
	tr, _ = db.TruckByNumber(ctx, "T11985LA")
	if tr.Fix == nil || tr.Fix.Point != dangoteSugarCenter || !tr.Fix.At.Equal(t0.Add(time.Minute)) {
		t.Errorf("position = %+v; want Dangote Sugar at t0+1m", tr.Fix)
	}
	if _, err := db.UpdateTruckPosition(ctx, tr.ID, fix(store.Point{}, t0.Add(time.Hour))); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("0,0 fix: %v; want ErrInvalid", err)
	}
}

func TestImportFleetIsAllOrNothing(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	in := demoFleet()
	in.Trucks = append(in.Trucks, store.Row[store.Truck]{Ref: "trucks.csv row 9", Value: store.Truck{Number: "T55555LA", Company: "Nobody Ltd"}})
	_, err := db.ImportFleet(ctx, "test", in)
	if !errors.Is(err, store.ErrInvalid) || !contains(err.Error(), `trucks.csv row 9`, `company "Nobody Ltd" does not exist`) {
		t.Fatalf("import with a bad row: %v; want ErrInvalid naming the row and the company", err)
	}
	sum, err := db.Summary(ctx)
	if err != nil || sum != (store.FleetSummary{}) {
		t.Fatalf("after failed import: %+v, %v; want nothing written", sum, err)
	}

	bad := []struct {
		name string
		loc  store.Location
		want string
	}{
		{"bow tie", store.Location{Code: "BOWTIE", Name: "x", Kind: store.LocationDepot, Center: fmnCenter,
			Boundary: []store.Point{{Lat: 6.45, Lon: 3.37}, {Lat: 6.46, Lon: 3.38}, {Lat: 6.45, Lon: 3.38}, {Lat: 6.46, Lon: 3.37}}}, "not a simple ring"},
		{"radius 20", store.Location{Code: "TINY", Name: "x", Kind: store.LocationDepot, Center: fmnCenter, RadiusM: 20}, "outside 50-300"},
		{"bad kind", store.Location{Code: "K", Name: "x", Kind: "port", Center: fmnCenter, RadiusM: 100}, "kind"},
		{"lower-case code", store.Location{Code: "apapa", Name: "x", Kind: store.LocationDepot, Center: fmnCenter, RadiusM: 100}, "code"},
	}
	for _, c := range bad {
		_, err := db.ImportFleet(ctx, "test", store.FleetImport{Locations: []store.Row[store.Location]{{Ref: c.name, Value: c.loc}}})
		if !errors.Is(err, store.ErrInvalid) || !contains(err.Error(), c.name, c.want) {
			t.Errorf("%s: %v; want ErrInvalid mentioning %q", c.name, err, c.want)
		}
	}
}

func TestImportFleetIdempotentAndReassignsDriver(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	if _, err := db.ImportFleet(ctx, "test", demoFleet()); err != nil {
		t.Fatal(err)
	}
	res, err := db.ImportFleet(ctx, "test", demoFleet())
	if err != nil {
		t.Fatal(err)
	}
	for kind, c := range res {
		if c.Inserted != 0 || c.Updated != 0 {
			t.Errorf("second import changed %s: %+v", kind, *c)
		}
	}
	// A new driver for T11985LA makes the old one a spare rather than
	// failing on the one-driver-per-truck rule.
	res, err = db.ImportFleet(ctx, "test", store.FleetImport{Drivers: []store.Row[store.Driver]{
		row(store.Driver{Name: "Musa Bello", Phone: "+2348099990000", TruckNumber: "T11985LA"})}})
	if err != nil || res["drivers"].Inserted != 1 {
		t.Fatalf("reassign driver: %v, %v", res, err)
	}
	u, err := db.UserBySlackID(ctx, "U04ABCD1234")
	if err != nil || u.Role != store.RoleDispatcher {
		t.Errorf("user = %+v, %v", u, err)
	}
	if _, err := db.UserBySlackID(ctx, "U0NOBODY"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v; want ErrNotFound", err)
	}
}

func TestPositionPartitions(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	day := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	if err := db.EnsurePositionPartitions(ctx, day, day.AddDate(0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	// Twice is fine.
	if err := db.EnsurePositionPartitions(ctx, day, day.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	dropped, err := db.DropPositionPartitionsBefore(ctx, day.AddDate(0, 0, 2).Add(13*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"vehicle_positions_20260110", "vehicle_positions_20260111"}
	// The shared schema may hold other tests' partitions only inside their
	// own transactions, so exactly ours are seen here.
	if !slices.Equal(dropped, want) {
		t.Fatalf("dropped %v, want %v", dropped, want)
	}
	again, err := db.DropPositionPartitionsBefore(ctx, day.AddDate(0, 0, 2))
	if err != nil || len(again) != 0 {
		t.Fatalf("second drop = %v, %v; want nothing", again, err)
	}
}

func TestEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	s, db := storetest.NewMigrated(t)
	ctx := context.Background()
	if err := db.AppendEvent(ctx, store.Event{Actor: "U04ABCD1234", Action: "trip.created", Subject: "truck:T11985LA",
		Payload: map[string]any{"vpc_id": "01/Apr/2025-T11985LA-CA60"}, CorrelationID: "req-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, "UPDATE events SET actor = 'mallory'"); err == nil || !contains(err.Error(), "append-only") {
		t.Errorf("UPDATE events: %v; want append-only refusal", err)
	}
	if _, err := s.Pool.Exec(ctx, "DELETE FROM events"); err == nil {
		t.Error("DELETE FROM events succeeded; want refusal")
	}
	if err := db.AppendEvent(ctx, store.Event{Action: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("event without actor: %v; want ErrInvalid", err)
	}
	var payload string
	if err := s.Pool.QueryRow(ctx, "SELECT payload->>'vpc_id' FROM events WHERE correlation_id = 'req-1'").Scan(&payload); err != nil ||
		payload != "01/Apr/2025-T11985LA-CA60" {
		t.Errorf("payload = %q, %v", payload, err)
	}
}

func TestPointValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p  store.Point
		ok bool
	}{
		{store.Point{Lat: 6.45, Lon: 3.39}, true},
		{store.Point{Lat: -90, Lon: 180}, true},
		{store.Point{Lat: 0, Lon: 0}, false},
		{store.Point{Lat: 90.0001, Lon: 3}, false},
		{store.Point{Lat: 6, Lon: -180.5}, false},
		{store.Point{Lat: math.NaN(), Lon: 3}, false},
		{store.Point{Lat: 6, Lon: math.Inf(1)}, false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%v.Validate() = %v, want ok=%v", c.p, err, c.ok)
		}
	}
	if s := (store.Point{Lat: 6.4435, Lon: 3.3665}).String(); s != "6.443500,3.366500" {
		t.Errorf("String() = %q", s)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
