package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// HandlerFunc processes a batch of messages. It must be idempotent: after a
// crash the same messages are delivered again. An error fails the whole
// batch; the consumer then retries transient errors as they are and splits
// the batch to find the message at fault otherwise.
type HandlerFunc func(ctx context.Context, msgs []Message) error

// ConsumerConfig tunes a Consumer. Zero values take the defaults.
type ConsumerConfig struct {
	Stream        string        // default StreamEvents
	DeadStream    string        // default StreamDead
	Group         string        // required: archive, telematics, alerts
	Name          string        // consumer name; default host-pid-random
	BatchSize     int64         // default 500
	Block         time.Duration // XREADGROUP block; default 1s
	ClaimIdle     time.Duration // reclaim others' messages idle this long; default 30s
	ClaimEvery    time.Duration // how often to look; default 10s
	MaxDeliveries int64         // dead-letter after this many; default 5
}

func (c *ConsumerConfig) defaults() {
	if c.Stream == "" {
		c.Stream = StreamEvents
	}
	if c.DeadStream == "" {
		c.DeadStream = StreamDead
	}
	if c.Name == "" {
		host, _ := os.Hostname()
		c.Name = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.Uint32()&0xffff)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.Block <= 0 {
		c.Block = time.Second
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.ClaimEvery <= 0 {
		c.ClaimEvery = 10 * time.Second
	}
	if c.MaxDeliveries <= 0 {
		c.MaxDeliveries = 5
	}
}

// ConsumerMetrics are shared by every consumer of a process, labelled by
// group.
type ConsumerMetrics struct {
	processed   *prometheus.CounterVec
	failures    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	reclaimed   *prometheus.CounterVec
	lag         *prometheus.HistogramVec
	batch       *prometheus.HistogramVec
}

// NewConsumerMetrics registers the consumer metrics with reg.
func NewConsumerMetrics(reg prometheus.Registerer) *ConsumerMetrics {
	m := &ConsumerMetrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_stream_messages_processed_total", Help: "Stream messages processed and acknowledged, by consumer group.",
		}, []string{"group"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_stream_failures_total", Help: "Failed handler runs, by consumer group and kind (transient, permanent).",
		}, []string{"group", "kind"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_stream_dead_letters_total", Help: "Messages moved to the dead-letter stream, by consumer group.",
		}, []string{"group"}),
		reclaimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_stream_reclaimed_total", Help: "Messages reclaimed from stalled consumers, by consumer group.",
		}, []string{"group"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "watchtower_stream_lag_seconds", Help: "From webhook accepted to processed, by consumer group.",
			// Fine between 2 and 150 ms, where the end-to-end target (p99 <
			// 100 ms) is judged.
			Buckets: []float64{.002, .005, .01, .015, .02, .03, .04, .05, .06, .07, .08, .09, .1, .125, .15, .2, .3, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"group"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "watchtower_stream_batch_seconds", Help: "Handler time per batch, by consumer group.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"group"}),
	}
	reg.MustRegister(m.processed, m.failures, m.deadLetters, m.reclaimed, m.lag, m.batch)
	return m
}

// Consumer reads one consumer group of the events stream and hands batches
// to its handler, acknowledging only what the handler finished. Several
// processes may run the same group: Redis shares the messages among them,
// and messages a crashed consumer left unacknowledged are reclaimed after
// ClaimIdle.
type Consumer struct {
	cfg     ConsumerConfig
	rdb     redis.UniversalClient
	handle  HandlerFunc
	logger  *slog.Logger
	metrics *ConsumerMetrics

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}

	// lastErr remembers why a message failed, for its dead letter. Only
	// the consumer's own goroutine touches it.
	lastErr map[string]string
}

// maxRemembered bounds lastErr: a flood of failures must not grow memory.
const maxRemembered = 10_000

// NewConsumer returns a consumer; Run (or Start) runs it.
func NewConsumer(rdb redis.UniversalClient, cfg ConsumerConfig, handle HandlerFunc, logger *slog.Logger, metrics *ConsumerMetrics) *Consumer {
	cfg.defaults()
	return &Consumer{cfg: cfg, rdb: rdb, handle: handle, metrics: metrics, lastErr: map[string]string{},
		logger: logger.With("group", cfg.Group, "consumer", cfg.Name)}
}

// Run creates the group if needed (reading the stream from its start, so
// nothing published before the first deployment is skipped) and consumes
// until ctx ends. It returns once the batch in hand is finished; what it
// did not finish stays pending for a consumer to reclaim.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.createGroup(ctx); err != nil {
		return err
	}
	c.run(ctx)
	return nil
}

// Start creates the group as Run does and runs the consumer in the
// background until Stop or until ctx ends.
func (c *Consumer) Start(ctx context.Context) error {
	if err := c.createGroup(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.mu.Lock()
	c.cancel, c.done = cancel, make(chan struct{})
	c.mu.Unlock()
	go func() {
		defer close(c.done)
		c.run(ctx)
	}()
	return nil
}

func (c *Consumer) createGroup(ctx context.Context) error {
	if c.cfg.Group == "" {
		return errors.New("ingest: consumer needs a group")
	}
	err := c.rdb.XGroupCreateMkStream(ctx, c.cfg.Stream, c.cfg.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("ingest: create group %s: %w", c.cfg.Group, err)
	}
	return nil
}

// Stop stops reading and waits for the batch in hand to finish (or ctx to
// end). Unfinished messages stay pending for a consumer to reclaim. It may
// be called more than once.
func (c *Consumer) Stop(ctx context.Context) error {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Consumer) run(ctx context.Context) {
	backoff := newBackoff()
	nextClaim := time.Now()
	for ctx.Err() == nil {
		if time.Now().After(nextClaim) {
			c.reclaim(ctx)
			nextClaim = time.Now().Add(c.cfg.ClaimEvery)
		}
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.cfg.Group, Consumer: c.cfg.Name, Streams: []string{c.cfg.Stream, ">"},
			Count: c.cfg.BatchSize, Block: c.cfg.Block,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				// The stream was deleted under us (a Redis restart without
				// persistence): make the group again.
				_ = c.rdb.XGroupCreateMkStream(ctx, c.cfg.Stream, c.cfg.Group, "0").Err()
			}
			c.logger.Warn("stream read failed", "err", err)
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
		for _, s := range res {
			msgs := make([]Message, len(s.Messages))
			for i, x := range s.Messages {
				msgs[i] = messageFrom(x)
			}
			c.process(ctx, msgs)
		}
	}
}

// process runs the handler on a batch and acknowledges what it finished.
func (c *Consumer) process(ctx context.Context, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	ctx, span := startBatch(ctx, c.cfg.Group, msgs)
	defer span.End()
	backoff := newBackoff()
	for {
		start := time.Now()
		err := c.handle(ctx, msgs)
		if err != nil {
			span.RecordError(err)
		}
		c.metrics.batch.WithLabelValues(c.cfg.Group).Observe(time.Since(start).Seconds())
		if err == nil {
			c.ack(ctx, msgs)
			for _, m := range msgs {
				delete(c.lastErr, m.ID)
			}
			return
		}
		if ctx.Err() != nil {
			return // shutting down: leave them pending
		}
		if !IsTransient(err) {
			c.metrics.failures.WithLabelValues(c.cfg.Group, "permanent").Inc()
			if len(msgs) == 1 {
				// Left pending: it comes back through reclaim, and goes to
				// the dead-letter stream after MaxDeliveries.
				c.logger.Error("message failed", "stream_id", msgs[0].ID, "err", err)
				if len(c.lastErr) < maxRemembered {
					c.lastErr[msgs[0].ID] = err.Error()
				}
				return
			}
			// Find the message at fault: the others go through.
			for i := range msgs {
				c.process(ctx, msgs[i:i+1])
			}
			return
		}
		// A transient failure (Postgres away, a deadlock): retry the same
		// batch without redelivery, so an outage does not count against
		// messages' delivery limit, and keep our claim on them fresh.
		c.metrics.failures.WithLabelValues(c.cfg.Group, "transient").Inc()
		c.logger.Warn("batch failed, retrying", "messages", len(msgs), "err", err)
		backoff.wait(ctx)
		c.touch(ctx, msgs)
	}
}

func (c *Consumer) ack(ctx context.Context, msgs []Message) {
	ids := make([]string, len(msgs))
	now := time.Now()
	for i, m := range msgs {
		ids[i] = m.ID
		if !m.ReceivedAt.IsZero() {
			c.metrics.lag.WithLabelValues(c.cfg.Group).Observe(now.Sub(m.ReceivedAt).Seconds())
		}
	}
	// The handler's work is done and idempotent: an ack lost here only
	// means the batch is done again after reclaim.
	ctx = context.WithoutCancel(ctx)
	if err := c.rdb.XAck(ctx, c.cfg.Stream, c.cfg.Group, ids...).Err(); err != nil {
		c.logger.Warn("ack failed", "messages", len(ids), "err", err)
		return
	}
	c.metrics.processed.WithLabelValues(c.cfg.Group).Add(float64(len(ids)))
}

// touch resets the idle time of messages we are still working on, so that
// no other consumer reclaims them meanwhile.
func (c *Consumer) touch(ctx context.Context, msgs []Message) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	_ = c.rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: c.cfg.Stream, Group: c.cfg.Group,
		Consumer: c.cfg.Name, MinIdle: 0, Messages: ids}).Err()
}

// reclaim takes over messages that other consumers (crashed, or stuck) have
// held longer than ClaimIdle, dead-letters those delivered too often, and
// processes the rest.
func (c *Consumer) reclaim(ctx context.Context) {
	start := "0-0"
	for ctx.Err() == nil {
		xs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: c.cfg.Stream, Group: c.cfg.Group,
			Consumer: c.cfg.Name, MinIdle: c.cfg.ClaimIdle, Start: start, Count: c.cfg.BatchSize}).Result()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, redis.Nil) {
				c.logger.Warn("reclaim failed", "err", err)
			}
			return
		}
		if len(xs) > 0 {
			c.metrics.reclaimed.WithLabelValues(c.cfg.Group).Add(float64(len(xs)))
			c.logger.Info("reclaimed messages", "messages", len(xs))
			c.processReclaimed(ctx, xs)
		}
		if next == "0-0" || next == "" || len(xs) == 0 {
			return
		}
		start = next
	}
}

func (c *Consumer) processReclaimed(ctx context.Context, xs []redis.XMessage) {
	counts := map[string]int64{}
	pend, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: c.cfg.Stream, Group: c.cfg.Group,
		Start: xs[0].ID, End: xs[len(xs)-1].ID, Count: int64(len(xs)) * 2, Consumer: c.cfg.Name}).Result()
	if err == nil {
		for _, p := range pend {
			counts[p.ID] = p.RetryCount
		}
	}
	var live []Message
	for _, x := range xs {
		m := messageFrom(x)
		if n := counts[x.ID]; n > c.cfg.MaxDeliveries {
			why, ok := c.lastErr[x.ID]
			if !ok {
				why = "delivered too many times without being processed (a consumer crashed or stalled on it)"
			}
			delete(c.lastErr, x.ID)
			c.deadLetter(ctx, m, n, why)
			continue
		}
		live = append(live, m)
	}
	c.process(ctx, live)
}

// deadLetter moves a message to the dead-letter stream with why, and
// acknowledges it so it stops blocking nothing and is never lost.
func (c *Consumer) deadLetter(ctx context.Context, m Message, deliveries int64, why string) {
	err := c.rdb.XAdd(ctx, &redis.XAddArgs{Stream: c.cfg.DeadStream, Values: []any{
		"id", m.ID, "group", c.cfg.Group, "error", why, "deliveries", deliveries,
		fieldFamily, m.Family, fieldSource, m.Source, fieldReceived, m.ReceivedAt.UnixMilli(), fieldBody, m.Body,
	}}).Err()
	if err != nil {
		c.logger.Warn("dead-letter failed; will retry on next reclaim", "stream_id", m.ID, "err", err)
		return
	}
	c.rdb.XAck(ctx, c.cfg.Stream, c.cfg.Group, m.ID)
	c.metrics.deadLetters.WithLabelValues(c.cfg.Group).Inc()
	c.logger.Error("message dead-lettered", "stream_id", m.ID, "deliveries", deliveries, "reason", why)
}

// IsTransient reports whether an error is likely to go away by itself: a
// lost connection, a database restarting or overloaded, a deadlock, a
// timeout. Bad data is not transient.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && len(pe.Code) >= 2 {
		switch pe.Code[:2] {
		case "08", "40", "53", "57", "58": // connection, rollback (deadlock), resources, admin shutdown, system
			return true
		}
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "EOF")
}

// backoff is exponential with jitter, from 100 ms to 10 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	jitter := time.Duration(rand.Int64N(int64(b.d/2) + 1))
	t := time.NewTimer(b.d/2 + jitter)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.d = min(b.d*2, 10*time.Second)
}
