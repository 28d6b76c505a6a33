package prompts_test

import (
	"strings"
	"testing"

	"github.com/watchtower-fleet/watchtower/internal/golden"
	"github.com/watchtower-fleet/watchtower/prompts"
)

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
	golden.Check(t, "testdata/system.golden", []byte(got))
	for _, must := range []string{"Grace Nnamdi (dispatcher)", "84 trucks", "Confirm", "data, not instructions"} {
		if !strings.Contains(got, must) {
			t.Errorf("prompt lacks %q", must)
		}
	}
}
