package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// collector is a fake OTLP/HTTP collector: it keeps the span names it is
// sent, decoded with the OTLP protobufs.
type collector struct {
	mu    sync.Mutex
	names []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.names = append(c.names, s.GetName())
			}
		}
	}
	c.mu.Unlock()
	b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

func (c *collector) seen() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.names, ",")
}

// With OTEL_EXPORTER_OTLP_ENDPOINT, spans leave the process over OTLP/HTTP
// (flushed at the latest when the service stops), and the trace id is the
// request's id.
//
// Not parallel: run installs its tracer provider process-wide, so a replica
// another test starts meanwhile would take this one's spans to its own
// provider, which exports nowhere.
func TestTracesExported(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	s := storetest.NewSchema(t)
	addr := freeAddr(t)
	e := map[string]string{"DATABASE_URL": s.URL, "HTTP_ADDR": addr, "LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"REDIS_URL": "redis://127.0.0.1:6379/12"}
	if _, stderr, err := runCLI(t, e, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	base, stop := runReplica(t, e)
	res, err := http.Get(base + "/api/v1/trucks")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	ref := res.Header.Get("X-Request-Id")
	if len(ref) != 32 {
		t.Errorf("X-Request-Id %q is not a trace id", ref)
	}
	stop()
	if got := col.seen(); !strings.Contains(got, "GET /api/v1/trucks") {
		t.Errorf("the collector got spans %q, want the API request's", got)
	}
}

// Log lines written in a span's context carry its trace and span ids.
func TestLogsCarryTraceIDs(t *testing.T) {
	var buf syncBuffer
	cfg, err := LoadConfig(env(map[string]string{"LOG_FORMAT": "json"}))
	if err != nil {
		t.Fatal(err)
	}
	logger := newLogger(cfg, &buf)
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "x")
	logger.InfoContext(ctx, "inside")
	logger.With("k", "v").WithGroup("g").InfoContext(ctx, "grouped", "a", 1)
	logger.Info("outside")
	span.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := `"trace_id":"` + span.SpanContext().TraceID().String() + `"`
	if len(lines) != 3 || !strings.Contains(lines[0], want) || !strings.Contains(lines[1], span.SpanContext().TraceID().String()) || strings.Contains(lines[2], "trace_id") {
		t.Errorf("log lines:\n%s", buf.String())
	}
}
