package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/store"
)

// Consumer groups of the events stream.
const (
	GroupArchive    = "archive"
	GroupTelematics = "telematics"
	GroupAlerts     = "alerts"
)

// trackingStore is what the pipeline needs of the store.
type trackingStore interface {
	ArchiveRawEvents(ctx context.Context, evs []store.RawEvent) (int, error)
	RecordFixes(ctx context.Context, in []store.FixInput, rules store.Rules) (store.RecordResult, error)
	RecordLocoNavAlerts(ctx context.Context, in []store.LocoNavAlert) ([]store.Alert, error)
}

// Pipeline turns stream messages into stored state. Its handlers are the
// consumer groups' work; replay calls them directly.
type Pipeline struct {
	Store    trackingStore
	Parser   *loconav.Parser
	Rules    store.Rules
	Notifier *notify.Notifier
	Logger   *slog.Logger

	unparsable prometheus.Counter
	fixes      *prometheus.CounterVec
}

// NewPipeline returns a pipeline registering its metrics with reg.
func NewPipeline(st trackingStore, parser *loconav.Parser, rules store.Rules, n *notify.Notifier, logger *slog.Logger, reg prometheus.Registerer) *Pipeline {
	p := &Pipeline{Store: st, Parser: parser, Rules: rules, Notifier: n, Logger: logger,
		unparsable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchtower_ingest_unparsable_total", Help: "Stream messages no parser could read (kept in raw_events).",
		}),
		fixes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_ingest_fixes_total", Help: "GPS fixes by outcome: stored, duplicate, rejected.",
		}, []string{"outcome"}),
	}
	reg.MustRegister(p.unparsable, p.fixes)
	return p
}

func (p *Pipeline) parse(m Message) (loconav.Event, bool) {
	ev, err := ParseMessage(p.Parser, m)
	if err != nil {
		// The webhook checked it before accepting it, so this is a parser
		// change since: the raw event is archived for a replay once fixed.
		p.unparsable.Inc()
		p.Logger.Error("unparsable stream message", "stream_id", m.ID, "family", m.Family, "err", err)
		return loconav.Event{}, false
	}
	return ev, true
}

// Archive stores every message byte for byte in raw_events.
func (p *Pipeline) Archive(ctx context.Context, msgs []Message) error {
	evs := make([]store.RawEvent, len(msgs))
	for i, m := range msgs {
		evs[i] = store.RawEvent{StreamID: m.ID, Source: m.Source, Family: m.Family, ReceivedAt: m.ReceivedAt, Body: m.Body}
		if evs[i].ReceivedAt.IsZero() {
			evs[i].ReceivedAt = time.Now()
		}
		// Best effort: the columns beside the body are for searching.
		if ev, err := ParseMessage(p.Parser, m); err == nil {
			evs[i].Kind, evs[i].TruckNumber = ev.Kind, ev.TruckNumber
			if !ev.Time.IsZero() {
				t := ev.Time
				evs[i].EventTime = &t
			}
		}
	}
	_, err := p.Store.ArchiveRawEvents(ctx, evs)
	return err
}

// Telematics records the fixes of a batch: positions, current positions,
// geofence visits and rule alerts.
func (p *Pipeline) Telematics(ctx context.Context, msgs []Message) error {
	fixes := make([]store.FixInput, 0, len(msgs))
	noFix := 0
	for _, m := range msgs {
		if m.Family == loconav.FamilyAlert {
			continue
		}
		ev, ok := p.parse(m)
		if !ok {
			continue
		}
		if ev.Point == nil {
			noFix++ // a tracker without a GPS fix: archived, not a position
			continue
		}
		fixes = append(fixes, store.FixInput{TruckNumber: ev.TruckNumber, VehicleNumber: ev.VehicleNumber, Source: m.Source,
			ReceivedAt: m.ReceivedAt, StreamID: m.ID, Fix: store.Fix{Point: *ev.Point, At: ev.Time, SpeedKmh: ev.SpeedKmh, Heading: ev.Heading, Ignition: ev.Ignition}})
	}
	if len(fixes) == 0 {
		p.fixes.WithLabelValues("rejected").Add(float64(noFix))
		return nil
	}
	ctx, span := tracer().Start(ctx, "fold", trace.WithAttributes(attribute.Int("watchtower.fixes", len(fixes))))
	defer span.End()
	res, err := p.Store.RecordFixes(ctx, fixes, p.Rules)
	if err != nil {
		span.RecordError(err)
		return err
	}
	span.SetAttributes(attribute.Int("watchtower.stored", res.Stored), attribute.Int("watchtower.duplicates", res.Duplicates),
		attribute.Int("watchtower.alerts", len(res.Alerts)), attribute.Int("watchtower.trip_events", len(res.TripEvents)))
	p.fixes.WithLabelValues("stored").Add(float64(res.Stored))
	p.fixes.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	p.fixes.WithLabelValues("rejected").Add(float64(res.Rejected + noFix))
	p.Notifier.PublishPositions(ctx, res.Positions)
	p.Notifier.Publish(ctx, res.Alerts)
	// With Rules.Follow, the fold followed the trips of the trucks whose
	// visits it changed; ETAs and delays that only need time to pass are
	// the follow-trips job's.
	p.Notifier.PublishTripEvents(ctx, res.TripEvents)
	if res.FollowErr != nil {
		p.Logger.Warn("trips not followed; the follow-trips job will", "trucks", len(res.Changed), "err", res.FollowErr)
	}
	return nil
}

// Alerts records LocoNav's alerts.
func (p *Pipeline) Alerts(ctx context.Context, msgs []Message) error {
	var in []store.LocoNavAlert
	for _, m := range msgs {
		if m.Family != loconav.FamilyAlert {
			continue
		}
		ev, ok := p.parse(m)
		if !ok {
			continue
		}
		in = append(in, store.LocoNavAlert{AlertID: ev.AlertID, Kind: ev.Kind, TruckNumber: ev.TruckNumber,
			VehicleNumber: ev.VehicleNumber, StartedAt: ev.Time, EndedAt: ev.EndTime, Position: ev.Point,
			PolygonID: ev.PolygonID, EventKey: ev.EventKey, SpeedKmh: ev.SpeedKmh})
	}
	if len(in) == 0 {
		return nil
	}
	created, err := p.Store.RecordLocoNavAlerts(ctx, in)
	if err != nil {
		return err
	}
	p.Notifier.Publish(ctx, created)
	return nil
}
