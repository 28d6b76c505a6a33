package tools

import (
	"context"
	"fmt"
)

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
