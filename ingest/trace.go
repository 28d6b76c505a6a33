package ingest

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names ingestion's spans: webhook → stream → fold is one trace,
// the stream entry carrying the webhook's trace context (traceparent) and
// its id carried as the correlation id.
const tracerName = "github.com/watchtower-fleet/watchtower/ingest"

func tracer() trace.Tracer { return otel.Tracer(tracerName) }

// traceContext is the W3C trace context the stream entries carry,
// whatever the global propagator is.
var traceContext = propagation.TraceContext{}

// traceparent is ctx's span as a traceparent value; empty without one.
func traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c["traceparent"]
}

// messageContext is the span context a stream entry was written under.
func messageContext(m Message) trace.SpanContext {
	if m.Traceparent == "" {
		return trace.SpanContext{}
	}
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{"traceparent": m.Traceparent})
	return trace.SpanContextFromContext(ctx)
}

// maxLinks bounds the links a batch span keeps to its messages' traces.
const maxLinks = 128

// startBatch starts a consumer batch's span: the child of its first
// message's trace (a batch of one, as a lone webhook makes, is one trace
// from the webhook to the fold), linked to the others'.
func startBatch(ctx context.Context, group string, msgs []Message) (context.Context, trace.Span) {
	var parent trace.SpanContext
	var links []trace.Link
	for _, m := range msgs {
		sc := messageContext(m)
		if !sc.IsValid() {
			continue
		}
		if !parent.IsValid() {
			parent = sc
			continue
		}
		if len(links) < maxLinks && sc.TraceID() != parent.TraceID() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	ids := make([]string, 0, min(len(msgs), 20))
	for _, m := range msgs[:min(len(msgs), 20)] {
		ids = append(ids, m.ID)
	}
	return tracer().Start(ctx, "consume "+group, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("messaging.system", "redis"), attribute.String("messaging.consumer.group.name", group),
			attribute.Int("messaging.batch.message_count", len(msgs)), attribute.StringSlice("watchtower.correlation_ids", ids)))
}
