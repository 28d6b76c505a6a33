package ingest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/watchtower-fleet/watchtower/loconav"
)

// Stream names. One events stream carries every LocoNav message; consumer
// groups (archive, telematics, alerts) each read all of it.
const (
	StreamEvents = "watchtower:events"
	StreamDead   = "watchtower:events:dead"
)

// Stream entry fields, kept short: they are repeated in every entry.
const (
	fieldFamily   = "f"
	fieldSource   = "s"
	fieldReceived = "r" // unix milliseconds
	fieldBody     = "b"
	fieldTrace    = "t" // the writer's traceparent, when it had a span
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
func (s *Streams) Publish(ctx context.Context, evs []loconav.Event) ([]string, error) {
	received := strconv.FormatInt(s.now().UnixMilli(), 10)
	tp := traceparent(ctx)
	args := func(ev loconav.Event) *redis.XAddArgs {
		values := []any{fieldFamily, ev.Family, fieldSource, ev.Source, fieldReceived, received, fieldBody, []byte(ev.Raw)}
		if tp != "" {
			values = append(values, fieldTrace, tp)
		}
		return &redis.XAddArgs{Stream: s.events, MaxLen: s.maxLen, Approx: true, Values: values}
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
	// Traceparent is the trace context of the request that wrote it.
	Traceparent string
}

// ParseMessage reads a stream message with the parser for its family.
func ParseMessage(p *loconav.Parser, m Message) (loconav.Event, error) {
	ev, err := p.ParseFamily(m.Body, m.Family)
	ev.Source = m.Source
	return ev, err
}

func messageFrom(x redis.XMessage) Message {
	m := Message{ID: x.ID}
	m.Family, _ = x.Values[fieldFamily].(string)
	m.Source, _ = x.Values[fieldSource].(string)
	m.Traceparent, _ = x.Values[fieldTrace].(string)
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

// StreamCollector reports the events stream's backlog to Prometheus at
// scrape time: its length, the dead-letter stream's, and each consumer
// group's pending (delivered, not acknowledged) and lag (not yet delivered).
type StreamCollector struct {
	rdb              redis.UniversalClient
	stream, dead     string
	length, deadLen  *prometheus.Desc
	pending, lagDesc *prometheus.Desc
}

// NewStreamCollector returns a collector for stream and its dead letters.
func NewStreamCollector(rdb redis.UniversalClient, stream, dead string) *StreamCollector {
	return &StreamCollector{rdb: rdb, stream: stream, dead: dead,
		length:  prometheus.NewDesc("watchtower_stream_length", "Entries in the events stream.", nil, nil),
		deadLen: prometheus.NewDesc("watchtower_stream_dead_letters", "Entries in the dead-letter stream.", nil, nil),
		pending: prometheus.NewDesc("watchtower_stream_group_pending", "Messages delivered to a group and not yet acknowledged.", []string{"group"}, nil),
		lagDesc: prometheus.NewDesc("watchtower_stream_group_lag", "Messages not yet delivered to a group.", []string{"group"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.length
	ch <- c.deadLen
	ch <- c.pending
	ch <- c.lagDesc
}

// Collect implements prometheus.Collector. When Redis does not answer, the
// stream metrics are left out of the scrape rather than reported as zero.
func (c *StreamCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	pipe := c.rdb.Pipeline()
	n := pipe.XLen(ctx, c.stream)
	d := pipe.XLen(ctx, c.dead)
	groups := pipe.XInfoGroups(ctx, c.stream)
	_, _ = pipe.Exec(ctx)
	if v, err := n.Result(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.length, prometheus.GaugeValue, float64(v))
	}
	if v, err := d.Result(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.deadLen, prometheus.GaugeValue, float64(v))
	}
	if gs, err := groups.Result(); err == nil {
		for _, g := range gs {
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(g.Pending), g.Name)
			if g.Lag >= 0 {
				ch <- prometheus.MustNewConstMetric(c.lagDesc, prometheus.GaugeValue, float64(g.Lag), g.Name)
			}
		}
	}
}
