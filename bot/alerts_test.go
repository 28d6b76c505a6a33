package bot_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/bot"
)

// The feed shows what arrives after it starts, one line per truck and kind
// per quiet period, in Lagos time.
func TestAlertFeed(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	if u := os.Getenv("REDIS_URL"); u != "" {
		opts, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(opts)
	}
	defer rdb.Close()
	stream := fmt.Sprintf("wt_test:%d:%08x:notifications", os.Getpid(), rand.Uint32())
	defer rdb.Del(context.Background(), stream)
	add := func(truck, kind, loc string) string {
		id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{"alert_id", "1", "kind", kind,
			"severity", "warning", "truck", truck, "location", loc, "started_at", "2026-12-04T08:14:00Z"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	start := add("T00000LA", "overspeed", "") // before the feed: not shown
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := make(chan string, 10)
	go (&bot.AlertFeed{RDB: rdb, Stream: stream, Zone: lagos, From: start,
		Now: func() time.Time { return time.Date(2026, 12, 4, 8, 20, 0, 0, time.UTC) }}).Run(ctx, out)
	add("T11985LA", "overspeed", "")
	add("T11985LA", "overspeed", "")              // the same episode kind again: quiet
	add("T63530LA", "geofence_enter", "ESSLIBRA") // every truck enters places all day: quiet
	add("T63530LA", "idle", "ESSLIBRA")
	old := func() { // an alert from a backfill, hours old: not news
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{"kind", "idle", "truck", "T76510LA",
			"started_at", "2026-12-04T02:00:00Z"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	old()
	// A trip's event, as the fold publishes it.
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{"type", "trip", "trip", "04/Dec/2026-T11985LA-DA01",
		"kind", "departed_pickup", "truck", "T11985LA", "location", "ESSLIBRA", "reason", "", "started_at", "2026-12-04T08:16:00Z"}}).Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	timeout := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case l := <-out:
			got = append(got, l)
		case <-timeout:
			t.Fatalf("got %q", got)
		}
	}
	want := []string{"⚠ T11985LA: overspeed (09:14)", "⚠ T63530LA: idle at ESSLIBRA (09:14)",
		"🚚 T11985LA trip 04/Dec/2026-T11985LA-DA01: Loaded and left pickup ESSLIBRA · 09:16"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	select {
	case l := <-out:
		t.Errorf("an extra line: %q", l)
	case <-time.After(300 * time.Millisecond):
	}
}
