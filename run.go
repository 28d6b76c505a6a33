package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/watchtower-fleet/watchtower/api"
	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/listener"
	"github.com/watchtower-fleet/watchtower/live"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/schedule"
	"github.com/watchtower-fleet/watchtower/sim"
)

// prepareRun opens the console when `run` is on a terminal without Slack;
// the logs then go to a file, so they do not write over what people type.
func prepareRun(inv *invocation) error {
	if inv.flags.noConsole || inv.cfg.SlackBotToken != "" || consoleStdin == nil || !isTerminal(consoleStdin) {
		return nil
	}
	logPath := filepath.Join(os.TempDir(), "watchtower.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	inv.closers = append(inv.closers, f.Close)
	fmt.Fprintf(inv.stderr, "watchtower: logs go to %s while the console is open\n", logPath)
	inv.stderr = f
	inv.console = &consoleOnRun{in: consoleStdin, out: inv.stdout}
	return nil
}

// runCmd is `watchtower run`: the bot, the webhook listener, the consumers
// and the jobs, run until ctx ends (or the console quits, or a part fails)
// and then stopped in order.
func runCmd(ctx context.Context, inv *invocation) error {
	cfg, logger := inv.cfg, inv.logger
	logger.Info("watchtower starting", "version", buildVersion())
	var demo *sim.Demo
	if dir := inv.flags.simulate; dir != "" {
		fleet, err := masterdata.ReadFleetDir(dir)
		if err != nil {
			return badInput(err)
		}
		if demo, err = sim.NewDemo(fleet, time.Now()); err != nil {
			return badInput(err)
		}
		if cfg.LocoNavWebhookToken == "" {
			// The demo posts to itself; a token of the run's own keeps the
			// webhook closed to anyone else.
			cfg.LocoNavWebhookToken = randomToken()
		}
		logger.Info("simulating the fleet", "fixes", len(demo.Fixes), "places", len(demo.Places))
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
	a, err := newApp(ctx, cfg, logger, inv.flags.migrate)
	if err != nil {
		return err
	}
	defer a.close() // the stores close last, after every part has stopped
	if demo != nil {
		demo.BookTrips(ctx, a.db, logger)
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
	srv.ShutdownTimeout = shutdownTimeout
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
	consumers := stage{name: "consumers"}
	for group, handle := range map[string]ingest.HandlerFunc{
		ingest.GroupArchive:    a.pipeline.Archive,
		ingest.GroupTelematics: a.pipeline.Telematics,
		ingest.GroupAlerts:     a.pipeline.Alerts,
	} {
		consumers.parts = append(consumers.parts, ingest.NewConsumer(a.rdb, ingest.ConsumerConfig{Group: group}, handle, logger, metrics).Run)
	}
	sched, err := schedule.NewScheduler(a.rdb, a.jobs(), cfg.ReportTimezone, logger, a.reg)
	if err != nil {
		return err
	}
	// Bound before anything runs: a taken port fails the start.
	if err := srv.Listen(); err != nil {
		return err
	}
	if sum, err := a.db.Summary(ctx); err == nil {
		logger.Info("fleet loaded", "trucks", sum.Trucks, "active_trucks", sum.ActiveTrucks,
			"locations", sum.Locations, "drivers", sum.Drivers, "organizations", sum.Organizations)
	}

	ctx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	front := stage{name: "live streams, Slack, simulator and console", parts: []func(context.Context) error{
		logged(logger, "live streams stopped", hub.Run),
		httpAPI.Run,
	}}
	if slackBot == nil {
		logger.Warn("slack not configured: running without the bot (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN)")
	} else {
		// A refused token stops the process: it cannot do its job.
		front.parts = append(front.parts, slackBot.Run)
	}
	if demo != nil {
		_, port, _ := net.SplitHostPort(srv.Addr())
		f := &sim.Feeder{URL: "http://127.0.0.1:" + port + "/webhooks/loconav/location", Token: cfg.LocoNavWebhookToken,
			Zone: cfg.LocoNavTimezone, Client: &http.Client{Timeout: 10 * time.Second}, Logger: logger}
		front.parts = append(front.parts, func(ctx context.Context) error { _ = f.Run(ctx, demo.Fixes); return nil })
	}
	if c := inv.console; c != nil {
		front.parts = append(front.parts, func(ctx context.Context) error {
			defer stopRun() // quitting the console stops the service
			if err := c.run(ctx, a); err != nil {
				logger.Error("console", "err", err)
			}
			return nil
		})
	}
	logger.Info("watchtower ready", "http_addr", srv.Addr())
	// Stopped in this order: what makes requests, then the listener (no
	// more webhooks), then the consumers finish the batch in hand (what
	// they do not finish stays pending in the stream for the next start),
	// then the jobs.
	err = runStages(ctx, shutdownTimeout, logger, front,
		stage{name: "http server", parts: []func(context.Context) error{logged(logger, "http server did not stop cleanly", srv.Run)}},
		consumers,
		stage{name: "jobs", parts: []func(context.Context) error{logged(logger, "jobs did not stop cleanly", sched.Run)}})
	logger.Info("watchtower stopped")
	return err
}

// stage is parts of the service that run together and stop together.
type stage struct {
	name  string
	parts []func(ctx context.Context) error
}

// runStages runs every part of every stage until ctx ends or a part
// fails (starting the last stage first), then stops the stages one after another in order, each waited for
// before the next is stopped, all within timeout: a stage still running
// when the time is up is logged and left behind, as the process is about
// to exit. It returns the parts' errors.
func runStages(ctx context.Context, timeout time.Duration, logger *slog.Logger, stages ...stage) error {
	ctx, fail := context.WithCancel(ctx)
	defer fail()
	groups := make([]*errgroup.Group, len(stages))
	stops := make([]context.CancelFunc, len(stages))
	// Started in the reverse order of stopping: the jobs and the consumers
	// are going before the listener takes the first webhook.
	for i := len(stages) - 1; i >= 0; i-- {
		s := stages[i]
		// A stage's parts see its own context, not ctx: ctx's end starts
		// the stop, the stage's ends when its turn comes.
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		groups[i], stops[i] = new(errgroup.Group), stop
		for _, run := range s.parts {
			groups[i].Go(func() error {
				err := run(sctx)
				if err != nil {
					fail() // a failed part stops the service
				}
				return err
			})
		}
	}
	<-ctx.Done()
	logger.Info("watchtower stopping")
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var errs []error
	for i, g := range groups {
		stops[i]()
		stopped := make(chan error, 1)
		go func() { stopped <- g.Wait() }()
		select {
		case err := <-stopped:
			errs = append(errs, err)
		case <-stopCtx.Done():
			logger.Error("did not stop in time", "part", stages[i].name, "timeout", timeout)
		}
	}
	return errors.Join(errs...)
}

// logged runs a part whose failure is logged, not fatal to the service.
func logged(logger *slog.Logger, msg string, run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := run(ctx); err != nil {
			logger.Error(msg, "err", err)
		}
		return nil
	}
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
