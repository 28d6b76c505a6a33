// Package live carries what the fold stores, as it stores it, to whoever
// watches: positions, trip events and alerts go out on a Redis pub/sub
// channel, and every replica's Hub fans them out to its stream clients. A
// client connected to any replica sees every event; a client too slow to
// keep up is dropped rather than buffered without end.
package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Channel is the production pub/sub channel.
const Channel = "watchtower:live"

// Event types.
const (
	TypePosition = "position"
	TypeTrip     = "trip"
	TypeAlert    = "alert"
)

// Event is one thing that happened, as the streams send it.
type Event struct {
	Type  string    `json:"type"` // position, trip or alert
	Truck string    `json:"truck"`
	Trip  string    `json:"trip,omitempty"` // trip events: the trip's id
	At    time.Time `json:"at"`             // the fix's, the event's or the alert's time
	// Positions.
	Lat      *float64 `json:"lat,omitempty"`
	Lng      *float64 `json:"lng,omitempty"`
	SpeedKmh *float64 `json:"speed_kmh,omitempty"`
	Heading  *float64 `json:"heading_deg,omitempty"`
	Ignition *bool    `json:"ignition,omitempty"`
	// Trip events and alerts.
	Kind     string `json:"kind,omitempty"`
	Place    string `json:"place,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Severity string `json:"severity,omitempty"`
	// CorrelationID is the Redis stream id of the webhook that brought a
	// position, so one id follows it from LocoNav to the client.
	CorrelationID string `json:"correlation_id,omitempty"`
	// PublishedAt is when the fold published it, for delivery latency.
	PublishedAt time.Time `json:"published_at"`
}

// Publisher sends events on the channel.
type Publisher struct {
	rdb     redis.UniversalClient
	channel string
	logger  *slog.Logger
}

// NewPublisher publishes on channel (Channel in production).
func NewPublisher(rdb redis.UniversalClient, channel string, logger *slog.Logger) *Publisher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{rdb: rdb, channel: channel, logger: logger}
}

// maxMessage is how many events one pub/sub message carries.
const maxMessage = 500

// Publish sends evs, a batch to a message. A failure is logged, not
// returned: the events are stored, and live watchers are told the next.
func (p *Publisher) Publish(ctx context.Context, evs []Event) {
	if p == nil || len(evs) == 0 {
		return
	}
	now := time.Now()
	for i := range evs {
		evs[i].PublishedAt = now
	}
	for start := 0; start < len(evs); start += maxMessage {
		b, err := json.Marshal(evs[start:min(start+maxMessage, len(evs))])
		if err != nil {
			p.logger.Warn("live events not encoded", "err", err)
			return
		}
		if err := p.rdb.Publish(ctx, p.channel, b).Err(); err != nil {
			p.logger.Warn("live events not published", "events", len(evs), "err", err)
			return
		}
	}
}

// Filter is what a subscriber wants: the events of some trucks (all when
// Trucks is nil), and trip events of one trip only when Trip is set.
type Filter struct {
	Trucks []string
	Trip   string
}

// Msg is one event as delivered: shared by every subscriber it goes to,
// so a queue holds pointers, and encoded once for all of them.
type Msg struct {
	Event Event
	once  sync.Once
	raw   []byte
}

// JSON is the event encoded, computed once.
func (m *Msg) JSON() []byte {
	m.once.Do(func() { m.raw, _ = json.Marshal(m.Event) })
	return m.raw
}

// Sub is one subscriber. Read C until Gone is closed.
type Sub struct {
	C    chan *Msg
	gone chan struct{}
	// Dropped is set when the hub dropped the subscriber for being slow.
	dropped atomic.Bool
	once    sync.Once
	filter  Filter
	hub     *Hub
}

// Gone is closed when the subscriber is dropped or closed.
func (s *Sub) Gone() <-chan struct{} { return s.gone }

// Dropped reports whether the hub dropped it for falling behind.
func (s *Sub) Dropped() bool { return s.dropped.Load() }

// Close unsubscribes.
func (s *Sub) Close() { s.hub.remove(s) }

// Hub fans the channel's events out to this replica's subscribers.
type Hub struct {
	rdb     redis.UniversalClient
	channel string
	logger  *slog.Logger
	// Buffer is each subscriber's queue, in events; a subscriber whose
	// queue is full when an event comes is dropped. It holds pointers to
	// shared messages: 1,024 cost 8 KiB a subscriber.
	Buffer int

	mu      sync.RWMutex
	all     map[*Sub]struct{}
	byTruck map[string]map[*Sub]struct{}
	ready   chan struct{}
	once    sync.Once

	subs, delivered, dropped atomic.Int64
}

// NewHub returns a hub for channel; Run it.
func NewHub(rdb redis.UniversalClient, channel string, logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{rdb: rdb, channel: channel, logger: logger, Buffer: 1024,
		all: map[*Sub]struct{}{}, byTruck: map[string]map[*Sub]struct{}{}, ready: make(chan struct{})}
}

// Ready is closed once the hub is subscribed.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Stats are the hub's counts: subscribers now, events delivered and
// subscribers dropped for being slow since it started.
func (h *Hub) Stats() (subscribers int, delivered, dropped int64) {
	return int(h.subs.Load()), h.delivered.Load(), h.dropped.Load()
}

// Subscribe adds a subscriber.
func (h *Hub) Subscribe(f Filter) *Sub {
	s := &Sub{C: make(chan *Msg, h.Buffer), gone: make(chan struct{}), filter: f, hub: h}
	h.subs.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.Trucks == nil {
		h.all[s] = struct{}{}
		return s
	}
	for _, t := range f.Trucks {
		m := h.byTruck[t]
		if m == nil {
			m = map[*Sub]struct{}{}
			h.byTruck[t] = m
		}
		m[s] = struct{}{}
	}
	return s
}

func (h *Hub) remove(s *Sub) {
	h.mu.Lock()
	delete(h.all, s)
	for _, t := range s.filter.Trucks {
		if m := h.byTruck[t]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(h.byTruck, t)
			}
		}
	}
	h.mu.Unlock()
	s.once.Do(func() {
		h.subs.Add(-1)
		close(s.gone)
	})
}

// Run subscribes to the channel and fans out until ctx ends. A Redis that
// is not there yet is waited for; go-redis resubscribes after a lost
// connection by itself.
func (h *Hub) Run(ctx context.Context) error {
	ps := h.rdb.Subscribe(ctx, h.channel)
	defer ps.Close()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		_, err := ps.Receive(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		h.logger.Warn("live streams wait for Redis", "channel", h.channel, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	h.once.Do(func() { close(h.ready) })
	ch := ps.Channel(redis.WithChannelSize(1000))
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			var evs []Event
			if err := json.Unmarshal([]byte(m.Payload), &evs); err != nil {
				h.logger.Warn("live message not understood", "err", err)
				continue
			}
			h.Deliver(evs)
		}
	}
}

// Deliver hands events to the subscribers that want them, dropping any
// whose queue is full.
func (h *Hub) Deliver(evs []Event) {
	var slow []*Sub
	h.mu.RLock()
	for i := range evs {
		m := &Msg{Event: evs[i]}
		for s := range h.all {
			if s.wants(m.Event) && !s.offer(m) {
				slow = append(slow, s)
			}
		}
		for s := range h.byTruck[m.Event.Truck] {
			if s.wants(m.Event) && !s.offer(m) {
				slow = append(slow, s)
			}
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		if !s.dropped.Swap(true) {
			h.dropped.Add(1)
			h.remove(s)
		}
	}
}

func (s *Sub) wants(e Event) bool {
	return s.filter.Trip == "" || e.Type != TypeTrip || e.Trip == s.filter.Trip
}

func (s *Sub) offer(m *Msg) bool {
	if s.dropped.Load() {
		return true
	}
	select {
	case s.C <- m:
		s.hub.delivered.Add(1)
		return true
	default:
		return false
	}
}
