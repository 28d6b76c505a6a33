package sim

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

var dayStart = time.Date(2025, 3, 10, 5, 0, 0, 0, time.UTC)

func demoFleet(t testing.TB, trucks int) ([]store.Truck, []store.Location, store.FleetImport) {
	t.Helper()
	imp, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	var ts []store.Truck
	for _, r := range imp.Trucks[:trucks] {
		ts = append(ts, r.Value)
	}
	var ls []store.Location
	for _, r := range imp.Locations {
		ls = append(ls, r.Value)
	}
	return ts, ls, imp
}

// demoDay is the 20-truck day several tests look at, simulated once.
var demoDay = sync.OnceValues(func() (*Sim, error) {
	imp, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		return nil, err
	}
	cfg := Config{Seed: 1, Start: dayStart, Duration: 24 * time.Hour}
	for _, r := range imp.Trucks[:20] {
		cfg.Trucks = append(cfg.Trucks, r.Value)
	}
	for _, r := range imp.Locations {
		cfg.Places = append(cfg.Places, r.Value)
	}
	return New(cfg)
})

func TestDeterministic(t *testing.T) {
	t.Parallel()
	trucks, places, _ := demoFleet(t, 6)
	cfg := Config{Seed: 7, Start: dayStart, Duration: 8 * time.Hour, Trucks: trucks, Places: places}
	run := func(c Config) *Sim {
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := run(cfg), run(cfg)
	if !slices.Equal(a.Fixes(), b.Fixes()) {
		t.Error("same config, different fixes")
	}
	if !reflect.DeepEqual(a.Truth(), b.Truth()) {
		t.Error("same config, different truth")
	}
	cfg.Seed = 8
	if c := run(cfg); slices.Equal(a.Fixes(), c.Fixes()) || reflect.DeepEqual(a.Truth().Visits, c.Truth().Visits) {
		t.Error("different seeds, same day")
	}
}

func TestDemoDay(t *testing.T) {
	t.Parallel()
	s, err := demoDay()
	if err != nil {
		t.Fatal(err)
	}
	fixes, truth := s.Fixes(), s.Truth()
	fences := make(map[string]*fence)
	for _, l := range s.cfg.Places {
		f := newFence(l)
		fences[l.Code] = &f
	}

	byTruck := map[string][]Fix{}
	for i, f := range fixes {
		if i > 0 && (f.At.Before(fixes[i-1].At) || f.At.Equal(fixes[i-1].At) && f.TruckNumber < fixes[i-1].TruckNumber) {
			t.Fatalf("fix %d out of order", i)
		}
		if err := f.Point.Validate(); err != nil {
			t.Fatalf("fix %d: %v", i, err)
		}
		if f.SpeedKmh < 0 || f.SpeedKmh > 100 || f.Heading < 0 || f.Heading >= 360 {
			t.Fatalf("fix %d: speed %v, heading %v", i, f.SpeedKmh, f.Heading)
		}
		for _, fe := range fences {
			if d := fe.depth(f.Point); d > -borderM && d < borderM {
				t.Fatalf("fix %d is %.2f m from the fence of %s", i, d, fe.loc.Code)
			}
		}
		byTruck[f.TruckNumber] = append(byTruck[f.TruckNumber], f)
	}
	if len(byTruck) != 20 {
		t.Fatalf("%d trucks reported, want 20", len(byTruck))
	}
	for n, fs := range byTruck {
		if len(fs) <= 1000 {
			t.Errorf("%s: %d fixes", n, len(fs))
		}
		for i := 1; i < len(fs); i++ {
			if !fs[i].At.After(fs[i-1].At) {
				t.Fatalf("%s: fix %d not after the one before", n, i)
			}
		}
	}

	kinds := map[string]int{}
	for _, e := range truth.Episodes {
		kinds[e.Kind]++
	}
	if len(truth.Visits) == 0 || kinds[EpisodeOverspeed] == 0 || kinds[EpisodeIdle] == 0 {
		t.Errorf("%d visits, episodes %v: want some of each", len(truth.Visits), kinds)
	}
	if len(truth.Silent) != 1 || len(truth.Gaps) != 1 || truth.Gaps[0].To.Sub(truth.Gaps[0].From) <= 2*time.Hour {
		t.Errorf("silent %v, gaps %v: want one truck silent for over 2 h", truth.Silent, truth.Gaps)
	}

	// Near misses: fixes in the fence, and still no visit.
	seen := map[string]int{}
	for _, m := range truth.NearMisses {
		for _, v := range truth.Visits {
			if v.TruckNumber == m.TruckNumber && v.LocationCode == m.LocationCode &&
				!v.Entered.After(m.End) && (v.Exited.IsZero() || !v.Exited.Before(m.Start)) {
				t.Errorf("%+v made a visit: %+v", m, v)
			}
		}
		in, out := 0, 0
		for _, f := range byTruck[m.TruckNumber] {
			if !f.At.Before(m.Start) && f.At.Before(m.End) {
				if fences[m.LocationCode].contains(f.Point) {
					in++
				} else {
					out++
				}
			}
		}
		if in > 0 && (m.Kind == NearMissPassThrough || out > 0 && m.End.Sub(m.Start) >= 30*time.Minute) {
			seen[m.Kind]++
		}
	}
	if seen[NearMissPassThrough] == 0 || seen[NearMissJitter] != 1 {
		t.Errorf("near misses with fixes inside: %v, want pass-throughs and one jitter parking of 30 min with fixes in and out", seen)
	}
	t.Logf("%d fixes, %d visits, episodes %v, %d near misses, %d fixes nudged off a fence line",
		len(fixes), len(truth.Visits), kinds, len(truth.NearMisses), truth.Nudged)
}

// TestStoreAgreesWithTruth sends the demo day through the real path, payload
// → loconav.Parser → store.RecordFixes (PostGIS geofences, tracking fold), and
// expects exactly the visits and episodes of the truth.
func TestStoreAgreesWithTruth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := demoDay()
	if err != nil {
		t.Fatal(err)
	}
	_, _, imp := demoFleet(t, 0)
	db := storetest.New(t)
	if _, err := db.ImportFleet(ctx, "sim test", imp); err != nil {
		t.Fatal(err)
	}
	lagos := mustZone(t, "Africa/Lagos")
	p := &loconav.Parser{Zone: lagos, Now: func() time.Time { return dayStart.Add(48 * time.Hour) }}
	alerts := map[string]int{}
	var batch []store.FixInput
	flush := func() {
		res, err := db.RecordFixes(ctx, batch, store.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res.Alerts {
			alerts[a.Kind]++
		}
		batch = batch[:0]
	}
	for _, f := range s.Fixes() {
		ev, err := p.Parse(LiveLocationPayload(f, lagos), "")
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, store.FixInput{TruckNumber: ev.TruckNumber, VehicleNumber: ev.VehicleNumber, Source: "replay",
			Fix: store.Fix{Point: *ev.Point, At: ev.Time, SpeedKmh: ev.SpeedKmh, Heading: ev.Heading, Ignition: ev.Ignition}})
		if len(batch) == 2000 {
			flush()
		}
	}
	flush()

	stored, err := db.Visits(ctx, 0, dayStart.Add(-time.Hour), dayStart.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []Visit
	for _, v := range stored {
		g := Visit{TruckNumber: v.TruckNumber, LocationCode: v.LocationCode, Entered: v.EnteredAt.UTC()}
		if v.ExitedAt != nil {
			g.Exited = v.ExitedAt.UTC()
		}
		got = append(got, g)
	}
	truth := s.Truth()
	if !slices.Equal(got, truth.Visits) {
		t.Errorf("store has %d visits, truth %d; first difference: %s", len(got), len(truth.Visits), firstDiff(got, truth.Visits))
	}
	episodes := map[string]int{}
	for _, e := range truth.Episodes {
		episodes[e.Kind]++
	}
	if alerts[store.AlertOverspeed] != episodes[EpisodeOverspeed] || alerts[store.AlertIdle] != episodes[EpisodeIdle] {
		t.Errorf("store alerts %v, truth episodes %v", alerts, episodes)
	}
}

func firstDiff(a, b []Visit) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return strconv.Itoa(i) + ": " + strings.Join([]string{a[i].TruckNumber, a[i].LocationCode, a[i].Entered.String()}, " ") +
				" vs " + strings.Join([]string{b[i].TruckNumber, b[i].LocationCode, b[i].Entered.String()}, " ")
		}
	}
	return "one is a prefix of the other"
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	z, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// documented is LocoNav's published live-location example.
const documented = `{"imei":"0210716299","speed":0.0,"gpstime":"17-12-2021 09:57:07","ignition":"1","latitude":11.125757,"longitude":79.140228,"sharpTurn":"0","orientation":201.0,"harshBraking":"0","vehiclenumber":"TN19AA7420","rockBreakerPedal":"0","harshAcceleration":"0"}`

func TestLiveLocationPayload(t *testing.T) {
	t.Parallel()
	lagos := mustZone(t, "Africa/Lagos")
	f := Fix{TruckNumber: "T11985LA", VehicleNumber: "T-11985-LA", IMEI: imei("T11985LA"),
		At: time.Date(2025, 3, 10, 23, 30, 5, 0, time.UTC), Point: store.Point{Lat: 6.4435, Lon: 3.366512},
		SpeedKmh: 42.5, Heading: 7, Ignition: true}
	raw := LiveLocationPayload(f, lagos)

	var got, want map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if err := json.Unmarshal([]byte(documented), &want); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("keys %v, documented %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for k, v := range want {
		if reflect.TypeOf(got[k]) != reflect.TypeOf(v) {
			t.Errorf("%s is %T, documented as %T", k, got[k], v)
		}
	}
	for k, v := range map[string]any{
		"imei": f.IMEI, "vehiclenumber": "T-11985-LA", "gpstime": "11-03-2025 00:30:05", // a day later in Lagos
		"latitude": 6.4435, "longitude": 3.366512, "speed": 42.5, "orientation": 7.0, "ignition": "1",
		"harshBraking": "0", "harshAcceleration": "0", "sharpTurn": "0", "rockBreakerPedal": "0",
	} {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if at, err := time.ParseInLocation(GPSTimeLayout, got["gpstime"].(string), lagos); err != nil || !at.Equal(f.At) {
		t.Errorf("gpstime %v is %v (%v), want %v", got["gpstime"], at, err, f.At)
	}
	if !strings.Contains(string(raw), `"orientation":7.0`) || len(f.IMEI) != 15 {
		t.Errorf("payload %s: want numbers written like LocoNav's (7.0) and a 15-digit IMEI", raw)
	}

	// The service's own parser reads it back to the same fix.
	ev, err := (&loconav.Parser{Zone: lagos, Now: func() time.Time { return f.At }}).Parse(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	if ev.TruckNumber != f.TruckNumber || !ev.Time.Equal(f.At) || *ev.Point != f.Point || *ev.SpeedKmh != f.SpeedKmh || !*ev.Ignition {
		t.Errorf("parsed back as %+v", ev)
	}
}

func TestVisitRule(t *testing.T) {
	t.Parallel()
	place := store.Location{Code: "DEPOT", Center: store.Point{Lat: 6.45, Lon: 3.35}, RadiusM: 100}
	in, away := place.Center, offset(place.Center, 1000, 0)
	type seg struct {
		d     time.Duration
		where int // 1 inside, 0 outside, -1 no fixes
	}
	const i, o, gap = 1, 0, -1
	m := func(x float64) time.Duration { return time.Duration(x * float64(time.Minute)) }
	at := func(x float64) time.Time { return dayStart.Add(m(x)) }
	type span struct{ in, out float64 } // minutes; out -1: still inside
	tests := []struct {
		name string
		segs []seg
		want []span
	}{
		{"enter at the first fix of a 5 min run", []seg{{m(2), o}, {m(10), i}, {m(10), o}}, []span{{2, 12}}},
		{"pass-through of 4.5 min", []seg{{m(2), o}, {m(4.5), i}, {m(10), o}}, nil},
		{"inside fixes spanning 4.5 min", []seg{{m(2), o}, {m(5), i}, {m(10), o}}, nil},
		{"inside fixes spanning exactly 5 min", []seg{{m(2), o}, {m(5.5), i}, {m(10), o}}, []span{{2, 7.5}}},
		{"2 min outside jitter does not end it", []seg{{m(10), i}, {m(2), o}, {m(10), i}, {m(6), o}}, []span{{0, 22}}},
		{"exit at the first fix of a 5 min outside run", []seg{{m(10), i}, {m(5.5), o}}, []span{{0, 10}}},
		{"still inside at the end", []seg{{m(1), o}, {m(20), i}}, []span{{1, -1}}},
		{"outside for under 5 min at the end: still inside", []seg{{m(10), i}, {m(4.5), o}}, []span{{0, -1}}},
		{"two visits", []seg{{m(10), i}, {m(10), o}, {m(10), i}}, []span{{0, 10}, {20, -1}}},
		{"a silence inside counts as inside", []seg{{m(1), i}, {3 * time.Hour, gap}, {m(1), i}, {m(6), o}}, []span{{0, 182}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var fixes []Fix
			var tm time.Duration
			for _, s := range tc.segs {
				for end := tm + s.d; tm < end; tm += 30 * time.Second {
					if s.where != gap {
						p := away
						if s.where == i {
							p = in
						}
						fixes = append(fixes, Fix{TruckNumber: "T1", At: dayStart.Add(tm), Point: p})
					}
				}
			}
			var want []Visit
			for _, s := range tc.want {
				v := Visit{TruckNumber: "T1", LocationCode: "DEPOT", Entered: at(s.in)}
				if s.out >= 0 {
					v.Exited = at(s.out)
				}
				want = append(want, v)
			}
			if got := visits(fixes, []fence{newFence(place)}, 5*time.Minute); !slices.Equal(got, want) {
				t.Errorf("visits %+v, want %+v", got, want)
			}
		})
	}
}

func TestEpisodes(t *testing.T) {
	t.Parallel()
	var fixes []Fix
	add := func(n int, kmh float64, ign bool) {
		for range n {
			fixes = append(fixes, Fix{TruckNumber: "T1", At: dayStart.Add(time.Duration(len(fixes)) * 30 * time.Second), SpeedKmh: kmh, Ignition: ign})
		}
	}
	add(40, 1, true)   // idling 19.5 min: not yet an episode
	add(2, 30, true)   // moving
	add(41, 0, true)   // idling 20 min: an episode, ended by the next fix
	add(6, 65, true)   // overspeed for 3 min
	add(60, 0, false)  // parked, ignition off: not idling
	add(4, 70.5, true) // overspeed still going at the end
	at := func(i int) time.Time { return fixes[i].At }
	want := []Episode{
		{"T1", EpisodeIdle, at(42), at(83)},
		{"T1", EpisodeOverspeed, at(83), at(89)},
		{"T1", EpisodeOverspeed, at(149), time.Time{}},
	}
	if got := episodes(fixes); !slices.Equal(got, want) {
		t.Errorf("episodes %+v, want %+v", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	trucks, places, _ := demoFleet(t, 2)
	ok := Config{Start: dayStart, Duration: time.Hour, Trucks: trucks, Places: places}
	var areas []store.Location
	for _, l := range places {
		if l.Kind == store.LocationServiceArea {
			areas = append(areas, l)
		}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no start", func(c *Config) { c.Start = time.Time{} }, "start time is not set"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "duration 0s is outside"},
		{"fractional interval", func(c *Config) { c.FixInterval = 1500 * time.Millisecond }, "whole seconds"},
		{"dwell too short", func(c *Config) { c.Dwell = 40 * time.Second }, "at least two fix intervals"},
		{"no trucks", func(c *Config) { c.Trucks = nil }, "no trucks"},
		{"truck twice", func(c *Config) { c.Trucks = []store.Truck{trucks[0], trucks[0]} }, "appears twice"},
		{"bad radius", func(c *Config) {
			c.Places = append(slices.Clone(places), store.Location{Code: "X", Name: "X", Kind: "depot", Center: places[0].Center, RadiusM: 20})
		}, "radius 20 m is outside"},
		{"nowhere to park", func(c *Config) { c.Places = areas }, "need at least two places"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tc.edit(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sim: ") {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
