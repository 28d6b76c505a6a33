package bot

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/watchtower-fleet/watchtower/tools"
)

// Text renders a reply for a terminal: the answer, each view's fields,
// table and links, and the buttons numbered so they can be pressed by
// typing the number or the label. It returns the buttons in that order.
func Text(r tools.Reply) (string, []tools.Button) {
	var b strings.Builder
	var buttons []tools.Button
	shown := false
	for _, v := range withPending(r) {
		if v.Title != "" {
			fmt.Fprintf(&b, "%s\n", v.Title)
		}
		if v.Text != "" {
			fmt.Fprintf(&b, "%s\n", v.Text)
			shown = shown || v.Text == r.Text
		}
		writeFields(&b, v.Fields)
		writeTable(&b, v.Columns, v.Rows)
		if v.More > 0 {
			fmt.Fprintf(&b, "  … and %d more\n", v.More)
		}
		for _, l := range v.Links {
			fmt.Fprintf(&b, "  %s: %s\n", l.Label, l.URL)
		}
		if v.Footer != "" {
			fmt.Fprintf(&b, "  (%s)\n", v.Footer)
		}
		buttons = append(buttons, v.Buttons...)
	}
	out := b.String()
	if !shown && r.Text != "" {
		out = r.Text + "\n" + out
	}
	if len(buttons) > 0 {
		var labels []string
		for i, bt := range buttons {
			labels = append(labels, fmt.Sprintf("[%d] %s", i+1, bt.Label))
		}
		out += strings.Join(labels, "  ") + "\n"
	}
	return out, buttons
}

func writeFields(b *strings.Builder, fs []tools.Field) {
	w := 0
	for _, f := range fs {
		w = max(w, utf8.RuneCountInString(f.Label))
	}
	for _, f := range fs {
		fmt.Fprintf(b, "  %-*s  %s\n", w+1, f.Label+":", f.Value)
	}
}

func writeTable(b *strings.Builder, cols []string, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = utf8.RuneCountInString(c)
	}
	for _, r := range rows {
		for i, c := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], utf8.RuneCountInString(c))
			}
		}
	}
	line := func(cells []string) {
		var l strings.Builder
		l.WriteString(" ")
		for i, c := range cells {
			if i < len(widths) {
				fmt.Fprintf(&l, " %s%s", c, strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	line(cols)
	for _, r := range rows {
		line(r)
	}
}
