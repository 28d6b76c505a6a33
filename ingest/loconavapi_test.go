package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchtower-fleet/watchtower/ingest"
)

// TestLocoNavRESTFixturesMatchShared keeps our copies of LocoNav's REST
// examples identical to the shared ones (CI has ../shared beside the
// repository).
func TestLocoNavRESTFixturesMatchShared(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"list-vehicles.json", "last-known.json"} {
		want, err := os.ReadFile(filepath.Join("..", "..", "shared", "loconav", "rest", name))
		if err != nil {
			requireShared(t, err.Error())
		}
		if got := restFixture(t, name); !bytes.Equal(got, want) {
			t.Errorf("testdata copy of %s differs from ../shared", name)
		}
	}
}

// TestLocoNavFakeMatchesFixtures proves the fake speaks the published wire
// format: given the examples' values it writes the examples' bytes.
func TestLocoNavFakeMatchesFixtures(t *testing.T) {
	t.Parallel()
	vs := encodeVehicles([]fixtureVehicle{vehicleFromTemplate(fakeVehicle{UUID: "9325ecd6-dfcb-4787-b896-593afd85788a", Number: "DRC5"})},
		fixturePagination{PerPage: 10, TotalCount: 31, CurrentPage: 1})
	if want := restFixture(t, "list-vehicles.json"); !bytes.Equal(vs, want) {
		t.Errorf("fake vehicles:\n%s\nfixture:\n%s", vs, want)
	}
	lk := encodeLastKnown([]fixtureLastKnownValue{lastKnownFromFix("077c6ab2-6456-4e07-abd6-1e18bbe7ba1d", "VEHICLE03-", fakeFix{
		Lat: 24.74744, Lon: 54.83273, CoordTS: 1707203220, Speed: 59, SpeedTS: 1707203491, Orientation: "34", Ignition: "ON",
	})}, fixtureLastKnownPagination{Page: 1, PerPage: 10, Count: 1, More: false})
	if want := restFixture(t, "last-known.json"); !bytes.Equal(lk, want) {
		t.Errorf("fake last_known:\n%s\nfixture:\n%s", lk, want)
	}
}

// fixtureServer answers with the published examples exactly as they are.
func fixtureServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	vehicles, lastKnown := restFixture(t, "list-vehicles.json"), restFixture(t, "last-known.json")
	pages := new(atomic.Int32)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /vehicles", func(w http.ResponseWriter, r *http.Request) {
		pages.Add(1)
		w.Write(vehicles)
	})
	mux.HandleFunc("POST /vehicles/telematics/last_known", func(w http.ResponseWriter, r *http.Request) {
		w.Write(lastKnown)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, pages
}

func TestLocoNavFixturesDecode(t *testing.T) {
	t.Parallel()
	srv, pages := fixtureServer(t)
	c := ingest.NewLocoNavClient(srv.URL, "token", srv.Client(), locoNavLogger(t))
	clock := newFakeClock()
	c.Now, c.Sleep = clock.Now, clock.Sleep

	vs, err := c.Vehicles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []ingest.Vehicle{{UUID: "9325ecd6-dfcb-4787-b896-593afd85788a", Number: "DRC5", DisplayNumber: "DRC5"}}
	if len(vs) != 1 || vs[0] != want[0] {
		t.Errorf("Vehicles = %+v, want %+v", vs, want)
	}
	// The example claims 31 vehicles at 10 a page: pages 1..4 are asked
	// for (4·10 ≥ 31), and the same vehicle on each counts once.
	if n := pages.Load(); n != 4 {
		t.Errorf("asked for %d pages, want 4", n)
	}

	evs, err := c.LastKnown(t.Context(), []string{"077c6ab2-6456-4e07-abd6-1e18bbe7ba1d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("LastKnown gave %d events, want 1", len(evs))
	}
	checkFixtureEvent(t, evs[0])
	if !bytes.Contains(restFixture(t, "last-known.json"), evs[0].Raw) || !bytes.HasPrefix(evs[0].Raw, []byte(`{"vehicleNumber":"VEHICLE03-"`)) {
		t.Errorf("Raw is not the value as received: %s", evs[0].Raw)
	}

	// The stream consumer re-parses stored raw values.
	again, err := ingest.ParseLastKnown(evs[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	checkFixtureEvent(t, again)
}

func checkFixtureEvent(t *testing.T, ev ingest.Event) {
	t.Helper()
	if ev.Source != "poll" || ev.Family != ingest.FamilyLastKnown || ev.Kind != ingest.KindLocation {
		t.Errorf("source/family/kind = %q/%q/%q", ev.Source, ev.Family, ev.Kind)
	}
	if ev.VehicleNumber != "VEHICLE03-" || ev.TruckNumber != "VEHICLE03" {
		t.Errorf("vehicle = %q, truck = %q", ev.VehicleNumber, ev.TruckNumber)
	}
	if ev.Point == nil || ev.Point.Lat != 24.74744 || ev.Point.Lon != 54.83273 {
		t.Errorf("point = %+v", ev.Point)
	}
	if want := time.Unix(1707203220, 0).UTC(); !ev.Time.Equal(want) || ev.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v (the coordinates' timestamp, UTC)", ev.Time, want)
	}
	if ev.SpeedKmh == nil || *ev.SpeedKmh != 59 {
		t.Errorf("speed = %v", ev.SpeedKmh)
	}
	if ev.Heading == nil || *ev.Heading != 34 {
		t.Errorf("heading = %v", ev.Heading)
	}
	if ev.Ignition == nil || !*ev.Ignition {
		t.Errorf("ignition = %v", ev.Ignition)
	}
}

func TestLocoNavVehiclesPagination(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	for i := range 250 {
		f.addVehicle(fakeUUID(i), "T"+strconv.Itoa(10000+i)+"LA", nil)
	}
	c := newTestLocoNavClient(t, f, newFakeClock())
	vs, err := c.Vehicles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 250 {
		t.Fatalf("got %d vehicles, want 250", len(vs))
	}
	for i, v := range vs {
		if v.UUID != fakeUUID(i) || v.Number != "T"+strconv.Itoa(10000+i)+"LA" || v.DisplayNumber != v.Number {
			t.Fatalf("vehicle %d = %+v", i, v)
		}
	}
	reqs := f.received()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Method != http.MethodGet || r.Query["page"] != strconv.Itoa(i+1) || r.Query["perPage"] != "100" || r.Token != fakeToken {
			t.Errorf("request %d = %s %s %v", i, r.Method, r.Path, r.Query)
		}
	}
}

func TestLocoNavLastKnownPagination(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	f.capLastKnownPage(10) // pages then follow "more"
	var uuids []string
	for i := range 25 {
		f.addVehicle(fakeUUID(i), "T"+strconv.Itoa(i)+"LA", &fakeFix{Lat: 6.5 + float64(i)/100, Lon: 3.3, CoordTS: 1707203220, Speed: 40, SpeedTS: 1707203220, Orientation: "90", Ignition: "ON"})
		uuids = append(uuids, fakeUUID(i))
	}
	c := newTestLocoNavClient(t, f, newFakeClock())
	evs, err := c.LastKnown(t.Context(), uuids)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 25 {
		t.Fatalf("got %d events, want 25", len(evs))
	}
	reqs := f.received()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (10+10+5 with more=true, true, false)", len(reqs))
	}
	for i, r := range reqs {
		var body struct {
			VehicleIDs []string `json:"vehicleIds"`
			Sensors    []string `json:"sensors"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if r.Method != http.MethodPost || r.Query["page"] != strconv.Itoa(i+1) || len(body.VehicleIDs) != 25 || strings.Join(body.Sensors, ",") != "gps" {
			t.Errorf("request %d = %s %v %s", i, r.Method, r.Query, r.Body)
		}
	}
}

func TestLocoNavLastKnownEvents(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	f.addVehicle(fakeUUID(1), "T-11985-LA", &fakeFix{Lat: 6.45, Lon: 3.39, CoordTS: 1707203220, LonTS: 1707203230, Speed: 0, SpeedTS: 1707203300, Orientation: "359.5", Ignition: "OFF"})
	f.addVehicle(fakeUUID(2), "T22LA", &fakeFix{Lat: 0, Lon: 0, CoordTS: 1707203220, Speed: 0, SpeedTS: 1707203220, Orientation: "0", Ignition: "OFF"})
	f.addVehicle(fakeUUID(3), "T33LA", &fakeFix{Lat: 6.5, Lon: 3.4, CoordTS: 1707203220, Speed: 999, SpeedTS: 1707203220, Orientation: "1", Ignition: "ON"})
	f.addVehicle(fakeUUID(4), "T44LA", &fakeFix{OmitCoordinates: true, Speed: 10, Ignition: "ON"})
	f.addVehicle(fakeUUID(5), "T55LA", nil) // no telemetry: LocoNav leaves it out
	c := newTestLocoNavClient(t, f, newFakeClock())
	evs, err := c.LastKnown(t.Context(), []string{fakeUUID(1), fakeUUID(2), fakeUUID(3), fakeUUID(4), fakeUUID(5)})
	if err != nil {
		t.Fatal(err)
	}
	// 3 (speed 999) and 4 (no coordinates) are dropped and logged.
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2: %+v", len(evs), evs)
	}
	a, b := evs[0], evs[1]
	if a.TruckNumber != "T11985LA" || a.Point == nil || a.Point.Lat != 6.45 || a.Point.Lon != 3.39 {
		t.Errorf("first = %+v", a)
	}
	if want := time.Unix(1707203230, 0).UTC(); !a.Time.Equal(want) {
		t.Errorf("time = %v, want the later of the coordinates' timestamps %v", a.Time, want)
	}
	if a.Ignition == nil || *a.Ignition || a.Heading == nil || *a.Heading != 359.5 || a.SpeedKmh == nil || *a.SpeedKmh != 0 {
		t.Errorf("ignition %v heading %v speed %v", a.Ignition, a.Heading, a.SpeedKmh)
	}
	if b.TruckNumber != "T22LA" || b.Point != nil {
		t.Errorf("0,0 must give a nil point: %+v", b)
	}
	f.mu.Lock()
	resp := bytes.Join(f.lastKnownResponses, nil)
	f.mu.Unlock()
	for _, ev := range evs {
		if !json.Valid(ev.Raw) || !bytes.Contains(resp, ev.Raw) {
			t.Errorf("Raw %s is not a value as received", ev.Raw)
		}
	}
	if got := metricValue(t, c.Collectors(), "watchtower_loconav_last_known_rejected_total", nil); got != 2 {
		t.Errorf("rejected = %v, want 2", got)
	}
}

func TestLocoNavLastKnownNoVehicles(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	c := newTestLocoNavClient(t, f, newFakeClock())
	evs, err := c.LastKnown(t.Context(), nil)
	if err != nil || len(evs) != 0 || len(f.received()) != 0 {
		t.Errorf("LastKnown(nil) = %v, %v after %d requests; want nothing asked (LocoNav would answer for all)", evs, err, len(f.received()))
	}
}

func TestLocoNavRateLimit429(t *testing.T) {
	t.Parallel()
	clockStart := newFakeClock().Now()
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	epoch := func(d time.Duration) string { return strconv.FormatInt(clockStart.Add(d).Unix(), 10) }
	tests := []struct {
		name    string
		replies []fakeReply
		want    []time.Duration
	}{
		{"retry-after seconds", []fakeReply{{Status: 429, Header: h("Retry-After", "7")}}, []time.Duration{7 * time.Second}},
		{"retry-after date", []fakeReply{{Status: 429, Header: h("Retry-After", clockStart.Add(9*time.Second).Format(http.TimeFormat))}}, []time.Duration{9 * time.Second}},
		{"reset epoch", []fakeReply{{Status: 429, Header: h("X-Rate-Limit-Limit", "20", "X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", epoch(12*time.Second))}}, []time.Duration{12 * time.Second}},
		{"reset seconds", []fakeReply{{Status: 429, Header: h("X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", "5")}}, []time.Duration{5 * time.Second}},
		{"retry-after wins over reset", []fakeReply{{Status: 429, Header: h("Retry-After", "3", "X-Rate-Limit-Reset", "50")}}, []time.Duration{3 * time.Second}},
		{"capped at 2 minutes", []fakeReply{{Status: 429, Header: h("Retry-After", "3600")}}, []time.Duration{2 * time.Minute}},
		{"no headers", []fakeReply{{Status: 429}}, []time.Duration{30 * time.Second}},
		{"retry-after 0 still pauses", []fakeReply{{Status: 429, Header: h("Retry-After", "0")}}, []time.Duration{time.Second}},
		{"several", []fakeReply{
			{Status: 429, Header: h("Retry-After", "7", "X-Rate-Limit-Limit", "20")},
			{Status: 429, Header: h("X-Rate-Limit-Reset", epoch(7*time.Second+12*time.Second))},
		}, []time.Duration{7 * time.Second, 12 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeLocoNav(t)
			f.addVehicle(fakeUUID(1), "T1LA", nil)
			f.script(tt.replies...)
			clock := newFakeClock()
			c := newTestLocoNavClient(t, f, clock)
			vs, err := c.Vehicles(t.Context())
			if err != nil || len(vs) != 1 {
				t.Fatalf("Vehicles = %v, %v", vs, err)
			}
			if got := clock.Waits(); !equalDurations(got, tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
			if n := len(f.received()); n != len(tt.replies)+1 {
				t.Errorf("%d requests, want %d", n, len(tt.replies)+1)
			}
			if got := metricValue(t, c.Collectors(), "watchtower_loconav_rate_limit_waits_total", map[string]string{"reason": "429"}); got != float64(len(tt.replies)) {
				t.Errorf("429 waits metric = %v, want %d", got, len(tt.replies))
			}
		})
	}
}

func TestLocoNavRateLimitGivesUp(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	for range 6 {
		f.script(fakeReply{Status: 429, Header: http.Header{"Retry-After": {"1"}}})
	}
	clock := newFakeClock()
	c := newTestLocoNavClient(t, f, clock)
	_, err := c.Vehicles(t.Context())
	var le *ingest.LocoNavError
	if !errors.As(err, &le) || le.Status != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want a 429 LocoNavError", err)
	}
	if !strings.Contains(err.Error(), "rate limited (429) after 5 attempts") {
		t.Errorf("err = %q, want it to say it gave up after 5 attempts", err)
	}
	if n := len(f.received()); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
	if got := clock.Waits(); !equalDurations(got, []time.Duration{time.Second, time.Second, time.Second, time.Second}) {
		t.Errorf("waits = %v", got)
	}
}

func TestLocoNavRemainingZeroWaitsForReset(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	f.addVehicle(fakeUUID(1), "T1LA", nil)
	clock := newFakeClock()
	f.setHeader("X-Rate-Limit-Limit", "20")
	f.setHeader("X-Rate-Limit-Remaining", "0")
	f.setHeader("X-Rate-Limit-Reset", strconv.FormatInt(clock.Now().Add(30*time.Second).Unix(), 10))
	c := newTestLocoNavClient(t, f, clock)
	for range 2 {
		if _, err := c.Vehicles(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := clock.Waits(); !equalDurations(got, []time.Duration{30 * time.Second}) {
		t.Errorf("waits = %v, want one of 30s before the second request", got)
	}
}

// TestLocoNavAdoptsAnnouncedLimit: a response announcing 20 requests a
// minute slows the client to that, from the documented 500.
func TestLocoNavAdoptsAnnouncedLimit(t *testing.T) {
	t.Parallel()
	const calls = 60
	elapsed := func(limit string) time.Duration {
		f := newFakeLocoNav(t)
		f.addVehicle(fakeUUID(1), "T1LA", nil)
		if limit != "" {
			f.setHeader("X-Rate-Limit-Limit", limit)
		}
		clock := newFakeClock()
		c := newTestLocoNavClient(t, f, clock)
		start := clock.Now()
		for range calls {
			if _, err := c.Vehicles(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		return clock.Now().Sub(start)
	}
	if d := elapsed("20"); d < (calls-20)*3*time.Second {
		t.Errorf("%d requests at an announced 20/min took %v, faster than 20 a minute", calls, d)
	}
	if d := elapsed(""); d > 10*time.Second {
		t.Errorf("%d requests at the documented 500/min took %v", calls, d)
	}
}

func TestLocoNavUnauthorized(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	const wrong = "wrong-token-abcdef-123"
	c := ingest.NewLocoNavClient(f.baseURL(), wrong, f.srv.Client(), locoNavLogger(t))
	clock := newFakeClock()
	c.Now, c.Sleep = clock.Now, clock.Sleep
	_, err := c.Vehicles(t.Context())
	var le *ingest.LocoNavError
	if !errors.As(err, &le) || le.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401 LocoNavError", err)
	}
	msg := err.Error()
	for _, want := range []string{"GET /vehicles", "401", "LOCONAV_API_TOKEN", "Invalid User-Authentication token"} {
		if !strings.Contains(msg, want) {
			t.Errorf("err %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, wrong) || strings.Contains(msg, fakeToken) {
		t.Errorf("err %q carries a token", msg)
	}
	if n := len(f.received()); n != 1 {
		t.Errorf("%d requests, want 1: a 401 is not retried", n)
	}
}

func TestLocoNavErrorsWithoutRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply fakeReply
		want  []string
	}{
		{"422", fakeReply{Status: 422, Body: `{"success":false,"data":{"errors":["vehicleIds must be uuids"]}}`}, []string{"422", "vehicleIds must be uuids"}},
		{"400 errors as objects", fakeReply{Status: 400, Body: `{"success":false,"data":{"errors":[{"field":"page","message":"bad"}]}}`}, []string{"400", `{"field":"page","message":"bad"}`}},
		{"success false on 200", fakeReply{Status: 200, Body: `{"success":false,"data":{"errors":["Vehicle not found"]}}`}, []string{"success:false", "Vehicle not found"}},
		{"404 html", fakeReply{Status: 404, Body: "<html>\n<body>Not   Found</body></html>"}, []string{"404", "<html> <body>Not Found</body></html>"}},
		{"token echoed", fakeReply{Status: 403, Body: `{"success":false,"data":{"errors":["token ` + fakeToken + ` is revoked"]}}`}, []string{"403", "token [token] is revoked"}},
		{"200 not json", fakeReply{Status: 200, Body: "OK"}, []string{"not the JSON envelope", "OK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeLocoNav(t)
			f.script(tt.reply)
			c := newTestLocoNavClient(t, f, newFakeClock())
			_, err := c.Vehicles(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), fakeToken) {
				t.Errorf("err %q carries the token", err)
			}
			if n := len(f.received()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestLocoNavServerErrorRetried(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	f.addVehicle(fakeUUID(1), "T1LA", nil)
	// The drop comes first: on a reused connection net/http would itself
	// replay the GET, and the test would not see our retry.
	f.script(fakeReply{Drop: true}, fakeReply{Status: 500}, fakeReply{Status: 503, Body: "<html>busy</html>"})
	clock := newFakeClock()
	c := newTestLocoNavClient(t, f, clock)
	vs, err := c.Vehicles(t.Context())
	if err != nil || len(vs) != 1 {
		t.Fatalf("Vehicles = %v, %v", vs, err)
	}
	if n := len(f.received()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	waits := clock.Waits()
	if len(waits) != 3 {
		t.Fatalf("waits = %v, want 3 backoffs", waits)
	}
	for i, w := range waits {
		hi := time.Second << i // 1s, 2s, 4s, less up to half for jitter
		if w < hi/2 || w > hi {
			t.Errorf("backoff %d = %v, want in [%v, %v]", i+1, w, hi/2, hi)
		}
	}
}

func TestLocoNavServerErrorGivesUp(t *testing.T) {
	t.Parallel()
	f := newFakeLocoNav(t)
	for range 5 {
		f.script(fakeReply{Status: 502, Body: "bad gateway"})
	}
	c := newTestLocoNavClient(t, f, newFakeClock())
	_, err := c.Vehicles(t.Context())
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway after 5 attempts") {
		t.Errorf("err = %v", err)
	}
	if n := len(f.received()); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
}

// TestLocoNavContextCancel uses the real clock: a cancelled context must
// end a long wait at once.
func TestLocoNavContextCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply fakeReply
	}{
		{"429 wait", fakeReply{Status: 429, Header: http.Header{"Retry-After": {"60"}}}},
		{"backoff", fakeReply{Status: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeLocoNav(t)
			for range 5 {
				f.script(tt.reply)
			}
			c := ingest.NewLocoNavClient(f.baseURL(), fakeToken, f.srv.Client(), locoNavLogger(t))
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			_, err := c.Vehicles(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v to notice the cancel", d)
			}
		})
	}
}

func TestParseLastKnownValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
		check     func(ingest.Event) bool
	}{
		{"strings for numbers",
			`{"vehicleNumber":"t11985la","gps":{"speed":{"value":"12.5"},"orientation":{"value":34},"currentLocationCoordinates":{"lat":{"value":"6.5","timestamp":"1707203220"},"long":{"value":3.4,"timestamp":1707203220}}}}`,
			func(ev ingest.Event) bool {
				return ev.TruckNumber == "T11985LA" && *ev.SpeedKmh == 12.5 && *ev.Heading == 34 && ev.Point.Lat == 6.5 && ev.Ignition == nil
			}},
		{"only the coordinates",
			`{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203100}}}}`,
			func(ev ingest.Event) bool {
				return ev.SpeedKmh == nil && ev.Heading == nil && ev.Ignition == nil && ev.Time.Equal(time.Unix(1707203220, 0))
			}},
		{"one timestamp", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5},"long":{"value":3.4,"timestamp":1707203100}}}}`,
			func(ev ingest.Event) bool { return ev.Time.Equal(time.Unix(1707203100, 0)) }},
		{"no fix without timestamps", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":0},"long":{"value":0}}}}`,
			func(ev ingest.Event) bool { return ev.Point == nil && ev.Time.IsZero() }},
		{"ignition off, empty orientation", `{"vehicleNumber":"T1LA","gps":{"ignition":{"value":"off"},"orientation":{"value":""},"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`,
			func(ev ingest.Event) bool { return !*ev.Ignition && ev.Heading == nil }},
		{"unknown sensors ignored", `{"vehicleNumber":"T1LA","vehicleId":"x","gps":{"altitude":{"value":"high"},"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}},"vehicleBatteryLevel":{"value":12}}`,
			func(ev ingest.Event) bool { return ev.Point != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := ingest.ParseLastKnown(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(ev) {
				t.Errorf("event = %+v", ev)
			}
			if string(ev.Raw) != tt.raw {
				t.Errorf("Raw = %s", ev.Raw)
			}
		})
	}
}

func TestParseLastKnownErrors(t *testing.T) {
	t.Parallel()
	coords := `"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}`
	future := strconv.FormatInt(time.Now().Add(3*time.Hour).Unix(), 10)
	tests := []struct {
		name, raw, field string
	}{
		{"not an object", `[1,2]`, ""},
		{"not json", `{"vehicleNumber":`, ""},
		{"no vehicle number", `{"gps":{` + coords + `}}`, "vehicleNumber"},
		{"vehicle number not a string", `{"vehicleNumber":5,"gps":{` + coords + `}}`, "vehicleNumber"},
		{"vehicle number blank", `{"vehicleNumber":" - ","gps":{` + coords + `}}`, "vehicleNumber"},
		{"no gps", `{"vehicleNumber":"T1LA"}`, "gps"},
		{"gps not an object", `{"vehicleNumber":"T1LA","gps":"on"}`, "gps"},
		{"no coordinates", `{"vehicleNumber":"T1LA","gps":{"speed":{"value":1}}}`, "gps.currentLocationCoordinates"},
		{"no lat", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.value"},
		{"lat value null", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":null,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.value"},
		{"lat not a number", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":"north","timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.value"},
		{"lat out of range", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":91,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.value"},
		{"long NaN", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":"NaN","timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.long.value"},
		{"long out of range", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":{"value":-181,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.long.value"},
		{"long not an object", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220},"long":3.4}}}`, "gps.currentLocationCoordinates.long"},
		{"no timestamps", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5},"long":{"value":3.4}}}}`, "gps.currentLocationCoordinates.lat.timestamp"},
		{"timestamp in ms", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":1707203220000},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.timestamp"},
		{"timestamp negative", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":-5},"long":{"value":3.4,"timestamp":1707203220}}}}`, "gps.currentLocationCoordinates.lat.timestamp"},
		{"timestamp in the future", `{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":6.5,"timestamp":` + future + `},"long":{"value":3.4,"timestamp":` + future + `}}}}`, "gps.currentLocationCoordinates.lat.timestamp"},
		{"speed not a number", `{"vehicleNumber":"T1LA","gps":{"speed":{"value":"fast"},` + coords + `}}`, "gps.speed.value"},
		{"speed absurd", `{"vehicleNumber":"T1LA","gps":{"speed":{"value":999},` + coords + `}}`, "gps.speed.value"},
		{"speed not an object", `{"vehicleNumber":"T1LA","gps":{"speed":59,` + coords + `}}`, "gps.speed"},
		{"orientation not a number", `{"vehicleNumber":"T1LA","gps":{"orientation":{"value":"NE"},` + coords + `}}`, "gps.orientation.value"},
		{"ignition unknown", `{"vehicleNumber":"T1LA","gps":{"ignition":{"value":"MAYBE"},` + coords + `}}`, "gps.ignition.value"},
		{"ignition not a string", `{"vehicleNumber":"T1LA","gps":{"ignition":{"value":1},` + coords + `}}`, "gps.ignition.value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ingest.ParseLastKnown(json.RawMessage(tt.raw))
			var pe *ingest.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PayloadError", err)
			}
			if pe.Field != tt.field {
				t.Errorf("field = %q, want %q (err %q)", pe.Field, tt.field, err)
			}
			if tt.field != "" && !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("err %q does not start with the field", err)
			}
		})
	}
}

func FuzzParseLastKnown(f *testing.F) {
	var fixture struct {
		Data struct {
			Values []json.RawMessage `json:"values"`
		} `json:"data"`
	}
	if err := json.Unmarshal(restFixture(f, "last-known.json"), &fixture); err != nil {
		f.Fatal(err)
	}
	for _, v := range fixture.Data.Values {
		f.Add([]byte(v))
	}
	f.Add([]byte(`{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":"0"},"long":{"value":0}}}}`))
	f.Add([]byte(`{"vehicleNumber":"T1LA","gps":{"speed":{"value":"1e400"},"orientation":{"value":"-Inf"},"ignition":{"value":"ON"},"currentLocationCoordinates":{"lat":{"value":-90,"timestamp":1e10},"long":{"value":180,"timestamp":"9"}}}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"gps":null,"vehicleNumber":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := ingest.ParseLastKnown(raw)
		if err != nil {
			var pe *ingest.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v (%T) is not a *PayloadError", err, err)
			}
			return
		}
		if ev.Source != "poll" || ev.Family != ingest.FamilyLastKnown || ev.Kind != ingest.KindLocation || ev.TruckNumber == "" {
			t.Fatalf("event = %+v", ev)
		}
		if !bytes.Equal(ev.Raw, raw) {
			t.Fatal("Raw is not the input")
		}
		if p := ev.Point; p != nil {
			if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 || (p.Lat == 0 && p.Lon == 0) {
				t.Fatalf("invalid point %+v", *p)
			}
			if ev.Time.IsZero() || ev.Time.After(time.Now().Add(time.Hour)) {
				t.Fatalf("fix time %v", ev.Time)
			}
		}
		for _, x := range []*float64{ev.SpeedKmh, ev.Heading} {
			if x != nil && (math.IsNaN(*x) || math.IsInf(*x, 0)) {
				t.Fatalf("non-finite reading in %+v", ev)
			}
		}
	})
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// metricValue gathers cs and returns the value of the counter name with
// labels, or 0 when absent.
func metricValue(t testing.TB, cs []prometheus.Collector, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
