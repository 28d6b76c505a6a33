package api_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// An API request is one trace, the request's span and its tool's; its id is
// the X-Request-Id, a problem's reference and the audit log's correlation
// id.
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
	evs, err := f.db.EventsByCorrelation(context.Background(), id)
	if err != nil || len(evs) != 1 || evs[0].Subject != "tool:truck_location" {
		t.Errorf("audit under %s: %+v %v", id, evs, err)
	}
	p := problem(t, f.get(t, "/api/v1/trucks/nope-0/location", f.viewer), 404, "")
	if len(p["reference"].(string)) != 32 {
		t.Errorf("reference %v is not a trace id", p["reference"])
	}
}
