package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// TestReplayRebuildsFromRawEvents archives LocoNav's examples as the archive
// consumer would, replays them, and replays again: the first replay builds
// positions and alerts, the second changes nothing.
func TestReplayRebuildsFromRawEvents(t *testing.T) {
	t.Parallel()
	s, db := storetest.NewMigrated(t)
	ctx := context.Background()
	received := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var raws []store.RawEvent
	for i, f := range []string{"live-location.json", "overspeed-alert.json", "idling-alert.json"} {
		body := loconavtest.Webhook(t, f)
		family := "alert"
		if strings.HasPrefix(f, "live") {
			family = "location"
		}
		raws = append(raws, store.RawEvent{StreamID: "1700000000000-" + string(rune('0'+i)), Source: "webhook", Family: family,
			ReceivedAt: received.Add(time.Duration(i) * time.Second), Body: body})
	}
	if n, err := db.ArchiveRawEvents(ctx, raws); err != nil || n != 3 {
		t.Fatalf("archive: %d, %v", n, err)
	}
	env := map[string]string{"DATABASE_URL": s.URL}
	counts := func() map[string]int { return countRows(t, s, "vehicle_positions", "alerts", "trucks") }

	out, _, err := runCLI(t, env, "replay", "--from", "2026-11-20", "--to", "2026-11-21")
	if err != nil || !strings.Contains(out, "replayed 3 events") {
		t.Fatalf("replay: %q, %v", out, err)
	}
	first := counts()
	// One fix, two LocoNav alerts and two unknown-vehicle alerts (TN19AA7420, ABC123).
	if first["vehicle_positions"] != 1 || first["alerts"] != 4 || first["trucks"] != 2 {
		t.Fatalf("after replay: %v", first)
	}
	if _, _, err := runCLI(t, env, "replay"); err != nil {
		t.Fatal(err)
	}
	if again := counts(); again["vehicle_positions"] != first["vehicle_positions"] || again["alerts"] != first["alerts"] || again["trucks"] != first["trucks"] {
		t.Errorf("second replay changed the store: %v, was %v", again, first)
	}
	// A window with nothing in it, and a backwards one.
	if out, _, err := runCLI(t, env, "replay", "--from", "2026-11-21"); err != nil || !strings.Contains(out, "replayed 0 events") {
		t.Errorf("empty window: %q, %v", out, err)
	}
	if _, _, err := runCLI(t, env, "replay", "--from", "2026-11-21", "--to", "2026-11-20"); exitCode(err) != 2 {
		t.Errorf("backwards window: %v; want exit 2", err)
	}
	if _, _, err := runCLI(t, env, "replay", "--from", "last tuesday"); exitCode(err) != 2 {
		t.Errorf("bad --from: %v; want exit 2", err)
	}
	if _, _, err := runCLI(t, env, "job", "no-such-job"); exitCode(err) != 2 {
		t.Errorf("unknown job: %v; want exit 2", err)
	}
	if _, _, err := runCLI(t, env, "job", "partitions"); err != nil {
		t.Errorf("job partitions: %v", err)
	}
}
