// Command watchtower is the Watch Tower fleet bot: a Slack Socket Mode bot
// with an embedded HTTP listener for LocoNav webhooks and scheduled jobs.
//
// main wires things together and nothing else: configuration, then the
// database and Redis, then the components, run under one context and stopped
// in reverse order.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // Africa/Lagos must resolve on a bare container too

	"github.com/lmittmann/tint"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/api"
	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/listener"
	"github.com/watchtower-fleet/watchtower/live"
	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/schedule"
	"github.com/watchtower-fleet/watchtower/sim"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// shutdownTimeout is how long everything together may take to stop after
// SIGTERM before the process gives up waiting.
const shutdownTimeout = 10 * time.Second

const usage = `Usage: watchtower [command] [flags]

Commands:
  run [--migrate] [--simulate DIR] [--no-console]
                    run the bot, webhook listener and jobs (the default);
                    --simulate feeds a simulated day of DIR's fleet (the demo);
                    on a terminal without Slack tokens the console opens
                    (quit stops the service) unless --no-console
  migrate           apply pending database migrations
  seed DIR          load master data CSV files from DIR (e.g. testdata/fleet)
  replay [--from T] [--to T]
                    re-run archived LocoNav events through the consumers (idempotent)
  job NAME          run one scheduled job now (partitions, offline-trucks, alert-outbox,
                    expire-actions, follow-trips, daily-report, weekly-report,
                    loconav-poll, loconav-trips, sheets-sync)
  report [--date YYYY-MM-DD] [--weekly] [--dry-run]
                    the day's operations report (yesterday's by default; --weekly: the
                    seven days ending with it), posted to SLACK_REPORT_CHANNEL or
                    updated there; --dry-run prints its Block Kit
  sync-sheets [--dry-run]
                    read the Google Sheet's master data now and apply the good rows;
                    --dry-run prints what would change and writes nothing
  console [--as USERID]
                    talk to the bot on this terminal, or line by line on a pipe
                    (as an admin operator, or as a Slack user with that user's role)
  apikey create --name NAME --role viewer|dispatcher|admin
                    create a key for the HTTP API (/api/v1); it is printed once
  apikey revoke --name NAME
                    revoke a key at once, on every replica
  apikey list       list keys: name, role, first characters, last use, state
  tools [--json]    print the bot's tools: name, role, read or write, description, schema
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
	// apikey's subcommand comes before its flags.
	sub := ""
	if cmd == "apikey" && len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("watchtower "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	migrate, asJSON, noConsole, dryRun, weekly := false, false, false, false, false
	var from, to, simulate, as, date, name, role string
	switch cmd {
	case "run":
		fs.BoolVar(&migrate, "migrate", false, "apply pending migrations before starting")
		fs.StringVar(&simulate, "simulate", "", "feed a simulated day of this fleet directory's trucks into the webhook (demo)")
		fs.BoolVar(&noConsole, "no-console", false, "on a terminal without Slack tokens, do not open the console")
	case "tools":
		fs.BoolVar(&asJSON, "json", false, "print the registry as JSON")
	case "console":
		fs.StringVar(&as, "as", "", "act as this Slack user id, with their role")
	case "sync-sheets":
		fs.BoolVar(&dryRun, "dry-run", false, "print what would change; write nothing")
	case "report":
		fs.StringVar(&date, "date", "", "the day, YYYY-MM-DD (default: yesterday)")
		fs.BoolVar(&weekly, "weekly", false, "the week ending with the day, against the week before")
		fs.BoolVar(&dryRun, "dry-run", false, "print the report's Block Kit; post nothing")
	case "apikey":
		fs.StringVar(&name, "name", "", "the key's name: who uses it, e.g. portal (lower-case letters, digits, - and _)")
		fs.StringVar(&role, "role", "", "the key's role: viewer, dispatcher or admin")
	case "replay":
		fs.StringVar(&from, "from", "", "first receive time to replay (RFC 3339 or YYYY-MM-DD; default: the beginning)")
		fs.StringVar(&to, "to", "", "replay up to this receive time, exclusive (default: now)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return badInput(err)
	}
	wantArgs := map[string]int{"run": 0, "migrate": 0, "seed": 1, "replay": 0, "job": 1, "config": 0, "version": 0, "help": 0, "tools": 0, "console": 0, "sync-sheets": 0, "report": 0, "apikey": 0}
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
	case "tools":
		return toolsCmd(stdout, asJSON)
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
	// `run` on a terminal without Slack opens the console there; the logs
	// then go to a file, so they do not write over what people type.
	var console *consoleOnRun
	if cmd == "run" && !noConsole && cfg.SlackBotToken == "" && consoleStdin != nil && isTerminal(consoleStdin) {
		logPath := filepath.Join(os.TempDir(), "watchtower.log")
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(stderr, "watchtower: logs go to %s while the console is open\n", logPath)
		stderr = f
		console = &consoleOnRun{in: consoleStdin, out: stdout}
	}
	logger := newLogger(cfg, stderr)
	switch cmd {
	case "migrate":
		return migrateCmd(ctx, cfg, logger)
	case "seed":
		return seedCmd(ctx, cfg, logger, fs.Arg(0), stdout)
	case "replay":
		window, err := parseWindow(from, to, cfg.ReportTimezone)
		if err != nil {
			return badInput(err)
		}
		return replayCmd(ctx, cfg, logger, window, stdout)
	case "job":
		return jobCmd(ctx, cfg, logger, fs.Arg(0))
	case "console":
		return consoleCmd(ctx, cfg, logger, as, os.Stdin, stdout)
	case "sync-sheets":
		return syncSheetsCmd(ctx, cfg, logger, dryRun, stdout)
	case "report":
		return reportCmd(ctx, cfg, logger, date, weekly, dryRun, stdout)
	case "apikey":
		actor := "cli"
		if u := getenv("USER"); u != "" {
			actor = "cli:" + u
		}
		return apikeyCmd(ctx, cfg, logger, sub, name, role, actor, stdout)
	default:
		return runCmd(ctx, cfg, logger, migrate, simulate, console)
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
		return slog.New(traceHandler{tint.NewTextHandler(w, &tint.Options{Level: cfg.LogLevel, TimeFormat: time.TimeOnly})})
	}
	return slog.New(traceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel})})
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
	return migrate(ctx, db, logger)
}

// migrate applies pending migrations and logs what it did.
func migrate(ctx context.Context, db *store.DB, logger *slog.Logger) error {
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
	in, err := masterdata.ReadFleetDir(dir)
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

// app is what run, replay and job wire together.
type app struct {
	cfg      *Config
	logger   *slog.Logger
	db       *store.DB
	rdb      *redis.Client
	reg      *prometheus.Registry
	parser   *loconav.Parser
	streams  *ingest.Streams
	notifier *notify.Notifier
	pipeline *ingest.Pipeline
	poller   *ingest.Poller // nil without LOCONAV_API_TOKEN
	tools    *tools.Registry
	follow   store.FollowRules
	sheets   *masterdata.SheetSync // nil without SHEETS_SPREADSHEET_ID
}

// newApp connects to Postgres and Redis and builds the components. The
// schema must be current unless doMigrate is set, in which case it is made so.
func newApp(ctx context.Context, cfg *Config, logger *slog.Logger, doMigrate bool) (*app, error) {
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, logger: logger, db: db, reg: prometheus.NewRegistry()}
	if doMigrate {
		if err := migrate(ctx, db, logger); err != nil {
			a.close()
			return nil, err
		}
	}
	if _, err := db.CheckSchema(ctx); err != nil {
		a.close()
		return nil, fmt.Errorf("%w (or start with `watchtower run --migrate`)", err)
	}
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		a.close()
		return nil, badInput(&ConfigError{Name: "REDIS_URL", Problem: "cannot be parsed"})
	}
	a.rdb = redis.NewClient(ropts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = a.rdb.Ping(pingCtx).Err()
	cancel()
	if err != nil {
		a.close()
		return nil, fmt.Errorf("redis: connect to %s: %w", ropts.Addr, err)
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.parser = &loconav.Parser{Zone: cfg.LocoNavTimezone}
	a.streams = ingest.NewStreams(a.rdb, ingest.StreamEvents, cfg.StreamMaxLen)
	a.notifier = notify.New(a.rdb, notify.Stream, db, logger)
	a.notifier.Live = live.NewPublisher(a.rdb, live.Channel, logger)
	a.follow = store.DefaultFollowRules()
	if cfg.TripDelayAfter > 0 {
		a.follow.DelayAfter = cfg.TripDelayAfter
	}
	// The fold follows the trips of the trucks whose visits it changes.
	rules := store.Rules{Dwell: cfg.Dwell, OverspeedKmh: cfg.OverspeedKmh, IdleAfter: cfg.IdleAfter, Follow: &a.follow}
	a.pipeline = ingest.NewPipeline(db, a.parser, rules, a.notifier, logger, a.reg)
	deps := tools.Deps{DB: db, Actions: tools.NewActions(a.rdb, "watchtower:"), Zone: cfg.ReportTimezone, OnTime: cfg.ReportOnTime,
		OfflineAfter: cfg.OfflineAfter, DelayGrace: cfg.TripDelayAfter, Logger: logger}
	if cfg.LocoNavAPIToken != "" {
		client := loconav.NewClient(cfg.LocoNavAPIURL, cfg.LocoNavAPIToken, &http.Client{Timeout: time.Minute}, logger)
		a.poller = ingest.NewPoller(client, a.streams, logger)
		a.reg.MustRegister(client.Collectors()...)
		a.reg.MustRegister(a.poller.Collectors()...)
		deps.LocoNav = client
	}
	a.tools = tools.New(deps)
	if cfg.SheetsSpreadsheetID != "" {
		t := cfg.SheetsTabs
		reader, err := masterdata.NewSheetReader(ctx, cfg.SheetsSpreadsheetID, cfg.GoogleApplicationCredentials, cfg.SheetsAPIURL,
			masterdata.SheetTabs{Organizations: t[0], Locations: t[1], Trucks: t[2], Drivers: t[3], Users: t[4]}, logger)
		if err != nil {
			a.close()
			return nil, err
		}
		a.sheets = &masterdata.SheetSync{Reader: reader, DB: db, Logger: logger, Notices: a.notifier}
	}
	return a, nil
}

func (a *app) close() {
	if a.rdb != nil {
		a.rdb.Close()
	}
	a.db.Close()
}

// jobs is the table of scheduled work. Each job is safe to run on any
// replica at any time; the scheduler's lock only saves doing it twice.
func (a *app) jobs() []schedule.Job {
	jobs := []schedule.Job{
		{Name: "partitions", Every: 6 * time.Hour, Run: func(ctx context.Context) error {
			now := time.Now()
			if err := a.db.EnsurePositionPartitions(ctx, now.AddDate(0, 0, -1), now.AddDate(0, 0, 7)); err != nil {
				return err
			}
			dropped, err := a.db.DropPositionPartitionsBefore(ctx, now.AddDate(0, 0, -a.cfg.PositionRetentionDays))
			if len(dropped) > 0 {
				a.logger.Info("position partitions dropped", "partitions", dropped)
			}
			return err
		}},
		{Name: "offline-trucks", Every: time.Minute, Run: func(ctx context.Context) error {
			alerts, err := a.db.DetectOfflineTrucks(ctx, time.Now(), a.cfg.OfflineAfter)
			a.notifier.Publish(ctx, alerts)
			return err
		}},
		{Name: "alert-outbox", Every: 30 * time.Second, Run: a.notifier.Sweep},
		// Time moves trips too: a departure that does not come, an offload
		// dwell that passes, an ETA that slips while a tracker is silent.
		{Name: "follow-trips", Every: time.Minute, Run: func(ctx context.Context) error {
			evs, err := a.db.FollowTrips(ctx, nil, time.Now(), a.follow)
			a.notifier.PublishTripEvents(ctx, evs)
			if len(evs) > 0 {
				a.logger.Info("trips moved", "events", len(evs))
			}
			return err
		}},
		{Name: "expire-actions", Every: time.Minute, Run: func(ctx context.Context) error {
			n, err := a.tools.ExpireActions(ctx)
			if n > 0 {
				a.logger.Info("pending actions expired", "count", n)
			}
			return err
		}},
	}
	// The 06:00 report, and on Mondays the week's: yesterday's, computed and
	// posted (or updated).
	jobs = append(jobs, a.reportJob("daily-report", a.cfg.ReportCron, a.tools.DailyReport),
		a.reportJob("weekly-report", a.cfg.ReportWeeklyCron, a.tools.WeeklyReport))
	if a.sheets != nil {
		jobs = append(jobs, schedule.Job{Name: "sheets-sync", Cron: a.cfg.SheetsSyncCron, Run: func(ctx context.Context) error {
			_, err := a.sheets.Run(ctx, "sheets-sync", false)
			return err
		}})
	}
	if a.poller != nil {
		jobs = append(jobs, schedule.Job{Name: "loconav-poll", Every: a.cfg.LocoNavPollInterval, Run: func(ctx context.Context) error {
			_, err := a.poller.PollOnce(ctx)
			return err
		}}, schedule.Job{Name: "loconav-trips", Every: time.Minute, Run: func(ctx context.Context) error {
			n, err := a.tools.PushTripsToLocoNav(ctx)
			if n > 0 {
				a.logger.Info("trips given to loconav", "count", n)
			}
			ended, changed, serr := a.tools.SyncTripsWithLocoNav(ctx)
			if ended+changed > 0 {
				a.logger.Info("trips in step with loconav", "ended", ended, "changed_there", changed)
			}
			return errors.Join(err, serr)
		}})
	}
	return jobs
}

// reportJob computes the report ending yesterday and, with Slack, posts it
// to SLACK_REPORT_CHANNEL (or updates its message).
func (a *app) reportJob(name, cron string, report func(context.Context, time.Time) (tools.Report, error)) schedule.Job {
	return schedule.Job{Name: name, Cron: cron, Run: func(ctx context.Context) error {
		rep, err := report(ctx, time.Now().In(a.cfg.ReportTimezone).AddDate(0, 0, -1))
		if err != nil || a.cfg.SlackBotToken == "" || a.cfg.SlackReportChannel == "" {
			return err
		}
		_, err = a.postReport(ctx, rep)
		return err
	}}
}

func runCmd(ctx context.Context, cfg *Config, logger *slog.Logger, migrate bool, simulate string, console *consoleOnRun) error {
	logger.Info("watchtower starting", "version", buildVersion())
	var feed []sim.Fix
	var simTrips []sim.Trip
	var places []store.Location
	if simulate != "" {
		var err error
		if feed, simTrips, places, err = simulatedDay(simulate); err != nil {
			return badInput(err)
		}
		if cfg.LocoNavWebhookToken == "" {
			// The demo posts to itself; a token of the run's own keeps the
			// webhook closed to anyone else.
			cfg.LocoNavWebhookToken = randomToken()
		}
		logger.Info("simulating the fleet", "fixes", len(feed), "places", len(places))
	}
	shutdownTracing, err := setupTracing(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(ctx); err != nil {
			logger.Warn("traces not flushed", "err", err)
		}
	}()
	a, err := newApp(ctx, cfg, logger, migrate)
	if err != nil {
		return err
	}
	defer a.close()
	if simTrips != nil {
		bookSimulatedTrips(ctx, a.db, simTrips, logger)
	}

	checks := []listener.Check{
		{Name: "postgres", Func: a.db.Ping},
		{Name: "schema", Func: func(ctx context.Context) error { _, err := a.db.CheckSchema(ctx); return err }},
		{Name: "redis", Func: func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() }},
	}
	slackBot := newSlack(a)
	if slackBot != nil {
		// Not ready while the socket is down and cannot come back.
		checks = append(checks, listener.Check{Name: "slack", Func: slackBot.Ready})
	}
	srv := listener.NewServer(cfg.HTTPAddr, logger, a.reg, checks...)
	hub := live.NewHub(a.rdb, live.Channel, logger)
	httpAPI, err := api.New(api.Config{Registry: a.tools, Assistant: a.assistant(), Keys: a.db, Redis: a.rdb, Prefix: "watchtower:",
		RatePerMinute: cfg.APIRateLimit, Live: hub, Logger: logger, Metrics: a.reg})
	if err != nil {
		return err
	}
	httpAPI.Register(srv.Mux)
	ingest.NewWebhook(ingest.WebhookConfig{Token: cfg.LocoNavWebhookToken, HMACSecret: cfg.LocoNavWebhookHMACSecret,
		AllowedCIDRs: cfg.LocoNavAllowedCIDRs}, a.parser, a.streams, logger, a.reg).Register(srv.Mux)
	if cfg.LocoNavWebhookToken == "" {
		logger.Warn("LOCONAV_WEBHOOK_TOKEN is not set: webhooks answer 503 until it is")
	}

	metrics := ingest.NewConsumerMetrics(a.reg)
	a.reg.MustRegister(ingest.NewStreamCollector(a.rdb, ingest.StreamEvents, ingest.StreamDead))
	var consumers []*ingest.Consumer
	for group, handle := range map[string]ingest.HandlerFunc{
		ingest.GroupArchive:    a.pipeline.Archive,
		ingest.GroupTelematics: a.pipeline.Telematics,
		ingest.GroupAlerts:     a.pipeline.Alerts,
	} {
		c := ingest.NewConsumer(a.rdb, ingest.ConsumerConfig{Group: group}, handle, logger, metrics)
		if err := c.Start(ctx); err != nil {
			return err
		}
		consumers = append(consumers, c)
	}
	sched, err := schedule.NewScheduler(a.rdb, a.jobs(), cfg.ReportTimezone, logger, a.reg)
	if err != nil {
		return err
	}
	sched.Start()

	if err := srv.Start(ctx); err != nil {
		return err
	}
	if sum, err := a.db.Summary(ctx); err == nil {
		logger.Info("fleet loaded", "trucks", sum.Trucks, "active_trucks", sum.ActiveTrucks,
			"locations", sum.Locations, "drivers", sum.Drivers, "organizations", sum.Organizations)
	}
	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	go func() {
		if err := hub.Run(ctx); err != nil {
			logger.Error("live streams stopped", "err", err)
		}
	}()
	go httpAPI.Run(ctx)
	var slackDone sync.WaitGroup
	var slackErr error
	if slackBot == nil {
		logger.Warn("slack not configured: running without the bot (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN)")
	} else {
		runSlack(ctx, slackBot, &slackDone, func(err error) { slackErr = err; stopAll() })
	}
	logger.Info("watchtower ready", "http_addr", srv.Addr())
	var feeding sync.WaitGroup
	if feed != nil {
		_, port, _ := net.SplitHostPort(srv.Addr())
		f := &sim.Feeder{URL: "http://127.0.0.1:" + port + "/webhooks/loconav/location", Token: cfg.LocoNavWebhookToken,
			Zone: cfg.LocoNavTimezone, Client: &http.Client{Timeout: 10 * time.Second}, Logger: logger}
		feeding.Go(func() { _ = f.Run(ctx, feed) })
	}
	if console != nil {
		// Quitting the console stops the service.
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		go func() {
			defer stop()
			if err := console.run(ctx, a); err != nil {
				logger.Error("console", "err", err)
			}
		}()
	}

	<-ctx.Done()
	feeding.Wait()
	slackDone.Wait()
	logger.Info("watchtower stopping")
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancelStop()
	// Reverse order of start: stop taking webhooks, then let the consumers
	// finish the batch in hand (what they do not finish stays pending in
	// the stream for the next start), then the jobs; the stores close last
	// (deferred above).
	if err := srv.Stop(stopCtx); err != nil {
		logger.Error("http server did not stop cleanly", "err", err)
	}
	for _, c := range consumers {
		if err := c.Stop(stopCtx); err != nil {
			logger.Error("consumer did not stop in time", "err", err)
		}
	}
	if err := sched.Stop(); err != nil {
		logger.Error("jobs did not stop cleanly", "err", err)
	}
	logger.Info("watchtower stopped")
	return slackErr
}

// simulatedDay simulates the fleet of a seed directory from six hours ago
// to a day from now, so that the demo has history and a fleet that keeps
// moving.
func simulatedDay(dir string) ([]sim.Fix, []sim.Trip, []store.Location, error) {
	fleet, err := masterdata.ReadFleetDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	trucks := make([]store.Truck, 0, len(fleet.Trucks))
	for _, r := range fleet.Trucks {
		if r.Value.Status == "" || r.Value.Status == store.TruckActive {
			trucks = append(trucks, r.Value)
		}
	}
	places := make([]store.Location, len(fleet.Locations))
	for i, r := range fleet.Locations {
		places[i] = r.Value
	}
	s, err := sim.New(sim.Config{Seed: uint64(time.Now().YearDay()), Start: time.Now().Add(-6 * time.Hour).Truncate(time.Second),
		Duration: 30 * time.Hour, FixInterval: 30 * time.Second, Trucks: trucks, Places: places})
	if err != nil {
		return nil, nil, nil, err
	}
	return s.Fixes(), s.Truth().Trips, places, nil
}

// bookSimulatedTrips books the simulator's legs as trips through the store
// path create_trip uses, so the demo has trips in every state. A trip a
// previous demo run booked is refused as overlapping, and left alone.
func bookSimulatedTrips(ctx context.Context, db *store.DB, trips []sim.Trip, logger *slog.Logger) {
	booked, skipped := 0, 0
	for _, t := range trips {
		_, err := db.CreateTrip(ctx, store.Trip{TruckNumber: t.TruckNumber, Pickup: t.Pickup, Delivery: t.Delivery,
			ScheduledDeparture: t.ScheduledDeparture, CreatedBy: "simulator"})
		switch {
		case err == nil:
			booked++
		case errors.Is(err, store.ErrConflict):
			skipped++
		default:
			logger.Warn("simulated trip not booked", "truck", t.TruckNumber, "err", err)
		}
	}
	logger.Info("simulated trips booked", "booked", booked, "already_booked", skipped)
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type window struct{ from, to time.Time }

// parseWindow reads replay's --from and --to: RFC 3339, or a date (the
// day's start in zone).
func parseWindow(from, to string, zone *time.Location) (window, error) {
	parse := func(flag, v string, def time.Time) (time.Time, error) {
		if v == "" {
			return def, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		if t, err := time.ParseInLocation(time.DateOnly, v, zone); err == nil {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("--%s %q is not RFC 3339 or YYYY-MM-DD", flag, v)
	}
	var w window
	var err error
	if w.from, err = parse("from", from, time.Unix(0, 0)); err != nil {
		return w, err
	}
	if w.to, err = parse("to", to, time.Now()); err != nil {
		return w, err
	}
	if !w.from.Before(w.to) {
		return w, fmt.Errorf("--from %s is not before --to %s", w.from.Format(time.RFC3339), w.to.Format(time.RFC3339))
	}
	return w, nil
}

// replayCmd feeds archived raw events back through the telematics and
// alerts handlers. Everything they do is idempotent, so a replay over
// events already processed changes nothing, and one after a fix to the
// parser or the rules brings the store up to date.
func replayCmd(ctx context.Context, cfg *Config, logger *slog.Logger, w window, stdout io.Writer) error {
	a, err := newApp(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer a.close()
	var after int64
	total := 0
	for {
		evs, err := a.db.RawEvents(ctx, w.from, w.to, after, 1000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			break
		}
		msgs := make([]ingest.Message, len(evs))
		for i, e := range evs {
			msgs[i] = ingest.Message{ID: e.StreamID, Family: e.Family, Source: e.Source, ReceivedAt: e.ReceivedAt, Body: e.Body}
		}
		if err := a.pipeline.Telematics(ctx, msgs); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if err := a.pipeline.Alerts(ctx, msgs); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		after = evs[len(evs)-1].ID
		total += len(evs)
	}
	fmt.Fprintf(stdout, "replayed %d events received from %s to %s\n", total, w.from.Format(time.RFC3339), w.to.Format(time.RFC3339))
	return nil
}

func jobCmd(ctx context.Context, cfg *Config, logger *slog.Logger, name string) error {
	a, err := newApp(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer a.close()
	if err := schedule.RunOnce(ctx, a.jobs(), name); err != nil {
		if _, unknown := errors.AsType[*schedule.UnknownJobError](err); unknown {
			return badInput(err)
		}
		return err
	}
	logger.Info("job done", "job", name)
	return nil
}
