package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/live"
	"github.com/watchtower-fleet/watchtower/store"
)

// maxLen caps the notifications stream (approximately): readers follow it
// as it is written, so it keeps a backlog, not a history.
const maxLen = 100_000

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

// New returns a notifier writing to stream (Stream in production).
func New(rdb redis.UniversalClient, stream string, st alertOutbox, logger *slog.Logger) *Notifier {
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
		pipe.XAdd(ctx, n.add(AlertOf(a)))
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
		pipe.XAdd(ctx, n.add(TripOf(e)))
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
	if err := n.rdb.XAdd(ctx, n.add(Notification{Type: TypeNotice, Kind: kind, Text: text, At: time.Now()})).Err(); err != nil {
		n.logger.Warn("notice not published", "kind", kind, "err", err)
	}
}

// add is the XADD of one notification, the stream kept to about maxLen
// entries.
func (n *Notifier) add(x Notification) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: n.stream, MaxLen: maxLen, Approx: true, Values: x.Values()}
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
