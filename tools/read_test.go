package tools_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

// data decodes an outcome's model output.
func data(t *testing.T, out interface{ ModelOutput() string }) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out.ModelOutput()), &m); err != nil {
		t.Fatalf("model output %q: %v", out.ModelOutput(), err)
	}
	return m
}

func TestTruckLocation(t *testing.T) {
	e := newEnv(t)
	for _, spelling := range []string{"T11985LA", "T-11985-LA", "t11985 la", "11985", "T11985"} {
		t.Run(spelling, func(t *testing.T) {
			out := e.invoke(t, viewer, "truck_location", `{"truck":"`+spelling+`"}`)
			d := data(t, out)
			if d["truck"] != "T11985LA" {
				t.Fatalf("truck %v", d["truck"])
			}
			inside, _ := d["inside"].(map[string]any)
			if inside["code"] != "ESSLIBRA" {
				t.Errorf("inside %v, want ESSLIBRA", d["inside"])
			}
			if d["lat"] != 6.4641 || d["lng"] != 3.3481 {
				t.Errorf("position %v,%v", d["lat"], d["lng"])
			}
			if d["age_minutes"] != 1.0 {
				t.Errorf("age %v min, want 1", d["age_minutes"])
			}
			since, _ := time.Parse(time.RFC3339, d["inside_since"].(string))
			if want := testNow.Add(-30 * time.Minute); !since.Equal(want) {
				t.Errorf("inside since %v, want %v", since, want)
			}
			if !strings.Contains(d["map_url"].(string), "6.464100%2C3.348100") {
				t.Errorf("map url %v", d["map_url"])
			}
			v := out.Result.View
			if !strings.Contains(v.Text, "ESS Libra") || !strings.Contains(v.Text, "30 min") {
				t.Errorf("text %q", v.Text)
			}
			if len(v.Links) != 1 {
				t.Errorf("links %v", v.Links)
			}
		})
	}
	t.Run("moving, near a place", func(t *testing.T) {
		d := data(t, e.invoke(t, viewer, "truck_location", `{"truck":"T63530LA"}`))
		if d["inside"] != nil || d["nearest"] == nil || d["speed_kmh"] != 45.0 {
			t.Errorf("got %v", d)
		}
	})
	t.Run("silent tracker", func(t *testing.T) {
		out := e.invoke(t, viewer, "truck_location", `{"truck":"`+silentTruck+`"}`)
		if d := data(t, out); d["offline"] != true || d["age_minutes"] != 180.0 {
			t.Errorf("got %v", d)
		}
		if !strings.Contains(out.Result.View.Text, "silent for 3h") {
			t.Errorf("text %q", out.Result.View.Text)
		}
	})
	t.Run("never reported", func(t *testing.T) {
		d := data(t, e.invoke(t, viewer, "truck_location", `{"truck":"T81696LA"}`))
		if _, ok := d["position"]; !ok || d["position"] != nil {
			t.Errorf("got %v", d)
		}
	})
}

// Names that do not resolve give a sentence for the model, with
// suggestions, never a silent guess.
func TestTruckLocationUnknown(t *testing.T) {
	e := newEnv(t)
	out := e.reg.Invoke(t.Context(), viewer, "truck_location", []byte(`{"truck":"T11958LA"}`))
	if out.Err == nil {
		t.Fatalf("got %v", out.ModelOutput())
	}
	if msg := out.Message(); !strings.Contains(msg, "T11985LA") {
		t.Errorf("message %q does not suggest T11985LA", msg)
	}
	if strings.Contains(out.ModelOutput(), "store:") {
		t.Errorf("model output leaks internals: %s", out.ModelOutput())
	}
}

func TestTrucksAt(t *testing.T) {
	e := newEnv(t)
	for _, place := range []string{"ESSLIBRA", "esslibr", "ESS Libra", "ess-libra"} {
		t.Run(place, func(t *testing.T) {
			d := data(t, e.invoke(t, viewer, "trucks_at", `{"place":"`+place+`"}`))
			if d["place"].(map[string]any)["code"] != "ESSLIBRA" {
				t.Fatalf("place %v", d["place"])
			}
			trucks := d["trucks"].([]any)
			if d["count"] != 1.0 || len(trucks) != 1 {
				t.Fatalf("trucks %v", d)
			}
			tr := trucks[0].(map[string]any)
			if tr["truck"] != "T11985LA" || tr["minutes_there"] != 30.0 {
				t.Errorf("truck %v", tr)
			}
		})
	}
	for _, c := range []struct{ typed, code string }{{"apapaa", "APAPA"}, {"tin-can", "TINCAN"}, {"Dangote Ibese", "DANGOTE_IBESE"}} {
		d := data(t, e.invoke(t, viewer, "trucks_at", `{"place":"`+c.typed+`"}`))
		if got := d["place"].(map[string]any)["code"]; got != c.code {
			t.Errorf("%q resolved to %v, want %s", c.typed, got, c.code)
		}
	}
	out := e.reg.Invoke(t.Context(), viewer, "trucks_at", []byte(`{"place":"zzqx"}`))
	if out.Err == nil {
		t.Errorf("an unknown place answered %s", out.ModelOutput())
	}
}

func TestTrucksNear(t *testing.T) {
	e := newEnv(t)
	d := data(t, e.invoke(t, viewer, "trucks_near", `{"place":"ESSLIBRA","lat":null,"lng":null,"radius_km":1}`))
	trucks := d["trucks"].([]any)
	if len(trucks) != 1 || trucks[0].(map[string]any)["truck"] != "T11985LA" {
		t.Errorf("near ESSLIBRA: %v", d)
	}
	d = data(t, e.invoke(t, viewer, "trucks_near", `{"place":null,"lat":6.5,"lng":3.36,"radius_km":50}`))
	if d["count"] != 3.0 {
		t.Errorf("within 50 km of the city: %v", d)
	}
	first := d["trucks"].([]any)[0].(map[string]any)
	if first["truck"] != "T63530LA" {
		t.Errorf("nearest first: %v", d["trucks"])
	}
}

func TestFleetStatus(t *testing.T) {
	e := newEnv(t)
	d := data(t, e.invoke(t, viewer, "fleet_status", `{"where":null}`))
	if d["total"] != 84.0 {
		t.Errorf("total %v", d["total"])
	}
	where := d["by_where"].(map[string]any)
	want := map[string]float64{"at_terminal": 1, "en_route": 1, "offline": 1}
	for k, n := range want {
		if where[k] != n {
			t.Errorf("%s = %v, want %v (%v)", k, where[k], n, where)
		}
	}
	status := d["by_status"].(map[string]any)
	if status["inactive"] != 2.0 || status["maintenance"] != 6.0 {
		t.Errorf("by status %v", status)
	}
	d = data(t, e.invoke(t, viewer, "fleet_status", `{"where":"offline"}`))
	trucks := d["trucks"].([]any)
	if len(trucks) != 1 || trucks[0].(map[string]any)["truck"] != silentTruck {
		t.Errorf("offline trucks %v", trucks)
	}
}

func TestTruckHistory(t *testing.T) {
	e := newEnv(t)
	d := data(t, e.invoke(t, viewer, "truck_history", `{"truck":"T63530LA","from":null,"to":null}`))
	// 9 fixes, 8 legs of 0.003° of latitude (333.6 m) each: 2.67 km.
	if d["fixes"] != 9.0 {
		t.Errorf("fixes %v", d["fixes"])
	}
	if km := d["distance_km"].(float64); km < 2.6 || km > 2.75 {
		t.Errorf("distance %v km, want about 2.67", km)
	}
	out := e.reg.Invoke(t.Context(), viewer, "truck_history", []byte(`{"truck":"T63530LA","from":"2026-10-01","to":"2026-12-04"}`))
	if out.Err == nil || !strings.Contains(out.Message(), "31 days") {
		t.Errorf("a 64-day window: %v", out.Message())
	}
}

func TestDriverFor(t *testing.T) {
	e := newEnv(t)
	d := data(t, e.invoke(t, viewer, "driver_for", `{"truck":"T11985LA","driver":null}`))
	if d["driver"] != "Kayode Oyewole" || d["phone"] != "+2348061462783" {
		t.Errorf("driver of T11985LA: %v", d)
	}
	out := e.reg.Invoke(t.Context(), viewer, "driver_for", []byte(`{"truck":null,"driver":"kayode"}`))
	if out.Err == nil || !strings.Contains(out.Message(), "Kayode Oyewole") || !strings.Contains(out.Message(), "did you mean") {
		t.Errorf("three Kayodes: %v", out.Message())
	}
	for _, name := range []string{"Kayode Oyewole", "kayode oyewole", "Kayode Oyewle", "08061462783", "+234 806 146 2783"} {
		d := data(t, e.invoke(t, viewer, "driver_for", `{"truck":null,"driver":"`+name+`"}`))
		if d["truck"] != "T11985LA" {
			t.Errorf("truck of %q: %v", name, d)
		}
	}
}

func TestTruckHistoryStops(t *testing.T) {
	e := newEnv(t)
	d := data(t, e.invoke(t, viewer, "truck_history", `{"truck":"T11985LA","from":null,"to":null}`))
	stops := d["stops"].([]any)
	if len(stops) != 1 {
		t.Fatalf("stops %v", stops)
	}
	s := stops[0].(map[string]any)
	if s["place"] != "ESSLIBRA" || s["minutes"] != 29.0 {
		t.Errorf("stop %v, want 29 minutes at ESSLIBRA", s)
	}
	// ESS Libra lies inside the Apapa port zone: two visits.
	var places []string
	for _, v := range d["visits"].([]any) {
		places = append(places, v.(map[string]any)["place"].(string))
	}
	if strings.Join(places, ",") != "APAPA_ZONE,ESSLIBRA" {
		t.Errorf("visits %v", places)
	}
}

// fleet_metrics on trips whose times are known: one left an hour late and
// was completed two hours later, one was cancelled.
func TestFleetMetrics(t *testing.T) {
	e := newEnv(t)
	*e.clock = time.Date(2026, 12, 3, 5, 0, 0, 0, lagos)
	mk := func(args string) string {
		p := e.invoke(t, dispatcher, "create_trip", args).Pending
		res := e.reg.Confirm(t.Context(), dispatcher, p.ID)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		return data(t, res)["trip_id"].(string)
	}
	done := mk(strings.Replace(newTripArgs, "tomorrow 6am", "2026-12-03T06:00", 1))
	dropped := mk(`{"truck":"T63530LA","pickup":"APAPA","delivery":"FMN_APAPA","scheduled_departure":"2026-12-03T08:00","client":null,"container_no":null,"cargo_type":null,"driver":null}`)
	set := func(at time.Time, tool, args string) {
		*e.clock = at
		p := e.invoke(t, dispatcher, tool, args).Pending
		if res := e.reg.Confirm(t.Context(), dispatcher, p.ID); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	set(time.Date(2026, 12, 3, 7, 0, 0, 0, lagos), "update_trip_status", `{"trip":"`+done+`","status":"ongoing","reason":null}`)
	set(time.Date(2026, 12, 3, 9, 0, 0, 0, lagos), "update_trip_status", `{"trip":"`+done+`","status":"completed","reason":null}`)
	set(time.Date(2026, 12, 3, 9, 5, 0, 0, lagos), "cancel_trip", `{"trip":"`+dropped+`","reason":"client closed"}`)
	*e.clock = testNow
	d := data(t, e.invoke(t, viewer, "fleet_metrics", `{"from":"yesterday","to":null}`))
	// The report's definitions: it left at 07:00, an hour after its
	// schedule (on time is within 30 minutes), and was marked completed at
	// 09:00; no pickup arrival or return was seen, so no turnaround. Its
	// truck had two trip-hours: 1 of 76 active trucks used.
	want := map[string]any{"trips_started": 1.0, "trips_completed": 1.0, "on_time_departure_pct": 0.0, "on_time_delivery_pct": 0.0,
		"avg_turnaround_minutes": nil, "utilisation_pct": 1.3}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v, want %v", k, d[k], v)
		}
	}
	if d := data(t, e.invoke(t, viewer, "fleet_metrics", `{"from":"today","to":null}`)); d["trips_started"] != 0.0 || d["distance_km"].(float64) < 2.6 {
		t.Errorf("today: %v", d)
	}
	// With a 90-minute grace (REPORT_ON_TIME_MINUTES) the hour-late
	// departure is on time: the stored day is recomputed, not reused.
	lenient := e.deps
	lenient.OnTime = 90 * time.Minute
	out := tools.New(lenient).Invoke(t.Context(), viewer, "fleet_metrics", []byte(`{"from":"yesterday","to":null}`))
	if d := data(t, out); d["on_time_departure_pct"] != 100.0 {
		t.Errorf("with a 90-minute grace: on-time departures %v, want 100", d["on_time_departure_pct"])
	}
}

func TestAlertsTool(t *testing.T) {
	e := newEnv(t)
	fast, ign := 85.0, true
	var in []store.FixInput
	for s := 0; s < 6; s++ {
		in = append(in, fix("T63530LA", 6.53+float64(s)*0.004, 3.36, testNow.Add(-time.Minute+time.Duration(s)*10*time.Second), &fast, &ign))
	}
	res, err := e.db.RecordFixes(t.Context(), in, store.DefaultRules())
	if err != nil || len(res.Alerts) == 0 {
		t.Fatalf("no overspeed alert recorded: %+v %v", res, err)
	}
	// T11985LA, parked with the engine on for 30 minutes, is idling too.
	if d := data(t, e.invoke(t, viewer, "alerts", `{"truck":null,"kind":null,"hours":null,"open_only":null}`)); d["total"] != 2.0 {
		t.Errorf("all: %v", d)
	}
	for _, args := range []string{
		`{"truck":"t-63530-la","kind":"Overspeed","hours":1,"open_only":null}`,
		`{"truck":null,"kind":"OverspeedAlert","hours":null,"open_only":true}`,
	} {
		d := data(t, e.invoke(t, viewer, "alerts", args))
		list := d["alerts"].([]any)
		if d["total"] != 1.0 || list[0].(map[string]any)["kind"] != "overspeed" || list[0].(map[string]any)["truck"] != "T63530LA" {
			t.Errorf("%s: %v", args, d)
		}
	}
	d := data(t, e.invoke(t, viewer, "alerts", `{"truck":null,"kind":"idle","hours":null,"open_only":null}`))
	if list := d["alerts"].([]any); d["total"] != 1.0 || list[0].(map[string]any)["truck"] != "T11985LA" {
		t.Errorf("idle: %v", d)
	}
	if d := data(t, e.invoke(t, viewer, "alerts", `{"truck":"T11985LA","kind":"overspeed","hours":null,"open_only":null}`)); d["total"] != 0.0 {
		t.Errorf("T11985LA overspeed: %v", d)
	}
}
