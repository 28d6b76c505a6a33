package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/watchtower-fleet/watchtower/tools"
)

// toolEntry is one tool as `watchtower tools --json` prints it.
type toolEntry struct {
	Name        string         `json:"name"`
	Role        string         `json:"role"`
	Write       bool           `json:"write"`
	Usage       string         `json:"usage,omitempty"`
	Description string         `json:"description"`
	Parameters  map[string]any `json:"parameters"`
}

// toolsCmd prints the tool registry: what the model is offered and what
// the /fleet grammar runs. It needs no database.
func toolsCmd(stdout io.Writer, asJSON bool) error {
	reg := tools.New(tools.Deps{})
	var entries []toolEntry
	for _, t := range reg.Tools() {
		entries = append(entries, toolEntry{Name: t.Name, Role: t.Role, Write: t.Write, Usage: t.Usage, Description: t.Description, Parameters: t.Schema()})
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		kind := "read"
		if e.Write {
			kind = "write, waits for Confirm"
		}
		fmt.Fprintf(stdout, "%s  [%s; %s]\n", e.Name, e.Role, kind)
		if e.Usage != "" {
			fmt.Fprintf(stdout, "  /fleet %s\n", e.Usage)
		}
		fmt.Fprintf(stdout, "  %s\n", e.Description)
		schema, err := json.MarshalIndent(e.Parameters, "  ", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  schema: %s\n", strings.TrimSpace(string(schema)))
	}
	return nil
}
