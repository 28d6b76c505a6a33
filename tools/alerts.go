package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

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
