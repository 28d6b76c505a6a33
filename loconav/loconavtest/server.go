// Package loconavtest is a fake of LocoNav's integration REST API for tests
// of the code that calls it: vehicles, last_known and trips, in the wire
// format of LocoNav's published examples (the {"success":…,"data":…}
// envelope, the User-Authentication header, epoch-second times). It holds
// vehicles, fixes and trips in memory, records every request, and can be
// told to fail: the next N requests to a path answer a status, hang or drop
// the connection, before or after doing what they ask.
package loconavtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token is the token the fake accepts until SetToken changes it.
const Token = "loconav-test-token"

// apiRoot is where the API lives under the fake's address, as under
// https://api.a.loconav.com.
const apiRoot = "/integration/api/v1"

// Trip states, as LocoNav names them.
const (
	stateInitialized = "initialized"
	stateOngoing     = "ongoing"
	stateCompleted   = "completed"
	stateTrashed     = "trashed"
)

// Server is the fake. Its methods are safe to call while it serves.
type Server struct {
	srv  *httptest.Server
	done chan struct{} // closed at cleanup: releases hanging requests

	mu       sync.Mutex
	token    string
	now      func() time.Time
	header   http.Header // added to every answer that is not a fault
	faults   []*Fault
	requests []Request
	vehicles []vehicle
	fixes    map[string]Fix             // by vehicle uuid
	rawFixes map[string]json.RawMessage // by vehicle uuid; wins over fixes
	pageCap  int                        // last_known values per page at most; 0: none
	trips    []*Trip
	nextID   int64
}

type vehicle struct{ uuid, number string }

// Fix is one vehicle's gps sensors in a last_known answer, written as
// LocoNav's published example writes them.
type Fix struct {
	Lat, Lon          float64
	CoordTS           int64 // both coordinates' timestamp, epoch seconds
	LonTS             int64 // if set, long's timestamp differs from lat's
	Speed             float64
	SpeedTS           int64
	Orientation       string
	Ignition          string // "ON" or "OFF"
	OmitCoordinates   bool
	VehicleNumberOver string // if set, vehicleNumber differs from the vehicle's number
}

// Fault makes the next N requests that match Method and Path fail. Faults
// are used in the order they were added.
type Fault struct {
	Method string // "" matches any method
	Path   string // the API path, as "/trips" or "/trips/9001/track_url"; "" matches any
	N      int
	Status int
	Header http.Header // sent with the answer, e.g. Retry-After
	Body   string      // the answer's body; "" is LocoNav's error envelope
	// AfterApply fails the request after the fake has done what it asks,
	// as a gateway timing out on a request that went through.
	AfterApply bool
	// Hang holds the request unanswered until the client gives up.
	Hang bool
	// Drop closes the connection without an answer.
	Drop bool
}

// Request is a request the fake received, with its answer.
type Request struct {
	Method, Path string // Path is the API path, without /integration/api/v1
	Query        url.Values
	Body         []byte
	Token        string // the User-Authentication header
	Status       int    // 0 when the fake hung up or held it
	Response     []byte
}

// Trip is a trip the fake holds.
type Trip struct {
	ID            int64
	UniqueID      string
	Status        string // initialized, ongoing, delayed, unsuccessful, completed, trashed
	VehicleNumber string
	ShouldStartAt time.Time
	CreatedAt     time.Time
	Body          map[string]any // the "trip" object posted
	Actions       []string       // the actions of the PUTs it received, in order
}

// NewServer starts the fake on 127.0.0.1; it stops when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{
		done:     make(chan struct{}),
		token:    Token,
		now:      time.Now,
		header:   http.Header{},
		fixes:    map[string]Fix{},
		rawFixes: map[string]json.RawMessage{},
		nextID:   9000,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.done)
		s.srv.Close()
	})
	return s
}

// URL is the API's base URL, as LOCONAV_API_URL would be.
func (s *Server) URL() string { return s.srv.URL + apiRoot }

// Client is an HTTP client for the fake. It is shared: copy it before
// changing it.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// SetToken changes the token the fake accepts, as a rotation would.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetClock sets the clock that dates the trips the fake creates.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetHeader adds a header to every answer but faults', as
// X-Rate-Limit-Limit.
func (s *Server) SetHeader(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.header.Set(key, value)
}

// Fail adds a fault.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// AddVehicle adds a vehicle to GET /vehicles and, with a fix, to
// last_known.
func (s *Server) AddVehicle(uuid, number string, fix *Fix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vehicles = append(s.vehicles, vehicle{uuid, number})
	if fix != nil {
		s.fixes[uuid] = *fix
	}
}

// SetLastKnown makes last_known answer value, as it is, for a vehicle
// uuid, whether or not the vehicle was added.
func (s *Server) SetLastKnown(uuid string, value json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rawFixes[uuid] = value
}

// CapLastKnownPage makes last_known answer at most n values a page, as a
// server capping perPage would.
func (s *Server) CapLastKnownPage(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageCap = n
}

// AddTrip adds a trip as if it had been created earlier, and returns it
// with its id (given one when t.ID is 0) and status (initialized when
// empty).
func (s *Server) AddTrip(t Trip) Trip {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ID == 0 {
		s.nextID++
		t.ID = s.nextID
	}
	if t.Status == "" {
		t.Status = stateInitialized
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	s.trips = append(s.trips, &t)
	return t
}

// SetTripStatus moves a trip to status, as LocoNav does when the truck
// leaves or arrives. It reports whether the trip exists.
func (s *Server) SetTripStatus(id int64, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.trips {
		if t.ID == id {
			t.Status = status
			return true
		}
	}
	return false
}

// Trips returns the trips held, trashed ones too, in creation order.
func (s *Server) Trips() []Trip {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Trip, 0, len(s.trips))
	for _, t := range s.trips {
		c := *t
		c.Actions = slices.Clone(t.Actions)
		out = append(out, c)
	}
	return out
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Calls lists "METHOD /path" of every request, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.requests))
	for _, r := range s.requests {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// Count is how many requests came for method and API path.
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// LastKnownValue is one data.values element of a last_known answer, in
// LocoNav's documented shape, for SetLastKnown.
func LastKnownValue(uuid, number string, lat, lon, speed float64, at time.Time) json.RawMessage {
	ts := at.Unix()
	v := lastKnownFromFix(uuid, number, Fix{Lat: lat, Lon: lon, CoordTS: ts, Speed: speed, SpeedTS: ts, Orientation: "90", Ignition: "ON"})
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs: cannot happen
	}
	return b
}

// answer is what the fake says to one request.
type answer struct {
	status int
	header http.Header
	body   []byte
	hang   bool
	drop   bool
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, apiRoot)
	s.mu.Lock()
	i := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: path, Query: r.URL.Query(), Body: body,
		Token: r.Header.Get("User-Authentication")})
	a := s.answer(r, path, body)
	if !a.hang && !a.drop {
		s.requests[i].Status, s.requests[i].Response = a.status, a.body
	}
	s.mu.Unlock()

	switch {
	case a.hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
	case a.drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
	default:
		for k, vs := range a.header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(a.status)
		w.Write(a.body)
	}
}

// answer decides the answer to a request; s.mu is held.
func (s *Server) answer(r *http.Request, path string, body []byte) answer {
	if f := s.fault(r.Method, path, false); f != nil {
		return faultAnswer(f)
	}
	var status int
	var out []byte
	if r.Header.Get("User-Authentication") != s.token {
		status, out = http.StatusUnauthorized, errorBody("Invalid User-Authentication token")
	} else {
		status, out = s.handle(r, path, body)
	}
	if f := s.fault(r.Method, path, true); f != nil {
		return faultAnswer(f)
	}
	return answer{status: status, header: s.header.Clone(), body: out}
}

func (s *Server) fault(method, path string, applied bool) *Fault {
	for _, f := range s.faults {
		if f.N > 0 && f.AfterApply == applied && (f.Method == "" || f.Method == method) && (f.Path == "" || f.Path == path) {
			f.N--
			return f
		}
	}
	return nil
}

func faultAnswer(f *Fault) answer {
	a := answer{status: f.Status, header: f.Header, body: []byte(f.Body), hang: f.Hang, drop: f.Drop}
	if f.Body == "" {
		msg := http.StatusText(f.Status)
		if f.Status == http.StatusTooManyRequests {
			msg = "Rate limit exceeded"
		}
		a.body = errorBody(msg)
	}
	return a
}

// errorBody is LocoNav's error envelope. Its README documents
// {"success":false,"data":{"errors":[...]}}; the wording is the fake's.
func errorBody(errs ...string) []byte {
	return encodeEnvelope(false, map[string]any{"errors": errs})
}

func failBody(status int, errs ...string) (int, []byte) { return status, errorBody(errs...) }

func okBody(data any) (int, []byte) { return http.StatusOK, encodeEnvelope(true, data) }

// handle serves the API; s.mu is held.
func (s *Server) handle(r *http.Request, path string, body []byte) (int, []byte) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && path == "/vehicles":
		return s.listVehicles(r)
	case r.Method == http.MethodPost && path == "/vehicles/telematics/last_known":
		return s.lastKnown(r, body)
	case r.Method == http.MethodPost && path == "/trips":
		return s.createTrip(body)
	case r.Method == http.MethodGet && path == "/trips":
		return s.listTrips(r)
	case len(parts) == 3 && parts[0] == "trips" && parts[2] == "track_url" && r.Method == http.MethodGet:
		t := s.find(parts[1])
		if t == nil || t.Status == stateTrashed {
			return failBody(http.StatusNotFound, "Trip not found")
		}
		return okBody(map[string]any{"tripTrackToken": fmt.Sprintf("tt%d", t.ID), "url": fmt.Sprintf("https://track.loconav.test/t/%d", t.ID)})
	case len(parts) == 2 && parts[0] == "trips" && r.Method == http.MethodPut:
		return s.updateTrip(parts[1], body)
	case len(parts) == 2 && parts[0] == "trips" && r.Method == http.MethodDelete:
		t := s.find(parts[1])
		if t == nil || t.Status == stateTrashed {
			return failBody(http.StatusNotFound, "Trip not found")
		}
		t.Status = stateTrashed
		return http.StatusOK, encodeEnvelope(true, nil, "message", "Trip deleted successfully")
	}
	return failBody(http.StatusNotFound, "no route "+r.Method+" "+path)
}

func pageParams(r *http.Request) (page, perPage int, ok bool) {
	page, perPage = 1, 10 // LocoNav's documented defaults
	var err error
	if v := r.URL.Query().Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			return 0, 0, false
		}
	}
	if v := r.URL.Query().Get("perPage"); v != "" {
		if perPage, err = strconv.Atoi(v); err != nil || perPage < 1 {
			return 0, 0, false
		}
	}
	return page, perPage, true
}

func (s *Server) listVehicles(r *http.Request) (int, []byte) {
	page, perPage, good := pageParams(r)
	if !good {
		return failBody(http.StatusBadRequest, "page and perPage must be positive integers")
	}
	lo, hi := min((page-1)*perPage, len(s.vehicles)), min(page*perPage, len(s.vehicles))
	vs := make([]fixtureVehicle, 0, hi-lo)
	for _, v := range s.vehicles[lo:hi] {
		vs = append(vs, vehicleFromTemplate(v.uuid, v.number))
	}
	return http.StatusOK, encodeVehicles(vs, fixturePagination{PerPage: perPage, TotalCount: len(s.vehicles), CurrentPage: page})
}

func (s *Server) lastKnown(r *http.Request, body []byte) (int, []byte) {
	page, perPage, good := pageParams(r)
	if !good {
		return failBody(http.StatusBadRequest, "page and perPage must be positive integers")
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return failBody(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	var req struct {
		VehicleIDs *[]string `json:"vehicleIds"`
		Sensors    *[]string `json:"sensors"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return failBody(http.StatusBadRequest, "body must be JSON: "+err.Error())
	}
	// LocoNav takes a missing vehicleIds as "all vehicles"; callers must
	// always name them, so the fake insists.
	if req.VehicleIDs == nil || len(*req.VehicleIDs) == 0 {
		return failBody(http.StatusBadRequest, "vehicleIds is required")
	}
	if req.Sensors == nil || len(*req.Sensors) == 0 || len(*req.Sensors) > 3 {
		return failBody(http.StatusBadRequest, "sensors must name 1 to 3 sensors")
	}
	if s.pageCap > 0 {
		perPage = min(perPage, s.pageCap)
	}
	numbers := map[string]string{}
	for _, v := range s.vehicles {
		numbers[v.uuid] = v.number
	}
	var known []json.RawMessage
	for _, id := range *req.VehicleIDs {
		if raw, ok := s.rawFixes[id]; ok {
			known = append(known, raw)
			continue
		}
		fix, ok := s.fixes[id]
		if !ok {
			continue // no telemetry: LocoNav leaves the vehicle out
		}
		number := numbers[id]
		if fix.VehicleNumberOver != "" {
			number = fix.VehicleNumberOver
		}
		b, err := json.Marshal(lastKnownFromFix(id, number, fix))
		if err != nil {
			return failBody(http.StatusInternalServerError, err.Error())
		}
		known = append(known, b)
	}
	lo, hi := min((page-1)*perPage, len(known)), min(page*perPage, len(known))
	return http.StatusOK, encodeLastKnown(known[lo:hi], fixtureLastKnownPagination{Page: page, PerPage: perPage, Count: hi - lo, More: hi < len(known)})
}

func (s *Server) find(id string) *Trip {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	for _, t := range s.trips {
		if t.ID == n {
			return t
		}
	}
	return nil
}

// createTrip checks what LocoNav documents as mandatory: shouldStartAt,
// and a source by geofence or by coordinates and address. A uniqueId
// already held by a trip that is not trashed is refused with a 422, as a
// uniqueness validation would.
func (s *Server) createTrip(body []byte) (int, []byte) {
	var req struct {
		Trip map[string]any `json:"trip"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Trip == nil {
		return failBody(http.StatusUnprocessableEntity, "trip is missing")
	}
	t := req.Trip
	var number string
	if v, ok := t["vehicle"].(map[string]any); ok {
		number, _ = v["number"].(string)
	}
	if number == "" {
		return failBody(http.StatusUnprocessableEntity, "vehicle number is missing")
	}
	start, ok := t["shouldStartAt"].(float64)
	if !ok || start <= 0 || start >= 1e11 {
		return failBody(http.StatusUnprocessableEntity, "shouldStartAt must be epoch seconds")
	}
	if !place(t["source"]) {
		return failBody(http.StatusUnprocessableEntity, "source needs a geofenceId or coordinates and an address")
	}
	if d, ok := t["destination"]; ok && !place(d) {
		return failBody(http.StatusUnprocessableEntity, "destination needs a geofenceId or coordinates and an address")
	}
	uid, _ := t["uniqueId"].(string)
	if uid == "" {
		uid = fmt.Sprintf("LN%d", s.nextID+1) // LocoNav makes one up when none is given
	}
	for _, o := range s.trips {
		if o.UniqueID == uid && o.Status != stateTrashed {
			return failBody(http.StatusUnprocessableEntity, "Unique has already been taken")
		}
	}
	s.nextID++
	trip := &Trip{ID: s.nextID, UniqueID: uid, Status: stateInitialized, VehicleNumber: number,
		ShouldStartAt: time.Unix(int64(start), 0).UTC(), CreatedAt: s.now(), Body: t}
	s.trips = append(s.trips, trip)
	return okBody(map[string]any{"id": trip.ID, "uniqueId": trip.UniqueID})
}

func place(v any) bool {
	p, ok := v.(map[string]any)
	if !ok {
		return false
	}
	if id, ok := p["geofenceId"].(float64); ok && id > 0 {
		return true
	}
	coords, _ := p["coordinates"].(string)
	addr, _ := p["address"].(string)
	lat, lon, found := strings.Cut(coords, ",")
	if !found || addr == "" {
		return false
	}
	_, err1 := strconv.ParseFloat(lat, 64)
	_, err2 := strconv.ParseFloat(lon, 64)
	return err1 == nil && err2 == nil
}

// listTrips filters by uniqueId, vehicleNumber, states (names, comma
// separated) and startTime/endTime (epoch seconds, on shouldStartAt), and
// answers data.values with pagination.more.
func (s *Server) listTrips(r *http.Request) (int, []byte) {
	page, perPage, good := pageParams(r)
	if !good {
		return failBody(http.StatusBadRequest, "page and perPage must be positive integers")
	}
	q := r.URL.Query()
	var from, to int64
	for name, dst := range map[string]*int64{"startTime": &from, "endTime": &to} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return failBody(http.StatusBadRequest, name+" must be epoch seconds")
			}
			*dst = n
		}
	}
	var states []string
	if v := q.Get("states"); v != "" {
		states = strings.Split(v, ",")
	}
	var match []*Trip
	for _, t := range s.trips {
		switch {
		case q.Get("uniqueId") != "" && t.UniqueID != q.Get("uniqueId"),
			q.Get("vehicleNumber") != "" && t.VehicleNumber != q.Get("vehicleNumber"),
			states != nil && !slices.Contains(states, t.Status),
			from != 0 && t.ShouldStartAt.Unix() < from,
			to != 0 && t.ShouldStartAt.Unix() > to:
			continue
		}
		match = append(match, t)
	}
	lo, hi := min((page-1)*perPage, len(match)), min(page*perPage, len(match))
	values := make([]map[string]any, 0, hi-lo)
	for _, t := range match[lo:hi] {
		values = append(values, map[string]any{
			"id": t.ID, "vehicleNumber": t.VehicleNumber, "uniqueId": t.UniqueID,
			"shouldStartTs": t.ShouldStartAt.Unix(), "createdAt": t.CreatedAt.Unix(), "state": t.Status,
			"completionPercentage": 0, "createdVia": "apis",
		})
	}
	return okBody(map[string]any{"values": values,
		"pagination": map[string]any{"page": page, "perPage": perPage, "count": len(values), "more": hi < len(match)}})
}

// updateTrip takes {"trip":{"action":…}}, as the Postman collection's
// Update Trip example sends it.
func (s *Server) updateTrip(id string, body []byte) (int, []byte) {
	t := s.find(id)
	if t == nil || t.Status == stateTrashed {
		return failBody(http.StatusNotFound, "Trip not found")
	}
	var req struct {
		Trip struct {
			Action string `json:"action"`
		} `json:"trip"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Trip.Action == "" {
		return failBody(http.StatusUnprocessableEntity, "trip.action is missing")
	}
	switch req.Trip.Action {
	case "END_TRIP":
		if t.Status == stateCompleted {
			return failBody(http.StatusUnprocessableEntity, "Trip is already completed")
		}
		t.Status = stateCompleted
	case "START_TRIP":
		t.Status = stateOngoing
	case "UPDATE_TRIP":
	default:
		return failBody(http.StatusUnprocessableEntity, "unknown action "+req.Trip.Action)
	}
	t.Actions = append(t.Actions, req.Trip.Action)
	return okBody(map[string]any{"id": t.ID, "uniqueId": t.UniqueID})
}

// encodeEnvelope writes {"success":…,"data":…} and extra top-level
// fields, ending with a newline as the published examples do.
func encodeEnvelope(success bool, data any, extra ...string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if len(extra) == 0 {
		if err := enc.Encode(struct {
			Success bool `json:"success"`
			Data    any  `json:"data"`
		}{success, data}); err != nil {
			panic(err)
		}
		return buf.Bytes()
	}
	m := map[string]any{"success": success}
	if data != nil {
		m["data"] = data
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	if err := enc.Encode(m); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
