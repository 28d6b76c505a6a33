package tools_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
	"github.com/watchtower-fleet/watchtower/tools"
	"github.com/watchtower-fleet/watchtower/tools/openaitest"
)

// reportPercentiles adds p50 and p99 of the per-op durations as metrics.
func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// benchEnv is the demo fleet on a schema of its own, with T11985LA placed
// at ESS Libra.
func benchEnv(b *testing.B) (*store.DB, tools.Deps) {
	_, db := storetest.NewMigrated(b)
	seedDemo(b, db)
	rdb := testenv.Redis(b)
	now := time.Now()
	ign, stopped := true, 0.0
	var in []store.FixInput
	for m := 30; m >= 1; m-- {
		in = append(in, fix("T11985LA", 6.4641, 3.3481, now.Add(-time.Duration(m)*time.Minute), &stopped, &ign))
	}
	if _, err := db.RecordFixes(context.Background(), in, store.DefaultRules()); err != nil {
		b.Fatal(err)
	}
	return db, tools.Deps{DB: db, Actions: tools.NewActions(rdb, testPrefix(b, rdb)), Now: time.Now, Zone: lagos}
}

// BenchmarkTruckLocation: truck_location end to end through the database
// (truck, place, open visit, audit row) and the rendering for the model and
// for people. Target p99 < 5 ms.
func BenchmarkTruckLocation(b *testing.B) {
	_, deps := benchEnv(b)
	reg := tools.New(deps)
	ctx := context.Background()
	args := []byte(`{"truck":"t-11985-la"}`)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		out := reg.Invoke(ctx, viewer, "truck_location", args)
		if out.Err != nil {
			b.Fatal(out.Err)
		}
		_ = out.ModelOutput()
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// BenchmarkLoopStep: the loop's own cost per model call, against a fake
// server that answers at once: instructions rendered with the fleet's
// counts, the request encoded and sent over loopback, the answer parsed,
// the thread's state read and written in Redis. Target < 2 ms a step.
func BenchmarkLoopStep(b *testing.B) {
	_, deps := benchEnv(b)
	reg := tools.New(deps)
	srv := openaitest.NewServer(b, func(*openaitest.Request) openaitest.Reply { return openaitest.Text("ok") })
	srv.DisableRecording()
	asst := tools.NewAssistant(tools.AssistantConfig{APIKey: openaitest.APIKey, BaseURL: srv.URL()}, reg,
		tools.NewConversations(testenv.Redis(b), testPrefix(b, testenv.Redis(b)), nil), nil)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		r := asst.Ask(ctx, tools.Request{Caller: viewer, Thread: "bench", Text: "hello"})
		if r.Failed || r.Steps != 1 {
			b.Fatalf("reply %+v", r)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}
