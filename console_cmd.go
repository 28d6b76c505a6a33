package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/chzyer/readline"

	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/tools"
)

// consoleCmd runs the bot's router on the terminal (or line by line on a
// pipe) against the configured database and Redis. By default the console
// is its operator, an admin: whoever runs it holds the database's keys
// anyway. --as USERID acts as a Slack user, with that user's role.
func consoleCmd(ctx context.Context, cfg *Config, logger *slog.Logger, as string, stdin io.Reader, stdout io.Writer) error {
	a, err := newApp(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer a.close()
	caller := tools.Caller{ID: "console", Name: "console operator", Role: tools.RoleAdmin}
	if as != "" {
		if caller, err = tools.NewRoles(cfg.Admins, a.db).Caller(ctx, as, ""); err != nil {
			return err
		}
		if caller.Name == "" {
			caller.Name = as
		}
	}
	asst := tools.NewAssistant(tools.AssistantConfig{APIKey: cfg.OpenAIAPIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.OpenAIModel},
		a.tools, tools.NewConversations(a.rdb, "watchtower:", logger), logger)
	c := &bot.Console{Router: bot.NewRouter(asst, logger), Caller: caller, In: stdin, Out: stdout}
	if f, ok := stdin.(*os.File); ok && readline.IsTerminal(int(f.Fd())) {
		c.Interactive = true
		if home, err := os.UserHomeDir(); err == nil {
			c.HistoryFile = filepath.Join(home, ".watchtower_history")
		}
	}
	return c.Run(ctx)
}
