package ingest_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
)

// recordingPublisher stands in for the Redis stream publisher, which is
// tested against Redis elsewhere.
type recordingPublisher struct {
	mu    sync.Mutex
	evs   []loconav.Event
	calls int
	fail  int // fail this many calls first
}

func (p *recordingPublisher) Publish(ctx context.Context, evs []loconav.Event) ([]string, error) {
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

func (p *recordingPublisher) events() []loconav.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]loconav.Event(nil), p.evs...)
}

// pollerFleet is five vehicles: three with a fix, one reporting 0,0 and one
// LocoNav has no telemetry for.
func pollerFleet(t *testing.T) *loconavtest.Server {
	f := loconavtest.NewServer(t)
	fix := func(lat, lon float64) *loconavtest.Fix {
		return &loconavtest.Fix{Lat: lat, Lon: lon, CoordTS: 1707203220, Speed: 50, SpeedTS: 1707203220, Orientation: "180", Ignition: "ON"}
	}
	f.AddVehicle(loconavtest.UUID(1), "T-11985-LA", fix(6.45, 3.39))
	f.AddVehicle(loconavtest.UUID(2), "T22LA", fix(0, 0))
	f.AddVehicle(loconavtest.UUID(3), "T33LA", fix(7.1, 4.2))
	f.AddVehicle(loconavtest.UUID(4), "T44LA", nil)
	f.AddVehicle(loconavtest.UUID(5), "T55LA", fix(9.05, 7.49))
	return f
}

func newTestPoller(t *testing.T, f *loconavtest.Server, pub *recordingPublisher, clock *loconavtest.Clock) *ingest.Poller {
	c := loconav.NewClient(f.URL(), loconavtest.Token, f.Client(), testenv.DebugLogger(t))
	c.Now, c.Sleep = clock.Now, clock.Sleep
	p := ingest.NewPoller(c, pub, testenv.DebugLogger(t))
	p.BatchSize = 2
	p.Now = clock.Now
	return p
}

func TestPollerPollOnce(t *testing.T) {
	t.Parallel()
	f := pollerFleet(t)
	pub := &recordingPublisher{}
	clock := loconavtest.NewClock()
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
		if ev.Point == nil || ev.Source != "poll" || ev.Family != loconav.FamilyLastKnown {
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
	if got := testenv.MetricValue(t, cs, "watchtower_loconav_fixes_published_total", nil); got != 9 {
		t.Errorf("fixes published metric = %v, want 9", got)
	}
	if got := testenv.MetricValue(t, cs, "watchtower_loconav_polls_total", map[string]string{"result": "ok"}); got != 3 {
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
			p := newTestPoller(t, f, pub, loconavtest.NewClock())
			n, err := p.PollOnce(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if n != tt.wantPublished || len(pub.events()) != tt.wantPublished {
				t.Errorf("published %d (%d recorded), want %d", n, len(pub.events()), tt.wantPublished)
			}
			if got := testenv.MetricValue(t, p.Collectors(), "watchtower_loconav_polls_total", map[string]string{"result": "error"}); got != 1 {
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
	p := newTestPoller(t, f, pub, loconavtest.NewClock())
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
	clock := loconavtest.NewClock()
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

// A failed poll does not stop the next (the scheduled job calls PollOnce
// every interval): each is counted by its result.
func TestPollerKeepsGoing(t *testing.T) {
	t.Parallel()
	f := pollerFleet(t)
	f.Fail(loconavtest.Fault{N: 1, Status: 401}) // the first poll fails
	pub := &recordingPublisher{}
	p := newTestPoller(t, f, pub, loconavtest.NewClock())
	if _, err := p.PollOnce(t.Context()); err == nil {
		t.Error("the first poll succeeded; want the 401")
	}
	for i := range 2 {
		if _, err := p.PollOnce(t.Context()); err != nil {
			t.Errorf("poll %d: %v", i+2, err)
		}
	}
	if n := len(pub.events()); n < 6 {
		t.Errorf("published %d fixes, want at least two polls' worth (6)", n)
	}
	cs := p.Collectors()
	if got := testenv.MetricValue(t, cs, "watchtower_loconav_polls_total", map[string]string{"result": "error"}); got != 1 {
		t.Errorf("error polls = %v, want 1", got)
	}
	if got := testenv.MetricValue(t, cs, "watchtower_loconav_polls_total", map[string]string{"result": "ok"}); got != 2 {
		t.Errorf("ok polls = %v, want 2", got)
	}
}

func TestPollerNeedsClientAndPublisher(t *testing.T) {
	t.Parallel()
	if _, err := ingest.NewPoller(nil, nil, nil).PollOnce(t.Context()); err == nil {
		t.Error("PollOnce without client or publisher succeeded")
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
