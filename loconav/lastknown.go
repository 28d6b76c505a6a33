package loconav

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// LastKnown returns the last known GPS fix of each vehicle in uuids (LocoNav
// vehicle UUIDs), walking all pages. A value that does not parse is logged
// and skipped, so one broken tracker does not hide the fleet. No uuids
// means no call: LocoNav would answer for the whole account.
func (c *Client) LastKnown(ctx context.Context, uuids []string) ([]LastKnownFix, error) {
	if len(uuids) == 0 {
		return nil, nil
	}
	body := struct {
		VehicleIDs []string `json:"vehicleIds"`
		Sensors    []string `json:"sensors"`
	}{uuids, []string{"gps"}}
	var evs []LastKnownFix
	for page := 1; page <= locoNavMaxPages; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "perPage": {strconv.Itoa(locoNavLastKnownPerPage)}}
		var data struct {
			Values     []json.RawMessage `json:"values"`
			Pagination struct {
				More bool `json:"more"`
			} `json:"pagination"`
		}
		if err := c.do(ctx, http.MethodPost, "/vehicles/telematics/last_known", q, body, &data); err != nil {
			return nil, err
		}
		for _, raw := range data.Values {
			ev, err := parseLastKnown(raw, c.now())
			if err != nil {
				c.rejectedFixes.Inc()
				c.logger.WarnContext(ctx, "loconav last_known value rejected",
					"vehicle_id", vehicleIDOf(raw), "err", err)
				continue
			}
			evs = append(evs, ev)
		}
		if !data.Pagination.More {
			return evs, nil
		}
		if len(data.Values) == 0 {
			c.logger.WarnContext(ctx, "loconav last_known page empty but more is true", "page", page)
			return evs, nil
		}
	}
	return nil, fmt.Errorf("loconav: POST /vehicles/telematics/last_known: more than %d pages", locoNavMaxPages)
}

func vehicleIDOf(raw json.RawMessage) string {
	var v struct {
		ID string `json:"vehicleId"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.ID
}

// LastKnownFix is one vehicle's last known GPS fix.
type LastKnownFix struct {
	VehicleUUID   string // vehicleId
	VehicleNumber string // as LocoNav writes it
	TruckNumber   string // normalised
	Time          time.Time
	Point         *store.Point // nil for LocoNav's 0,0 "no fix"
	SpeedKmh      *float64
	Heading       *float64
	Ignition      *bool
	Raw           json.RawMessage // the value exactly as received
}

// Fix is f as the store records it; ok is false without a position.
func (f LastKnownFix) Fix() (store.Fix, bool) {
	if f.Point == nil || f.Time.IsZero() {
		return store.Fix{}, false
	}
	return store.Fix{Point: *f.Point, At: f.Time, SpeedKmh: f.SpeedKmh, Heading: f.Heading, Ignition: f.Ignition}, true
}

// Event is f as the stream carries it: a location fix of the
// last_known family, from the poll.
func (f LastKnownFix) Event() Event {
	return Event{Source: SourcePoll, Family: FamilyLastKnown, Kind: KindLocation, Raw: f.Raw,
		VehicleNumber: f.VehicleNumber, TruckNumber: f.TruckNumber, Time: f.Time, Point: f.Point,
		SpeedKmh: f.SpeedKmh, Heading: f.Heading, Ignition: f.Ignition}
}

// ParseLastKnown reads one value of a last_known answer (its data.values
// element). A 0,0 position gives a nil Point. Errors are *PayloadError naming the field, like
// "gps.currentLocationCoordinates.lat.value: missing".
func ParseLastKnown(raw json.RawMessage) (LastKnownFix, error) {
	return parseLastKnown(raw, time.Now())
}

// parseLastKnown is ParseLastKnown on a clock: a fix dated more than
// maxFutureSkew after now is refused.
func parseLastKnown(raw json.RawMessage, now time.Time) (LastKnownFix, error) {
	obj, perr := objectOf(raw, "")
	if perr != nil {
		return LastKnownFix{}, perr
	}
	ev := LastKnownFix{Raw: raw, VehicleUUID: vehicleIDOf(raw)}
	if ev.VehicleNumber, perr = stringField(obj, "vehicleNumber"); perr != nil {
		return LastKnownFix{}, perr
	}
	if ev.TruckNumber = store.NormalizeTruckNumber(ev.VehicleNumber); ev.TruckNumber == "" {
		return LastKnownFix{}, lkFail("vehicleNumber", "missing or has no letters or digits")
	}
	gps, perr := objectOf(obj["gps"], "gps")
	if perr != nil {
		return LastKnownFix{}, perr
	}
	coords, perr := objectOf(gps["currentLocationCoordinates"], "gps.currentLocationCoordinates")
	if perr != nil {
		return LastKnownFix{}, perr
	}
	lat, latTS, perr := sensorNumber(coords, "lat", "gps.currentLocationCoordinates.lat", true)
	if perr != nil {
		return LastKnownFix{}, perr
	}
	lon, lonTS, perr := sensorNumber(coords, "long", "gps.currentLocationCoordinates.long", true)
	if perr != nil {
		return LastKnownFix{}, perr
	}
	if *lat < -90 || *lat > 90 {
		return LastKnownFix{}, lkFail("gps.currentLocationCoordinates.lat.value", fmt.Sprintf("%v is outside -90..90", *lat))
	}
	if *lon < -180 || *lon > 180 {
		return LastKnownFix{}, lkFail("gps.currentLocationCoordinates.long.value", fmt.Sprintf("%v is outside -180..180", *lon))
	}
	noFix := *lat == 0 && *lon == 0
	if !noFix {
		ev.Point = &store.Point{Lat: *lat, Lon: *lon}
	}
	// The fix is as old as its coordinates; speed and orientation carry
	// their own, often later, timestamps.
	switch {
	case latTS.IsZero() && lonTS.IsZero():
		if !noFix {
			return LastKnownFix{}, lkFail("gps.currentLocationCoordinates.lat.timestamp", "missing")
		}
	case lonTS.After(latTS):
		ev.Time = lonTS
	default:
		ev.Time = latTS
	}
	if ev.Time.After(now.Add(maxFutureSkew)) {
		return LastKnownFix{}, lkFail("gps.currentLocationCoordinates.lat.timestamp",
			fmt.Sprintf("%s is more than %v in the future", ev.Time.Format(time.RFC3339), maxFutureSkew))
	}
	if ev.SpeedKmh, _, perr = sensorNumber(gps, "speed", "gps.speed", false); perr != nil {
		return LastKnownFix{}, perr
	}
	if ev.SpeedKmh != nil && (*ev.SpeedKmh < 0 || *ev.SpeedKmh > 300) {
		return LastKnownFix{}, lkFail("gps.speed.value", fmt.Sprintf("%v km/h is not a truck's speed", *ev.SpeedKmh))
	}
	if ev.Heading, _, perr = sensorNumber(gps, "orientation", "gps.orientation", false); perr != nil {
		return LastKnownFix{}, perr
	}
	if ev.Ignition, perr = ignition(gps); perr != nil {
		return LastKnownFix{}, perr
	}
	return ev, nil
}

func lkFail(field, problem string) *PayloadError {
	return &PayloadError{Index: -1, Field: field, Problem: problem}
}

// objectOf decodes raw as a JSON object; path names it in errors ("" for
// the value itself).
func objectOf(raw json.RawMessage, path string) (map[string]json.RawMessage, *PayloadError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, lkFail(path, "missing")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		if path == "" {
			return nil, lkFail("", "malformed JSON object")
		}
		return nil, lkFail(path, "must be an object")
	}
	return obj, nil
}

func stringField(obj map[string]json.RawMessage, name string) (string, *PayloadError) {
	v, ok := obj[name]
	if !ok || string(v) == "null" {
		return "", lkFail(name, "missing")
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", lkFail(name, "must be a string")
	}
	return strings.TrimSpace(s), nil
}

// sensorNumber reads obj[name] = {"value": 59.0 or "34", "timestamp": epoch
// seconds}. An absent sensor is nil unless required.
func sensorNumber(obj map[string]json.RawMessage, name, path string, required bool) (*float64, time.Time, *PayloadError) {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		if required {
			return nil, time.Time{}, lkFail(path+".value", "missing")
		}
		return nil, time.Time{}, nil
	}
	s, perr := objectOf(raw, path)
	if perr != nil {
		return nil, time.Time{}, perr
	}
	x, perr := numberValue(s["value"], path+".value")
	if perr != nil {
		return nil, time.Time{}, perr
	}
	if x == nil && required {
		return nil, time.Time{}, lkFail(path+".value", "missing")
	}
	ts, perr := epochSeconds(s["timestamp"], path+".timestamp")
	if perr != nil {
		return nil, time.Time{}, perr
	}
	return x, ts, nil
}

// numberValue reads a number, or a number in a string as orientation
// comes; path names it in errors.
func numberValue(raw json.RawMessage, path string) (*float64, *PayloadError) {
	x, problem := looseFloat(raw)
	if problem != "" {
		return nil, lkFail(path, problem)
	}
	return x, nil
}

// epochSeconds reads a per-value timestamp; absent is the zero time.
func epochSeconds(raw json.RawMessage, path string) (time.Time, *PayloadError) {
	x, perr := numberValue(raw, path)
	if perr != nil || x == nil {
		return time.Time{}, perr
	}
	// Up to the year 5138: beyond is no clock, and int64 would overflow.
	if *x <= 0 || *x >= 1e11 {
		return time.Time{}, lkFail(path, fmt.Sprintf("%v is not epoch seconds", *x))
	}
	return time.Unix(int64(*x), 0).UTC(), nil
}

// ignition reads gps.ignition.value, "ON" or "OFF".
func ignition(gps map[string]json.RawMessage) (*bool, *PayloadError) {
	raw, ok := gps["ignition"]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	s, perr := objectOf(raw, "gps.ignition")
	if perr != nil {
		return nil, perr
	}
	v, ok := s["value"]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var str string
	if json.Unmarshal(v, &str) != nil {
		return nil, lkFail("gps.ignition.value", `must be "ON" or "OFF"`)
	}
	var b bool
	switch strings.ToUpper(strings.TrimSpace(str)) {
	case "ON":
		b = true
	case "OFF":
	case "":
		return nil, nil
	default:
		return nil, lkFail("gps.ignition.value", fmt.Sprintf(`%q is not "ON" or "OFF"`, truncate(str, 40)))
	}
	return &b, nil
}
