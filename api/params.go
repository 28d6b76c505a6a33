package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/watchtower-fleet/watchtower/tools"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// maxParam is the longest query parameter value accepted.
const maxParam = 1000

// paramKind is a tool argument's JSON type, from its reflected schema:
// "string", "integer", "number" or "boolean".
func paramKind(prop map[string]any) string {
	switch t := prop["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
	}
	return "string"
}

// argNames is a tool's arguments in its schema's order.
func argNames(t *tools.Tool) []string {
	switch req := t.Schema()["required"].(type) {
	case []string:
		return req
	case []any:
		out := make([]string, 0, len(req))
		for _, x := range req {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// properties is a tool's argument schema's properties.
func properties(t *tools.Tool) map[string]any {
	props, _ := t.Schema()["properties"].(map[string]any)
	return props
}

// queryArgs is the route's query parameters: the tool's arguments less
// those the path or the route fixes, in the schema's order.
func (rt *route) queryArgs() []string {
	var out []string
	for _, name := range argNames(rt.tool) {
		if _, fixed := rt.fixed[name]; fixed || rt.pathArg(name) != "" {
			continue
		}
		out = append(out, name)
	}
	return out
}

// pathArg is the path parameter that gives argument name, if any.
func (rt *route) pathArg(name string) string {
	for p, a := range rt.path {
		if a == name {
			return p
		}
	}
	return ""
}

// argsFromRequest builds the tool's JSON arguments from the path, the
// query string and, for a body route, the JSON body. A problem names the
// parameter at fault.
func (rt *route) argsFromRequest(r *http.Request) ([]byte, *Problem) {
	args := map[string]any{}
	for k, v := range rt.fixed {
		args[k] = v
	}
	if rt.body {
		if p := readBody(r, args, rt); p != nil {
			return nil, p
		}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badParam(r, "(query)", "is not a valid query string")
	}
	allowed := rt.queryArgs()
	if rt.body {
		allowed = nil
	}
	props := properties(rt.tool)
	for _, name := range sortedKeys(q) {
		vals := q[name]
		if !slices.Contains(allowed, name) {
			reason := "no such parameter"
			if len(allowed) > 0 {
				reason += "; this endpoint takes " + strings.Join(allowed, ", ")
			}
			return nil, badParam(r, name, reason)
		}
		if len(vals) > 1 {
			return nil, badParam(r, name, "give it once")
		}
		v := vals[0]
		if len(v) > maxParam || !utf8.ValidString(v) {
			return nil, badParam(r, name, "is too long or not UTF-8")
		}
		if v == "" {
			continue // an empty parameter is no filter
		}
		prop, _ := props[name].(map[string]any)
		x, reason := convert(paramKind(prop), v)
		if reason != "" {
			return nil, badParam(r, name, reason)
		}
		args[name] = x
	}
	for p, a := range rt.path {
		v := r.PathValue(p)
		if len(v) > maxParam || !utf8.ValidString(v) {
			return nil, badParam(r, p, "is too long or not UTF-8")
		}
		args[a] = v
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, newProblem(r, http.StatusBadRequest, "invalid-parameter", err.Error())
	}
	return raw, nil
}

// convert reads a query value as the argument's type.
func convert(kind, v string) (any, string) {
	switch kind {
	case "integer":
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, "must be a whole number"
		}
		return n, ""
	case "number":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, "must be a number"
		}
		return f, ""
	case "boolean":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, "must be true or false"
		}
		return b, ""
	}
	return v, ""
}

// readBody reads a JSON object body into args: capped, JSON only, one
// object, and no field that the path gives.
func readBody(r *http.Request, args map[string]any, rt *route) *Problem {
	body, p := readJSON(r)
	if p != nil {
		return p
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return newProblem(r, http.StatusBadRequest, "invalid-body", "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return newProblem(r, http.StatusBadRequest, "invalid-body", "the body must be a JSON object")
	}
	if dec.More() {
		return newProblem(r, http.StatusBadRequest, "invalid-body", "the body must be one JSON object")
	}
	for k, v := range obj {
		if rt.pathArg(k) != "" {
			return badParam(r, k, "is given by the path; leave it out of the body")
		}
		if _, fixed := rt.fixed[k]; fixed {
			return badParam(r, k, "no such field")
		}
		args[k] = v
	}
	return nil
}

// readJSON reads a request's body: JSON (or no Content-Type), within the
// cap the middleware set.
func readJSON(r *http.Request) ([]byte, *Problem) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, newProblem(r, http.StatusUnsupportedMediaType, "unsupported-media", "send the body as application/json")
		}
	}
	body, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, newProblem(r, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the body can be at most %d bytes", mbe.Limit))
	case err != nil:
		return nil, newProblem(r, http.StatusBadRequest, "invalid-body", "the body could not be read")
	}
	return body, nil
}

func badParam(r *http.Request, name, reason string) *Problem {
	p := newProblem(r, http.StatusBadRequest, "invalid-parameter", fmt.Sprintf("invalid parameter %q: %s", name, reason))
	p.InvalidParams = []InvalidParam{{Name: name, Reason: reason}}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
