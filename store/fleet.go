package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Organization kinds.
const (
	OrgClient      = "client"
	OrgTransporter = "transporter"
)

// Organization is a client whose containers we move, or a transporter
// company that owns trucks.
type Organization struct {
	ID           int64
	Name         string
	Kind         string
	ContactName  string
	ContactPhone string
}

// Driver drives at most one truck.
type Driver struct {
	ID            int64
	Name          string
	Phone         string // E.164, e.g. +2348031234567
	HasSmartphone bool
	TruckNumber   string // empty for a spare driver
}

// Row is one input record and where it came from ("trucks.csv row 12"), so
// that an error can point at it.
type Row[T any] struct {
	Ref   string
	Value T
}

// FleetImport is a batch of master data, applied in one transaction by
// ImportFleet. References between records are by natural key: organization
// name, location code, truck number.
type FleetImport struct {
	Organizations []Row[Organization]
	Locations     []Row[Location]
	Trucks        []Row[Truck]
	Drivers       []Row[Driver]
	Users         []Row[User]
	// Keep holds, by table, the keys of rows the source has but that were
	// refused as bad: a sync must not deactivate a row because someone
	// mistyped it.
	Keep map[string][]string
}

// ImportCounts says what an import did to one kind of record.
type ImportCounts struct {
	Inserted, Updated, Unchanged int
}

// ImportResult maps a kind of record ("trucks") to its counts.
type ImportResult map[string]*ImportCounts

type change int

const (
	unchanged change = iota
	inserted
	updated
)

// scanChange reads the RETURNING (xmax = 0) of an upsert whose DO UPDATE is
// guarded by IS DISTINCT FROM: no row means nothing changed.
func scanChange(row pgx.Row) (change, error) {
	var ins bool
	switch err := row.Scan(&ins); {
	case noRows(err):
		return unchanged, nil
	case err != nil:
		return 0, err
	case ins:
		return inserted, nil
	default:
		return updated, nil
	}
}

func (r ImportResult) add(kind string, c change) {
	n := r[kind]
	if n == nil {
		n = &ImportCounts{}
		r[kind] = n
	}
	switch c {
	case inserted:
		n.Inserted++
	case updated:
		n.Updated++
	default:
		n.Unchanged++
	}
}

// ImportFleet upserts the batch by natural keys in one transaction: all of it
// is applied, or, at the first bad record, none of it. Running it again with
// the same input changes nothing. The import is recorded in the audit log
// under actor.
func (db *DB) ImportFleet(ctx context.Context, actor string, in FleetImport) (ImportResult, error) {
	res := ImportResult{}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		for _, r := range in.Organizations {
			c, err := upsertOrganization(ctx, tx, r.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Ref, err)
			}
			res.add("organizations", c)
		}
		for _, r := range in.Locations {
			orgID, err := lookupID(ctx, tx, "organization", `SELECT id FROM organizations WHERE lower(name) = lower($1)`, r.Value.Organization)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Ref, err)
			}
			c, err := upsertLocation(ctx, tx, r.Value, orgID)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Ref, err)
			}
			res.add("locations", c)
		}
		for _, r := range in.Trucks {
			c, err := upsertTruck(ctx, tx, r.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Ref, err)
			}
			res.add("trucks", c)
		}
		for _, r := range in.Drivers {
			c, err := upsertDriver(ctx, tx, r.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Ref, err)
			}
			res.add("drivers", c)
		}
		for _, r := range in.Users {
			c, err := upsertUser(ctx, tx, r.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Ref, err)
			}
			res.add("users", c)
		}
		return appendEvent(ctx, tx, Event{Actor: actor, Action: "fleet.imported", Payload: res})
	})
	if err != nil {
		return nil, fmt.Errorf("store: import: %w", err)
	}
	return res, nil
}

// lookupID resolves a natural key to an id; an empty key is no reference.
func lookupID(ctx context.Context, tx pgx.Tx, what, query, key string) (*int64, error) {
	if strings.TrimSpace(key) == "" {
		return nil, nil
	}
	var id int64
	if err := tx.QueryRow(ctx, query, key).Scan(&id); err != nil {
		if noRows(err) {
			return nil, invalidf("%s %q does not exist", what, key)
		}
		return nil, err
	}
	return &id, nil
}

// Validate checks an organization before it is stored.
func (o Organization) Validate() error {
	if strings.TrimSpace(o.Name) == "" {
		return invalidf("name is empty")
	}
	if o.Kind != OrgClient && o.Kind != OrgTransporter {
		return invalidf("kind %q is not client or transporter", o.Kind)
	}
	return nil
}

func upsertOrganization(ctx context.Context, tx pgx.Tx, o Organization) (change, error) {
	if err := o.Validate(); err != nil {
		return 0, err
	}
	return scanChange(tx.QueryRow(ctx, `INSERT INTO organizations AS x (name, kind, contact_name, contact_phone)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (lower(name)) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
			contact_name = EXCLUDED.contact_name, contact_phone = EXCLUDED.contact_phone, active = true, updated_at = now()
		WHERE (x.name, x.kind, x.contact_name, x.contact_phone, x.active)
			IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.contact_name, EXCLUDED.contact_phone, true)
		RETURNING (xmax = 0)`, strings.TrimSpace(o.Name), o.Kind, o.ContactName, o.ContactPhone))
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate checks a truck's master data before it is stored. An empty
// status means active.
func (t Truck) Validate() error {
	if NormalizeTruckNumber(t.Number) == "" {
		return invalidf("truck number is empty")
	}
	switch t.Status {
	case TruckActive, TruckMaintenance, TruckInactive, TruckUnknown, "":
	default:
		return invalidf("status %q is not one of active, maintenance, inactive", t.Status)
	}
	if t.TrailerSize != "" && t.TrailerSize != "20ft" && t.TrailerSize != "40ft" {
		return invalidf("trailer size %q is not 20ft or 40ft", t.TrailerSize)
	}
	if t.LocoNavUUID != "" && !uuidRE.MatchString(t.LocoNavUUID) {
		return invalidf("LocoNav vehicle uuid %q is not a UUID", t.LocoNavUUID)
	}
	return nil
}

func upsertTruck(ctx context.Context, tx pgx.Tx, t Truck) (change, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	number := NormalizeTruckNumber(t.Number)
	if t.Status == "" {
		t.Status = TruckActive
	}
	var uuid *string
	if t.LocoNavUUID != "" {
		uuid = &t.LocoNavUUID
	}
	orgID, err := lookupID(ctx, tx, "company", `SELECT id FROM organizations WHERE lower(name) = lower($1)`, t.Company)
	if err != nil {
		return 0, err
	}
	locID, err := lookupID(ctx, tx, "operating location", `SELECT id FROM locations WHERE code = $1`, LocationCode(t.OperatingLocation))
	if err != nil {
		return 0, err
	}
	return scanChange(tx.QueryRow(ctx, `INSERT INTO trucks AS x (number, loconav_uuid, loconav_number, organization_id,
			fleet_manager, status, brand, trailer_size, operating_location_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (number) DO UPDATE SET loconav_uuid = EXCLUDED.loconav_uuid, loconav_number = EXCLUDED.loconav_number,
			organization_id = EXCLUDED.organization_id, fleet_manager = EXCLUDED.fleet_manager, status = EXCLUDED.status,
			brand = EXCLUDED.brand, trailer_size = EXCLUDED.trailer_size,
			operating_location_id = EXCLUDED.operating_location_id, updated_at = now()
		WHERE (x.loconav_uuid, x.loconav_number, x.organization_id, x.fleet_manager, x.status, x.brand, x.trailer_size, x.operating_location_id)
			IS DISTINCT FROM (EXCLUDED.loconav_uuid, EXCLUDED.loconav_number, EXCLUDED.organization_id, EXCLUDED.fleet_manager,
				EXCLUDED.status, EXCLUDED.brand, EXCLUDED.trailer_size, EXCLUDED.operating_location_id)
		RETURNING (xmax = 0)`,
		number, uuid, t.LocoNavNumber, orgID, t.FleetManager, t.Status, t.Brand, t.TrailerSize, locID))
}

var e164RE = regexp.MustCompile(`^\+[0-9]{8,15}$`)

// NormalizePhone returns a phone number in E.164 form. Nigerian numbers
// written locally (0803 123 4567) get the +234 prefix; anything that is still
// not E.164 is returned as "".
func NormalizePhone(s string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return ""
		}
	}
	p := b.String()
	switch {
	case strings.HasPrefix(p, "+"):
	case strings.HasPrefix(p, "234"):
		p = "+" + p
	case strings.HasPrefix(p, "0") && len(p) == 11:
		p = "+234" + p[1:]
	case len(p) == 10 && (p[0] == '7' || p[0] == '8' || p[0] == '9'):
		// A Nigerian mobile typed into a sheet cell as a number loses its
		// leading 0: 0806 146 2783 arrives as 8061462783.
		p = "+234" + p
	}
	if !e164RE.MatchString(p) {
		return ""
	}
	return p
}

// Validate checks a driver before it is stored.
func (d Driver) Validate() error {
	if strings.TrimSpace(d.Name) == "" {
		return invalidf("driver name is empty")
	}
	if NormalizePhone(d.Phone) == "" {
		return invalidf("phone %q is not a phone number", d.Phone)
	}
	return nil
}

func upsertDriver(ctx context.Context, tx pgx.Tx, d Driver) (change, error) {
	if err := d.Validate(); err != nil {
		return 0, err
	}
	phone := NormalizePhone(d.Phone)
	truckID, err := lookupID(ctx, tx, "truck", `SELECT id FROM trucks WHERE number = $1`, NormalizeTruckNumber(d.TruckNumber))
	if err != nil {
		return 0, err
	}
	if truckID != nil {
		// The newest word on who drives a truck wins: its previous driver
		// becomes a spare.
		if _, err := tx.Exec(ctx, `UPDATE drivers SET truck_id = NULL, updated_at = now() WHERE truck_id = $1 AND phone <> $2`, *truckID, phone); err != nil {
			return 0, err
		}
	}
	return scanChange(tx.QueryRow(ctx, `INSERT INTO drivers AS x (name, phone, has_smartphone, truck_id)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (phone) DO UPDATE SET name = EXCLUDED.name, has_smartphone = EXCLUDED.has_smartphone,
			truck_id = EXCLUDED.truck_id, active = true, updated_at = now()
		WHERE (x.name, x.has_smartphone, x.truck_id, x.active) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.has_smartphone, EXCLUDED.truck_id, true)
		RETURNING (xmax = 0)`, strings.TrimSpace(d.Name), phone, d.HasSmartphone, truckID))
}

// FleetSummary counts what the store holds, for start-up logs and readiness.
type FleetSummary struct {
	Organizations, Locations, Trucks, ActiveTrucks, Drivers, Users int
}

// Summary counts the master data.
func (db *DB) Summary(ctx context.Context) (FleetSummary, error) {
	var s FleetSummary
	err := db.conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM organizations), (SELECT count(*) FROM locations),
		(SELECT count(*) FROM trucks), (SELECT count(*) FROM trucks WHERE status = 'active'),
		(SELECT count(*) FROM drivers), (SELECT count(*) FROM users)`).
		Scan(&s.Organizations, &s.Locations, &s.Trucks, &s.ActiveTrucks, &s.Drivers, &s.Users)
	if err != nil {
		return s, fmt.Errorf("store: summary: %w", err)
	}
	return s, nil
}
