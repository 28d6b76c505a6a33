package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// Truck statuses.
const (
	TruckActive      = "active"
	TruckMaintenance = "maintenance"
	TruckInactive    = "inactive"
	// TruckUnknown marks a truck first seen in LocoNav data, not in the fleet's
	// own records: it is kept, and admins are told.
	TruckUnknown = "unknown"
)

// Truck is one vehicle of the fleet, with its last known position.
type Truck struct {
	ID                int64
	Number            string // normalised, e.g. T11985LA
	LocoNavUUID       string
	LocoNavNumber     string // as LocoNav spells it
	Company           string // transporter organization name
	FleetManager      string
	Status            string
	Brand             string
	TrailerSize       string // "20ft" or "40ft"
	OperatingLocation string // location code
	Fix               *Fix   // nil when the truck has never reported
}

// Fix is a position report.
type Fix struct {
	Point
	At       time.Time
	SpeedKmh *float64
	Heading  *float64
	Ignition *bool
}

// NormalizeTruckNumber returns the canonical spelling of a plate: upper case,
// letters and digits only, so "t-11985-la" and "T 11985 LA" are T11985LA.
func NormalizeTruckNumber(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(unicode.ToUpper(r))
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// endsWithDigit reports whether s (a normalised number) ends with a digit:
// a plate without its state letters.
func endsWithDigit(s string) bool {
	return s != "" && s[len(s)-1] >= '0' && s[len(s)-1] <= '9'
}

func onlyDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

const truckColumns = `t.id, t.number, coalesce(t.loconav_uuid::text, ''), t.loconav_number,
	coalesce(o.name, ''), t.fleet_manager, t.status, t.brand, t.trailer_size, coalesce(l.code, ''),
	ST_Y(t.position::geometry), ST_X(t.position::geometry), t.position_at, t.speed_kmh, t.heading, t.ignition`

const truckFrom = `trucks t
	LEFT JOIN organizations o ON o.id = t.organization_id
	LEFT JOIN locations l ON l.id = t.operating_location_id`

// scanTruck reads the columns of truckColumns, plus any extra destinations.
func scanTruck(row pgx.Row, extra ...any) (Truck, error) {
	var t Truck
	var lat, lon *float64
	var at *time.Time
	var speed, heading *float32
	var ign *bool
	dest := append([]any{&t.ID, &t.Number, &t.LocoNavUUID, &t.LocoNavNumber, &t.Company, &t.FleetManager,
		&t.Status, &t.Brand, &t.TrailerSize, &t.OperatingLocation, &lat, &lon, &at, &speed, &heading, &ign}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Truck{}, err
	}
	if lat != nil && lon != nil && at != nil {
		t.Fix = &Fix{Point: Point{Lat: *lat, Lon: *lon}, At: *at, SpeedKmh: widen(speed), Heading: widen(heading), Ignition: ign}
	}
	return t, nil
}

func widen(f *float32) *float64 {
	if f == nil {
		return nil
	}
	v := float64(*f)
	return &v
}

// TruckByNumber finds a truck however its number is written: "t-11985-la",
// "T 11985 LA", or just "11985" when only one truck has those digits. Several
// trucks sharing the digits give an *AmbiguousError.
func (db *DB) TruckByNumber(ctx context.Context, number string) (Truck, error) {
	n := NormalizeTruckNumber(number)
	if n == "" {
		return Truck{}, fmt.Errorf("store: truck %q: %w", number, invalidf("no letters or digits"))
	}
	t, err := scanTruck(db.conn.QueryRow(ctx, `SELECT `+truckColumns+` FROM `+truckFrom+` WHERE t.number = $1`, n))
	if err == nil {
		return t, nil
	}
	if err = notFound(err); err != ErrNotFound {
		return Truck{}, fmt.Errorf("store: truck %q: %w", number, err)
	}
	// People drop the letters: "11985" is the truck whose digits these
	// are, and "T11985" the truck this is without its state letters, when
	// one truck matches.
	var where string
	switch {
	case onlyDigits(n):
		where = `regexp_replace(t.number, '[^0-9]', '', 'g') = $1`
	case endsWithDigit(n):
		where = `t.number ~ ('^' || $1 || '[A-Z]+$')` // n is letters and digits only
	default:
		return Truck{}, fmt.Errorf("store: truck: %w", &NotFoundError{What: "truck", Query: number, Suggestions: db.truckSuggestions(ctx, n)})
	}
	rows, err := db.conn.Query(ctx, `SELECT `+truckColumns+` FROM `+truckFrom+`
		WHERE `+where+` ORDER BY t.number LIMIT 10`, n)
	if err != nil {
		return Truck{}, fmt.Errorf("store: truck %q: %w", number, err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Truck, error) { return scanTruck(r) })
	if err != nil {
		return Truck{}, fmt.Errorf("store: truck %q: %w", number, err)
	}
	switch len(ts) {
	case 0:
		return Truck{}, fmt.Errorf("store: truck: %w", &NotFoundError{What: "truck", Query: number, Suggestions: db.truckSuggestions(ctx, n)})
	case 1:
		return ts[0], nil
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Number
	}
	return Truck{}, fmt.Errorf("store: truck: %w", &AmbiguousError{Query: number, Candidates: names})
}

// Trucks lists the fleet ordered by number.
func (db *DB) Trucks(ctx context.Context) ([]Truck, error) {
	rows, err := db.conn.Query(ctx, `SELECT `+truckColumns+` FROM `+truckFrom+` ORDER BY t.number`)
	if err != nil {
		return nil, fmt.Errorf("store: trucks: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Truck, error) { return scanTruck(r) })
	if err != nil {
		return nil, fmt.Errorf("store: trucks: %w", err)
	}
	return ts, nil
}

// TruckDistance is a truck and how far it is from the point asked about.
type TruckDistance struct {
	Truck
	DistanceM float64
}

// TrucksWithin returns the trucks whose last known position is within
// radiusM metres of p, nearest first.
func (db *DB) TrucksWithin(ctx context.Context, p Point, radiusM float64) ([]TruckDistance, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("store: trucks within: %w", err)
	}
	if radiusM <= 0 || radiusM > 1_000_000 {
		return nil, fmt.Errorf("store: trucks within: %w", invalidf("radius %v m is outside 0..1000 km", radiusM))
	}
	rows, err := db.conn.Query(ctx, `SELECT `+truckColumns+`, ST_Distance(t.position, q.g) AS d
		FROM `+truckFrom+`, (SELECT `+pointSQL(1, 2)+` AS g) q
		WHERE ST_DWithin(t.position, q.g, $3)
		ORDER BY d, t.number`, p.Lat, p.Lon, radiusM)
	if err != nil {
		return nil, fmt.Errorf("store: trucks within: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TruckDistance, error) {
		var td TruckDistance
		var err error
		td.Truck, err = scanTruck(r, &td.DistanceM)
		return td, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: trucks within: %w", err)
	}
	return out, nil
}

// UpdateTruckPosition records f as the truck's current position unless the
// truck already has a newer one: late fixes never move a truck back in time.
// It reports whether the position changed.
func (db *DB) UpdateTruckPosition(ctx context.Context, truckID int64, f Fix) (bool, error) {
	if err := f.Validate(); err != nil {
		return false, fmt.Errorf("store: truck %d position: %w", truckID, err)
	}
	tag, err := db.conn.Exec(ctx, `UPDATE trucks SET position = `+pointSQL(2, 3)+`,
			position_at = $4, speed_kmh = $5, heading = $6, ignition = $7, updated_at = now()
		WHERE id = $1 AND (position_at IS NULL OR position_at < $4)`,
		truckID, f.Lat, f.Lon, f.At, f.SpeedKmh, f.Heading, f.Ignition)
	if err != nil {
		return false, fmt.Errorf("store: truck %d position: %w", truckID, err)
	}
	return tag.RowsAffected() == 1, nil
}
