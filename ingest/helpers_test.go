package ingest_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav"
)

var lagos = func() *time.Location {
	l, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		panic(err)
	}
	return l
}()

// parser reads webhooks as the service does, on a fixed clock.
func parser() *loconav.Parser {
	return &loconav.Parser{Zone: lagos, Now: func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }}
}

// fixture is one of LocoNav's published webhook examples, kept with the
// package that knows their format.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "loconav", "testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
