package ingest_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// pipelineEnv is the ingestion path end to end on real Redis and Postgres:
// a webhook into a stream of the test's own, and the three consumer groups
// into a fresh schema holding the demo fleet.
type pipelineEnv struct {
	*webhookEnv
	db       *store.DB
	pipeline *ingest.Pipeline
	metrics  *ingest.ConsumerMetrics
	rdb      *redis.Client
}

func newPipelineEnv(t *testing.T, rdb *redis.Client) *pipelineEnv {
	t.Helper()
	_, db := storetest.NewMigrated(t)
	in, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportFleet(context.Background(), "test", in); err != nil {
		t.Fatal(err)
	}
	env := &pipelineEnv{webhookEnv: newWebhookEnv(t, ingest.WebhookConfig{Token: testToken}, rdb), db: db}
	env.rdb = rdb
	if rdb == nil {
		env.rdb = env.webhookEnv.rdb
	}
	reg := prometheus.NewRegistry()
	n := notify.New(env.rdb, env.stream+":notify", db, testenv.Logger(t))
	env.pipeline = ingest.NewPipeline(db, parser(), store.DefaultRules(), n, testenv.Logger(t), reg)
	env.metrics = ingest.NewConsumerMetrics(reg)
	return env
}

func (e *pipelineEnv) consumer(t *testing.T, group string, handle ingest.HandlerFunc, tune func(*ingest.ConsumerConfig)) *ingest.Consumer {
	t.Helper()
	cfg := ingest.ConsumerConfig{Stream: e.stream, DeadStream: e.stream + ":dead", Group: group,
		Name: fmt.Sprintf("%s-%d", group, time.Now().UnixNano()), Block: 50 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	c := ingest.NewConsumer(e.rdb, cfg, handle, testenv.Logger(t), e.metrics)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func (e *pipelineEnv) startAll(t *testing.T) {
	e.consumer(t, ingest.GroupArchive, e.pipeline.Archive, nil)
	e.consumer(t, ingest.GroupTelematics, e.pipeline.Telematics, nil)
	e.consumer(t, ingest.GroupAlerts, e.pipeline.Alerts, nil)
}

// eventually polls cond for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *pipelineEnv) pending(t *testing.T, group string) int64 {
	p, err := e.rdb.XPending(context.Background(), e.stream, group).Result()
	if err != nil {
		return -1
	}
	return p.Count
}

// TestPipelineFixturesLand posts every published example and checks where
// each lands: the fix as a position of an (unknown, now registered) truck,
// the alerts with their kinds and times, and all of it in raw_events.
func TestPipelineFixturesLand(t *testing.T) {
	t.Parallel()
	env := newPipelineEnv(t, nil)
	env.startAll(t)
	ctx := context.Background()
	files := []string{"live-location.json", "overspeed-alert.json", "geofence-alert.json", "device-offline-alert.json",
		"device-removal-alert.json", "idling-alert.json", "ignition-alert.json", "sudden-braking-alert.json"}
	for _, f := range files {
		if code, resp := env.post(t, "/webhooks/loconav", fixture(t, f), bearer); code != 202 {
			t.Fatalf("%s: %d %s", f, code, resp)
		}
	}
	for _, g := range []string{ingest.GroupArchive, ingest.GroupTelematics, ingest.GroupAlerts} {
		eventually(t, g+" to catch up", func() bool {
			info, err := env.rdb.XInfoGroups(ctx, env.stream).Result()
			if err != nil {
				return false
			}
			for _, i := range info {
				if i.Name == g {
					return i.Lag == 0 && i.Pending == 0
				}
			}
			return false
		})
	}
	raw, err := env.db.RawEvents(ctx, time.Unix(0, 0), time.Now().Add(time.Minute), 0, 100)
	if err != nil || len(raw) != len(files) {
		t.Fatalf("raw_events = %d, %v; want %d", len(raw), err, len(files))
	}
	for _, r := range raw {
		if !strings.HasPrefix(string(r.Body), "{") || r.StreamID == "" || r.TruckNumber == "" {
			t.Errorf("raw event %+v", r)
		}
	}
	tn, err := env.db.TruckByNumber(ctx, "TN19AA7420")
	if err != nil || tn.Status != store.TruckUnknown || tn.Fix == nil ||
		!tn.Fix.At.Equal(time.Date(2021, 12, 17, 8, 57, 7, 0, time.UTC)) || tn.Fix.Lat != 11.125757 {
		t.Fatalf("live-location truck = %+v, %v", tn, err)
	}
	abc, err := env.db.TruckByNumber(ctx, "ABC123")
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := env.db.AlertsForTruck(ctx, abc.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, a := range alerts {
		kinds[a.Kind] = true
		if a.Kind == "DeviceOfflineAlert" && !a.StartedAt.Equal(time.Date(2024, 2, 10, 9, 0, 0, 0, time.UTC)) {
			t.Errorf("DeviceOfflineAlert started %v; want 10:00 Lagos", a.StartedAt)
		}
	}
	for _, k := range []string{"OverspeedAlert", "GeofenceAlert", "DeviceOfflineAlert", "DeviceRemovalAlert", "IdlingAlert",
		"IgnitionAlert", "SuddenBrakingAlert", store.AlertUnknownVehicle} {
		if !kinds[k] {
			t.Errorf("no %s alert for ABC123 (have %v)", k, kinds)
		}
	}
	// The backlog as /metrics shows it: all eight in the stream, nothing
	// pending or waiting in any group.
	reg := prometheus.NewRegistry()
	reg.MustRegister(ingest.NewStreamCollector(env.rdb, env.stream, env.stream+":dead"))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{"watchtower_stream_length": 8, "watchtower_stream_dead_letters": 0,
		"watchtower_stream_group_pending/telematics": 0, "watchtower_stream_group_lag/telematics": 0,
		"watchtower_stream_group_pending/archive": 0, "watchtower_stream_group_pending/alerts": 0}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("metric %s = %v (present %v), want %v", k, g, ok, v)
		}
	}

	// Each new alert was announced on the notifications stream.
	eventually(t, "notifications", func() bool {
		n, _ := env.rdb.XLen(ctx, env.stream+":notify").Result()
		return n >= int64(len(alerts))
	})
}

// drivePayloads is T11985LA's trip through Flour Mills Apapa as LocoNav
// live-location payloads, one every 30 s.
func drivePayloads(n int) [][]byte {
	var out [][]byte
	t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	for i := range n {
		at := t0.Add(time.Duration(i) * 30 * time.Second).In(lagos)
		lat := 6.445 + float64(i)*0.0004
		out = append(out, fmt.Appendf(nil, `{"imei":"0210716299","speed":30.0,"gpstime":%q,"ignition":"1","latitude":%.6f,"longitude":3.378,"sharpTurn":"0","orientation":0.0,"harshBraking":"0","vehiclenumber":"T-11985-LA","rockBreakerPedal":"0","harshAcceleration":"0"}`,
			at.Format("02-01-2006 15:04:05"), lat))
	}
	return out
}

// TestConsumerCrashMidBatch stops a consumer after its handler wrote a batch
// but before it acknowledged it, then starts another: the second reclaims
// the batch, and the store holds every fix exactly once.
func TestConsumerCrashMidBatch(t *testing.T) {
	t.Parallel()
	env := newPipelineEnv(t, nil)
	ctx := context.Background()
	payloads := drivePayloads(40)
	for _, p := range payloads {
		if code, resp := env.post(t, "/webhooks/loconav/location", p, bearer); code != 202 {
			t.Fatalf("%d %s", code, resp)
		}
	}
	// The first consumer does the work, then "crashes": it blocks until it
	// is stopped and never returns success, so nothing is acknowledged.
	var wrote atomic.Int32
	release := make(chan struct{})
	crashing := env.consumer(t, ingest.GroupTelematics, func(ctx context.Context, msgs []ingest.Message) error {
		if err := env.pipeline.Telematics(ctx, msgs); err != nil {
			return err
		}
		wrote.Add(int32(len(msgs)))
		select {
		case <-ctx.Done():
		case <-release:
		}
		return ctx.Err()
	}, func(c *ingest.ConsumerConfig) { c.BatchSize = 25 })
	eventually(t, "the first batch to be written", func() bool { return wrote.Load() > 0 })
	if err := crashing.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	if p := env.pending(t, ingest.GroupTelematics); p != int64(wrote.Load()) {
		t.Fatalf("%d messages pending after the crash, want the %d written but not acknowledged", p, wrote.Load())
	}
	env.consumer(t, ingest.GroupTelematics, env.pipeline.Telematics, func(c *ingest.ConsumerConfig) {
		c.ClaimIdle, c.ClaimEvery = 200*time.Millisecond, 100*time.Millisecond
	})
	eventually(t, "every message to be acknowledged", func() bool {
		info, err := env.rdb.XInfoGroups(ctx, env.stream).Result()
		return err == nil && len(info) == 1 && info[0].Pending == 0 && info[0].Lag == 0
	})
	n, err := env.db.CountPositions(ctx, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	if err != nil || n != int64(len(payloads)) {
		t.Fatalf("stored %d positions, %v; want each of %d exactly once", n, err, len(payloads))
	}
}

// TestConsumerDeadLetters sends a message the handler always refuses: after
// MaxDeliveries it is in the dead-letter stream and no longer pending, and
// the good messages around it went through.
func TestConsumerDeadLetters(t *testing.T) {
	t.Parallel()
	env := newPipelineEnv(t, nil)
	ctx := context.Background()
	for _, p := range drivePayloads(3) {
		env.post(t, "/webhooks/loconav/location", p, bearer)
	}
	var handled atomic.Int32
	env.consumer(t, "poison-test", func(ctx context.Context, msgs []ingest.Message) error {
		for _, m := range msgs {
			if strings.Contains(string(m.Body), "6.445400") { // the second fix
				return fmt.Errorf("refusing %s", m.ID)
			}
		}
		handled.Add(int32(len(msgs)))
		return nil
	}, func(c *ingest.ConsumerConfig) {
		c.ClaimIdle, c.ClaimEvery, c.MaxDeliveries = 50*time.Millisecond, 50*time.Millisecond, 3
	})
	eventually(t, "the poison message to be dead-lettered", func() bool {
		n, _ := env.rdb.XLen(ctx, env.stream+":dead").Result()
		return n == 1
	})
	dead, _ := env.rdb.XRange(ctx, env.stream+":dead", "-", "+").Result()
	if dead[0].Values["group"] != "poison-test" || !strings.Contains(dead[0].Values["b"].(string), "6.445400") ||
		!strings.Contains(dead[0].Values["error"].(string), "refusing") {
		t.Errorf("dead letter = %v", dead[0].Values)
	}
	eventually(t, "nothing pending", func() bool { return env.pending(t, "poison-test") == 0 })
	if handled.Load() != 2 {
		t.Errorf("handled %d good messages, want 2", handled.Load())
	}
}

// freePort finds a loopback port nothing listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// privateRedis runs a real redis-server of the test's own on a loopback
// port, so that the test can stop and restart it.
func privateRedis(t *testing.T, port int) func() {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (scripts/services.sh installs it): %v", err)
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			stopped = true
		}
	}
	t.Cleanup(stop)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	eventually(t, "private redis to start", func() bool { return c.Ping(context.Background()).Err() == nil })
	return stop
}

// TestRedisOutage stops Redis under a running webhook and consumer: the
// webhook answers 503 (never 2xx for what it did not store), and once Redis
// is back both carry on by themselves.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	stop := privateRedis(t, port)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	env := newPipelineEnv(t, rdb)
	env.consumer(t, ingest.GroupTelematics, env.pipeline.Telematics, nil)
	ctx := context.Background()
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	stored := func() int64 { n, _ := env.db.CountPositions(ctx, day, day.Add(24*time.Hour)); return n }
	payloads := drivePayloads(3)

	if code, _ := env.post(t, "/webhooks/loconav", payloads[0], bearer); code != 202 {
		t.Fatalf("before the outage: %d", code)
	}
	eventually(t, "the first fix", func() bool { return stored() == 1 })

	stop()
	if code, resp := env.post(t, "/webhooks/loconav", payloads[1], bearer); code != 503 {
		t.Fatalf("during the outage: %d %s; want 503", code, resp)
	}

	privateRedis(t, port) // back, empty (no persistence): the group must be made again
	eventually(t, "the webhook to accept again", func() bool {
		code, _ := env.post(t, "/webhooks/loconav", payloads[1], bearer)
		return code == 202
	})
	env.post(t, "/webhooks/loconav", payloads[2], bearer)
	eventually(t, "ingestion to resume", func() bool { return stored() == 3 })
}
