// Package fault is Watch Tower's one vocabulary of errors: a few codes
// that every face maps once (the HTTP API to a status and a problem type,
// the tools to the sentence the model, Slack and the console show).
//
// Errors are classified by behaviour, as net.Error is: a package's error
// type implements Error (an ErrorCode and an ErrorMessage method) without
// importing fault, so that the store, which imports nothing of ours,
// speaks the same vocabulary.
package fault

import (
	"context"
	"errors"
)

// Code is what kind of failure an error is.
type Code string

// The codes. Every expected error has one of the first seven; Timeout and
// Internal are the failures of a dependency or of ours.
const (
	// Invalid is a malformed argument: the caller must change it.
	Invalid Code = "invalid"
	// Refused is a well-formed request that a fleet rule or the current
	// data refuses (an empty name, a truck in maintenance).
	Refused Code = "refused"
	// NotFound is something named that does not exist.
	NotFound Code = "not_found"
	// Ambiguous is a name that matches more than one thing.
	Ambiguous Code = "ambiguous"
	// Conflict is a change the current state does not allow (an
	// overlapping trip, a final status).
	Conflict Code = "conflict"
	// Forbidden is a caller whose role does not allow what they asked.
	Forbidden Code = "forbidden"
	// Gone is a pending action that can no longer be decided.
	Gone Code = "gone"
	// Timeout is work that ran out of time.
	Timeout Code = "timeout"
	// Internal is anything unexpected: only a reference is shown.
	Internal Code = "internal"
)

// Codes lists every code, Internal last.
var Codes = []Code{Invalid, Refused, NotFound, Ambiguous, Conflict, Forbidden, Gone, Timeout, Internal}

// Error is what an expected error implements. ErrorCode returns one of the
// Codes as a string (so that a package need not import fault to implement
// it); ErrorMessage is the error's message fit for people and the model,
// without package prefixes.
type Error interface {
	error
	ErrorCode() string
	ErrorMessage() string
}

// TimeoutMessage is the sentence for work that ran out of time.
const TimeoutMessage = "that took too long; please try again"

// CodeOf is err's code: the code of the first Error in its chain, Timeout
// for a context deadline, Internal for anything else, "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var fe Error
	if errors.As(err, &fe) {
		return Code(fe.ErrorCode())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout
	}
	return Internal
}

// Message is err's message for people and whether it has one: the first
// Error's in its chain, TimeoutMessage for a context deadline. An
// unexpected error has none; the caller shows a reference instead.
func Message(err error) (string, bool) {
	var fe Error
	if errors.As(err, &fe) {
		return fe.ErrorMessage(), true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return TimeoutMessage, true
	}
	return "", false
}

// Unexpected reports whether err is a failure of ours or of a dependency
// (Internal or Timeout), which the log must carry with its reference.
func Unexpected(err error) bool {
	c := CodeOf(err)
	return c == Internal || c == Timeout
}
