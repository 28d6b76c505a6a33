package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/ingest"
)

// fakeLocoNav is LocoNav's integration API as far as the poller uses it,
// speaking the wire format of the published examples in
// testdata/loconav/rest: its encoders reproduce those files byte for byte
// (TestLocoNavFakeMatchesFixtures).
type fakeLocoNav struct {
	t     testing.TB
	srv   *httptest.Server
	token string

	mu                 sync.Mutex
	vehicles           []fakeVehicle
	fixes              map[string]fakeFix // by vehicle uuid
	maxLastKnownPage   int                // caps perPage on last_known, as a server may; 0: none
	replies            []fakeReply        // scripted answers for the next requests, in order
	header             http.Header        // added to every normal answer
	requests           []fakeRequest
	lastKnownResponses [][]byte
}

// fakeVehicle is one vehicle of GET /vehicles.
type fakeVehicle struct {
	UUID, Number string
}

// fakeFix is one vehicle's gps sensors in last_known.
type fakeFix struct {
	Lat, Lon          float64
	CoordTS           int64 // both coordinates' timestamp
	LonTS             int64 // if set, long's timestamp differs from lat's
	Speed             float64
	SpeedTS           int64
	Orientation       string
	Ignition          string // "ON" or "OFF"
	OmitCoordinates   bool
	VehicleNumberOver string // if set, vehicleNumber differs from the vehicle's number
}

// fakeReply is a scripted answer: a status with headers, or a dropped
// connection.
type fakeReply struct {
	Status int
	Header http.Header
	Body   string // defaults to an error envelope
	Drop   bool   // close the connection without answering
}

// fakeRequest is what the fake received.
type fakeRequest struct {
	Method, Path string
	Query        map[string]string
	Body         []byte
	Token        string
}

const fakeToken = "s3cret-user-token-0123456789"

func newFakeLocoNav(t testing.TB) *fakeLocoNav {
	t.Helper()
	f := &fakeLocoNav{t: t, token: fakeToken, fixes: map[string]fakeFix{}, header: http.Header{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /integration/api/v1/vehicles", f.listVehicles)
	mux.HandleFunc("POST /integration/api/v1/vehicles/telematics/last_known", f.lastKnown)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		q := map[string]string{}
		for k := range r.URL.Query() {
			q[k] = r.URL.Query().Get(k)
		}
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: q, Body: body, Token: r.Header.Get("User-Authentication")})
		var reply *fakeReply
		if len(f.replies) > 0 {
			reply = &f.replies[0]
			f.replies = f.replies[1:]
		}
		token := f.token
		f.mu.Unlock()
		if reply != nil {
			f.scripted(w, *reply)
			return
		}
		if r.Header.Get("User-Authentication") != token {
			writeFakeError(w, http.StatusUnauthorized, "Invalid User-Authentication token")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// baseURL is the fake's integration API root, as LOCONAV_API_URL would be.
func (f *fakeLocoNav) baseURL() string { return f.srv.URL + "/integration/api/v1" }

func (f *fakeLocoNav) addVehicle(uuid, number string, fix *fakeFix) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vehicles = append(f.vehicles, fakeVehicle{UUID: uuid, Number: number})
	if fix != nil {
		f.fixes[uuid] = *fix
	}
}

// script queues answers for the next requests, whatever they are.
func (f *fakeLocoNav) script(replies ...fakeReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies = append(f.replies, replies...)
}

// capLastKnownPage makes last_known answer at most n values a page, as a
// server capping perPage would.
func (f *fakeLocoNav) capLastKnownPage(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxLastKnownPage = n
}

// setToken changes the token the fake accepts, as a rotation would.
func (f *fakeLocoNav) setToken(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token = token
}

func (f *fakeLocoNav) setHeader(k, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.header.Set(k, v)
}

func (f *fakeLocoNav) received() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeLocoNav) count(method, suffix string) int {
	n := 0
	for _, r := range f.received() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func (f *fakeLocoNav) scripted(w http.ResponseWriter, r fakeReply) {
	if r.Drop {
		hj, ok := w.(http.Hijacker)
		if !ok {
			f.t.Error("fake loconav: cannot hijack to drop a connection")
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if r.Body != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(r.Status)
		io.WriteString(w, r.Body)
		return
	}
	msg := http.StatusText(r.Status)
	if r.Status == http.StatusTooManyRequests {
		msg = "Rate limit exceeded"
	}
	writeFakeError(w, r.Status, msg)
}

// writeFakeError answers LocoNav's error envelope. The README documents
// {"success":false,"data":{"errors":[...]}}; the wording is ours.
func writeFakeError(w http.ResponseWriter, status int, errs ...string) {
	var env struct {
		Success bool `json:"success"`
		Data    struct {
			Errors []string `json:"errors"`
		} `json:"data"`
	}
	env.Data.Errors = errs
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(env)
}

func fakePageParams(r *http.Request) (page, perPage int, ok bool) {
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

func (f *fakeLocoNav) listVehicles(w http.ResponseWriter, r *http.Request) {
	page, perPage, ok := fakePageParams(r)
	if !ok {
		writeFakeError(w, http.StatusBadRequest, "page and perPage must be positive integers")
		return
	}
	f.mu.Lock()
	all := append([]fakeVehicle(nil), f.vehicles...)
	f.mu.Unlock()
	lo, hi := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
	vs := make([]fixtureVehicle, 0, hi-lo)
	for _, v := range all[lo:hi] {
		vs = append(vs, vehicleFromTemplate(v))
	}
	f.write(w, encodeVehicles(vs, fixturePagination{PerPage: perPage, TotalCount: len(all), CurrentPage: page}))
}

func (f *fakeLocoNav) lastKnown(w http.ResponseWriter, r *http.Request) {
	page, perPage, ok := fakePageParams(r)
	if !ok {
		writeFakeError(w, http.StatusBadRequest, "page and perPage must be positive integers")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeFakeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	var body struct {
		VehicleIDs *[]string `json:"vehicleIds"`
		Sensors    *[]string `json:"sensors"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&body); err != nil {
		writeFakeError(w, http.StatusBadRequest, "body must be JSON: "+err.Error())
		return
	}
	// LocoNav takes a missing vehicleIds as "all vehicles"; the poller must
	// always name them, so the fake insists.
	if body.VehicleIDs == nil || len(*body.VehicleIDs) == 0 {
		writeFakeError(w, http.StatusBadRequest, "vehicleIds is required")
		return
	}
	if body.Sensors == nil || len(*body.Sensors) == 0 || len(*body.Sensors) > 3 {
		writeFakeError(w, http.StatusBadRequest, "sensors must name 1 to 3 sensors")
		return
	}
	f.mu.Lock()
	if f.maxLastKnownPage > 0 {
		perPage = min(perPage, f.maxLastKnownPage)
	}
	numbers := map[string]string{}
	for _, v := range f.vehicles {
		numbers[v.UUID] = v.Number
	}
	var known []fixtureLastKnownValue
	for _, id := range *body.VehicleIDs {
		fix, ok := f.fixes[id]
		if !ok {
			continue
		}
		number := numbers[id]
		if fix.VehicleNumberOver != "" {
			number = fix.VehicleNumberOver
		}
		known = append(known, lastKnownFromFix(id, number, fix))
	}
	f.mu.Unlock()
	lo, hi := min((page-1)*perPage, len(known)), min(page*perPage, len(known))
	b := encodeLastKnown(known[lo:hi], fixtureLastKnownPagination{Page: page, PerPage: perPage, Count: hi - lo, More: hi < len(known)})
	f.mu.Lock()
	f.lastKnownResponses = append(f.lastKnownResponses, b)
	f.mu.Unlock()
	f.write(w, b)
}

func (f *fakeLocoNav) write(w http.ResponseWriter, b []byte) {
	f.mu.Lock()
	for k, vs := range f.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

// The wire shapes, field for field in the fixtures' order, so that encoding
// the fixtures' values gives back the fixtures' bytes.

type fixtureVehicle struct {
	Number        string `json:"number"`
	DisplayNumber string `json:"displayNumber"`
	VehicleUUID   string `json:"vehicleUuid"`
	Subscription  struct {
		ExpiresAt string `json:"expiresAt"`
	} `json:"subscription"`
	VehicleType   string `json:"vehicleType"`
	CurrentDevice struct {
		SerialNumber string `json:"serialNumber"`
		CountryCode  string `json:"countryCode"`
		PhoneNumber  string `json:"phoneNumber"`
		DeviceType   string `json:"deviceType"`
	} `json:"currentDevice"`
}

type fixturePagination struct {
	PerPage     int `json:"perPage"`
	TotalCount  int `json:"totalCount"`
	CurrentPage int `json:"currentPage"`
}

type fixtureSensor struct {
	Unit      string      `json:"unit,omitempty"`
	Value     json.Number `json:"value"`
	Timestamp int64       `json:"timestamp"`
}

type fixtureStringSensor struct {
	Value     string `json:"value"`
	Timestamp int64  `json:"timestamp,omitempty"`
}

type fixtureLastKnownValue struct {
	VehicleNumber string `json:"vehicleNumber"`
	VehicleID     string `json:"vehicleId"`
	GPS           struct {
		Speed                      fixtureSensor       `json:"speed"`
		Ignition                   fixtureStringSensor `json:"ignition"`
		Orientation                fixtureStringSensor `json:"orientation"`
		CurrentLocationCoordinates *struct {
			Lat  fixtureSensor `json:"lat"`
			Long fixtureSensor `json:"long"`
		} `json:"currentLocationCoordinates,omitempty"`
	} `json:"gps"`
}

type fixtureLastKnownPagination struct {
	Page    int  `json:"page"`
	PerPage int  `json:"perPage"`
	Count   int  `json:"count"`
	More    bool `json:"more"`
}

func encodeEnvelope(data any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // ends with a newline, as the fixtures do
	if err := enc.Encode(struct {
		Success bool `json:"success"`
		Data    any  `json:"data"`
	}{true, data}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func encodeVehicles(vs []fixtureVehicle, p fixturePagination) []byte {
	return encodeEnvelope(struct {
		Vehicles   []fixtureVehicle  `json:"vehicles"`
		Pagination fixturePagination `json:"pagination"`
	}{vs, p})
}

func encodeLastKnown(vs []fixtureLastKnownValue, p fixtureLastKnownPagination) []byte {
	if vs == nil {
		vs = []fixtureLastKnownValue{}
	}
	return encodeEnvelope(struct {
		Values     []fixtureLastKnownValue    `json:"values"`
		Pagination fixtureLastKnownPagination `json:"pagination"`
	}{vs, p})
}

// vehicleFromTemplate is the fixture's DRC5 with another number and uuid.
func vehicleFromTemplate(v fakeVehicle) fixtureVehicle {
	var fv fixtureVehicle
	fv.Number, fv.DisplayNumber, fv.VehicleUUID = v.Number, v.Number, v.UUID
	fv.Subscription.ExpiresAt = "2025-02-08T21:38:36.000+05:30"
	fv.VehicleType = "truck_generic"
	fv.CurrentDevice.SerialNumber = "MOCKDEVICE" + v.Number
	fv.CurrentDevice.CountryCode = "IN"
	fv.CurrentDevice.PhoneNumber = "0001112225"
	fv.CurrentDevice.DeviceType = "Teltonika-FMB920"
	return fv
}

// lastKnownFromFix is the fixture's VEHICLE03- value with other readings.
// Speed is written with one decimal ("59.0"), as the fixture writes it.
func lastKnownFromFix(uuid, number string, fix fakeFix) fixtureLastKnownValue {
	var v fixtureLastKnownValue
	v.VehicleNumber, v.VehicleID = number, uuid
	v.GPS.Speed = fixtureSensor{Unit: "km/h", Value: json.Number(strconv.FormatFloat(fix.Speed, 'f', 1, 64)), Timestamp: fix.SpeedTS}
	v.GPS.Ignition = fixtureStringSensor{Value: fix.Ignition}
	v.GPS.Orientation = fixtureStringSensor{Value: fix.Orientation, Timestamp: fix.SpeedTS}
	if !fix.OmitCoordinates {
		lonTS := fix.CoordTS
		if fix.LonTS != 0 {
			lonTS = fix.LonTS
		}
		v.GPS.CurrentLocationCoordinates = &struct {
			Lat  fixtureSensor `json:"lat"`
			Long fixtureSensor `json:"long"`
		}{
			Lat:  fixtureSensor{Unit: "degrees", Value: json.Number(strconv.FormatFloat(fix.Lat, 'f', -1, 64)), Timestamp: fix.CoordTS},
			Long: fixtureSensor{Unit: "degrees", Value: json.Number(strconv.FormatFloat(fix.Lon, 'f', -1, 64)), Timestamp: lonTS},
		}
	}
	return v
}

// restFixture reads a copied LocoNav REST example from testdata/loconav/rest.
func restFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "loconav", "rest", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeClock is the client's clock and sleep: sleeping advances it at once
// and records the wait.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 2, 6, 7, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// newTestLocoNavClient is a client of f on a fake clock, logging to t.
func newTestLocoNavClient(t testing.TB, f *fakeLocoNav, clock *fakeClock) *ingest.LocoNavClient {
	t.Helper()
	c := ingest.NewLocoNavClient(f.baseURL(), fakeToken, f.srv.Client(), locoNavLogger(t))
	if clock != nil {
		c.Now, c.Sleep = clock.Now, clock.Sleep
	}
	return c
}

func fakeUUID(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
}

// locoNavLogger sends the client's and poller's logs to the test's log.
func locoNavLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(locoNavLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type locoNavLogWriter struct{ t testing.TB }

func (w locoNavLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
