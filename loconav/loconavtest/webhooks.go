package loconavtest

import (
	"embed"
	"io/fs"
	"path"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav"
)

// webhooks are LocoNav's published webhook examples, byte for byte as in
// ../shared/loconav/webhooks (loconav's TestFixturesMatchShared keeps
// them so).
//
//go:embed testdata/webhooks/*.json
var webhooks embed.FS

// Webhook is one published webhook example by file name, such as
// "live-location.json" or "idling-alert.json"; a name that is not one
// fails the test.
func Webhook(t testing.TB, name string) []byte {
	t.Helper()
	b, err := webhooks.ReadFile(path.Join("testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Webhooks names the published webhook examples.
func Webhooks() []string {
	entries, _ := fs.ReadDir(webhooks, "testdata/webhooks")
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// Lagos is the fleet's zone, in which LocoNav writes zone-less times.
var Lagos = func() *time.Location {
	l, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		panic(err)
	}
	return l
}()

// Parser reads webhooks as the service does in Lagos, on a clock stopped at
// noon UTC on 22 November 2026, after every example was written.
func Parser() *loconav.Parser {
	return &loconav.Parser{Zone: Lagos, Now: func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }}
}
