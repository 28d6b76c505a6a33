package api_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// The pinned document is a valid OpenAPI 3.1 document by the
// specification's own schema (pb33f's validator, an outside judge), and
// requests the API accepts are requests the document allows.
func TestOpenAPIValid(t *testing.T) {
	raw, err := os.ReadFile("testdata/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s: %s (%v)", e.Message, e.Reason, e.SchemaValidationErrors)
		}
	}
	for _, c := range []struct {
		method, path, body string
		valid              bool
	}{
		{"GET", "/api/v1/trucks?status=active&limit=5", "", true},
		{"GET", "/api/v1/trucks?limit=500", "", false},
		{"GET", "/api/v1/trucks/t-11985-la/location", "", true},
		{"GET", "/api/v1/trucks/near?lat=6.5&lng=3.3&radius_km=2", "", true},
		{"GET", "/api/v1/trips?status=ongoing&from=2026-12-01&to=2026-12-04", "", true},
		{"GET", "/api/v1/trips?status=lost", "", false},
		{"GET", "/api/v1/analytics/daily?from=2026-12-01", "", true},
		{"POST", "/api/v1/trips", `{"truck":"T11985LA","pickup":"ESSLIBRA","delivery":"Dangote Ibese","scheduled_departure":"2026-12-05T06:00"}`, true},
		{"POST", "/api/v1/trips", `{"truck":"T11985LA"}`, false},
		{"POST", "/api/v1/trips", `{"truck":"T11985LA","pickup":"A","delivery":"B","scheduled_departure":"x","drone":true}`, false},
		{"PUT", "/api/v1/trips/42/status", `{"status":"completed","reason":"delivered"}`, true},
		{"POST", "/api/v1/ai/query", `{"question":"where is T11985LA?"}`, true},
	} {
		var body *strings.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest(c.method, "http://localhost"+c.path, body)
		req.Header.Set("Authorization", "Bearer wt_x")
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		ok, verrs := v.ValidateHttpRequest(req)
		if ok != c.valid {
			var why []string
			for _, e := range verrs {
				why = append(why, e.Message+": "+e.Reason)
			}
			t.Errorf("%s %s %s: valid %v, want %v %v", c.method, c.path, c.body, ok, c.valid, why)
		}
	}
}
