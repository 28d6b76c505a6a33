// Command watchtower is the Watch Tower fleet bot: a Slack Socket Mode bot
// with an embedded HTTP listener for LocoNav webhooks and scheduled jobs.
//
// main wires things together and nothing else: configuration, then the
// database and Redis, then the components, run under one context and stopped
// in reverse order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"
	"time"
	_ "time/tzdata" // Africa/Lagos must resolve on a bare container too

	"github.com/lmittmann/tint"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// shutdownTimeout is how long everything together may take to stop after
// SIGTERM before the process gives up waiting.
const shutdownTimeout = 10 * time.Second

const usage = `Usage: watchtower [command] [flags]

Commands:
  run [--migrate]   run the bot, webhook listener and jobs (the default)
  migrate           apply pending database migrations
  seed DIR          load master data CSV files from DIR (e.g. testdata/fleet)
  config            print the configuration, secrets redacted
  version           print the version

Configuration comes from environment variables; see 'watchtower config'.
`

// exitError carries the process exit code: 2 for bad input (usage, config,
// seed rows), 1 for everything else.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func badInput(err error) error { return &exitError{code: 2, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runMain(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(os.Stderr, "watchtower:", err)
		os.Exit(code)
	}
}

func runMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("watchtower "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	migrate := false
	if cmd == "run" {
		fs.BoolVar(&migrate, "migrate", false, "apply pending migrations before starting")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return badInput(err)
	}
	wantArgs := map[string]int{"run": 0, "migrate": 0, "seed": 1, "config": 0, "version": 0, "help": 0}
	n, known := wantArgs[cmd]
	if !known {
		fmt.Fprint(stderr, usage)
		return badInput(fmt.Errorf("unknown command %q", cmd))
	}
	if fs.NArg() != n {
		fmt.Fprint(stderr, usage)
		return badInput(fmt.Errorf("%s takes %d argument(s), got %d", cmd, n, fs.NArg()))
	}
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintln(stdout, "watchtower", buildVersion())
		return nil
	case "config":
		if _, err := LoadConfig(getenv); err != nil {
			PrintConfig(stdout, getenv)
			return badInput(err)
		}
		PrintConfig(stdout, getenv)
		return nil
	}

	cfg, err := LoadConfig(getenv)
	if err != nil {
		return badInput(err)
	}
	logger := newLogger(cfg, stderr)
	switch cmd {
	case "migrate":
		return migrateCmd(ctx, cfg, logger)
	case "seed":
		return seedCmd(ctx, cfg, logger, fs.Arg(0), stdout)
	default:
		return runCmd(ctx, cfg, logger, migrate)
	}
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: cfg.LogLevel, TimeFormat: time.TimeOnly}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel}))
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func openStore(ctx context.Context, cfg *Config) (*store.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return store.Open(ctx, cfg.DatabaseURL)
}

func migrateCmd(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, name := range applied {
		logger.Info("migration applied", "migration", name)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		logger.Info("schema already current")
	}
	return nil
}

func seedCmd(ctx context.Context, cfg *Config, logger *slog.Logger, dir string, stdout io.Writer) error {
	in, err := ingest.ReadFleetDir(dir)
	if err != nil {
		return badInput(err)
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.CheckSchema(ctx); err != nil {
		return err
	}
	res, err := db.ImportFleet(ctx, "seed", in)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return badInput(err)
		}
		return err
	}
	kinds := make([]string, 0, len(res))
	for k := range res {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		c := res[k]
		fmt.Fprintf(stdout, "%-14s %3d inserted, %3d updated, %3d unchanged\n", k+":", c.Inserted, c.Updated, c.Unchanged)
	}
	logger.Info("seed loaded", "dir", dir)
	return nil
}

func runCmd(ctx context.Context, cfg *Config, logger *slog.Logger, migrate bool) error {
	logger.Info("watchtower starting", "version", buildVersion())
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if migrate {
		if err := migrateCmd(ctx, cfg, logger); err != nil {
			return err
		}
	}
	if _, err := db.CheckSchema(ctx); err != nil {
		return fmt.Errorf("%w (or start with `watchtower run --migrate`)", err)
	}
	now := time.Now()
	if err := db.EnsurePositionPartitions(ctx, now.AddDate(0, 0, -1), now.AddDate(0, 0, 7)); err != nil {
		return err
	}

	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return badInput(&ConfigError{Name: "REDIS_URL", Problem: "cannot be parsed"})
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = rdb.Ping(pingCtx).Err()
	cancel()
	if err != nil {
		return fmt.Errorf("redis: connect to %s: %w", ropts.Addr, err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := ingest.NewServer(cfg.HTTPAddr, logger, reg,
		ingest.Check{Name: "postgres", Func: db.Ping},
		ingest.Check{Name: "schema", Func: func(ctx context.Context) error { _, err := db.CheckSchema(ctx); return err }},
		ingest.Check{Name: "redis", Func: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	)
	if err := srv.Start(ctx); err != nil {
		return err
	}

	if sum, err := db.Summary(ctx); err == nil {
		logger.Info("fleet loaded", "trucks", sum.Trucks, "active_trucks", sum.ActiveTrucks,
			"locations", sum.Locations, "drivers", sum.Drivers, "organizations", sum.Organizations)
	}
	if cfg.SlackBotToken == "" {
		logger.Warn("slack not configured: running without the bot (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN)")
	}
	logger.Info("watchtower ready", "http_addr", srv.Addr())

	<-ctx.Done()
	logger.Info("watchtower stopping")
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancelStop()
	// Reverse order of start: stop taking webhooks first, then the stores
	// they write to close (deferred above).
	if err := srv.Stop(stopCtx); err != nil {
		logger.Error("http server did not stop cleanly", "err", err)
	}
	logger.Info("watchtower stopped")
	return nil
}
