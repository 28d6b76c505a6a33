package openaitest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"

	"github.com/watchtower-fleet/watchtower/tools/openaitest"
)

// The fake is right when openai-go itself reads everything it sends and
// sends everything the fake reads: these tests drive the real client.

func client(s *openaitest.Server, key string) openai.Client {
	return openai.NewClient(option.WithAPIKey(key), option.WithBaseURL(s.URL()), option.WithMaxRetries(0))
}

func params(input responses.ResponseInputParam) responses.ResponseNewParams {
	return responses.ResponseNewParams{
		Model:        "gpt-test",
		Instructions: param.NewOpt("be brief"),
		Input:        responses.ResponseNewParamsInputUnion{OfInputItemList: input},
		Tools: []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{
			Name: "truck_location", Description: param.NewOpt("where"), Strict: param.NewOpt(true),
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"truck": map[string]any{"type": "string"}},
				"required": []string{"truck"}, "additionalProperties": false},
		}}},
	}
}

func TestTextAndUsage(t *testing.T) {
	s := openaitest.NewServer(t, func(r *openaitest.Request) openaitest.Reply { return openaitest.Text("T11985LA is at ESS Libra.") })
	c := client(s, openaitest.APIKey)
	resp, err := c.Responses.New(t.Context(), params(responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("where is T11985LA?", responses.EasyInputMessageRoleUser)}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != "T11985LA is at ESS Libra." || resp.Status != "completed" || !strings.HasPrefix(resp.ID, "resp_") {
		t.Errorf("response %+v", resp)
	}
	if resp.Usage.TotalTokens != resp.Usage.InputTokens+resp.Usage.OutputTokens || resp.Usage.InputTokens == 0 {
		t.Errorf("usage %+v", resp.Usage)
	}
	req := s.Requests()[0]
	if req.Model != "gpt-test" || req.Instructions != "be brief" || len(req.Tools) != 1 || !req.Tools[0].Strict ||
		req.Input[0].Role != "user" || req.Input[0].Text != "where is T11985LA?" {
		t.Errorf("request as decoded %+v", req)
	}
}

func TestFunctionCallsRoundTrip(t *testing.T) {
	s := openaitest.NewServer(t, func(r *openaitest.Request) openaitest.Reply {
		if r.PreviousResponseID == "" {
			return openaitest.Calls(openaitest.Call{Name: "truck_location", Args: `{"truck":"T1"}`, CallID: "call_a"},
				openaitest.Call{Name: "truck_location", Args: `{"truck":"T2"}`})
		}
		return openaitest.Text("outputs " + r.Input[0].CallID + "=" + r.Input[0].Output + " " + r.Input[1].Output)
	})
	c := client(s, openaitest.APIKey)
	resp, err := c.Responses.New(t.Context(), params(responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("two trucks", responses.EasyInputMessageRoleUser)}))
	if err != nil {
		t.Fatal(err)
	}
	var calls []responses.ResponseFunctionToolCall
	for _, item := range resp.Output {
		if item.Type == "function_call" {
			calls = append(calls, item.AsFunctionCall())
		}
	}
	if len(calls) != 2 || calls[0].CallID != "call_a" || calls[0].Arguments != `{"truck":"T1"}` || calls[1].CallID == "" || calls[1].Name != "truck_location" {
		t.Fatalf("calls %+v", calls)
	}
	var outs responses.ResponseInputParam
	for i, fc := range calls {
		outs = append(outs, responses.ResponseInputItemUnionParam{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
			CallID: param.NewOpt(fc.CallID), Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: param.NewOpt([]string{"here", "there"}[i])}}})
	}
	p := params(outs)
	p.PreviousResponseID = param.NewOpt(resp.ID)
	next, err := c.Responses.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if next.OutputText() != "outputs call_a=here there" {
		t.Errorf("second answer %q", next.OutputText())
	}
}

func TestStreaming(t *testing.T) {
	s := openaitest.NewServer(t, func(r *openaitest.Request) openaitest.Reply {
		if strings.Contains(r.Input[0].Text, "call") {
			return openaitest.Calls(openaitest.Call{Name: "truck_location", Args: `{"truck":"T11985LA, the long way round"}`})
		}
		return openaitest.Text("A longer answer that arrives in several pieces.")
	})
	c := client(s, openaitest.APIKey)
	run := func(text string) (types []string, deltas, args string, done responses.Response) {
		stream := c.Responses.NewStreaming(t.Context(), params(responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(text, responses.EasyInputMessageRoleUser)}))
		defer stream.Close()
		for stream.Next() {
			ev := stream.Current()
			types = append(types, ev.Type)
			switch ev.Type {
			case "response.output_text.delta":
				deltas += ev.AsResponseOutputTextDelta().Delta
			case "response.function_call_arguments.delta":
				args += ev.AsResponseFunctionCallArgumentsDelta().Delta
			case "response.completed":
				done = ev.AsResponseCompleted().Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		return
	}
	types, deltas, _, done := run("text")
	if deltas != "A longer answer that arrives in several pieces." || done.OutputText() != deltas {
		t.Errorf("deltas %q, completed %q", deltas, done.OutputText())
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta"
	if !strings.HasPrefix(strings.Join(types, " "), want) || types[len(types)-1] != "response.completed" {
		t.Errorf("event order %v", types)
	}
	_, _, args, done := run("call")
	if args != `{"truck":"T11985LA, the long way round"}` || done.Output[0].AsFunctionCall().Arguments != args {
		t.Errorf("argument deltas %q", args)
	}
}

func TestErrors(t *testing.T) {
	var reply openaitest.Reply
	s := openaitest.NewServer(t, func(r *openaitest.Request) openaitest.Reply { return reply })
	in := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("hi", responses.EasyInputMessageRoleUser)}
	check := func(name string, c openai.Client, p responses.ResponseNewParams, status int, code string) {
		t.Helper()
		_, err := c.Responses.New(t.Context(), p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code != code {
			t.Errorf("%s: %v", name, err)
		}
	}
	reply = openaitest.Error(http.StatusInternalServerError, "server_error", "boom")
	check("500", client(s, openaitest.APIKey), params(in), 500, "server_error")
	check("401", client(s, "sk-wrong"), params(in), 401, "invalid_api_key")
	p := params(in)
	p.PreviousResponseID = param.NewOpt("resp_gone")
	check("previous", client(s, openaitest.APIKey), p, 400, "previous_response_not_found")

	// 429 with Retry-After: openai-go waits and retries.
	n := 0
	s.SetHandler(func(r *openaitest.Request) openaitest.Reply {
		n++
		if n == 1 {
			return openaitest.RateLimited(time.Second)
		}
		return openaitest.Text("ok")
	})
	start := time.Now()
	retrying := openai.NewClient(option.WithAPIKey(openaitest.APIKey), option.WithBaseURL(s.URL()), option.WithMaxRetries(1))
	resp, err := retrying.Responses.New(t.Context(), params(in))
	if err != nil || resp.OutputText() != "ok" || time.Since(start) < 900*time.Millisecond {
		t.Errorf("429 retry: %v after %v", err, time.Since(start))
	}

	// A hang ends when the client gives up.
	s.SetHandler(func(*openaitest.Request) openaitest.Reply { return openaitest.Hang() })
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	c := client(s, openaitest.APIKey)
	if _, err := c.Responses.New(ctx, params(in)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: %v", err)
	}
}
