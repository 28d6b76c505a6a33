package listener_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/listener"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

func dbChecks(db *store.DB) []listener.Check {
	return []listener.Check{
		{Name: "postgres", Func: db.Ping},
		{Name: "schema", Func: func(ctx context.Context) error { _, err := db.CheckSchema(ctx); return err }},
	}
}

func redisCheck(c *redis.Client) listener.Check {
	return listener.Check{Name: "redis", Func: func(ctx context.Context) error { return c.Ping(ctx).Err() }}
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func get(t *testing.T, c *http.Client, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestServerHealthz(t *testing.T) {
	t.Parallel()
	srv := listener.NewServer("127.0.0.1:0", testenv.Logger(t), prometheus.NewRegistry())
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	code, h, body := get(t, hs.Client(), hs.URL+"/healthz")
	if code != http.StatusOK || body != "{\"status\":\"ok\"}\n" {
		t.Errorf("GET /healthz = %d %q, want 200 {\"status\":\"ok\"}", code, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequest(method, hs.URL+"/healthz", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /healthz = %d, want 405", method, resp.StatusCode)
		}
		if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("%s /healthz: Allow = %q, want GET in it", method, allow)
		}
	}
	if code, _, _ := get(t, hs.Client(), hs.URL+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

func TestServerReadyz(t *testing.T) {
	t.Parallel()
	_, db := storetest.NewMigrated(t)
	behind := store.NewFromPool(storetest.NewSchema(t).Pool)
	live := testenv.Redis(t)
	if err := live.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis is not reachable (start it with scripts/services.sh): %v", err)
	}
	dead := testenv.DeadRedis(t)
	// A check that ignores its context entirely: the probe must still answer.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := listener.Check{Name: "hang", Func: func(context.Context) error { <-release; return nil }}

	tests := []struct {
		name   string
		checks []listener.Check
		code   int
		// want maps each check to "ok" or to text its failure must contain.
		want map[string]string
	}{
		{
			name:   "all ready",
			checks: append(dbChecks(db), redisCheck(live)),
			code:   http.StatusOK,
			want:   map[string]string{"postgres": "ok", "schema": "ok", "redis": "ok"},
		},
		{
			name: "no checks",
			code: http.StatusOK,
			want: map[string]string{},
		},
		{
			name:   "redis unreachable",
			checks: append(dbChecks(db), redisCheck(dead)),
			code:   http.StatusServiceUnavailable,
			want:   map[string]string{"postgres": "ok", "schema": "ok", "redis": "127.0.0.1:1"},
		},
		{
			name:   "schema behind",
			checks: append(dbChecks(behind), redisCheck(live)),
			code:   http.StatusServiceUnavailable,
			want:   map[string]string{"postgres": "ok", "schema": store.ErrSchemaBehind.Error(), "redis": "ok"},
		},
		{
			name:   "check hangs",
			checks: append(dbChecks(db), redisCheck(live), hang),
			code:   http.StatusServiceUnavailable,
			want:   map[string]string{"postgres": "ok", "schema": "ok", "redis": "ok", "hang": "timed out"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := listener.NewServer("127.0.0.1:0", testenv.Logger(t), prometheus.NewRegistry(), tc.checks...)
			hs := httptest.NewServer(srv.Handler())
			t.Cleanup(hs.Close)

			start := time.Now()
			code, h, body := get(t, hs.Client(), hs.URL+"/readyz")
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("GET /readyz took %v", took)
			}
			if code != tc.code {
				t.Errorf("GET /readyz = %d, want %d; body %s", code, tc.code, body)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got readiness
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			wantStatus := "ok"
			if tc.code != http.StatusOK {
				wantStatus = "unavailable"
			}
			if got.Status != wantStatus {
				t.Errorf("status = %q, want %q", got.Status, wantStatus)
			}
			if len(got.Checks) != len(tc.want) {
				t.Errorf("checks = %v, want %d of them", got.Checks, len(tc.want))
			}
			for name, want := range tc.want {
				res, ok := got.Checks[name]
				switch {
				case !ok:
					t.Errorf("check %q missing from %v", name, got.Checks)
				case want == "ok" && res != "ok":
					t.Errorf("check %q = %q, want ok", name, res)
				case want != "ok" && (res == "ok" || !strings.Contains(res, want)):
					t.Errorf("check %q = %q, want a failure containing %q", name, res, want)
				}
			}
		})
	}
}

func TestServerMetrics(t *testing.T) {
	t.Parallel()
	srv := listener.NewServer("127.0.0.1:0", testenv.Logger(t), prometheus.NewRegistry())
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	c := hs.Client()

	for range 2 {
		get(t, c, hs.URL+"/healthz")
	}
	get(t, c, hs.URL+"/readyz")
	get(t, c, hs.URL+"/nope")
	resp, err := c.Post(hs.URL+"/healthz", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	code, _, body := get(t, c, hs.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`watchtower_http_requests_total{code="200",route="GET /healthz"} 2`,
		`watchtower_http_requests_total{code="200",route="GET /readyz"} 1`,
		`watchtower_http_requests_total{code="404",route="unmatched"} 1`,
		`watchtower_http_requests_total{code="405",route="unmatched"} 1`,
		`watchtower_http_request_duration_seconds_count{route="GET /healthz"} 2`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if _, _, body = get(t, c, hs.URL+"/metrics"); !strings.Contains(body, `watchtower_http_requests_total{code="200",route="GET /metrics"} 1`+"\n") {
		t.Errorf("/metrics does not count itself:\n%s", body)
	}
}

func TestServerStartStop(t *testing.T) {
	t.Parallel()
	_, db := storetest.NewMigrated(t)
	ctx := context.Background()
	srv := listener.NewServer("127.0.0.1:0", testenv.Logger(t), prometheus.NewRegistry(), append(dbChecks(db), redisCheck(testenv.Redis(t)))...)
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	addr := srv.Addr()
	if addr == "127.0.0.1:0" || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("Addr() = %q, want the bound port", addr)
	}

	c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	if code, _, body := get(t, c, "http://"+addr+"/healthz"); code != http.StatusOK || body != "{\"status\":\"ok\"}\n" {
		t.Errorf("GET /healthz = %d %q", code, body)
	}
	code, _, body := get(t, c, "http://"+addr+"/readyz")
	var got readiness
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK || got.Status != "ok" ||
		got.Checks["postgres"] != "ok" || got.Checks["schema"] != "ok" || got.Checks["redis"] != "ok" {
		t.Errorf("GET /readyz = %d %q (%v)", code, body, err)
	}
	if code, _, body := get(t, c, "http://"+addr+"/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `watchtower_http_requests_total{code="200",route="GET /healthz"} 1`) {
		t.Errorf("GET /metrics = %d %q", code, body)
	}

	// A taken port fails Start, not a log line later.
	other := listener.NewServer(addr, testenv.Logger(t), prometheus.NewRegistry())
	if err := other.Start(ctx); err == nil {
		_ = other.Stop(ctx)
		t.Errorf("Start on taken %s succeeded", addr)
	} else if !strings.Contains(err.Error(), "listen on "+addr) {
		t.Errorf("Start on taken port: %v", err)
	}

	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Stop(stopCtx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := srv.Stop(stopCtx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	c.CloseIdleConnections()
	if resp, err := c.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /healthz after Stop = %d, want a connection error", resp.StatusCode)
	}
}

// Run serves until its context ends and returns only once the port is
// closed; a request in flight is finished first.
func TestServerRun(t *testing.T) {
	t.Parallel()
	srv := listener.NewServer("127.0.0.1:0", testenv.Logger(t), prometheus.NewRegistry())
	inFlight, release := make(chan struct{}), make(chan struct{})
	srv.Mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	if err := srv.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	addr := srv.Addr()
	// A taken port fails Listen, before anything runs.
	if err := listener.NewServer(addr, testenv.Logger(t), prometheus.NewRegistry()).Run(t.Context()); err == nil ||
		!strings.Contains(err.Error(), "listen on "+addr) {
		t.Errorf("Run on taken %s = %v, want a listen error", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()

	c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	slow := make(chan string, 1)
	go func() {
		resp, err := c.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-inFlight
	cancel()
	select {
	case err := <-ran:
		t.Fatalf("Run returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if body := <-slow; body != "done" {
		t.Errorf("request in flight at the stop got %q, want done", body)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of its context ending")
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s accepts connections after Run returned", addr)
	}
}

func TestServerStopWithoutStart(t *testing.T) {
	t.Parallel()
	srv := listener.NewServer("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	for range 2 {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}
	if got := srv.Addr(); got != "127.0.0.1:0" {
		t.Errorf("Addr() before Start = %q", got)
	}
}

// TestServerReadyzClientGone checks that a /readyz whose caller hangs up
// still returns, with the check seeing a cancelled context.
func TestServerReadyzClientGone(t *testing.T) {
	t.Parallel()
	seen := make(chan error, 1)
	srv := listener.NewServer("127.0.0.1:0", testenv.Logger(t), prometheus.NewRegistry(), listener.Check{
		Name: "hang", Func: func(ctx context.Context) error { <-ctx.Done(); seen <- ctx.Err(); return ctx.Err() },
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := hs.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("GET /readyz = %d before the check could finish", resp.StatusCode)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET /readyz: %v", err)
	}
	select {
	case err := <-seen:
		if err == nil {
			t.Error("check saw no context error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the check never saw its context end")
	}
}
