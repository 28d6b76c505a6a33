package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchtower-fleet/watchtower/ingest/loconav"
)

// FamilyLastKnown is the Family of a fix read from LocoNav's last_known API
// by the poller, as opposed to one pushed to the webhook.
const FamilyLastKnown = "last_known"

// sourcePoll is the Source of events the poller fetched.
const sourcePoll = "poll"

// LocoNavError is a failed LocoNav call (see loconav.Error).
type LocoNavError = loconav.Error

// Vehicle is a vehicle as LocoNav lists it.
type Vehicle = loconav.Vehicle

// LocoNavClient is LocoNav's REST client as the poller uses it: positions
// come back as stream Events.
type LocoNavClient struct {
	*loconav.Client
}

// NewLocoNavClient returns a client for the API at baseURL authenticating
// with token; hc may be nil for http.DefaultClient.
func NewLocoNavClient(baseURL, token string, hc *http.Client, logger *slog.Logger) *LocoNavClient {
	return &LocoNavClient{loconav.NewClient(baseURL, token, hc, logger)}
}

// Collectors returns the client's metrics.
func (c *LocoNavClient) Collectors() []prometheus.Collector { return c.Client.Collectors() }

// LastKnown returns the last known fix of each vehicle in uuids as Events.
func (c *LocoNavClient) LastKnown(ctx context.Context, uuids []string) ([]Event, error) {
	fixes, err := c.Client.LastKnown(ctx, uuids)
	if err != nil {
		return nil, err
	}
	evs := make([]Event, 0, len(fixes))
	for _, f := range fixes {
		evs = append(evs, eventOf(f))
	}
	return evs, nil
}

func eventOf(f loconav.LastKnownFix) Event {
	return Event{Source: sourcePoll, Family: FamilyLastKnown, Kind: KindLocation, Raw: f.Raw,
		VehicleNumber: f.VehicleNumber, TruckNumber: f.TruckNumber, Time: f.Time, Point: f.Point,
		SpeedKmh: f.SpeedKmh, Heading: f.Heading, Ignition: f.Ignition}
}

// ParseLastKnown converts one value of a last_known answer into an Event;
// the stream consumer re-parses stored raw values with it. Errors are
// *PayloadError naming the field.
func ParseLastKnown(raw json.RawMessage) (Event, error) {
	f, err := loconav.ParseLastKnown(raw)
	if err != nil {
		var fe *loconav.FieldError
		if errors.As(err, &fe) {
			return Event{}, &PayloadError{Index: -1, Field: fe.Field, Problem: fe.Problem}
		}
		return Event{}, err
	}
	return eventOf(f), nil
}
