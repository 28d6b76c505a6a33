package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchtower-fleet/watchtower/loconav"
)

// LocoNav is what the poller needs of LocoNav's API; *loconav.Client has it.
type LocoNav interface {
	Vehicles(ctx context.Context) ([]loconav.Vehicle, error)
	LastKnown(ctx context.Context, uuids []string) ([]loconav.LastKnownFix, error)
}

// eventPublisher is what the poller needs of the stream: publish events,
// returning their ids.
type eventPublisher interface {
	Publish(ctx context.Context, evs []loconav.Event) ([]string, error)
}

// Poller defaults.
const (
	DefaultVehicleRefresh = time.Hour
	DefaultPollBatchSize  = 100
)

// Poller asks LocoNav for every vehicle's last known fix at an interval and
// publishes those with a position. It is the fallback for webhooks that do
// not arrive; duplicates of webhook fixes are expected and folded later.
type Poller struct {
	VehicleRefresh time.Duration    // how old the vehicle list may get
	BatchSize      int              // vehicle uuids per last_known call
	Now            func() time.Time // injected for tests

	client LocoNav
	pub    eventPublisher
	logger *slog.Logger

	mu         sync.Mutex // one poll at a time; guards the vehicle cache
	vehicles   []loconav.Vehicle
	vehiclesAt time.Time

	polls     *prometheus.CounterVec
	published prometheus.Counter
}

// NewPoller returns a poller with the default refresh and batch size; set
// the fields before the first poll to change them.
func NewPoller(client LocoNav, pub eventPublisher, logger *slog.Logger) *Poller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Poller{
		VehicleRefresh: DefaultVehicleRefresh,
		BatchSize:      DefaultPollBatchSize,
		client:         client,
		pub:            pub,
		logger:         logger,
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_loconav_polls_total",
			Help: "LocoNav last_known polls by result (ok or error).",
		}, []string{"result"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchtower_loconav_fixes_published_total",
			Help: "Polled LocoNav fixes published to the stream.",
		}),
	}
	p.polls.WithLabelValues("ok")
	p.polls.WithLabelValues("error")
	return p
}

// Collectors returns the poller's metrics: polls by result and fixes
// published. Rate-limit waits are the client's (loconav.Client.Collectors),
// registered beside these: the client may serve more than the poller.
func (p *Poller) Collectors() []prometheus.Collector {
	return []prometheus.Collector{p.polls, p.published}
}

// PollOnce refreshes the vehicle list if stale, fetches last known fixes in
// batches and publishes those with a position. A failed batch does not stop
// the others: what could be fetched is published, and the errors are
// returned together.
func (p *Poller) PollOnce(ctx context.Context) (published int, err error) {
	if p.client == nil || p.pub == nil {
		return 0, errors.New("ingest: poller needs a LocoNav client and a publisher")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.now()
	defer func() {
		result := "ok"
		switch {
		case err != nil && ctx.Err() != nil:
			return // stopped mid-poll: a shutdown, not a failed poll
		case err != nil:
			result = "error"
		}
		p.polls.WithLabelValues(result).Inc()
	}()

	vehicles, err := p.vehicleList(ctx)
	if err != nil {
		return 0, err
	}
	uuids := make([]string, 0, len(vehicles))
	for _, v := range vehicles {
		if v.UUID != "" {
			uuids = append(uuids, v.UUID)
		}
	}
	batch := p.BatchSize
	if batch <= 0 {
		batch = DefaultPollBatchSize
	}
	var (
		errs          []error
		fixes, noFix  int
		failedBatches int
	)
	for lo := 0; lo < len(uuids); lo += batch {
		chunk := uuids[lo:min(lo+batch, len(uuids))]
		got, err := p.client.LastKnown(ctx, chunk)
		if err != nil {
			failedBatches++
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fixes += len(got)
		var withPoint []loconav.Event
		for _, f := range got {
			if f.Point == nil {
				noFix++ // 0,0: a tracker without a fix; nothing to place
				continue
			}
			withPoint = append(withPoint, f.Event())
		}
		if len(withPoint) == 0 {
			continue
		}
		if _, err := p.pub.Publish(ctx, withPoint); err != nil {
			failedBatches++
			errs = append(errs, fmt.Errorf("ingest: publish %d polled fixes: %w", len(withPoint), err))
			continue
		}
		published += len(withPoint)
		p.published.Add(float64(len(withPoint)))
	}
	p.logger.InfoContext(ctx, "loconav poll done",
		"vehicles", len(uuids), "fixes", fixes, "published", published, "no_fix", noFix,
		"failed_batches", failedBatches, "duration", p.now().Sub(start))
	return published, errors.Join(errs...)
}

// vehicleList returns the cached vehicle list, refreshing it when stale. A
// failed refresh falls back to the stale list: vehicles rarely change, and
// fixes for the known ones are worth more than none.
func (p *Poller) vehicleList(ctx context.Context) ([]loconav.Vehicle, error) {
	refresh := p.VehicleRefresh
	if refresh <= 0 {
		refresh = DefaultVehicleRefresh
	}
	if p.vehicles != nil && p.now().Sub(p.vehiclesAt) < refresh {
		return p.vehicles, nil
	}
	vs, err := p.client.Vehicles(ctx)
	if err != nil {
		if p.vehicles != nil {
			p.logger.WarnContext(ctx, "loconav vehicle refresh failed, using the old list",
				"vehicles", len(p.vehicles), "age", p.now().Sub(p.vehiclesAt), "err", err)
			return p.vehicles, nil
		}
		return nil, fmt.Errorf("ingest: list LocoNav vehicles: %w", err)
	}
	if vs == nil {
		vs = []loconav.Vehicle{}
	}
	p.vehicles, p.vehiclesAt = vs, p.now()
	p.logger.InfoContext(ctx, "loconav vehicles refreshed", "vehicles", len(vs))
	return vs, nil
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}
