package loconav

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// Payload families: LocoNav's two webhook shapes, which share no envelope,
// and a value of the REST API's last_known answer, read by the poll.
const (
	FamilyLocation  = "location"
	FamilyAlert     = "alert"
	FamilyLastKnown = "last_known"
)

// SourcePoll is the Source of events the poll fetched.
const SourcePoll = "poll"

// KindLocation is the Kind of a GPS fix; alerts keep LocoNav's own kind
// ("OverspeedAlert", and unknown kinds as they come).
const KindLocation = "location"

// maxFutureSkew is how far ahead of our clock a fix may be dated. A tracker
// with a clock in 2030 would otherwise pin the truck's "current" position.
const maxFutureSkew = time.Hour

// Event is one LocoNav message, normalised: a GPS fix or an alert.
type Event struct {
	Source        string       `json:"source"` // webhook, poll, replay
	Family        string       `json:"family"` // location or alert
	Kind          string       `json:"kind"`
	VehicleNumber string       `json:"vehicle_number"` // as LocoNav wrote it
	TruckNumber   string       `json:"truck_number"`   // normalised
	IMEI          string       `json:"imei,omitempty"`
	Time          time.Time    `json:"time"` // fix time, or when the alert began
	Point         *store.Point `json:"point,omitempty"`
	SpeedKmh      *float64     `json:"speed_kmh,omitempty"`
	Heading       *float64     `json:"heading,omitempty"`
	Ignition      *bool        `json:"ignition,omitempty"`

	// Alerts only.
	AlertID   int64        `json:"alert_id,omitempty"`
	EventKey  string       `json:"event_key,omitempty"`
	PolygonID int64        `json:"polygon_id,omitempty"`
	EndTime   *time.Time   `json:"end_time,omitempty"` // when the condition ended, for interval alerts
	EndPoint  *store.Point `json:"end_point,omitempty"`

	Raw json.RawMessage `json:"-"` // the object exactly as received
}

// PayloadError says which field of which element is wrong; the webhook
// answers 400 with it.
type PayloadError struct {
	Index   int // element of a JSON array, or -1 for a single object
	Field   string
	Problem string
}

func (e *PayloadError) Error() string {
	at := e.Field
	switch {
	case e.Index >= 0 && e.Field != "":
		at = fmt.Sprintf("[%d].%s", e.Index, e.Field)
	case e.Index >= 0:
		at = fmt.Sprintf("[%d]", e.Index)
	}
	if at == "" {
		return e.Problem
	}
	return at + ": " + e.Problem
}

// Parser reads LocoNav payloads.
type Parser struct {
	Zone *time.Location   // for zone-less timestamps (LOCONAV_TIMEZONE)
	Now  func() time.Time // injected for tests
}

// SplitPayload returns the objects of a body holding one JSON object or an
// array of them, without decoding them further.
func SplitPayload(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, &PayloadError{Index: -1, Problem: "empty body: expected a JSON object or an array of them"}
	}
	switch trimmed[0] {
	case '{':
		// Parse decodes it, which checks it: no separate validation pass.
		return []json.RawMessage{trimmed}, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, &PayloadError{Index: -1, Problem: "malformed JSON array"}
		}
		if len(items) == 0 {
			return nil, &PayloadError{Index: -1, Problem: "empty array"}
		}
		for i, it := range items {
			if t := bytes.TrimSpace(it); len(t) == 0 || t[0] != '{' {
				return nil, &PayloadError{Index: i, Problem: "array elements must be JSON objects"}
			}
		}
		return items, nil
	}
	return nil, &PayloadError{Index: -1, Problem: "expected a JSON object or an array of them"}
}

// DetectFamily tells a live-location fix from an alert: alerts name their
// kind, fixes carry imei and gpstime.
func DetectFamily(obj map[string]json.RawMessage) (string, error) {
	if _, ok := obj["kind"]; ok {
		return FamilyAlert, nil
	}
	_, imei := obj["imei"]
	_, gps := obj["gpstime"]
	if imei && gps {
		return FamilyLocation, nil
	}
	return "", errors.New("cannot tell the payload family: expected kind (an alert) or imei and gpstime (a live location)")
}

// Parse decodes one object. family may be "" to detect it from the body;
// otherwise the body must be of that family.
func (p *Parser) Parse(raw json.RawMessage, family string) (Event, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return Event{}, &PayloadError{Index: -1, Problem: "malformed JSON"}
	}
	detected, err := DetectFamily(obj)
	if err != nil {
		if family == "" {
			return Event{}, &PayloadError{Index: -1, Problem: err.Error()}
		}
		detected = family
	}
	if family != "" && detected != family {
		return Event{}, &PayloadError{Index: -1, Field: "kind", Problem: fmt.Sprintf("a %s payload was posted to the %s endpoint", detected, family)}
	}
	f := fields{obj: obj, zone: p.Zone}
	ev := Event{Family: detected, Raw: raw}
	if detected == FamilyLocation {
		p.parseLocation(&f, &ev)
	} else {
		p.parseAlert(&f, &ev)
	}
	if f.err != nil {
		return Event{}, f.err
	}
	if ev.TruckNumber = store.NormalizeTruckNumber(ev.VehicleNumber); ev.TruckNumber == "" {
		field := "vehicle_number"
		if detected == FamilyLocation {
			field = "vehiclenumber"
		}
		return Event{}, &PayloadError{Index: -1, Field: field, Problem: "missing or has no letters or digits"}
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if ev.Time.After(now().Add(maxFutureSkew)) {
		field := "gpstime"
		if detected == FamilyAlert {
			field = "event_time"
		}
		return Event{}, &PayloadError{Index: -1, Field: field, Problem: fmt.Sprintf("%s is more than %v in the future (tracker clock wrong, or wrong LOCONAV_TIMEZONE?)", ev.Time.Format(time.RFC3339), maxFutureSkew)}
	}
	return ev, nil
}

// ParseFamily reads one stored object of a known family: a webhook's
// location or alert, or a polled last_known value.
func (p *Parser) ParseFamily(raw json.RawMessage, family string) (Event, error) {
	switch family {
	case FamilyLocation, FamilyAlert:
		return p.Parse(raw, family)
	case FamilyLastKnown:
		f, err := ParseLastKnown(raw)
		if err != nil {
			return Event{}, err
		}
		return f.Event(), nil
	}
	return Event{}, fmt.Errorf("unknown family %q", family)
}

// ParseBody splits and parses a webhook body; an error names the element
// and field at fault.
func (p *Parser) ParseBody(body []byte, family string) ([]Event, error) {
	items, err := SplitPayload(body)
	if err != nil {
		return nil, err
	}
	evs := make([]Event, 0, len(items))
	for i, it := range items {
		ev, err := p.Parse(it, family)
		if err != nil {
			var pe *PayloadError
			if len(items) > 1 && errors.As(err, &pe) {
				pe.Index = i
			}
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func (p *Parser) parseLocation(f *fields, ev *Event) {
	ev.Kind = KindLocation
	ev.VehicleNumber = f.str("vehiclenumber", "vehicle_number", "vehicleNumber")
	ev.IMEI = f.str("imei")
	ev.Time = f.time(true, "gpstime")
	ev.Point = f.point("latitude", "longitude", true)
	ev.SpeedKmh = f.float("speed")
	ev.Heading = f.float("orientation")
	ev.Ignition = f.bool("ignition")
	if ev.SpeedKmh != nil && (*ev.SpeedKmh < 0 || *ev.SpeedKmh > 300) {
		f.fail("speed", fmt.Sprintf("%v km/h is not a truck's speed", *ev.SpeedKmh))
	}
}

func (p *Parser) parseAlert(f *fields, ev *Event) {
	ev.Kind = f.str("kind")
	if ev.Kind == "" {
		f.fail("kind", "missing")
	}
	ev.VehicleNumber = f.str("vehicle_number", "vehiclenumber", "vehicleNumber")
	if id := f.float("id"); id != nil {
		ev.AlertID = int64(*id)
	}
	ev.EventKey = f.str("event_key")
	if id := f.float("polygon_id"); id != nil {
		ev.PolygonID = int64(*id)
	}
	ev.SpeedKmh = f.float("speed")
	if f.has("event_time") {
		// A point alert.
		ev.Time = f.time(true, "event_time")
		ev.Point = f.point("latitude", "longitude", false)
		return
	}
	// An interval alert: active = began, inactive = ended.
	ev.Time = f.time(false, "active_event_time")
	ev.Point = f.point("active_event_latitude", "active_event_longitude", false)
	if end := f.time(false, "inactive_event_time"); !end.IsZero() {
		ev.EndTime = &end
		ev.EndPoint = f.point("inactive_event_latitude", "inactive_event_longitude", false)
	}
	if ev.Time.IsZero() {
		// Some kinds carry only created_at; the alert still happened.
		ev.Time = f.time(false, "created_at")
	}
	if ev.Time.IsZero() && f.err == nil {
		f.fail("active_event_time", "missing (no event_time, active_event_time or created_at)")
	}
}

// fields reads a decoded object field by field, keeping the first problem.
type fields struct {
	obj  map[string]json.RawMessage
	zone *time.Location
	err  *PayloadError
}

func (f *fields) fail(field, problem string) {
	if f.err == nil {
		f.err = &PayloadError{Index: -1, Field: field, Problem: problem}
	}
}

func (f *fields) has(name string) bool {
	v, ok := f.obj[name]
	return ok && string(v) != "null"
}

// str returns the first present field of names as a string (numbers are
// accepted: some senders quote nothing).
func (f *fields) str(names ...string) string {
	for _, n := range names {
		v, ok := f.obj[n]
		if !ok || string(v) == "null" {
			continue
		}
		if s, ok := plainString(v); ok {
			return strings.TrimSpace(s)
		}
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			return strings.TrimSpace(s)
		}
		var num json.Number
		if err := json.Unmarshal(v, &num); err == nil {
			return num.String()
		}
		f.fail(n, "must be a string")
		return ""
	}
	return ""
}

// float reads a number, or a number in a string ("59.0").
func (f *fields) float(name string) *float64 {
	x, problem := looseFloat(f.obj[name])
	if problem != "" {
		f.fail(name, problem)
	}
	return x
}

// looseFloat reads a finite number as LocoNav writes one: a JSON number, or
// a number in a string ("59.0", " 34 "), in webhooks and REST answers alike.
// Absent (missing, null or "") is nil with no problem; otherwise problem
// says why it is not a finite number.
func looseFloat(raw json.RawMessage) (*float64, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ""
	}
	x, err := strconv.ParseFloat(string(raw), 64) // a plain JSON number, the usual case
	if err != nil || raw[0] == '+' || raw[0] == '.' {
		err = json.Unmarshal(raw, &x)
	}
	if err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, "must be a number"
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil, ""
		}
		if x, err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Sprintf("%q is not a number", truncate(s, 40))
		}
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, "must be a finite number"
	}
	return &x, ""
}

// bool reads LocoNav's flags: "1"/"0" strings, and for safety 1/0, true/false
// and "ON"/"OFF" as the REST API writes ignition.
func (f *fields) bool(name string) *bool {
	v, ok := f.obj[name]
	if !ok || string(v) == "null" {
		return nil
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return &b
	}
	s, ok := plainString(v)
	if !ok && json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "on", "true", "yes":
		b = true
	case "0", "off", "false", "no":
		b = false
	case "":
		return nil
	default:
		f.fail(name, fmt.Sprintf("%q is not a flag (\"1\" or \"0\")", s))
		return nil
	}
	return &b
}

// point reads a latitude/longitude pair. 0,0 (a tracker without a fix) gives
// nil: the message is kept, it just has no position. A fix must have both.
func (f *fields) point(latName, lonName string, required bool) *store.Point {
	lat, lon := f.float(latName), f.float(lonName)
	switch {
	case lat == nil && lon == nil:
		if required {
			f.fail(latName, "missing")
		}
		return nil
	case lat == nil:
		f.fail(latName, "missing")
		return nil
	case lon == nil:
		f.fail(lonName, "missing")
		return nil
	}
	p := store.Point{Lat: *lat, Lon: *lon}
	if p.Lat == 0 && p.Lon == 0 {
		return nil
	}
	if p.Lat < -90 || p.Lat > 90 {
		f.fail(latName, fmt.Sprintf("%v is outside -90..90", p.Lat))
		return nil
	}
	if p.Lon < -180 || p.Lon > 180 {
		f.fail(lonName, fmt.Sprintf("%v is outside -180..180", p.Lon))
		return nil
	}
	return &p
}

// time reads the first present field of names as a LocoNav timestamp.
func (f *fields) time(required bool, names ...string) time.Time {
	for _, n := range names {
		if !f.has(n) {
			continue
		}
		s, ok := plainString(f.obj[n])
		if !ok && json.Unmarshal(f.obj[n], &s) != nil {
			// Epoch seconds, as the REST API writes them.
			if secs := f.float(n); secs != nil {
				return time.Unix(int64(*secs), 0).UTC()
			}
			return time.Time{}
		}
		t, err := ParseTime(s, f.zone)
		if err != nil {
			f.fail(n, err.Error())
		}
		return t
	}
	if required && len(names) > 0 {
		f.fail(names[0], "missing")
	}
	return time.Time{}
}

// plainString reads a JSON string without escapes, the common case, without
// a decoder.
func plainString(v json.RawMessage) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') >= 0 || bytes.IndexByte(inner, '"') >= 0 {
		return "", false
	}
	for _, c := range inner {
		if c < 0x20 {
			return "", false
		}
	}
	return string(inner), true
}

// zonedLayouts carry their own offset; localLayouts are read in the
// configured zone.
var (
	zonedLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05Z07:00"}
	localLayouts = []string{"02-01-2006 15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05", "02-01-2006 15:04"}
)

// ParseTime reads the timestamp spellings LocoNav uses: ISO 8601 with a zone
// (Z or +05:30, fractions optional), ISO without a zone, and the live
// location's DD-MM-YYYY HH:MM:SS. Zone-less times are in zone.
func ParseTime(s string, zone *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if zone == nil {
		zone = time.UTC
	}
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, zone); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time LocoNav sends (DD-MM-YYYY HH:MM:SS or ISO 8601)", s)
}
