package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// A fake testing.TB that records failures instead of stopping the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "x.txt")
	cases := []struct {
		name   string
		update bool
		got    string
		fails  bool
		file   string
	}{
		{"missing file fails", false, "a\n", true, ""},
		{"update writes it", true, "a\n", false, "a\n"},
		{"same passes", false, "a\n", false, "a\n"},
		{"different fails", false, "b\n", true, "a\n"},
		{"update rewrites it", true, "b\n", false, "b\n"},
	}
	defer func(u bool) { *update = u }(*update)
	for _, c := range cases {
		*update = c.update
		r := &recorder{TB: t}
		Check(r, path, []byte(c.got))
		if r.failed != c.fails {
			t.Errorf("%s: failed %v, want %v", c.name, r.failed, c.fails)
		}
		if b, _ := os.ReadFile(path); string(b) != c.file {
			t.Errorf("%s: file %q, want %q", c.name, b, c.file)
		}
	}
}
