package ingest_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/sim"
	"github.com/watchtower-fleet/watchtower/store"
)

// TestSimulatedDay sends a simulated day of 20 demo trucks through the real
// path (webhook, stream, two competing telematics consumers, archive) with
// 2% of fixes sent twice and delivery shuffled up to 10 minutes late. The
// store must hold each fix once and find the simulator's own visits, each
// entry and exit within one fix interval.
func TestSimulatedDay(t *testing.T) {
	t.Parallel()
	env := newPipelineEnv(t, nil)
	ctx := context.Background()
	fleet, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	var trucks []store.Truck
	for _, r := range fleet.Trucks[:20] {
		trucks = append(trucks, r.Value)
	}
	var places []store.Location
	for _, r := range fleet.Locations {
		places = append(places, r.Value)
	}
	const interval = 30 * time.Second
	start := time.Date(2026, 11, 20, 5, 0, 0, 0, time.UTC)
	s, err := sim.New(sim.Config{Seed: 7, Start: start, Duration: 24 * time.Hour, FixInterval: interval, Trucks: trucks, Places: places})
	if err != nil {
		t.Fatal(err)
	}
	fixes, truth := s.Fixes(), s.Truth()
	if len(truth.Visits) == 0 || len(truth.NearMisses) == 0 {
		t.Fatalf("the simulated day has %d visits and %d near misses: nothing to check", len(truth.Visits), len(truth.NearMisses))
	}

	// Delivery: each fix arrives up to 10 minutes after its time, 2% twice.
	rng := rand.New(rand.NewPCG(11, 12))
	type arrival struct {
		at   time.Time
		body []byte
	}
	var arrivals []arrival
	for _, f := range fixes {
		body := sim.LiveLocationPayload(f, lagos)
		arrivals = append(arrivals, arrival{f.At.Add(time.Duration(rng.Int64N(int64(10 * time.Minute)))), body})
		if rng.Float64() < 0.02 {
			arrivals = append(arrivals, arrival{f.At.Add(time.Duration(rng.Int64N(int64(10 * time.Minute)))), body})
		}
	}
	slices.SortStableFunc(arrivals, func(a, b arrival) int { return a.at.Compare(b.at) })
	dups := len(arrivals) - len(fixes)

	env.consumer(t, ingest.GroupArchive, env.pipeline.Archive, nil)
	env.consumer(t, ingest.GroupTelematics, env.pipeline.Telematics, func(c *ingest.ConsumerConfig) { c.Name = "telematics-a" })
	env.consumer(t, ingest.GroupTelematics, env.pipeline.Telematics, func(c *ingest.ConsumerConfig) { c.Name = "telematics-b" })

	// Eight senders keep the arrival order roughly, as LocoNav's would.
	work := make(chan []byte, 256)
	var wg sync.WaitGroup
	var failed sync.Map
	for range 8 {
		wg.Go(func() {
			for body := range work {
				req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/webhooks/loconav/location", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := env.srv.Client().Do(req)
				if err != nil {
					failed.Store(string(body), err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failed.Store(string(body), resp.Status)
				}
			}
		})
	}
	for _, a := range arrivals {
		work <- a.body
	}
	close(work)
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Fatalf("webhook refused %s: %v", k, v); return false })

	from, to := start.Add(-time.Minute), start.Add(25*time.Hour)
	eventually(t, "every fix to be stored", func() bool {
		n, _ := env.db.CountPositions(ctx, from, to)
		return n >= int64(len(fixes))
	})
	eventually(t, "the consumers to finish", func() bool { return env.pending(t, ingest.GroupTelematics) == 0 })
	if n, _ := env.db.CountPositions(ctx, from, to); n != int64(len(fixes)) {
		t.Fatalf("stored %d positions for %d unique fixes (%d sent twice)", n, len(fixes), dups)
	}

	got, err := env.db.Visits(ctx, 0, from, to)
	if err != nil {
		t.Fatal(err)
	}

	key := func(truck, loc string) string { return truck + " @ " + loc }
	detected := map[string][]store.Visit{}
	for _, v := range got {
		detected[key(v.TruckNumber, v.LocationCode)] = append(detected[key(v.TruckNumber, v.LocationCode)], v)
	}
	near := func(a, b time.Time) bool { d := a.Sub(b); return d <= interval && d >= -interval }
	matched := 0
	for _, want := range truth.Visits {
		k := key(want.TruckNumber, want.LocationCode)
		i := slices.IndexFunc(detected[k], func(v store.Visit) bool {
			if !near(v.EnteredAt, want.Entered) {
				return false
			}
			if want.Exited.IsZero() {
				return v.ExitedAt == nil
			}
			return v.ExitedAt != nil && near(*v.ExitedAt, want.Exited)
		})
		if i < 0 {
			t.Errorf("visit %s from %v to %v not detected (detected there: %v)", k, want.Entered, want.Exited, detected[k])
			continue
		}
		detected[k] = slices.Delete(detected[k], i, i+1)
		matched++
	}
	for k, extra := range detected {
		for _, v := range extra {
			t.Errorf("visit %s from %v to %v detected but not in the ground truth", k, v.EnteredAt, v.ExitedAt)
		}
	}
	t.Logf("%d fixes (%d duplicates sent), %d visits matched, %d near misses correctly without a visit",
		len(fixes), dups, matched, len(truth.NearMisses))
}
