package api_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// An API request is one trace, the request's span and its tool's; its id is
// the X-Request-Id, a problem's reference and, for a write, the audit
// log's correlation id.
func TestTraceRequestThroughTool(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(sdktrace.NewTracerProvider()) })
	f := newFx(t)
	r := f.get(t, "/api/v1/trucks/t-11985-la/location", f.viewer)
	ok(t, r, 200)
	id := r.header.Get("X-Request-Id")
	names := map[string]string{}
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanContext().TraceID().String() == id {
			names[s.Name()] = s.Parent().SpanID().String()
		}
	}
	if _, ok := names["GET /api/v1/trucks/{number}/location"]; !ok {
		t.Errorf("no request span in trace %s: %v", id, names)
	}
	if _, ok := names["tool truck_location"]; !ok {
		t.Errorf("no tool span in trace %s: %v", id, names)
	}
	// Programs' reads are not audited; their writes are, under the trace.
	if evs, err := f.db.EventsByCorrelation(context.Background(), id); err != nil || len(evs) != 0 {
		t.Errorf("a program's read was audited: %+v %v", evs, err)
	}
	w := f.do(t, "POST", "/api/v1/trips", f.disp, map[string]any{"truck": "T11985LA", "pickup": "ESSLIBRA",
		"delivery": "Dangote Ibese", "scheduled_departure": "2026-12-05T06:00"})
	ok(t, w, 201)
	wid := w.header.Get("X-Request-Id")
	evs, err := f.db.EventsByCorrelation(context.Background(), wid)
	if err != nil || len(evs) < 2 {
		t.Errorf("audit under %s: %+v %v", wid, evs, err)
	}
	found := false
	for _, s := range exp.GetSpans().Snapshots() {
		found = found || (s.SpanContext().TraceID().String() == wid && s.Name() == "execute create_trip")
	}
	if !found {
		t.Errorf("no span for the write in trace %s", wid)
	}
	p := problem(t, f.get(t, "/api/v1/trucks/nope-0/location", f.viewer), 404, "")
	if len(p["reference"].(string)) != 32 {
		t.Errorf("reference %v is not a trace id", p["reference"])
	}
}
