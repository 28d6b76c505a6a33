package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/listener"
	"github.com/watchtower-fleet/watchtower/loconav"
)

// webhookClients is the load: 32 concurrent keep-alive clients.
const webhookClients = 32

// benchPayloads are live-location fixes of 500 trucks, as LocoNav sends them.
func benchPayloads() [][]byte {
	var out [][]byte
	t0 := time.Now().Add(-time.Hour).In(lagos)
	for i := range 4096 {
		at := t0.Add(time.Duration(i) * time.Second)
		out = append(out, fmt.Appendf(nil, `{"imei":"0210716299","speed":%d.0,"gpstime":%q,"ignition":"1","latitude":%.6f,"longitude":%.6f,"sharpTurn":"0","orientation":201.0,"harshBraking":"0","vehiclenumber":"T%05dLA","rockBreakerPedal":"0","harshAcceleration":"0"}`,
			i%70, at.Format("02-01-2006 15:04:05"), 6.40+float64(i%500)*0.0007, 3.30+float64(i%317)*0.0009, 10000+i%500))
	}
	return out
}

// runLoad posts payloads from webhookClients goroutines (b.N in all) and
// reports fixes/s and latency percentiles.
func runLoad(b *testing.B, url string) {
	payloads := benchPayloads()
	tr := &http.Transport{MaxIdleConns: webhookClients, MaxIdleConnsPerHost: webhookClients, MaxConnsPerHost: webhookClients}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism((webhookClients + 1) / 2) // × GOMAXPROCS (2) goroutines
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		i := 0
		for pb.Next() {
			t := time.Now()
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(payloads[i%len(payloads)]))
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			lat = append(lat, time.Since(t))
			i++
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "fixes/s")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	}
}

// BenchmarkWebhook measures the webhook end to end over loopback HTTP into
// a real Redis stream, beside a bare net/http handler that only reads the
// body and XADDs it: the ratio of their fixes/s is what our auth, parsing
// and checks cost. Targets: ≥ 20,000 fixes/s, p99 < 10 ms, ratio ≥ 0.7.
func BenchmarkWebhook(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", PoolSize: 64})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		b.Fatalf("redis: %v", err)
	}
	stream := testStream(b, rdb)

	b.Run("handler=bare-xadd", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			id, err := rdb.XAdd(r.Context(), &redis.XAddArgs{Stream: stream, MaxLen: 1_000_000, Approx: true,
				Values: []any{"f", "location", "s", "webhook", "r", time.Now().UnixMilli(), "b", body}}).Result()
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"id":%q}`, id)
		}))
		defer srv.Close()
		runLoad(b, srv.URL+"/webhooks/loconav")
	})

	b.Run("handler=watchtower", func(b *testing.B) {
		// Through the production listener's handler, with its metrics.
		reg := prometheus.NewRegistry()
		server := listener.NewServer("127.0.0.1:0", testenv.Logger(b), reg)
		ingest.NewWebhook(ingest.WebhookConfig{Token: testToken}, &loconav.Parser{Zone: lagos},
			ingest.NewStreams(rdb, stream, 1_000_000), testenv.Logger(b), reg).Register(server.Mux)
		srv := httptest.NewServer(server.Handler())
		defer srv.Close()
		runLoad(b, srv.URL+"/webhooks/loconav")
	})
}
