// Package tools is everything the bot can do. Each tool is one Go struct for
// its arguments, one function that runs it, and a rendering for people. One
// Registry serves the language model (as strict function schemas), the
// deterministic /fleet grammar and the console, so they cannot drift apart.
//
// Read tools run at once. Write tools never run inside the model's loop: the
// loop turns them into pending actions (see Actions) that only a permitted
// person's confirmation runs, exactly once.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/watchtower-fleet/watchtower/fault"
	"github.com/watchtower-fleet/watchtower/store"
)

// Roles, from least to most trusted. They are the store's roles.
const (
	RoleViewer     = store.RoleViewer
	RoleDispatcher = store.RoleDispatcher
	RoleAdmin      = store.RoleAdmin
)

// roleRank orders roles; an unknown role ranks below viewer.
func roleRank(role string) int {
	switch role {
	case RoleViewer:
		return 1
	case RoleDispatcher:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether a caller with role may use something that needs
// need.
func Allows(role, need string) bool { return roleRank(role) >= roleRank(need) && roleRank(need) > 0 }

// Caller is who is asking: a Slack user, the console's operator, or a
// program with an API key.
type Caller struct {
	ID   string // Slack user id (U…), "console", "apikey:NAME"
	Name string // display name, for prompts and summaries
	Role string // viewer, dispatcher or admin
	// CorrelationID ties everything one request causes together in the
	// audit log.
	CorrelationID string
	// Program is an API key's caller. Its reads are counted in metrics and
	// traced, not written to the audit log (a wallboard polling every
	// second would fill it); its writes are audited like anyone's.
	Program bool
}

// Tool is one capability. Build it with Define.
type Tool struct {
	Name        string
	Description string // written for the model
	Role        string // the least role that may use it
	Write       bool   // whether it changes anything (and so waits for a person)
	// Usage is the /fleet form, for help ("where <truck>"); empty when the
	// grammar has no command for the tool.
	Usage string

	argType reflect.Type
	schema  map[string]any
	run     func(ctx context.Context, c Caller, args any) (Result, error)
	// preview checks a write tool's arguments against the world as it is
	// now and summarises what confirming it will do, without doing it. It
	// returns the arguments made canonical (a resolved plate, an absolute
	// time), which are what a confirmation runs.
	preview func(ctx context.Context, c Caller, args any) (any, string, error)
}

// Schema returns the tool's strict JSON schema for its arguments.
func (t *Tool) Schema() map[string]any { return t.schema }

// Validator is implemented by argument structs that check themselves after
// decoding. Return an *ArgError to name the field.
type Validator interface {
	Validate() error
}

// NoArgs is for tools that take no arguments.
type NoArgs struct{}

// ArgError is a bad tool argument. Its message goes back to the model as the
// tool's output, so that it can correct itself, and to a person typing a
// command.
type ArgError struct {
	Field   string
	Problem string
}

func (e *ArgError) Error() string {
	if e.Field == "" {
		return "invalid arguments: " + e.Problem
	}
	return fmt.Sprintf("invalid argument %q: %s", e.Field, e.Problem)
}

// ErrorCode is fault's invalid.
func (e *ArgError) ErrorCode() string { return string(fault.Invalid) }

// ErrorMessage is the error itself: the model reads it to correct itself.
func (e *ArgError) ErrorMessage() string { return e.Error() }

// argErr is shorthand for an *ArgError.
func argErr(field, format string, a ...any) error {
	return &ArgError{Field: field, Problem: fmt.Sprintf(format, a...)}
}

// Define builds a tool from its argument type A. The schema is reflected
// from A once, here; Define panics if A cannot be expressed as a strict
// schema, which a test of the registry catches at build time.
//
// run is the tool itself. For a write tool, preview checks the arguments
// against the current state and returns them made canonical with the
// summary a person confirms; it is nil for read tools.
func Define[A any](name, role string, write bool, description string,
	run func(ctx context.Context, c Caller, a A) (Result, error),
	preview func(ctx context.Context, c Caller, a A) (A, string, error)) *Tool {
	var zero A
	t := reflect.TypeOf(zero)
	schema, err := strictSchema(t)
	if err != nil {
		panic(fmt.Sprintf("tools: %s: %v", name, err))
	}
	if roleRank(role) == 0 {
		panic(fmt.Sprintf("tools: %s: unknown role %q", name, role))
	}
	if write && preview == nil {
		panic(fmt.Sprintf("tools: %s: a write tool needs a preview", name))
	}
	tool := &Tool{Name: name, Description: description, Role: role, Write: write, argType: t, schema: schema}
	tool.run = func(ctx context.Context, c Caller, args any) (Result, error) { return run(ctx, c, args.(A)) }
	if preview != nil {
		tool.preview = func(ctx context.Context, c Caller, args any) (any, string, error) { return preview(ctx, c, args.(A)) }
	}
	return tool
}

// Decode parses raw JSON arguments strictly: unknown fields are refused, and
// the result is validated. Every failure is an *ArgError.
func (t *Tool) Decode(raw []byte) (any, error) {
	ptr := reflect.New(t.argType)
	trimmed := strings.TrimSpace(string(raw))
	if trimmed == "" || trimmed == "null" {
		trimmed = "{}"
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr.Interface()); err != nil {
		return nil, decodeError(err)
	}
	if dec.More() {
		return nil, &ArgError{Problem: "expected one JSON object"}
	}
	args := ptr.Elem().Interface()
	if v, ok := args.(Validator); ok {
		if err := v.Validate(); err != nil {
			var ae *ArgError
			if errors.As(err, &ae) {
				return nil, ae
			}
			return nil, &ArgError{Problem: err.Error()}
		}
	}
	return args, nil
}

// decodeError turns encoding/json's errors into an *ArgError naming the
// field.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(arguments)"
		}
		return &ArgError{Field: field, Problem: fmt.Sprintf("expected %s, got JSON %s", jsonKind(te.Type), te.Value)}
	case errors.As(err, &se):
		return &ArgError{Problem: fmt.Sprintf("not valid JSON (at byte %d)", se.Offset)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &ArgError{Field: name, Problem: "no such argument"}
	}
	return &ArgError{Problem: strings.TrimPrefix(err.Error(), "json: ")}
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct:
		return "an object"
	}
	return t.String()
}
