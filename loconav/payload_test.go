package loconav_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
)

var (
	lagos  = loconavtest.Lagos
	parser = loconavtest.Parser
)

// fixture is one of LocoNav's published webhook examples.
var fixture = loconavtest.Webhook

// TestFixturesMatchShared keeps our copies of LocoNav's published examples
// identical to the shared ones (CI has ../shared beside the repository).
func TestFixturesMatchShared(t *testing.T) {
	t.Parallel()
	shared, err := filepath.Glob("../../shared/loconav/webhooks/*.json")
	if err != nil || len(shared) == 0 {
		requireShared(t, "../../shared/loconav/webhooks has no fixtures")
	}
	for _, s := range shared {
		want, _ := os.ReadFile(s)
		if got := fixture(t, filepath.Base(s)); string(got) != string(want) {
			t.Errorf("testdata copy of %s differs from ../shared", filepath.Base(s))
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return tm
	}
	tests := []struct {
		file   string
		family string
		want   loconav.Event
	}{
		{"live-location.json", "location", loconav.Event{Family: "location", Kind: "location", VehicleNumber: "TN19AA7420", TruckNumber: "TN19AA7420",
			IMEI: "0210716299", Time: utc("2021-12-17T08:57:07Z"), SpeedKmh: ptr(0.0), Heading: ptr(201.0), Ignition: ptr(true)}},
		{"overspeed-alert.json", "alert", loconav.Event{Family: "alert", Kind: "OverspeedAlert", VehicleNumber: "ABC123", TruckNumber: "ABC123",
			Time: utc("2024-02-05T12:30:45Z"), EndTime: ptr(utc("2024-02-05T12:35:45Z")), AlertID: 123, EventKey: "XYZ789", SpeedKmh: ptr(75.5)}},
		{"geofence-alert.json", "alert", loconav.Event{Family: "alert", Kind: "GeofenceAlert", VehicleNumber: "ABC123", TruckNumber: "ABC123",
			Time: utc("2024-02-05T10:30:45Z"), EndTime: ptr(utc("2024-02-05T10:45:00Z")), AlertID: 123, PolygonID: 456, EventKey: "geofence_enter"}},
		// Zone-less ISO times are in LOCONAV_TIMEZONE (Lagos, UTC+1).
		{"device-offline-alert.json", "alert", loconav.Event{Family: "alert", Kind: "DeviceOfflineAlert", VehicleNumber: "ABC123", TruckNumber: "ABC123",
			Time: utc("2024-02-10T09:00:00Z"), EndTime: ptr(utc("2024-02-10T09:30:00Z")), AlertID: 123}},
		{"device-removal-alert.json", "alert", loconav.Event{Family: "alert", Kind: "DeviceRemovalAlert", VehicleNumber: "ABC123", TruckNumber: "ABC123",
			Time: utc("2024-02-10T07:30:00Z"), EndTime: ptr(utc("2024-02-10T07:35:00Z")), AlertID: 123, EventKey: "12345"}},
		{"idling-alert.json", "alert", loconav.Event{Family: "alert", Kind: "IdlingAlert", VehicleNumber: "ABC123", TruckNumber: "ABC123",
			Time: utc("2024-02-05T12:30:45Z"), EndTime: ptr(utc("2024-02-05T12:35:45Z")), AlertID: 123}},
		{"ignition-alert.json", "alert", loconav.Event{Family: "alert", Kind: "IgnitionAlert", VehicleNumber: "ABC123", TruckNumber: "ABC123",
			Time: utc("2024-02-05T12:30:45Z"), EndTime: ptr(utc("2024-02-05T12:35:45Z")), AlertID: 123, EventKey: "XYZ789"}},
		{"sudden-braking-alert.json", "alert", loconav.Event{Family: "alert", Kind: "SuddenBrakingAlert", VehicleNumber: "ABC123", TruckNumber: "ABC123",
			Time: utc("2024-02-08T12:30:45Z"), AlertID: 12345, SpeedKmh: ptr(45.5)}},
	}
	points := map[string][2]float64{
		"live-location.json": {11.125757, 79.140228}, "overspeed-alert.json": {37.7749, -122.4194}, "geofence-alert.json": {40.7128, -74.0060},
		"device-offline-alert.json": {40.7128, -74.0060}, "device-removal-alert.json": {37.7749, -122.4194}, "idling-alert.json": {37.7749, -122.4194},
		"ignition-alert.json": {37.7749, -122.4194}, "sudden-braking-alert.json": {37.7749, -122.4194},
	}
	if entries := loconavtest.Webhooks(); len(entries) != len(tests) {
		t.Fatalf("%d fixtures but %d cases: every fixture needs a case", len(loconavtest.Webhooks()), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			body := fixture(t, tc.file)
			for _, family := range []string{"", tc.family} { // detected, and on its own endpoint
				evs, err := parser().ParseBody(body, family)
				if err != nil || len(evs) != 1 {
					t.Fatalf("ParseBody(%q): %v, %v", family, evs, err)
				}
				got := evs[0]
				if string(got.Raw) != strings.TrimSpace(string(body)) {
					t.Errorf("Raw is not the body as received")
				}
				p := points[tc.file]
				if got.Point == nil || math.Abs(got.Point.Lat-p[0]) > 1e-9 || math.Abs(got.Point.Lon-p[1]) > 1e-9 {
					t.Errorf("Point = %v, want %v", got.Point, p)
				}
				got.Raw, got.Point, got.EndPoint = nil, nil, nil
				w, g := mustJSON(tc.want), mustJSON(got)
				if w != g {
					t.Errorf("event\n got %s\nwant %s", g, w)
				}
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestParseTraps(t *testing.T) {
	t.Parallel()
	loc := func(extra string) string {
		return `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":6.45,"longitude":3.39,"vehiclenumber":"T-11985-LA"` + extra + `}`
	}
	tests := []struct {
		name, body, family string
		check              func(loconav.Event) bool
	}{
		{"string flags", loc(`,"ignition":"0","harshBraking":"1"`), "", func(e loconav.Event) bool { return e.Ignition != nil && !*e.Ignition }},
		{"numbers as strings", loc(`,"speed":"59.5","orientation":"34"`), "", func(e loconav.Event) bool { return *e.SpeedKmh == 59.5 && *e.Heading == 34 }},
		{"gpstime in Lagos", loc(``), "", func(e loconav.Event) bool { return e.Time.Equal(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)) }},
		{"plate normalised", loc(``), "", func(e loconav.Event) bool { return e.TruckNumber == "T11985LA" && e.VehicleNumber == "T-11985-LA" }},
		{"0,0 keeps the message without a point", `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":0,"longitude":0,"vehiclenumber":"T1"}`, "",
			func(e loconav.Event) bool { return e.Point == nil }},
		{"offset times", `{"kind":"IgnitionAlert","vehicle_number":"T1","active_event_time":"2022-08-09T14:47:44.000+05:30"}`, "",
			func(e loconav.Event) bool { return e.Time.Equal(time.Date(2022, 8, 9, 9, 17, 44, 0, time.UTC)) }},
		{"unknown kinds are kept", `{"kind":"QuantumAlert","vehicle_number":"T1","event_time":"2024-02-08T12:30:45Z"}`, "alert",
			func(e loconav.Event) bool { return e.Kind == "QuantumAlert" }},
		{"vehicle_number on a location", `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":6.4,"longitude":3.3,"vehicle_number":"T1"}`, "",
			func(e loconav.Event) bool { return e.TruckNumber == "T1" }},
		{"an alert with only created_at", `{"kind":"RefuelingAlert","vehicle_number":"T1","created_at":"2024-02-10T10:35:00"}`, "",
			func(e loconav.Event) bool { return e.Time.Equal(time.Date(2024, 2, 10, 9, 35, 0, 0, time.UTC)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := parser().ParseBody([]byte(tc.body), tc.family)
			if err != nil || len(evs) != 1 || !tc.check(evs[0]) {
				t.Errorf("ParseBody(%s) = %+v, %v", tc.body, evs, err)
			}
		})
	}
}

func TestParseBadPayloads(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, family, want string }{
		{"empty", ``, "", "empty body"},
		{"not JSON", `{"imei":`, "", "malformed JSON"},
		{"a string", `"hello"`, "", "expected a JSON object"},
		{"empty array", `[]`, "", "empty array"},
		{"array of numbers", `[1,2]`, "", "[0]: array elements must be JSON objects"},
		{"unknown family", `{"hello":"world"}`, "", "cannot tell the payload family"},
		{"alert on the location endpoint", `{"kind":"IdlingAlert","vehicle_number":"T1","active_event_time":"2024-02-05T12:30:45Z"}`, "location", "kind: a alert payload was posted to the location endpoint"},
		{"no vehicle", `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":6.4,"longitude":3.3}`, "", "vehiclenumber: missing"},
		{"bad gpstime", `{"imei":"1","gpstime":"yesterday","latitude":6.4,"longitude":3.3,"vehiclenumber":"T1"}`, "", "gpstime: \"yesterday\" is not a time"},
		{"latitude 95", `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":95,"longitude":3.3,"vehiclenumber":"T1"}`, "", "latitude: 95 is outside -90..90"},
		{"latitude a word", `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":"north","longitude":3.3,"vehiclenumber":"T1"}`, "", "latitude: \"north\" is not a number"},
		{"no longitude", `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":6.4,"vehiclenumber":"T1"}`, "", "longitude: missing"},
		{"ignition maybe", `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":6.4,"longitude":3.3,"vehiclenumber":"T1","ignition":"maybe"}`, "", "ignition: \"maybe\" is not a flag"},
		{"speed 900", `{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":6.4,"longitude":3.3,"vehiclenumber":"T1","speed":900}`, "", "speed: 900 km/h"},
		{"fix from the future", `{"imei":"1","gpstime":"22-11-2030 09:00:00","latitude":6.4,"longitude":3.3,"vehiclenumber":"T1"}`, "", "gpstime: 2030-11-22T08:00:00Z is more than 1h0m0s in the future"},
		{"alert without time", `{"kind":"IdlingAlert","vehicle_number":"T1"}`, "", "active_event_time: missing"},
		{"second element bad", `[{"kind":"IdlingAlert","vehicle_number":"T1","created_at":"2024-02-05T12:30:45Z"},{"kind":"IdlingAlert"}]`, "", "[1].active_event_time: missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parser().ParseBody([]byte(tc.body), tc.family)
			var pe *loconav.PayloadError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseBody(%s) error = %v; want a PayloadError containing %q", tc.body, err, tc.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"2024-02-08T12:30:45Z":          time.Date(2024, 2, 8, 12, 30, 45, 0, time.UTC),
		"2022-08-09T14:47:44.000+05:30": time.Date(2022, 8, 9, 9, 17, 44, 0, time.UTC),
		"2024-02-10T08:30:00":           time.Date(2024, 2, 10, 7, 30, 0, 0, time.UTC),
		"17-12-2021 09:57:07":           time.Date(2021, 12, 17, 8, 57, 7, 0, time.UTC),
		" 2024-02-10 08:30:00 ":         time.Date(2024, 2, 10, 7, 30, 0, 0, time.UTC),
	} {
		got, err := loconav.ParseTime(in, lagos)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "31-02-2024 10:00:00", "2024/02/10", "12:30"} {
		if _, err := loconav.ParseTime(bad, lagos); err == nil {
			t.Errorf("ParseTime(%q) succeeded", bad)
		}
	}
}
