package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AlertNotice is what the alert channel shows of an alert, and whether it
// has been posted and acknowledged.
type AlertNotice struct {
	ID             int64
	TruckNumber    string
	Kind           string
	Severity       string
	LocationCode   string
	StartedAt      time.Time
	NotifiedAt     *time.Time
	AcknowledgedBy string
	AcknowledgedAt *time.Time
}

// AlertNotices returns the alerts with these ids, in id order; unknown ids
// are left out.
func (db *DB) AlertNotices(ctx context.Context, ids []int64) ([]AlertNotice, error) {
	rows, err := db.conn.Query(ctx, `SELECT a.id, t.number, a.kind, a.severity, coalesce(l.code, ''), a.started_at,
			a.notified_at, coalesce(a.acknowledged_by, ''), a.acknowledged_at
		FROM alerts a JOIN trucks t ON t.id = a.truck_id LEFT JOIN locations l ON l.id = a.location_id
		WHERE a.id = ANY($1) ORDER BY a.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("store: alert notices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AlertNotice, error) {
		var n AlertNotice
		err := r.Scan(&n.ID, &n.TruckNumber, &n.Kind, &n.Severity, &n.LocationCode, &n.StartedAt,
			&n.NotifiedAt, &n.AcknowledgedBy, &n.AcknowledgedAt)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: alert notices: %w", err)
	}
	return out, nil
}

// MarkAlertsNotified records that the alerts are in the alert channel.
func (db *DB) MarkAlertsNotified(ctx context.Context, ids []int64) error {
	if _, err := db.conn.Exec(ctx, `UPDATE alerts SET notified_at = now() WHERE id = ANY($1) AND notified_at IS NULL`, ids); err != nil {
		return fmt.Errorf("store: mark alerts notified: %w", err)
	}
	return nil
}

// Acknowledgement is the outcome of acknowledging alerts.
type Acknowledgement struct {
	// Acked are the alerts this call acknowledged.
	Acked []int64
	// By and At are who acknowledged the alerts first, when none was left
	// for this call.
	By string
	At time.Time
}

// AcknowledgeAlerts marks the alerts acknowledged by actor, each once, and
// writes one audit event for what it marked. Alerts someone acknowledged
// before keep their first acknowledgement.
func (db *DB) AcknowledgeAlerts(ctx context.Context, ids []int64, actor, actorName, correlationID string) (Acknowledgement, error) {
	var ack Acknowledgement
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE alerts SET acknowledged_by = $2, acknowledged_at = now()
			WHERE id = ANY($1) AND acknowledged_at IS NULL RETURNING id`, ids, actor)
		if err != nil {
			return err
		}
		if ack.Acked, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		if len(ack.Acked) == 0 {
			err := tx.QueryRow(ctx, `SELECT acknowledged_by, acknowledged_at FROM alerts
				WHERE id = ANY($1) AND acknowledged_at IS NOT NULL ORDER BY acknowledged_at LIMIT 1`, ids).Scan(&ack.By, &ack.At)
			if noRows(err) {
				return notFoundf("no alert %v", ids)
			}
			return err
		}
		return appendEvent(ctx, tx, Event{Actor: actor, Action: "alert.acknowledge", Subject: fmt.Sprintf("alerts:%v", ack.Acked),
			Payload: map[string]any{"alert_ids": ack.Acked, "by": actorName}, CorrelationID: correlationID})
	})
	if err != nil {
		return Acknowledgement{}, fmt.Errorf("store: acknowledge alerts: %w", err)
	}
	return ack, nil
}
