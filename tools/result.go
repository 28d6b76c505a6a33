package tools

import (
	"encoding/json"
	"fmt"
)

// Result is what a tool answers: compact data for the model and a view for
// people. A tool knows nothing of Slack; the bot draws the View as Block
// Kit, the console as text.
type Result struct {
	// Data is marshalled to JSON for the model. Keep it compact: lists are
	// capped (see capped) and say how many were left out.
	Data any
	View View
}

// View is a rendering for people, as data.
type View struct {
	Title string `json:"title"`
	// Text is one or two plain sentences: the answer itself.
	Text    string     `json:"text,omitempty"`
	Fields  []Field    `json:"fields,omitempty"`
	Columns []string   `json:"columns,omitempty"`
	Rows    [][]string `json:"rows,omitempty"`
	// More counts the rows left out of Rows ("and N more").
	More    int      `json:"more,omitempty"`
	Links   []Link   `json:"links,omitempty"`
	Buttons []Button `json:"buttons,omitempty"`
	// Footer is small print: data age, where it came from.
	Footer string `json:"footer,omitempty"`
}

// Field is a labelled value ("Speed": "42 km/h").
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Link is a labelled URL (a map, a tracking page).
type Link struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// Button actions the bot knows how to handle.
const (
	ActionConfirm = "confirm"
	ActionCancel  = "cancel"
	ActionShare   = "share_tracking"
	// ActionRefresh asks a truck's card again; Value is the truck.
	ActionRefresh = "refresh"
	// ActionReportDetails opens a report's breakdown in its thread; Value
	// is the day (YYYY-MM-DD).
	ActionReportDetails = "report_details"
)

// Button is something a person can press. Value carries what the handler
// needs (a pending action's id).
type Button struct {
	Label  string `json:"label"`
	Action string `json:"action"`
	Value  string `json:"value"`
	Style  string `json:"style,omitempty"` // "primary", "danger" or ""
}

// defaultCap is how many items a list gives the model; the rest is counted.
const defaultCap = 25

// capped returns at most n items of xs and how many it left out.
func capped[T any](xs []T, n int) ([]T, int) {
	if len(xs) <= n {
		return xs, 0
	}
	return xs[:n], len(xs) - n
}

// ModelOutput is the JSON the model receives for a result.
func (r Result) ModelOutput() string {
	b, err := json.Marshal(r.Data)
	if err != nil {
		return fmt.Sprintf(`{"error":"result could not be encoded: %s"}`, err)
	}
	return string(b)
}

// moreNote is the "and N more" a capped list carries for the model.
func moreNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("and %d more", n)
}
