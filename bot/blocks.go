package bot

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/tools"
)

// Slack's limits on Block Kit, which a message over them breaks.
const (
	maxBlocks       = 50
	maxHeaderChars  = 150
	maxSectionChars = 3000
	maxFieldChars   = 2000
	maxFields       = 10
	maxButtonChars  = 75
)

// Action ids of the buttons, prefixed so the interactivity handler knows
// its own.
const actionPrefix = "wt_"

// ActionID is the Slack action_id of a button's action.
func ActionID(action string) string { return actionPrefix + action }

// Blocks draws a reply as Block Kit with slack-go's types, within Slack's
// limits: the answer, each view's header, fields, table (as a monospace
// block), links, small print and buttons.
func Blocks(r tools.Reply) []slack.Block {
	var blocks []slack.Block
	add := func(b slack.Block) {
		if len(blocks) < maxBlocks {
			blocks = append(blocks, b)
		}
	}
	textShown := false
	views := withPending(r)
	for _, v := range views {
		textShown = textShown || v.Text == r.Text
	}
	if r.Text != "" && !textShown {
		add(section(escape(r.Text)))
	}
	for _, v := range views {
		if v.Title != "" {
			add(slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, clipChars(v.Title, maxHeaderChars), false, false)))
		}
		if v.Text != "" {
			add(section(escape(v.Text)))
		}
		for i := 0; i < len(v.Fields); i += maxFields {
			var fields []*slack.TextBlockObject
			for _, f := range v.Fields[i:min(i+maxFields, len(v.Fields))] {
				fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType,
					clipChars("*"+escape(f.Label)+"*\n"+escape(f.Value), maxFieldChars), false, false))
			}
			add(slack.NewSectionBlock(nil, fields, nil))
		}
		if len(v.Rows) > 0 {
			var b strings.Builder
			writeTable(&b, v.Columns, v.Rows)
			table := clipChars(b.String(), maxSectionChars-20)
			add(section("```" + strings.TrimRight(table, "\n") + "```"))
		}
		var small []string
		if v.More > 0 {
			small = append(small, fmt.Sprintf("… and %d more", v.More))
		}
		var els []slack.BlockElement
		for _, l := range v.Links {
			if !strings.HasPrefix(l.URL, "https://") && !strings.HasPrefix(l.URL, "http://") {
				small = append(small, "<"+l.URL+"|"+escape(l.Label)+">")
				continue
			}
			// A link button: Slack opens the URL, and tells the bot, which
			// ignores actionLink.
			lb := slack.NewButtonBlockElement(fmt.Sprintf("%s_%d", ActionID(actionLink), len(els)), "",
				slack.NewTextBlockObject(slack.PlainTextType, clipChars(l.Label, maxButtonChars), false, false))
			lb.URL = l.URL
			els = append(els, lb)
		}
		if v.Footer != "" {
			small = append(small, escape(v.Footer))
		}
		if len(small) > 0 {
			add(slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, clipChars(strings.Join(small, "  ·  "), maxSectionChars), false, false)))
		}
		if len(v.Buttons)+len(els) > 0 {
			for _, bt := range v.Buttons {
				b := slack.NewButtonBlockElement(ActionID(bt.Action), bt.Value,
					slack.NewTextBlockObject(slack.PlainTextType, clipChars(bt.Label, maxButtonChars), false, false))
				switch bt.Style {
				case "primary":
					b = b.WithStyle(slack.StylePrimary)
				case "danger":
					b = b.WithStyle(slack.StyleDanger)
				}
				els = append(els, b)
			}
			add(slack.NewActionBlock("", els...))
		}
	}
	return blocks
}

// withPending is a reply's views and a card for each pending action that
// no view shows yet (the model's proposals come as Pending alone).
func withPending(r tools.Reply) []tools.View {
	views := r.Views
	for _, p := range r.Pending {
		shown := false
		for _, v := range r.Views {
			for _, b := range v.Buttons {
				shown = shown || b.Value == p.ID
			}
		}
		if !shown {
			views = append(views[:len(views):len(views)], p.Result().View)
		}
	}
	return views
}

func section(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clipChars(text, maxSectionChars), false, false), nil, nil)
}

// escape keeps Slack from reading &, < and > in data as markup.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clipChars cuts s to at most n characters, marking the cut.
func clipChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
