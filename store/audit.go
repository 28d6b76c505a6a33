package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one entry of the append-only audit log.
type Event struct {
	Actor         string // Slack user id, or "system", "seed", …
	Action        string // e.g. trip.created
	Subject       string // e.g. truck:T11985LA
	Payload       any    // marshalled to JSON
	CorrelationID string
}

// AppendEvent writes e to the audit log.
func (db *DB) AppendEvent(ctx context.Context, e Event) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return appendEvent(ctx, tx, e) })
}

func appendEvent(ctx context.Context, tx pgx.Tx, e Event) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("store: event: %w", invalidf("actor and action are required"))
	}
	payload := []byte("{}")
	if e.Payload != nil {
		var err error
		if payload, err = json.Marshal(e.Payload); err != nil {
			return fmt.Errorf("store: event %s: %w", e.Action, err)
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (actor, action, subject, payload, correlation_id) VALUES ($1, $2, $3, $4, $5)`,
		e.Actor, e.Action, e.Subject, payload, e.CorrelationID)
	if err != nil {
		return fmt.Errorf("store: event %s: %w", e.Action, err)
	}
	return nil
}

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
