package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AlertFilter selects alerts. Zero fields do not filter.
type AlertFilter struct {
	TruckID int64
	// Kinds match our kinds and LocoNav's names alike, ignoring case,
	// spaces, underscores and an "Alert" suffix: "overspeed" matches
	// overspeed and OverspeedAlert, "harsh braking" HarshBrakingAlert.
	Kinds    []string
	From, To time.Time // started in [From, To)
	OpenOnly bool      // not ended yet
	Limit    int       // default 20, at most 200
}

// kindKey is the form kinds are compared in.
func kindKey(k string) string {
	k = strings.ToLower(strings.NewReplacer(" ", "", "_", "", "-", "").Replace(k))
	return strings.TrimSuffix(k, "alert")
}

// Alerts returns the alerts matching f, newest first, and how many match in
// all.
func (db *DB) Alerts(ctx context.Context, f AlertFilter) ([]Alert, int, error) {
	if f.Limit <= 0 {
		f.Limit = 20
	}
	f.Limit = min(f.Limit, 200)
	kinds := make([]string, 0, len(f.Kinds))
	for _, k := range f.Kinds {
		kinds = append(kinds, kindKey(k))
	}
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	rows, err := db.conn.Query(ctx, `SELECT a.id, a.truck_id, t.number, a.trip_id, a.location_id, coalesce(l.code, ''),
			a.kind, a.source, a.severity, a.dedup_key, a.started_at, a.ended_at, a.details, count(*) OVER ()
		FROM alerts a JOIN trucks t ON t.id = a.truck_id LEFT JOIN locations l ON l.id = a.location_id
		WHERE ($1 = 0 OR a.truck_id = $1)
		  AND (coalesce(cardinality($2::text[]), 0) = 0 OR regexp_replace(regexp_replace(lower(a.kind), '[ _-]', '', 'g'), 'alert$', '') = ANY($2))
		  AND ($3::timestamptz IS NULL OR a.started_at >= $3) AND ($4::timestamptz IS NULL OR a.started_at < $4)
		  AND (NOT $5 OR a.ended_at IS NULL)
		ORDER BY a.started_at DESC, a.id DESC LIMIT $6`, f.TruckID, kinds, from, to, f.OpenOnly, f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("store: alerts: %w", err)
	}
	total := 0
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		err := r.Scan(&a.ID, &a.TruckID, &a.TruckNumber, &a.TripID, &a.LocationID, &a.LocationCode,
			&a.Kind, &a.Source, &a.Severity, &a.DedupKey, &a.StartedAt, &a.EndedAt, &a.Details, &total)
		return a, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: alerts: %w", err)
	}
	return out, total, nil
}
