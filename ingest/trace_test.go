package ingest_test

import (
	"encoding/json"
	"slices"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/watchtower-fleet/watchtower/ingest"
)

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// One webhook is one trace: the webhook's span, the consumer batches that
// read its stream entry (the stream id carried as the correlation id), and
// the fold that stored its position.
func TestTraceWebhookToFold(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	// The global provider: the parallel tests' spans land here too; only
	// this webhook's trace is looked at.
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	env := newPipelineEnv(t, nil)
	env.startAll(t)
	code, resp := env.post(t, "/webhooks/loconav/location", drivePayloads(1)[0], bearer)
	if code != 202 {
		t.Fatalf("%d %s", code, resp)
	}
	var accepted struct{ ID string }
	if err := json.Unmarshal([]byte(resp), &accepted); err != nil {
		t.Fatal(err)
	}
	var trace []sdktrace.ReadOnlySpan
	var fold sdktrace.ReadOnlySpan
	eventually(t, "the fold's span", func() bool {
		var webhook sdktrace.ReadOnlySpan
		spans := exp.GetSpans().Snapshots()
		for _, s := range spans {
			if s.Name() == "webhook location" && slices.Contains(attr(s, "watchtower.correlation_ids").AsStringSlice(), accepted.ID) {
				webhook = s
			}
		}
		if webhook == nil {
			return false
		}
		trace = trace[:0]
		for _, s := range spans {
			if s.SpanContext().TraceID() == webhook.SpanContext().TraceID() {
				trace = append(trace, s)
				if s.Name() == "fold" {
					fold = s
				}
			}
		}
		return fold != nil
	})
	byID := map[string]sdktrace.ReadOnlySpan{}
	names := map[string]bool{}
	for _, s := range trace {
		byID[s.SpanContext().SpanID().String()] = s
		names[s.Name()] = true
	}
	for _, want := range []string{"webhook location", "consume " + ingest.GroupTelematics, "consume " + ingest.GroupArchive, "fold", "db INSERT"} {
		if !names[want] {
			t.Errorf("the trace lacks %q: %v", want, names)
		}
	}
	if attr(fold, "watchtower.stored").AsInt64() != 1 {
		t.Errorf("fold stored %v", attr(fold, "watchtower.stored"))
	}
	consume := byID[fold.Parent().SpanID().String()]
	if consume == nil || consume.Name() != "consume "+ingest.GroupTelematics {
		t.Fatalf("the fold's parent is %v", consume)
	}
	// The fold's queries are its children.
	queries := 0
	for _, s := range trace {
		if s.Parent().SpanID() == fold.SpanContext().SpanID() && attr(s, "db.system.name").AsString() == "postgresql" {
			queries++
		}
	}
	if queries == 0 {
		t.Error("no query spans under the fold")
	}
	if ids := attr(consume, "watchtower.correlation_ids").AsStringSlice(); !slices.Equal(ids, []string{accepted.ID}) {
		t.Errorf("the batch carries correlation ids %v, want the stream id %s", ids, accepted.ID)
	}
}
