package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// Report is a day's operations report: the day's KPIs against the day
// before, the week for the chart, and the exceptions.
type Report struct {
	// OnTime is the grace its on-time numbers allow.
	OnTime time.Duration
	// Weekly is a week's report: Day and Previous are sums of seven days.
	Weekly bool
	// Last is the report's last day (YYYY-MM-DD), its key.
	Last     string
	Day      store.DayKPIs
	Previous store.DayKPIs
	// Week is the seven days ending with Day, oldest first.
	Week    []store.DayKPIs
	TopIdle []store.TruckIdle
	Delayed []store.Trip
	Silent  []string
}

// DefaultOnTime is the on-time grace of the KPIs when Deps.OnTime is not
// set (REPORT_ON_TIME_MINUTES).
const DefaultOnTime = 30 * time.Minute

// onTime is the KPIs' on-time grace.
func (r *Registry) onTime() time.Duration {
	if r.deps.OnTime > 0 {
		return r.deps.OnTime
	}
	return DefaultOnTime
}

// DailyReport computes the report of the local day containing day: its
// KPIs recomputed (and stored), the six days before for the chart and the
// comparison.
func (r *Registry) DailyReport(ctx context.Context, day time.Time) (Report, error) {
	zone := r.deps.Zone
	if zone == nil {
		zone = time.UTC
	}
	y, m, d := day.In(zone).Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, zone)
	rep := Report{OnTime: r.onTime()}
	// The six days before are read as stored where they are final; the day
	// itself is computed again, so a rerun updates it.
	before, err := r.deps.DB.PeriodKPIs(ctx, start.AddDate(0, 0, -6), start, zone, r.onTime(), r.Now())
	if err != nil {
		return rep, err
	}
	k, err := r.deps.DB.ComputeDay(ctx, start, zone, r.onTime(), r.Now())
	if err != nil {
		return rep, err
	}
	rep.Week = append(before, k)
	rep.Day, rep.Previous, rep.Last = rep.Week[6], rep.Week[5], rep.Week[6].Day
	return rep, r.exceptions(ctx, &rep, start, start.AddDate(0, 0, 1))
}

// WeeklyReport is the report of the seven local days ending with last,
// against the seven before.
func (r *Registry) WeeklyReport(ctx context.Context, last time.Time) (Report, error) {
	zone := r.deps.Zone
	if zone == nil {
		zone = time.UTC
	}
	y, m, d := last.In(zone).Date()
	end := time.Date(y, m, d, 0, 0, 0, 0, zone).AddDate(0, 0, 1)
	days, err := r.deps.DB.PeriodKPIs(ctx, end.AddDate(0, 0, -14), end, zone, r.onTime(), r.Now())
	if err != nil {
		return Report{}, err
	}
	rep := Report{OnTime: r.onTime(), Weekly: true, Week: days[7:], Day: store.SumKPIs(days[7:]), Previous: store.SumKPIs(days[:7]), Last: days[13].Day}
	return rep, r.exceptions(ctx, &rep, end.AddDate(0, 0, -7), end)
}

// exceptions fills the report's exceptions for [from, to).
func (r *Registry) exceptions(ctx context.Context, rep *Report, from, to time.Time) error {
	var err error
	if rep.TopIdle, err = r.deps.DB.TopIdle(ctx, from.Format(time.DateOnly), rep.Last, 5); err != nil {
		return err
	}
	if rep.Delayed, err = r.deps.DB.DelayedOn(ctx, from, to, 10); err != nil {
		return err
	}
	rep.Silent, err = r.deps.DB.SilentOn(ctx, from, to)
	return err
}

// Arrow compares a number with the day before: ▲ up, ▼ down, = the same.
func Arrow(now, before float64) string {
	switch {
	case now > before:
		return "▲"
	case now < before:
		return "▼"
	}
	return "="
}

// View is the report as a card for people (the console and /fleet
// report); Slack's posted report adds a chart (bot.ReportBlocks).
func (rep Report) View() View {
	d, p := rep.Day, rep.Previous
	day, _ := time.Parse(time.DateOnly, d.Day)
	v := View{Title: "Fleet report · " + day.Format("Mon 2 Jan 2006")}
	if rep.Weekly {
		first, _ := time.Parse(time.DateOnly, rep.Week[0].Day)
		last, _ := time.Parse(time.DateOnly, rep.Last)
		v.Title = "Weekly fleet report · " + first.Format("2 Jan") + " – " + last.Format("2 Jan 2006")
	}
	v.Text = fmt.Sprintf("%d trips started, %d completed; %.0f%% of active trucks on trips; %.0f km driven.",
		d.TripsStarted, d.TripsCompleted, 100*d.Utilisation, d.DistanceKm)
	cmp := func(now, before float64, format string) string {
		return fmt.Sprintf(format, now) + " " + Arrow(now, before) + " (" + fmt.Sprintf(format, before) + ")"
	}
	pct := func(n, of int) float64 {
		if of == 0 {
			return 0
		}
		return 100 * float64(n) / float64(of)
	}
	v.Fields = []Field{
		{"Trips started", cmp(float64(d.TripsStarted), float64(p.TripsStarted), "%.0f")},
		{"Trips completed", cmp(float64(d.TripsCompleted), float64(p.TripsCompleted), "%.0f")},
		{"On-time departures", cmp(pct(d.OnTimeDepartures, d.TripsStarted), pct(p.OnTimeDepartures, p.TripsStarted), "%.0f%%")},
		{"On-time deliveries", cmp(pct(d.OnTimeDeliveries, d.TripsCompleted), pct(p.OnTimeDeliveries, p.TripsCompleted), "%.0f%%")},
		{"Turnaround", cmp(d.TurnaroundMinutes/60, p.TurnaroundMinutes/60, "%.1f h")},
		{"Utilisation", cmp(100*d.Utilisation, 100*p.Utilisation, "%.0f%%")},
		{"Distance", cmp(d.DistanceKm, p.DistanceKm, "%.0f km")},
		{"Idle", cmp(d.IdleHours, p.IdleHours, "%.1f h")},
		{"Delays", cmp(float64(d.Delays), float64(p.Delays), "%.0f")},
	}
	v.Columns = []string{"Exception", "Truck or place", "How much"}
	for _, x := range rep.TopIdle {
		v.Rows = append(v.Rows, []string{"Idle", x.Truck, fmt.Sprintf("%.0f min", x.Minutes)})
	}
	shown := 0
	for _, x := range d.Dwell {
		if shown == 3 || x.Kind == store.LocationServiceArea {
			continue // areas hold places; their dwell is their places'
		}
		shown++
		v.Rows = append(v.Rows, []string{"Longest dwell", x.Code, fmt.Sprintf("%.1f h over %s", x.Minutes/60, plural(x.Visits, "visit"))})
	}
	for _, t := range rep.Delayed {
		v.Rows = append(v.Rows, []string{"Delayed", t.TruckNumber, t.VPCID})
	}
	for _, n := range rep.Silent {
		v.Rows = append(v.Rows, []string{"Tracker silent", n, ""})
	}
	if len(v.Rows) == 0 {
		v.Columns = nil
	}
	v.Footer = fmt.Sprintf("On time: within %d minutes of the schedule. Turnaround: pickup arrival to back at base.", int(rep.OnTime.Minutes()))
	if rep.Weekly {
		v.Footer = "Against the week before. " + v.Footer + " Utilisation: the days' average."
	}
	v.Buttons = []Button{{Label: "Details", Action: ActionReportDetails, Value: rep.detailsKey()}}
	return v
}

// detailsKey is the Details button's value: the day, or "week:" and the
// week's last day.
func (rep Report) detailsKey() string {
	if rep.Weekly {
		return "week:" + rep.Last
	}
	return rep.Last
}

// ReportFor reads a Details button's value back into its report.
func (r *Registry) ReportFor(ctx context.Context, key string) (Report, error) {
	last, weekly := strings.CutPrefix(key, "week:")
	day, err := time.ParseInLocation(time.DateOnly, last, r.Zone())
	if err != nil {
		return Report{}, &UserError{Msg: "that button does nothing any more"}
	}
	if weekly {
		return r.WeeklyReport(ctx, day)
	}
	return r.DailyReport(ctx, day)
}

// ReportMessage and SetReportMessage keep where a report was posted, so
// that a rerun updates it rather than posting again.
func (r *Registry) ReportMessage(ctx context.Context, rep Report) (string, string, error) {
	return r.deps.DB.ReportMessage(ctx, rep.Last, rep.Weekly)
}

// SetReportMessage records where a report was posted.
func (r *Registry) SetReportMessage(ctx context.Context, rep Report, channel, ts string) error {
	return r.deps.DB.SetReportMessage(ctx, rep.Last, rep.Weekly, channel, ts)
}

// Details is the report's breakdown: dwell at every place and alerts by
// kind.
func (rep Report) Details() View {
	v := View{Title: "Details · " + rep.Day.Day, Columns: []string{"Place", "Visits", "Hours"}}
	for _, p := range rep.Day.Dwell {
		v.Rows = append(v.Rows, []string{p.Code, fmt.Sprint(p.Visits), fmt.Sprintf("%.1f", p.Minutes/60)})
	}
	var kinds []Field
	for k, n := range rep.Day.AlertsByKind {
		kinds = append(kinds, Field{k, fmt.Sprint(n)})
	}
	slices.SortFunc(kinds, func(a, b Field) int { return strings.Compare(a.Label, b.Label) })
	v.Fields = kinds
	v.Text = fmt.Sprintf("Turnaround by stage: pickup to offload %.0f min, offload to back at base %.0f min (%d trips). %.0f trip-hours; %.0f%% of the active trucks' time.",
		rep.Day.PickupToOffloadMinutes, rep.Day.OffloadToReturnMinutes, rep.Day.TurnaroundTrips, rep.Day.TripHours, 100*rep.Day.TimeUtilisation)
	return v
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
