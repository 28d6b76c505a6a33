package bot_test

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/watchtower-fleet/watchtower/bot"
)

// The app manifest asks for what the code handles, no more and no less,
// and turns on what Socket Mode and the buttons need.
func TestManifestMatchesCode(t *testing.T) {
	raw, err := os.ReadFile("../slack/manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			AppHome struct {
				MessagesTab bool `yaml:"messages_tab_enabled"`
			} `yaml:"app_home"`
			AssistantView struct {
				Prompts []struct{ Title, Message string } `yaml:"suggested_prompts"`
			} `yaml:"assistant_view"`
			SlashCommands []struct{ Command string } `yaml:"slash_commands"`
		}
		OAuth struct {
			Scopes struct{ Bot []string }
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				Bot []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool `yaml:"is_enabled"`
			}
			SocketMode bool `yaml:"socket_mode_enabled"`
		}
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	sorted := func(xs []string) []string { xs = slices.Clone(xs); slices.Sort(xs); return xs }
	if got, want := sorted(m.OAuth.Scopes.Bot), sorted(bot.Scopes); !slices.Equal(got, want) {
		t.Errorf("manifest scopes %v, code needs %v", got, want)
	}
	if got, want := sorted(m.Settings.Events.Bot), sorted(bot.Events); !slices.Equal(got, want) {
		t.Errorf("manifest events %v, code handles %v", got, want)
	}
	var cmds []string
	for _, c := range m.Features.SlashCommands {
		cmds = append(cmds, c.Command)
	}
	if !slices.Equal(sorted(cmds), sorted(bot.Commands)) {
		t.Errorf("manifest commands %v, code handles %v", cmds, bot.Commands)
	}
	if !m.Settings.SocketMode || !m.Settings.Interactivity.Enabled || !m.Features.AppHome.MessagesTab {
		t.Errorf("socket mode %v, interactivity %v, messages tab %v: all must be on",
			m.Settings.SocketMode, m.Settings.Interactivity.Enabled, m.Features.AppHome.MessagesTab)
	}
	if len(m.Features.AssistantView.Prompts) != len(bot.SuggestedPrompts) {
		t.Errorf("manifest has %d suggested prompts, the greeting %d", len(m.Features.AssistantView.Prompts), len(bot.SuggestedPrompts))
	}
	for i, p := range m.Features.AssistantView.Prompts {
		if i < len(bot.SuggestedPrompts) && p.Message != bot.SuggestedPrompts[i].Message {
			t.Errorf("prompt %d: manifest %q, greeting %q", i, p.Message, bot.SuggestedPrompts[i].Message)
		}
	}
}
