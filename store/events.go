package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LoggedEvent is an audit-log entry as stored.
type LoggedEvent struct {
	ID            int64
	OccurredAt    time.Time
	Actor         string
	Action        string
	Subject       string
	Payload       json.RawMessage
	CorrelationID string
}

// EventsByCorrelation returns the audit entries of one request, oldest
// first: everything one message or button press caused.
func (db *DB) EventsByCorrelation(ctx context.Context, correlationID string) ([]LoggedEvent, error) {
	return db.events(ctx, "correlation_id", correlationID)
}

// EventsByAction returns the audit entries of one action, oldest first.
func (db *DB) EventsByAction(ctx context.Context, action string) ([]LoggedEvent, error) {
	return db.events(ctx, "action", action)
}

// events selects by one column (a constant of this file, never input).
func (db *DB) events(ctx context.Context, column, value string) ([]LoggedEvent, error) {
	rows, err := db.conn.Query(ctx, `SELECT id, occurred_at, actor, action, subject, payload, correlation_id
		FROM events WHERE `+column+` = $1 ORDER BY id`, value)
	if err != nil {
		return nil, fmt.Errorf("store: events %s %q: %w", column, value, err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LoggedEvent, error) {
		var e LoggedEvent
		err := r.Scan(&e.ID, &e.OccurredAt, &e.Actor, &e.Action, &e.Subject, &e.Payload, &e.CorrelationID)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: events %s %q: %w", column, value, err)
	}
	return evs, nil
}
