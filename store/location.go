package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Location kinds.
const (
	LocationTerminal    = "terminal"
	LocationClient      = "client"
	LocationDepot       = "depot"
	LocationServiceArea = "service_area"
)

// Circle geofences are stored as polygons with this many segments per quarter
// circle: 64 vertices keep the polygon within 0.4 m of the true circle at the
// largest allowed radius (300 m), well inside GPS noise.
const circleQuadSegs = 16

// Location is a named place with a geofence: a terminal, a client site, a
// depot or a wider service area.
type Location struct {
	ID               int64
	Code             string // e.g. ESSLIBRA
	Name             string
	Kind             string
	Organization     string // owning organization's name, if any
	Address          string
	Center           Point
	RadiusM          int     // set when the geofence is a circle
	Boundary         []Point // set on input when the geofence is a polygon
	LocoNavPolygonID int64   // 0 when LocoNav does not know the place
	Aliases          []string
}

const locationColumns = `l.id, l.code, l.name, l.kind, coalesce(o.name, ''), l.address,
	ST_Y(l.center::geometry), ST_X(l.center::geometry), coalesce(l.radius_m, 0),
	coalesce(l.loconav_polygon_id, 0), l.aliases`

const locationFrom = `locations l LEFT JOIN organizations o ON o.id = l.organization_id`

func scanLocation(row pgx.Row, extra ...any) (Location, error) {
	var l Location
	dest := append([]any{&l.ID, &l.Code, &l.Name, &l.Kind, &l.Organization, &l.Address,
		&l.Center.Lat, &l.Center.Lon, &l.RadiusM, &l.LocoNavPolygonID, &l.Aliases}, extra...)
	err := row.Scan(dest...)
	return l, err
}

// LocationCode turns a name into the code form: upper case, underscores for
// anything else ("Tin Can" → TIN_CAN).
func LocationCode(s string) string {
	f := strings.FieldsFunc(strings.ToUpper(s), func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	return strings.Join(f, "_")
}

// LocationByName finds a place by code, name or alias, ignoring case; failing
// an exact match, by a unique partial match ("ibese" finds Dangote Cement
// Ibese); failing that, by trigram similarity for typos ("esslibr",
// "apapaa"). Several equally good matches give an *AmbiguousError, nothing
// close a *NotFoundError with suggestions: never a silent guess.
func (db *DB) LocationByName(ctx context.Context, q string) (Location, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return Location{}, fmt.Errorf("store: location: %w", invalidf("empty name"))
	}
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
	rows, err := db.conn.Query(ctx, `SELECT `+locationColumns+`,
			CASE WHEN l.code = $2 THEN 0
			     WHEN lower(l.name) = lower($1) OR EXISTS (SELECT 1 FROM unnest(l.aliases) a WHERE lower(a) = lower($1)) THEN 1
			     ELSE 2 END AS rank
		FROM `+locationFrom+`
		WHERE l.code = $2 OR l.code LIKE $4
		   OR l.name ILIKE $3 OR EXISTS (SELECT 1 FROM unnest(l.aliases) a WHERE a ILIKE $3)
		ORDER BY rank, l.name
		LIMIT 20`, q, LocationCode(q), like, "%"+LocationCode(q)+"%")
	if err != nil {
		return Location{}, fmt.Errorf("store: location %q: %w", q, err)
	}
	type ranked struct {
		Location
		rank int
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ranked, error) {
		var x ranked
		var err error
		x.Location, err = scanLocation(r, &x.rank)
		return x, err
	})
	if err != nil {
		return Location{}, fmt.Errorf("store: location %q: %w", q, err)
	}
	if len(found) == 0 || LocationCode(q) == "" && found[0].rank > 0 {
		if LocationCode(q) == "" {
			return Location{}, fmt.Errorf("store: location: %w", &NotFoundError{What: "place", Query: q})
		}
		return db.fuzzyLocation(ctx, q)
	}
	best := found[0].rank
	var names []string
	for _, f := range found {
		if f.rank == best {
			names = append(names, f.Name+" ("+f.Code+")")
		}
	}
	if len(names) == 1 {
		return found[0].Location, nil
	}
	return Location{}, fmt.Errorf("store: location: %w", &AmbiguousError{Query: q, Candidates: names})
}

// Validate checks a place before it is stored: what Postgres could not
// say clearly.
func (l Location) Validate() error {
	if LocationCode(l.Code) != l.Code || l.Code == "" {
		return invalidf("code %q must be upper-case letters, digits and underscores", l.Code)
	}
	if strings.TrimSpace(l.Name) == "" {
		return invalidf("name is empty")
	}
	switch l.Kind {
	case LocationTerminal, LocationClient, LocationDepot, LocationServiceArea:
	default:
		return invalidf("kind %q is not one of terminal, client, depot, service_area", l.Kind)
	}
	if err := l.Center.Validate(); err != nil {
		return fmt.Errorf("centre: %w", err)
	}
	switch {
	case l.RadiusM != 0 && len(l.Boundary) != 0:
		return invalidf("give either a radius or a polygon, not both")
	case l.RadiusM == 0 && len(l.Boundary) == 0:
		return invalidf("a geofence needs a radius (50-300 m) or a polygon")
	case l.RadiusM != 0 && (l.RadiusM < 50 || l.RadiusM > 300):
		return invalidf("radius %d m is outside 50-300 m", l.RadiusM)
	}
	if len(l.Boundary) != 0 {
		distinct := map[Point]bool{}
		for _, p := range l.Boundary {
			if err := p.Validate(); err != nil {
				return fmt.Errorf("polygon: %w", err)
			}
			distinct[p] = true
		}
		if len(distinct) < 3 {
			return invalidf("polygon needs at least 3 distinct points, has %d", len(distinct))
		}
	}
	return nil
}

// upsertLocation inserts or updates l by code and reports what happened.
func upsertLocation(ctx context.Context, tx pgx.Tx, l Location, orgID *int64) (change, error) {
	if err := l.Validate(); err != nil {
		return 0, err
	}
	var boundary, radius any
	if len(l.Boundary) > 0 {
		ewkt := polygonEWKT(l.Boundary)
		var reason string
		if err := tx.QueryRow(ctx, `SELECT ST_IsValidReason(ST_GeomFromEWKT($1))`, ewkt).Scan(&reason); err != nil {
			return 0, fmt.Errorf("polygon: %w", err)
		}
		if reason != "Valid Geometry" {
			return 0, invalidf("polygon is not a simple ring: %s", reason)
		}
		boundary = ewkt
	} else {
		radius = l.RadiusM
	}
	var polygonID *int64
	if l.LocoNavPolygonID != 0 {
		polygonID = &l.LocoNavPolygonID
	}
	if l.Aliases == nil {
		l.Aliases = []string{}
	}
	row := tx.QueryRow(ctx, `WITH v AS (
			SELECT `+pointSQL(6, 7)+` AS center, $8::int AS radius_m, $9::text AS boundary)
		INSERT INTO locations AS x (code, name, kind, organization_id, address, center, radius_m, boundary, loconav_polygon_id, aliases)
		SELECT $1, $2, $3, $4, $5, v.center, v.radius_m,
			CASE WHEN v.boundary IS NULL
				THEN ST_Buffer(v.center, v.radius_m, 'quad_segs=`+fmt.Sprint(circleQuadSegs)+`')
				ELSE ST_GeogFromText(v.boundary) END,
			$10, $11
		FROM v
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
			organization_id = EXCLUDED.organization_id, address = EXCLUDED.address, center = EXCLUDED.center,
			radius_m = EXCLUDED.radius_m, boundary = EXCLUDED.boundary,
			loconav_polygon_id = EXCLUDED.loconav_polygon_id, aliases = EXCLUDED.aliases, active = true, updated_at = now()
		WHERE (x.name, x.kind, x.organization_id, x.address, x.radius_m, x.loconav_polygon_id, x.aliases, x.active)
			IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.organization_id, EXCLUDED.address,
				EXCLUDED.radius_m, EXCLUDED.loconav_polygon_id, EXCLUDED.aliases, true)
			OR NOT ST_Equals(x.center::geometry, EXCLUDED.center::geometry)
			OR NOT ST_Equals(x.boundary::geometry, EXCLUDED.boundary::geometry)
		RETURNING (xmax = 0)`,
		l.Code, l.Name, l.Kind, orgID, l.Address, l.Center.Lat, l.Center.Lon, radius, boundary, polygonID, l.Aliases)
	return scanChange(row)
}
