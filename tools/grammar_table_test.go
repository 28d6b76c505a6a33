package tools

import (
	"encoding/json"
	"testing"
)

// Every example in the command table parses to its own command, and the
// tool accepts what the grammar built, so examples (which Suggest shows
// people) cannot go stale.
func TestCommandExamples(t *testing.T) {
	reg := New(Deps{})
	for _, c := range commands {
		if len(c.examples) == 0 {
			t.Errorf("%s has no example", c.verbs[0])
		}
		for _, ex := range c.examples {
			cmd, err := Parse(ex)
			if err != nil {
				t.Errorf("%s: Parse(%q): %v", c.verbs[0], ex, err)
				continue
			}
			want, err := c.parse(splitArgs(ex)[1:])
			if err != nil {
				t.Errorf("%s: the row's own parser refuses %q: %v", c.verbs[0], ex, err)
				continue
			}
			got, _ := json.Marshal(cmd)
			if w, _ := json.Marshal(want); string(got) != string(w) {
				t.Errorf("%s: Parse(%q) = %s, want the row's %s", c.verbs[0], ex, got, w)
			}
			if cmd.Tool != c.tool {
				t.Errorf("%s: Parse(%q) calls %q, want %q", c.verbs[0], ex, cmd.Tool, c.tool)
			}
			if c.tool == "" {
				continue
			}
			tool, ok := reg.Lookup(c.tool)
			if !ok {
				t.Errorf("%s: no tool %q", c.verbs[0], c.tool)
				continue
			}
			args, _ := json.Marshal(cmd.Args)
			if _, err := tool.Decode(args); err != nil {
				t.Errorf("%s: the tool refuses %q: %v", c.verbs[0], ex, err)
			}
		}
	}
}

// Each verb names one command, and each tool with a /fleet form has its
// row, with the same form, so help lists it.
func TestCommandTable(t *testing.T) {
	seen := map[string]string{}
	for _, c := range commands {
		for _, v := range c.verbs {
			if other, ok := seen[v]; ok {
				t.Errorf("verb %q is both %s and %s", v, other, c.verbs[0])
			}
			seen[v] = c.verbs[0]
		}
		if (c.tool == "") == (c.about == "") {
			t.Errorf("%s: a command either calls a tool or explains itself in about", c.verbs[0])
		}
	}
	for _, tool := range New(Deps{}).Tools() {
		c, ok := byTool[tool.Name]
		if tool.Usage != "" && (!ok || c.usage != tool.Usage) {
			t.Errorf("tool %s: /fleet form %q has no row with that usage", tool.Name, tool.Usage)
		}
	}
}
