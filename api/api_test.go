package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/api"
	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/listener"
	"github.com/watchtower-fleet/watchtower/live"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
	"github.com/watchtower-fleet/watchtower/tools"
)

// dbURL is the last fixture's schema, for a query the store has no
// method for.
var dbURL string

var lagos = func() *time.Location {
	z, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		panic(err)
	}
	return z
}()

// testNow is the moment the tests live in: Friday 4 December 2026, 09:15
// in Lagos.
var testNow = time.Date(2026, 12, 4, 9, 15, 0, 0, lagos)

// fx is the demo fleet in real Postgres (a schema of its own, so that
// requests run concurrently), a real Redis under a prefix of its own, and
// the API on a test server with a key of each role.
type fx struct {
	db      *store.DB
	rdb     *redis.Client
	prefix  string
	reg     *tools.Registry
	api     *api.API
	hub     *live.Hub
	pub     *live.Publisher
	srv     *httptest.Server
	viewer  string
	disp    string
	admin   string
	channel string
	names   map[string]string // key → its name
	metrics *prometheus.Registry
}

// counted is the API's request counter for a key name and status code.
func (f *fx) counted(t testing.TB, key, code string) float64 {
	t.Helper()
	mfs, err := f.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "watchtower_api_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["key"] == key && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// seedFleet loads the demo fleet and places two trucks: T11985LA parked
// in ESSLIBRA for 30 minutes, T63530LA driving north.
func seedFleet(t testing.TB, db *store.DB) {
	t.Helper()
	imp, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportFleet(context.Background(), "test", imp); err != nil {
		t.Fatal(err)
	}
	ign, stopped, moving := true, 0.0, 45.0
	var in []store.FixInput
	for m := 30; m >= 1; m-- {
		at := testNow.Add(-time.Duration(m) * time.Minute)
		in = append(in, store.FixInput{TruckNumber: "T11985LA", VehicleNumber: "T11985LA", Source: "test", ReceivedAt: at,
			Fix: store.Fix{Point: store.Point{Lat: 6.4641, Lon: 3.3481}, At: at, SpeedKmh: &stopped, Ignition: &ign}})
	}
	for m := 10; m >= 2; m-- {
		at := testNow.Add(-time.Duration(m) * time.Minute)
		in = append(in, store.FixInput{TruckNumber: "T63530LA", VehicleNumber: "T63530LA", Source: "test", ReceivedAt: at,
			Fix: store.Fix{Point: store.Point{Lat: 6.50 + float64(10-m)*0.003, Lon: 3.36}, At: at, SpeedKmh: &moving, Ignition: &ign}})
	}
	if _, err := db.RecordFixes(context.Background(), in, store.DefaultRules()); err != nil {
		t.Fatal(err)
	}
}

func newFx(t testing.TB, tune ...func(*api.Config)) *fx {
	t.Helper()
	schema, db := storetest.NewMigrated(t)
	seedFleet(t, db)
	dbURL = schema.URL
	return newFxOn(t, db, testenv.Redis(t), fmt.Sprintf("wt_test:%d:%08x:", os.Getpid(), rand.Uint32()), tune...)
}

// newFxOn is another replica: its own API and hub on the same store and
// Redis prefix.
func newFxOn(t testing.TB, db *store.DB, rdb *redis.Client, prefix string, tune ...func(*api.Config)) *fx {
	t.Helper()
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	f := &fx{db: db, rdb: rdb, prefix: prefix, channel: prefix + "live", names: map[string]string{}, metrics: prometheus.NewRegistry()}
	f.reg = tools.New(tools.Deps{DB: db, Actions: tools.NewActions(rdb, prefix), Now: func() time.Time { return testNow }, Zone: lagos})
	f.hub = live.NewHub(rdb, f.channel, nil)
	f.pub = live.NewPublisher(rdb, f.channel, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = f.hub.Run(ctx) }()
	select {
	case <-f.hub.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("hub did not subscribe")
	}
	cfg := api.Config{Registry: f.reg, Assistant: tools.NewAssistant(tools.AssistantConfig{}, f.reg, tools.NewConversations(rdb, prefix, nil), nil),
		Keys: db, Redis: rdb, Prefix: prefix, Live: f.hub, Heartbeat: 200 * time.Millisecond, Metrics: f.metrics}
	for _, tn := range tune {
		tn(&cfg)
	}
	a, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(ctx)
	f.api = a
	// The API on the real listener's handler, as in production (its
	// metrics wrapper must let streams flush and WebSockets upgrade).
	listener := listener.NewServer("127.0.0.1:0", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	a.Register(listener.Mux)
	// With the listener's request timeouts, scaled down (30 s in
	// production): streams must outlive them.
	f.srv = httptest.NewUnstartedServer(listener.Handler())
	f.srv.Config.ReadTimeout, f.srv.Config.WriteTimeout = time.Second, time.Second
	f.srv.Start()
	t.Cleanup(func() { f.srv.Close(); cancel() })
	f.viewer, f.disp, f.admin = f.key(t, "viewer"), f.key(t, "dispatcher"), f.key(t, "admin")
	return f
}

// key creates a key named after its role and this replica (or returns the
// one already made).
func (f *fx) key(t testing.TB, role string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%08x", role, rand.Uint32())
	_, secret, err := f.db.CreateAPIKey(context.Background(), name, role, "test")
	if err != nil {
		t.Fatal(err)
	}
	f.names[secret] = name
	return secret
}

type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

func (f *fx) do(t testing.TB, method, path, key string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (f *fx) get(t testing.TB, path, key string) resp { return f.do(t, "GET", path, key, nil) }

// ok fails unless the answer has the status, and returns its JSON.
func ok(t testing.TB, r resp, code int) map[string]any {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.body)
	}
	return r.json(t)
}

// problem checks an RFC 9457 answer: its status, type, reference, and the
// parameter it names.
func problem(t testing.TB, r resp, code int, param string) map[string]any {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q", ct)
	}
	p := r.json(t)
	if p["status"] != float64(code) || !strings.HasPrefix(p["type"].(string), "/api/v1/docs#problem-") || p["title"] == "" {
		t.Errorf("problem %v", p)
	}
	if ref, _ := p["reference"].(string); ref == "" || ref != r.header.Get("X-Request-Id") {
		t.Errorf("reference %q, X-Request-Id %q", ref, r.header.Get("X-Request-Id"))
	}
	if param != "" {
		ps, _ := p["invalid_params"].([]any)
		if len(ps) != 1 || ps[0].(map[string]any)["name"] != param {
			t.Errorf("invalid_params %v, want %s", p["invalid_params"], param)
		}
		if !strings.Contains(p["detail"].(string), param) {
			t.Errorf("detail %q does not name %s", p["detail"], param)
		}
	}
	return p
}
