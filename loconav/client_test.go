package loconav_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
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
	c := loconav.NewClient(srv.URL, "token", srv.Client(), testenv.DebugLogger(t))
	clock := loconavtest.NewClock()
	c.Now, c.Sleep = clock.Now, clock.Sleep

	vs, err := c.Vehicles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []loconav.Vehicle{{UUID: "9325ecd6-dfcb-4787-b896-593afd85788a", Number: "DRC5", DisplayNumber: "DRC5"}}
	if len(vs) != 1 || vs[0] != want[0] {
		t.Errorf("Vehicles = %+v, want %+v", vs, want)
	}
	// The example claims 31 vehicles at 10 a page: pages 1..4 are asked
	// for (4·10 ≥ 31), and the same vehicle on each counts once.
	if n := pages.Load(); n != 4 {
		t.Errorf("asked for %d pages, want 4", n)
	}

	fixes, err := c.LastKnown(t.Context(), []string{"077c6ab2-6456-4e07-abd6-1e18bbe7ba1d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(fixes) != 1 {
		t.Fatalf("LastKnown gave %d fixes, want 1", len(fixes))
	}
	checkFixtureFix(t, fixes[0])
	if !bytes.Contains(restFixture(t, "last-known.json"), fixes[0].Raw) || !bytes.HasPrefix(fixes[0].Raw, []byte(`{"vehicleNumber":"VEHICLE03-"`)) {
		t.Errorf("Raw is not the value as received: %s", fixes[0].Raw)
	}

	// Stored raw values are parsed again later.
	again, err := loconav.ParseLastKnown(fixes[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	checkFixtureFix(t, again)
}

func checkFixtureFix(t *testing.T, f loconav.LastKnownFix) {
	t.Helper()
	if f.VehicleUUID != "077c6ab2-6456-4e07-abd6-1e18bbe7ba1d" {
		t.Errorf("vehicle uuid = %q", f.VehicleUUID)
	}
	if f.VehicleNumber != "VEHICLE03-" || f.TruckNumber != "VEHICLE03" {
		t.Errorf("vehicle = %q, truck = %q", f.VehicleNumber, f.TruckNumber)
	}
	if f.Point == nil || f.Point.Lat != 24.74744 || f.Point.Lon != 54.83273 {
		t.Errorf("point = %+v", f.Point)
	}
	if want := time.Unix(1707203220, 0).UTC(); !f.Time.Equal(want) || f.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v (the coordinates' timestamp, UTC)", f.Time, want)
	}
	if f.SpeedKmh == nil || *f.SpeedKmh != 59 {
		t.Errorf("speed = %v", f.SpeedKmh)
	}
	if f.Heading == nil || *f.Heading != 34 {
		t.Errorf("heading = %v", f.Heading)
	}
	if f.Ignition == nil || !*f.Ignition {
		t.Errorf("ignition = %v", f.Ignition)
	}
	if fix, ok := f.Fix(); !ok || fix.Point != *f.Point || !fix.At.Equal(f.Time) {
		t.Errorf("Fix() = %+v, %v", fix, ok)
	}
}

func TestLocoNavVehiclesPagination(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	for i := range 250 {
		f.AddVehicle(loconavtest.UUID(i), "T"+strconv.Itoa(10000+i)+"LA", nil)
	}
	c := newClient(t, f, loconavtest.NewClock())
	vs, err := c.Vehicles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 250 {
		t.Fatalf("got %d vehicles, want 250", len(vs))
	}
	for i, v := range vs {
		if v.UUID != loconavtest.UUID(i) || v.Number != "T"+strconv.Itoa(10000+i)+"LA" || v.DisplayNumber != v.Number {
			t.Fatalf("vehicle %d = %+v", i, v)
		}
	}
	reqs := f.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Method != http.MethodGet || r.Path != "/vehicles" || r.Query.Get("page") != strconv.Itoa(i+1) || r.Query.Get("perPage") != "100" || r.Token != loconavtest.Token {
			t.Errorf("request %d = %s %s %v", i, r.Method, r.Path, r.Query)
		}
	}
}

func TestLocoNavLastKnownPagination(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	f.CapLastKnownPage(10) // pages then follow "more"
	var uuids []string
	for i := range 25 {
		f.AddVehicle(loconavtest.UUID(i), "T"+strconv.Itoa(i)+"LA", &loconavtest.Fix{Lat: 6.5 + float64(i)/100, Lon: 3.3, CoordTS: 1707203220, Speed: 40, SpeedTS: 1707203220, Orientation: "90", Ignition: "ON"})
		uuids = append(uuids, loconavtest.UUID(i))
	}
	c := newClient(t, f, loconavtest.NewClock())
	fixes, err := c.LastKnown(t.Context(), uuids)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixes) != 25 {
		t.Fatalf("got %d fixes, want 25", len(fixes))
	}
	reqs := f.Requests()
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
		if r.Method != http.MethodPost || r.Query.Get("page") != strconv.Itoa(i+1) || len(body.VehicleIDs) != 25 || strings.Join(body.Sensors, ",") != "gps" {
			t.Errorf("request %d = %s %v %s", i, r.Method, r.Query, r.Body)
		}
	}
}

func TestLocoNavLastKnownEvents(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	f.AddVehicle(loconavtest.UUID(1), "T-11985-LA", &loconavtest.Fix{Lat: 6.45, Lon: 3.39, CoordTS: 1707203220, LonTS: 1707203230, Speed: 0, SpeedTS: 1707203300, Orientation: "359.5", Ignition: "OFF"})
	f.AddVehicle(loconavtest.UUID(2), "T22LA", &loconavtest.Fix{Lat: 0, Lon: 0, CoordTS: 1707203220, Speed: 0, SpeedTS: 1707203220, Orientation: "0", Ignition: "OFF"})
	f.AddVehicle(loconavtest.UUID(3), "T33LA", &loconavtest.Fix{Lat: 6.5, Lon: 3.4, CoordTS: 1707203220, Speed: 999, SpeedTS: 1707203220, Orientation: "1", Ignition: "ON"})
	f.AddVehicle(loconavtest.UUID(4), "T44LA", &loconavtest.Fix{OmitCoordinates: true, Speed: 10, Ignition: "ON"})
	f.AddVehicle(loconavtest.UUID(5), "T55LA", nil) // no telemetry: LocoNav leaves it out
	c := newClient(t, f, loconavtest.NewClock())
	fixes, err := c.LastKnown(t.Context(), []string{loconavtest.UUID(1), loconavtest.UUID(2), loconavtest.UUID(3), loconavtest.UUID(4), loconavtest.UUID(5)})
	if err != nil {
		t.Fatal(err)
	}
	// 3 (speed 999) and 4 (no coordinates) are dropped and logged.
	if len(fixes) != 2 {
		t.Fatalf("got %d fixes, want 2: %+v", len(fixes), fixes)
	}
	a, b := fixes[0], fixes[1]
	if a.TruckNumber != "T11985LA" || a.VehicleUUID != loconavtest.UUID(1) || a.Point == nil || a.Point.Lat != 6.45 || a.Point.Lon != 3.39 {
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
	if _, ok := b.Fix(); ok {
		t.Error("a fix without a point gives a store.Fix")
	}
	var resp []byte
	for _, r := range f.Requests() {
		resp = append(resp, r.Response...)
	}
	for _, fx := range fixes {
		if !json.Valid(fx.Raw) || !bytes.Contains(resp, fx.Raw) {
			t.Errorf("Raw %s is not a value as received", fx.Raw)
		}
	}
	if got := testenv.MetricValue(t, c.Collectors(), "watchtower_loconav_last_known_rejected_total", nil); got != 2 {
		t.Errorf("rejected = %v, want 2", got)
	}
}

func TestLocoNavLastKnownNoVehicles(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	c := newClient(t, f, loconavtest.NewClock())
	fixes, err := c.LastKnown(t.Context(), nil)
	if err != nil || len(fixes) != 0 || len(f.Requests()) != 0 {
		t.Errorf("LastKnown(nil) = %v, %v after %d requests; want nothing asked (LocoNav would answer for all)", fixes, err, len(f.Requests()))
	}
}

func TestLocoNavRateLimit429(t *testing.T) {
	t.Parallel()
	clockStart := loconavtest.NewClock().Now()
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
		replies []loconavtest.Fault
		want    []time.Duration
	}{
		{"retry-after seconds", []loconavtest.Fault{{Status: 429, Header: h("Retry-After", "7")}}, []time.Duration{7 * time.Second}},
		{"retry-after date", []loconavtest.Fault{{Status: 429, Header: h("Retry-After", clockStart.Add(9*time.Second).Format(http.TimeFormat))}}, []time.Duration{9 * time.Second}},
		{"reset epoch", []loconavtest.Fault{{Status: 429, Header: h("X-Rate-Limit-Limit", "20", "X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", epoch(12*time.Second))}}, []time.Duration{12 * time.Second}},
		{"reset seconds", []loconavtest.Fault{{Status: 429, Header: h("X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", "5")}}, []time.Duration{5 * time.Second}},
		{"retry-after wins over reset", []loconavtest.Fault{{Status: 429, Header: h("Retry-After", "3", "X-Rate-Limit-Reset", "50")}}, []time.Duration{3 * time.Second}},
		{"capped at 2 minutes", []loconavtest.Fault{{Status: 429, Header: h("Retry-After", "3600")}}, []time.Duration{2 * time.Minute}},
		{"no headers", []loconavtest.Fault{{Status: 429}}, []time.Duration{30 * time.Second}},
		{"retry-after 0 still pauses", []loconavtest.Fault{{Status: 429, Header: h("Retry-After", "0")}}, []time.Duration{time.Second}},
		{"several", []loconavtest.Fault{
			{Status: 429, Header: h("Retry-After", "7", "X-Rate-Limit-Limit", "20")},
			{Status: 429, Header: h("X-Rate-Limit-Reset", epoch(7*time.Second+12*time.Second))},
		}, []time.Duration{7 * time.Second, 12 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := loconavtest.NewServer(t)
			f.AddVehicle(loconavtest.UUID(1), "T1LA", nil)
			script(f, tt.replies...)
			clock := loconavtest.NewClock()
			c := newClient(t, f, clock)
			vs, err := c.Vehicles(t.Context())
			if err != nil || len(vs) != 1 {
				t.Fatalf("Vehicles = %v, %v", vs, err)
			}
			if got := clock.Waits(); !equalDurations(got, tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
			if n := len(f.Requests()); n != len(tt.replies)+1 {
				t.Errorf("%d requests, want %d", n, len(tt.replies)+1)
			}
			if got := testenv.MetricValue(t, c.Collectors(), "watchtower_loconav_rate_limit_waits_total", map[string]string{"reason": "429"}); got != float64(len(tt.replies)) {
				t.Errorf("429 waits metric = %v, want %d", got, len(tt.replies))
			}
		})
	}
}

func TestLocoNavRateLimitGivesUp(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	f.Fail(loconavtest.Fault{N: 6, Status: 429, Header: http.Header{"Retry-After": {"1"}}})
	clock := loconavtest.NewClock()
	c := newClient(t, f, clock)
	_, err := c.Vehicles(t.Context())
	var le *loconav.Error
	if !errors.As(err, &le) || le.Status != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want a 429 loconav.Error", err)
	}
	if !strings.Contains(err.Error(), "rate limited (429) after 5 attempts") {
		t.Errorf("err = %q, want it to say it gave up after 5 attempts", err)
	}
	if n := len(f.Requests()); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
	if got := clock.Waits(); !equalDurations(got, []time.Duration{time.Second, time.Second, time.Second, time.Second}) {
		t.Errorf("waits = %v", got)
	}
}

func TestLocoNavRemainingZeroWaitsForReset(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	f.AddVehicle(loconavtest.UUID(1), "T1LA", nil)
	clock := loconavtest.NewClock()
	f.SetHeader("X-Rate-Limit-Limit", "20")
	f.SetHeader("X-Rate-Limit-Remaining", "0")
	f.SetHeader("X-Rate-Limit-Reset", strconv.FormatInt(clock.Now().Add(30*time.Second).Unix(), 10))
	c := newClient(t, f, clock)
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
		f := loconavtest.NewServer(t)
		f.AddVehicle(loconavtest.UUID(1), "T1LA", nil)
		if limit != "" {
			f.SetHeader("X-Rate-Limit-Limit", limit)
		}
		clock := loconavtest.NewClock()
		c := newClient(t, f, clock)
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
	f := loconavtest.NewServer(t)
	const wrong = "wrong-token-abcdef-123"
	c := newClientWith(t, f, wrong, f.Client(), loconavtest.NewClock())
	_, err := c.Vehicles(t.Context())
	var le *loconav.Error
	if !errors.As(err, &le) || le.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401 loconav.Error", err)
	}
	msg := err.Error()
	for _, want := range []string{"GET /vehicles", "401", "LOCONAV_API_TOKEN", "Invalid User-Authentication token"} {
		if !strings.Contains(msg, want) {
			t.Errorf("err %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, wrong) || strings.Contains(msg, loconavtest.Token) {
		t.Errorf("err %q carries a token", msg)
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: a 401 is not retried", n)
	}
}

func TestLocoNavErrorsWithoutRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply loconavtest.Fault
		want  []string
	}{
		{"422", loconavtest.Fault{Status: 422, Body: `{"success":false,"data":{"errors":["vehicleIds must be uuids"]}}`}, []string{"422", "vehicleIds must be uuids"}},
		{"400 errors as objects", loconavtest.Fault{Status: 400, Body: `{"success":false,"data":{"errors":[{"field":"page","message":"bad"}]}}`}, []string{"400", `{"field":"page","message":"bad"}`}},
		{"success false on 200", loconavtest.Fault{Status: 200, Body: `{"success":false,"data":{"errors":["Vehicle not found"]}}`}, []string{"success:false", "Vehicle not found"}},
		{"404 html", loconavtest.Fault{Status: 404, Body: "<html>\n<body>Not   Found</body></html>"}, []string{"404", "<html> <body>Not Found</body></html>"}},
		{"token echoed", loconavtest.Fault{Status: 403, Body: `{"success":false,"data":{"errors":["token ` + loconavtest.Token + ` is revoked"]}}`}, []string{"403", "token [token] is revoked"}},
		{"200 not json", loconavtest.Fault{Status: 200, Body: "OK"}, []string{"not the JSON envelope", "OK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := loconavtest.NewServer(t)
			script(f, tt.reply)
			c := newClient(t, f, loconavtest.NewClock())
			_, err := c.Vehicles(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), loconavtest.Token) {
				t.Errorf("err %q carries the token", err)
			}
			if n := len(f.Requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestLocoNavServerErrorRetried(t *testing.T) {
	t.Parallel()
	f := loconavtest.NewServer(t)
	f.AddVehicle(loconavtest.UUID(1), "T1LA", nil)
	// The drop comes first: on a reused connection net/http would itself
	// replay the GET, and the test would not see our retry.
	script(f, loconavtest.Fault{Drop: true}, loconavtest.Fault{Status: 500}, loconavtest.Fault{Status: 503, Body: "<html>busy</html>"})
	clock := loconavtest.NewClock()
	c := newClient(t, f, clock)
	vs, err := c.Vehicles(t.Context())
	if err != nil || len(vs) != 1 {
		t.Fatalf("Vehicles = %v, %v", vs, err)
	}
	if n := len(f.Requests()); n != 4 {
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
	f := loconavtest.NewServer(t)
	f.Fail(loconavtest.Fault{N: 5, Status: 502, Body: "bad gateway"})
	c := newClient(t, f, loconavtest.NewClock())
	_, err := c.Vehicles(t.Context())
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway after 5 attempts") {
		t.Errorf("err = %v", err)
	}
	if n := len(f.Requests()); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
}

// TestLocoNavContextCancel uses the real clock: a cancelled context must
// end a long wait at once.
func TestLocoNavContextCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply loconavtest.Fault
	}{
		{"429 wait", loconavtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"60"}}}},
		{"backoff", loconavtest.Fault{Status: 500}},
		{"hanging server", loconavtest.Fault{Hang: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := loconavtest.NewServer(t)
			tt.reply.N = 5
			f.Fail(tt.reply)
			c := newClient(t, f, nil)
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
