package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Alert kinds raised by Watch Tower's own rules. LocoNav's alerts keep their
// own kind ("OverspeedAlert", …).
const (
	AlertOverspeed      = "overspeed"
	AlertIdle           = "idle"
	AlertDeviceOffline  = "device_offline"
	AlertGeofenceEnter  = "geofence_enter"
	AlertGeofenceExit   = "geofence_exit"
	AlertUnknownVehicle = "unknown_vehicle"
)

// Alert sources.
const (
	SourceLocoNav = "loconav"
	SourceRule    = "rule"
)

// Alert is one episode worth telling people about.
type Alert struct {
	ID           int64
	TruckID      int64
	TruckNumber  string
	TripID       *int64
	LocationID   *int64
	LocationCode string
	Kind         string
	Source       string
	Severity     string
	DedupKey     string
	StartedAt    time.Time
	EndedAt      *time.Time
	Position     *Point
	Details      map[string]any
}

// LocoNavAlert is an alert as LocoNav reported it, ready to store.
type LocoNavAlert struct {
	AlertID       int64 // LocoNav's id; 0 when absent
	Kind          string
	TruckNumber   string // normalised
	VehicleNumber string // as LocoNav wrote it
	StartedAt     time.Time
	EndedAt       *time.Time
	Position      *Point
	PolygonID     int64
	EventKey      string
	SpeedKmh      *float64
}

func severityOf(kind string) string {
	switch kind {
	case AlertDeviceOffline, "DeviceOfflineAlert", "DeviceRemovalAlert", "AntiTheftAlert", "CrashDuringOverspeedAlert", "PossibleFuelTheftAlert":
		return "critical"
	case AlertUnknownVehicle, AlertGeofenceEnter, AlertGeofenceExit, "GeofenceAlert", "IgnitionAlert", "RefuelingAlert":
		return "info"
	}
	return "warning"
}

// insertAlerts stores alerts in one statement, merging each into the alert
// already stored under its dedup key (one episode, one alert). It sets their
// ids and returns those that are new.
func insertAlerts(ctx context.Context, tx pgx.Tx, alerts []*Alert) ([]Alert, error) {
	// One row per key: ON CONFLICT cannot touch a row twice in a statement.
	byKey := map[string]*Alert{}
	var uniq []*Alert
	for _, a := range alerts {
		if prev, ok := byKey[a.DedupKey]; ok {
			if a.EndedAt != nil {
				prev.EndedAt = a.EndedAt
			}
			continue
		}
		byKey[a.DedupKey] = a
		uniq = append(uniq, a)
	}
	if len(uniq) == 0 {
		return nil, nil
	}
	n := len(uniq)
	truck, kind, source, severity, key := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	trip, loc := make([]*int64, n), make([]*int64, n)
	started, ended := make([]time.Time, n), make([]*time.Time, n)
	lat, lon := make([]*float64, n), make([]*float64, n)
	details := make([]string, n)
	for i, a := range uniq {
		if a.Severity == "" {
			a.Severity = severityOf(a.Kind)
		}
		d := []byte("{}")
		if a.Details != nil {
			var err error
			if d, err = json.Marshal(a.Details); err != nil {
				return nil, fmt.Errorf("store: alert %s: %w", a.DedupKey, err)
			}
		}
		truck[i], kind[i], source[i], severity[i], key[i] = a.TruckID, a.Kind, a.Source, a.Severity, a.DedupKey
		trip[i], loc[i], started[i], ended[i], details[i] = a.TripID, a.LocationID, a.StartedAt, a.EndedAt, string(d)
		if a.Position != nil {
			lat[i], lon[i] = &a.Position.Lat, &a.Position.Lon
		}
	}
	rows, err := tx.Query(ctx, `INSERT INTO alerts AS x (truck_id, trip_id, location_id, kind, source, severity, dedup_key,
			started_at, ended_at, position, details)
		SELECT t, tr, l, k, src, sev, dk, st, en,
			CASE WHEN la IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(lo, la), 4326)::geography END, d::jsonb
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::timestamptz[], $9::timestamptz[], $10::float8[], $11::float8[], $12::text[])
			AS u(t, tr, l, k, src, sev, dk, st, en, la, lo, d)
		ON CONFLICT (dedup_key) DO UPDATE SET ended_at = coalesce(EXCLUDED.ended_at, x.ended_at),
			details = x.details || EXCLUDED.details
		RETURNING id, dedup_key, (xmax = 0)`,
		truck, trip, loc, kind, source, severity, key, started, ended, lat, lon, details)
	if err != nil {
		return nil, fmt.Errorf("store: %d alerts: %w", n, err)
	}
	var created []Alert
	var id int64
	var dk string
	var ins bool
	if _, err := pgx.ForEachRow(rows, []any{&id, &dk, &ins}, func() error {
		a := byKey[dk]
		a.ID = id
		if ins {
			created = append(created, *a)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: %d alerts: %w", n, err)
	}
	for _, a := range alerts { // duplicates of a key share its id
		a.ID = byKey[a.DedupKey].ID
	}
	return created, nil
}

// RecordLocoNavAlerts stores alerts reported by LocoNav, deduplicated by
// LocoNav's id (or, without one, by kind, truck and start), and returns those
// that are new. A vehicle the fleet does not know is registered as unknown.
func (db *DB) RecordLocoNavAlerts(ctx context.Context, in []LocoNavAlert) ([]Alert, error) {
	var created []Alert
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		created = created[:0]
		numbers := make([]truckRef, len(in))
		for i, a := range in {
			numbers[i] = truckRef{a.TruckNumber, a.VehicleNumber}
		}
		ids, unknown, err := resolveTrucks(ctx, tx, numbers)
		if err != nil {
			return err
		}
		created = append(created, unknown...)
		var batch []*Alert
		for _, la := range in {
			key := fmt.Sprintf("loconav:%s:%d", la.Kind, la.AlertID)
			if la.AlertID == 0 {
				key = fmt.Sprintf("loconav:%s:%s:%s", la.Kind, la.TruckNumber, la.StartedAt.UTC().Format(time.RFC3339))
			}
			details := map[string]any{"vehicle_number": la.VehicleNumber}
			if la.EventKey != "" {
				details["event_key"] = la.EventKey
			}
			if la.SpeedKmh != nil {
				details["speed_kmh"] = *la.SpeedKmh
			}
			a := Alert{TruckID: ids[la.TruckNumber], TruckNumber: la.TruckNumber, Kind: la.Kind, Source: SourceLocoNav,
				DedupKey: key, StartedAt: la.StartedAt, EndedAt: la.EndedAt, Position: la.Position, Details: details}
			if la.PolygonID != 0 {
				details["polygon_id"] = la.PolygonID
				var locID int64
				var code string
				err := tx.QueryRow(ctx, `SELECT id, code FROM locations WHERE loconav_polygon_id = $1`, la.PolygonID).Scan(&locID, &code)
				if err == nil {
					a.LocationID, a.LocationCode = &locID, code
				} else if !noRows(err) {
					return err
				}
			}
			batch = append(batch, &a)
		}
		news, err := insertAlerts(ctx, tx, batch)
		created = append(created, news...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// DetectOfflineTrucks raises a device_offline alert for every active truck
// whose last fix is older than silence, once per silence (the key holds the
// last fix time), and returns the new alerts.
func (db *DB) DetectOfflineTrucks(ctx context.Context, now time.Time, silence time.Duration) ([]Alert, error) {
	var created []Alert
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		created = created[:0]
		rows, err := tx.Query(ctx, `SELECT id, number, position_at, ST_Y(position::geometry), ST_X(position::geometry)
			FROM trucks WHERE status = 'active' AND position_at < $1`, now.Add(-silence))
		if err != nil {
			return err
		}
		type silent struct {
			id       int64
			number   string
			at       time.Time
			lat, lon float64
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (silent, error) {
			var s silent
			err := r.Scan(&s.id, &s.number, &s.at, &s.lat, &s.lon)
			return s, err
		})
		if err != nil {
			return err
		}
		batch := make([]*Alert, len(list))
		for i, s := range list {
			batch[i] = &Alert{TruckID: s.id, TruckNumber: s.number, Kind: AlertDeviceOffline, Source: SourceRule,
				DedupKey:  fmt.Sprintf("%s:%d:%s", AlertDeviceOffline, s.id, s.at.UTC().Format(time.RFC3339)),
				StartedAt: s.at, Position: &Point{Lat: s.lat, Lon: s.lon},
				Details: map[string]any{"silent_minutes": int(now.Sub(s.at).Minutes())}}
		}
		created, err = insertAlerts(ctx, tx, batch)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: offline trucks: %w", err)
	}
	return created, nil
}

// UnpublishedAlerts returns alerts whose notification is not yet in the
// notifications stream (the outbox), oldest first.
func (db *DB) UnpublishedAlerts(ctx context.Context, olderThan time.Time, limit int) ([]Alert, error) {
	rows, err := db.conn.Query(ctx, `SELECT a.id, a.truck_id, t.number, a.kind, a.source, a.severity, a.dedup_key, a.started_at
		FROM alerts a JOIN trucks t ON t.id = a.truck_id
		WHERE a.published_at IS NULL AND a.created_at < $1 ORDER BY a.created_at LIMIT $2`, olderThan, limit)
	if err != nil {
		return nil, fmt.Errorf("store: unpublished alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		err := r.Scan(&a.ID, &a.TruckID, &a.TruckNumber, &a.Kind, &a.Source, &a.Severity, &a.DedupKey, &a.StartedAt)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: unpublished alerts: %w", err)
	}
	return out, nil
}

// MarkAlertsPublished records that the alerts' notifications are in the
// stream.
func (db *DB) MarkAlertsPublished(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.conn.Exec(ctx, `UPDATE alerts SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL`, ids)
	if err != nil {
		return fmt.Errorf("store: mark alerts published: %w", err)
	}
	return nil
}

// AlertsForTruck returns a truck's alerts, newest first.
func (db *DB) AlertsForTruck(ctx context.Context, truckID int64, limit int) ([]Alert, error) {
	rows, err := db.conn.Query(ctx, `SELECT a.id, a.truck_id, t.number, a.trip_id, a.location_id, coalesce(l.code, ''),
			a.kind, a.source, a.severity, a.dedup_key, a.started_at, a.ended_at, a.details
		FROM alerts a JOIN trucks t ON t.id = a.truck_id LEFT JOIN locations l ON l.id = a.location_id
		WHERE a.truck_id = $1 ORDER BY a.started_at DESC, a.id DESC LIMIT $2`, truckID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: alerts for truck %d: %w", truckID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		err := r.Scan(&a.ID, &a.TruckID, &a.TruckNumber, &a.TripID, &a.LocationID, &a.LocationCode,
			&a.Kind, &a.Source, &a.Severity, &a.DedupKey, &a.StartedAt, &a.EndedAt, &a.Details)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: alerts for truck %d: %w", truckID, err)
	}
	return out, nil
}
