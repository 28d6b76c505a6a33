package tools

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the tools' spans: a turn, each model call, each tool.
const tracerName = "github.com/watchtower-fleet/watchtower/tools"

func tracer() trace.Tracer { return otel.Tracer(tracerName) }

// CorrelationFor is the correlation id for a request in ctx: its trace id
// when it is traced, so that the audit log, the logs, the trace and the
// reference a person sees share one id; a fresh id otherwise.
func CorrelationFor(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return NewCorrelationID()
}

// startTool starts a tool's span.
func startTool(ctx context.Context, c Caller, t *Tool, kind string) (context.Context, trace.Span) {
	return tracer().Start(ctx, kind+" "+t.Name, trace.WithAttributes(attribute.String("watchtower.tool", t.Name),
		attribute.String("watchtower.caller.role", c.Role), attribute.Bool("watchtower.tool.write", t.Write)))
}

// endTool ends a tool's span with its outcome.
func endTool(span trace.Span, err error) {
	if err != nil {
		if isUnexpected(err) {
			span.RecordError(err)
			span.SetStatus(codes.Error, "unexpected")
		} else {
			span.SetAttributes(attribute.String("watchtower.refused", userMessage(err)))
		}
	}
	span.End()
}
