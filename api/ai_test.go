package api_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/api"
	"github.com/watchtower-fleet/watchtower/tools"
	"github.com/watchtower-fleet/watchtower/tools/openaitest"
)

// query posts a question and reads the server-sent events to the end.
func (f *fx) query(t *testing.T, key string, body any) []sseMsg {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/ai/query", strings.NewReader(string(raw)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("query: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var out []sseMsg
	sc := bufio.NewScanner(res.Body)
	name := ""
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			name = n
		} else if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var m map[string]any
			_ = json.Unmarshal([]byte(d), &m)
			out = append(out, sseMsg{name, m})
		}
	}
	return out
}

// A question goes through the model loop with the key's role and streams
// its progress and answer; a write it proposes comes back pending with a
// confirm URL, and only a key allowed to confirms it, once.
func TestAIQuery(t *testing.T) {
	model := openaitest.NewServer(t, func(r *openaitest.Request) openaitest.Reply {
		last := r.Input[len(r.Input)-1]
		switch {
		case last.Type == "function_call_output":
			return openaitest.Text("Done: see the card.")
		case strings.Contains(last.Text, "trip"):
			return openaitest.Calls(openaitest.Call{Name: "create_trip", Args: `{"truck":"T11985LA","pickup":"ESSLIBRA","delivery":"Dangote Ibese","scheduled_departure":"2026-12-05T06:00","client":null,"container_no":null,"cargo_type":null,"driver":null}`})
		}
		return openaitest.Calls(openaitest.Call{Name: "truck_location", Args: `{"truck":"T11985LA"}`})
	})
	f := newFx(t, func(c *api.Config) {
		c.Assistant = tools.NewAssistant(tools.AssistantConfig{APIKey: openaitest.APIKey, BaseURL: model.URL(), Model: "gpt-test",
			Deadline: 5 * time.Second, RequestTimeout: time.Second}, c.Registry, nil, nil)
	})
	evs := f.query(t, f.viewer, map[string]any{"question": "where is T11985LA?"})
	if len(evs) < 2 || evs[0].name != "tool" || evs[0].data["tool"] != "truck_location" || evs[len(evs)-1].name != "answer" {
		t.Fatalf("events %v", evs)
	}

	evs = f.query(t, f.disp, map[string]any{"question": "create a trip for T11985LA tomorrow 6am", "thread": "ops-1"})
	var pending map[string]any
	for _, e := range evs {
		if e.name == "pending" {
			pending = e.data
		}
	}
	if pending == nil || pending["tool"] != "create_trip" || !strings.HasPrefix(pending["confirm_url"].(string), "/api/v1/actions/act_") {
		t.Fatalf("no pending action: %v", evs)
	}
	trips := ok(t, f.get(t, "/api/v1/trips", f.viewer), 200)
	if trips["total"] != 0.0 {
		t.Fatalf("the question wrote a trip: %v", trips)
	}
	confirm := pending["confirm_url"].(string)
	problem(t, f.do(t, "POST", confirm, f.viewer, nil), 403, "")
	done := ok(t, f.do(t, "POST", confirm, f.disp, nil), 200)
	if done["created"] != true || done["truck"] != "T11985LA" {
		t.Errorf("confirmed: %v", done)
	}
	problem(t, f.do(t, "POST", confirm, f.disp, nil), 410, "")
	problem(t, f.do(t, "POST", "/api/v1/actions/nope/confirm", f.disp, nil), 400, "id")

	// Bad bodies.
	for _, c := range []struct {
		body  string
		param string
		code  int
	}{
		{`{"question":""}`, "question", 400},
		{`{"question":"x","colour":"red"}`, "colour", 400},
		{`{"question":"x","thread":"no spaces"}`, "thread", 400},
		{`{"question":"` + strings.Repeat("a", 2001) + `"}`, "question", 400},
		{`not json`, "", 400},
	} {
		problem(t, f.do(t, "POST", "/api/v1/ai/query", f.viewer, c.body), c.code, c.param)
	}
}
