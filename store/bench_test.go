package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// Greater Lagos, where the generated places and trucks are spread.
const (
	minLat, maxLat = 6.35, 6.75
	minLon, maxLon = 3.00, 3.90
)

// reportLatency adds p50 and p99 of the per-call durations to the benchmark
// output: the targets are on p99, which ns/op (a mean) cannot show.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// execSeeded runs a data-generating statement over Greater Lagos with
// Postgres's random() seeded, on one connection so that the seed holds and
// the data is the same every run, then analyzes the table it filled.
func execSeeded(b *testing.B, s *storetest.Schema, seed float64, sql, table string) {
	b.Helper()
	ctx := context.Background()
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{"SELECT setseed($1)", []any{seed}},
		{sql, []any{minLat, maxLat, minLon, maxLon}},
		{"ANALYZE " + table, nil},
	} {
		if _, err := conn.Exec(ctx, step.sql, step.args...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocationsContaining is the geofence lookup with 10,000 places
// loaded: half 50–300 m circles, half irregular polygons of a few hundred
// metres. Half the query points are at a place's centre (a hit), half
// anywhere (mostly a miss). Target: p99 < 1 ms.
func BenchmarkLocationsContaining(b *testing.B) {
	s, db := storetest.NewMigrated(b)
	ctx := context.Background()
	execSeeded(b, s, 0.42, `WITH c AS (
			SELECT g, ST_SetSRID(ST_MakePoint($3::float8 + random() * ($4::float8 - $3::float8), $1::float8 + random() * ($2::float8 - $1::float8)), 4326)::geography AS center,
				50 + floor(random() * 251)::int AS r
			FROM generate_series(1, 10000) g)
		INSERT INTO locations (code, name, kind, center, radius_m, boundary)
		SELECT 'BENCH_' || g, 'Bench place ' || g, 'client', center,
			CASE WHEN g % 2 = 0 THEN r END,
			CASE WHEN g % 2 = 0 THEN ST_Buffer(center, r, 'quad_segs=16')
			     ELSE ST_Buffer(center, r * 2, 'quad_segs=2') END -- an irregular 8-gon
		FROM c`, "locations")
	ls, err := db.Locations(ctx)
	if err != nil || len(ls) != 10000 {
		b.Fatalf("loaded %d places, %v", len(ls), err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	points := make([]store.Point, 4096)
	for i := range points {
		if i%2 == 0 {
			points[i] = ls[rng.IntN(len(ls))].Center
		} else {
			points[i] = store.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
		}
	}
	hits := 0
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		got, err := db.LocationsContaining(ctx, points[i%len(points)])
		durations = append(durations, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if len(got) > 0 {
			hits++
		}
	}
	b.StopTimer()
	if hits == 0 {
		b.Fatal("no lookup found a place: the benchmark measured nothing useful")
	}
	reportLatency(b, durations)
}

// BenchmarkTrucksWithin finds the trucks within 5 km of a point with 500
// trucks reporting positions across Lagos. Target: p99 < 2 ms.
func BenchmarkTrucksWithin(b *testing.B) {
	s, db := storetest.NewMigrated(b)
	ctx := context.Background()
	execSeeded(b, s, 0.7, `INSERT INTO trucks (number, position, position_at, speed_kmh)
		SELECT 'T' || (10000 + g) || 'LA',
			ST_SetSRID(ST_MakePoint($3::float8 + random() * ($4::float8 - $3::float8), $1::float8 + random() * ($2::float8 - $1::float8)), 4326)::geography,
			now() - random() * interval '1 hour', random() * 80
		FROM generate_series(1, 500) g`, "trucks")
	rng := rand.New(rand.NewPCG(3, 4))
	points := make([]store.Point, 1024)
	for i := range points {
		points[i] = store.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
	}
	found := 0
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		got, err := db.TrucksWithin(ctx, points[i%len(points)], 5000)
		durations = append(durations, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		found += len(got)
	}
	b.StopTimer()
	if found == 0 {
		b.Fatal("no truck found within 5 km of any point: the benchmark measured nothing useful")
	}
	b.ReportMetric(float64(found)/float64(len(durations)), "trucks/op")
	reportLatency(b, durations)
}

// BenchmarkRecordFixes stores fixes of the demo places' trucks in batches,
// through the whole tracking fold (duplicates check, geofences, visits,
// current positions). Target: ≥ 50,000 rows/s in batches.
func BenchmarkRecordFixes(b *testing.B) {
	for _, size := range []int{20, 500, 5000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) { benchFold(b, size, false) })
	}
}

// BenchmarkFoldFollowing is the fold of 500-fix batches without and with
// trips to follow: every truck on a trip, and the fold following the trips
// of the trucks whose visits it changed, as the telematics consumer does.
// Target: the follow costs under 10% of the fold's throughput.
func BenchmarkFoldFollowing(b *testing.B) {
	for _, follow := range []bool{false, true} {
		b.Run(fmt.Sprintf("follow=%v", follow), func(b *testing.B) { benchFold(b, 500, follow) })
	}
}

func benchFold(b *testing.B, size int, follow bool) {
	_, db := storetest.NewMigrated(b)
	ctx := context.Background()
	if _, err := db.ImportFleet(ctx, "bench", demoFleet()); err != nil {
		b.Fatal(err)
	}
	// 100 trucks moving around Apapa, one fix each per 30 s.
	trucks := make([]store.Row[store.Truck], 100)
	numbers := make([]string, 100)
	for i := range trucks {
		numbers[i] = fmt.Sprintf("T%05dLA", 50000+i)
		trucks[i] = row(store.Truck{Number: numbers[i]})
	}
	if _, err := db.ImportFleet(ctx, "bench", store.FleetImport{Trucks: trucks}); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	if follow {
		for _, n := range numbers {
			if _, err := db.CreateTrip(ctx, store.Trip{TruckNumber: n, Pickup: "APAPA", Delivery: "FMN_APAPA",
				ScheduledDeparture: t0.Add(time.Hour), CreatedBy: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	rules := store.DefaultFollowRules()
	foldRules := store.DefaultRules()
	var last time.Time
	if follow {
		foldRules.Follow, foldRules.Now = &rules, func() time.Time { return last }
	}
	next := 0
	batch := func() []store.FixInput {
		in := make([]store.FixInput, size)
		for i := range in {
			n := next + i
			// Smoothly varying 5-55 km/h, with an overspeed burst
			// now and then: about what a fleet does.
			speed := 30 + 25*math.Sin(float64(n/100)/40+float64(n%100))
			if (n/100+n%100)%500 < 3 {
				speed = 72
			}
			ign := true
			in[i] = store.FixInput{TruckNumber: numbers[n%100], Source: "bench",
				Fix: store.Fix{At: t0.Add(time.Duration(n/100) * 30 * time.Second),
					Point:    offset(fmnCenter, rng.Float64()*360, rng.Float64()*3000),
					SpeedKmh: &speed, Ignition: &ign}}
		}
		next += size
		return in
	}
	rows, followed, batches := 0, 0, 0
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		batches++
		b.StopTimer()
		in := batch()
		last = in[len(in)-1].Fix.At
		b.StartTimer()
		res, err := db.RecordFixes(ctx, in, foldRules)
		if err != nil || res.FollowErr != nil {
			b.Fatal(err, res.FollowErr)
		}
		if follow {
			followed += len(res.Changed)
		}
		rows += res.Stored
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	if follow {
		b.ReportMetric(float64(followed)/float64(batches), "trucks-followed/batch")
	}
}

// BenchmarkComputeDay is a day's KPIs for 500 trucks reporting every 30 s:
// 1.44 M positions. Target: under 3 s.
func BenchmarkComputeDay(b *testing.B) {
	s, db := storetest.NewMigrated(b)
	ctx := context.Background()
	if _, err := db.ImportFleet(ctx, "bench", demoFleet()); err != nil {
		b.Fatal(err)
	}
	trucks := make([]store.Row[store.Truck], 500)
	for i := range trucks {
		trucks[i] = row(store.Truck{Number: fmt.Sprintf("T%05dKD", 60000+i)})
	}
	if _, err := db.ImportFleet(ctx, "bench", store.FleetImport{Trucks: trucks}); err != nil {
		b.Fatal(err)
	}
	zone, _ := time.LoadLocation("Africa/Lagos")
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, zone)
	if err := db.EnsurePositionPartitions(ctx, day.AddDate(0, 0, -1), day.AddDate(0, 0, 2)); err != nil {
		b.Fatal(err)
	}
	// The day's fixes, generated in the database: each truck wanders around
	// Apapa at 10-50 km/h with its engine on.
	if _, err := s.Pool.Exec(ctx, `INSERT INTO vehicle_positions (truck_id, fix_time, position, speed_kmh, ignition, source)
		SELECT t.id, $1::timestamptz + i * interval '30 seconds',
			ST_SetSRID(ST_MakePoint(3.36 + 0.03 * sin(i / 90.0 + t.id), 6.45 + 0.03 * cos(i / 110.0 + t.id)), 4326)::geography,
			30 + 20 * sin(i / 50.0 + t.id), true, 'bench'
		FROM trucks t, generate_series(0, 2879) AS i WHERE t.number LIKE 'T6____KD'`, day); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `ANALYZE vehicle_positions`); err != nil {
		b.Fatal(err)
	}
	var n int64
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM vehicle_positions`).Scan(&n); err != nil || n != 1_440_000 {
		b.Fatalf("%d positions (%v)", n, err)
	}
	b.ResetTimer()
	for b.Loop() {
		k, err := db.ComputeDay(ctx, day, zone, 30*time.Minute, day.AddDate(0, 0, 2))
		if err != nil {
			b.Fatal(err)
		}
		if k.DistanceKm == 0 {
			b.Fatal("no distance")
		}
	}
}
