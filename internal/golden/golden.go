// Package golden pins test output to files under testdata/: a test
// compares what it made with the file, and `go test -update` rewrites the
// files when a change is meant. It is for tests only.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// The one -update flag of every package whose tests use golden files.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Check compares got with the file at path, or, under -update, writes got
// there (making its folder) and passes.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update if the change is meant):\n%s", path, got)
	}
}
