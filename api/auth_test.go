package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watchtower-fleet/watchtower/api"
	"github.com/watchtower-fleet/watchtower/internal/golden"
	"github.com/watchtower-fleet/watchtower/store"
)

// No key, a malformed one, an unknown one and a revoked one get 401 with
// a problem and WWW-Authenticate; a viewer key may not write.
func TestKeys(t *testing.T) {
	f := newFx(t)
	const path = "/api/v1/trucks/T11985LA/location"
	for name, key := range map[string]string{"none": "", "malformed": "hunter2", "unknown": store.NewAPIKeySecret()} {
		t.Run(name, func(t *testing.T) {
			r := f.get(t, path, key)
			problem(t, r, 401, "")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Basic "+f.viewer)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Errorf("Basic scheme: %v %v", res.StatusCode, err)
	}
	ok(t, f.get(t, path, f.viewer), 200)

	// Revoked: the cache forgets it at once, on every replica.
	other := newFxOn(t, f.db, f.rdb, f.prefix)
	name, secret := "portal", ""
	var err error
	if _, secret, err = f.db.CreateAPIKey(context.Background(), name, "viewer", "test"); err != nil {
		t.Fatal(err)
	}
	ok(t, f.get(t, path, secret), 200)
	ok(t, other.get(t, path, secret), 200)
	if _, _, err := f.db.CreateAPIKey(context.Background(), name, "viewer", "test"); err == nil {
		t.Error("a second live key of the same name")
	}
	if _, err := f.db.RevokeAPIKey(context.Background(), name, "test"); err != nil {
		t.Fatal(err)
	}
	if err := api.PublishRevoked(context.Background(), f.rdb, f.prefix, name); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*fx{f, other} {
		deadline := time.Now().Add(2 * time.Second)
		for x.get(t, path, secret).code != 401 {
			if time.Now().After(deadline) {
				t.Fatal("a revoked key still works after 2 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	keys, err := f.db.APIKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == name && (k.RevokedAt == nil || !strings.HasPrefix(secret, k.Prefix)) {
			t.Errorf("key %+v", k)
		}
	}
	// Only a hash is kept.
	var n int
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM api_keys WHERE position($1::bytea IN hash) > 0`, []byte(secret)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("the key itself is stored")
	}
}

// Bad parameters and bodies name what is wrong; nothing is written.
func TestProblems(t *testing.T) {
	f := newFx(t)
	for _, c := range []struct {
		path, param string
		code        int
	}{
		{"/api/v1/trucks?limit=abc", "limit", 400},
		{"/api/v1/trucks?limit=1000", "limit", 400},
		{"/api/v1/trucks?colour=red", "colour", 400},
		{"/api/v1/trucks?status=active&status=inactive", "status", 400},
		{"/api/v1/trucks?status=flying", "status", 400},
		{"/api/v1/trucks/near?lat=91&lng=3", "lat", 400},
		{"/api/v1/trucks/near?lat=NaN&lng=3", "lat", 400},
		{"/api/v1/trucks/near?radius_km=5", "place", 400},
		{"/api/v1/trips?day=someday", "day", 400},
		{"/api/v1/trips/x/tracking?truck=T11985LA", "truck", 400},
		{"/api/v1/trucks/!!!/location", "number", 422},
	} {
		r := f.get(t, c.path, f.viewer)
		if c.code == 422 {
			problem(t, r, 422, "")
			continue
		}
		problem(t, r, c.code, c.param)
	}
	nf := problem(t, f.get(t, "/api/v1/trucks/T11958LA", f.viewer), 404, "")
	if s, _ := nf["suggestions"].([]any); !slices.Contains(s, any("T11985LA")) {
		t.Errorf("no suggestion: %v", nf)
	}
	problem(t, f.get(t, "/api/v1/nothing-here", f.viewer), 404, "")
	r := f.do(t, "DELETE", "/api/v1/trips", f.disp, nil)
	problem(t, r, 405, "")
	if allow := r.header.Get("Allow"); allow != "GET, POST" {
		t.Errorf("Allow %q", allow)
	}

	good := map[string]any{"truck": "T11985LA", "pickup": "ESSLIBRA", "delivery": "Dangote Ibese", "scheduled_departure": "2026-12-05T06:00"}
	withExtra := map[string]any{"drone": true}
	for k, v := range good {
		withExtra[k] = v
	}
	problem(t, f.do(t, "POST", "/api/v1/trips", f.disp, withExtra), 400, "drone")
	problem(t, f.do(t, "POST", "/api/v1/trips", f.disp, map[string]any{"truck": 5}), 400, "truck")
	problem(t, f.do(t, "POST", "/api/v1/trips", f.disp, map[string]any{"truck": "T11985LA"}), 400, "pickup")
	problem(t, f.do(t, "POST", "/api/v1/trips", f.disp, `{"truck":`), 400, "")
	problem(t, f.do(t, "POST", "/api/v1/trips", f.disp, `[1,2]`), 400, "")
	problem(t, f.do(t, "POST", "/api/v1/trips", f.disp, `{} {}`), 400, "")
	problem(t, f.do(t, "POST", "/api/v1/trips", f.disp, `{"truck":"`+strings.Repeat("x", api.MaxBody)+`"}`), 413, "")
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/trips", strings.NewReader("truck=T11985LA"))
	req.Header.Set("Authorization", "Bearer "+f.disp)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 {
		t.Errorf("form body: %d", res.StatusCode)
	}
	trips, _, err := f.db.Trips(context.Background(), store.TripFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(trips) != 0 {
		t.Errorf("bad requests wrote %d trips", len(trips))
	}
}

// The rate limit is per key and shared by replicas: the budget spent on
// one is gone on the other, and the next request gets 429 with
// Retry-After.
func TestRateLimitAcrossReplicas(t *testing.T) {
	limit := func(c *api.Config) { c.RatePerMinute, c.RateBurst = 60, 10 }
	a := newFx(t, limit)
	b := newFxOn(t, a.db, a.rdb, a.prefix, limit)
	const path = "/api/v1/trucks/T11985LA/location"
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			x := a
			if i%2 == 1 {
				x = b
			}
			r := x.get(t, path, a.viewer)
			mu.Lock()
			codes[r.code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != 10 {
		t.Fatalf("the burst of 10 across two replicas: %v", codes)
	}
	r := b.get(t, path, a.viewer)
	p := problem(t, r, 429, "")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	if !strings.Contains(p["detail"].(string), "60 requests a minute") {
		t.Errorf("detail %v", p["detail"])
	}
	// Another key has its own budget.
	ok(t, a.get(t, path, a.disp), 200)
	// Each replica counts what it answered, by key.
	name := a.names[a.viewer]
	if n := a.counted(t, name, "200") + b.counted(t, name, "200"); n != 10 {
		t.Errorf("200s counted for the key: %v", n)
	}
	if n := b.counted(t, name, "429"); n != 1 {
		t.Errorf("429s counted for the key: %v", n)
	}
}

// The OpenAPI document is pinned, documents every route the API serves
// and nothing else, and each documented endpoint answers.
func TestOpenAPI(t *testing.T) {
	f := newFx(t)
	r := f.get(t, "/api/v1/openapi.json", "")
	doc := ok(t, r, 200)
	got, _ := json.MarshalIndent(doc, "", "  ")
	golden.Check(t, filepath.Join("testdata", "openapi.json"), append(got, '\n'))
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi %v", doc["openapi"])
	}
	var documented []string
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	served := f.api.Served()
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("documented %v\nserved %v", documented, served)
	}
	for _, must := range []string{"GET /api/v1/trucks", "GET /api/v1/trucks/{number}", "GET /api/v1/trucks/{number}/location",
		"GET /api/v1/trucks/near", "GET /api/v1/trips", "GET /api/v1/trips/{id}", "GET /api/v1/trips/{id}/tracking",
		"POST /api/v1/trips", "PUT /api/v1/trips/{id}/status", "GET /api/v1/analytics/daily", "GET /api/v1/analytics/tat",
		"GET /api/v1/analytics/utilization", "POST /api/v1/ai/query", "GET /api/v1/openapi.json",
		"GET /api/v1/stream/trucks", "GET /api/v1/stream/trips/{id}", "GET /ws/trucks/{id}/location", "GET /ws/trips/{id}/status"} {
		if !slices.Contains(served, must) {
			t.Errorf("%s is not served", must)
		}
	}
	// Each documented endpoint is routed: it answers with anything but the
	// catch-all's 404 or 405.
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{number}", "T11985LA", "{id}", "act_0").Replace(path)
		if strings.HasPrefix(path, "/api/v1/stream/") || strings.HasPrefix(path, "/ws/") {
			continue // streams stay open; TestStreams covers them
		}
		r := f.do(t, method, path, f.admin, map[string]any{})
		if r.code == 405 || (r.code == 404 && strings.Contains(string(r.body), "no such endpoint")) {
			t.Errorf("%s: %d %s", op, r.code, r.body)
		}
	}
	page := f.get(t, "/api/v1/docs", "")
	if page.code != 200 || !strings.Contains(string(page.body), "/api/v1/trucks/{number}/location") ||
		!strings.Contains(string(page.body), `id="problem-rate-limited"`) {
		t.Errorf("docs page: %d %.300s", page.code, page.body)
	}
}
