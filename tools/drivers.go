package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/watchtower-fleet/watchtower/store"
)

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
