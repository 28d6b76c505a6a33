package loconav

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TripPlace is a trip's source or destination: LocoNav's geofence when it
// has one, else coordinates and an address.
type TripPlace struct {
	Name       string
	GeofenceID int64 // 0 when LocoNav does not know the place
	Lat, Lon   float64
	Address    string
}

func (p TripPlace) wire() map[string]any {
	if p.GeofenceID != 0 {
		return map[string]any{"geofenceId": p.GeofenceID}
	}
	return map[string]any{"coordinates": strconv.FormatFloat(p.Lat, 'f', 6, 64) + "," + strconv.FormatFloat(p.Lon, 'f', 6, 64), "address": p.Address}
}

// TripRequest is a trip to create in LocoNav.
type TripRequest struct {
	VehicleNumber string // as LocoNav spells the plate
	// UniqueID is the fleet's own trip id: LocoNav's idempotency key.
	UniqueID      string
	ShouldStartAt time.Time
	Source        TripPlace
	Destination   TripPlace
}

// TripRef is a trip LocoNav holds.
type TripRef struct {
	ID       int64  `json:"id"`
	UniqueID string `json:"uniqueId"`
}

// TripState is a trip as LocoNav lists it.
type TripState struct {
	ID            int64  `json:"id"`
	UniqueID      string `json:"uniqueId"`
	Status        string `json:"status"` // initialized, ongoing, delayed, unsuccessful, completed, trashed
	VehicleNumber string `json:"vehicleNumber"`
}

// createAttempts bounds CreateTrip's tries.
const createAttempts = 3

// CreateTrip creates a trip, once. POST /trips is not idempotent on the
// wire, so it is never repeated blindly: before each try, and after an
// answer that says the uniqueId is taken, the trip is looked up by its
// uniqueId, and an existing one is returned instead of a second.
func (c *Client) CreateTrip(ctx context.Context, r TripRequest) (TripRef, error) {
	if r.UniqueID == "" || r.VehicleNumber == "" {
		return TripRef{}, errors.New("loconav: POST /trips: a vehicle number and a uniqueId are required")
	}
	body := map[string]any{"trip": map[string]any{
		"vehicle":                map[string]any{"number": r.VehicleNumber},
		"uniqueId":               r.UniqueID,
		"shouldStartAt":          r.ShouldStartAt.Unix(),
		"sourceName":             r.Source.Name,
		"source":                 r.Source.wire(),
		"destinationName":        r.Destination.Name,
		"destination":            r.Destination.wire(),
		"tripDelayAlertsEnabled": true,
	}}
	var lastErr error
	for attempt := 1; attempt <= createAttempts; attempt++ {
		if existing, ok, err := c.tripByUniqueID(ctx, r.UniqueID); err != nil {
			lastErr = err
		} else if ok {
			return existing, nil
		}
		var ref TripRef
		err := c.doN(ctx, 1, http.MethodPost, "/trips", nil, body, &ref)
		if err == nil {
			if ref.ID == 0 {
				return TripRef{}, fmt.Errorf("loconav: POST /trips: the answer has no trip id")
			}
			return ref, nil
		}
		lastErr = err
		var le *Error
		switch {
		case ctx.Err() != nil:
			return TripRef{}, err
		case errors.As(err, &le) && le.Status >= 400 && le.Status < 500 && le.Status != http.StatusTooManyRequests && le.Status != http.StatusConflict &&
			!strings.Contains(strings.ToLower(le.Message), "unique"):
			return TripRef{}, err // refused for what it is: retrying changes nothing
		}
		if err := c.backoff(ctx, http.MethodPost, "/trips", attempt, 0, err); err != nil {
			return TripRef{}, err
		}
	}
	return TripRef{}, lastErr
}

// tripByUniqueID looks a trip up by the fleet's id. LocoNav's documented
// list takes filters as query parameters; uniqueId is assumed to be one,
// and the answer is checked, so a server that ignores the filter can only
// make the lookup miss, never match the wrong trip.
func (c *Client) tripByUniqueID(ctx context.Context, uniqueID string) (TripRef, bool, error) {
	q := url.Values{"uniqueId": {uniqueID}, "page": {"1"}, "perPage": {"10"}}
	var data struct {
		Trips []TripState `json:"trips"`
	}
	if err := c.do(ctx, http.MethodGet, "/trips", q, nil, &data); err != nil {
		return TripRef{}, false, err
	}
	for _, t := range data.Trips {
		if t.UniqueID == uniqueID && t.Status != "trashed" {
			return TripRef{ID: t.ID, UniqueID: t.UniqueID}, true, nil
		}
	}
	return TripRef{}, false, nil
}

// TrackURL returns a trip's public live tracking link.
func (c *Client) TrackURL(ctx context.Context, tripID int64) (string, error) {
	var data struct {
		URL string `json:"url"`
	}
	path := "/trips/" + strconv.FormatInt(tripID, 10) + "/track_url"
	if err := c.do(ctx, http.MethodGet, path, url.Values{"allCheckPoints": {"true"}}, nil, &data); err != nil {
		return "", err
	}
	if u, err := url.Parse(data.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("loconav: GET %s: %q is not a link", path, data.URL)
	}
	return data.URL, nil
}

// EndTrip ends a trip in LocoNav (PUT with action END_TRIP).
func (c *Client) EndTrip(ctx context.Context, tripID int64) error {
	return c.do(ctx, http.MethodPut, "/trips/"+strconv.FormatInt(tripID, 10), nil, map[string]any{"action": "END_TRIP"}, nil)
}

// DeleteTrip removes a trip from LocoNav (its "trashed" state).
func (c *Client) DeleteTrip(ctx context.Context, tripID int64) error {
	return c.do(ctx, http.MethodDelete, "/trips/"+strconv.FormatInt(tripID, 10), nil, nil, nil)
}
