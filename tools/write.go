package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// pastSlack is how far in the past a departure may be: the minutes a
// confirmation may take.
const pastSlack = ActionTTL

// CreateTripArgs are a new trip's details.
type CreateTripArgs struct {
	Truck              string  `json:"truck" jsonschema:"description=The truck's plate as the user wrote it"`
	Pickup             string  `json:"pickup" jsonschema:"description=Where the container is picked up: a place code or name such as ESSLIBRA or Apapa"`
	Delivery           string  `json:"delivery" jsonschema:"description=Where it is delivered: a place code or name such as Dangote Ibese"`
	ScheduledDeparture string  `json:"scheduled_departure" jsonschema:"description=When the truck should leave for pickup in Lagos time as YYYY-MM-DDTHH:MM (tomorrow 6am is also understood)"`
	Client             *string `json:"client" jsonschema:"description=The client organisation's name; null if not given."`
	ContainerNo        *string `json:"container_no" jsonschema:"description=The container number such as MSCU1234567; null if not given."`
	CargoType          *string `json:"cargo_type" jsonschema:"description=What the container holds or its type such as 40ft dry or cement; null if not given."`
	Driver             *string `json:"driver" jsonschema:"description=The driver's name or phone if the user named one; null to use the truck's assigned driver."`
}

// Validate checks the arguments' shape; the preview checks them against
// the fleet.
func (a CreateTripArgs) Validate() error {
	for _, f := range []struct{ name, v string }{{"truck", a.Truck}, {"pickup", a.Pickup}, {"delivery", a.Delivery}, {"scheduled_departure", a.ScheduledDeparture}} {
		if err := needText(f.name, f.v); err != nil {
			return err
		}
	}
	if err := tooLong(optional{"client", a.Client}, optional{"container_no", a.ContainerNo}, optional{"cargo_type", a.CargoType}, optional{"driver", a.Driver}); err != nil {
		return err
	}
	return nil
}

func (r *Registry) createTrip() *Tool {
	t := Define("create_trip", RoleDispatcher, true,
		"Prepare a new trip for a person to confirm: a truck hauls a container from a pickup place to a delivery place, leaving at a scheduled time. Nothing is created until someone presses Confirm. Checks that the truck is active and free, both places are known, the time is not past, and a driver is assigned.",
		r.runCreateTrip, r.previewCreateTrip)
	t.Usage = "new-trip <truck> <pickup> <delivery> <when>"
	return t
}

// previewCreateTrip resolves every name, checks the rules as things stand,
// and returns the arguments made canonical.
func (r *Registry) previewCreateTrip(ctx context.Context, c Caller, a CreateTripArgs) (CreateTripArgs, string, error) {
	db, now, zone := r.deps.DB, r.deps.Now(), r.deps.Zone
	truck, err := db.TruckByNumber(ctx, a.Truck)
	if err != nil {
		return a, "", err
	}
	if truck.Status != store.TruckActive {
		return a, "", userErrf("%s is %s, not active: it cannot take a trip", truck.Number, truck.Status)
	}
	pickup, err := db.LocationByName(ctx, a.Pickup)
	if err != nil {
		return a, "", err
	}
	delivery, err := db.LocationByName(ctx, a.Delivery)
	if err != nil {
		return a, "", err
	}
	if pickup.ID == delivery.ID {
		return a, "", argErr("delivery", "is the same place as the pickup (%s)", pickup.Name)
	}
	dep, err := ParseWhen(a.ScheduledDeparture, now, zone)
	if err != nil {
		return a, "", argErr("scheduled_departure", "%s", err.Error())
	}
	if dep.Before(now.Add(-5 * time.Minute)) {
		return a, "", argErr("scheduled_departure", "%s is in the past (it is now %s)", dep.In(zone).Format("Mon 2 Jan 15:04"), now.In(zone).Format("Mon 2 Jan 15:04"))
	}
	if dep.After(now.AddDate(0, 3, 0)) {
		return a, "", argErr("scheduled_departure", "is more than 3 months ahead")
	}
	var driver store.Driver
	if name := strings.TrimSpace(deref(a.Driver)); name != "" {
		driver, err = db.DriverByName(ctx, name)
	} else {
		driver, err = db.DriverForTruck(ctx, truck.ID)
		if isNotFound(err) {
			err = userErrf("no driver is assigned to %s; name one", truck.Number)
		}
	}
	if err != nil {
		return a, "", err
	}
	if err := r.checkOverlap(ctx, truck.Number, dep); err != nil {
		return a, "", err
	}
	a.Truck, a.Pickup, a.Delivery = truck.Number, pickup.Code, delivery.Code
	a.ScheduledDeparture = dep.In(zone).Format(time.RFC3339)
	a.Driver = &driver.Phone
	summary := fmt.Sprintf("Create a trip for %s (driver %s) from %s to %s, leaving %s",
		truck.Number, driver.Name, pickup.Name, delivery.Name, dep.In(zone).Format("Mon 2 Jan 15:04"))
	if a.Client != nil && *a.Client != "" {
		summary += ", for " + *a.Client
	}
	if a.ContainerNo != nil && *a.ContainerNo != "" {
		summary += ", container " + *a.ContainerNo
	}
	return a, summary, nil
}

// checkOverlap refuses a trip that would overlap one of the truck's open
// trips. CreateTrip checks again under a lock; this is for the preview.
func (r *Registry) checkOverlap(ctx context.Context, truck string, dep time.Time) error {
	open, _, err := r.deps.DB.Trips(ctx, store.TripFilter{TruckNumber: truck, Statuses: []string{store.TripPlanned, store.TripOngoing, store.TripDelayed}, Limit: 50})
	if err != nil {
		return err
	}
	for _, t := range open {
		gap := t.ScheduledDeparture.Sub(dep)
		if t.Status != store.TripPlanned || (gap < store.TripOverlapWindow && gap > -store.TripOverlapWindow) {
			return userErrf("%s already has trip %s (%s, %s → %s, leaving %s)", truck, t.VPCID, t.Status, t.Pickup, t.Delivery,
				t.ScheduledDeparture.In(r.deps.Zone).Format("Mon 2 Jan 15:04"))
		}
	}
	return nil
}

func (r *Registry) runCreateTrip(ctx context.Context, c Caller, a CreateTripArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	dep, err := ParseWhen(a.ScheduledDeparture, now, zone)
	if err != nil {
		return Result{}, argErr("scheduled_departure", "%s", err.Error())
	}
	if dep.Before(now.Add(-pastSlack)) {
		return Result{}, argErr("scheduled_departure", "is now in the past; prepare the trip again")
	}
	t := store.Trip{
		TruckNumber: a.Truck, Pickup: a.Pickup, Delivery: a.Delivery, ScheduledDeparture: dep,
		Client: deref(a.Client), ContainerNo: deref(a.ContainerNo), CargoType: deref(a.CargoType),
		DriverName: deref(a.Driver), CreatedBy: c.ID, CorrelationID: c.CorrelationID, RequireDriver: true,
	}
	if r.deps.LocoNav != nil {
		t.LocoNavState = store.LocoNavPending
	}
	trip, err := r.deps.DB.CreateTrip(ctx, t)
	if err != nil {
		return Result{}, err
	}
	if r.deps.LocoNav != nil {
		trip = r.pushTrip(ctx, trip)
	}
	view := tripView(trip, now, zone)
	view.Title = "Trip created: " + trip.VPCID
	data := tripData(trip, zone)
	data["created"] = true
	return Result{Data: data, View: view}, nil
}

// manualStatuses are the statuses a person may set by hand.
var manualStatuses = []string{store.TripOngoing, store.TripDelayed, store.TripCompleted, store.TripUnsuccessful}

// UpdateTripStatusArgs move a trip by hand.
type UpdateTripStatusArgs struct {
	Trip   string  `json:"trip" jsonschema:"description=The trip id such as 04/Dec/2026-T11985LA-DA01"`
	Status string  `json:"status" jsonschema:"description=The new status,enum=ongoing,enum=delayed,enum=completed,enum=unsuccessful"`
	Reason *string `json:"reason" jsonschema:"description=Why in a few words; null if the user gave none."`
}

// Validate checks the arguments.
func (a UpdateTripStatusArgs) Validate() error {
	if err := needText("trip", a.Trip); err != nil {
		return err
	}
	if !contains(manualStatuses, a.Status) {
		if a.Status == store.TripCancelled {
			return argErr("status", "use cancel_trip to cancel a trip")
		}
		return argErr("status", "must be one of %s", strings.Join(manualStatuses, ", "))
	}
	if a.Reason != nil && len(*a.Reason) > 500 {
		return argErr("reason", "is too long")
	}
	return nil
}

func (r *Registry) updateTripStatus() *Tool {
	t := Define("update_trip_status", RoleDispatcher, true,
		"Prepare a manual change of a trip's status (ongoing, delayed, completed, unsuccessful) for a person to confirm. Only legal moves are accepted; a final trip cannot change.",
		r.runUpdateTripStatus, r.previewUpdateTripStatus)
	t.Usage = "set-trip <id> <status>"
	return t
}

// checkTransition explains an illegal move before anyone is asked to
// confirm it; the store checks again under a lock.
func checkTransition(t store.Trip, to string) error {
	next := store.NextTripStatuses(t.Status)
	if contains(next, to) {
		return nil
	}
	if len(next) == 0 {
		return userErrf("trip %s is %s, which is final: it cannot become %s", t.VPCID, t.Status, to)
	}
	if t.Status == to {
		return userErrf("trip %s is already %s", t.VPCID, to)
	}
	return userErrf("trip %s is %s; it can become %s, not %s", t.VPCID, t.Status, orList(next), to)
}

func (r *Registry) previewUpdateTripStatus(ctx context.Context, c Caller, a UpdateTripStatusArgs) (UpdateTripStatusArgs, string, error) {
	t, err := r.deps.DB.TripByRef(ctx, a.Trip)
	if err != nil {
		return a, "", err
	}
	if err := checkTransition(t, a.Status); err != nil {
		return a, "", err
	}
	a.Trip = t.VPCID
	summary := fmt.Sprintf("Mark trip %s (%s, %s → %s) %s, from %s", t.VPCID, t.TruckNumber, t.Pickup, t.Delivery, a.Status, t.Status)
	if a.Reason != nil && *a.Reason != "" {
		summary += ": " + *a.Reason
	}
	return a, summary, nil
}

func (r *Registry) runUpdateTripStatus(ctx context.Context, c Caller, a UpdateTripStatusArgs) (Result, error) {
	t, err := r.deps.DB.TripByRef(ctx, a.Trip)
	if err != nil {
		return Result{}, err
	}
	t, err = r.deps.DB.UpdateTripStatus(ctx, store.TripStatusChange{TripID: t.ID, To: a.Status, Actor: c.ID,
		Reason: deref(a.Reason), CorrelationID: c.CorrelationID, At: r.deps.Now()})
	if err != nil {
		return Result{}, err
	}
	view := tripView(t, r.deps.Now(), r.deps.Zone)
	view.Title = fmt.Sprintf("Trip %s is now %s", t.VPCID, t.Status)
	return Result{Data: tripData(t, r.deps.Zone), View: view}, nil
}

// CancelTripArgs cancel a trip.
type CancelTripArgs struct {
	Trip   string `json:"trip" jsonschema:"description=The trip id such as 04/Dec/2026-T11985LA-DA01"`
	Reason string `json:"reason" jsonschema:"description=Why the trip is cancelled in a few words"`
}

// Validate checks the arguments.
func (a CancelTripArgs) Validate() error {
	if err := needText("trip", a.Trip); err != nil {
		return err
	}
	return needText("reason", a.Reason)
}

func (r *Registry) cancelTrip() *Tool {
	t := Define("cancel_trip", RoleDispatcher, true,
		"Prepare the cancellation of one trip for a person to confirm. A completed, unsuccessful or already cancelled trip cannot be cancelled.",
		r.runCancelTrip, r.previewCancelTrip)
	t.Usage = "cancel-trip <id> <reason>"
	return t
}

func (r *Registry) previewCancelTrip(ctx context.Context, c Caller, a CancelTripArgs) (CancelTripArgs, string, error) {
	t, err := r.deps.DB.TripByRef(ctx, a.Trip)
	if err != nil {
		return a, "", err
	}
	if err := checkTransition(t, store.TripCancelled); err != nil {
		return a, "", err
	}
	a.Trip = t.VPCID
	return a, fmt.Sprintf("Cancel trip %s (%s, %s → %s, %s): %s", t.VPCID, t.TruckNumber, t.Pickup, t.Delivery, t.Status, a.Reason), nil
}

func (r *Registry) runCancelTrip(ctx context.Context, c Caller, a CancelTripArgs) (Result, error) {
	t, err := r.deps.DB.TripByRef(ctx, a.Trip)
	if err != nil {
		return Result{}, err
	}
	t, err = r.deps.DB.CancelTrip(ctx, t.ID, c.ID, a.Reason, c.CorrelationID)
	if err != nil {
		return Result{}, err
	}
	if r.deps.LocoNav != nil && t.LocoNavTripID != 0 {
		r.removeFromLocoNav(ctx, t)
	}
	view := tripView(t, r.deps.Now(), r.deps.Zone)
	view.Title = "Trip " + t.VPCID + " cancelled"
	view.Buttons = nil
	return Result{Data: tripData(t, r.deps.Zone), View: view}, nil
}
