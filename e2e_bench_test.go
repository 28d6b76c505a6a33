package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/sim"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// e2eRedisURL is a Redis database of the benchmark's own, flushed before
// and after, so that the service's fixed stream names meet nothing else.
const e2eRedisURL = "redis://127.0.0.1:6379/14"

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkEndToEnd runs the real binary on the demo fleet and feeds it
// simulated LocoNav fixes over loopback HTTP at a steady rate (WT_E2E_RATE,
// default 2,000 fixes/s) for WT_E2E_SECONDS (default 60), from 32
// keep-alive clients. It reports the service's own accepted → stored and
// geofences evaluated latency (from its watchtower_stream_lag_seconds
// histogram, telematics group) and the service process's peak RSS.
// Targets: p99 < 100 ms, RSS < 150 MB.
func BenchmarkEndToEnd(b *testing.B) {
	rate, seconds := envInt("WT_E2E_RATE", 2000), envInt("WT_E2E_SECONDS", 60)
	// One run is the measurement: it sets its own pace and length.
	b.StopTimer()
	runEndToEnd(b, rate, seconds)
}

func runEndToEnd(b *testing.B, rate, seconds int) {
	ctx := context.Background()
	bin := filepath.Join(b.TempDir(), "watchtower")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	schema := storetest.NewSchema(b)
	ropts, _ := redis.ParseURL(e2eRedisURL)
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		b.Fatalf("redis: %v", err)
	}
	defer rdb.FlushDB(context.Background())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := append(os.Environ(), "DATABASE_URL="+schema.URL, "REDIS_URL="+e2eRedisURL, "HTTP_ADDR="+addr,
		"LOCONAV_WEBHOOK_TOKEN="+benchToken, "LOG_LEVEL=warn", "LOG_FORMAT=json", "SLACK_BOT_TOKEN=", "SLACK_APP_TOKEN=",
		"LOCONAV_API_TOKEN=")
	for _, args := range [][]string{{"migrate"}, {"seed", "testdata/fleet"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
	}

	// The simulated day, in time order, as LocoNav payloads.
	fleet, err := masterdata.ReadFleetDir("testdata/fleet")
	if err != nil {
		b.Fatal(err)
	}
	var trucks []store.Truck
	for _, r := range fleet.Trucks {
		trucks = append(trucks, r.Value)
	}
	var places []store.Location
	for _, r := range fleet.Locations {
		places = append(places, r.Value)
	}
	total := rate * seconds
	days := total/(len(trucks)*2880) + 1
	s, err := sim.New(sim.Config{Seed: 42, Start: time.Now().Add(-time.Duration(days) * 24 * time.Hour).Truncate(time.Second),
		Duration: time.Duration(days) * 24 * time.Hour, FixInterval: 30 * time.Second, Trucks: trucks, Places: places})
	if err != nil {
		b.Fatal(err)
	}
	fixes := s.Fixes()
	if len(fixes) < total {
		b.Fatalf("simulator made %d fixes, need %d", len(fixes), total)
	}
	lagos, _ := time.LoadLocation("Africa/Lagos")
	payloads := make([][]byte, total)
	for i := range payloads {
		payloads[i] = sim.LiveLocationPayload(fixes[i], lagos)
	}

	svc := exec.Command(bin, "run")
	svc.Env = env
	var logs bytes.Buffer
	svc.Stderr = &logs
	if err := svc.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = svc.Process.Signal(os.Interrupt)
		_ = svc.Wait()
	}()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("service not ready:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Peak RSS of the service, sampled every 200 ms.
	var peakRSS atomic.Int64
	stopRSS := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := rssKB(svc.Process.Pid); kb > peakRSS.Load() {
				peakRSS.Store(kb)
			}
			select {
			case <-stopRSS:
				return
			case <-t.C:
			}
		}
	}()

	// Paced load: every 10 ms, rate/100 fixes go to 32 keep-alive clients.
	work := make(chan []byte, 4096)
	var failures atomic.Int64
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range 32 {
		wg.Go(func() {
			for p := range work {
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/loconav/location", bytes.NewReader(p))
				req.Header.Set("X-Webhook-Token", benchToken)
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failures.Add(1)
				}
			}
		})
	}
	b.StartTimer()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	sent := 0
	for sent < total {
		<-tick.C
		due := min(int(time.Since(start).Seconds()*float64(rate)), total)
		for ; sent < due; sent++ {
			work <- payloads[sent]
		}
	}
	tick.Stop()
	close(work)
	wg.Wait()
	sendTime := time.Since(start)

	// Wait for every fix to be stored.
	from, to := fixes[0].At.Add(-time.Minute), fixes[total-1].At.Add(time.Minute)
	db, err := store.Open(ctx, schema.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var stored int64
	for wait := time.Now().Add(2 * time.Minute); time.Now().Before(wait); time.Sleep(200 * time.Millisecond) {
		if stored, _ = db.CountPositions(ctx, from, to); stored >= int64(total) {
			break
		}
	}
	b.StopTimer()
	close(stopRSS)
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d webhooks failed", f, total)
	}
	if stored != int64(total) {
		b.Fatalf("stored %d positions, want %d", stored, total)
	}
	logBatchStats(b, base)
	p50, p99, n := lagQuantiles(b, base)
	if n < uint64(total) {
		b.Fatalf("the lag histogram counted %d fixes, want %d", n, total)
	}
	b.ReportMetric(float64(total)/sendTime.Seconds(), "fixes/s")
	b.ReportMetric(p50*1000, "e2e-p50-ms")
	b.ReportMetric(p99*1000, "e2e-p99-ms")
	b.ReportMetric(float64(peakRSS.Load())/1024, "peak-rss-MB")
	if kb := hwmKB(svc.Process.Pid); kb > 0 {
		b.ReportMetric(float64(kb)/1024, "hwm-rss-MB")
	}
}

const benchToken = "bench-webhook-token-0123456789"

func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

func rssKB(pid int) int64 { return procStatus(pid, "VmRSS") }
func hwmKB(pid int) int64 { return procStatus(pid, "VmHWM") }

// lagQuantiles reads the service's telematics lag histogram and estimates
// p50 and p99 by linear interpolation within buckets.
func lagQuantiles(b *testing.B, base string) (p50, p99 float64, count uint64) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	type bucket struct {
		le float64
		n  uint64
	}
	var bs []bucket
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, `watchtower_stream_lag_seconds_bucket{group="telematics",le="`) {
			continue
		}
		rest := strings.TrimPrefix(line, `watchtower_stream_lag_seconds_bucket{group="telematics",le="`)
		leS, nS, _ := strings.Cut(rest, `"} `)
		le := math.Inf(1)
		if leS != "+Inf" {
			le, _ = strconv.ParseFloat(leS, 64)
		}
		n, _ := strconv.ParseUint(strings.TrimSpace(nS), 10, 64)
		bs = append(bs, bucket{le, n})
	}
	slices.SortFunc(bs, func(x, y bucket) int { return int(math.Copysign(1, x.le-y.le)) })
	if len(bs) == 0 {
		b.Fatal("no lag histogram in /metrics")
	}
	count = bs[len(bs)-1].n
	q := func(p float64) float64 {
		target := p * float64(count)
		prevLe, prevN := 0.0, uint64(0)
		for _, x := range bs {
			if float64(x.n) >= target {
				if math.IsInf(x.le, 1) {
					return prevLe
				}
				frac := (target - float64(prevN)) / float64(max(x.n-prevN, 1))
				return prevLe + frac*(x.le-prevLe)
			}
			prevLe, prevN = x.le, x.n
		}
		return prevLe
	}
	return q(0.5), q(0.99), count
}

// logBatchStats logs each consumer group's mean batch time and size, to
// show where end-to-end time goes.
func logBatchStats(b *testing.B, base string) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, m := range []string{"watchtower_stream_batch_seconds_sum", "watchtower_stream_batch_seconds_count", "watchtower_stream_messages_processed_total"} {
			if strings.HasPrefix(line, m+"{") {
				k, v, _ := strings.Cut(line, " ")
				vals[k], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	for _, g := range []string{"archive", "telematics", "alerts"} {
		sum := vals[`watchtower_stream_batch_seconds_sum{group="`+g+`"}`]
		n := vals[`watchtower_stream_batch_seconds_count{group="`+g+`"}`]
		msgs := vals[`watchtower_stream_messages_processed_total{group="`+g+`"}`]
		if n > 0 {
			b.Logf("%s: %.0f batches, mean %.1f ms, mean %.0f messages", g, n, sum/n*1000, msgs/n)
		}
	}
}
