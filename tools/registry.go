package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/watchtower-fleet/watchtower/fault"
	"github.com/watchtower-fleet/watchtower/store"
)

// Registry holds every tool, built once at start-up, and runs them for the
// model, the /fleet grammar and the console alike.
type Registry struct {
	deps    Deps
	tools   []*Tool
	byName  map[string]*Tool
	actions *Actions
	logger  *slog.Logger
}

// Deps is what the tools reach the world through.
type Deps struct {
	DB *store.DB
	// OnTime is the grace of the KPIs' on-time departures and deliveries
	// (REPORT_ON_TIME_MINUTES; DefaultOnTime when 0).
	OnTime time.Duration
	// Actions keeps pending write actions; nil makes every write tool
	// refuse (nothing can be confirmed without it).
	Actions *Actions
	// LocoNav is nil when LOCONAV_API_TOKEN is not set: trips stay local
	// and positions are not refreshed.
	LocoNav LocoNav
	Now     func() time.Time
	Zone    *time.Location // the fleet's zone, Africa/Lagos
	// OfflineAfter is how long without a fix makes a truck offline.
	OfflineAfter time.Duration
	// StaleAfter is the age of a fix past which truck_location asks
	// LocoNav for a fresher one (10 minutes).
	StaleAfter time.Duration
	// DelayGrace is how long after its scheduled departure a trip that has
	// not left counts as delayed (2 hours).
	DelayGrace time.Duration
	Logger     *slog.Logger
}

func (d Deps) withDefaults() Deps {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Zone == nil {
		d.Zone = time.UTC
	}
	if d.OfflineAfter <= 0 {
		d.OfflineAfter = 2 * time.Hour
	}
	if d.StaleAfter <= 0 {
		d.StaleAfter = 10 * time.Minute
	}
	if d.DelayGrace <= 0 {
		d.DelayGrace = 2 * time.Hour
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return d
}

// New builds the registry with every tool.
func New(deps Deps) *Registry {
	deps = deps.withDefaults()
	r := &Registry{deps: deps, byName: map[string]*Tool{}, actions: deps.Actions, logger: deps.Logger}
	for _, t := range r.all() {
		r.add(t)
	}
	return r
}

var toolNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)

func (r *Registry) add(t *Tool) {
	if !toolNameRE.MatchString(t.Name) {
		panic(fmt.Sprintf("tools: bad tool name %q", t.Name))
	}
	if _, dup := r.byName[t.Name]; dup {
		panic(fmt.Sprintf("tools: %s registered twice", t.Name))
	}
	r.tools = append(r.tools, t)
	r.byName[t.Name] = t
}

// Tools lists the tools in registration order.
func (r *Registry) Tools() []*Tool { return r.tools }

// Lookup finds a tool by name.
func (r *Registry) Lookup(name string) (*Tool, bool) {
	t, ok := r.byName[name]
	return t, ok
}

// Now is the registry's clock.
func (r *Registry) Now() time.Time { return r.deps.Now() }

// Zone is the fleet's time zone.
func (r *Registry) Zone() *time.Location { return r.deps.Zone }

// Outcome is what invoking a tool gave: a result, a pending action waiting
// for a person, or an error whose Message is fit to show.
type Outcome struct {
	Tool    string
	Result  Result
	Pending *Pending // set when a write tool was proposed
	Err     error
}

// Message is the plain sentence for an error outcome, for the model or a
// person: a bad argument names the field, a missing truck suggests names,
// anything unexpected gives only a reference id.
func (o Outcome) Message() string {
	if o.Err == nil {
		return ""
	}
	return userMessage(o.Err)
}

// ModelOutput is the function_call_output the model receives.
func (o Outcome) ModelOutput() string {
	switch {
	case o.Err != nil:
		b, _ := json.Marshal(map[string]string{"error": o.Message()})
		return string(b)
	default:
		return o.Result.ModelOutput()
	}
}

// Invoke runs a tool by name with raw JSON arguments as c. A read tool runs
// at once; a write tool becomes a pending action that a permitted person
// must confirm. Nothing in the arguments can skip that. Every call is
// audited.
func (r *Registry) Invoke(ctx context.Context, c Caller, name string, raw []byte) Outcome {
	t, ok := r.byName[name]
	if !ok {
		err := &ArgError{Problem: fmt.Sprintf("there is no tool %q", name)}
		r.audit(ctx, c, "tool.refused", name, raw, err.Error())
		return Outcome{Tool: name, Err: err}
	}
	args, err := t.Decode(raw)
	if err != nil {
		r.audit(ctx, c, "tool.refused", name, raw, err.Error())
		return Outcome{Tool: name, Err: err}
	}
	return r.invoke(ctx, c, t, args, raw)
}

// InvokeArgs is Invoke with arguments already decoded (the /fleet grammar
// builds them). They are validated again here, the one way in.
func (r *Registry) InvokeArgs(ctx context.Context, c Caller, name string, args any) Outcome {
	raw, err := json.Marshal(args)
	if err != nil {
		return Outcome{Tool: name, Err: fmt.Errorf("tools: %s: encode arguments: %w", name, err)}
	}
	return r.Invoke(ctx, c, name, raw)
}

func (r *Registry) invoke(ctx context.Context, c Caller, t *Tool, args any, raw []byte) (out Outcome) {
	ctx, span := startTool(ctx, c, t, "tool")
	defer func() { endTool(span, out.Err) }()
	if t.Write {
		p, err := r.propose(ctx, c, t, args, raw)
		if err != nil {
			r.audit(ctx, c, "action.refused", t.Name, raw, userMessage(err))
			return Outcome{Tool: t.Name, Err: err}
		}
		return Outcome{Tool: t.Name, Pending: p, Result: p.Result()}
	}
	if !Allows(c.Role, t.Role) {
		err := &PermissionError{Tool: t.Name, Need: t.Role, Have: c.Role}
		r.audit(ctx, c, "tool.refused", t.Name, raw, err.Error())
		return Outcome{Tool: t.Name, Err: err}
	}
	res, err := r.run(ctx, c, t, args)
	outcome := "ok"
	if err != nil {
		outcome = userMessage(err)
		if isUnexpected(err) {
			r.logger.ErrorContext(ctx, "tool failed", "tool", t.Name, "correlation_id", c.CorrelationID, "ref", Ref(err), "err", err)
		}
	}
	if !c.Program {
		r.audit(ctx, c, "tool.call", t.Name, raw, outcome)
	}
	return Outcome{Tool: t.Name, Result: res, Err: err}
}

// run calls the tool, turning a panic into an error: one bad tool must not
// take the bot down.
func (r *Registry) run(ctx context.Context, c Caller, t *Tool, args any) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tools: %s panicked: %v", t.Name, p)
		}
	}()
	return t.run(ctx, c, args)
}

// audit appends to the events table. A failed audit write is logged, not
// returned: the answer has already been computed.
func (r *Registry) audit(ctx context.Context, c Caller, action, tool string, args []byte, outcome string) {
	if r.deps.DB == nil {
		return
	}
	var a any = json.RawMessage(args)
	if !json.Valid(args) {
		a = string(args)
	}
	actor := c.ID
	if actor == "" {
		actor = "unknown"
	}
	err := r.deps.DB.AppendEvent(context.WithoutCancel(ctx), store.Event{
		Actor: actor, Action: action, Subject: "tool:" + tool, CorrelationID: c.CorrelationID,
		Payload: map[string]any{"args": a, "outcome": outcome, "role": c.Role},
	})
	if err != nil {
		r.logger.WarnContext(ctx, "audit write failed", "action", action, "tool", tool, "err", err)
	}
}

// PermissionError is a caller whose role does not allow a tool.
type PermissionError struct {
	Tool, Need, Have string
}

// ErrorCode is fault's forbidden.
func (e *PermissionError) ErrorCode() string { return string(fault.Forbidden) }

// ErrorMessage is the error itself.
func (e *PermissionError) ErrorMessage() string { return e.Error() }

func (e *PermissionError) Error() string {
	have := e.Have
	if have == "" {
		have = "no role"
	}
	return fmt.Sprintf("%s needs the %s role; you are %s", e.Tool, e.Need, article(have))
}

func article(role string) string {
	if role == "" {
		return role
	}
	if strings.ContainsRune("aeiou", rune(role[0])) {
		return "an " + role
	}
	return "a " + role
}

// UserError is a failure whose message is already fit for people.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

// ErrorCode is fault's refused: a rule of the fleet's says no.
func (e *UserError) ErrorCode() string { return string(fault.Refused) }

// ErrorMessage is the message itself.
func (e *UserError) ErrorMessage() string { return e.Msg }

func userErrf(format string, a ...any) error { return &UserError{Msg: fmt.Sprintf(format, a...)} }

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// isUnexpected reports whether err is a fault rather than a plain answer
// (not found, bad argument, not allowed).
func isUnexpected(err error) bool { return fault.Unexpected(err) }

// userMessage is err as a plain sentence: an expected failure's own
// message (fault.Message); anything else gets a reference id that the log
// carries too.
func userMessage(err error) string {
	if msg, ok := fault.Message(err); ok {
		return msg
	}
	return "something went wrong on our side (ref " + Ref(err) + ")"
}

// orList joins candidates as "A, B or C".
func orList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// Ref is a short reference id for an unexpected error, derived from its
// text so that the log line and the user's message match.
func Ref(err error) string {
	h := uint32(2166136261)
	for _, b := range []byte(err.Error()) {
		h = (h ^ uint32(b)) * 16777619
	}
	return fmt.Sprintf("E%08X", h)
}

// NewCorrelationID returns a fresh id for one request.
func NewCorrelationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
