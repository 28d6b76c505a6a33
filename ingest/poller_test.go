package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/ingest/loconav"
	"github.com/watchtower-fleet/watchtower/ingest/loconav/loconavtest"
)

// recordingPublisher stands in for the Redis stream publisher, which is
// tested against Redis elsewhere.
type recordingPublisher struct {
	mu    sync.Mutex
	evs   []ingest.Event
	calls int
	fail  int // fail this many calls first
}

func (p *recordingPublisher) Publish(ctx context.Context, evs []ingest.Event) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.fail > 0 {
		p.fail--
		return nil, errors.New("redis: connection refused")
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		p.evs = append(p.evs, ev)
		ids[i] = strconv.Itoa(len(p.evs)) + "-0"
	}
	return ids, nil
}

func (p *recordingPublisher) events() []ingest.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ingest.Event(nil), p.evs...)
}

// pollerFleet is five vehicles: three with a fix, one reporting 0,0 and one
// LocoNav has no telemetry for.
func pollerFleet(t *testing.T) *loconavtest.Server {
	f := loconavtest.NewServer(t)
	fix := func(lat, lon float64) *loconavtest.Fix {
		return &loconavtest.Fix{Lat: lat, Lon: lon, CoordTS: 1707203220, Speed: 50, SpeedTS: 1707203220, Orientation: "180", Ignition: "ON"}
	}
	f.AddVehicle(fakeUUID(1), "T-11985-LA", fix(6.45, 3.39))
	f.AddVehicle(fakeUUID(2), "T22LA", fix(0, 0))
	f.AddVehicle(fakeUUID(3), "T33LA", fix(7.1, 4.2))
	f.AddVehicle(fakeUUID(4), "T44LA", nil)
	f.AddVehicle(fakeUUID(5), "T55LA", fix(9.05, 7.49))
	return f
}

func newTestPoller(t *testing.T, f *loconavtest.Server, pub *recordingPublisher, clock *fakeClock) *ingest.Poller {
	c := loconav.NewClient(f.URL(), loconavtest.Token, f.Client(), locoNavLogger(t))
	c.Now, c.Sleep = clock.Now, clock.Sleep
	p := ingest.NewPoller(c, pub, locoNavLogger(t))
	p.BatchSize = 2
	p.Now = clock.Now
	return p
}

func TestPollerPollOnce(t *testing.T) {
	t.Parallel()
	f := pollerFleet(t)
	pub := &recordingPublisher{}
	clock := newFakeClock()
	p := newTestPoller(t, f, pub, clock)

	n, err := p.PollOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("published %d, want 3 (0,0 and no telemetry skipped)", n)
	}
	var trucks []string
	for _, ev := range pub.events() {
		if ev.Point == nil || ev.Source != "poll" || ev.Family != ingest.FamilyLastKnown {
			t.Errorf("published %+v", ev)
		}
		trucks = append(trucks, ev.TruckNumber)
	}
	if got := strings.Join(trucks, ","); got != "T11985LA,T33LA,T55LA" {
		t.Errorf("published trucks %s", got)
	}
	// 5 uuids in batches of 2: three last_known calls.
	if got := f.Count(http.MethodPost, "/vehicles/telematics/last_known"); got != 3 {
		t.Errorf("%d last_known calls, want 3", got)
	}

	// The vehicle list is kept for VehicleRefresh, then fetched again.
	if _, err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.Count(http.MethodGet, "/vehicles"); got != 1 {
		t.Errorf("vehicles listed %d times in two polls, want 1", got)
	}
	clock.Advance(ingest.DefaultVehicleRefresh)
	if _, err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.Count(http.MethodGet, "/vehicles"); got != 2 {
		t.Errorf("vehicles listed %d times after the refresh interval, want 2", got)
	}

	cs := p.Collectors()
	if got := metricValue(t, cs, "watchtower_loconav_fixes_published_total", nil); got != 9 {
		t.Errorf("fixes published metric = %v, want 9", got)
	}
	if got := metricValue(t, cs, "watchtower_loconav_polls_total", map[string]string{"result": "ok"}); got != 3 {
		t.Errorf("ok polls = %v, want 3", got)
	}
}

func TestPollerPollOnceFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		setup         func(f *loconavtest.Server, pub *recordingPublisher)
		wantPublished int
		wantErr       string
	}{
		{"vehicles unauthorized", func(f *loconavtest.Server, _ *recordingPublisher) { f.SetToken("rotated") }, 0, "401"},
		{"publisher down", func(_ *loconavtest.Server, pub *recordingPublisher) { pub.fail = 99 }, 0, "connection refused"},
		{"one publish fails, the others go", func(_ *loconavtest.Server, pub *recordingPublisher) { pub.fail = 1 }, 2, "publish 1 polled fixes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := pollerFleet(t)
			pub := &recordingPublisher{}
			tt.setup(f, pub)
			p := newTestPoller(t, f, pub, newFakeClock())
			n, err := p.PollOnce(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if n != tt.wantPublished || len(pub.events()) != tt.wantPublished {
				t.Errorf("published %d (%d recorded), want %d", n, len(pub.events()), tt.wantPublished)
			}
			if got := metricValue(t, p.Collectors(), "watchtower_loconav_polls_total", map[string]string{"result": "error"}); got != 1 {
				t.Errorf("error polls = %v, want 1", got)
			}
		})
	}
}

// TestPollerBatchFailureKeepsOthers: a last_known batch that fails does not
// stop the batches after it.
func TestPollerBatchFailureKeepsOthers(t *testing.T) {
	t.Parallel()
	f := pollerFleet(t)
	pub := &recordingPublisher{}
	p := newTestPoller(t, f, pub, newFakeClock())
	if _, err := p.PollOnce(t.Context()); err != nil { // caches the vehicle list
		t.Fatal(err)
	}
	f.Fail(loconavtest.Fault{N: 1, Status: 422, Body: `{"success":false,"data":{"errors":["vehicleIds: unknown vehicle"]}}`})
	n, err := p.PollOnce(t.Context())
	if err == nil || !strings.Contains(err.Error(), "unknown vehicle") {
		t.Errorf("err = %v", err)
	}
	if n != 2 { // batch 1 (T11985LA, 0,0) failed; T33LA and T55LA published
		t.Errorf("published %d, want 2", n)
	}
}

// TestPollerStaleVehicleList: when the list cannot be refreshed the poll
// carries on with the old one.
func TestPollerStaleVehicleList(t *testing.T) {
	t.Parallel()
	f := pollerFleet(t)
	pub := &recordingPublisher{}
	clock := newFakeClock()
	p := newTestPoller(t, f, pub, clock)
	if _, err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * ingest.DefaultVehicleRefresh)
	f.Fail(loconavtest.Fault{N: 1, Status: 403})
	n, err := p.PollOnce(t.Context())
	if err != nil || n != 3 {
		t.Errorf("PollOnce = %d, %v; want 3 fixes from the old list", n, err)
	}
}

func TestPollerRunKeepsGoing(t *testing.T) {
	t.Parallel()
	f := pollerFleet(t)
	f.Fail(loconavtest.Fault{N: 1, Status: 401}) // the first poll fails
	pub := &recordingPublisher{}
	p := newTestPoller(t, f, pub, newFakeClock())
	p.Now = nil // real time between polls
	p.Interval = 20 * time.Millisecond

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	deadline := time.Now().Add(10 * time.Second)
	for len(pub.events()) < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if n := len(pub.events()); n < 6 {
		t.Errorf("published %d fixes, want at least two polls' worth (6)", n)
	}
	cs := p.Collectors()
	if got := metricValue(t, cs, "watchtower_loconav_polls_total", map[string]string{"result": "error"}); got != 1 {
		t.Errorf("error polls = %v, want 1", got)
	}
	if got := metricValue(t, cs, "watchtower_loconav_polls_total", map[string]string{"result": "ok"}); got < 2 {
		t.Errorf("ok polls = %v, want at least 2", got)
	}
}

func TestPollerRunNeedsClientAndPublisher(t *testing.T) {
	t.Parallel()
	if err := ingest.NewPoller(nil, nil, nil).Run(t.Context()); err == nil {
		t.Error("Run without client or publisher succeeded")
	}
}

// TestPollerCollectorsBesideClient: main registers the client's and the
// poller's metrics in one registry; they must not collide.
func TestPollerCollectorsBesideClient(t *testing.T) {
	t.Parallel()
	c := loconav.NewClient("http://127.0.0.1:1", "token", nil, nil)
	p := ingest.NewPoller(c, &recordingPublisher{}, nil)
	reg := prometheus.NewPedanticRegistry()
	for _, col := range append(c.Collectors(), p.Collectors()...) {
		if err := reg.Register(col); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"watchtower_loconav_polls_total", "watchtower_loconav_fixes_published_total", "watchtower_loconav_rate_limit_waits_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("metrics %v lack %s", names, want)
		}
	}
}

// TestParseLastKnownEvent: a polled fix becomes a stream Event, and a
// value that does not parse a *PayloadError naming the field.
func TestParseLastKnownEvent(t *testing.T) {
	t.Parallel()
	raw := loconavtest.LastKnownValue(fakeUUID(1), "VEHICLE03-", 24.74744, 54.83273, 59, time.Unix(1707203220, 0))
	ev, err := ingest.ParseLastKnown(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Source != "poll" || ev.Family != ingest.FamilyLastKnown || ev.Kind != ingest.KindLocation {
		t.Errorf("source/family/kind = %q/%q/%q", ev.Source, ev.Family, ev.Kind)
	}
	if ev.VehicleNumber != "VEHICLE03-" || ev.TruckNumber != "VEHICLE03" || ev.Point == nil || ev.Point.Lat != 24.74744 || ev.Point.Lon != 54.83273 {
		t.Errorf("event = %+v", ev)
	}
	if !ev.Time.Equal(time.Unix(1707203220, 0)) || ev.SpeedKmh == nil || *ev.SpeedKmh != 59 || ev.Heading == nil || *ev.Heading != 90 ||
		ev.Ignition == nil || !*ev.Ignition || !bytes.Equal(ev.Raw, raw) {
		t.Errorf("event = %+v", ev)
	}
	_, err = ingest.ParseLastKnown(json.RawMessage(`{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":91,"timestamp":1707203220},"long":{"value":3.4,"timestamp":1707203220}}}}`))
	var pe *ingest.PayloadError
	if !errors.As(err, &pe) || pe.Field != "gps.currentLocationCoordinates.lat.value" || pe.Index != -1 ||
		!strings.HasPrefix(err.Error(), pe.Field+": ") {
		t.Errorf("err = %v (%T)", err, err)
	}
}

// FuzzParseLastKnown checks ingest's side of the last_known parser (the
// parser itself is fuzzed in ingest/loconav): errors are *PayloadError, and
// what parses is a poll location Event carrying its input.
func FuzzParseLastKnown(f *testing.F) {
	f.Add([]byte(loconavtest.LastKnownValue(fakeUUID(1), "T-11985-LA", 6.45, 3.39, 40, time.Unix(1707203220, 0))))
	f.Add([]byte(`{"vehicleNumber":"T1LA","gps":{"currentLocationCoordinates":{"lat":{"value":"0"},"long":{"value":0}}}}`))
	f.Add([]byte(`{"vehicleNumber":"T1LA","gps":{"speed":{"value":"1e400"},"orientation":{"value":"-Inf"},"ignition":{"value":"ON"},"currentLocationCoordinates":{"lat":{"value":-90,"timestamp":1e10},"long":{"value":180,"timestamp":"9"}}}}`))
	f.Add([]byte(`null`))
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
		if p := ev.Point; p != nil && (math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || (p.Lat == 0 && p.Lon == 0)) {
			t.Fatalf("invalid point %+v", *p)
		}
	})
}

// fakeClock is the client's clock and sleep: sleeping advances it at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
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
	c.Advance(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
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
