package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/watchtower-fleet/watchtower/api"
	"github.com/watchtower-fleet/watchtower/live"
)

// BenchmarkLocation is GET /api/v1/trucks/{number}/location from 32
// keep-alive clients: the whole API (key, rate limit in Redis, its one-
// second read cache, the truck_location tool with its validation, JSON)
// against a bare handler that reads the same truck row and writes it as
// JSON; and the API without its cache, every request calling the tool (three
// queries). The target is 10,000 requests/s with p99 under 10 ms;
// scripts/bench-ratio.sh prints the ratios.
func BenchmarkLocation(b *testing.B) {
	// Spans as in production: the SDK always on, nothing exported.
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	f := newFx(b, func(c *api.Config) { c.RatePerMinute = 100_000_000 })
	// The same API without its read cache: every request calls the tool.
	uncached := newFxOn(b, f.db, f.rdb, f.prefix, func(c *api.Config) { c.RatePerMinute, c.CacheTTL = 100_000_000, -1 })
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := f.db.TruckByNumber(r.Context(), "T11985LA")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"truck": t.Number, "lat": t.Fix.Lat, "lng": t.Fix.Lon, "fix_time": t.Fix.At, "speed_kmh": t.Fix.SpeedKmh})
	}))
	b.Cleanup(bare.Close)
	for _, c := range []struct{ name, url, key string }{
		{"handler=api", f.srv.URL + "/api/v1/trucks/t-11985-la/location", f.viewer},
		{"handler=api-uncached", uncached.srv.URL + "/api/v1/trucks/t-11985-la/location", f.viewer},
		{"handler=bare", bare.URL + "/location", ""},
	} {
		b.Run(c.name, func(b *testing.B) { loadGET(b, c.url, c.key, 32) })
	}
}

// loadGET makes b.N GETs from clients keep-alive connections and reports
// requests/s and the latency percentiles.
func loadGET(b *testing.B, url, key string, clients int) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func() (time.Duration, error) {
		req, _ := http.NewRequest("GET", url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return 0, &statusErr{res.StatusCode}
		}
		return time.Since(start), nil
	}
	for range clients { // warm the connections and the caches
		if _, err := get(); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				d, err := get()
				if err != nil {
					failed.Add(1)
					continue
				}
				lat[i] = append(lat[i], d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(0, "ns/op")
}

type statusErr struct{ code int }

func (e *statusErr) Error() string { return http.StatusText(e.code) }

// BenchmarkStreams is 1,000 server-sent-event clients while positions are
// published at 100 a second through Redis, as the fold publishes them:
// "follow=10" clients each follow ten of 80 trucks (a portal), "follow=all"
// clients each get every position (a wallboard: 100,000 deliveries a
// second). Each op is one second of publishing. It reports the delivery
// latency from publication to a client's read, its p50 and p99 (target:
// p99 under 200 ms), and the process's peak RSS, clients included (target:
// under 200 MB).
func BenchmarkStreams(b *testing.B) {
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	f := newFx(b, func(c *api.Config) { c.RatePerMinute = 100_000_000 })
	trucks := benchTrucks(b, f, 80)
	for _, follow := range []string{"10", "all"} {
		b.Run("follow="+follow, func(b *testing.B) { streamLoad(b, f, trucks, follow, 1000) })
	}
}

func benchTrucks(b *testing.B, f *fx, n int) []string {
	d := ok(b, f.get(b, "/api/v1/trucks?limit=100", f.viewer), 200)
	var out []string
	for _, x := range d["trucks"].([]any) {
		out = append(out, x.(map[string]any)["truck"].(string))
	}
	if len(out) < n {
		b.Fatalf("%d trucks", len(out))
	}
	return out[:n]
}

func streamLoad(b *testing.B, f *fx, trucks []string, follow string, clients int) {
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	var lats latencies
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var ready sync.WaitGroup
	for i := range clients {
		path := "/api/v1/stream/trucks"
		if follow != "all" {
			var mine []string
			for j := range 10 {
				mine = append(mine, trucks[(i*10+j)%len(trucks)])
			}
			path += "?numbers=" + strings.Join(mine, ",")
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, conn)
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", path, f.viewer)
		ready.Add(1)
		go readStream(conn, &lats, ready.Done)
	}
	ready.Wait() // every client has its headers
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _, _ := f.hub.Stats(); n >= clients {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the clients did not all subscribe")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := selfRSSKB(); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	lats.reset()
	b.ResetTimer()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	next := 0
	for range b.N * 10 {
		<-tick.C
		evs := make([]live.Event, 10)
		for j := range evs {
			evs[j] = position(trucks[next%len(trucks)], 6.5)
			next++
		}
		f.pub.Publish(context.Background(), evs)
	}
	time.Sleep(500 * time.Millisecond) // the last deliveries
	b.StopTimer()
	_, _, dropped := f.hub.Stats()
	all := lats.sorted()
	want := b.N * 100 * clients
	if follow != "all" {
		want = b.N * 100 * 10 * clients / len(trucks)
	}
	if len(all) < want*99/100 || dropped > 0 {
		b.Fatalf("delivered %d of %d; %d clients dropped", len(all), want, dropped)
	}
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(peak.Load())/1024, "peak_rss_MB")
	b.ReportMetric(float64(len(all))/float64(b.N), "deliveries/s")
	b.ReportMetric(0, "ns/op")
}

// latencies collects delivery latencies from many readers.
type latencies struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.ds = append(l.ds, d...)
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.ds = l.ds[:0]
	l.mu.Unlock()
}

func (l *latencies) sorted() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.ds)
	slices.Sort(out)
	return out
}

// readStream reads an SSE response, timing each position from its
// published_at, handing latencies over in batches.
func readStream(conn net.Conn, lats *latencies, headersDone func()) {
	res, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	headersDone()
	if err != nil {
		return
	}
	rd := bufio.NewReaderSize(res.Body, 8192)
	marker := []byte(`"published_at":"`)
	var batch []time.Duration
	for {
		line, err := rd.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue // a snapshot longer than the buffer: not a position
		}
		if err != nil {
			lats.add(batch)
			return
		}
		if i := bytes.Index(line, marker); i >= 0 {
			rest := line[i+len(marker):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				if at, err := time.Parse(time.RFC3339Nano, string(rest[:j])); err == nil {
					batch = append(batch, time.Since(at))
				}
			}
		}
		if len(batch) > 0 && (len(batch) >= 64 || rd.Buffered() == 0) {
			lats.add(batch)
			batch = batch[:0]
		}
	}
}

// selfRSSKB is this process's resident set, in KiB.
func selfRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
