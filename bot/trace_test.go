package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/bot/slackfake"
	"github.com/watchtower-fleet/watchtower/tools"
	"github.com/watchtower-fleet/watchtower/tools/openaitest"
)

// A Slack mention is one trace: the envelope, the assistant's turn, each
// model call and the tool the model called; its id is the audit log's
// correlation id.
func TestTraceSlackEventThroughTools(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	f := newPooledFixture(t)
	model := openaitest.NewServer(t, func(r *openaitest.Request) openaitest.Reply {
		for _, in := range r.Input {
			if in.Type == "function_call_output" {
				return openaitest.Text("T11985LA is at ESS Libra.")
			}
		}
		return openaitest.Calls(openaitest.Call{Name: "truck_location", Args: `{"truck":"T11985LA"}`})
	})
	asst := tools.NewAssistant(tools.AssistantConfig{APIKey: openaitest.APIKey, BaseURL: model.URL(), Model: "gpt-test",
		Deadline: 5 * time.Second, RequestTimeout: time.Second}, f.reg, tools.NewConversations(f.rdb, f.prefix, nil), nil)
	f.router = bot.NewRouter(asst, nil)
	fake := slackfake.NewServer(t)
	startSlack(t, f, fake, nil)

	ack(t, fake, fake.Mention("EvTrace", ops, dispatcher, "where is T11985LA?", "1764838800.000900", ""))
	if _, ok := fake.WaitCall(wait, 1, method("chat.update", nil)); !ok {
		t.Fatal("no answer")
	}
	var tool sdktrace.ReadOnlySpan
	deadline := time.Now().Add(wait)
	for tool == nil {
		for _, s := range exp.GetSpans().Snapshots() {
			if s.Name() == "tool truck_location" {
				tool = s
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no span for the tool")
		}
		time.Sleep(20 * time.Millisecond)
	}
	traceID := tool.SpanContext().TraceID()
	// The envelope's and the turn's spans end after the answer is posted.
	var got string
	for {
		var names []string
		for _, s := range exp.GetSpans().Snapshots() {
			if s.SpanContext().TraceID() == traceID {
				names = append(names, s.Name())
			}
		}
		got = strings.Join(names, ",")
		if strings.Contains(got, "slack events_api") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"slack events_api", "assistant turn", "model gpt-test", "tool truck_location"} {
		if !strings.Contains(got, want) {
			t.Errorf("the trace lacks %q: %s", want, got)
		}
	}
	if n := strings.Count(got, "model gpt-test"); n != 2 {
		t.Errorf("%d model calls in the trace, want 2: %s", n, got)
	}
	evs, err := f.db.EventsByCorrelation(context.Background(), traceID.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Subject != "tool:truck_location" {
		t.Errorf("the audit log under the trace id: %+v", evs)
	}
}
