package api

import (
	"net/http"
	"slices"
	"testing"

	"github.com/watchtower-fleet/watchtower/fault"
)

// Every code of the error vocabulary but Internal has its status and a
// documented problem slug; Internal falls through to 500.
func TestCodeProblems(t *testing.T) {
	t.Parallel()
	for _, c := range fault.Codes {
		cp, ok := codeProblems[c]
		if c == fault.Internal {
			if ok {
				t.Errorf("internal is mapped to %d %s; it must fall through to the reference-only problem", cp.status, cp.slug)
			}
			continue
		}
		if !ok {
			t.Errorf("code %s has no problem", c)
			continue
		}
		if !slices.Contains(problemSlugs, cp.slug) || http.StatusText(cp.status) == "" {
			t.Errorf("code %s maps to %d %q, which is not a documented problem", c, cp.status, cp.slug)
		}
	}
}
