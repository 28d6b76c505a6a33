package ingest_test

import (
	"testing"

	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
)

var (
	lagos  = loconavtest.Lagos
	parser = loconavtest.Parser
)

// fixture is one of LocoNav's published webhook examples.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := loconavtest.Webhook(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
