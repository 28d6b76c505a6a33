package bot_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/bot/slackfake"
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

// /fleet where from the envelope written on the socket to the answer
// posted to the response_url: slack-go reading the frame, the ack, the
// worker, the grammar, truck_location on real Postgres, Block Kit and the
// HTTP post. Target p99 < 50 ms.
func BenchmarkSlackFleetWhere(b *testing.B) {
	f := newPooledFixture(b)
	fake := slackfake.NewServer(b)
	startSlack(b, f, fake, nil)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("b%d", i)
		start := time.Now()
		fake.Slash(ops, viewer, "where T11985LA", id)
		c, ok := fake.WaitCall(10*time.Second, 1, func(c slackfake.Call) bool { return c.Method == "response_url" })
		if !ok || c.Params.Get("response_url") != id {
			b.Fatalf("no answer to %s", id)
		}
		lat = append(lat, c.At.Sub(start))
		fake.Reset()
	}
	reportPercentiles(b, lat)
}

// 200 envelopes at once: every one acked within 1 s (Slack allows 3), while
// the workers answer them. Reports the slowest ack of each burst.
func BenchmarkSlackBurstAcks(b *testing.B) {
	f := newPooledFixture(b)
	fake := slackfake.NewServer(b)
	startSlack(b, f, fake, nil)
	var worst []time.Duration
	for round := 0; b.Loop(); round++ {
		ids := make([]string, 200)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				ids[i] = fake.Slash(ops, viewer, "where T11985LA", fmt.Sprintf("burst%d-%d", round, i))
			})
		}
		wg.Wait()
		var slowest time.Duration
		for _, id := range ids {
			a, ok := fake.WaitAck(id, 5*time.Second)
			if !ok {
				b.Fatalf("envelope %s not acked", id)
			}
			slowest = max(slowest, a.After)
		}
		if slowest > time.Second {
			b.Errorf("slowest ack of 200 took %s", slowest)
		}
		worst = append(worst, slowest)
		// Let the answers drain before the next burst.
		if _, ok := fake.WaitCall(30*time.Second, 200, slackfake.Method("response_url")); !ok {
			b.Fatal("the burst was not answered")
		}
		fake.Reset()
	}
	slices.Sort(worst)
	b.ReportMetric(float64(worst[len(worst)/2].Microseconds())/1000, "slowest-ack-p50-ms")
	b.ReportMetric(float64(worst[len(worst)-1].Microseconds())/1000, "slowest-ack-max-ms")
}
