package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/watchtower-fleet/watchtower/fault"
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

// codeProblems is the one mapping of the error vocabulary to HTTP: each
// code's status and problem slug. A code missing here is internal.
var codeProblems = map[fault.Code]struct {
	status int
	slug   string
}{
	fault.Invalid:   {http.StatusBadRequest, "invalid-parameter"},
	fault.Ambiguous: {http.StatusBadRequest, "invalid-parameter"},
	fault.NotFound:  {http.StatusNotFound, "not-found"},
	fault.Forbidden: {http.StatusForbidden, "forbidden"},
	fault.Gone:      {http.StatusGone, "gone"},
	fault.Conflict:  {http.StatusConflict, "conflict"},
	fault.Refused:   {http.StatusUnprocessableEntity, "refused"},
	fault.Timeout:   {http.StatusGatewayTimeout, "timeout"},
}

// toolProblem turns a tool's error into a problem by its code: a bad
// argument names the parameter (as the caller wrote it, path or query or
// body field), a missing or ambiguous name suggests names, anything
// unexpected gives only the reference.
func toolProblem(r *http.Request, err error, msg string, rename map[string]string) *Problem {
	cp, ok := codeProblems[fault.CodeOf(err)]
	if !ok {
		return newProblem(r, http.StatusInternalServerError, "internal",
			"Something went wrong on our side. Quote the reference to the fleet team.")
	}
	p := newProblem(r, cp.status, cp.slug, msg)
	var (
		ae  *tools.ArgError
		nfe *store.NotFoundError
		amb *store.AmbiguousError
	)
	switch {
	case errors.As(err, &ae):
		name := ae.Field
		if n, ok := rename[name]; ok {
			name = n
		}
		if name != "" {
			p.InvalidParams = []InvalidParam{{Name: name, Reason: ae.Problem}}
			p.Detail = strings.Replace(msg, `"`+ae.Field+`"`, `"`+name+`"`, 1)
		}
	case errors.As(err, &amb):
		p.Suggestions = amb.Candidates
	case errors.As(err, &nfe):
		p.Suggestions = nfe.Suggestions
	}
	return p
}
