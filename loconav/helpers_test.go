package loconav_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
)

// newClient is a client of f with the fake's token on a fake clock (none:
// the real one), logging to t.
func newClient(t testing.TB, f *loconavtest.Server, clock *loconavtest.Clock) *loconav.Client {
	t.Helper()
	return newClientWith(t, f, loconavtest.Token, f.Client(), clock)
}

func newClientWith(t testing.TB, f *loconavtest.Server, token string, hc *http.Client, clock *loconavtest.Clock) *loconav.Client {
	t.Helper()
	c := loconav.NewClient(f.URL(), token, hc, testenv.DebugLogger(t))
	if clock != nil {
		c.Now, c.Sleep = clock.Now, clock.Sleep
	}
	return c
}

// script makes the fake's next requests, whatever they are, answer
// faults, one each, in order.
func script(f *loconavtest.Server, faults ...loconavtest.Fault) {
	for _, ft := range faults {
		ft.N = 1
		f.Fail(ft)
	}
}

// restFixture reads a copied LocoNav REST example from testdata/rest.
func restFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rest", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requireShared handles a missing ../shared: in CI, which always has it
// beside the repository, that is a failure; on a developer's plain clone
// there is nothing to compare with, and the test says so rather than pass.
func requireShared(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI runs with ../shared beside the repository", what)
	}
	t.Skipf("%s (no ../shared beside this clone; CI checks it)", what)
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
