package api_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Every read endpoint against the demo fleet: the tool's answer, its
// forgiving names, and its filters.
func TestTruckEndpoints(t *testing.T) {
	f := newFx(t)
	for _, spelling := range []string{"T11985LA", "t-11985-la", "11985"} {
		d := ok(t, f.get(t, "/api/v1/trucks/"+spelling+"/location", f.viewer), 200)
		if d["truck"] != "T11985LA" || d["lat"] != 6.4641 || d["lng"] != 3.3481 {
			t.Errorf("%s location: %v", spelling, d)
		}
		if inside, _ := d["inside"].(map[string]any); inside["code"] != "ESSLIBRA" {
			t.Errorf("%s inside %v", spelling, d["inside"])
		}
	}
	d := ok(t, f.get(t, "/api/v1/trucks/t-11985-la", f.viewer), 200)
	if d["truck"] != "T11985LA" || d["status"] != "active" || d["company"] == "" || d["loconav_number"] == "" {
		t.Errorf("truck record: %v", d)
	}

	// Every truck, page by page, once each.
	all := ok(t, f.get(t, "/api/v1/trucks?limit=100", f.viewer), 200)
	total := int(all["total"].(float64))
	if total < 80 || len(all["trucks"].([]any)) != total {
		t.Fatalf("trucks: total %d, %d listed", total, len(all["trucks"].([]any)))
	}
	seen := map[string]bool{}
	path := "/api/v1/trucks?limit=30"
	for pages := 0; path != ""; pages++ {
		r := f.get(t, path, f.viewer)
		page := ok(t, r, 200)
		for _, x := range page["trucks"].([]any) {
			n := x.(map[string]any)["truck"].(string)
			if seen[n] {
				t.Fatalf("%s listed twice", n)
			}
			seen[n] = true
		}
		path = ""
		if next, ok := page["next_cursor"].(string); ok {
			path = "/api/v1/trucks?limit=30&cursor=" + url.QueryEscape(next)
			if link := r.header.Get("Link"); !strings.Contains(link, `rel="next"`) || !strings.Contains(link, url.QueryEscape(next)) {
				t.Errorf("Link %q", link)
			}
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != total {
		t.Errorf("paged %d trucks, total %d", len(seen), total)
	}

	at := ok(t, f.get(t, "/api/v1/trucks?place=esslibra", f.viewer), 200)
	if at["total"] != 1.0 || at["trucks"].([]any)[0].(map[string]any)["truck"] != "T11985LA" {
		t.Errorf("trucks at ESSLIBRA: %v", at)
	}
	active := ok(t, f.get(t, "/api/v1/trucks?status=maintenance", f.viewer), 200)
	for _, x := range active["trucks"].([]any) {
		if x.(map[string]any)["status"] != "maintenance" {
			t.Errorf("status filter let through %v", x)
		}
	}
	company := all["trucks"].([]any)[0].(map[string]any)["company"].(string)
	byCo := ok(t, f.get(t, "/api/v1/trucks?limit=100&company="+url.QueryEscape(strings.ToLower(company)), f.viewer), 200)
	if n := byCo["total"].(float64); n < 1 || int(n) >= total {
		t.Errorf("company %q: %v of %d", company, n, total)
	}

	near := ok(t, f.get(t, "/api/v1/trucks/near?place=ESSLIBRA&radius_km=2", f.viewer), 200)
	if near["count"] != 1.0 {
		t.Errorf("near ESSLIBRA: %v", near)
	}
	near = ok(t, f.get(t, "/api/v1/trucks/near?lat=6.515&lng=3.36&radius_km=1", f.viewer), 200)
	if near["count"] != 1.0 || near["trucks"].([]any)[0].(map[string]any)["truck"] != "T63530LA" {
		t.Errorf("near a point: %v", near)
	}
	st := ok(t, f.get(t, "/api/v1/fleet/status", f.viewer), 200)
	if int(st["total"].(float64)) != total {
		t.Errorf("fleet status: %v", st)
	}
	hist := ok(t, f.get(t, "/api/v1/trucks/T63530LA/history?from=today", f.viewer), 200)
	if hist["truck"] != "T63530LA" || hist["fixes"] != 9.0 {
		t.Errorf("history: %v", hist)
	}
	alerts := ok(t, f.get(t, "/api/v1/alerts?truck=11985&hours=48&open_only=false", f.viewer), 200)
	if _, listed := alerts["alerts"]; !listed {
		t.Errorf("alerts: %v", alerts)
	}
	problem(t, f.get(t, "/api/v1/alerts?open_only=maybe", f.viewer), 400, "open_only")
	drv := ok(t, f.get(t, "/api/v1/trucks/T11985LA/driver", f.viewer), 200)
	if drv["truck"] != "T11985LA" || drv["driver"] == nil {
		t.Errorf("driver: %v", drv)
	}
}

// Trips: a dispatcher key creates one directly (audited with its name), a
// viewer key reads it by its escaped id, its number or in the list, and
// its status moves by PUT.
func TestTripEndpoints(t *testing.T) {
	f := newFx(t)
	body := map[string]any{"truck": "t-11985-la", "pickup": "esslibra", "delivery": "Dangote Ibese",
		"scheduled_departure": "2026-12-05T06:00", "container_no": "MSCU1234567"}
	problem(t, f.do(t, "POST", "/api/v1/trips", f.viewer, body), 403, "")
	r := f.do(t, "POST", "/api/v1/trips", f.disp, body)
	trip := ok(t, r, 201)
	id, _ := trip["trip_id"].(string)
	if trip["truck"] != "T11985LA" || trip["pickup"] != "ESSLIBRA" || trip["status"] != "planned" || trip["container_no"] != "MSCU1234567" {
		t.Fatalf("created %v", trip)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/trips/"+url.PathEscape(id) {
		t.Errorf("Location %q for %s", loc, id)
	}
	evs, err := f.db.EventsByCorrelation(context.Background(), r.header.Get("X-Request-Id"))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Actor+" "+e.Action)
		if !strings.HasPrefix(e.Actor, "apikey:dispatcher-") {
			t.Errorf("audited as %q", e.Actor)
		}
	}
	if got := strings.Join(actions, ","); !strings.Contains(got, "action.executed") || !strings.Contains(got, "trip.created") {
		t.Errorf("audit: %v", actions)
	}
	// The same truck again at the same time: a fleet rule refuses it.
	problem(t, f.do(t, "POST", "/api/v1/trips", f.disp, body), 422, "")

	got := ok(t, f.get(t, "/api/v1/trips/"+url.PathEscape(id), f.viewer), 200)
	if got["trip_id"] != id {
		t.Errorf("trip %v", got)
	}
	tr, err := f.db.TripByRef(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	byNumber := ok(t, f.get(t, "/api/v1/trips/"+itoa(tr.ID), f.viewer), 200)
	if byNumber["trip_id"] != id {
		t.Errorf("by number: %v", byNumber)
	}
	track := ok(t, f.get(t, "/api/v1/trips/"+url.PathEscape(id)+"/tracking", f.viewer), 200)
	if ms := track["milestones"].([]any); len(ms) != 5 || ms[0].(map[string]any)["key"] != "at_pickup" {
		t.Errorf("tracking: %v", track)
	}
	list := ok(t, f.get(t, "/api/v1/trips?truck=11985&from=2026-12-05&to=2026-12-05", f.viewer), 200)
	if list["total"] != 1.0 {
		t.Errorf("trips on the 5th: %v", list)
	}
	none := ok(t, f.get(t, "/api/v1/trips?from=2026-12-06", f.viewer), 200)
	if none["total"] != 0.0 {
		t.Errorf("trips from the 6th: %v", none)
	}

	problem(t, f.do(t, "PUT", "/api/v1/trips/"+url.PathEscape(id)+"/status", f.viewer, map[string]any{"status": "ongoing"}), 403, "")
	problem(t, f.do(t, "PUT", "/api/v1/trips/"+url.PathEscape(id)+"/status", f.disp, map[string]any{"status": "teleported"}), 400, "status")
	problem(t, f.do(t, "PUT", "/api/v1/trips/"+url.PathEscape(id)+"/status", f.disp, map[string]any{"status": "ongoing", "trip": "x"}), 400, "trip")
	moved := ok(t, f.do(t, "PUT", "/api/v1/trips/"+url.PathEscape(id)+"/status", f.disp, map[string]any{"status": "ongoing", "reason": "left early"}), 200)
	if moved["status"] != "ongoing" {
		t.Errorf("moved: %v", moved)
	}
	problem(t, f.get(t, "/api/v1/trips/NO-SUCH-TRIP", f.viewer), 404, "")
}

// Paging trips by cursor gives each trip once, newest departure first.
func TestTripsCursor(t *testing.T) {
	f := newFx(t)
	for i, truck := range []string{"T11985LA", "T63530LA", "T11985LA"} {
		day := []string{"2026-12-05T06:00", "2026-12-05T07:00", "2026-12-07T06:00"}[i]
		ok(t, f.do(t, "POST", "/api/v1/trips", f.disp, map[string]any{"truck": truck, "pickup": "ESSLIBRA", "delivery": "Dangote Ibese", "scheduled_departure": day}), 201)
	}
	var ids []string
	path := "/api/v1/trips?limit=1"
	for path != "" {
		page := ok(t, f.get(t, path, f.viewer), 200)
		for _, x := range page["trips"].([]any) {
			ids = append(ids, x.(map[string]any)["scheduled_departure"].(string))
		}
		path = ""
		if next, ok := page["next_cursor"].(string); ok {
			path = "/api/v1/trips?limit=1&cursor=" + next
		}
	}
	want := []string{"2026-12-07T06:00:00+01:00", "2026-12-05T07:00:00+01:00", "2026-12-05T06:00:00+01:00"}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("paged %v, want %v", ids, want)
	}
	problem(t, f.get(t, "/api/v1/trips?cursor=bm90IGEgY3Vyc29y", f.viewer), 400, "cursor")
}

// Analytics come from the KPI definitions the report uses.
func TestAnalyticsEndpoints(t *testing.T) {
	f := newFx(t)
	daily := ok(t, f.get(t, "/api/v1/analytics/daily?from=2026-12-01&to=2026-12-03", f.viewer), 200)
	days, _ := daily["days"].([]any)
	if len(days) != 3 || days[0].(map[string]any)["day"] != "2026-12-01" {
		t.Fatalf("daily: %v", daily)
	}
	today := ok(t, f.get(t, "/api/v1/analytics/utilization?from=today", f.viewer), 200)
	trucks, _ := today["trucks"].([]any)
	if len(trucks) == 0 || trucks[0].(map[string]any)["truck"] != "T63530LA" {
		t.Errorf("utilisation today, T63530LA moving first: %v", today["trucks"])
	}
	tat := ok(t, f.get(t, "/api/v1/analytics/tat?from=2026-11-01&to=2026-11-30", f.viewer), 200)
	if tat["trips"] != 0.0 || tat["avg_turnaround_minutes"] != nil {
		t.Errorf("tat: %v", tat)
	}
	problem(t, f.get(t, "/api/v1/analytics/daily?from=2026-01-01&to=2026-12-01", f.viewer), 400, "to")
	problem(t, f.get(t, "/api/v1/analytics/daily?breakdown=truck", f.viewer), 400, "breakdown")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A write retried with the same Idempotency-Key gets the first answer
// again, from either replica, and writes once; the key with another body
// is refused.
func TestIdempotentWrites(t *testing.T) {
	a := newFx(t)
	b := newFxOn(t, a.db, a.rdb, a.prefix)
	body := `{"truck":"T11985LA","pickup":"ESSLIBRA","delivery":"Dangote Ibese","scheduled_departure":"2026-12-05T06:00"}`
	post := func(f *fx, key, body string) resp {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/trips", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.disp)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return resp{res.StatusCode, res.Header, raw}
	}
	first := post(a, "order-77", body)
	created := ok(t, first, 201)
	again := post(b, "order-77", body)
	replayed := ok(t, again, 201)
	if replayed["trip_id"] != created["trip_id"] || again.header.Get("Idempotent-Replayed") != "true" ||
		again.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("replay %v %v, first %v", replayed, again.header, created)
	}
	problem(t, post(a, "order-77", strings.Replace(body, "06:00", "07:00", 1)), 422, "")
	problem(t, post(a, strings.Repeat("k", 129), body), 400, "Idempotency-Key")
	list := ok(t, a.get(t, "/api/v1/trips", a.viewer), 200)
	if list["total"] != 1.0 {
		t.Errorf("%v trips written", list["total"])
	}
	// A refusal is an answer too: replayed, not re-run.
	refused := post(a, "order-78", body)
	problem(t, refused, 422, "")
	if r := post(a, "order-78", body); r.code != 422 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("refusal replay: %d %v", r.code, r.header)
	}
}
