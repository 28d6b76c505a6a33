package ingest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream names. One events stream carries every LocoNav message; consumer
// groups (archive, telematics, alerts) each read all of it.
const (
	StreamEvents        = "watchtower:events"
	StreamDead          = "watchtower:events:dead"
	StreamNotifications = "watchtower:notifications"
)

// Stream entry fields, kept short: they are repeated in every entry.
const (
	fieldFamily   = "f"
	fieldSource   = "s"
	fieldReceived = "r" // unix milliseconds
	fieldBody     = "b"
)

// DefaultMaxLen caps the events stream (approximately). It is a memory guard,
// not a retention policy: at 2,000 fixes/s it holds over two hours of
// backlog, and the archive group copies every entry to Postgres long before.
const DefaultMaxLen = 20_000_000

// Streams writes to the Redis streams.
type Streams struct {
	rdb    redis.UniversalClient
	events string
	maxLen int64
	now    func() time.Time
}

// NewStreams returns a writer to the events stream named stream (StreamEvents
// in production; tests use their own).
func NewStreams(rdb redis.UniversalClient, stream string, maxLen int64) *Streams {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	return &Streams{rdb: rdb, events: stream, maxLen: maxLen, now: time.Now}
}

// Publish appends events to the events stream and returns their stream ids.
// It returns only when Redis has taken every one: an error means some or all
// were not stored, and the sender must retry.
func (s *Streams) Publish(ctx context.Context, evs []Event) ([]string, error) {
	received := strconv.FormatInt(s.now().UnixMilli(), 10)
	args := func(ev Event) *redis.XAddArgs {
		return &redis.XAddArgs{Stream: s.events, MaxLen: s.maxLen, Approx: true,
			Values: []any{fieldFamily, ev.Family, fieldSource, ev.Source, fieldReceived, received, fieldBody, []byte(ev.Raw)}}
	}
	if len(evs) == 1 {
		id, err := s.rdb.XAdd(ctx, args(evs[0])).Result()
		if err != nil {
			return nil, fmt.Errorf("ingest: publish: %w", err)
		}
		return []string{id}, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(evs))
	for i, ev := range evs {
		cmds[i] = pipe.XAdd(ctx, args(ev))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("ingest: publish %d events: %w", len(evs), err)
	}
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.Val()
	}
	return ids, nil
}

// Message is one entry of the events stream.
type Message struct {
	ID         string
	Family     string
	Source     string
	ReceivedAt time.Time
	Body       []byte
}

func messageFrom(x redis.XMessage) Message {
	m := Message{ID: x.ID}
	m.Family, _ = x.Values[fieldFamily].(string)
	m.Source, _ = x.Values[fieldSource].(string)
	if b, ok := x.Values[fieldBody].(string); ok {
		m.Body = []byte(b)
	}
	if r, ok := x.Values[fieldReceived].(string); ok {
		if ms, err := strconv.ParseInt(r, 10, 64); err == nil {
			m.ReceivedAt = time.UnixMilli(ms)
		}
	}
	return m
}
