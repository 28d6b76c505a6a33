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

// insertAlert stores a, or merges it into the alert already stored under
// its dedup key (one episode, one alert). It reports whether a was new.
func insertAlert(ctx context.Context, tx pgx.Tx, a *Alert) (bool, error) {
	if a.Severity == "" {
		a.Severity = severityOf(a.Kind)
	}
	details, err := json.Marshal(a.Details)
	if err != nil {
		return false, err
	}
	if a.Details == nil {
		details = []byte("{}")
	}
	var lat, lon *float64
	if a.Position != nil {
		lat, lon = &a.Position.Lat, &a.Position.Lon
	}
	var inserted bool
	err = tx.QueryRow(ctx, `INSERT INTO alerts AS x (truck_id, trip_id, location_id, kind, source, severity, dedup_key,
			started_at, ended_at, position, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
			CASE WHEN $10::float8 IS NULL THEN NULL ELSE `+pointSQL(10, 11)+` END, $12)
		ON CONFLICT (dedup_key) DO UPDATE SET ended_at = coalesce(EXCLUDED.ended_at, x.ended_at),
			details = x.details || EXCLUDED.details
		RETURNING id, (xmax = 0)`,
		a.TruckID, a.TripID, a.LocationID, a.Kind, a.Source, a.Severity, a.DedupKey, a.StartedAt, a.EndedAt,
		lat, lon, details).Scan(&a.ID, &inserted)
	if err != nil {
		return false, fmt.Errorf("store: alert %s: %w", a.DedupKey, err)
	}
	return inserted, nil
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
				} else if err != pgx.ErrNoRows {
					return err
				}
			}
			inserted, err := insertAlert(ctx, tx, &a)
			if err != nil {
				return err
			}
			if inserted {
				created = append(created, a)
			}
		}
		return nil
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
		for _, s := range list {
			a := Alert{TruckID: s.id, TruckNumber: s.number, Kind: AlertDeviceOffline, Source: SourceRule,
				DedupKey:  fmt.Sprintf("%s:%d:%s", AlertDeviceOffline, s.id, s.at.UTC().Format(time.RFC3339)),
				StartedAt: s.at, Position: &Point{Lat: s.lat, Lon: s.lon},
				Details: map[string]any{"silent_minutes": int(now.Sub(s.at).Minutes())}}
			inserted, err := insertAlert(ctx, tx, &a)
			if err != nil {
				return err
			}
			if inserted {
				created = append(created, a)
			}
		}
		return nil
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
