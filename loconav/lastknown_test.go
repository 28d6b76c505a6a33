package loconav_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
)

func TestParseLastKnownValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
		check     func(loconav.LastKnownFix) bool
	}{
		{"strings for numbers",
			`{"vehicleNumber":"t11985la","gps":{"speed":{"value":"12.5"},"orientation":{"value":34},"currentLocationCoordinates":{"lat":{"value":"6.5","timestamp":"1707203220"},"long":{"value":3.4,"timestamp":1707203220}}}}`,
			func(ev loconav.LastKnownFix) bool {
				return ev.TruckNumber == "T11985LA" && *ev.SpeedKmh == 12.5 && *ev.Heading == 34 && ev.Point.Lat == 6.5 && ev.Ignition == nil
			}},
		{"only the coordinates",
			`{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203100}}}}`,
			func(ev loconav.LastKnownFix) bool {
				return ev.SpeedKmh == nil && ev.Heading == nil && ev.Ignition == nil && ev.Time.Equal(time.Unix(1707203220, 0))
			}},
		{"one timestamp", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5},"long":{"value":3.4,"timestamp":1707203100}}}}`,
			func(ev loconav.LastKnownFix) bool { return ev.Time.Equal(time.Unix(1707203100, 0)) }},
		{"no fix without timestamps", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":0},"long":{"value":0}}}}`,
			func(ev loconav.LastKnownFix) bool { return ev.Point == nil && ev.Time.IsZero() }},
		{"ignition off, empty orientation", `{"vehicleNumber":"T1LA","gps":{"ignition":{"value":"off"},"orientation":{"value":""},"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`,
			func(ev loconav.LastKnownFix) bool { return !*ev.Ignition && ev.Heading == nil }},
		{"unknown sensors ignored", `{"vehicleNumber":"T1LA","vehicleId":"x","gps":{"altitude":{"value":"high"},"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}},"vehicleBatteryLevel":{"value":12}}`,
			func(ev loconav.LastKnownFix) bool { return ev.Point != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := loconav.ParseLastKnown(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(ev) {
				t.Errorf("event = %+v", ev)
			}
			if string(ev.Raw) != tt.raw {
				t.Errorf("Raw = %s", ev.Raw)
			}
		})
	}
}

func TestParseLastKnownErrors(t *testing.T) {
	t.Parallel()
	coords := `"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}`
	future := strconv.FormatInt(time.Now().Add(3*time.Hour).Unix(), 10)
	tests := []struct {
		name, raw, field string
	}{
		{"not an object", `[1,2]`, ""},
		{"not json", `{"vehicleNumber":`, ""},
		{"no vehicle number", `{"gps":{` + coords + `}}`, "vehicleNumber"},
		{"vehicle number not a string", `{"vehicleNumber":5,"gps":{` + coords + `}}`, "vehicleNumber"},
		{"vehicle number blank", `{"vehicleNumber":" - ","gps":{` + coords + `}}`, "vehicleNumber"},
		{"no gps", `{"vehicleNumber":"T1LA"}`, "gps"},
		{"gps not an object", `{"vehicleNumber":"T1LA","gps":"on"}`, "gps"},
		{"no coordinates", `{"vehicleNumber":"T1LA","gps":{"speed":{"value":1}}}`, "gps.currentLocationCoordinates"},
		{"no lat", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.value"},
		{"lat value null", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":null,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.value"},
		{"lat not a number", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":"north","timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.value"},
		{"lat out of range", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":91,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.value"},
		{"long NaN", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":"NaN","timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.long.value"},
		{"long out of range", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":-181,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.long.value"},
		{"long not an object", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":3.4}}}`, "gps.currentLocationCoordinates.long"},
		{"no timestamps", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5},"long":{"value":3.4}}}}`, "gps.currentLocationCoordinates.lat.timestamp"},
		{"timestamp in ms", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220000},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.timestamp"},
		{"timestamp negative", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":-5},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.timestamp"},
		{"timestamp in the future", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":` + future + `},"long":{"value":3.4,"timestamp":` + future + `}}}}`, "gps.currentLocationCoordinates.lat.timestamp"},
		{"speed not a number", `{"vehicleNumber":"T1LA","gps":{"speed":{"value":"fast"},` + coords + `}}`, "gps.speed.value"},
		{"speed absurd", `{"vehicleNumber":"T1LA","gps":{"speed":{"value":999},` + coords + `}}`, "gps.speed.value"},
		{"speed not an object", `{"vehicleNumber":"T1LA","gps":{"speed":59,` + coords + `}}`, "gps.speed"},
		{"orientation not a number", `{"vehicleNumber":"T1LA","gps":{"orientation":{"value":"NE"},` + coords + `}}`, "gps.orientation.value"},
		{"ignition unknown", `{"vehicleNumber":"T1LA","gps":{"ignition":{"value":"MAYBE"},` + coords + `}}`, "gps.ignition.value"},
		{"ignition not a string", `{"vehicleNumber":"T1LA","gps":{"ignition":{"value":1},` + coords + `}}`, "gps.ignition.value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loconav.ParseLastKnown(json.RawMessage(tt.raw))
			var pe *loconav.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PayloadError", err)
			}
			if pe.Field != tt.field {
				t.Errorf("field = %q, want %q (err %q)", pe.Field, tt.field, err)
			}
			if tt.field != "" && !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("err %q does not start with the field", err)
			}
		})
	}
}

func FuzzParseLastKnown(f *testing.F) {
	var fixture struct {
		Data struct {
			Values []json.RawMessage `json:"values"`
		} `json:"data"`
	}
	if err := json.Unmarshal(restFixture(f, "last-known.json"), &fixture); err != nil {
		f.Fatal(err)
	}
	for _, v := range fixture.Data.Values {
		f.Add([]byte(v))
	}
	f.Add([]byte(`{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":"0"},"long":{"value":0}}}}`))
	f.Add([]byte(`{"vehicleNumber":"T1LA","gps":{"speed":{"value":"1e400"},"orientation":{"value":"-Inf"},"ignition":{"value":"ON"},"currentLocationCoordinates":{"lat":{"value":-90,"timestamp":1e10},"long":{"value":180,"timestamp":"9"}}}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"gps":null,"vehicleNumber":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := loconav.ParseLastKnown(raw)
		if err != nil {
			var pe *loconav.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v (%T) is not a *PayloadError", err, err)
			}
			return
		}
		if ev.TruckNumber == "" || ev.VehicleNumber == "" {
			t.Fatalf("fix = %+v", ev)
		}
		if !bytes.Equal(ev.Raw, raw) {
			t.Fatal("Raw is not the input")
		}
		// As the stream carries it: a poll location Event with its input.
		if e := ev.Event(); e.Source != loconav.SourcePoll || e.Family != loconav.FamilyLastKnown || e.Kind != loconav.KindLocation ||
			e.TruckNumber != ev.TruckNumber || !bytes.Equal(e.Raw, raw) {
			t.Fatalf("event = %+v", e)
		}
		if p := ev.Point; p != nil {
			if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 || (p.Lat == 0 && p.Lon == 0) {
				t.Fatalf("invalid point %+v", *p)
			}
			if ev.Time.IsZero() || ev.Time.After(time.Now().Add(time.Hour)) {
				t.Fatalf("fix time %v", ev.Time)
			}
		}
		for _, x := range []*float64{ev.SpeedKmh, ev.Heading} {
			if x != nil && (math.IsNaN(*x) || math.IsInf(*x, 0)) {
				t.Fatalf("non-finite reading in %+v", ev)
			}
		}
	})
}

// TestParseFamilyLastKnown: a stored last_known value read back as the
// stream consumer reads it becomes a poll location Event, and a value that
// does not parse a *PayloadError naming the field.
func TestParseFamilyLastKnown(t *testing.T) {
	t.Parallel()
	p := &loconav.Parser{}
	raw := loconavtest.LastKnownValue(loconavtest.UUID(1), "VEHICLE03-", 24.74744, 54.83273, 59, time.Unix(1707203220, 0))
	ev, err := p.ParseFamily(raw, loconav.FamilyLastKnown)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Source != "poll" || ev.Family != loconav.FamilyLastKnown || ev.Kind != loconav.KindLocation {
		t.Errorf("source/family/kind = %q/%q/%q", ev.Source, ev.Family, ev.Kind)
	}
	if ev.VehicleNumber != "VEHICLE03-" || ev.TruckNumber != "VEHICLE03" || ev.Point == nil || ev.Point.Lat != 24.74744 || ev.Point.Lon != 54.83273 {
		t.Errorf("event = %+v", ev)
	}
	if !ev.Time.Equal(time.Unix(1707203220, 0)) || ev.SpeedKmh == nil || *ev.SpeedKmh != 59 || ev.Heading == nil || *ev.Heading != 90 ||
		ev.Ignition == nil || !*ev.Ignition || !bytes.Equal(ev.Raw, raw) {
		t.Errorf("event = %+v", ev)
	}
	_, err = p.ParseFamily(json.RawMessage(`{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":91,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`), loconav.FamilyLastKnown)
	var pe *loconav.PayloadError
	if !errors.As(err, &pe) || pe.Field != "gps.currentLocationCoordinates.lat.value" || pe.Index != -1 ||
		!strings.HasPrefix(err.Error(), pe.Field+": ") {
		t.Errorf("err = %v (%T)", err, err)
	}
	if _, err := p.ParseFamily(raw, "telepathy"); err == nil || !strings.Contains(err.Error(), `unknown family "telepathy"`) {
		t.Errorf("unknown family: err = %v", err)
	}
}
