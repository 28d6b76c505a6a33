package tools

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/watchtower-fleet/watchtower/store"
)

// truckStatuses are a truck's statuses, for filters.
var truckStatuses = []string{store.TruckActive, store.TruckMaintenance, store.TruckInactive, store.TruckUnknown}

// Pages of lists: a limit between 1 and maxPage, defaultPage when null.
const (
	defaultPage = 25
	maxPage     = 100
)

// cursor is an opaque position in a list: the sort key of the last item
// given, base64url so that it travels in a URL untouched.
func encodeCursor(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\x00")))
}

// decodeCursor reads a cursor of n parts; anything else names the field.
func decodeCursor(field, c string, n int) ([]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(c))
	if err != nil || !utf8.Valid(b) {
		return nil, argErr(field, "is not a cursor this list gave")
	}
	parts := strings.Split(string(b), "\x00")
	if len(parts) != n {
		return nil, argErr(field, "is not a cursor this list gave")
	}
	return parts, nil
}

func checkLimit(limit *int) error {
	if limit != nil && (*limit < 1 || *limit > maxPage) {
		return argErr("limit", "must be between 1 and %d", maxPage)
	}
	return nil
}

func pageSize(limit *int) int {
	if limit == nil {
		return defaultPage
	}
	return *limit
}

// ListTrucksArgs filters list_trucks.
type ListTrucksArgs struct {
	Status  *string `json:"status" jsonschema:"description=Only trucks with this status; null for all.,enum=active,enum=maintenance,enum=inactive,enum=unknown"`
	Place   *string `json:"place" jsonschema:"description=Only trucks inside this place now: a code or name or alias such as ESSLIBRA or tin can; null for anywhere."`
	Company *string `json:"company" jsonschema:"description=Only trucks of a transporter whose name contains this; null for every company."`
	Cursor  *string `json:"cursor" jsonschema:"description=The next_cursor of the previous page; null for the first page."`
	Limit   *int    `json:"limit" jsonschema:"description=How many trucks at most (1-100); null for 25.,minimum=1,maximum=100"`
}

// Validate checks the arguments.
func (a ListTrucksArgs) Validate() error {
	if a.Status != nil && !contains(truckStatuses, *a.Status) {
		return argErr("status", "must be one of %s", strings.Join(truckStatuses, ", "))
	}
	if err := tooLong(optional{"place", a.Place}, optional{"company", a.Company}, optional{"cursor", a.Cursor}); err != nil {
		return err
	}
	return checkLimit(a.Limit)
}

func (r *Registry) listTrucks() *Tool {
	return Define("list_trucks", RoleViewer, false,
		"The fleet's trucks by plate, filtered by status, by the place they are inside now and by transporter company, with their last position. Pages with cursor.",
		r.runListTrucks, nil)
}

func (r *Registry) runListTrucks(ctx context.Context, c Caller, a ListTrucksArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	after := ""
	if a.Cursor != nil && strings.TrimSpace(*a.Cursor) != "" {
		parts, err := decodeCursor("cursor", *a.Cursor, 1)
		if err != nil {
			return Result{}, err
		}
		after = parts[0]
	}
	var inside map[string]bool
	title := "Trucks"
	data := map[string]any{}
	if place := strings.TrimSpace(deref(a.Place)); place != "" {
		loc, err := r.deps.DB.LocationByName(ctx, place)
		if err != nil {
			return Result{}, err
		}
		at, err := r.deps.DB.TrucksAt(ctx, loc.ID)
		if err != nil {
			return Result{}, err
		}
		inside = make(map[string]bool, len(at))
		for _, t := range at {
			inside[t.Number] = true
		}
		title += " at " + loc.Name
		data["place"] = placeData(loc)
	}
	all, err := r.deps.DB.Trucks(ctx)
	if err != nil {
		return Result{}, err
	}
	company := strings.ToLower(strings.TrimSpace(deref(a.Company)))
	match := all[:0:0]
	for _, t := range all {
		switch {
		case a.Status != nil && t.Status != *a.Status,
			inside != nil && !inside[t.Number],
			company != "" && !strings.Contains(strings.ToLower(t.Company), company):
			continue
		}
		match = append(match, t)
	}
	// Trucks are ordered by plate; the cursor is the last plate given.
	start, _ := slices.BinarySearchFunc(match, after, func(t store.Truck, n string) int { return strings.Compare(t.Number, n) })
	if after != "" && start < len(match) && match[start].Number == after {
		start++
	}
	page := match[start:]
	size := pageSize(a.Limit)
	more := max(len(page)-size, 0)
	page = page[:min(size, len(page))]
	items := make([]map[string]any, 0, len(page))
	view := View{Title: title, Columns: []string{"Truck", "Company", "Status", "Last fix"}, More: more}
	for _, t := range page {
		items = append(items, truckData(t, zone))
		last := "never"
		if t.Fix != nil {
			last = ago(now, t.Fix.At)
		}
		view.Rows = append(view.Rows, []string{t.Number, orDash(t.Company), t.Status, last})
	}
	data["total"], data["trucks"] = len(match), items
	if more > 0 {
		data["next_cursor"] = encodeCursor(page[len(page)-1].Number)
		data["more"] = moreNote(more)
	}
	view.Text = fmt.Sprintf("%d trucks.", len(match))
	switch len(match) {
	case 0:
		view.Text = "No trucks match."
	case 1:
		view.Text = "1 truck."
	}
	return Result{Data: data, View: view}, nil
}

// truckData is a truck's record and last fix.
func truckData(t store.Truck, zone *time.Location) map[string]any {
	d := map[string]any{"truck": t.Number, "status": t.Status, "company": t.Company, "trailer_size": t.TrailerSize}
	if t.Fix == nil {
		d["position"] = nil
		return d
	}
	d["position"] = fixData(*t.Fix, zone)
	return d
}

// fixData is a position report.
func fixData(f store.Fix, zone *time.Location) map[string]any {
	return map[string]any{"lat": round(f.Lat, 6), "lng": round(f.Lon, 6), "fix_time": rfc(f.At, zone),
		"speed_kmh": f.SpeedKmh, "heading_deg": f.Heading, "ignition": f.Ignition}
}

func (r *Registry) truckDetails() *Tool {
	return Define("truck_details", RoleViewer, false,
		"A truck's record: its LocoNav name, transporter company, fleet manager, status, brand, trailer size, home place, assigned driver, current trip and last position.",
		r.runTruckDetails, nil)
}

func (r *Registry) runTruckDetails(ctx context.Context, c Caller, a TruckArgs) (Result, error) {
	now, zone := r.deps.Now(), r.deps.Zone
	t, err := r.deps.DB.TruckByNumber(ctx, a.Truck)
	if err != nil {
		return Result{}, err
	}
	data := truckData(t, zone)
	data["loconav_number"] = t.LocoNavNumber
	data["fleet_manager"] = t.FleetManager
	data["brand"] = t.Brand
	data["operating_location"] = t.OperatingLocation
	view := View{Title: t.Number, Fields: []Field{{"Status", t.Status}, {"Company", orDash(t.Company)},
		{"Fleet manager", orDash(t.FleetManager)}, {"Brand", orDash(t.Brand)}, {"Trailer", orDash(t.TrailerSize)}, {"Home", orDash(t.OperatingLocation)}}}
	d, err := r.deps.DB.DriverForTruck(ctx, t.ID)
	switch {
	case err == nil:
		data["driver"] = d.Name
		view.Fields = append(view.Fields, Field{"Driver", d.Name})
	case isNotFound(err):
		data["driver"] = nil
	default:
		return Result{}, err
	}
	trips, _, err := r.deps.DB.Trips(ctx, store.TripFilter{TruckNumber: t.Number, Statuses: []string{store.TripOngoing, store.TripDelayed, store.TripPlanned}, Limit: 1})
	if err != nil {
		return Result{}, err
	}
	data["trip"] = nil
	if len(trips) == 1 {
		data["trip"] = trips[0].VPCID
		view.Fields = append(view.Fields, Field{"Trip", trips[0].VPCID + " (" + trips[0].Status + ")"})
	}
	view.Text = fmt.Sprintf("%s, %s, of %s.", t.Number, t.Status, orDash(t.Company))
	if t.Fix != nil {
		view.Fields = append(view.Fields, Field{"Last fix", ago(now, t.Fix.At)})
		view.Links = []Link{{"Open map", mapURL(t.Fix.Point)}}
	}
	view.Footer = "LocoNav name " + strconv.Quote(t.LocoNavNumber)
	return Result{Data: data, View: view}, nil
}
