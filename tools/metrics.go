package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

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
	k := store.SumKPIs(days)
	// Utilisation is the days' mean summed then divided, as this tool has
	// always shown it. SumKPIs (the report's figure) divides each day
	// first, which rounds the other way at some halves: three days at
	// 17.5% show 17% summed first and 18% divided first.
	var util float64
	for _, d := range days {
		util += d.Utilisation
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
		"trips_started": k.TripsStarted, "trips_completed": k.TripsCompleted,
		"on_time_departure_pct": pct(k.OnTimeDepartures, k.TripsStarted), "on_time_delivery_pct": pct(k.OnTimeDeliveries, k.TripsCompleted),
		"avg_turnaround_minutes": nil, "utilisation_pct": round(util*100, 1),
		"distance_km": round(k.DistanceKm, 1), "idle_hours": round(k.IdleHours, 1), "delays": k.Delays,
		"definitions": fmt.Sprintf("on time: within %d min of schedule; turnaround: pickup arrival to back at base; utilisation: share of active trucks with a trip-hour", int(r.onTime().Minutes())),
	}
	turn := "–"
	if k.TurnaroundTrips > 0 {
		avg := time.Duration(k.TurnaroundMinutes * float64(time.Minute))
		data["avg_turnaround_minutes"] = int(avg.Minutes())
		turn = duration(avg)
	}
	view := View{Title: "Fleet metrics, " + period,
		Text: fmt.Sprintf("%d trips started, %d completed; average turnaround %s; utilisation %.0f%%; %.0f km driven.",
			k.TripsStarted, k.TripsCompleted, turn, util*100, k.DistanceKm),
		Fields: []Field{{"Trips started", fmt.Sprint(k.TripsStarted)}, {"Completed", fmt.Sprint(k.TripsCompleted)}, {"Avg turnaround", turn},
			{"Utilisation", fmt.Sprintf("%.0f%%", util*100)}, {"On-time departures", show(data["on_time_departure_pct"], "%.0f%%")},
			{"On-time deliveries", show(data["on_time_delivery_pct"], "%.0f%%")}, {"Distance", fmt.Sprintf("%.0f km", k.DistanceKm)},
			{"Idle", fmt.Sprintf("%.1f h", k.IdleHours)}, {"Delays", fmt.Sprint(k.Delays)}}}
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
