package bot

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Whatever Slack (or someone with the app token) sends in a block_actions
// payload, the bot's own reading of it (the pressed card's blocks, an
// Acknowledge button's ids, a mention's text) neither panics nor builds a
// message over Slack's limits.
func FuzzSlackPayload(f *testing.F) {
	f.Add([]byte(`{"type":"block_actions","user":{"id":"U1"},"container":{"type":"message","message_ts":"1.2","channel_id":"C1"},` +
		`"message":{"blocks":[{"type":"actions","block_id":"b1","elements":[{"type":"button","action_id":"wt_confirm","value":"act_1","text":{"type":"plain_text","text":"Confirm"}}]}]},` +
		`"actions":[{"type":"button","action_id":"wt_confirm","block_id":"b1","value":"act_1"}]}`))
	f.Add([]byte(`{"type":"block_actions","actions":[{"action_id":"wt_ack_alert","value":"1,2,x,-3,99999999999999999999"}]}`))
	f.Add([]byte(`{"type":"app_mention","text":"<@U0WATCHBOT|watchtower> where T11985LA","user":"U1","ts":"1.1","channel":"C1"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var cb slack.InteractionCallback
		if json.Unmarshal(raw, &cb) == nil {
			for _, a := range cb.ActionCallback.BlockActions {
				if a == nil {
					continue
				}
				out := pressedBlocks(cb.Message.Blocks.BlockSet, a, []slack.Block{section("done")})
				if len(out) > maxBlocks {
					t.Fatalf("%d blocks", len(out))
				}
				for _, id := range alertIDs(a.Value) {
					if id <= 0 {
						t.Fatalf("alert id %d", id)
					}
				}
			}
		}
		var ev slackevents.AppMentionEvent
		if json.Unmarshal(raw, &ev) == nil {
			text := strings.TrimSpace(mentionRE.ReplaceAllString(ev.Text, " "))
			if strings.Contains(text, "<@U") && mentionRE.MatchString(text) {
				t.Fatalf("mention left in %q", text)
			}
		}
	})
}
