package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/watchtower-fleet/watchtower/ingest/live"
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
	Parser   *Parser
	Rules    store.Rules
	Notifier *Notifier
	Logger   *slog.Logger

	unparsable prometheus.Counter
	fixes      *prometheus.CounterVec
}

// NewPipeline returns a pipeline registering its metrics with reg.
func NewPipeline(st trackingStore, parser *Parser, rules store.Rules, n *Notifier, logger *slog.Logger, reg prometheus.Registerer) *Pipeline {
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

// ParseMessage reads a stream message with the parser for its family.
func (p *Parser) ParseMessage(m Message) (Event, error) {
	var ev Event
	var err error
	switch m.Family {
	case FamilyLocation, FamilyAlert:
		ev, err = p.Parse(m.Body, m.Family)
	case FamilyLastKnown:
		ev, err = ParseLastKnown(m.Body)
	default:
		return Event{}, fmt.Errorf("unknown family %q", m.Family)
	}
	ev.Source = m.Source
	return ev, err
}

func (p *Pipeline) parse(m Message) (Event, bool) {
	ev, err := p.Parser.ParseMessage(m)
	if err != nil {
		// The webhook checked it before accepting it, so this is a parser
		// change since: the raw event is archived for a replay once fixed.
		p.unparsable.Inc()
		p.Logger.Error("unparsable stream message", "stream_id", m.ID, "family", m.Family, "err", err)
		return Event{}, false
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
		if ev, err := p.Parser.ParseMessage(m); err == nil {
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
		if m.Family == FamilyAlert {
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
		if m.Family != FamilyAlert {
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

// alertOutbox is what the notifier needs of the store.
type alertOutbox interface {
	UnpublishedAlerts(ctx context.Context, olderThan time.Time, limit int) ([]store.Alert, error)
	MarkAlertsPublished(ctx context.Context, ids []int64) error
}

// Notifier puts new alerts on the notifications stream for the Slack side.
// The alerts table is its outbox: an alert is marked published only once it
// is in the stream, and Sweep publishes whatever a failure left behind.
type Notifier struct {
	rdb    redis.UniversalClient
	stream string
	store  alertOutbox
	logger *slog.Logger
	// Live, when set, also tells live watchers (the API's streams) of
	// positions, alerts and trip events as they are stored.
	Live *live.Publisher
}

// PublishPositions tells live watchers of fixes just stored.
func (n *Notifier) PublishPositions(ctx context.Context, fixes []store.FixInput) {
	if n == nil || n.Live == nil || len(fixes) == 0 {
		return
	}
	evs := make([]live.Event, len(fixes))
	for i, f := range fixes {
		lat, lng := f.Lat, f.Lon
		evs[i] = live.Event{Type: live.TypePosition, Truck: f.TruckNumber, At: f.At, Lat: &lat, Lng: &lng,
			SpeedKmh: f.SpeedKmh, Heading: f.Heading, Ignition: f.Ignition, CorrelationID: f.StreamID}
	}
	n.Live.Publish(ctx, evs)
}

// NewNotifier returns a notifier writing to stream (StreamNotifications in
// production).
func NewNotifier(rdb redis.UniversalClient, stream string, st alertOutbox, logger *slog.Logger) *Notifier {
	return &Notifier{rdb: rdb, stream: stream, store: st, logger: logger}
}

// Publish adds one notification per alert. Failures are logged, not
// returned: the alerts are stored, and Sweep retries them.
func (n *Notifier) Publish(ctx context.Context, alerts []store.Alert) {
	if n == nil || len(alerts) == 0 {
		return
	}
	if n.Live != nil {
		evs := make([]live.Event, len(alerts))
		for i, a := range alerts {
			evs[i] = live.Event{Type: live.TypeAlert, Truck: a.TruckNumber, At: a.StartedAt, Kind: a.Kind, Severity: a.Severity, Place: a.LocationCode}
		}
		n.Live.Publish(ctx, evs)
	}
	pipe := n.rdb.Pipeline()
	for _, a := range alerts {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: n.stream, MaxLen: 100_000, Approx: true, Values: []any{
			"alert_id", strconv.FormatInt(a.ID, 10), "kind", a.Kind, "severity", a.Severity, "truck", a.TruckNumber,
			"location", a.LocationCode, "started_at", a.StartedAt.UTC().Format(time.RFC3339),
		}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		n.logger.Warn("alert notifications not published; the sweeper will retry", "alerts", len(alerts), "err", err)
		return
	}
	ids := make([]int64, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	if err := n.store.MarkAlertsPublished(ctx, ids); err != nil {
		n.logger.Warn("alerts published but not marked; they may be notified twice", "alerts", len(ids), "err", err)
	}
}

// PublishTripEvents adds a notification per trip event, for whoever
// follows the stream as it happens (the console). The alert channel posts
// trip events from their own outbox (store.PostTripEvents), once each, so a
// lost notification here loses nothing there.
func (n *Notifier) PublishTripEvents(ctx context.Context, evs []store.TripEvent) {
	if n == nil || len(evs) == 0 {
		return
	}
	if n.Live != nil {
		out := make([]live.Event, len(evs))
		for i, e := range evs {
			place, _ := e.Details["place"].(string)
			reason, _ := e.Details["reason"].(string)
			out[i] = live.Event{Type: live.TypeTrip, Truck: e.TruckNumber, Trip: e.TripVPCID, At: e.At, Kind: e.Kind, Place: place, Reason: reason}
		}
		n.Live.Publish(ctx, out)
	}
	pipe := n.rdb.Pipeline()
	for _, e := range evs {
		place, _ := e.Details["place"].(string)
		reason, _ := e.Details["reason"].(string)
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: n.stream, MaxLen: 100_000, Approx: true, Values: []any{
			"type", "trip", "trip", e.TripVPCID, "kind", e.Kind, "truck", e.TruckNumber, "location", place,
			"reason", reason, "started_at", e.At.UTC().Format(time.RFC3339),
		}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		n.logger.Warn("trip event notifications not published", "events", len(evs), "err", err)
	}
}

// PublishNotice adds a notice for people (kind "sync": the sheet sync's
// result, for the admins).
func (n *Notifier) PublishNotice(ctx context.Context, kind, text string) {
	if n == nil {
		return
	}
	if err := n.rdb.XAdd(ctx, &redis.XAddArgs{Stream: n.stream, MaxLen: 100_000, Approx: true, Values: []any{
		"type", "notice", "kind", kind, "text", text, "started_at", time.Now().UTC().Format(time.RFC3339),
	}}).Err(); err != nil {
		n.logger.Warn("notice not published", "kind", kind, "err", err)
	}
}

// Sweep publishes alerts stored more than a grace period ago but not yet
// published.
func (n *Notifier) Sweep(ctx context.Context) error {
	alerts, err := n.store.UnpublishedAlerts(ctx, time.Now().Add(-30*time.Second), 500)
	if err != nil {
		return err
	}
	n.Publish(ctx, alerts)
	return nil
}
