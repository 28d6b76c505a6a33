package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The store's errors speak the module's error vocabulary (package fault)
// by behaviour: each has an ErrorCode, one of fault's codes as a string,
// and an ErrorMessage fit for people. The store imports nothing of ours,
// so it implements the vocabulary without naming it.

// kind is a sentinel of the vocabulary: errors.Is finds it, and an error
// wrapping it alone says its own word ("Not found").
type kind struct{ code, text string }

func (k *kind) Error() string        { return k.text }
func (k *kind) ErrorCode() string    { return k.code }
func (k *kind) ErrorMessage() string { return capitalize(k.text) }

// ErrNotFound is returned when the thing asked for does not exist.
var ErrNotFound error = &kind{"not_found", "not found"}

// ErrAmbiguous is returned when a name matches more than one thing; the error
// is an *AmbiguousError listing the candidates.
var ErrAmbiguous error = &kind{"ambiguous", "ambiguous"}

// ErrInvalid is returned for input the store refuses before touching the
// database (an empty truck number, a latitude of 200).
var ErrInvalid error = &kind{"refused", "invalid"}

// ErrConflict is matched by every *ConflictError.
var ErrConflict error = &kind{"conflict", "conflict"}

// reasonError is a kind with its reason, which is the message people see:
// "invalid: name is empty" shows as "Name is empty".
type reasonError struct {
	kind   *kind
	reason string
}

func (e *reasonError) Error() string        { return e.kind.text + ": " + e.reason }
func (e *reasonError) Is(target error) bool { return target == error(e.kind) }
func (e *reasonError) ErrorCode() string    { return e.kind.code }
func (e *reasonError) ErrorMessage() string { return capitalize(e.reason) }

// reasonf is sentinel k (one of the kinds above) with its reason.
func reasonf(k error, format string, a ...any) error {
	return &reasonError{kind: k.(*kind), reason: fmt.Sprintf(format, a...)}
}

// invalidf is ErrInvalid with its reason.
func invalidf(format string, a ...any) error { return reasonf(ErrInvalid, format, a...) }

// notFoundf is ErrNotFound with its reason.
func notFoundf(format string, a ...any) error { return reasonf(ErrNotFound, format, a...) }

// conflictf is ErrConflict with its reason.
func conflictf(format string, a ...any) error { return reasonf(ErrConflict, format, a...) }

// noRows reports whether err is pgx's "no rows": the one place that asks.
func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// notFound turns pgx.ErrNoRows into ErrNotFound.
func notFound(err error) error {
	if noRows(err) {
		return ErrNotFound
	}
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// orList joins names as "A, B or C".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// NotFoundError is a name that matched nothing, with the closest names as
// suggestions when there are any. errors.Is(err, ErrNotFound) holds.
type NotFoundError struct {
	What        string // truck, place, driver, trip
	Query       string
	Suggestions []string
}

func (e *NotFoundError) Error() string {
	s := fmt.Sprintf("no %s %q", e.What, e.Query)
	if len(e.Suggestions) == 0 {
		return s
	}
	return s + "; did you mean " + orList(e.Suggestions) + "?"
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ErrorCode is fault's not_found.
func (e *NotFoundError) ErrorCode() string { return "not_found" }

// ErrorMessage is the error itself, suggestions included.
func (e *NotFoundError) ErrorMessage() string { return e.Error() }

// AmbiguousError lists what an ambiguous name could mean.
type AmbiguousError struct {
	Query      string
	Candidates []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%q is ambiguous: could be %s", e.Query, strings.Join(e.Candidates, ", "))
}

// Is makes errors.Is(err, ErrAmbiguous) true.
func (e *AmbiguousError) Is(target error) bool { return target == ErrAmbiguous }

// ErrorCode is fault's ambiguous.
func (e *AmbiguousError) ErrorCode() string { return "ambiguous" }

// ErrorMessage asks which one was meant.
func (e *AmbiguousError) ErrorMessage() string {
	return fmt.Sprintf("%q matches more than one; did you mean %s?", e.Query, orList(e.Candidates))
}

// ConflictError is a trip that would overlap another of the same truck.
type ConflictError struct {
	Truck, TripVPCID, Status string
	Departure                time.Time
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s already has trip %s (%s, leaving %s)", e.Truck, e.TripVPCID, e.Status, e.Departure.UTC().Format("2 Jan 15:04 UTC"))
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ErrorCode is fault's conflict.
func (e *ConflictError) ErrorCode() string { return "conflict" }

// ErrorMessage is the error itself.
func (e *ConflictError) ErrorMessage() string { return e.Error() }

// TransitionError is a status change the state machine does not allow.
type TransitionError struct {
	Trip, From, To string
	Allowed        []string
}

func (e *TransitionError) Error() string {
	if len(e.Allowed) == 0 {
		return fmt.Sprintf("trip %s is %s, which is final: it cannot become %s", e.Trip, e.From, e.To)
	}
	return fmt.Sprintf("trip %s is %s; it can become %s, not %s", e.Trip, e.From, strings.Join(e.Allowed, ", "), e.To)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalid }

// ErrorCode is fault's conflict: the trip's state, not the input, refuses
// the move.
func (e *TransitionError) ErrorCode() string { return "conflict" }

// ErrorMessage is the error itself.
func (e *TransitionError) ErrorMessage() string { return e.Error() }
