package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// NoArgs is for tools that take no arguments.
type NoArgs struct{}

func (r *Registry) listDelays() *Tool {
	t := Define("list_delays", RoleViewer, false,
		"Trips that are delayed now: marked delayed, or not yet departed 2 hours after their scheduled departure.",
		r.runListDelays, nil)
	t.Usage = "delays"
	return t
}

func (r *Registry) runListDelays(ctx context.Context, c Caller, _ NoArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	trips, err := r.deps.DB.DelayedTrips(ctx, now, r.deps.DelayGrace)
	if err != nil {
		return Result{}, err
	}
	shown, more := capped(trips, defaultCap)
	res := tripList("Delayed trips", shown, len(trips), now, zone)
	res.View.Columns = append(res.View.Columns, "Late by")
	items := res.Data.(map[string]any)["trips"].([]map[string]any)
	for i, t := range shown {
		late := now.Sub(t.ScheduledDeparture)
		items[i]["minutes_late"] = int(late.Minutes())
		res.View.Rows[i] = append(res.View.Rows[i], duration(late))
	}
	res.View.More = more
	if len(trips) == 0 {
		res.View.Text = "No trips are delayed."
	} else {
		res.View.Text = fmt.Sprintf("%d delayed trips.", len(trips))
	}
	return res, nil
}

// AlertsArgs filters alerts.
type AlertsArgs struct {
	Truck    *string `json:"truck" jsonschema:"description=Only this truck's alerts; null for the whole fleet."`
	Kind     *string `json:"kind" jsonschema:"description=Only this kind such as overspeed or idle or device_offline or geofence_enter or harsh braking; null for all kinds."`
	Hours    *int    `json:"hours" jsonschema:"description=How many hours back to look (1-744); null for 24.,minimum=1,maximum=744"`
	OpenOnly *bool   `json:"open_only" jsonschema:"description=True for alerts still going on only (an overspeed not yet ended); null or false for all."`
}

// Validate checks the arguments.
func (a AlertsArgs) Validate() error {
	if a.Hours != nil && (*a.Hours < 1 || *a.Hours > 744) {
		return argErr("hours", "must be between 1 and 744 (31 days)")
	}
	return nil
}

func (r *Registry) alerts() *Tool {
	t := Define("alerts", RoleViewer, false,
		"Alerts (overspeed, idling, silent trackers, geofence, harsh driving and LocoNav's own) newest first, by truck, kind and period.",
		r.runAlerts, nil)
	t.Usage = "alerts [truck]"
	return t
}

func (r *Registry) runAlerts(ctx context.Context, c Caller, a AlertsArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	hours := 24
	if a.Hours != nil {
		hours = *a.Hours
	}
	f := store.AlertFilter{From: now.Add(-time.Duration(hours) * time.Hour), To: now.Add(time.Minute), OpenOnly: deref(a.OpenOnly), Limit: defaultCap}
	title := "Alerts"
	if truck := strings.TrimSpace(deref(a.Truck)); truck != "" {
		t, err := r.deps.DB.TruckByNumber(ctx, truck)
		if err != nil {
			return Result{}, err
		}
		f.TruckID = t.ID
		title += " · " + t.Number
	}
	if k := strings.TrimSpace(deref(a.Kind)); k != "" {
		f.Kinds = []string{k}
		title += " · " + k
	}
	list, total, err := r.deps.DB.Alerts(ctx, f)
	if err != nil {
		return Result{}, err
	}
	items := make([]map[string]any, 0, len(list))
	view := View{Title: fmt.Sprintf("%s, last %dh", title, hours), Columns: []string{"When", "Truck", "Alert", "Where"}, More: total - len(list)}
	for _, al := range list {
		item := map[string]any{"truck": al.TruckNumber, "kind": al.Kind, "severity": al.Severity, "started": rfc(al.StartedAt, zone)}
		if al.EndedAt != nil {
			item["ended"] = rfc(*al.EndedAt, zone)
		} else {
			item["ongoing"] = true
		}
		if al.LocationCode != "" {
			item["place"] = al.LocationCode
		}
		items = append(items, item)
		view.Rows = append(view.Rows, []string{clockTime(al.StartedAt, now, zone), al.TruckNumber, al.Kind, al.LocationCode})
	}
	view.Text = fmt.Sprintf("%d alerts in the last %d hours.", total, hours)
	if total == 0 {
		view.Text = fmt.Sprintf("No alerts in the last %d hours.", hours)
	}
	data := map[string]any{"total": total, "alerts": items}
	if view.More > 0 {
		data["more"] = moreNote(view.More)
	}
	return Result{Data: data, View: view}, nil
}

// DriverForArgs is a truck or a driver.
type DriverForArgs struct {
	Truck  *string `json:"truck" jsonschema:"description=A truck plate to find its driver; null when asking about a driver."`
	Driver *string `json:"driver" jsonschema:"description=A driver's name or phone to find their truck; null when asking about a truck."`
}

// Validate checks the arguments.
func (a DriverForArgs) Validate() error {
	t, d := strings.TrimSpace(deref(a.Truck)), strings.TrimSpace(deref(a.Driver))
	if (t == "") == (d == "") {
		return argErr("truck", "give either a truck or a driver")
	}
	return nil
}

func (r *Registry) driverFor() *Tool {
	t := Define("driver_for", RoleViewer, false,
		"The driver assigned to a truck with their phone, or the truck a named driver drives.",
		r.runDriverFor, nil)
	t.Usage = "driver <truck|name>"
	return t
}

func (r *Registry) runDriverFor(ctx context.Context, c Caller, a DriverForArgs) (Result, error) {
	var d store.Driver
	if truck := strings.TrimSpace(deref(a.Truck)); truck != "" {
		t, err := r.deps.DB.TruckByNumber(ctx, truck)
		if err != nil {
			return Result{}, err
		}
		d, err = r.deps.DB.DriverForTruck(ctx, t.ID)
		if err != nil {
			if isNotFound(err) {
				return Result{Data: map[string]any{"truck": t.Number, "driver": nil},
					View: View{Title: t.Number, Text: "No driver is assigned to " + t.Number + "."}}, nil
			}
			return Result{}, err
		}
	} else {
		var err error
		if d, err = r.deps.DB.DriverByName(ctx, *a.Driver); err != nil {
			return Result{}, err
		}
	}
	data := map[string]any{"driver": d.Name, "phone": d.Phone, "truck": d.TruckNumber, "has_smartphone": d.HasSmartphone}
	view := View{Title: d.Name, Fields: []Field{{"Phone", d.Phone}, {"Truck", orDash(d.TruckNumber)}}}
	if d.TruckNumber != "" {
		view.Text = fmt.Sprintf("%s drives %s (%s).", d.Name, d.TruckNumber, d.Phone)
	} else {
		view.Text = fmt.Sprintf("%s (%s) has no truck assigned.", d.Name, d.Phone)
	}
	view.Links = []Link{{"Call", "tel:" + d.Phone}}
	return Result{Data: data, View: view}, nil
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// PeriodArgs is a range of Lagos days.
type PeriodArgs struct {
	From *string `json:"from" jsonschema:"description=First day as YYYY-MM-DD or today or yesterday; null for yesterday."`
	To   *string `json:"to" jsonschema:"description=Last day included as YYYY-MM-DD; null for the same day as from."`
	// Breakdown adds each day's or each truck's numbers to the totals.
	Breakdown *string `json:"breakdown" jsonschema:"description=Also list each day's numbers (day) or each truck's (truck); null for the totals only.,enum=day,enum=truck"`
}

// Validate checks the arguments.
func (a PeriodArgs) Validate() error {
	if a.Breakdown != nil && *a.Breakdown != "day" && *a.Breakdown != "truck" {
		return argErr("breakdown", "must be day or truck")
	}
	return nil
}

// period reads from/to as whole Lagos days [from, to), yesterday by
// default, at most maxDays.
func (r *Registry) period(fromS, toS *string, maxDays int) (time.Time, time.Time, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	f := "yesterday"
	if fromS != nil && strings.TrimSpace(*fromS) != "" {
		f = *fromS
	}
	from, err := ParseDay(f, now, zone)
	if err != nil {
		return time.Time{}, time.Time{}, argErr("from", "%s", err.Error())
	}
	to := from.AddDate(0, 0, 1)
	if toS != nil && strings.TrimSpace(*toS) != "" {
		last, err := ParseDay(*toS, now, zone)
		if err != nil {
			return time.Time{}, time.Time{}, argErr("to", "%s", err.Error())
		}
		to = last.AddDate(0, 0, 1)
	}
	if !from.Before(to) {
		return time.Time{}, time.Time{}, argErr("to", "must not be before from")
	}
	if to.Sub(from) > time.Duration(maxDays)*24*time.Hour+time.Hour {
		return time.Time{}, time.Time{}, argErr("to", "the period can be at most %d days", maxDays)
	}
	return from, to, nil
}

func (r *Registry) fleetMetrics() *Tool {
	t := Define("fleet_metrics", RoleViewer, false,
		"The fleet's numbers over whole Lagos days, as the daily report defines them: trips started and completed, on-time departures and deliveries, average turnaround, utilisation, distance, idle hours and delays.",
		r.runFleetMetrics, nil)
	t.Usage = "metrics [day]"
	return t
}

func (r *Registry) runFleetMetrics(ctx context.Context, c Caller, a PeriodArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	from, to, err := r.period(a.From, a.To, 93)
	if err != nil {
		return Result{}, err
	}
	days, err := r.deps.DB.PeriodKPIs(ctx, from, to, zone, r.onTime(), now)
	if err != nil {
		return Result{}, err
	}
	// The days' KPIs (store.ComputeDay's definitions), over the period.
	var started, completed, onDep, onDel, tatTrips, delays int
	var tatMinutes, km, idle, util float64
	for _, d := range days {
		started += d.TripsStarted
		completed += d.TripsCompleted
		onDep += d.OnTimeDepartures
		onDel += d.OnTimeDeliveries
		tatTrips += d.TurnaroundTrips
		tatMinutes += d.TurnaroundMinutes * float64(d.TurnaroundTrips)
		km += d.DistanceKm
		idle += d.IdleHours
		util += d.Utilisation
		delays += d.Delays
	}
	util /= float64(len(days))
	period := from.Format("Mon 2 Jan 2006")
	if to.Sub(from) > 24*time.Hour+time.Hour {
		period += " – " + to.AddDate(0, 0, -1).Format("Mon 2 Jan 2006")
	}
	pct := func(n, of int) any {
		if of == 0 {
			return nil
		}
		return round(100*float64(n)/float64(of), 1)
	}
	show := func(v any, format string) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf(format, v)
	}
	data := map[string]any{
		"from": from.Format("2006-01-02"), "to_exclusive": to.Format("2006-01-02"),
		"trips_started": started, "trips_completed": completed,
		"on_time_departure_pct": pct(onDep, started), "on_time_delivery_pct": pct(onDel, completed),
		"avg_turnaround_minutes": nil, "utilisation_pct": round(util*100, 1),
		"distance_km": round(km, 1), "idle_hours": round(idle, 1), "delays": delays,
		"definitions": fmt.Sprintf("on time: within %d min of schedule; turnaround: pickup arrival to back at base; utilisation: share of active trucks with a trip-hour", int(r.onTime().Minutes())),
	}
	turn := "–"
	if tatTrips > 0 {
		avg := time.Duration(tatMinutes / float64(tatTrips) * float64(time.Minute))
		data["avg_turnaround_minutes"] = int(avg.Minutes())
		turn = duration(avg)
	}
	view := View{Title: "Fleet metrics, " + period,
		Text: fmt.Sprintf("%d trips started, %d completed; average turnaround %s; utilisation %.0f%%; %.0f km driven.",
			started, completed, turn, util*100, km),
		Fields: []Field{{"Trips started", fmt.Sprint(started)}, {"Completed", fmt.Sprint(completed)}, {"Avg turnaround", turn},
			{"Utilisation", fmt.Sprintf("%.0f%%", util*100)}, {"On-time departures", show(data["on_time_departure_pct"], "%.0f%%")},
			{"On-time deliveries", show(data["on_time_delivery_pct"], "%.0f%%")}, {"Distance", fmt.Sprintf("%.0f km", km)},
			{"Idle", fmt.Sprintf("%.1f h", idle)}, {"Delays", fmt.Sprint(delays)}}}
	switch deref(a.Breakdown) {
	case "day":
		list := make([]map[string]any, 0, len(days))
		view.Columns = []string{"Day", "Started", "Completed", "Turnaround", "Utilisation", "km"}
		for _, d := range days {
			item := map[string]any{"day": d.Day, "trips_started": d.TripsStarted, "trips_completed": d.TripsCompleted,
				"on_time_departure_pct": pct(d.OnTimeDepartures, d.TripsStarted), "on_time_delivery_pct": pct(d.OnTimeDeliveries, d.TripsCompleted),
				"turnaround_trips": d.TurnaroundTrips, "avg_turnaround_minutes": nil,
				"pickup_to_offload_minutes": nil, "offload_to_return_minutes": nil,
				"active_trucks": d.ActiveTrucks, "trucks_on_trips": d.TrucksOnTrips, "trip_hours": round(d.TripHours, 1),
				"utilisation_pct": round(d.Utilisation*100, 1), "time_utilisation_pct": round(d.TimeUtilisation*100, 1),
				"distance_km": round(d.DistanceKm, 1), "idle_hours": round(d.IdleHours, 1), "delays": d.Delays}
			t := "–"
			if d.TurnaroundTrips > 0 {
				item["avg_turnaround_minutes"] = round(d.TurnaroundMinutes, 0)
				item["pickup_to_offload_minutes"] = round(d.PickupToOffloadMinutes, 0)
				item["offload_to_return_minutes"] = round(d.OffloadToReturnMinutes, 0)
				t = duration(time.Duration(d.TurnaroundMinutes * float64(time.Minute)))
			}
			list = append(list, item)
			view.Rows = append(view.Rows, []string{d.Day, fmt.Sprint(d.TripsStarted), fmt.Sprint(d.TripsCompleted), t,
				fmt.Sprintf("%.0f%%", d.Utilisation*100), fmt.Sprintf("%.0f", d.DistanceKm)})
		}
		data["days"] = list
	case "truck":
		trucks, err := r.deps.DB.TruckPeriods(ctx, from.Format(time.DateOnly), to.AddDate(0, 0, -1).Format(time.DateOnly))
		if err != nil {
			return Result{}, err
		}
		list := make([]map[string]any, 0, len(trucks))
		view.Columns = []string{"Truck", "Days moving", "km", "Moving", "Idle", "Trips"}
		hours := to.Sub(from).Hours()
		for _, t := range trucks {
			item := map[string]any{"truck": t.Truck, "days_moving": t.Days, "distance_km": round(t.DistanceKm, 1),
				"moving_hours": round(t.MovingMinutes/60, 1), "idle_hours": round(t.IdleMinutes/60, 1),
				"moving_pct": round(100*t.MovingMinutes/60/hours, 1), "trips_completed": t.TripsCompleted, "avg_turnaround_minutes": nil}
			if t.TurnaroundMinutes != nil {
				item["avg_turnaround_minutes"] = round(*t.TurnaroundMinutes, 0)
			}
			list = append(list, item)
			view.Rows = append(view.Rows, []string{t.Truck, fmt.Sprint(t.Days), fmt.Sprintf("%.0f", t.DistanceKm),
				duration(time.Duration(t.MovingMinutes * float64(time.Minute))), duration(time.Duration(t.IdleMinutes * float64(time.Minute))), fmt.Sprint(t.TripsCompleted)})
		}
		data["trucks"] = list
	}
	return Result{Data: data, View: view}, nil
}

// TurnaroundArgs is a range of days and maybe a truck.
type TurnaroundArgs struct {
	From  *string `json:"from" jsonschema:"description=First day (trips back at base from then) as YYYY-MM-DD or today or yesterday; null for yesterday."`
	To    *string `json:"to" jsonschema:"description=Last day included as YYYY-MM-DD; null for the same day as from."`
	Truck *string `json:"truck" jsonschema:"description=Only this truck's trips; null for every truck."`
	Limit *int    `json:"limit" jsonschema:"description=How many trips to list at most (1-100); null for 25. The summary covers them all.,minimum=1,maximum=100"`
}

// Validate checks the arguments.
func (a TurnaroundArgs) Validate() error {
	if err := tooLong(optional{"truck", a.Truck}); err != nil {
		return err
	}
	return checkLimit(a.Limit)
}

func (r *Registry) turnaroundTimes() *Tool {
	return Define("turnaround_times", RoleViewer, false,
		"Each trip's turnaround over a range of days, as the KPIs define it: arrival at pickup to offload at delivery, and offload to back at base, with the average and median.",
		r.runTurnaroundTimes, nil)
}

func (r *Registry) runTurnaroundTimes(ctx context.Context, c Caller, a TurnaroundArgs) (Result, error) {
	zone := r.deps.Zone
	from, to, err := r.period(a.From, a.To, 93)
	if err != nil {
		return Result{}, err
	}
	truck := ""
	if t := strings.TrimSpace(deref(a.Truck)); t != "" {
		tr, err := r.deps.DB.TruckByNumber(ctx, t)
		if err != nil {
			return Result{}, err
		}
		truck = tr.Number
	}
	all, total, err := r.deps.DB.Turnarounds(ctx, from, to, truck, 10000)
	if err != nil {
		return Result{}, err
	}
	mins := make([]float64, len(all))
	for i, x := range all {
		mins[i] = x.Returned.Sub(x.AtPickup).Minutes()
	}
	shown, more := capped(all, pageSize(a.Limit))
	items := make([]map[string]any, 0, len(shown))
	view := View{Title: "Turnaround, " + from.Format("Mon 2 Jan") + " – " + to.AddDate(0, 0, -1).Format("Mon 2 Jan 2006"),
		Columns: []string{"Trip", "Truck", "Pickup → offload", "Offload → base", "Total"}, More: more}
	for _, x := range shown {
		p2o, o2r := x.Offloaded.Sub(x.AtPickup), x.Returned.Sub(x.Offloaded)
		items = append(items, map[string]any{"trip_id": x.TripVPCID, "truck": x.Truck, "pickup": x.Pickup, "delivery": x.Delivery,
			"at_pickup": rfc(x.AtPickup, zone), "offloaded": rfc(x.Offloaded, zone), "returned": rfc(x.Returned, zone),
			"pickup_to_offload_minutes": round(p2o.Minutes(), 0), "offload_to_return_minutes": round(o2r.Minutes(), 0),
			"turnaround_minutes": round((p2o + o2r).Minutes(), 0)})
		view.Rows = append(view.Rows, []string{x.TripVPCID, x.Truck, duration(p2o), duration(o2r), duration(p2o + o2r)})
	}
	data := map[string]any{"from": from.Format(time.DateOnly), "to_exclusive": to.Format(time.DateOnly), "trips": total,
		"avg_turnaround_minutes": nil, "median_turnaround_minutes": nil, "turnarounds": items}
	view.Text = "No trip came back to base in that period."
	if len(mins) > 0 {
		avg, med := mean(mins), median(mins)
		data["avg_turnaround_minutes"], data["median_turnaround_minutes"] = round(avg, 0), round(med, 0)
		view.Text = fmt.Sprintf("%d trips back at base; turnaround average %s, median %s.", total,
			duration(time.Duration(avg*float64(time.Minute))), duration(time.Duration(med*float64(time.Minute))))
	}
	if more > 0 {
		data["more"] = moreNote(more)
	}
	return Result{Data: data, View: view}, nil
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
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
