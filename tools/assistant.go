package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/watchtower-fleet/watchtower/prompts"
	"github.com/watchtower-fleet/watchtower/store"
)

// AssistantConfig configures the model loop.
type AssistantConfig struct {
	// APIKey empty turns the model off: free text then goes through the
	// deterministic grammar only.
	APIKey  string
	BaseURL string // any Responses-compatible server
	Model   string
	// HTTPClient may be nil for the default.
	HTTPClient *http.Client
	// MaxSteps caps the model calls of one turn (8).
	MaxSteps int
	// Deadline caps a whole turn, retries included (25 s), so that a person
	// hears back within 30 s.
	Deadline time.Duration
	// RequestTimeout caps one model call (12 s); a hung call is cut and
	// retried while the deadline allows.
	RequestTimeout time.Duration
	// MaxRetries is how often one call is retried after a timeout, a 429
	// (honouring Retry-After) or a 5xx (2).
	MaxRetries int
	// MaxProposals caps the write actions one turn may prepare (3): a model
	// led astray cannot flood the channel with cards.
	MaxProposals int
}

func (c AssistantConfig) withDefaults() AssistantConfig {
	if c.MaxSteps <= 0 {
		c.MaxSteps = 8
	}
	if c.Deadline <= 0 {
		c.Deadline = 25 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 12 * time.Second
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	} else if c.MaxRetries == 0 {
		c.MaxRetries = 2
	}
	if c.MaxProposals <= 0 {
		c.MaxProposals = 3
	}
	if c.Model == "" {
		c.Model = "gpt-4.1-mini"
	}
	return c
}

// Assistant answers free text: through the OpenAI Responses tool loop when
// a model is configured, through the deterministic grammar otherwise.
type Assistant struct {
	cfg    AssistantConfig
	client *openai.Client // nil when the model is off
	reg    *Registry
	conv   *Conversations
	tools  []responses.ToolUnionParam
	logger *slog.Logger

	// The fleet's counts in the instructions change rarely: they are read
	// at most every summaryTTL, not on every turn.
	summaryMu sync.Mutex
	summary   store.FleetSummary
	summaryAt time.Time
}

const summaryTTL = time.Minute

// NewAssistant builds the assistant. conv may be nil (no memory between
// turns).
func NewAssistant(cfg AssistantConfig, reg *Registry, conv *Conversations, logger *slog.Logger) *Assistant {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Assistant{cfg: cfg, reg: reg, conv: conv, logger: logger}
	if cfg.APIKey != "" {
		opts := []option.RequestOption{
			option.WithAPIKey(cfg.APIKey),
			option.WithMaxRetries(cfg.MaxRetries),
			option.WithRequestTimeout(cfg.RequestTimeout),
		}
		if cfg.BaseURL != "" {
			opts = append(opts, option.WithBaseURL(cfg.BaseURL))
		}
		if cfg.HTTPClient != nil {
			opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
		}
		client := openai.NewClient(opts...)
		a.client = &client
	}
	for _, t := range reg.Tools() {
		a.tools = append(a.tools, responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
			Name:        t.Name,
			Description: param.NewOpt(t.Description),
			Parameters:  t.Schema(),
			Strict:      param.NewOpt(true),
		}})
	}
	return a
}

// ModelOn reports whether a model is configured.
func (a *Assistant) ModelOn() bool { return a.client != nil }

// Registry is the assistant's tool registry.
func (a *Assistant) Registry() *Registry { return a.reg }

// Request is one message from a person.
type Request struct {
	Caller Caller
	// Thread names the conversation (a Slack thread, the console); follow-
	// ups in it continue where the last turn left off.
	Thread string
	Text   string
	// Progress, when set, is told of text as it streams and of tools as
	// they run, so a surface can show something while the model works.
	Progress func(Progress)
}

// Progress kinds.
const (
	ProgressText = "text" // Text is the next piece of the answer
	ProgressTool = "tool" // Tool is about to run
)

// Progress is one piece of news while a turn runs.
type Progress struct {
	Kind string
	Text string
	Tool string
}

// Reply is the answer to a Request. It always has Text: failures become a
// plain sentence, never silence.
type Reply struct {
	Text string
	// Views are results to show as cards: the deterministic grammar's
	// answers (the model's answers are its text).
	Views []View
	// Pending are write actions waiting for a person's Confirm.
	Pending []*Pending
	// Steps is how many model calls the turn made; 0 without a model.
	Steps int
	Usage Usage
	// Failed is set when the text is an apology, not an answer.
	Failed bool
}

// Usage is the tokens a turn used.
type Usage struct {
	InputTokens, OutputTokens int64
}

// Ask answers one message.
func (a *Assistant) Ask(ctx context.Context, req Request) Reply {
	ctx, span := tracer().Start(ctx, "assistant turn", trace.WithAttributes(attribute.Bool("watchtower.model", a.client != nil)))
	defer span.End()
	if req.Caller.CorrelationID == "" {
		req.Caller.CorrelationID = CorrelationFor(ctx)
	}
	if a.client == nil {
		return a.askGrammar(ctx, req)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Deadline)
	defer cancel()
	return a.loop(ctx, req)
}

// askGrammar answers without a model: what the /fleet grammar can place,
// it answers; anything else gets the commands that work.
func (a *Assistant) askGrammar(ctx context.Context, req Request) Reply {
	cmd, err := Parse(req.Text)
	var ue *UsageError
	switch {
	case errors.As(err, &ue):
		return Reply{Text: ue.Error(), Failed: true}
	case err != nil:
		return Reply{Text: "The assistant is off (set OPENAI_API_KEY to ask in your own words). " + Suggest(req.Text), Failed: true}
	case cmd.Help:
		return Reply{Text: a.reg.Help(req.Caller.Role)}
	}
	return ReplyFor(a.reg.InvokeArgs(ctx, req.Caller, cmd.Tool, cmd.Args))
}

// ReplyFor turns one tool outcome into a reply (the grammar's path).
func ReplyFor(out Outcome) Reply {
	if out.Err != nil {
		return Reply{Text: out.Message(), Failed: true}
	}
	r := Reply{Text: out.Result.View.Text, Views: []View{out.Result.View}}
	if out.Pending != nil {
		r.Pending = []*Pending{out.Pending}
		r.Text = out.Pending.Summary
	}
	if r.Text == "" {
		r.Text = out.Result.View.Title
	}
	return r
}

func (a *Assistant) loop(ctx context.Context, req Request) Reply {
	var reply Reply
	instructions, err := a.instructions(ctx, req.Caller)
	if err != nil {
		a.logger.ErrorContext(ctx, "render instructions", "err", err)
		return a.apology(ctx, req, reply, err)
	}
	state := a.conv.load(ctx, req.Thread)
	input := responses.ResponseInputParam{userInput(req.Text)}
	prev := state.PreviousResponseID
	if prev == "" {
		input = append(state.history(), input...)
	}
	proposals := 0
	for step := 1; ; step++ {
		if step > a.cfg.MaxSteps {
			a.conv.forget(ctx, req.Thread, state, req.Text, "")
			reply.Failed = true
			reply.Text = fmt.Sprintf("I could not finish that in %d steps, so I stopped. Try asking more narrowly, for example one truck or one place at a time.", a.cfg.MaxSteps)
			return reply
		}
		p := responses.ResponseNewParams{
			Model:             a.cfg.Model,
			Instructions:      param.NewOpt(instructions),
			Input:             responses.ResponseNewParamsInputUnion{OfInputItemList: input},
			Tools:             a.tools,
			ParallelToolCalls: param.NewOpt(true),
			Store:             param.NewOpt(true),
		}
		if prev != "" {
			p.PreviousResponseID = param.NewOpt(prev)
		}
		resp, err := a.call(ctx, p, req.Progress)
		reply.Steps = step
		if err != nil && prev != "" && step == 1 && isPreviousNotFound(err) {
			// The server forgot the thread: start afresh with its recent turns.
			a.logger.InfoContext(ctx, "previous response forgotten; replaying the thread", "thread", req.Thread)
			prev = ""
			input = append(state.history(), userInput(req.Text))
			step--
			continue
		}
		if err != nil {
			a.conv.forget(ctx, req.Thread, state, req.Text, "")
			return a.apology(ctx, req, reply, err)
		}
		reply.Usage.InputTokens += resp.Usage.InputTokens
		reply.Usage.OutputTokens += resp.Usage.OutputTokens
		var calls []responses.ResponseFunctionToolCall
		for _, item := range resp.Output {
			if item.Type == "function_call" {
				calls = append(calls, item.AsFunctionCall())
			}
		}
		if len(calls) == 0 {
			reply.Text = strings.TrimSpace(resp.OutputText())
			if reply.Text == "" {
				reply.Text = "I have no answer to that. Try asking about a truck, a place or a trip."
			}
			a.conv.save(ctx, req.Thread, state, resp.ID, req.Text, reply.Text)
			return reply
		}
		outs := a.runCalls(ctx, req, calls, &proposals)
		input = input[:0:0]
		for i, c := range calls {
			out := outs[i]
			if out.Pending != nil {
				reply.Pending = append(reply.Pending, out.Pending)
			}
			input = append(input, responses.ResponseInputItemUnionParam{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
				CallID: param.NewOpt(c.CallID),
				Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: param.NewOpt(out.ModelOutput())},
			}})
		}
		prev = resp.ID
	}
}

// runCalls runs one step's function calls, in parallel, and returns their
// outcomes in the calls' order.
func (a *Assistant) runCalls(ctx context.Context, req Request, calls []responses.ResponseFunctionToolCall, proposals *int) []Outcome {
	outs := make([]Outcome, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		if req.Progress != nil {
			req.Progress(Progress{Kind: ProgressTool, Tool: c.Name})
		}
		if t, ok := a.reg.Lookup(c.Name); ok && t.Write {
			// Write proposals are counted in order, not in parallel, so the
			// cap is exact.
			*proposals++
			if *proposals > a.cfg.MaxProposals {
				outs[i] = Outcome{Tool: c.Name, Err: userErrf("refused: at most %d changes can be prepared in one message; ask the user to do one at a time", a.cfg.MaxProposals)}
				a.reg.audit(ctx, req.Caller, "action.refused", c.Name, []byte(c.Arguments), outs[i].Message())
				continue
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = a.reg.Invoke(ctx, req.Caller, c.Name, []byte(c.Arguments))
		}()
	}
	wg.Wait()
	return outs
}

// call makes one model call, streaming when the caller shows progress.
func (a *Assistant) call(ctx context.Context, p responses.ResponseNewParams, progress func(Progress)) (resp *responses.Response, err error) {
	ctx, span := tracer().Start(ctx, "model "+string(p.Model), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", string(p.Model))))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "model call failed")
		} else if resp != nil {
			span.SetAttributes(attribute.Int64("gen_ai.usage.input_tokens", resp.Usage.InputTokens),
				attribute.Int64("gen_ai.usage.output_tokens", resp.Usage.OutputTokens))
		}
		span.End()
	}()
	if progress == nil {
		return a.client.Responses.New(ctx, p)
	}
	stream := a.client.Responses.NewStreaming(ctx, p)
	defer stream.Close()
	var done *responses.Response
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.output_text.delta":
			progress(Progress{Kind: ProgressText, Text: ev.Delta})
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			done = &r
		case "response.failed", "response.incomplete":
			r := ev.Response
			return nil, fmt.Errorf("tools: model response %s: %s", ev.Type, r.Status)
		case "error":
			e := ev.AsError()
			return nil, fmt.Errorf("tools: model stream error %s: %s", e.Code, e.Message)
		}
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	if done == nil {
		return nil, errors.New("tools: model stream ended without a completed response")
	}
	return done, nil
}

func userInput(text string) responses.ResponseInputItemUnionParam {
	return responses.ResponseInputItemParamOfMessage(text, responses.EasyInputMessageRoleUser)
}

func isPreviousNotFound(err error) bool {
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.StatusCode == http.StatusBadRequest &&
		(apiErr.Code == "previous_response_not_found" || apiErr.Param == "previous_response_id")
}

// instructions renders the system prompt for this caller and moment.
func (a *Assistant) instructions(ctx context.Context, c Caller) (string, error) {
	s := prompts.System{
		Now:        a.reg.Now().In(a.reg.Zone()).Format("Monday 2 January 2006, 15:04"),
		CallerName: c.Name,
		CallerRole: c.Role,
	}
	if s.CallerName == "" {
		s.CallerName = c.ID
	}
	sum, err := a.fleetSummary(ctx)
	if err != nil {
		return "", err
	}
	s.Trucks, s.ActiveTrucks, s.Locations, s.Drivers = sum.Trucks, sum.ActiveTrucks, sum.Locations, sum.Drivers
	return prompts.RenderSystem(s)
}

// fleetSummary is the store's counts, cached for summaryTTL.
func (a *Assistant) fleetSummary(ctx context.Context) (store.FleetSummary, error) {
	db := a.reg.deps.DB
	if db == nil {
		return store.FleetSummary{}, nil
	}
	a.summaryMu.Lock()
	defer a.summaryMu.Unlock()
	now := time.Now()
	if !a.summaryAt.IsZero() && now.Sub(a.summaryAt) < summaryTTL {
		return a.summary, nil
	}
	sum, err := db.Summary(ctx)
	if err != nil {
		return sum, err
	}
	a.summary, a.summaryAt = sum, now
	return sum, nil
}

// apology turns a failed turn into a plain sentence, logging the cause with
// a reference the person can quote.
func (a *Assistant) apology(ctx context.Context, req Request, reply Reply, err error) Reply {
	ref := req.Caller.CorrelationID
	reply.Failed = true
	var apiErr *openai.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		reply.Text = "Sorry, the assistant took too long to answer. Please try again, or use a command such as `where T11985LA`."
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests:
		reply.Text = "The assistant is busy right now (rate limited). Please try again in a minute; commands such as `where T11985LA` still work."
	case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden):
		reply.Text = "The assistant is not set up right (the model service refused our key). An admin should check OPENAI_API_KEY."
	case errors.As(err, &apiErr) && apiErr.StatusCode >= 500:
		reply.Text = "The assistant's model service is having trouble. Please try again shortly; commands such as `where T11985LA` still work."
	default:
		reply.Text = "Sorry, something went wrong while answering."
	}
	reply.Text += " (ref " + ref + ")"
	if len(reply.Pending) > 0 {
		reply.Text += " A change I had prepared is still waiting for your Confirm below."
	}
	a.logger.ErrorContext(ctx, "assistant turn failed", "correlation_id", ref, "thread", req.Thread, "steps", reply.Steps, "err", err)
	return reply
}
