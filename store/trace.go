package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracer gives each query a span, inside a request's trace only: the
// queries of a webhook's fold or of an API request's tool appear under
// them, and background work does not start traces of its own. Open sets
// it; tests' pools set it too.
var Tracer pgx.QueryTracer = queryTracer{}

const tracerName = "github.com/watchtower-fleet/watchtower/store"

type queryTracer struct{}

// spanKey marks a context whose span the tracer started, so that only
// that span is ended.
type spanKey struct{}

// maxQueryText bounds the statement kept on a span; statements take their
// values as parameters, which are not recorded.
const maxQueryText = 1000

func (queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	sql := strings.TrimSpace(data.SQL)
	op, _, _ := strings.Cut(sql, " ")
	op = strings.ToUpper(strings.TrimSpace(op))
	if len(sql) > maxQueryText {
		sql = sql[:maxQueryText]
	}
	ctx, span := otel.Tracer(tracerName).Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.operation.name", op),
			attribute.String("db.query.text", sql)))
	return context.WithValue(ctx, spanKey{}, span)
}

func (queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	if !ok {
		return
	}
	if data.Err != nil && !noRows(data.Err) {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, "query failed")
	}
	span.SetAttributes(attribute.Int64("db.response.rows", data.CommandTag.RowsAffected()))
	span.End()
}
