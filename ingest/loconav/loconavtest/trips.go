// Package loconavtest is a fake of LocoNav's trip and last_known API for tests, speaking
// its wire format: the {"success":…,"data":…} envelope, the User-
// Authentication header, epoch-second times. It holds trips in memory and
// can be told to fail.
package loconavtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token is the token the fake accepts.
const Token = "loconav-test-token"

// Trip is a trip the fake holds, as it was posted.
type Trip struct {
	ID       int64
	UniqueID string
	Status   string
	Body     map[string]any // the "trip" object posted
}

// Fault makes the next N requests matching Method and a path prefix fail.
type Fault struct {
	Method string
	Path   string // a prefix, e.g. "/trips"
	N      int
	Status int
	// AfterApply fails the request after the fake has done it, as a
	// gateway timing out on a request that went through.
	AfterApply bool
}

// Server is the fake.
type Server struct {
	srv    *httptest.Server
	mu     sync.Mutex
	trips  []*Trip
	faults []*Fault
	nextID int64
	calls  []string
	fixes  map[string]json.RawMessage // vehicle uuid → last_known value
}

// LastKnownValue is one data.values element of a last_known answer, in
// LocoNav's documented shape (../shared/loconav/rest/last-known.json).
func LastKnownValue(uuid, number string, lat, lon, speed float64, at time.Time) json.RawMessage {
	ts := at.Unix()
	b, _ := json.Marshal(map[string]any{
		"vehicleNumber": number, "vehicleId": uuid,
		"gps": map[string]any{
			"speed":       map[string]any{"unit": "km/h", "value": speed, "timestamp": ts},
			"ignition":    map[string]any{"value": "ON"},
			"orientation": map[string]any{"value": "90", "timestamp": ts},
			"currentLocationCoordinates": map[string]any{
				"lat":  map[string]any{"unit": "degrees", "value": lat, "timestamp": ts},
				"long": map[string]any{"unit": "degrees", "value": lon, "timestamp": ts},
			},
		},
	})
	return b
}

// SetLastKnown makes the fake answer last_known for a vehicle with value.
func (s *Server) SetLastKnown(uuid string, value json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fixes == nil {
		s.fixes = map[string]json.RawMessage{}
	}
	s.fixes[uuid] = value
}

// NewServer starts the fake on 127.0.0.1; it stops when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{nextID: 9000}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API's base URL.
func (s *Server) URL() string { return s.srv.URL + "/integration/api/v1" }

// Client is an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Fail adds a fault.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Trips returns the trips held, in creation order.
func (s *Server) Trips() []Trip {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Trip, 0, len(s.trips))
	for _, t := range s.trips {
		out = append(out, *t)
	}
	return out
}

// Calls lists "METHOD /path" of every request, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func reply(w http.ResponseWriter, status int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	ok := status < 300
	if !ok {
		data = map[string]any{"errors": []string{fmt.Sprint(data)}}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"success": ok, "data": data})
}

func (s *Server) fault(method, path string, applied bool) int {
	for _, f := range s.faults {
		if f.N > 0 && f.Method == method && strings.HasPrefix(path, f.Path) && f.AfterApply == applied {
			f.N--
			return f.Status
		}
	}
	return 0
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/integration/api/v1")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.Method+" "+path)
	if r.Header.Get("User-Authentication") != Token {
		reply(w, http.StatusUnauthorized, "Invalid user authentication token")
		return
	}
	if st := s.fault(r.Method, path, false); st != 0 {
		reply(w, st, "injected failure")
		return
	}
	status, data := s.handle(r, path)
	if st := s.fault(r.Method, path, true); st != 0 {
		reply(w, st, "injected failure after the change was made")
		return
	}
	reply(w, status, data)
}

func (s *Server) find(id string) *Trip {
	n, _ := strconv.ParseInt(id, 10, 64)
	for _, t := range s.trips {
		if t.ID == n && t.Status != "trashed" {
			return t
		}
	}
	return nil
}

func (s *Server) handle(r *http.Request, path string) (int, any) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && path == "/trips":
		var body struct {
			Trip map[string]any `json:"trip"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Trip == nil {
			return http.StatusUnprocessableEntity, "trip is missing"
		}
		uid, _ := body.Trip["uniqueId"].(string)
		for _, t := range s.trips {
			if t.UniqueID == uid && t.Status != "trashed" {
				return http.StatusUnprocessableEntity, "uniqueId has already been taken"
			}
		}
		s.nextID++
		t := &Trip{ID: s.nextID, UniqueID: uid, Status: "initialized", Body: body.Trip}
		s.trips = append(s.trips, t)
		return http.StatusOK, map[string]any{"id": t.ID, "uniqueId": t.UniqueID}
	case r.Method == http.MethodGet && path == "/trips":
		uid := r.URL.Query().Get("uniqueId")
		list := []any{}
		for _, t := range s.trips {
			if uid == "" || t.UniqueID == uid {
				list = append(list, map[string]any{"id": t.ID, "uniqueId": t.UniqueID, "status": t.Status})
			}
		}
		return http.StatusOK, map[string]any{"trips": list, "pagination": map[string]any{"more": false}}
	case r.Method == http.MethodPost && path == "/vehicles/telematics/last_known":
		var body struct {
			VehicleIDs []string `json:"vehicleIds"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return http.StatusBadRequest, "bad body"
		}
		values := []json.RawMessage{}
		for _, id := range body.VehicleIDs {
			if v, ok := s.fixes[id]; ok {
				values = append(values, v)
			}
		}
		return http.StatusOK, map[string]any{"values": values, "pagination": map[string]any{"page": 1, "perPage": 100, "count": len(values), "more": false}}
	case len(parts) == 3 && parts[0] == "trips" && parts[2] == "track_url" && r.Method == http.MethodGet:
		if t := s.find(parts[1]); t != nil {
			return http.StatusOK, map[string]any{"url": fmt.Sprintf("https://track.loconav.test/t/%d", t.ID)}
		}
		return http.StatusNotFound, "trip not found"
	case len(parts) == 2 && parts[0] == "trips" && r.Method == http.MethodDelete:
		if t := s.find(parts[1]); t != nil {
			t.Status = "trashed"
			return http.StatusOK, map[string]any{}
		}
		return http.StatusNotFound, "trip not found"
	case len(parts) == 2 && parts[0] == "trips" && r.Method == http.MethodPut:
		if t := s.find(parts[1]); t != nil {
			t.Status = "completed"
			return http.StatusOK, map[string]any{}
		}
		return http.StatusNotFound, "trip not found"
	}
	return http.StatusNotFound, "no route " + r.Method + " " + path
}
