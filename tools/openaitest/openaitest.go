// Package openaitest is a fake OpenAI Responses API for tests. It speaks the
// real wire format, checked by running openai-go against it: POST
// /responses answered as a Response object or as server-sent events, with
// function_call output items, usage, previous_response_id bookkeeping, and
// OpenAI's error bodies. A test scripts each answer with a handler.
package openaitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// APIKey is the key the fake accepts.
const APIKey = "sk-test-watchtower"

// Request is a /responses request as the fake decoded it.
type Request struct {
	Model              string
	Instructions       string
	PreviousResponseID string
	Stream             bool
	ParallelToolCalls  *bool
	Tools              []Tool
	Input              []Item
	Raw                json.RawMessage
}

// Tool is a function tool offered in a request.
type Tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

// Item is one input item: a message (Role and Text), a function call, or a
// function call's output.
type Item struct {
	Type      string // message, function_call, function_call_output
	Role      string
	Text      string
	CallID    string
	Name      string
	Arguments string
	Output    string
}

// Call is a function call for the fake to make.
type Call struct {
	Name   string
	Args   string // JSON, sent as a string like the real API
	CallID string // generated when empty
}

// Reply is what the fake answers one request with.
type Reply struct {
	text       *string
	calls      []Call
	status     int
	errCode    string
	errMessage string
	errParam   string
	retryAfter string
	hang       bool
}

// Text answers with an assistant message.
func Text(s string) Reply { return Reply{text: &s} }

// Calls answers with function calls (several are parallel calls).
func Calls(c ...Call) Reply { return Reply{calls: c} }

// Error answers with an HTTP error and OpenAI's error body.
func Error(status int, code, message string) Reply {
	return Reply{status: status, errCode: code, errMessage: message}
}

// RateLimited answers 429 with a Retry-After of d (whole seconds, or
// Retry-After-Ms below a second).
func RateLimited(d time.Duration) Reply {
	r := Error(http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit reached for requests")
	r.retryAfter = strconv.Itoa(int(d / time.Second))
	return r
}

// Hang never answers: the request ends when the client gives up.
func Hang() Reply { return Reply{hang: true} }

// PreviousResponseNotFound is OpenAI's answer to an unknown
// previous_response_id.
func PreviousResponseNotFound(id string) Reply {
	r := Error(http.StatusBadRequest, "previous_response_not_found", fmt.Sprintf("Previous response with id '%s' not found.", id))
	r.errParam = "previous_response_id"
	return r
}

// Server is the fake.
type Server struct {
	t       testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	handler func(*Request) Reply
	reqs    []*Request
	record  bool
	issued  map[string][]Call // response id → its calls
	order   []string
	seq     atomic.Int64
}

// NewServer starts the fake on 127.0.0.1; it stops when the test ends.
func NewServer(t testing.TB, handler func(*Request) Reply) *Server {
	s := &Server{t: t, handler: handler, record: true, issued: map[string][]Call{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL for option.WithBaseURL.
func (s *Server) URL() string { return s.srv.URL + "/v1/" }

// SetHandler replaces the handler.
func (s *Server) SetHandler(h func(*Request) Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// DisableRecording stops keeping requests (for benchmarks).
func (s *Server) DisableRecording() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record = false
}

// Requests returns the requests so far, in order.
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.reqs...)
}

// ResponseIDs returns the ids of the responses issued, in order.
func (s *Server) ResponseIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// IssuedCalls returns the function calls a response made.
func (s *Server) IssuedCalls(responseID string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued[responseID]
}

// ForgetAll makes every issued response unknown, as when OpenAI's stored
// responses expire.
func (s *Server) ForgetAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued = map[string][]Call{}
}

func (s *Server) id(prefix string) string {
	return fmt.Sprintf("%s_%016x", prefix, s.seq.Add(1))
}

func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var p, c any
	if param != "" {
		p = param
	}
	if code != "" {
		c = code
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": c}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/responses" {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "", "Invalid URL ("+r.Method+" "+r.URL.Path+")")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+APIKey {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "", "Incorrect API key provided.")
		return
	}
	req, err := decodeRequest(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "", err.Error())
		return
	}
	s.mu.Lock()
	if s.record {
		s.reqs = append(s.reqs, req)
	}
	_, known := s.issued[req.PreviousResponseID]
	h := s.handler
	s.mu.Unlock()
	var reply Reply
	if req.PreviousResponseID != "" && !known {
		reply = PreviousResponseNotFound(req.PreviousResponseID)
	} else {
		reply = h(req)
	}
	switch {
	case reply.hang:
		<-r.Context().Done()
		return
	case reply.status != 0:
		if reply.retryAfter != "" {
			w.Header().Set("Retry-After", reply.retryAfter)
		}
		typ := "invalid_request_error"
		if reply.status >= 500 {
			typ = "server_error"
		} else if reply.status == http.StatusTooManyRequests {
			typ = "requests"
		}
		writeError(w, reply.status, typ, reply.errCode, reply.errParam, reply.errMessage)
		return
	}
	resp, calls := s.response(req, reply)
	s.mu.Lock()
	s.issued[resp["id"].(string)] = calls
	s.order = append(s.order, resp["id"].(string))
	s.mu.Unlock()
	w.Header().Set("x-request-id", s.id("req"))
	if req.Stream {
		s.stream(w, resp)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// response builds the Response object for a reply.
func (s *Server) response(req *Request, reply Reply) (map[string]any, []Call) {
	var output []any
	var calls []Call
	outTokens := 0
	if reply.text != nil {
		output = append(output, map[string]any{
			"type": "message", "id": s.id("msg"), "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": *reply.text, "annotations": []any{}, "logprobs": []any{}}},
		})
		outTokens += len(strings.Fields(*reply.text)) + 1
	}
	for _, c := range reply.calls {
		if c.CallID == "" {
			c.CallID = s.id("call")
		}
		calls = append(calls, c)
		output = append(output, map[string]any{
			"type": "function_call", "id": s.id("fc"), "call_id": c.CallID, "name": c.Name, "arguments": c.Args, "status": "completed",
		})
		outTokens += len(c.Args)/4 + 5
	}
	if output == nil {
		output = []any{}
	}
	inTokens := len(req.Raw)/4 + 1
	var prev any
	if req.PreviousResponseID != "" {
		prev = req.PreviousResponseID
	}
	tools := []any{}
	for _, t := range req.Tools {
		tools = append(tools, t)
	}
	parallel := true
	if req.ParallelToolCalls != nil {
		parallel = *req.ParallelToolCalls
	}
	var instr any
	if req.Instructions != "" {
		instr = req.Instructions
	}
	return map[string]any{
		"id": s.id("resp"), "object": "response", "created_at": time.Now().Unix(), "status": "completed",
		"error": nil, "incomplete_details": nil, "instructions": instr, "model": req.Model,
		"output": output, "parallel_tool_calls": parallel, "previous_response_id": prev,
		"temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": tools, "store": true,
		"text":     map[string]any{"format": map[string]any{"type": "text"}},
		"metadata": map[string]any{},
		"usage": map[string]any{
			"input_tokens": inTokens, "input_tokens_details": map[string]any{"cached_tokens": 0},
			"output_tokens": outTokens, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
			"total_tokens": inTokens + outTokens,
		},
	}, calls
}

// stream sends resp as the Responses API's server-sent events, in the real
// order, text split into several deltas.
func (s *Server) stream(w http.ResponseWriter, resp map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	seq := 0
	send := func(ev map[string]any) {
		ev["sequence_number"] = seq
		seq++
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	pending := map[string]any{}
	for k, v := range resp {
		pending[k] = v
	}
	pending["status"] = "in_progress"
	pending["output"] = []any{}
	pending["usage"] = nil
	send(map[string]any{"type": "response.created", "response": pending})
	send(map[string]any{"type": "response.in_progress", "response": pending})
	for i, raw := range resp["output"].([]any) {
		item := raw.(map[string]any)
		id := item["id"]
		switch item["type"] {
		case "message":
			text := item["content"].([]any)[0].(map[string]any)["text"].(string)
			send(map[string]any{"type": "response.output_item.added", "output_index": i,
				"item": map[string]any{"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []any{}}})
			send(map[string]any{"type": "response.content_part.added", "item_id": id, "output_index": i, "content_index": 0,
				"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}})
			for _, d := range chunks(text) {
				send(map[string]any{"type": "response.output_text.delta", "item_id": id, "output_index": i, "content_index": 0, "delta": d, "logprobs": []any{}})
			}
			send(map[string]any{"type": "response.output_text.done", "item_id": id, "output_index": i, "content_index": 0, "text": text, "logprobs": []any{}})
			send(map[string]any{"type": "response.content_part.done", "item_id": id, "output_index": i, "content_index": 0,
				"part": map[string]any{"type": "output_text", "text": text, "annotations": []any{}}})
		case "function_call":
			added := map[string]any{}
			for k, v := range item {
				added[k] = v
			}
			added["arguments"], added["status"] = "", "in_progress"
			send(map[string]any{"type": "response.output_item.added", "output_index": i, "item": added})
			args := item["arguments"].(string)
			for _, d := range chunks(args) {
				send(map[string]any{"type": "response.function_call_arguments.delta", "item_id": id, "output_index": i, "delta": d})
			}
			send(map[string]any{"type": "response.function_call_arguments.done", "item_id": id, "output_index": i, "name": item["name"], "arguments": args})
		}
		send(map[string]any{"type": "response.output_item.done", "output_index": i, "item": item})
	}
	send(map[string]any{"type": "response.completed", "response": resp})
}

// chunks splits s into a few pieces, as a model streams.
func chunks(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for len(s) > 12 {
		cut := 12
		for cut < len(s) && s[cut]&0xC0 == 0x80 {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// decodeRequest reads a /responses body, accepting input as a string or a
// list of items, and message content as a string or a list of parts.
func decodeRequest(r *http.Request) (*Request, error) {
	var body struct {
		Model              string          `json:"model"`
		Instructions       string          `json:"instructions"`
		PreviousResponseID string          `json:"previous_response_id"`
		Stream             bool            `json:"stream"`
		ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
		Tools              []Tool          `json:"tools"`
		Input              json.RawMessage `json:"input"`
	}
	raw := json.RawMessage{}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("could not parse the JSON body of the request: %v", err)
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("invalid request body: %v", err)
	}
	if body.Model == "" {
		return nil, fmt.Errorf("missing required parameter: 'model'")
	}
	req := &Request{Model: body.Model, Instructions: body.Instructions, PreviousResponseID: body.PreviousResponseID,
		Stream: body.Stream, ParallelToolCalls: body.ParallelToolCalls, Tools: body.Tools, Raw: raw}
	if len(body.Input) > 0 && body.Input[0] == '"' {
		var text string
		if err := json.Unmarshal(body.Input, &text); err != nil {
			return nil, err
		}
		req.Input = []Item{{Type: "message", Role: "user", Text: text}}
		return req, nil
	}
	var items []struct {
		Type      string          `json:"type"`
		Role      string          `json:"role"`
		Content   json.RawMessage `json:"content"`
		CallID    string          `json:"call_id"`
		Name      string          `json:"name"`
		Arguments string          `json:"arguments"`
		Output    json.RawMessage `json:"output"`
	}
	if len(body.Input) > 0 {
		if err := json.Unmarshal(body.Input, &items); err != nil {
			return nil, fmt.Errorf("invalid type for 'input': %v", err)
		}
	}
	for _, it := range items {
		item := Item{Type: it.Type, Role: it.Role, CallID: it.CallID, Name: it.Name, Arguments: it.Arguments}
		if item.Type == "" && it.Role != "" {
			item.Type = "message"
		}
		item.Text = textOf(it.Content)
		item.Output = textOf(it.Output)
		if item.Type == "function_call_output" && item.CallID == "" {
			return nil, fmt.Errorf("missing required parameter: 'input[].call_id'")
		}
		req.Input = append(req.Input, item)
	}
	return req, nil
}

// textOf reads a string, or the text of a list of content parts.
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return string(raw)
}
