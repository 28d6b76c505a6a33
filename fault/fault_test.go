package fault_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/fault"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

// Every error type of the store and the tools maps to its intended code
// and its own message, wrapped or not; nothing else is expected.
func TestCodeOfAndMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		code fault.Code
		msg  string // "" for an unexpected error
	}{
		{"ArgError", &tools.ArgError{Field: "truck", Problem: "is required"}, fault.Invalid, `invalid argument "truck": is required`},
		{"UsageError", &tools.UsageError{Usage: "/fleet where <truck>"}, fault.Invalid, "usage: /fleet where <truck>"},
		{"UserError", &tools.UserError{Msg: "write actions are off here"}, fault.Refused, "write actions are off here"},
		{"PermissionError", &tools.PermissionError{Tool: "create_trip", Need: "dispatcher", Have: "viewer"}, fault.Forbidden,
			"create_trip needs the dispatcher role; you are a viewer"},
		{"ForbiddenError", &tools.ForbiddenError{Msg: "only Ada or an admin can cancel this"}, fault.Forbidden, "only Ada or an admin can cancel this"},
		{"ActionGoneError", &tools.ActionGoneError{ID: "a1", State: "unknown"}, fault.Gone,
			"no such pending request (it may have expired more than a day ago); nothing was done"},
		{"ErrActionGone", tools.ErrActionGone, fault.Gone, "This action is no longer pending"},
		{"NotFoundError", &store.NotFoundError{What: "truck", Query: "T1", Suggestions: []string{"T11", "T12", "T13"}}, fault.NotFound,
			`no truck "T1"; did you mean T11, T12 or T13?`},
		{"AmbiguousError", &store.AmbiguousError{Query: "dangote", Candidates: []string{"DANGOTE_IBESE", "DANGOTE_OBAJANA"}}, fault.Ambiguous,
			`"dangote" matches more than one; did you mean DANGOTE_IBESE or DANGOTE_OBAJANA?`},
		{"ConflictError", &store.ConflictError{Truck: "T1", TripVPCID: "VPC1", Status: "planned", Departure: time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)},
			fault.Conflict, "T1 already has trip VPC1 (planned, leaving 3 Dec 06:00 UTC)"},
		{"TransitionError", &store.TransitionError{Trip: "VPC1", From: "completed", To: "ongoing"}, fault.Conflict,
			"trip VPC1 is completed, which is final: it cannot become ongoing"},
		{"ErrNotFound", store.ErrNotFound, fault.NotFound, "Not found"},
		{"ErrInvalid", store.ErrInvalid, fault.Refused, "Invalid"},
		{"ErrConflict", store.ErrConflict, fault.Conflict, "Conflict"},
		{"ErrAmbiguous", store.ErrAmbiguous, fault.Ambiguous, "Ambiguous"},
		{"ErrInvalid with a reason", (store.Point{Lat: 91}).Validate(), fault.Refused, "Latitude 91 is outside -90..90"},
		{"deadline", context.DeadlineExceeded, fault.Timeout, fault.TimeoutMessage},
		{"anything else", errors.New("connection refused"), fault.Internal, ""},
	}
	for _, c := range cases {
		for _, err := range []error{c.err, fmt.Errorf("store: truck %q: %w", "T1", c.err)} {
			if got := fault.CodeOf(err); got != c.code {
				t.Errorf("%s: CodeOf(%v) = %q, want %q", c.name, err, got, c.code)
			}
			if !slices.Contains(fault.Codes, fault.CodeOf(err)) {
				t.Errorf("%s: code %q is not one of fault.Codes", c.name, fault.CodeOf(err))
			}
			msg, ok := fault.Message(err)
			if msg != c.msg || ok != (c.msg != "") {
				t.Errorf("%s: Message(%v) = %q, %v; want %q", c.name, err, msg, ok, c.msg)
			}
			if want := c.code == fault.Internal || c.code == fault.Timeout; fault.Unexpected(err) != want {
				t.Errorf("%s: Unexpected(%v) = %v, want %v", c.name, err, !want, want)
			}
		}
	}
	if fault.CodeOf(nil) != "" {
		t.Errorf("CodeOf(nil) = %q, want \"\"", fault.CodeOf(nil))
	}
}

// The sentinels still match the typed errors that carry them.
func TestSentinelsStillMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err, target error
	}{
		{&store.NotFoundError{What: "truck", Query: "x"}, store.ErrNotFound},
		{&store.AmbiguousError{Query: "x"}, store.ErrAmbiguous},
		{&store.ConflictError{}, store.ErrConflict},
		{&store.TransitionError{}, store.ErrInvalid},
		{(store.Point{Lat: 91}).Validate(), store.ErrInvalid},
		{&tools.ActionGoneError{}, tools.ErrActionGone},
	}
	for _, c := range cases {
		if err := fmt.Errorf("wrapped: %w", c.err); !errors.Is(err, c.target) {
			t.Errorf("errors.Is(%T, %v) = false", c.err, c.target)
		}
	}
	// A reason keeps the text logs and the CLI print; only the message
	// drops the kind.
	if got, want := (store.Point{Lat: 91}).Validate().Error(), "invalid: latitude 91 is outside -90..90"; got != want {
		t.Errorf("Validate() = %q, want %q", got, want)
	}
}
