package bot_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/internal/golden"
	"github.com/watchtower-fleet/watchtower/tools"
)

// Block Kit for the answers people get, pinned by golden files.
func TestBlocksGolden(t *testing.T) {
	r := newRouter(t)
	dispatcher := tools.Caller{ID: "UR9E0S7PEVF", Name: "Oluwaseun Adekunle", Role: tools.RoleDispatcher}
	cases := map[string]string{
		"where":    "/fleet where T11985LA",
		"at":       "/fleet at esslibr",
		"status":   "/fleet status",
		"new-trip": `/fleet new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am`,
		"unknown":  "/fleet where T11958LA",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			reply := r.Handle(t.Context(), bot.Message{Caller: dispatcher, Text: text}, nil)
			blocks := bot.Blocks(reply)
			checkLimits(t, blocks)
			got, err := json.MarshalIndent(slack.Blocks{BlockSet: blocks}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			if strings.Contains(string(got), "act_") {
				// Pending ids are random: pin their shape, not their value.
				got = []byte(actIDRE.ReplaceAllString(string(got), "act_ID"))
			}
			golden.Check(t, "testdata/blocks/"+name+".json", got)
		})
	}
}

// However long the answer, the message stays within Slack's limits.
func TestBlocksLimits(t *testing.T) {
	long := strings.Repeat("very long text <b> & ", 400)
	v := tools.View{Title: long, Text: long, Columns: []string{"A", "B"}}
	for i := 0; i < 30; i++ {
		v.Fields = append(v.Fields, tools.Field{Label: "L", Value: long})
	}
	for i := 0; i < 500; i++ {
		v.Rows = append(v.Rows, []string{"T11985LA", long[:40]})
	}
	v.Buttons = []tools.Button{{Label: long, Action: tools.ActionConfirm, Value: "act_1", Style: "primary"}}
	reply := tools.Reply{Text: "x", Views: []tools.View{v, v, v, v, v, v, v, v, v, v}}
	blocks := bot.Blocks(reply)
	if len(blocks) > 50 {
		t.Errorf("%d blocks", len(blocks))
	}
	checkLimits(t, blocks)
	b, _ := json.Marshal(blocks)
	if strings.Contains(string(b), "<b>") {
		t.Error("data was not escaped")
	}
}

func checkLimits(t *testing.T, blocks []slack.Block) {
	t.Helper()
	text := func(o *slack.TextBlockObject, max int, where string) {
		if o == nil {
			return
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if n := utf8.RuneCountInString(o.Text); n > max {
			t.Errorf("%s: %d characters, limit %d", where, n, max)
		}
	}
	for _, b := range blocks {
		switch x := b.(type) {
		case *slack.HeaderBlock:
			text(x.Text, 150, "header")
		case *slack.SectionBlock:
			text(x.Text, 3000, "section")
			if len(x.Fields) > 10 {
				t.Errorf("%d fields", len(x.Fields))
			}
			for _, f := range x.Fields {
				text(f, 2000, "field")
			}
		case *slack.ActionBlock:
			for _, e := range x.Elements.ElementSet {
				if bt, ok := e.(*slack.ButtonBlockElement); ok {
					text(bt.Text, 75, "button")
				}
			}
		}
	}
}
