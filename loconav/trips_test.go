package loconav_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
)

var req = loconav.TripRequest{VehicleNumber: "T-11985-LA", UniqueID: "05/Dec/2026-T11985LA-DA01", ShouldStartAt: time.Unix(1764910800, 0),
	Source:      loconav.TripPlace{Name: "ESS Libra", Lat: 6.464, Lon: 3.348, Address: "Ijora"},
	Destination: loconav.TripPlace{Name: "Dangote Ibese", GeofenceID: 5010}}

// emptyList is a GET /trips answer with no trip, as a lookup racing
// another replica's create would get.
const emptyList = `{"success":true,"data":{"values":[],"pagination":{"page":1,"perPage":50,"count":0,"more":false}}}`

// shortTimeout is a client of f that gives up on a request after 200ms,
// for the fake's hanging faults.
func shortTimeout(f *loconavtest.Server) *http.Client {
	hc := *f.Client()
	hc.Timeout = 200 * time.Millisecond
	return &hc
}

func TestCreateTripWireFormat(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	c := newClient(t, f, loconavtest.NewClock())
	ref, err := c.CreateTrip(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	trips := f.Trips()
	if len(trips) != 1 || trips[0].ID != ref.ID || ref.UniqueID != req.UniqueID || trips[0].UniqueID != req.UniqueID {
		t.Fatalf("fake holds %+v, client got %+v", trips, ref)
	}
	var post loconavtest.Request
	for _, r := range f.Requests() {
		if r.Method == http.MethodPost {
			post = r
		}
	}
	var body struct {
		Trip map[string]json.RawMessage `json:"trip"`
	}
	if err := json.Unmarshal(post.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"vehicle":                `{"number":"T-11985-LA"}`,
		"uniqueId":               `"05/Dec/2026-T11985LA-DA01"`,
		"shouldStartAt":          `1764910800`,
		"sourceName":             `"ESS Libra"`,
		"source":                 `{"address":"Ijora","coordinates":"6.464000,3.348000"}`,
		"destinationName":        `"Dangote Ibese"`,
		"destination":            `{"geofenceId":5010}`,
		"tripDelayAlertsEnabled": `true`,
	}
	for k, v := range want {
		if string(body.Trip[k]) != v {
			t.Errorf("trip.%s = %s, want %s", k, body.Trip[k], v)
		}
	}
	if len(body.Trip) != len(want) {
		t.Errorf("trip has %d fields, want %d: %s", len(body.Trip), len(want), post.Body)
	}
	// The uniqueId was looked up before the POST, with the documented filter.
	if calls := f.Calls(); !slices.Equal(calls, []string{"GET /trips", "POST /trips"}) {
		t.Errorf("calls %v", calls)
	}
	if q := f.Requests()[0].Query; q.Get("uniqueId") != req.UniqueID || q.Get("page") != "1" {
		t.Errorf("lookup query %v", q)
	}

	url, err := c.TrackURL(t.Context(), ref.ID)
	if err != nil || url != "https://track.loconav.test/t/"+strconv.FormatInt(ref.ID, 10) {
		t.Errorf("track url %q, %v", url, err)
	}
	if q := f.Requests()[len(f.Requests())-1].Query; q.Get("allCheckPoints") != "true" {
		t.Errorf("track_url query %v", q)
	}
	// Creating again returns the same trip: uniqueId is the key.
	again, err := c.CreateTrip(t.Context(), req)
	if err != nil || again != ref || len(f.Trips()) != 1 || f.Count(http.MethodPost, "/trips") != 1 {
		t.Errorf("second create: %+v %v, %d trips, %d POSTs", again, err, len(f.Trips()), f.Count(http.MethodPost, "/trips"))
	}
	if err := c.EndTrip(t.Context(), ref.ID); err != nil {
		t.Fatal(err)
	}
	if tr := f.Trips()[0]; tr.Status != loconav.TripCompleted || !slices.Equal(tr.Actions, []string{"END_TRIP"}) {
		t.Errorf("after end: %+v", tr)
	}
	if err := c.DeleteTrip(t.Context(), ref.ID); err != nil {
		t.Fatal(err)
	}
	if st := f.Trips()[0].Status; st != loconav.TripTrashed {
		t.Errorf("after delete: %s", st)
	}
}

// A place without a geofence and without an address is sent with its name
// as the address (LocoNav requires one with coordinates); no destination
// sends none.
func TestCreateTripPlaces(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	r := req
	r.Source = loconav.TripPlace{Name: "Apapa yard", Lat: 6.45, Lon: 3.36}
	r.Destination = loconav.TripPlace{}
	if _, err := newClient(t, f, loconavtest.NewClock()).CreateTrip(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	b := f.Trips()[0].Body
	if src := b["source"].(map[string]any); src["address"] != "Apapa yard" || src["coordinates"] != "6.450000,3.360000" {
		t.Errorf("source %v", src)
	}
	if _, ok := b["destination"]; ok {
		t.Errorf("destination sent: %v", b)
	}
}

func TestCreateTripInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*loconav.TripRequest)
	}{
		{"no uniqueId", func(r *loconav.TripRequest) { r.UniqueID = " " }},
		{"no vehicle", func(r *loconav.TripRequest) { r.VehicleNumber = "" }},
		{"no start", func(r *loconav.TripRequest) { r.ShouldStartAt = time.Time{} }},
		{"source nowhere", func(r *loconav.TripRequest) { r.Source = loconav.TripPlace{Name: "Somewhere"} }},
		{"destination off the map", func(r *loconav.TripRequest) { r.Destination = loconav.TripPlace{Name: "X", Lat: 91, Lon: 3} }},
		{"negative geofence", func(r *loconav.TripRequest) { r.Source.GeofenceID = -4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := loconavtest.NewServer(t)
			r := req
			tt.edit(&r)
			if _, err := newClient(t, f, loconavtest.NewClock()).CreateTrip(t.Context(), r); err == nil || !strings.HasPrefix(err.Error(), "loconav: POST /trips: ") {
				t.Errorf("err %v", err)
			}
			if n := len(f.Requests()); n != 0 {
				t.Errorf("%d requests for an invalid trip", n)
			}
		})
	}
}

// A POST that LocoNav applied but whose answer was lost or broken is not
// repeated into a second trip: the lookup before the retry finds it.
func TestCreateTripNeverTwice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault loconavtest.Fault
	}{
		{"502", loconavtest.Fault{Status: http.StatusBadGateway}},
		{"timeout", loconavtest.Fault{Hang: true}},
		{"connection dropped", loconavtest.Fault{Drop: true}},
		{"200 not JSON", loconavtest.Fault{Status: http.StatusOK, Body: `{"success":tru`}},
		{"200 without an id", loconavtest.Fault{Status: http.StatusOK, Body: `{"success":true,"data":{"uniqueId":"x"}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := loconavtest.NewServer(t)
			tt.fault.Method, tt.fault.Path, tt.fault.N, tt.fault.AfterApply = http.MethodPost, "/trips", 1, true
			f.Fail(tt.fault)
			ref, err := newClientWith(t, f, loconavtest.Token, shortTimeout(f), loconavtest.NewClock()).CreateTrip(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if trips := f.Trips(); len(trips) != 1 || trips[0].ID != ref.ID {
				t.Errorf("trips %+v, ref %+v", trips, ref)
			}
			if calls := f.Calls(); !slices.Equal(calls, []string{"GET /trips", "POST /trips", "GET /trips"}) {
				t.Errorf("calls %v", calls)
			}
		})
	}
}

func TestCreateTripFailures(t *testing.T) {
	t.Parallel()
	post := func(ft loconavtest.Fault) loconavtest.Fault {
		ft.Method, ft.Path = http.MethodPost, "/trips"
		if ft.N == 0 {
			ft.N = 1
		}
		return ft
	}
	lookup := func(ft loconavtest.Fault) loconavtest.Fault {
		ft.Method, ft.Path = http.MethodGet, "/trips"
		if ft.N == 0 {
			ft.N = 1
		}
		return ft
	}
	tests := []struct {
		name      string
		token     string
		existing  bool // LocoNav holds the trip already
		faults    []loconavtest.Fault
		wantErr   string // "" for success
		wantPosts int
		wantWaits []time.Duration // nil: not checked
	}{
		{name: "5xx before applying is retried", faults: []loconavtest.Fault{post(loconavtest.Fault{N: 2, Status: 503})}, wantPosts: 3},
		{name: "timeout before applying is retried", faults: []loconavtest.Fault{post(loconavtest.Fault{Hang: true})}, wantPosts: 2},
		{name: "429 is waited out", faults: []loconavtest.Fault{post(loconavtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}})},
			wantPosts: 2, wantWaits: []time.Duration{7 * time.Second}},
		{name: "down for good", faults: []loconavtest.Fault{post(loconavtest.Fault{N: 100, Status: 503})},
			wantErr: "503 Service Unavailable", wantPosts: 3},
		{name: "wrong token", token: "s3cret-wrong-token", wantErr: "401 Unauthorized", wantPosts: 0},
		{name: "refused", faults: []loconavtest.Fault{post(loconavtest.Fault{Status: 422, Body: `{"success":false,"data":{"errors":["Vehicle T-11985-LA not found"]}}`})},
			wantErr: "422 Unprocessable Entity: Vehicle T-11985-LA not found", wantPosts: 1},
		{name: "success:false", faults: []loconavtest.Fault{post(loconavtest.Fault{Status: 200, Body: `{"success":false,"data":{"errors":["shouldStartAt is in the past"]}}`})},
			wantErr: "success:false: shouldStartAt is in the past", wantPosts: 1},
		{name: "taken, said with a 422", existing: true,
			faults:    []loconavtest.Fault{lookup(loconavtest.Fault{Status: 200, Body: emptyList})},
			wantPosts: 1},
		{name: "taken, said with success:false", existing: true,
			faults: []loconavtest.Fault{lookup(loconavtest.Fault{Status: 200, Body: emptyList}),
				post(loconavtest.Fault{Status: 200, Body: `{"success":false,"data":{"errors":["duplicate uniqueId"]}}`})},
			wantPosts: 1},
		{name: "taken, yet not listed",
			faults:  []loconavtest.Fault{post(loconavtest.Fault{Status: 409, Body: `{"success":false,"data":{"errors":["conflict"]}}`})},
			wantErr: "yet LocoNav lists no trip", wantPosts: 1},
		{name: "lookup down: nothing posted", faults: []loconavtest.Fault{lookup(loconavtest.Fault{N: 5, Status: 500})},
			wantErr: "not sent, as trip", wantPosts: 0},
		{name: "lookup down after an uncertain POST: not posted again",
			faults: []loconavtest.Fault{lookup(loconavtest.Fault{Status: 200, Body: emptyList}), lookup(loconavtest.Fault{N: 5, Status: 500}),
				post(loconavtest.Fault{Status: 502, AfterApply: true})},
			wantErr: "not sent again", wantPosts: 1},
		{name: "lookup answer not JSON", faults: []loconavtest.Fault{lookup(loconavtest.Fault{Status: 200, Body: "<html>maintenance</html>"})},
			wantErr: "not the JSON envelope", wantPosts: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := loconavtest.NewServer(t)
			var existing loconavtest.Trip
			if tt.existing {
				existing = f.AddTrip(loconavtest.Trip{UniqueID: req.UniqueID, VehicleNumber: req.VehicleNumber, ShouldStartAt: req.ShouldStartAt})
			}
			for _, ft := range tt.faults {
				f.Fail(ft)
			}
			token := loconavtest.Token
			if tt.token != "" {
				token = tt.token
			}
			clock := loconavtest.NewClock()
			ref, err := newClientWith(t, f, token, shortTimeout(f), clock).CreateTrip(t.Context(), req)
			if posts := f.Count(http.MethodPost, "/trips"); posts != tt.wantPosts {
				t.Errorf("%d POSTs, want %d (calls %v)", posts, tt.wantPosts, f.Calls())
			}
			trips := f.Trips()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err %v, want it to say %q", err, tt.wantErr)
				}
				if err != nil && (strings.Contains(err.Error(), token) || strings.Contains(err.Error(), loconavtest.Token)) {
					t.Errorf("err %q carries the token", err)
				}
				if len(trips) > 1 || (len(trips) == 1 && !strings.Contains(tt.name, "uncertain")) {
					t.Errorf("LocoNav holds %+v after a failed create", trips)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(trips) != 1 || trips[0].ID != ref.ID || (tt.existing && ref.ID != existing.ID) {
				t.Errorf("LocoNav holds %+v, got %+v", trips, ref)
			}
			if tt.wantWaits != nil {
				if waits := clock.Waits(); !equalDurations(waits, tt.wantWaits) {
					t.Errorf("waits %v, want %v", waits, tt.wantWaits)
				}
			}
		})
	}
}

// tripCallCase is one way a call about an existing trip can go.
type tripCallCase struct {
	name      string
	token     string
	faults    []loconavtest.Fault // Method and Path are filled in
	wantErr   string              // "" for success
	wantCalls int                 // requests to the endpoint
	wantWaits []time.Duration     // nil: not checked
}

// commonCases are the failures every trip endpoint meets alike.
func commonCases() []tripCallCase {
	return []tripCallCase{
		{name: "ok", wantCalls: 1},
		{name: "wrong token", token: "s3cret-wrong-token", wantErr: "401 Unauthorized (is LOCONAV_API_TOKEN right?)", wantCalls: 1},
		{name: "5xx retried", faults: []loconavtest.Fault{{N: 2, Status: 503}}, wantCalls: 3},
		{name: "timeout retried", faults: []loconavtest.Fault{{Hang: true}}, wantCalls: 2},
		{name: "5xx for good", faults: []loconavtest.Fault{{N: 100, Status: 500}}, wantErr: "500 Internal Server Error after 5 attempts", wantCalls: 5},
		{name: "429 honoured", faults: []loconavtest.Fault{{Status: 429, Header: http.Header{"Retry-After": {"5"}}}},
			wantCalls: 2, wantWaits: []time.Duration{5 * time.Second}},
		{name: "success:false", faults: []loconavtest.Fault{{Status: 200, Body: `{"success":false,"data":{"errors":["Trip is locked"]}}`}},
			wantErr: "success:false: Trip is locked", wantCalls: 1},
		{name: "not JSON", faults: []loconavtest.Fault{{Status: 200, Body: `{"success":true,"data":{"url":`}},
			wantErr: "response is not the JSON envelope", wantCalls: 1},
		{name: "token echoed", faults: []loconavtest.Fault{{Status: 403, Body: `{"success":false,"data":{"errors":["token ` + loconavtest.Token + ` revoked"]}}`}},
			wantErr: "token [token] revoked", wantCalls: 1},
	}
}

// runTripCall runs call against a fake holding one trip, through each case.
func runTripCall(t *testing.T, method, path string, cases []tripCallCase, call func(*loconav.Client, int64) error, check func(*testing.T, loconavtest.Trip)) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := loconavtest.NewServer(t)
			trip := f.AddTrip(loconavtest.Trip{UniqueID: "u1", VehicleNumber: "T1LA", Status: loconav.TripOngoing})
			p := strings.ReplaceAll(path, "{id}", strconv.FormatInt(trip.ID, 10))
			for _, ft := range tt.faults {
				ft.Method, ft.Path = method, p
				if ft.N == 0 {
					ft.N = 1
				}
				f.Fail(ft)
			}
			token := loconavtest.Token
			if tt.token != "" {
				token = tt.token
			}
			clock := loconavtest.NewClock()
			err := call(newClientWith(t, f, token, shortTimeout(f), clock), trip.ID)
			if n := f.Count(method, p); n != tt.wantCalls {
				t.Errorf("%d calls to %s %s, want %d", n, method, p, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to say %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), loconavtest.Token) {
					t.Errorf("err %q carries the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantWaits != nil {
				if waits := clock.Waits(); !equalDurations(waits, tt.wantWaits) {
					t.Errorf("waits %v, want %v", waits, tt.wantWaits)
				}
			}
			if check != nil {
				check(t, f.Trips()[0])
			}
		})
	}
}

func TestTrackURL(t *testing.T) {
	t.Parallel()
	cases := append(commonCases(),
		tripCallCase{name: "not a link", faults: []loconavtest.Fault{{Status: 200, Body: `{"success":true,"data":{"url":"javascript:alert(1)"}}`}},
			wantErr: `read the link: url: "javascript:alert(1)" is not a link`, wantCalls: 1},
		tripCallCase{name: "no url", faults: []loconavtest.Fault{{Status: 200, Body: `{"success":true,"data":{"tripTrackToken":"x"}}`}},
			wantErr: "url: missing", wantCalls: 1},
	)
	runTripCall(t, http.MethodGet, "/trips/{id}/track_url", cases, func(c *loconav.Client, id int64) error {
		u, err := c.TrackURL(t.Context(), id)
		if err == nil && u != "https://track.loconav.test/t/"+strconv.FormatInt(id, 10) {
			return errors.New("wrong link " + u)
		}
		return err
	}, nil)
}

func TestEndTrip(t *testing.T) {
	t.Parallel()
	cases := append(commonCases(),
		// The retry of a PUT that went through meets "already completed":
		// the earlier attempt did it.
		tripCallCase{name: "5xx after applying", faults: []loconavtest.Fault{{Status: 502, AfterApply: true}}, wantCalls: 2},
		tripCallCase{name: "refused at once", faults: []loconavtest.Fault{{Status: 422, Body: `{"success":false,"data":{"errors":["Trip is already completed"]}}`}},
			wantErr: "422 Unprocessable Entity: Trip is already completed", wantCalls: 1},
	)
	runTripCall(t, http.MethodPut, "/trips/{id}", cases, func(c *loconav.Client, id int64) error {
		return c.EndTrip(t.Context(), id)
	}, func(t *testing.T, tr loconavtest.Trip) {
		if tr.Status != loconav.TripCompleted || !slices.Equal(tr.Actions, []string{"END_TRIP"}) {
			t.Errorf("trip %+v", tr)
		}
	})
}

func TestDeleteTrip(t *testing.T) {
	t.Parallel()
	cases := append(commonCases(),
		// The retry of a DELETE that went through meets a 404.
		tripCallCase{name: "5xx after applying", faults: []loconavtest.Fault{{Status: 502, AfterApply: true}}, wantCalls: 2},
		tripCallCase{name: "timeout after applying", faults: []loconavtest.Fault{{Hang: true, AfterApply: true}}, wantCalls: 2},
		tripCallCase{name: "404 at once", faults: []loconavtest.Fault{{Status: 404, Body: `{"success":false,"data":{"errors":["Trip not found"]}}`}},
			wantErr: "404 Not Found: Trip not found", wantCalls: 1},
	)
	runTripCall(t, http.MethodDelete, "/trips/{id}", cases, func(c *loconav.Client, id int64) error {
		return c.DeleteTrip(t.Context(), id)
	}, func(t *testing.T, tr loconavtest.Trip) {
		if tr.Status != loconav.TripTrashed {
			t.Errorf("trip %+v", tr)
		}
	})
}

// An EndTrip body is {"trip":{"action":"END_TRIP","id":…}}.
func TestEndTripWireFormat(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	trip := f.AddTrip(loconavtest.Trip{UniqueID: "u1", VehicleNumber: "T1LA"})
	if err := newClient(t, f, loconavtest.NewClock()).EndTrip(t.Context(), trip.ID); err != nil {
		t.Fatal(err)
	}
	r := f.Requests()[0]
	if want := `{"trip":{"action":"END_TRIP","id":` + strconv.FormatInt(trip.ID, 10) + `}}`; string(r.Body) != want {
		t.Errorf("body %s, want %s", r.Body, want)
	}
}

func TestTripCallsNeedAnID(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	c := newClient(t, f, loconavtest.NewClock())
	if _, err := c.TrackURL(t.Context(), 0); err == nil {
		t.Error("TrackURL(0) succeeded")
	}
	if err := c.EndTrip(t.Context(), -1); err == nil {
		t.Error("EndTrip(-1) succeeded")
	}
	if err := c.DeleteTrip(t.Context(), 0); err == nil {
		t.Error("DeleteTrip(0) succeeded")
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

func TestTrips(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	start := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	states := []string{loconav.TripInitialized, loconav.TripOngoing, loconav.TripDelayed, loconav.TripCompleted, loconav.TripTrashed}
	for i := range 250 {
		f.AddTrip(loconavtest.Trip{UniqueID: "trip-" + strconv.Itoa(i), VehicleNumber: "T" + strconv.Itoa(i%10) + "LA",
			Status: states[i%len(states)], ShouldStartAt: start.Add(time.Duration(i) * time.Hour)})
	}
	c := newClient(t, f, loconavtest.NewClock())

	all, err := c.Trips(t.Context(), loconav.TripQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 || f.Count(http.MethodGet, "/trips") != 3 {
		t.Fatalf("%d trips in %d pages", len(all), f.Count(http.MethodGet, "/trips"))
	}
	held := f.Trips()
	for i, tr := range all {
		h := held[i]
		if tr.ID != h.ID || tr.UniqueID != h.UniqueID || tr.Status != h.Status || tr.VehicleNumber != h.VehicleNumber ||
			!tr.ShouldStartAt.Equal(h.ShouldStartAt) || tr.CreatedAt.Unix() != h.CreatedAt.Unix() {
			t.Fatalf("trip %d = %+v, LocoNav holds %+v", i, tr, h)
		}
	}

	q := loconav.TripQuery{States: []string{loconav.TripOngoing, loconav.TripDelayed}, VehicleNumber: "T1LA",
		From: start, To: start.Add(100 * time.Hour)}
	some, err := c.Trips(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	// T1LA has trips 1, 11, 21 … 91 in the window; i%5 is 1 (ongoing) for
	// 1, 11, 21 …, so all ten are ongoing.
	if len(some) != 10 {
		t.Errorf("%d trips for %+v: %+v", len(some), q, some)
	}
	got := f.Requests()[len(f.Requests())-1].Query
	want := map[string]string{"states": "ongoing,delayed", "vehicleNumber": "T1LA", "startTime": strconv.FormatInt(start.Unix(), 10),
		"endTime": strconv.FormatInt(start.Add(100*time.Hour).Unix(), 10), "page": "1", "perPage": "100"}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, got.Get(k), v)
		}
	}
}

func TestTripsFailures(t *testing.T) {
	t.Parallel()
	cases := append(commonCases(),
		tripCallCase{name: "no values", faults: []loconavtest.Fault{{Status: 200, Body: `{"success":true,"data":{"trips":[]}}`}},
			wantErr: "read the list: no values", wantCalls: 1},
		tripCallCase{name: "values not a list", faults: []loconavtest.Fault{{Status: 200, Body: `{"success":true,"data":{"values":{}}}`}},
			wantErr: "read the list", wantCalls: 1},
	)
	runTripCall(t, http.MethodGet, "/trips", cases, func(c *loconav.Client, _ int64) error {
		trips, err := c.Trips(t.Context(), loconav.TripQuery{})
		if err == nil && len(trips) != 1 {
			return errors.New("want the one trip")
		}
		return err
	}, nil)
}

// A listed value that is not a trip is skipped; the others are kept, with
// LocoNav's other spellings read too.
func TestTripsOddValues(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	f.Fail(loconavtest.Fault{Method: http.MethodGet, Path: "/trips", N: 1, Status: 200, Body: `{"success":true,"data":{"values":[
		{"id":"17","uniqueId":42,"status":" Ongoing ","vehicle":{"number":"T1LA"},"shouldStartAt":"2026-12-05T07:00:00+01:00","createdAt":1764910800000},
		{"uniqueId":"no-id","state":"ongoing"},
		{"id":-3,"state":"ongoing"},
		"trip",
		{"id":18,"state":"completed","shouldStartTs":"soon"}
	]}}`})
	trips, err := newClient(t, f, loconavtest.NewClock()).Trips(t.Context(), loconav.TripQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []loconav.TripState{
		{ID: 17, UniqueID: "42", Status: "ongoing", VehicleNumber: "T1LA", ShouldStartAt: time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC), CreatedAt: time.Unix(1764910800, 0).UTC()},
		{ID: 18, Status: "completed"},
	}
	if !slices.Equal(trips, want) {
		t.Errorf("trips\n%+v\nwant\n%+v", trips, want)
	}
	// No pagination and a short page: that was the last.
	if n := f.Count(http.MethodGet, "/trips"); n != 1 {
		t.Errorf("%d pages asked", n)
	}
}
