// Package masterdata reads the fleet's master data (organisations,
// locations, trucks, drivers and users) from the seed CSV files and from
// the Google Sheet, checks every row, and applies the good ones to the
// store. A bad row is named with its table, row and reason; it never stops
// the good rows.
package masterdata

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/watchtower-fleet/watchtower/store"
)

// maxProblems caps how many bad rows one read reports: enough to fix a sheet
// in one go, not so many that the message drowns.
const maxProblems = 50

// FleetError lists every bad row found in master data. Nothing is written
// when a read returns one.
type FleetError struct {
	Problems []string // "trucks.csv row 12: status \"broken\" is not …"
	Omitted  int      // problems beyond maxProblems
}

func (e *FleetError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad row(s) in fleet data:", len(e.Problems)+e.Omitted)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p)
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", e.Omitted)
	}
	return b.String()
}

func (e *FleetError) add(format string, args ...any) {
	if len(e.Problems) >= maxProblems {
		e.Omitted++
		return
	}
	e.Problems = append(e.Problems, fmt.Sprintf(format, args...))
}

// fleetTables names the tables of master data, in the order they must be
// applied (later ones refer to earlier ones), and the columns each requires.
type fleetTable struct {
	name     string
	required []string
}

var fleetTables = []fleetTable{
	{"organizations", []string{"name", "kind"}},
	{"locations", []string{"code", "name", "kind", "latitude", "longitude"}},
	{"trucks", []string{"number"}},
	{"drivers", []string{"name", "phone"}},
	{"users", []string{"slack_user_id", "role"}},
}

// columnAliases lets a sheet say "Truck Number" or "Plate" where we say
// number, per table: in trucks.csv "truck_number" is the truck's own number,
// in drivers.csv the truck the driver drives.
var columnAliases = map[string]map[string]string{
	"": { // every table
		"lat": "latitude", "lng": "longitude", "lon": "longitude", "long": "longitude",
		"organisation": "organization",
	},
	"locations": {"radius": "radius_m", "radius_meters": "radius_m", "client": "organization"},
	"trucks": {
		"truck_number": "number", "truck_no": "number", "plate": "number", "plate_number": "number",
		"loconav_uuid": "loconav_vehicle_uuid", "vehicle_uuid": "loconav_vehicle_uuid",
	},
	"drivers": {"smartphone": "has_smartphone", "truck": "truck_number", "truck_no": "truck_number", "driver_phone": "phone"},
	"users":   {"slack_id": "slack_user_id", "slack_user": "slack_user_id"},
}

func columnAlias(table, key string) (string, bool) {
	if a, ok := columnAliases[table][key]; ok {
		return a, true
	}
	a, ok := columnAliases[""][key]
	return a, ok
}

// Table is one table of master data as rows of text: a CSV file, or a tab of
// a Google Sheet. Rows[0] is the header.
type Table struct {
	Name   string     // organizations, locations, trucks, drivers or users
	Source string     // where it came from, for messages: "trucks.csv"
	Rows   [][]string // the header row first
	// Lines gives the 1-based line of each row in the source when it is not
	// simply its index + 1 (a CSV field may span lines).
	Lines []int
}

// ReadFleetDir reads the master-data CSV files of dir (organizations.csv,
// locations.csv, trucks.csv, drivers.csv, users.csv; any may be missing but
// not all) into one import. Every bad row is reported, with its row number,
// in a *FleetError.
func ReadFleetDir(dir string) (store.FleetImport, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return store.FleetImport{}, fmt.Errorf("masterdata: fleet data: %w", err)
	}
	var tables []Table
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".csv")
		if !ok || e.IsDir() {
			continue
		}
		if tableIndex(name) < 0 {
			return store.FleetImport{}, fmt.Errorf("masterdata: fleet data: %s: unknown file (expected organizations.csv, locations.csv, trucks.csv, drivers.csv or users.csv)", e.Name())
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return store.FleetImport{}, fmt.Errorf("masterdata: fleet data: %w", err)
		}
		t, err := ReadCSVTable(name, e.Name(), f)
		f.Close()
		if err != nil {
			return store.FleetImport{}, err
		}
		tables = append(tables, t)
	}
	if len(tables) == 0 {
		return store.FleetImport{}, fmt.Errorf("masterdata: fleet data: no CSV files in %s", dir)
	}
	return ParseFleet(tables...)
}

// ReadCSVTable reads one CSV file into a Table.
func ReadCSVTable(name, source string, r io.Reader) (Table, error) {
	// Spreadsheet exports often start with a byte-order mark, which would
	// otherwise break a quoted first header.
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // short rows are padded; we report what is missing
	t := Table{Name: name, Source: source}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Table{}, fmt.Errorf("masterdata: %s: %w", source, err)
		}
		line, _ := cr.FieldPos(0)
		t.Rows = append(t.Rows, rec)
		t.Lines = append(t.Lines, line)
	}
	return t, nil
}

// ParseFleet turns tables of text into an import, checking every row. It
// writes nothing; store.ImportFleet applies the result. Any bad row makes
// it return a *FleetError and no import: a seed is all or nothing.
func ParseFleet(tables ...Table) (store.FleetImport, error) {
	in, problems := parseFleet(tables)
	if len(problems.Problems) > 0 {
		return store.FleetImport{}, problems
	}
	return in, nil
}

// ParseFleetRows is ParseFleet for a sheet people edit: the good rows, and
// every bad one reported (nil when there are none). A row whose key an
// earlier row already gave is bad, and left out.
func ParseFleetRows(tables ...Table) (store.FleetImport, *FleetError) {
	in, problems := parseFleet(tables)
	if len(problems.Problems)+problems.Omitted == 0 {
		return in, nil
	}
	return in, problems
}

func parseFleet(tables []Table) (store.FleetImport, *FleetError) {
	var in store.FleetImport
	problems := &FleetError{}
	for _, t := range tables {
		idx := tableIndex(t.Name)
		if len(t.Rows) == 0 {
			problems.add("%s: empty (no header row)", t.Source)
			continue
		}
		cols := map[string]int{}
		for i, h := range t.Rows[0] {
			k := columnKey(h)
			if a, ok := columnAlias(t.Name, k); ok {
				if _, taken := cols[a]; !taken {
					k = a
				}
			}
			if _, dup := cols[k]; dup && k != "" {
				problems.add("%s: column %q appears twice", t.Source, h)
			}
			cols[k] = i
		}
		missing := false
		if idx < 0 {
			problems.add("%s: unknown table %q", t.Source, t.Name)
			continue
		}
		for _, req := range fleetTables[idx].required {
			if _, ok := cols[req]; !ok {
				problems.add("%s: missing column %q", t.Source, req)
				missing = true
			}
		}
		if missing {
			continue
		}
		for i, rec := range t.Rows[1:] {
			line := i + 2
			if i+1 < len(t.Lines) && t.Lines[i+1] > 0 {
				line = t.Lines[i+1]
			}
			r := record{cols: cols, rec: rec}
			if r.blank() {
				continue
			}
			ref := fmt.Sprintf("%s row %d", t.Source, line)
			var v interface{ Validate() error }
			switch t.Name {
			case "organizations":
				o := store.Organization{
					Name: r.get("name"), Kind: strings.ToLower(r.get("kind")),
					ContactName: r.get("contact_name"), ContactPhone: r.get("contact_phone"),
				}
				in.Organizations, v = append(in.Organizations, store.Row[store.Organization]{Ref: ref, Value: o}), o
			case "locations":
				l := r.location()
				in.Locations, v = append(in.Locations, store.Row[store.Location]{Ref: ref, Value: l}), l
			case "trucks":
				tr := store.Truck{
					Number: store.NormalizeTruckNumber(r.get("number")), LocoNavUUID: strings.ToLower(r.get("loconav_vehicle_uuid")),
					LocoNavNumber: r.get("loconav_number"), Company: r.get("company"), FleetManager: r.get("fleet_manager"),
					Status: strings.ToLower(r.get("status")), Brand: r.get("brand"),
					TrailerSize: trailerSize(r.get("trailer_size")), OperatingLocation: r.get("operating_location"),
				}
				in.Trucks, v = append(in.Trucks, store.Row[store.Truck]{Ref: ref, Value: tr}), tr
			case "drivers":
				d := store.Driver{
					Name: r.get("name"), Phone: r.get("phone"), HasSmartphone: r.bool("has_smartphone"),
					TruckNumber: r.get("truck_number"),
				}
				in.Drivers, v = append(in.Drivers, store.Row[store.Driver]{Ref: ref, Value: d}), d
			case "users":
				u := store.User{
					SlackUserID: strings.ToUpper(r.get("slack_user_id")), DisplayName: r.get("display_name"),
					Role: strings.ToLower(r.get("role")),
				}
				in.Users, v = append(in.Users, store.Row[store.User]{Ref: ref, Value: u}), u
			}
			// The store's own rules, once the row has parsed: a value that
			// did not parse would only add a confusing second message.
			if len(r.problems) == 0 {
				if err := v.Validate(); err != nil {
					r.fail("%s", reason(err))
				}
			}
			for _, p := range r.problems {
				problems.add("%s: %s", ref, p)
			}
			if len(r.problems) > 0 {
				dropLast(&in, t.Name)
				if k := rowKey(t.Name, &r); k != "" {
					if in.Keep == nil {
						in.Keep = map[string][]string{}
					}
					in.Keep[t.Name] = append(in.Keep[t.Name], k)
				}
			}
		}
	}
	bad := checkFleet(&in, problems)
	if len(bad) > 0 {
		keep := func(ref string) bool { return !bad[ref] }
		in.Organizations = filterRows(in.Organizations, keep)
		in.Locations = filterRows(in.Locations, keep)
		in.Trucks = filterRows(in.Trucks, keep)
		in.Drivers = filterRows(in.Drivers, keep)
		in.Users = filterRows(in.Users, keep)
	}
	return in, problems
}

// rowKey is the natural key a row names, as the store keys its table.
func rowKey(table string, r *record) string {
	switch table {
	case "organizations":
		return strings.ToLower(strings.TrimSpace(r.get("name")))
	case "locations":
		return store.LocationCode(r.get("code"))
	case "trucks":
		return store.NormalizeTruckNumber(r.get("number"))
	case "drivers":
		return store.NormalizePhone(r.get("phone"))
	case "users":
		return strings.ToUpper(strings.TrimSpace(r.get("slack_user_id")))
	}
	return ""
}

// dropLast takes back the row just added to table: it was bad.
func dropLast(in *store.FleetImport, table string) {
	switch table {
	case "organizations":
		in.Organizations = in.Organizations[:len(in.Organizations)-1]
	case "locations":
		in.Locations = in.Locations[:len(in.Locations)-1]
	case "trucks":
		in.Trucks = in.Trucks[:len(in.Trucks)-1]
	case "drivers":
		in.Drivers = in.Drivers[:len(in.Drivers)-1]
	case "users":
		in.Users = in.Users[:len(in.Users)-1]
	}
}

func filterRows[T any](rows []store.Row[T], keep func(ref string) bool) []store.Row[T] {
	out := rows[:0:0]
	for _, r := range rows {
		if keep(r.Ref) {
			out = append(out, r)
		}
	}
	return out
}

// checkFleet finds what single rows cannot show: the same key twice.
func checkFleet(in *store.FleetImport, problems *FleetError) map[string]bool {
	bad := map[string]bool{}
	dup := func(kind string, refs []string, keys []string) {
		first := map[string]string{}
		for i, k := range keys {
			if k == "" {
				continue
			}
			if prev, ok := first[k]; ok {
				problems.add("%s: %s %q already given at %s", refs[i], kind, k, prev)
				bad[refs[i]] = true
				continue
			}
			first[k] = refs[i]
		}
	}
	collect := func(n int, f func(i int) (string, string)) ([]string, []string) {
		refs, keys := make([]string, n), make([]string, n)
		for i := range n {
			refs[i], keys[i] = f(i)
		}
		return refs, keys
	}
	refs, keys := collect(len(in.Organizations), func(i int) (string, string) {
		return in.Organizations[i].Ref, strings.ToLower(in.Organizations[i].Value.Name)
	})
	dup("organization", refs, keys)
	refs, keys = collect(len(in.Locations), func(i int) (string, string) { return in.Locations[i].Ref, in.Locations[i].Value.Code })
	dup("location code", refs, keys)
	refs, keys = collect(len(in.Trucks), func(i int) (string, string) { return in.Trucks[i].Ref, in.Trucks[i].Value.Number })
	dup("truck", refs, keys)
	refs, keys = collect(len(in.Trucks), func(i int) (string, string) { return in.Trucks[i].Ref, in.Trucks[i].Value.LocoNavUUID })
	dup("LocoNav uuid", refs, keys)
	refs, keys = collect(len(in.Drivers), func(i int) (string, string) {
		return in.Drivers[i].Ref, store.NormalizePhone(in.Drivers[i].Value.Phone)
	})
	dup("phone", refs, keys)
	refs, keys = collect(len(in.Drivers), func(i int) (string, string) {
		return in.Drivers[i].Ref, store.NormalizeTruckNumber(in.Drivers[i].Value.TruckNumber)
	})
	dup("truck_number", refs, keys)
	refs, keys = collect(len(in.Users), func(i int) (string, string) { return in.Users[i].Ref, in.Users[i].Value.SlackUserID })
	dup("slack_user_id", refs, keys)
	return bad
}

func tableIndex(name string) int {
	return slices.IndexFunc(fleetTables, func(t fleetTable) bool { return t.name == name })
}

// reason is an error's message without the store's "invalid: " prefix, for a
// sentence that already says which row is wrong.
func reason(err error) string {
	return strings.ReplaceAll(err.Error(), store.ErrInvalid.Error()+": ", "")
}

// columnKey folds a header to snake case: "Truck Number " → truck_number.
func columnKey(h string) string {
	f := strings.FieldsFunc(strings.ToLower(strings.TrimPrefix(h, "\ufeff")), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	return strings.Join(f, "_")
}

type record struct {
	cols     map[string]int
	rec      []string
	problems []string
}

func (r *record) get(col string) string {
	i, ok := r.cols[col]
	if !ok || i >= len(r.rec) {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

func (r *record) blank() bool {
	for _, f := range r.rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func (r *record) fail(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *record) bool(col string) bool {
	switch v := strings.ToLower(r.get(col)); v {
	case "yes", "y", "true", "1", "x":
		return true
	case "no", "n", "false", "0", "":
		return false
	default:
		r.fail("%s %q is not yes or no", col, v)
		return false
	}
}

func (r *record) float(col string) float64 {
	v := r.get(col)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.fail("%s %q is not a number", col, v)
	}
	return f
}

func (r *record) int(col string) int64 {
	v := r.get(col)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail("%s %q is not a whole number", col, v)
	}
	return n
}

func (r *record) location() store.Location {
	l := store.Location{
		Code: store.LocationCode(r.get("code")), Name: r.get("name"), Kind: strings.ToLower(r.get("kind")),
		Organization: r.get("organization"), Address: r.get("address"),
		Center:           store.Point{Lat: r.float("latitude"), Lon: r.float("longitude")},
		RadiusM:          int(r.int("radius_m")),
		LocoNavPolygonID: r.int("loconav_polygon_id"),
	}
	if err := l.Center.Validate(); err != nil {
		r.fail("centre: %s", reason(err))
	}
	if poly := r.get("polygon"); poly != "" {
		ring, err := ParsePolygon(poly)
		if err != nil {
			r.fail("polygon: %v", err)
		}
		l.Boundary = ring
	}
	// Reported here rather than left to Location.Validate so that one row's
	// problems are all listed at once.
	switch {
	case l.RadiusM != 0 && len(l.Boundary) != 0:
		r.fail("give radius_m or polygon, not both")
	case l.RadiusM == 0 && len(l.Boundary) == 0 && r.get("polygon") == "":
		r.fail("a geofence needs radius_m (50-300) or a polygon")
	case l.RadiusM != 0 && (l.RadiusM < 50 || l.RadiusM > 300):
		r.fail("radius_m %d is outside 50-300", l.RadiusM)
	}
	for a := range strings.SplitSeq(r.get("aliases"), "|") {
		if a = strings.TrimSpace(a); a != "" {
			l.Aliases = append(l.Aliases, a)
		}
	}
	return l
}

// ParsePolygon reads a ring written as "lat lon;lat lon;…" (a comma may
// stand for the space). The ring is closed for you; at least three distinct
// points are needed.
func ParsePolygon(s string) ([]store.Point, error) {
	var ring []store.Point
	for i, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.FieldsFunc(part, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
		if len(f) != 2 {
			return nil, fmt.Errorf("point %d %q is not \"lat lon\"", i+1, part)
		}
		lat, err1 := strconv.ParseFloat(f[0], 64)
		lon, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("point %d %q is not two numbers", i+1, part)
		}
		p := store.Point{Lat: lat, Lon: lon}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("point %d: %s", i+1, reason(err))
		}
		ring = append(ring, p)
	}
	for len(ring) > 1 && ring[0] == ring[len(ring)-1] {
		ring = ring[:len(ring)-1]
	}
	distinct := map[store.Point]bool{}
	for _, p := range ring {
		distinct[p] = true
	}
	if len(distinct) < 3 {
		return nil, fmt.Errorf("needs at least 3 distinct points, has %d", len(distinct))
	}
	return ring, nil
}

func trailerSize(s string) string {
	switch strings.ReplaceAll(strings.ToLower(s), " ", "") {
	case "20", "20ft", "20'", "20feet":
		return "20ft"
	case "40", "40ft", "40'", "40feet":
		return "40ft"
	}
	return s // the store names what is wrong with it
}
