// Package prompts holds the text the language model reads, embedded in the
// binary and rendered per request.
package prompts

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"
)

//go:embed system.md
var systemText string

var systemTmpl = template.Must(template.New("system.md").Option("missingkey=error").Parse(systemText))

// System is what the system prompt is rendered from.
type System struct {
	Now          string // e.g. "Friday 4 December 2026, 09:15"
	CallerName   string
	CallerRole   string
	Trucks       int
	ActiveTrucks int
	Locations    int
	Drivers      int
}

// RenderSystem renders the instructions for one request.
func RenderSystem(s System) (string, error) {
	var b strings.Builder
	if err := systemTmpl.Execute(&b, s); err != nil {
		return "", fmt.Errorf("prompts: system: %w", err)
	}
	return b.String(), nil
}
