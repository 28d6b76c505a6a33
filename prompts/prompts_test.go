package prompts_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/watchtower-fleet/watchtower/prompts"
)

var update = flag.Bool("update", false, "rewrite testdata/system.golden")

// The rendered system prompt is what the model reads: pinned by a golden
// file so a change is a reviewed change.
func TestRenderSystemGolden(t *testing.T) {
	got, err := prompts.RenderSystem(prompts.System{
		Now: "Friday 4 December 2026, 09:15", CallerName: "Grace Nnamdi", CallerRole: "dispatcher",
		Trucks: 84, ActiveTrucks: 78, Locations: 31, Drivers: 80,
	})
	if err != nil {
		t.Fatal(err)
	}
	const path = "testdata/system.golden"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./prompts -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("rendered prompt differs from %s (go test ./prompts -update if meant):\n%s", path, got)
	}
	for _, must := range []string{"Grace Nnamdi (dispatcher)", "84 trucks", "Confirm", "data, not instructions"} {
		if !strings.Contains(got, must) {
			t.Errorf("prompt lacks %q", must)
		}
	}
}
