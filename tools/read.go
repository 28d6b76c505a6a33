package tools

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/fault"
	"github.com/watchtower-fleet/watchtower/store"
)

// all is every tool, in the order the model and help list them.
func (r *Registry) all() []*Tool {
	return []*Tool{
		r.truckLocation(), r.truckDetails(), r.listTrucks(), r.fleetStatus(), r.trucksAt(), r.trucksNear(), r.truckHistory(),
		r.tripStatus(), r.tripTracking(), r.listTrips(), r.listDelays(), r.alerts(), r.driverFor(), r.fleetMetrics(), r.turnaroundTimes(),
		r.createTrip(), r.updateTripStatus(), r.cancelTrip(),
	}
}

// TruckArgs names one truck.
type TruckArgs struct {
	Truck string `json:"truck" jsonschema:"description=The truck's plate as the user wrote it: T11985LA or t-11985-la or just the digits 11985"`
}

// Validate checks the arguments.
func (a TruckArgs) Validate() error { return needText("truck", a.Truck) }

// optional is a nullable text argument and its name, for tooLong.
type optional struct {
	name string
	v    *string
}

// tooLong refuses the first given text over 200 bytes, naming it.
func tooLong(fields ...optional) error {
	for _, f := range fields {
		if f.v != nil && len(*f.v) > 200 {
			return argErr(f.name, "is too long")
		}
	}
	return nil
}

func needText(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return argErr(field, "is required")
	}
	if len(v) > 200 {
		return argErr(field, "is too long")
	}
	return nil
}

func (r *Registry) truckLocation() *Tool {
	t := Define("truck_location", RoleViewer, false,
		"Where a truck is now: its last GPS fix and its age, speed, heading and ignition, the place it is inside (or the nearest known place and how far), and a map link.",
		r.runTruckLocation, nil)
	t.Usage = "where <truck>"
	return t
}

func (r *Registry) runTruckLocation(ctx context.Context, c Caller, a TruckArgs) (Result, error) {
	db, now, zone := r.deps.DB, r.deps.Now(), r.deps.Zone
	truck, err := db.TruckByNumber(ctx, a.Truck)
	if err != nil {
		return Result{}, err
	}
	refreshed := false
	if truck.Fix == nil || now.Sub(truck.Fix.At) > r.deps.StaleAfter {
		refreshed = r.refreshPosition(ctx, &truck)
	}
	data := map[string]any{"truck": truck.Number, "status": truck.Status}
	view := View{Title: truck.Number}
	if truck.Fix == nil {
		data["position"] = nil
		view.Text = truck.Number + " has never reported a position."
		return Result{Data: data, View: view}, nil
	}
	f := truck.Fix
	place, err := db.TruckPlace(ctx, truck.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Result{}, err
	}
	age := now.Sub(f.At)
	data["lat"], data["lng"] = round(f.Lat, 6), round(f.Lon, 6)
	data["fix_time"] = rfc(f.At, zone)
	data["age_minutes"] = int(age.Minutes())
	data["speed_kmh"] = f.SpeedKmh
	data["heading_deg"] = f.Heading
	data["ignition"] = f.Ignition
	data["map_url"] = mapURL(f.Point)
	if refreshed {
		data["refreshed_from_loconav"] = true
	}
	where := ""
	switch {
	case place.Inside != nil:
		data["inside"] = placeData(*place.Inside)
		where = "at " + place.Inside.Name
		if place.Since != nil {
			data["inside_since"] = rfc(*place.Since, zone)
			where += " for " + duration(now.Sub(*place.Since))
		}
	case place.Nearest != nil:
		data["nearest"] = placeData(*place.Nearest)
		data["nearest_distance_km"] = round(place.DistanceM/1000, 1)
		where = km(place.DistanceM) + " from " + place.Nearest.Name
	}
	moving := f.SpeedKmh != nil && *f.SpeedKmh > 3
	state := "stopped"
	if moving {
		state = fmt.Sprintf("moving at %.0f km/h", *f.SpeedKmh)
	}
	if f.Ignition != nil && !*f.Ignition && !moving {
		state = "parked, ignition off"
	}
	view.Text = fmt.Sprintf("%s is %s, %s (fix %s).", truck.Number, strings.TrimSpace(where), state, ago(now, f.At))
	if where == "" {
		view.Text = fmt.Sprintf("%s is %s (fix %s).", truck.Number, state, ago(now, f.At))
	}
	if age > r.deps.OfflineAfter {
		view.Text += " Its tracker has been silent for " + duration(age) + "."
		data["offline"] = true
	} else if age > r.deps.StaleAfter {
		view.Text += " The position is " + duration(age) + " old."
	}
	view.Fields = []Field{{"Position", fmt.Sprintf("%.5f, %.5f", f.Lat, f.Lon)}, {"Fix", clockTime(f.At, now, zone) + " (" + ago(now, f.At) + ")"}}
	if f.SpeedKmh != nil {
		view.Fields = append(view.Fields, Field{"Speed", fmt.Sprintf("%.0f km/h", *f.SpeedKmh)})
	}
	if f.Heading != nil {
		view.Fields = append(view.Fields, Field{"Heading", fmt.Sprintf("%.0f°", *f.Heading)})
	}
	if f.Ignition != nil {
		view.Fields = append(view.Fields, Field{"Ignition", map[bool]string{true: "on", false: "off"}[*f.Ignition]})
	}
	view.Links = []Link{{"Open map", mapURL(f.Point)}}
	view.Buttons = []Button{{Label: "Refresh", Action: ActionRefresh, Value: truck.Number}}
	// On a trip, the card offers LocoNav's public live link, where it gave one.
	trips, _, err := db.Trips(ctx, store.TripFilter{TruckNumber: truck.Number, Statuses: []string{store.TripOngoing, store.TripDelayed}, Limit: 1})
	if err != nil {
		return Result{}, err
	}
	if len(trips) == 1 {
		data["trip"] = trips[0].VPCID
		view.Fields = append(view.Fields, Field{"Trip", trips[0].VPCID + " (" + trips[0].Status + ")"})
		if trips[0].TrackingURL != "" {
			view.Buttons = append(view.Buttons, Button{Label: "Share live link", Action: ActionShare, Value: trips[0].VPCID})
		}
	}
	if refreshed {
		view.Footer = "Refreshed from LocoNav just now."
	}
	return Result{Data: data, View: view}, nil
}

func placeData(l store.Location) map[string]any {
	return map[string]any{"code": l.Code, "name": l.Name, "kind": l.Kind}
}

// FleetStatusArgs filters fleet_status.
type FleetStatusArgs struct {
	Where *string `json:"where" jsonschema:"description=To list the trucks in one state as well as the counts: at_terminal or at_client or at_depot or en_route or offline or no_fix. Null for counts only.,enum=at_terminal,enum=at_client,enum=at_depot,enum=en_route,enum=offline,enum=no_fix"`
}

// whereKeys are fleet_status's places, in the order shown.
var whereKeys = []string{"at_terminal", "at_client", "at_depot", "en_route", "offline", "no_fix"}

// Validate checks the arguments.
func (a FleetStatusArgs) Validate() error {
	if a.Where != nil && !contains(whereKeys, *a.Where) {
		return argErr("where", "must be one of %s", strings.Join(whereKeys, ", "))
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (r *Registry) fleetStatus() *Tool {
	t := Define("fleet_status", RoleViewer, false,
		"The whole fleet at a glance: trucks counted by status (active, maintenance, inactive) and by where they are (at a terminal, at a client, at the depot, en route, offline, never reported). Optionally lists the trucks in one of those states.",
		r.runFleetStatus, nil)
	t.Usage = "status [offline|en_route|at_terminal|…]"
	return t
}

func (r *Registry) runFleetStatus(ctx context.Context, c Caller, a FleetStatusArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	fs, err := r.deps.DB.FleetStatus(ctx, now, r.deps.OfflineAfter)
	if err != nil {
		return Result{}, err
	}
	byStatus := map[string]int{}
	for _, c := range fs.ByStatus {
		byStatus[c.Key] = c.N
	}
	byWhere := map[string]int{}
	for _, c := range fs.ByWhere {
		byWhere[c.Key] = c.N
	}
	data := map[string]any{"total": fs.Total, "by_status": byStatus, "by_where": byWhere}
	view := View{Title: fmt.Sprintf("Fleet: %d trucks", fs.Total)}
	var parts []string
	for _, c := range fs.ByWhere {
		if c.N > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.N, strings.ReplaceAll(c.Key, "_", " ")))
		}
	}
	view.Text = strings.Join(parts, ", ") + "."
	for _, c := range fs.ByStatus {
		view.Fields = append(view.Fields, Field{strings.ToUpper(c.Key[:1]) + c.Key[1:], strconv.Itoa(c.N)})
	}
	if a.Where != nil {
		var list []store.TruckWhere
		for _, t := range fs.Trucks {
			if t.Where == *a.Where {
				list = append(list, t)
			}
		}
		shown, more := capped(list, defaultCap)
		items := make([]map[string]any, 0, len(shown))
		view.Columns = []string{"Truck", "Place", "Last fix"}
		for _, t := range shown {
			item := map[string]any{"truck": t.Number, "place": t.PlaceCode, "fix_time": rfcPtr(t.FixAt, zone)}
			items = append(items, item)
			last := "never"
			if t.FixAt != nil {
				last = ago(now, *t.FixAt)
			}
			view.Rows = append(view.Rows, []string{t.Number, t.PlaceName, last})
		}
		data["trucks"] = items
		if more > 0 {
			data["more"] = moreNote(more)
		}
		view.More = more
		view.Title += " · " + strings.ReplaceAll(*a.Where, "_", " ")
	}
	return Result{Data: data, View: view}, nil
}

// PlaceArgs names one place.
type PlaceArgs struct {
	Place string `json:"place" jsonschema:"description=A place's code or name or alias as the user wrote it, e.g. ESSLIBRA or Apapa or tin can or Dangote Ibese"`
}

// Validate checks the arguments.
func (a PlaceArgs) Validate() error { return needText("place", a.Place) }

func (r *Registry) trucksAt() *Tool {
	t := Define("trucks_at", RoleViewer, false,
		"The trucks inside a named place's geofence now (a terminal, client site or depot), with how long each has been there.",
		r.runTrucksAt, nil)
	t.Usage = "at <place>"
	return t
}

func (r *Registry) runTrucksAt(ctx context.Context, c Caller, a PlaceArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	loc, err := r.deps.DB.LocationByName(ctx, a.Place)
	if err != nil {
		return Result{}, err
	}
	at, err := r.deps.DB.TrucksAt(ctx, loc.ID)
	if err != nil {
		return Result{}, err
	}
	shown, more := capped(at, defaultCap)
	items := make([]map[string]any, 0, len(shown))
	view := View{Title: fmt.Sprintf("At %s (%s)", loc.Name, loc.Code), Columns: []string{"Truck", "There for", "Last fix"}, More: more}
	for _, t := range shown {
		item := map[string]any{"truck": t.Number, "since": rfcPtr(t.Since, zone)}
		there := "just arrived"
		if t.Since != nil {
			there = duration(now.Sub(*t.Since))
			item["minutes_there"] = int(now.Sub(*t.Since).Minutes())
		}
		last := "never"
		if t.Fix != nil {
			last = ago(now, t.Fix.At)
		}
		items = append(items, item)
		view.Rows = append(view.Rows, []string{t.Number, there, last})
	}
	switch len(at) {
	case 0:
		view.Text = "No trucks are at " + loc.Name + " now."
	case 1:
		view.Text = "1 truck is at " + loc.Name + "."
	default:
		view.Text = fmt.Sprintf("%d trucks are at %s.", len(at), loc.Name)
	}
	data := map[string]any{"place": placeData(loc), "count": len(at), "trucks": items}
	if more > 0 {
		data["more"] = moreNote(more)
	}
	return Result{Data: data, View: view}, nil
}

// TrucksNearArgs is a place or a point and a radius.
type TrucksNearArgs struct {
	Place    *string  `json:"place" jsonschema:"description=A place's code or name to search around. Null when giving lat and lng."`
	Lat      *float64 `json:"lat" jsonschema:"description=Latitude of the point to search around in degrees. Null when giving a place.,minimum=-90,maximum=90"`
	Lng      *float64 `json:"lng" jsonschema:"description=Longitude of the point to search around in degrees. Null when giving a place.,minimum=-180,maximum=180"`
	RadiusKm *float64 `json:"radius_km" jsonschema:"description=Search radius in km; null for 5 km.,minimum=0.1,maximum=200"`
}

// Validate checks the arguments.
func (a TrucksNearArgs) Validate() error {
	hasPlace := a.Place != nil && strings.TrimSpace(*a.Place) != ""
	hasPoint := a.Lat != nil || a.Lng != nil
	switch {
	case hasPlace && hasPoint:
		return argErr("place", "give a place or lat/lng, not both")
	case !hasPlace && !hasPoint:
		return argErr("place", "give a place, or lat and lng")
	case hasPoint && (a.Lat == nil || a.Lng == nil):
		return argErr("lng", "lat and lng go together")
	case hasPoint:
		if err := (store.Point{Lat: *a.Lat, Lon: *a.Lng}).Validate(); err != nil {
			msg, _ := fault.Message(err)
			return argErr("lat", "%s", msg)
		}
	}
	if a.RadiusKm != nil && (*a.RadiusKm < 0.1 || *a.RadiusKm > 200) {
		return argErr("radius_km", "must be between 0.1 and 200")
	}
	return nil
}

func (r *Registry) trucksNear() *Tool {
	t := Define("trucks_near", RoleViewer, false,
		"The trucks within a radius of a named place or of a lat/lng point, nearest first, with their distance.",
		r.runTrucksNear, nil)
	t.Usage = "near <place|lat,lng> [km]"
	return t
}

func (r *Registry) runTrucksNear(ctx context.Context, c Caller, a TrucksNearArgs) (Result, error) {
	now := r.deps.Now()
	radius := 5.0
	if a.RadiusKm != nil {
		radius = *a.RadiusKm
	}
	var center store.Point
	label := ""
	data := map[string]any{"radius_km": radius}
	if a.Place != nil && strings.TrimSpace(*a.Place) != "" {
		loc, err := r.deps.DB.LocationByName(ctx, *a.Place)
		if err != nil {
			return Result{}, err
		}
		center, label = loc.Center, loc.Name
		data["place"] = placeData(loc)
	} else {
		center = store.Point{Lat: *a.Lat, Lon: *a.Lng}
		label = center.String()
		data["lat"], data["lng"] = center.Lat, center.Lon
	}
	near, err := r.deps.DB.TrucksWithin(ctx, center, radius*1000)
	if err != nil {
		return Result{}, err
	}
	shown, more := capped(near, defaultCap)
	items := make([]map[string]any, 0, len(shown))
	view := View{Title: fmt.Sprintf("Within %g km of %s", radius, label), Columns: []string{"Truck", "Distance", "Last fix"}, More: more,
		Links: []Link{{"Open map", mapURL(center)}}}
	for _, t := range shown {
		items = append(items, map[string]any{"truck": t.Number, "distance_km": round(t.DistanceM/1000, 2)})
		last := "never"
		if t.Fix != nil {
			last = ago(now, t.Fix.At)
		}
		view.Rows = append(view.Rows, []string{t.Number, km(t.DistanceM), last})
	}
	view.Text = fmt.Sprintf("%d trucks within %g km of %s.", len(near), radius, label)
	data["count"], data["trucks"] = len(near), items
	if more > 0 {
		data["more"] = moreNote(more)
	}
	return Result{Data: data, View: view}, nil
}

// PeriodArgs bound a time window; both null means the last 24 hours.
type TruckHistoryArgs struct {
	Truck string  `json:"truck" jsonschema:"description=The truck's plate as the user wrote it"`
	From  *string `json:"from" jsonschema:"description=Start of the period in Lagos time as YYYY-MM-DDTHH:MM or a day as YYYY-MM-DD or today or yesterday. Null for 24 hours before to."`
	To    *string `json:"to" jsonschema:"description=End of the period in Lagos time as YYYY-MM-DDTHH:MM; null for now (or the end of the day given in from)."`
}

// Validate checks the arguments.
func (a TruckHistoryArgs) Validate() error { return needText("truck", a.Truck) }

func (r *Registry) truckHistory() *Tool {
	t := Define("truck_history", RoleViewer, false,
		"What a truck did over a period (at most 31 days): distance driven, moving time, top speed, the stops it made and the places it visited.",
		r.runTruckHistory, nil)
	t.Usage = "history <truck> [day]"
	return t
}

// window reads from/to as a period, defaulting to the 24 hours before now;
// a bare day as from means that whole day.
func (r *Registry) window(from, to *string, def time.Duration) (time.Time, time.Time, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	end := now
	start := now.Add(-def)
	if from != nil && strings.TrimSpace(*from) != "" {
		if d, err := ParseDay(*from, now, zone); err == nil {
			start, end = d, d.AddDate(0, 0, 1)
		} else if t, err2 := ParseWhen(*from, now, zone); err2 == nil {
			start = t
		} else {
			return time.Time{}, time.Time{}, argErr("from", "%s", err2.Error())
		}
	}
	if to != nil && strings.TrimSpace(*to) != "" {
		t, err := ParseWhen(*to, now, zone)
		if err != nil {
			if d, err2 := ParseDay(*to, now, zone); err2 == nil {
				t = d.AddDate(0, 0, 1)
			} else {
				return time.Time{}, time.Time{}, argErr("to", "%s", err.Error())
			}
		}
		end = t
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, argErr("to", "must be after from")
	}
	return start, end, nil
}

func (r *Registry) runTruckHistory(ctx context.Context, c Caller, a TruckHistoryArgs) (Result, error) {
	zone := r.deps.Zone
	from, to, err := r.window(a.From, a.To, 24*time.Hour)
	if err != nil {
		return Result{}, err
	}
	if to.Sub(from) > 31*24*time.Hour {
		return Result{}, argErr("from", "the period can be at most 31 days")
	}
	truck, err := r.deps.DB.TruckByNumber(ctx, a.Truck)
	if err != nil {
		return Result{}, err
	}
	h, err := r.deps.DB.TruckHistory(ctx, truck.ID, from, to)
	if err != nil {
		return Result{}, err
	}
	stops := make([]map[string]any, 0, len(h.Stops))
	view := View{Title: fmt.Sprintf("%s, %s – %s", truck.Number, from.In(zone).Format("Mon 2 Jan 15:04"), to.In(zone).Format("Mon 2 Jan 15:04")),
		Columns: []string{"Stop", "From", "For", "Where"}}
	for _, s := range h.Stops {
		where := s.LocationCode
		if where == "" {
			where = fmt.Sprintf("%.4f, %.4f", s.Point.Lat, s.Point.Lon)
		}
		stops = append(stops, map[string]any{"from": rfc(s.Start, zone), "to": rfc(s.End, zone), "place": s.LocationCode,
			"minutes": int(s.End.Sub(s.Start).Minutes())})
		view.Rows = append(view.Rows, []string{strconv.Itoa(len(view.Rows) + 1), s.Start.In(zone).Format("15:04"), duration(s.End.Sub(s.Start)), where})
	}
	visits := make([]map[string]any, 0, len(h.Visits))
	for _, v := range h.Visits {
		visits = append(visits, map[string]any{"place": v.LocationCode, "entered": rfc(v.EnteredAt, zone), "left": rfcPtr(v.ExitedAt, zone)})
	}
	data := map[string]any{
		"truck": truck.Number, "from": rfc(from, zone), "to": rfc(to, zone), "fixes": h.Fixes,
		"distance_km": round(h.DistanceKm, 1), "moving_minutes": int(h.MovingMinutes), "max_speed_kmh": round(h.MaxSpeedKmh, 0),
		"stops": stops, "visits": visits,
	}
	if n := h.StopsTotal - len(h.Stops); n > 0 {
		data["stops_more"] = moreNote(n)
		view.More = n
	}
	if n := h.VisitsTotal - len(h.Visits); n > 0 {
		data["visits_more"] = moreNote(n)
	}
	view.Text = fmt.Sprintf("%s drove %.1f km, moving for %s, with %d stops and %d place visits.",
		truck.Number, h.DistanceKm, duration(time.Duration(h.MovingMinutes*float64(time.Minute))), h.StopsTotal, h.VisitsTotal)
	if h.Fixes == 0 {
		view.Text = truck.Number + " sent no positions in that period."
	}
	view.Fields = []Field{{"Distance", fmt.Sprintf("%.1f km", h.DistanceKm)}, {"Top speed", fmt.Sprintf("%.0f km/h", h.MaxSpeedKmh)}, {"Fixes", strconv.Itoa(h.Fixes)}}
	return Result{Data: data, View: view}, nil
}
