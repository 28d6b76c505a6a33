package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// command is one row of the command table: its name, its usage entries,
// its arguments and flags, what it needs opened before it runs, and what
// it runs. The usage text is generated from the table.
type command struct {
	name  string
	usage []usageEntry // none: not listed (help)
	args  []string     // the arguments' names; a command takes exactly these
	sub   bool         // the first argument, before the flags, is a subcommand (apikey's create, revoke, list)
	flags func(fs *flag.FlagSet, v *flagValues)
	needs needs
	// prepare checks the input and sets up what the logger depends on,
	// after the configuration is loaded and before anything is opened.
	prepare func(inv *invocation) error
	run     func(ctx context.Context, inv *invocation) error
}

// usageEntry is one entry of the usage text: a command line, and what it
// does, one line of text per line.
type usageEntry struct {
	line, text string
}

// needs is what a command needs before it runs.
type needs int

const (
	needsNothing needs = iota // no configuration: help, version, tools, config
	needsConfig               // the configuration and a logger; the command opens what it uses
	needsApp                  // and the app (database, Redis, components), closed when it returns
)

// flagValues holds the flags of every command; each defines those it takes.
type flagValues struct {
	migrate, asJSON, noConsole, dryRun, weekly bool
	from, to, simulate, as, date, name, role   string
}

// invocation is one command line, parsed, and what its command runs with.
type invocation struct {
	args    []string
	sub     string // the subcommand, for a command that takes one
	flags   flagValues
	getenv  func(string) string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer // where the logs go
	cfg     *Config
	logger  *slog.Logger
	app     *app           // for a command that needs it
	window  window         // replay's --from and --to, parsed
	console *consoleOnRun  // the console run opens on a terminal
	closers []func() error // closed when the command returns
}

// commands is the command table, in the order the usage text lists them.
func commands() []command {
	return []command{
		{name: "run", needs: needsConfig, prepare: prepareRun, run: runCmd,
			usage: []usageEntry{{"run [--migrate] [--simulate DIR] [--no-console]", "run the bot, webhook listener and jobs (the default);\n" +
				"--simulate feeds a simulated day of DIR's fleet (the demo);\n" +
				"on a terminal without Slack tokens the console opens\n" +
				"(quit stops the service) unless --no-console"}},
			flags: func(fs *flag.FlagSet, v *flagValues) {
				fs.BoolVar(&v.migrate, "migrate", false, "apply pending migrations before starting")
				fs.StringVar(&v.simulate, "simulate", "", "feed a simulated day of this fleet directory's trucks into the webhook (demo)")
				fs.BoolVar(&v.noConsole, "no-console", false, "on a terminal without Slack tokens, do not open the console")
			}},
		{name: "migrate", needs: needsConfig, usage: []usageEntry{{"migrate", "apply pending database migrations"}},
			run: func(ctx context.Context, inv *invocation) error { return migrateCmd(ctx, inv.cfg, inv.logger) }},
		{name: "seed", args: []string{"DIR"}, needs: needsConfig,
			usage: []usageEntry{{"seed DIR", "load master data CSV files from DIR (e.g. testdata/fleet)"}},
			run: func(ctx context.Context, inv *invocation) error {
				return seedCmd(ctx, inv.cfg, inv.logger, inv.args[0], inv.stdout)
			}},
		{name: "replay", needs: needsApp,
			usage: []usageEntry{{"replay [--from T] [--to T]", "re-run archived LocoNav events through the consumers (idempotent)"}},
			flags: func(fs *flag.FlagSet, v *flagValues) {
				fs.StringVar(&v.from, "from", "", "first receive time to replay (RFC 3339 or YYYY-MM-DD; default: the beginning)")
				fs.StringVar(&v.to, "to", "", "replay up to this receive time, exclusive (default: now)")
			},
			prepare: func(inv *invocation) error {
				w, err := parseWindow(inv.flags.from, inv.flags.to, inv.cfg.ReportTimezone)
				if err != nil {
					return badInput(err)
				}
				inv.window = w
				return nil
			},
			run: func(ctx context.Context, inv *invocation) error {
				return replayCmd(ctx, inv.app, inv.window, inv.stdout)
			}},
		{name: "job", args: []string{"NAME"}, needs: needsApp,
			usage: []usageEntry{{"job NAME", "run one scheduled job now (partitions, offline-trucks, alert-outbox,\n" +
				"expire-actions, follow-trips, daily-report, weekly-report,\n" +
				"loconav-poll, loconav-trips, sheets-sync)"}},
			run: func(ctx context.Context, inv *invocation) error { return jobCmd(ctx, inv.app, inv.args[0]) }},
		{name: "report", needs: needsApp,
			usage: []usageEntry{{"report [--date YYYY-MM-DD] [--weekly] [--dry-run]", "the day's operations report (yesterday's by default; --weekly: the\n" +
				"seven days ending with it), posted to SLACK_REPORT_CHANNEL or\n" +
				"updated there; --dry-run prints its Block Kit"}},
			flags: func(fs *flag.FlagSet, v *flagValues) {
				fs.StringVar(&v.date, "date", "", "the day, YYYY-MM-DD (default: yesterday)")
				fs.BoolVar(&v.weekly, "weekly", false, "the week ending with the day, against the week before")
				fs.BoolVar(&v.dryRun, "dry-run", false, "print the report's Block Kit; post nothing")
			},
			run: func(ctx context.Context, inv *invocation) error {
				return reportCmd(ctx, inv.app, inv.flags.date, inv.flags.weekly, inv.flags.dryRun, inv.stdout)
			}},
		{name: "sync-sheets", needs: needsApp,
			usage: []usageEntry{{"sync-sheets [--dry-run]", "read the Google Sheet's master data now and apply the good rows;\n" +
				"--dry-run prints what would change and writes nothing"}},
			flags: func(fs *flag.FlagSet, v *flagValues) {
				fs.BoolVar(&v.dryRun, "dry-run", false, "print what would change; write nothing")
			},
			prepare: func(inv *invocation) error { return checkSheets(inv.cfg) },
			run: func(ctx context.Context, inv *invocation) error {
				return syncSheetsCmd(ctx, inv.app, inv.flags.dryRun, inv.stdout)
			}},
		{name: "console", needs: needsApp,
			usage: []usageEntry{{"console [--as USERID]", "talk to the bot on this terminal, or line by line on a pipe\n" +
				"(as an admin operator, or as a Slack user with that user's role)"}},
			flags: func(fs *flag.FlagSet, v *flagValues) {
				fs.StringVar(&v.as, "as", "", "act as this Slack user id, with their role")
			},
			run: func(ctx context.Context, inv *invocation) error {
				return runConsole(ctx, inv.app, inv.flags.as, inv.stdin, inv.stdout)
			}},
		{name: "apikey", sub: true, needs: needsApp,
			usage: []usageEntry{
				{"apikey create --name NAME --role viewer|dispatcher|admin", "create a key for the HTTP API (/api/v1); it is printed once"},
				{"apikey revoke --name NAME", "revoke a key at once, on every replica"},
				{"apikey list", "list keys: name, role, first characters, last use, state"},
			},
			flags: func(fs *flag.FlagSet, v *flagValues) {
				fs.StringVar(&v.name, "name", "", "the key's name: who uses it, e.g. portal (lower-case letters, digits, - and _)")
				fs.StringVar(&v.role, "role", "", "the key's role: viewer, dispatcher or admin")
			},
			prepare: func(inv *invocation) error { return checkAPIKeyArgs(inv.sub, inv.flags.name, inv.flags.role) },
			run: func(ctx context.Context, inv *invocation) error {
				actor := "cli"
				if u := inv.getenv("USER"); u != "" {
					actor = "cli:" + u
				}
				return apikeyCmd(ctx, inv.app, inv.sub, inv.flags.name, inv.flags.role, actor, inv.stdout)
			}},
		{name: "tools", usage: []usageEntry{{"tools [--json]", "print the bot's tools: name, role, read or write, description, schema"}},
			flags: func(fs *flag.FlagSet, v *flagValues) {
				fs.BoolVar(&v.asJSON, "json", false, "print the registry as JSON")
			},
			run: func(_ context.Context, inv *invocation) error { return toolsCmd(inv.stdout, inv.flags.asJSON) }},
		{name: "config", usage: []usageEntry{{"config", "print the configuration, secrets redacted"}},
			run: func(_ context.Context, inv *invocation) error {
				// A bad configuration is still printed, so the operator sees
				// the rest.
				_, err := LoadConfig(inv.getenv)
				PrintConfig(inv.stdout, inv.getenv)
				if err != nil {
					return badInput(err)
				}
				return nil
			}},
		{name: "version", usage: []usageEntry{{"version", "print the version"}},
			run: func(_ context.Context, inv *invocation) error {
				fmt.Fprintln(inv.stdout, "watchtower", buildVersion())
				return nil
			}},
		{name: "help", run: func(_ context.Context, inv *invocation) error {
			fmt.Fprint(inv.stdout, usage())
			return nil
		}},
	}
}

// runMain runs one command line: it picks the command's row, parses its
// flags, checks its arguments, opens what it needs and runs it.
func runMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	name := "run"
	if isWord(args) {
		name, args = args[0], args[1:]
	}
	var cmd command
	known := false
	for _, c := range commands() {
		if c.name == name {
			cmd, known = c, true
		}
	}
	inv := &invocation{getenv: getenv, stdin: os.Stdin, stdout: stdout, stderr: stderr}
	if cmd.sub && isWord(args) {
		inv.sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("watchtower "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage()) }
	if cmd.flags != nil {
		cmd.flags(fs, &inv.flags)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return badInput(err)
	}
	if !known {
		fmt.Fprint(stderr, usage())
		return badInput(fmt.Errorf("unknown command %q", name))
	}
	if n := len(cmd.args); fs.NArg() != n {
		fmt.Fprint(stderr, usage())
		return badInput(fmt.Errorf("%s takes %d argument(s), got %d", name, n, fs.NArg()))
	}
	inv.args = fs.Args()
	if cmd.needs == needsNothing {
		return cmd.run(ctx, inv)
	}

	cfg, err := LoadConfig(getenv)
	if err != nil {
		return badInput(err)
	}
	inv.cfg = cfg
	defer func() {
		for _, c := range inv.closers {
			_ = c()
		}
	}()
	if cmd.prepare != nil {
		if err := cmd.prepare(inv); err != nil {
			return err
		}
	}
	inv.logger = newLogger(cfg, inv.stderr)
	if cmd.needs == needsApp {
		a, err := newApp(ctx, cfg, inv.logger, false)
		if err != nil {
			return err
		}
		defer a.close()
		inv.app = a
	}
	return cmd.run(ctx, inv)
}

// isWord reports whether args begins with a word, not a flag: a command,
// or a subcommand.
func isWord(args []string) bool {
	return len(args) > 0 && args[0] != "" && args[0][0] != '-'
}

// usageColumn is where the usage text's descriptions start.
const usageColumn = 20

// usage is the usage text, generated from the command table.
func usage() string {
	var b strings.Builder
	b.WriteString("Usage: watchtower [command] [flags]\n\nCommands:\n")
	indent := strings.Repeat(" ", usageColumn)
	for _, c := range commands() {
		for _, u := range c.usage {
			lines := strings.Split(u.text, "\n")
			// A short command line shares its line with the description.
			if len(u.line) <= usageColumn-4 {
				fmt.Fprintf(&b, "  %-*s%s\n", usageColumn-2, u.line, lines[0])
			} else {
				fmt.Fprintf(&b, "  %s\n%s%s\n", u.line, indent, lines[0])
			}
			for _, l := range lines[1:] {
				fmt.Fprintf(&b, "%s%s\n", indent, l)
			}
		}
	}
	b.WriteString("\nConfiguration comes from environment variables; see 'watchtower config'.\n")
	return b.String()
}
