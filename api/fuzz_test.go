package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

type noKeys struct{}

func (noKeys) APIKeyBySecret(context.Context, string) (store.APIKey, error) {
	return store.APIKey{}, store.ErrNotFound
}
func (noKeys) TouchAPIKey(context.Context, int64, time.Time) error { return nil }

func fuzzAPI(t testing.TB) *API {
	a, err := New(Config{Registry: tools.New(tools.Deps{}), Keys: noKeys{}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkArgs holds for any request: either a problem with a 4xx status that
// names a parameter when it is a bad-parameter one, or arguments that are
// one JSON object the tool's own decoder then judges.
func checkArgs(t *testing.T, rt *route, raw []byte, p *Problem) {
	if p != nil {
		if p.Status < 400 || p.Status >= 500 || p.Title == "" {
			t.Fatalf("%s: problem %+v", rt.pattern, p)
		}
		if p.Type == problemType("invalid-parameter") && len(p.InvalidParams) != 1 {
			t.Fatalf("%s: a bad parameter not named: %+v", rt.pattern, p)
		}
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		t.Fatalf("%s: arguments %q are not an object: %v", rt.pattern, raw, err)
	}
	if _, err := rt.tool.Decode(raw); err != nil {
		var ae *tools.ArgError
		if !asArgError(err, &ae) {
			t.Fatalf("%s: decode failed without naming an argument: %v", rt.pattern, err)
		}
	}
}

func asArgError(err error, target **tools.ArgError) bool {
	ae, ok := err.(*tools.ArgError)
	*target = ae
	return ok
}

// Any query string, on every read route, gives arguments or a problem
// naming the parameter; never a panic.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"", "limit=5", "limit=abc", "status=active&status=x", "lat=6.5&lng=3.3&radius_km=1e400",
		"place=%ff%fe", "cursor=!!!", "from=2026-12-01&to=2026-11-01", "a=%", "lat=NaN&lng=Inf", "limit=99999999999999999999",
		"numbers=" + strings.Repeat("T1,", 200), "truck=" + strings.Repeat("x", 2000)} {
		f.Add(s, "T11985LA")
	}
	a := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, query, pathValue string) {
		for _, rt := range a.routes {
			if rt.tool == nil || rt.body {
				continue
			}
			r := httptest.NewRequest("GET", "/x", nil)
			r.URL.RawQuery = query
			for p := range rt.path {
				r.SetPathValue(p, pathValue)
			}
			raw, p := rt.argsFromRequest(r)
			checkArgs(t, rt, raw, p)
		}
	})
}

// Any body, on every write route and on the question route, gives
// arguments or a problem; never a panic.
func FuzzBodies(f *testing.F) {
	for _, s := range []string{`{}`, `{"truck":"T11985LA","pickup":"ESSLIBRA","delivery":"x","scheduled_departure":"tomorrow 6am"}`,
		`{"status":"ongoing"}`, `{"trip":"x"}`, `[]`, `null`, `{"a":1}{}`, `{"truck":1e999}`, `{"question":"where?","thread":"a b"}`,
		"\xff", `{"question":` + strings.Repeat("[", 10000) + `}`} {
		f.Add(s, "application/json")
	}
	f.Add(`truck=x`, "application/x-www-form-urlencoded")
	a := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, body, contentType string) {
		for _, rt := range a.routes {
			if rt.tool == nil || !rt.body {
				continue
			}
			r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBody)
			for p := range rt.path {
				r.SetPathValue(p, "T1")
			}
			raw, p := rt.argsFromRequest(r)
			checkArgs(t, rt, raw, p)
		}
		r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		q, p := readQuery(r)
		if p == nil && (q.Question == "" || len(q.Question) > 4*maxQuestion) {
			t.Fatalf("accepted question %q", q.Question)
		}
	})
}
