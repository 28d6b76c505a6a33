package main

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/chzyer/readline"

	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/tools"
)

// consoleOnRun is the console `run` opens on a terminal without Slack.
type consoleOnRun struct {
	in  io.Reader
	out io.Writer
}

func (c *consoleOnRun) run(ctx context.Context, a *app) error {
	return runConsole(ctx, a, "", c.in, c.out)
}

// consoleStdin is where `run` looks for a terminal to open the console on;
// the tests of package main set it to nil, whatever terminal runs them.
var consoleStdin = os.Stdin

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return readline.IsTerminal(int(f.Fd())) }

// runConsole runs the bot's router on the terminal (or line by line on a
// pipe) against the app's database and Redis: `watchtower console`, and
// the console `run` opens. By default the console is its operator, an
// admin: whoever runs it holds the database's keys anyway. as, a Slack
// user id, acts as that user, with that user's role.
func runConsole(ctx context.Context, a *app, as string, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the alert feed with the console
	cfg, logger := a.cfg, a.logger
	caller := tools.Caller{ID: "console", Name: "console operator", Role: tools.RoleAdmin}
	if as != "" {
		var err error
		if caller, err = tools.NewRoles(cfg.Admins, a.db).Caller(ctx, as, ""); err != nil {
			return err
		}
		if caller.Name == "" {
			caller.Name = as
		}
	}
	c := &bot.Console{Router: a.router(), Caller: caller, In: stdin, Out: stdout}
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		c.Interactive = true
		alerts := make(chan string, 64)
		feed := &bot.AlertFeed{RDB: a.rdb, Stream: notify.Stream, Zone: cfg.ReportTimezone, Logger: logger}
		go feed.Run(ctx, alerts)
		c.Alerts = alerts
		if home, err := os.UserHomeDir(); err == nil {
			c.HistoryFile = filepath.Join(home, ".watchtower_history")
		}
	}
	return c.Run(ctx)
}

// assistant is the tool loop: the model when one is configured, the
// grammar otherwise, and the conversations in Redis.
func (a *app) assistant() *tools.Assistant {
	cfg := a.cfg
	return tools.NewAssistant(tools.AssistantConfig{APIKey: cfg.OpenAIAPIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.OpenAIModel},
		a.tools, tools.NewConversations(a.rdb, "watchtower:", a.logger), a.logger)
}

// router is the bot's router on the app: the model when one is configured,
// the grammar otherwise, and the conversations in Redis.
func (a *app) router() *bot.Router {
	r := bot.NewRouter(a.assistant(), a.logger)
	if a.sheets != nil {
		r.Sync = func(ctx context.Context, c tools.Caller) (string, error) {
			rep, err := a.sheets.Run(ctx, c.ID, false)
			return masterdata.SyncSummary(rep, false, false), err
		}
	}
	return r
}
