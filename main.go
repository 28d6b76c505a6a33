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
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
	_ "time/tzdata" // Africa/Lagos must resolve on a bare container too

	"github.com/lmittmann/tint"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/live"
	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/schedule"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// shutdownTimeout is how long everything together may take to stop after
// SIGTERM before the process gives up waiting.
const shutdownTimeout = 10 * time.Second

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
