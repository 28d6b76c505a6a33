package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RawEvent is a LocoNav message exactly as received, with where it sits in
// the events stream.
type RawEvent struct {
	ID          int64
	StreamID    string
	Source      string // webhook, poll
	Family      string // location, alert, last_known
	Kind        string
	TruckNumber string
	EventTime   *time.Time
	ReceivedAt  time.Time
	Body        []byte
}

// ArchiveRawEvents stores raw events, once each: a stream id already
// archived (a redelivery) is skipped. It returns how many were new.
func (db *DB) ArchiveRawEvents(ctx context.Context, evs []RawEvent) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	n := len(evs)
	ids, srcs, fams, kinds, trucks := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times, rcvs, bodies := make([]*time.Time, n), make([]time.Time, n), make([][]byte, n)
	for i, e := range evs {
		ids[i], srcs[i], fams[i], kinds[i], trucks[i] = e.StreamID, e.Source, e.Family, e.Kind, e.TruckNumber
		times[i], rcvs[i], bodies[i] = e.EventTime, e.ReceivedAt, e.Body
	}
	tag, err := db.conn.Exec(ctx, `INSERT INTO raw_events (stream_id, source, family, kind, truck_number, event_time, received_at, body)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bytea[])
		ON CONFLICT (stream_id) DO NOTHING`, ids, srcs, fams, kinds, trucks, times, rcvs, bodies)
	if err != nil {
		return 0, fmt.Errorf("store: archive %d raw events: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

// RawEvents returns archived events received in [from, to) with ids after
// afterID, in the order they were archived: the input of replay.
func (db *DB) RawEvents(ctx context.Context, from, to time.Time, afterID int64, limit int) ([]RawEvent, error) {
	rows, err := db.conn.Query(ctx, `SELECT id, stream_id, source, family, kind, truck_number, event_time, received_at, body
		FROM raw_events WHERE received_at >= $1 AND received_at < $2 AND id > $3 ORDER BY id LIMIT $4`, from, to, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: raw events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RawEvent, error) {
		var e RawEvent
		err := r.Scan(&e.ID, &e.StreamID, &e.Source, &e.Family, &e.Kind, &e.TruckNumber, &e.EventTime, &e.ReceivedAt, &e.Body)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: raw events: %w", err)
	}
	return out, nil
}
