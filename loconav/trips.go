package loconav

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LocoNav's trip API, as its Postman collection ("[PROD] Loconav Developer
// APIs", 2024) describes it: POST /trips, PUT and DELETE /trips/{id},
// GET /trips/{id}/track_url and GET /trips, whose filters include uniqueId.

// Trip states, as LocoNav names them.
const (
	TripInitialized  = "initialized"
	TripOngoing      = "ongoing"
	TripDelayed      = "delayed"
	TripUnsuccessful = "unsuccessful"
	TripCompleted    = "completed"
	TripTrashed      = "trashed" // deleted
)

const (
	// createAttempts bounds the POSTs of one CreateTrip.
	createAttempts = 3
	// locoNavTripsPerPage is asked of GET /trips; LocoNav's default is 10.
	locoNavTripsPerPage = 100
	// lookupPerPage is how many trips a lookup by uniqueId reads: one
	// should match, and a server ignoring the filter must not make us walk
	// every trip of the account.
	lookupPerPage = 50
)

// TripPlace is a trip's source or destination: LocoNav's geofence when it
// has one, else coordinates and an address.
type TripPlace struct {
	Name       string
	GeofenceID int64 // 0 when LocoNav does not know the place
	Lat, Lon   float64
	Address    string // LocoNav requires one with coordinates; Name stands in when empty
}

func (p TripPlace) isZero() bool { return p == TripPlace{} }

func (p TripPlace) check(which string) error {
	switch {
	case p.GeofenceID > 0:
		return nil
	case p.GeofenceID < 0:
		return fmt.Errorf("%s geofence id %d is not LocoNav's", which, p.GeofenceID)
	case math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 || (p.Lat == 0 && p.Lon == 0):
		return fmt.Errorf("%s %q has neither a geofence id nor coordinates", which, p.Name)
	case p.Address == "" && p.Name == "":
		return fmt.Errorf("%s at %v,%v has no address", which, p.Lat, p.Lon)
	}
	return nil
}

func (p TripPlace) wire() map[string]any {
	if p.GeofenceID != 0 {
		return map[string]any{"geofenceId": p.GeofenceID}
	}
	addr := p.Address
	if addr == "" {
		addr = p.Name
	}
	return map[string]any{"coordinates": strconv.FormatFloat(p.Lat, 'f', 6, 64) + "," + strconv.FormatFloat(p.Lon, 'f', 6, 64), "address": addr}
}

// TripRequest is a trip to create in LocoNav.
type TripRequest struct {
	VehicleNumber string // as LocoNav spells the plate
	// UniqueID is the fleet's own trip id: LocoNav's idempotency key.
	UniqueID      string
	ShouldStartAt time.Time
	Source        TripPlace
	Destination   TripPlace // optional in LocoNav: the zero value sends none
}

func (r TripRequest) wire() (map[string]any, error) {
	if strings.TrimSpace(r.VehicleNumber) == "" || strings.TrimSpace(r.UniqueID) == "" {
		return nil, errors.New("a vehicle number and a uniqueId are required")
	}
	if r.ShouldStartAt.IsZero() {
		return nil, errors.New("shouldStartAt is required")
	}
	if err := r.Source.check("source"); err != nil {
		return nil, err
	}
	trip := map[string]any{
		"vehicle":                map[string]any{"number": r.VehicleNumber},
		"uniqueId":               r.UniqueID,
		"shouldStartAt":          r.ShouldStartAt.Unix(),
		"sourceName":             r.Source.Name,
		"source":                 r.Source.wire(),
		"tripDelayAlertsEnabled": true,
	}
	if !r.Destination.isZero() {
		if err := r.Destination.check("destination"); err != nil {
			return nil, err
		}
		trip["destinationName"], trip["destination"] = r.Destination.Name, r.Destination.wire()
	}
	return map[string]any{"trip": trip}, nil
}

// TripRef is a trip LocoNav holds.
type TripRef struct {
	ID       int64
	UniqueID string
}

// TripState is a trip as LocoNav lists it.
type TripState struct {
	ID            int64
	UniqueID      string
	Status        string // TripInitialized … TripTrashed (LocoNav's "state")
	VehicleNumber string
	ShouldStartAt time.Time // zero when LocoNav gives none we can read
	CreatedAt     time.Time // zero when LocoNav gives none we can read
}

// TripQuery filters Trips with List Trips' documented parameters; the
// zero value lists every trip. LocoNav has no filter on when a trip last
// changed and lists no such time: to follow trips, ask for the states that
// can still change, or for a window of start times.
type TripQuery struct {
	UniqueID      string
	VehicleNumber string
	States        []string // any of these states
	// From and To are startTime and endTime, epoch seconds, which LocoNav
	// documents only as "start time of the trip": taken to bound when trips
	// are due to start. Zero leaves that end open.
	From, To time.Time
}

func (q TripQuery) values() url.Values {
	v := url.Values{}
	if q.UniqueID != "" {
		v.Set("uniqueId", q.UniqueID)
	}
	if q.VehicleNumber != "" {
		v.Set("vehicleNumber", q.VehicleNumber)
	}
	if len(q.States) > 0 {
		v.Set("states", strings.Join(q.States, ","))
	}
	if !q.From.IsZero() {
		v.Set("startTime", strconv.FormatInt(q.From.Unix(), 10))
	}
	if !q.To.IsZero() {
		v.Set("endTime", strconv.FormatInt(q.To.Unix(), 10))
	}
	return v
}

// CreateTrip creates a trip in LocoNav, once. POST /trips is not
// idempotent on the wire and is never repeated blindly: the trip is looked
// up by its uniqueId first (an earlier call may have made it and lost the
// answer), again before each retry of a POST that failed in a way that may
// have gone through (a timeout, a 5xx, an answer that cannot be read), and
// after LocoNav says the uniqueId is taken. A trip found is returned instead
// of a second one; when the lookup itself fails, nothing more is posted.
func (c *Client) CreateTrip(ctx context.Context, r TripRequest) (TripRef, error) {
	body, err := r.wire()
	if err != nil {
		return TripRef{}, fmt.Errorf("loconav: POST /trips: %w", err)
	}
	if ref, found, err := c.tripByUniqueID(ctx, r.UniqueID); err != nil {
		return TripRef{}, fmt.Errorf("loconav: POST /trips: not sent, as trip %q could not be looked up first: %w", r.UniqueID, err)
	} else if found {
		return ref, nil
	}
	for attempt := 1; ; attempt++ {
		ref, err := c.postTrip(ctx, body, r.UniqueID)
		if err == nil {
			return ref, nil
		}
		out := postOutcome(err)
		switch {
		case out == postRefused || ctx.Err() != nil:
			return TripRef{}, err
		case out == postDuplicate:
			ref, found, lerr := c.tripByUniqueID(ctx, r.UniqueID)
			if lerr != nil {
				return TripRef{}, fmt.Errorf("%w; looking the trip up: %w", err, lerr)
			}
			if !found {
				return TripRef{}, fmt.Errorf("%w; yet LocoNav lists no trip %q", err, r.UniqueID)
			}
			return ref, nil
		case attempt >= createAttempts:
			return TripRef{}, err
		case out == postMaybeApplied:
			// A 429 was not applied, and pace waits it out before the next
			// request; anything else waits its backoff.
			if berr := c.backoff(ctx, http.MethodPost, "/trips", attempt, statusOf(err), err); berr != nil {
				return TripRef{}, berr
			}
		}
		ref, found, lerr := c.tripByUniqueID(ctx, r.UniqueID)
		if lerr != nil {
			return TripRef{}, fmt.Errorf("%w; not sent again, as the trip could not be looked up: %w", err, lerr)
		}
		if found {
			c.logger.InfoContext(ctx, "loconav trip found after a failed create", "unique_id", r.UniqueID, "loconav_trip_id", ref.ID)
			return ref, nil
		}
	}
}

// postTrip makes one POST /trips.
func (c *Client) postTrip(ctx context.Context, body any, uniqueID string) (TripRef, error) {
	var data json.RawMessage
	if err := c.doN(ctx, 1, http.MethodPost, "/trips", nil, body, &data); err != nil {
		return TripRef{}, err
	}
	ref, err := parseTripRef(data)
	if err != nil {
		return TripRef{}, &answerError{Method: http.MethodPost, Path: "/trips", Problem: "the answer names no trip", Err: err}
	}
	switch ref.UniqueID {
	case "":
		ref.UniqueID = uniqueID
	case uniqueID:
	default:
		// Lookups by our id will not find it: say so where someone looks.
		c.logger.WarnContext(ctx, "loconav gave the trip another uniqueId", "unique_id", uniqueID,
			"loconav_unique_id", ref.UniqueID, "loconav_trip_id", ref.ID)
	}
	return ref, nil
}

type outcome int

const (
	postRefused      outcome = iota // LocoNav said no: trying again changes nothing
	postDuplicate                   // LocoNav says the uniqueId is taken
	postNotApplied                  // 429: the limiter turned it away
	postMaybeApplied                // timeout, network, 5xx, unreadable 2xx
)

// postOutcome sorts the error of one POST /trips. LocoNav does not
// document its answer to a taken uniqueId: a 409, or a refusal whose
// message names "unique" or "duplicate" (Rails says "Unique has already
// been taken"), is taken for one.
func postOutcome(err error) outcome {
	var le *Error
	if !errors.As(err, &le) {
		return postMaybeApplied
	}
	msg := strings.ToLower(le.Message)
	switch {
	case le.Status == http.StatusTooManyRequests:
		return postNotApplied
	case le.Status >= 500:
		return postMaybeApplied
	case le.Status == http.StatusConflict,
		le.Status != http.StatusUnauthorized && le.Status != http.StatusForbidden &&
			(strings.Contains(msg, "unique") || strings.Contains(msg, "duplicate")):
		return postDuplicate
	}
	return postRefused
}

func statusOf(err error) int {
	var le *Error
	if errors.As(err, &le) {
		return le.Status
	}
	return 0
}

// tripByUniqueID looks a trip up by the fleet's id with GET /trips'
// uniqueId filter. The answer is checked all the same, so a server that
// ignored the filter could make the lookup miss, never match another trip.
// A trashed trip does not count: it was deleted on purpose.
func (c *Client) tripByUniqueID(ctx context.Context, uniqueID string) (TripRef, bool, error) {
	p, err := c.tripsPage(ctx, TripQuery{UniqueID: uniqueID}, 1, lookupPerPage)
	if err != nil {
		return TripRef{}, false, err
	}
	for _, t := range p.trips {
		if t.UniqueID == uniqueID && t.Status != TripTrashed {
			return TripRef{ID: t.ID, UniqueID: t.UniqueID}, true, nil
		}
	}
	return TripRef{}, false, nil
}

// Trips lists the trips q selects, walking all pages. A listed value that
// is not a trip is logged and skipped.
func (c *Client) Trips(ctx context.Context, q TripQuery) ([]TripState, error) {
	var (
		all  []TripState
		seen = map[int64]bool{}
	)
	for page := 1; page <= locoNavMaxPages; page++ {
		p, err := c.tripsPage(ctx, q, page, locoNavTripsPerPage)
		if err != nil {
			return nil, err
		}
		for _, t := range p.trips {
			// A trip created while we walk shifts the pages: skip repeats.
			if !seen[t.ID] {
				seen[t.ID] = true
				all = append(all, t)
			}
		}
		if !p.more || p.n == 0 {
			return all, nil
		}
	}
	return nil, fmt.Errorf("loconav: GET /trips: more than %d pages", locoNavMaxPages)
}

func (c *Client) tripsPage(ctx context.Context, q TripQuery, page, perPage int) (tripPage, error) {
	v := q.values()
	v.Set("page", strconv.Itoa(page))
	v.Set("perPage", strconv.Itoa(perPage))
	var data json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/trips", v, nil, &data); err != nil {
		return tripPage{}, err
	}
	p, err := parseTripPage(data, page, perPage)
	if err != nil {
		return tripPage{}, &answerError{Method: http.MethodGet, Path: "/trips", Problem: "read the list", Err: err}
	}
	for _, r := range p.rejected {
		c.logger.WarnContext(ctx, "loconav trip value rejected", "value", truncate(string(r.raw), locoNavExcerpt), "err", r.err)
	}
	return p, nil
}

// TrackURL returns a trip's public live tracking link, for a customer.
func (c *Client) TrackURL(ctx context.Context, tripID int64) (string, error) {
	path := tripPath(tripID) + "/track_url"
	if tripID <= 0 {
		return "", fmt.Errorf("loconav: GET %s: no trip id", path)
	}
	var data json.RawMessage
	if err := c.do(ctx, http.MethodGet, path, url.Values{"allCheckPoints": {"true"}}, nil, &data); err != nil {
		return "", err
	}
	u, err := parseTrackURL(data)
	if err != nil {
		return "", &answerError{Method: http.MethodGet, Path: path, Problem: "read the link", Err: err}
	}
	return u, nil
}

// EndTrip ends a trip (PUT /trips/{id}, action END_TRIP). The Postman
// collection's Update Trip example wraps its fields in "trip", as Create
// Trip does; END_TRIP "only needs the id", which the path carries and the
// body repeats.
func (c *Client) EndTrip(ctx context.Context, tripID int64) error {
	path := tripPath(tripID)
	if tripID <= 0 {
		return fmt.Errorf("loconav: PUT %s: no trip id", path)
	}
	body := map[string]any{"trip": map[string]any{"id": tripID, "action": "END_TRIP"}}
	return c.settled(ctx, c.do(ctx, http.MethodPut, path, nil, body, nil), tripID)
}

// DeleteTrip deletes a trip; LocoNav keeps it as "trashed".
func (c *Client) DeleteTrip(ctx context.Context, tripID int64) error {
	path := tripPath(tripID)
	if tripID <= 0 {
		return fmt.Errorf("loconav: DELETE %s: no trip id", path)
	}
	return c.settled(ctx, c.do(ctx, http.MethodDelete, path, nil, nil, nil), tripID)
}

// settled forgives the answer to a retried PUT or DELETE whose earlier
// attempt may have gone through (a timeout or a 5xx): a 404 (the trip is
// gone) or a 409/422 (it is already in that state) then says it did. On a
// first attempt they stay errors.
func (c *Client) settled(ctx context.Context, err error, tripID int64) error {
	var le *Error
	if errors.As(err, &le) && le.earlierMayHaveApplied &&
		(le.Status == http.StatusNotFound || le.Status == http.StatusConflict || le.Status == http.StatusUnprocessableEntity) {
		c.logger.InfoContext(ctx, "loconav trip change done by an earlier attempt", "loconav_trip_id", tripID, "err", err)
		return nil
	}
	return err
}

func tripPath(id int64) string { return "/trips/" + strconv.FormatInt(id, 10) }

// tripPage is one page of GET /trips.
type tripPage struct {
	trips    []TripState
	rejected []rejectedTrip
	n        int  // values on the page, trips or not
	more     bool // another page follows
}

type rejectedTrip struct {
	raw json.RawMessage
	err error
}

// parseTripPage reads the data of a GET /trips answer: data.values, and
// pagination.more, or else pagination.totalCount, or else a full page, to
// tell whether another page follows.
func parseTripPage(data []byte, page, perPage int) (tripPage, error) {
	var d struct {
		Values     *[]json.RawMessage `json:"values"`
		Pagination struct {
			More       *bool `json:"more"`
			PerPage    int   `json:"perPage"`
			TotalCount *int  `json:"totalCount"`
		} `json:"pagination"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return tripPage{}, err
	}
	if d.Values == nil {
		return tripPage{}, errors.New("no values")
	}
	p := tripPage{n: len(*d.Values)}
	for _, raw := range *d.Values {
		t, err := parseTrip(raw)
		if err != nil {
			p.rejected = append(p.rejected, rejectedTrip{raw, err})
			continue
		}
		p.trips = append(p.trips, t)
	}
	if d.Pagination.PerPage > 0 {
		perPage = d.Pagination.PerPage // the server's, not ours: it may cap what we asked
	}
	switch {
	case d.Pagination.More != nil:
		p.more = *d.Pagination.More
	case d.Pagination.TotalCount != nil:
		p.more = page*perPage < *d.Pagination.TotalCount
	default:
		p.more = p.n >= perPage
	}
	return p, nil
}

// parseTrip reads one trip of GET /trips. Only a positive id is required;
// times LocoNav writes in a way we do not read are left zero.
func parseTrip(raw json.RawMessage) (TripState, error) {
	var v struct {
		ID            json.RawMessage `json:"id"`
		UniqueID      json.RawMessage `json:"uniqueId"`
		State         *string         `json:"state"`
		Status        *string         `json:"status"`
		VehicleNumber *string         `json:"vehicleNumber"`
		Vehicle       *struct {
			Number *string `json:"number"`
		} `json:"vehicle"`
		ShouldStartTs json.RawMessage `json:"shouldStartTs"`
		ShouldStartAt json.RawMessage `json:"shouldStartAt"`
		CreatedAt     json.RawMessage `json:"createdAt"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return TripState{}, errors.New("not a trip object")
	}
	id, err := positiveID(v.ID)
	if err != nil {
		return TripState{}, err
	}
	t := TripState{ID: id, UniqueID: looseString(v.UniqueID)}
	switch {
	case v.State != nil:
		t.Status = strings.ToLower(strings.TrimSpace(*v.State))
	case v.Status != nil:
		t.Status = strings.ToLower(strings.TrimSpace(*v.Status))
	}
	switch {
	case v.VehicleNumber != nil:
		t.VehicleNumber = strings.TrimSpace(*v.VehicleNumber)
	case v.Vehicle != nil && v.Vehicle.Number != nil:
		t.VehicleNumber = strings.TrimSpace(*v.Vehicle.Number)
	}
	if t.ShouldStartAt = looseTime(v.ShouldStartTs); t.ShouldStartAt.IsZero() {
		t.ShouldStartAt = looseTime(v.ShouldStartAt)
	}
	t.CreatedAt = looseTime(v.CreatedAt)
	return t, nil
}

// parseTripRef reads the data of POST /trips: {"id":…,"uniqueId":…}.
func parseTripRef(data []byte) (TripRef, error) {
	var v struct {
		ID       json.RawMessage `json:"id"`
		UniqueID json.RawMessage `json:"uniqueId"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return TripRef{}, errors.New("not an object")
	}
	id, err := positiveID(v.ID)
	if err != nil {
		return TripRef{}, err
	}
	return TripRef{ID: id, UniqueID: looseString(v.UniqueID)}, nil
}

// parseTrackURL reads the data of GET /trips/{id}/track_url: data.url, an
// absolute http(s) link.
func parseTrackURL(data []byte) (string, error) {
	var v struct {
		URL *string `json:"url"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return "", errors.New("not an object")
	}
	if v.URL == nil {
		return "", errors.New("url: missing")
	}
	s := strings.TrimSpace(*v.URL)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("url: %q is not a link", truncate(s, 80))
	}
	return s, nil
}

// positiveID reads an id written as a number or as a string of digits.
func positiveID(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("id: missing")
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("id: %s is not a trip id", truncate(string(raw), 40))
	}
	return id, nil
}

// looseString reads a string, or a number as its digits; else "".
func looseString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// looseTime reads epoch seconds (or milliseconds, which LocoNav writes
// elsewhere), as a number or a string, or an RFC 3339 time; else zero.
func looseTime(raw json.RawMessage) time.Time {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	s = strings.TrimSpace(s)
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		if x >= 1e11 { // no epoch seconds before the year 5138: milliseconds
			x /= 1000
		}
		if x <= 0 || x >= 1e11 || math.IsNaN(x) {
			return time.Time{}
		}
		return time.Unix(int64(x), 0).UTC()
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}
