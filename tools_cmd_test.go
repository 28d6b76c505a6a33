package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// runMain's tests never open the console, even from a developer's terminal.
func init() { consoleStdin = nil }

// `watchtower tools` needs no database and lists every tool, with --json
// giving what the model is sent.
func TestToolsCommand(t *testing.T) {
	t.Parallel()
	stdout, _, err := runCLI(t, map[string]string{"DATABASE_URL": "postgres://nowhere:1/x"}, "tools", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []toolEntry
	if err := json.Unmarshal([]byte(stdout), &entries); err != nil {
		t.Fatalf("--json is not JSON: %v", err)
	}
	writes := map[string]bool{}
	for _, e := range entries {
		writes[e.Name] = e.Write
		if e.Parameters["additionalProperties"] != false || e.Description == "" || e.Role == "" {
			t.Errorf("%s: %+v", e.Name, e)
		}
	}
	for _, name := range []string{"truck_location", "fleet_status", "trucks_at", "trucks_near", "truck_history", "trip_status",
		"list_trips", "list_delays", "alerts", "driver_for", "fleet_metrics"} {
		if w, ok := writes[name]; !ok || w {
			t.Errorf("read tool %s: listed %v, write %v", name, ok, w)
		}
	}
	for _, name := range []string{"create_trip", "update_trip_status", "cancel_trip"} {
		if !writes[name] {
			t.Errorf("%s is not a write tool", name)
		}
	}
	text, _, err := runCLI(t, nil, "tools")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "create_trip  [dispatcher; write, waits for Confirm]") || !strings.Contains(text, "/fleet where <truck>") {
		t.Errorf("text listing:\n%s", text)
	}
}
