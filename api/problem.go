package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

// Problem is an RFC 9457 problem detail. Reference is the request's id,
// which the logs and the trace carry too: one id finds everything.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Reference string `json:"reference"`
	// InvalidParams names the parameters at fault, for a bad request.
	InvalidParams []InvalidParam `json:"invalid_params,omitempty"`
	// Suggestions are close names for something not found.
	Suggestions []string `json:"suggestions,omitempty"`
}

// InvalidParam is one parameter at fault and why.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// problemType is the problem's type URI: a section of the API's own page.
func problemType(slug string) string { return "/api/v1/docs#problem-" + slug }

// The problem slugs, each documented on the page.
var problemTitles = map[string]string{
	"invalid-parameter": "Invalid parameter",
	"invalid-body":      "Invalid request body",
	"unauthorized":      "Missing or invalid API key",
	"forbidden":         "The key's role does not allow this",
	"not-found":         "Not found",
	"conflict":          "Conflict with the current state",
	"refused":           "Refused by a fleet rule",
	"gone":              "No longer available",
	"too-large":         "Request body too large",
	"unsupported-media": "Unsupported media type",
	"rate-limited":      "Too many requests",
	"method":            "Method not allowed",
	"internal":          "Internal error",
	"unavailable":       "Service unavailable",
	"timeout":           "Took too long",
}

// problemSlugs lists them in the page's order.
var problemSlugs = []string{"invalid-parameter", "invalid-body", "unauthorized", "forbidden", "not-found", "conflict",
	"refused", "gone", "too-large", "unsupported-media", "rate-limited", "method", "internal", "unavailable", "timeout"}

func newProblem(r *http.Request, status int, slug, detail string) *Problem {
	return &Problem{Type: problemType(slug), Title: problemTitles[slug], Status: status, Detail: detail,
		Instance: r.URL.Path, Reference: requestID(r.Context())}
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// toolProblem turns a tool's error into a problem: a bad argument names the
// parameter (as the caller wrote it, path or query or body field), a
// missing truck suggests names, anything unexpected gives only the
// reference.
func toolProblem(r *http.Request, err error, msg string, rename map[string]string) *Problem {
	var (
		ae  *tools.ArgError
		pe  *tools.PermissionError
		ue  *tools.UserError
		ag  *tools.ActionGoneError
		fe  *tools.ForbiddenError
		nfe *store.NotFoundError
		amb *store.AmbiguousError
		te  *store.TransitionError
	)
	switch {
	case errors.As(err, &ae):
		p := newProblem(r, http.StatusBadRequest, "invalid-parameter", msg)
		name := ae.Field
		if n, ok := rename[name]; ok {
			name = n
		}
		if name != "" {
			p.InvalidParams = []InvalidParam{{Name: name, Reason: ae.Problem}}
			p.Detail = strings.Replace(msg, `"`+ae.Field+`"`, `"`+name+`"`, 1)
		}
		return p
	case errors.As(err, &amb):
		p := newProblem(r, http.StatusBadRequest, "invalid-parameter", msg)
		p.Suggestions = amb.Candidates
		return p
	case errors.As(err, &nfe):
		p := newProblem(r, http.StatusNotFound, "not-found", msg)
		p.Suggestions = nfe.Suggestions
		return p
	case errors.As(err, &pe), errors.As(err, &fe):
		return newProblem(r, http.StatusForbidden, "forbidden", msg)
	case errors.As(err, &ag):
		return newProblem(r, http.StatusGone, "gone", msg)
	case errors.Is(err, store.ErrConflict), errors.As(err, &te):
		return newProblem(r, http.StatusConflict, "conflict", msg)
	case errors.As(err, &ue), errors.Is(err, store.ErrInvalid):
		return newProblem(r, http.StatusUnprocessableEntity, "refused", msg)
	case errors.Is(err, store.ErrNotFound):
		return newProblem(r, http.StatusNotFound, "not-found", msg)
	case errors.Is(err, context.DeadlineExceeded):
		return newProblem(r, http.StatusGatewayTimeout, "timeout", msg)
	}
	return newProblem(r, http.StatusInternalServerError, "internal",
		"Something went wrong on our side. Quote the reference to the fleet team.")
}
