package main

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryOption keeps README.md's table and .env.example in step
// with the configuration table: a new variable must be documented.
func TestDocsListEveryOption(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range options {
		if !strings.Contains(string(readme), "| `"+o.Name+"` |") {
			t.Errorf("README.md's environment table lacks %s", o.Name)
		}
		if !strings.Contains(string(env), "\n"+o.Name+"="+o.Default+"\n") {
			t.Errorf(".env.example lacks %s=%s", o.Name, o.Default)
		}
	}
	for _, cmd := range []string{"make demo", "make test"} {
		if !strings.Contains(string(readme), cmd) {
			t.Errorf("README.md does not give %q", cmd)
		}
	}
}
