package tools

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// tripStatuses are the statuses a trip can have, for filters.
var tripStatuses = []string{store.TripPlanned, store.TripOngoing, store.TripDelayed, store.TripCompleted, store.TripUnsuccessful, store.TripCancelled}

// tripData is a trip for the model.
func tripData(t store.Trip, zone *time.Location) map[string]any {
	d := map[string]any{
		"trip_id": t.VPCID, "truck": t.TruckNumber, "status": t.Status,
		"pickup": t.Pickup, "delivery": t.Delivery,
		"scheduled_departure": rfc(t.ScheduledDeparture, zone),
	}
	if t.DriverName != "" {
		d["driver"] = t.DriverName
	}
	if t.Client != "" {
		d["client"] = t.Client
	}
	if t.ContainerNo != "" {
		d["container_no"] = t.ContainerNo
	}
	if t.CargoType != "" {
		d["cargo_type"] = t.CargoType
	}
	if t.Milestone != "" {
		d["milestone"] = t.Milestone
	}
	for _, m := range timeline(t) {
		d[m.key] = rfc(*m.at, zone)
	}
	if t.ETA != nil && t.ArrivedAt == nil {
		d["eta"] = rfc(*t.ETA, zone)
	}
	if t.PlannedArrival != nil {
		d["planned_arrival"] = rfc(*t.PlannedArrival, zone)
	}
	if t.DelayedSince != nil {
		d["delayed_since"] = rfc(*t.DelayedSince, zone)
		d["delay_reason"] = delayReasonText(t.DelayReason)
	}
	if t.ClosedAt != nil {
		d["closed"] = rfc(*t.ClosedAt, zone)
	}
	if t.TrackingURL != "" {
		d["tracking_url"] = t.TrackingURL
	}
	if loconav := loconavNote(t); loconav != "" {
		d["loconav"] = loconav
	}
	return d
}

// loconavNote says where the trip stands with LocoNav, for people.
func loconavNote(t store.Trip) string {
	switch t.LocoNavState {
	case store.LocoNavPending, store.LocoNavFailed:
		return "not yet in LocoNav"
	case store.LocoNavSynced:
		return fmt.Sprintf("in LocoNav (#%d)", t.LocoNavTripID)
	}
	return ""
}

// tripView is the trip card.
func tripView(t store.Trip, now time.Time, zone *time.Location) View {
	v := View{Title: "Trip " + t.VPCID}
	v.Text = fmt.Sprintf("%s: %s → %s, %s.", t.TruckNumber, placeLabel(t.PickupName, t.Pickup), placeLabel(t.DeliveryName, t.Delivery), t.Status)
	v.Fields = []Field{
		{"Truck", t.TruckNumber},
		{"Status", t.Status},
		{"Pickup", placeLabel(t.PickupName, t.Pickup)},
		{"Delivery", placeLabel(t.DeliveryName, t.Delivery)},
		{"Departure", clockTime(t.ScheduledDeparture, now, zone)},
	}
	if t.DriverName != "" {
		v.Fields = append(v.Fields, Field{"Driver", t.DriverName})
	}
	if t.Client != "" {
		v.Fields = append(v.Fields, Field{"Client", t.Client})
	}
	if t.ContainerNo != "" {
		v.Fields = append(v.Fields, Field{"Container", t.ContainerNo})
	}
	if t.ETA != nil && t.ArrivedAt == nil {
		eta := clockTime(*t.ETA, now, zone)
		if t.PlannedArrival != nil {
			eta += " (planned " + clockTime(*t.PlannedArrival, now, zone) + ")"
		}
		v.Fields = append(v.Fields, Field{"ETA", eta})
	}
	if t.DelayedSince != nil {
		v.Fields = append(v.Fields, Field{"Delayed", "since " + clockTime(*t.DelayedSince, now, zone) + ": " + delayReasonText(t.DelayReason)})
	}
	// The timeline: each milestone reached, at its fix time.
	for _, m := range timeline(t) {
		v.Rows = append(v.Rows, []string{m.label, clockTime(*m.at, now, zone)})
	}
	if len(v.Rows) > 0 {
		v.Columns = []string{"Milestone", "Time"}
	}
	if n := loconavNote(t); n != "" {
		v.Footer = "LocoNav: " + n
	}
	if t.TrackingURL != "" {
		v.Links = append(v.Links, Link{"Live tracking", t.TrackingURL})
		v.Buttons = append(v.Buttons, Button{Label: "Share tracking link", Action: ActionShare, Value: t.VPCID})
	}
	return v
}

// milestone is one reached step of a trip's timeline.
type milestone struct {
	key, label string
	at         *time.Time
}

// timeline lists the milestones a trip has reached, in order.
func timeline(t store.Trip) []milestone {
	all := []milestone{
		{"at_pickup", "At pickup", t.AtPickupAt},
		{"departed", "Loaded and left pickup", t.ActualDeparture},
		{"at_delivery", "At delivery", t.ArrivedAt},
		{"delivered", "Delivered", t.OffloadedAt},
		{"returned", "Back at base", t.ReturnedAt},
	}
	var out []milestone
	for _, m := range all {
		if m.at != nil {
			out = append(out, m)
		}
	}
	return out
}

func delayReasonText(r string) string {
	switch r {
	case "departure":
		return "not left pickup in time"
	case "eta":
		return "arriving late"
	}
	return r
}

func placeLabel(name, code string) string {
	if name == "" {
		return code
	}
	return name
}

// TripArgs names a trip, or a truck whose current trip is meant.
type TripArgs struct {
	Trip  *string `json:"trip" jsonschema:"description=The trip id such as 04/Dec/2026-T11985LA-DA01 or its number. Null to use the truck's current or latest trip."`
	Truck *string `json:"truck" jsonschema:"description=A truck plate whose current or latest trip is meant. Null when trip is given."`
}

// Validate checks the arguments.
func (a TripArgs) Validate() error {
	if strings.TrimSpace(deref(a.Trip)) == "" && strings.TrimSpace(deref(a.Truck)) == "" {
		return argErr("trip", "give a trip id or a truck")
	}
	return nil
}

func (r *Registry) tripStatus() *Tool {
	t := Define("trip_status", RoleViewer, false,
		"One trip's details and progress: truck, driver, pickup and delivery, schedule, milestones so far, LocoNav state and the public tracking link. Give the trip id, or a truck for its current or latest trip.",
		r.runTripStatus, nil)
	t.Usage = "trip <id|truck>"
	return t
}

// findTrip resolves TripArgs.
func (r *Registry) findTrip(ctx context.Context, a TripArgs) (store.Trip, error) {
	if ref := strings.TrimSpace(deref(a.Trip)); ref != "" {
		return r.deps.DB.TripByRef(ctx, ref)
	}
	truck, err := r.deps.DB.TruckByNumber(ctx, *a.Truck)
	if err != nil {
		return store.Trip{}, err
	}
	// The open trip if any, else the latest.
	open, _, err := r.deps.DB.Trips(ctx, store.TripFilter{TruckNumber: truck.Number, Statuses: []string{store.TripOngoing, store.TripDelayed, store.TripPlanned}, Limit: 1})
	if err != nil {
		return store.Trip{}, err
	}
	if len(open) > 0 {
		return open[0], nil
	}
	latest, _, err := r.deps.DB.Trips(ctx, store.TripFilter{TruckNumber: truck.Number, Limit: 1})
	if err != nil {
		return store.Trip{}, err
	}
	if len(latest) == 0 {
		return store.Trip{}, userErrf("%s has no trips", truck.Number)
	}
	return latest[0], nil
}

func (r *Registry) runTripStatus(ctx context.Context, c Caller, a TripArgs) (Result, error) {
	t, err := r.findTrip(ctx, a)
	if err != nil {
		return Result{}, err
	}
	return Result{Data: tripData(t, r.deps.Zone), View: tripView(t, r.deps.Now(), r.deps.Zone)}, nil
}

// ListTripsArgs filters list_trips.
type ListTripsArgs struct {
	Status *string `json:"status" jsonschema:"description=Only trips with this status; null for all.,enum=planned,enum=ongoing,enum=delayed,enum=completed,enum=unsuccessful,enum=cancelled"`
	Truck  *string `json:"truck" jsonschema:"description=Only this truck's trips; null for all trucks."`
	Day    *string `json:"day" jsonschema:"description=Only trips scheduled to depart on this Lagos day: YYYY-MM-DD or today or yesterday or tomorrow. Null for any day."`
	From   *string `json:"from" jsonschema:"description=Only trips scheduled to depart on or after this Lagos day (YYYY-MM-DD); null for no bound. Not with day."`
	To     *string `json:"to" jsonschema:"description=Only trips scheduled to depart on or before this Lagos day (YYYY-MM-DD); null for no bound. Not with day."`
	Cursor *string `json:"cursor" jsonschema:"description=The next_cursor of the previous page; null for the first page."`
	Limit  *int    `json:"limit" jsonschema:"description=How many trips at most (1-100); null for 20.,minimum=1,maximum=100"`
}

// Validate checks the arguments.
func (a ListTripsArgs) Validate() error {
	if a.Status != nil && !contains(tripStatuses, *a.Status) {
		return argErr("status", "must be one of %s", strings.Join(tripStatuses, ", "))
	}
	if strings.TrimSpace(deref(a.Day)) != "" && (strings.TrimSpace(deref(a.From)) != "" || strings.TrimSpace(deref(a.To)) != "") {
		return argErr("day", "give a day, or from and to, not both")
	}
	if err := tooLong(optional{"truck", a.Truck}, optional{"day", a.Day}, optional{"from", a.From}, optional{"to", a.To}, optional{"cursor", a.Cursor}); err != nil {
		return err
	}
	return checkLimit(a.Limit)
}

func (r *Registry) listTrips() *Tool {
	t := Define("list_trips", RoleViewer, false,
		"Trips, newest departure first, filtered by status, truck and day or range of days. Pages with cursor.",
		r.runListTrips, nil)
	t.Usage = "trips [status] [day]"
	return t
}

func (r *Registry) runListTrips(ctx context.Context, c Caller, a ListTripsArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	f := store.TripFilter{Limit: 20}
	if a.Limit != nil {
		f.Limit = *a.Limit
	}
	if a.Status != nil {
		f.Statuses = []string{*a.Status}
	}
	if truck := strings.TrimSpace(deref(a.Truck)); truck != "" {
		t, err := r.deps.DB.TruckByNumber(ctx, truck)
		if err != nil {
			return Result{}, err
		}
		f.TruckNumber = t.Number
	}
	if day := strings.TrimSpace(deref(a.Day)); day != "" {
		d, err := ParseDay(day, now, zone)
		if err != nil {
			return Result{}, argErr("day", "%s", err.Error())
		}
		f.From, f.To = d, d.AddDate(0, 0, 1)
	}
	if from := strings.TrimSpace(deref(a.From)); from != "" {
		d, err := ParseDay(from, now, zone)
		if err != nil {
			return Result{}, argErr("from", "%s", err.Error())
		}
		f.From = d
	}
	if to := strings.TrimSpace(deref(a.To)); to != "" {
		d, err := ParseDay(to, now, zone)
		if err != nil {
			return Result{}, argErr("to", "%s", err.Error())
		}
		f.To = d.AddDate(0, 0, 1)
		if !f.From.IsZero() && !f.From.Before(f.To) {
			return Result{}, argErr("to", "must not be before from")
		}
	}
	if cur := strings.TrimSpace(deref(a.Cursor)); cur != "" {
		parts, err := decodeCursor("cursor", cur, 2)
		if err != nil {
			return Result{}, err
		}
		ns, err1 := strconv.ParseInt(parts[0], 10, 64)
		id, err2 := strconv.ParseInt(parts[1], 10, 64)
		if err1 != nil || err2 != nil {
			return Result{}, argErr("cursor", "is not a cursor this list gave")
		}
		f.Before = &store.TripKey{Departure: time.Unix(0, ns), ID: id}
	}
	trips, total, err := r.deps.DB.Trips(ctx, f)
	if err != nil {
		return Result{}, err
	}
	res := tripList("Trips", trips, total, now, zone)
	if total > len(trips) {
		last := trips[len(trips)-1]
		res.Data.(map[string]any)["next_cursor"] = encodeCursor(strconv.FormatInt(last.ScheduledDeparture.UnixNano(), 10), strconv.FormatInt(last.ID, 10))
	}
	return res, nil
}

// tripList is a list of trips as a result.
func tripList(title string, trips []store.Trip, total int, now time.Time, zone *time.Location) Result {
	items := make([]map[string]any, 0, len(trips))
	view := View{Title: title, Columns: []string{"Trip", "Truck", "Route", "Departure", "Status"}, More: total - len(trips)}
	for _, t := range trips {
		items = append(items, tripData(t, zone))
		view.Rows = append(view.Rows, []string{t.VPCID, t.TruckNumber, t.Pickup + " → " + t.Delivery, clockTime(t.ScheduledDeparture, now, zone), t.Status})
	}
	view.Text = fmt.Sprintf("%d trips.", total)
	switch total {
	case 0:
		view.Text = "No trips match."
	case 1:
		view.Text = "1 trip."
	}
	data := map[string]any{"total": total, "trips": items}
	if view.More > 0 {
		data["more"] = moreNote(view.More)
	}
	return Result{Data: data, View: view}
}

func (r *Registry) tripTracking() *Tool {
	return Define("trip_tracking", RoleViewer, false,
		"How a trip is following its route: each milestone (at pickup, left pickup, at delivery, delivered, back at base) with its time once reached, the planned arrival and ETA, the events so far, and LocoNav's public live tracking link.",
		r.runTripTracking, nil)
}

func (r *Registry) runTripTracking(ctx context.Context, c Caller, a TripArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	t, err := r.findTrip(ctx, a)
	if err != nil {
		return Result{}, err
	}
	evs, err := r.deps.DB.TripEventsOf(ctx, t.VPCID)
	if err != nil {
		return Result{}, err
	}
	steps := []milestone{
		{"at_pickup", "At pickup", t.AtPickupAt},
		{"departed", "Loaded and left pickup", t.ActualDeparture},
		{"at_delivery", "At delivery", t.ArrivedAt},
		{"delivered", "Delivered", t.OffloadedAt},
		{"returned", "Back at base", t.ReturnedAt},
	}
	view := View{Title: "Tracking " + t.VPCID, Columns: []string{"Milestone", "Time"}}
	milestones := make([]map[string]any, 0, len(steps))
	for _, m := range steps {
		milestones = append(milestones, map[string]any{"key": m.key, "label": m.label, "reached": m.at != nil, "at": rfcPtr(m.at, zone)})
		when := "–"
		if m.at != nil {
			when = clockTime(*m.at, now, zone)
		}
		view.Rows = append(view.Rows, []string{m.label, when})
	}
	events := make([]map[string]any, 0, len(evs))
	for _, e := range evs {
		item := map[string]any{"kind": e.Kind, "at": rfc(e.At, zone)}
		for _, k := range []string{"place", "reason"} {
			if v, ok := e.Details[k]; ok {
				item[k] = v
			}
		}
		events = append(events, item)
	}
	data := map[string]any{"trip_id": t.VPCID, "truck": t.TruckNumber, "status": t.Status, "milestone": t.Milestone,
		"milestones": milestones, "events": events, "planned_arrival": rfcPtr(t.PlannedArrival, zone), "eta": nil,
		"tracking_url": nil, "loconav": loconavNote(t)}
	if t.ETA != nil && t.ArrivedAt == nil {
		data["eta"] = rfc(*t.ETA, zone)
	}
	view.Text = fmt.Sprintf("%s: %s → %s, %s.", t.TruckNumber, placeLabel(t.PickupName, t.Pickup), placeLabel(t.DeliveryName, t.Delivery), t.Status)
	if t.TrackingURL != "" {
		data["tracking_url"] = t.TrackingURL
		view.Links = []Link{{"Live tracking", t.TrackingURL}}
	} else {
		view.Footer = "LocoNav has given no live link for this trip."
	}
	return Result{Data: data, View: view}, nil
}
