package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/bot/api"
)

// BenchmarkLocation is GET /api/v1/trucks/{number}/location from 32
// keep-alive clients: the whole API (key, rate limit in Redis, its one-
// second read cache, the truck_location tool with its validation, JSON)
// against a bare handler that reads the same truck row and writes it as
// JSON; and the API without its cache, every request calling the tool (three
// queries). The target is 10,000 requests/s with p99 under 10 ms;
// scripts/bench-ratio.sh prints the ratios.
func BenchmarkLocation(b *testing.B) {
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
