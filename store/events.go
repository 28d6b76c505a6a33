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
	rows, err := db.conn.Query(ctx, `SELECT id, occurred_at, actor, action, subject, payload, correlation_id
		FROM events WHERE correlation_id = $1 ORDER BY id`, correlationID)
	if err != nil {
		return nil, fmt.Errorf("store: events %q: %w", correlationID, err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LoggedEvent, error) {
		var e LoggedEvent
		err := r.Scan(&e.ID, &e.OccurredAt, &e.Actor, &e.Action, &e.Subject, &e.Payload, &e.CorrelationID)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: events %q: %w", correlationID, err)
	}
	return evs, nil
}
