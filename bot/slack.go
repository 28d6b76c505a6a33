package bot

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/tools"
)

// SlackConfig configures the Socket Mode adapter.
type SlackConfig struct {
	BotToken string // xoxb-
	AppToken string // xapp-
	// APIURL is the Web API base ("https://slack.com/api/"; a fake's in
	// tests).
	APIURL string
	// AlertChannel gets the ingestion's alerts ("" posts none), read from
	// NotifyStream ("watchtower:notifications").
	AlertChannel, NotifyStream string
	// Workers answer envelopes (16); Queue is how many acked envelopes may
	// wait for one (1024).
	Workers, Queue int
	// DedupeTTL is how long an event id is remembered (1 hour; Slack
	// retries for about 6 minutes).
	DedupeTTL time.Duration
	// ReadyGrace is how long the socket may be down, reconnecting, before
	// Ready fails (5 s).
	ReadyGrace time.Duration
	// Prefix starts every Redis key ("watchtower:").
	Prefix string
	// PingInterval is how long slack-go waits for Slack's ping before it
	// reconnects (30 s).
	PingInterval time.Duration
	// Admins get the sheet sync's notices in a DM, besides the users whose
	// role is admin (WATCHTOWER_ADMINS).
	Admins []string
	// Zone is the fleet's time zone, for times people read.
	Zone       *time.Location
	HTTPClient *http.Client
}

// Slack is the bot on Slack: Socket Mode events, /fleet, buttons and the
// alert channel. Every piece of state is in Redis, so up to ten replicas
// may hold sockets for one app and any of them may answer any event.
type Slack struct {
	cfg    SlackConfig
	api    *slack.Client
	sm     *socketmode.Client
	router *Router
	roles  *tools.Roles
	rdb    redis.UniversalClient
	logger *slog.Logger
	http   *http.Client

	botUserID, botID string
	jobs             chan socketmode.Event

	connected atomic.Bool
	downSince atomic.Int64 // unix nanos; 0 while connected
	worked    atomic.Int64 // envelopes worked, answered or dropped
}

// NewSlack builds the adapter; Run connects it.
func NewSlack(cfg SlackConfig, router *Router, roles *tools.Roles, rdb redis.UniversalClient, logger *slog.Logger) *Slack {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.DedupeTTL < 10*time.Minute {
		cfg.DedupeTTL = time.Hour
	}
	if cfg.ReadyGrace <= 0 {
		cfg.ReadyGrace = 5 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "watchtower:"
	}
	if cfg.NotifyStream == "" {
		cfg.NotifyStream = notify.Stream
	}
	if cfg.Zone == nil {
		cfg.Zone = time.UTC
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	opts := []slack.Option{slack.OptionAppLevelToken(cfg.AppToken), slack.OptionHTTPClient(cfg.HTTPClient)}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	api := slack.New(cfg.BotToken, opts...)
	var smOpts []socketmode.Option
	if cfg.PingInterval > 0 {
		smOpts = append(smOpts, socketmode.OptionPingInterval(cfg.PingInterval))
	}
	s := &Slack{cfg: cfg, api: api, sm: socketmode.New(api, smOpts...), router: router, roles: roles, rdb: rdb,
		logger: logger.With("component", "slack"), http: cfg.HTTPClient, jobs: make(chan socketmode.Event, cfg.Queue)}
	s.downSince.Store(time.Now().UnixNano())
	return s
}

// API is the Web API client the adapter posts with.
func (s *Slack) API() *slack.Client { return s.api }

// Ready reports the socket: an error once it has been down for longer
// than the grace period, which a reconnect that works at once never is.
func (s *Slack) Ready(context.Context) error {
	if s.connected.Load() {
		return nil
	}
	down := time.Duration(time.Now().UnixNano() - s.downSince.Load())
	if down > s.cfg.ReadyGrace {
		return fmt.Errorf("slack: socket down for %s", down.Round(time.Second))
	}
	return nil
}

func (s *Slack) markDown() {
	if s.connected.Swap(false) {
		s.downSince.Store(time.Now().UnixNano())
	}
}

func (s *Slack) markUp() {
	s.connected.Store(true)
}

// Run identifies the bot, starts the workers and holds the socket until
// ctx ends, reconnecting whenever it drops. It returns an error only when
// the tokens are refused at the start.
func (s *Slack) Run(ctx context.Context) error {
	auth, err := s.api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("slack: the bot token was refused (auth.test: %w)", err)
	}
	s.botUserID, s.botID = auth.UserID, auth.BotID
	s.logger.Info("slack bot identified", "user_id", s.botUserID, "team", auth.Team)

	var workers sync.WaitGroup
	for range s.cfg.Workers {
		workers.Go(func() {
			for evt := range s.jobs {
				s.work(ctx, evt)
			}
		})
	}
	var side sync.WaitGroup
	// The notifications stream carries the admins' notices as well as the
	// alerts, so it is read even without an alert channel.
	side.Go(func() { s.postAlerts(ctx) })
	if s.cfg.AlertChannel != "" {
		side.Go(func() { s.postTripEvents(ctx) })
	}
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		s.holdSocket(ctx)
	}()
	s.dispatch(ctx, runDone)
	close(s.jobs)
	workers.Wait()
	side.Wait()
	return nil
}

// holdSocket runs slack-go's socket loop, which reconnects after
// disconnect requests and dropped sockets by itself, and starts it again
// when it gives up (an auth failure during an outage, say).
func (s *Slack) holdSocket(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := s.sm.RunContext(ctx)
		s.markDown()
		if ctx.Err() != nil {
			return
		}
		s.logger.Error("slack socket stopped; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// dispatch reads the socket's events: connection changes update the
// readiness, and every envelope is acked at once and queued for a worker.
func (s *Slack) dispatch(ctx context.Context, runDone <-chan struct{}) {
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case <-runDone:
			return
		case evt = <-s.sm.Events:
		}
		switch evt.Type {
		case socketmode.EventTypeConnecting, socketmode.EventTypeConnectionError:
			s.markDown()
			if evt.Type == socketmode.EventTypeConnectionError {
				s.logger.Warn("slack connection failed", "detail", fmt.Sprint(evt.Data))
			}
		case socketmode.EventTypeInvalidAuth:
			s.markDown()
			s.logger.Error("slack refused the app token (SLACK_APP_TOKEN)")
		case socketmode.EventTypeConnected, socketmode.EventTypeHello:
			if !s.connected.Load() {
				s.logger.Info("slack connected")
			}
			s.markUp()
		case socketmode.EventTypeIncomingError:
			s.markDown()
		case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
			if evt.Request == nil {
				continue
			}
			if err := s.sm.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
				s.logger.Warn("slack ack failed", "envelope_id", evt.Request.EnvelopeID, "err", err)
			}
			select {
			case s.jobs <- evt:
			default:
				// Acked already; waiting here only delays the envelopes
				// behind it, which the queue's size makes rare.
				s.logger.Warn("slack worker queue full", "queue", cap(s.jobs))
				select {
				case s.jobs <- evt:
				case <-ctx.Done():
					return
				}
			}
		case socketmode.EventTypeErrorBadMessage:
			s.logger.Warn("slack sent a message the client could not read", "detail", fmt.Sprint(evt.Data))
		}
	}
}

// Worked is how many envelopes this replica has finished with, answered
// or dropped (a duplicate, the bot's own message). Once every envelope
// sent is worked, nothing more will be answered: tests wait on it instead
// of waiting a while for an answer that must not come.
func (s *Slack) Worked() int64 { return s.worked.Load() }

// tracerName names the Slack adapter's spans.
const tracerName = "github.com/watchtower-fleet/watchtower/bot"

// work answers one envelope. A panic is logged with a reference, never
// taken down the process.
func (s *Slack) work(ctx context.Context, evt socketmode.Event) {
	defer s.worked.Add(1)
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("slack handler panicked", "panic", fmt.Sprint(p), "type", evt.Type)
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	// One trace per envelope: the event, the tool loop, each tool, the
	// model. Its id is the correlation id the audit log and the logs carry.
	ctx, span := otel.Tracer(tracerName).Start(ctx, "slack "+string(evt.Type), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "slack")))
	defer span.End()
	if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
		span.SetAttributes(attribute.String("slack.event_type", ev.InnerEvent.Type))
		if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok {
			span.SetAttributes(attribute.String("slack.event_id", cb.EventID))
		}
	}
	switch evt.Type {
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return
		}
		s.onEvent(ctx, ev, evt.Request.RetryAttempt)
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			return
		}
		s.onSlash(ctx, cmd)
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			return
		}
		s.onInteraction(ctx, cb)
	}
}

// firstTime claims a key for this delivery: false when any replica saw it
// within the TTL. A Redis failure lets the event through: a rare double
// answer beats silence.
func (s *Slack) firstTime(ctx context.Context, key string) bool {
	ok, err := s.rdb.SetNX(ctx, s.cfg.Prefix+"slack:seen:"+key, 1, s.cfg.DedupeTTL).Result()
	if err != nil {
		s.logger.Warn("slack dedupe unavailable", "key", key, "err", err)
		return true
	}
	return ok
}

// errRef is the sentence people see when something broke, with a
// reference that is also logged.
func (s *Slack) errRef(ctx context.Context, what string, err error) string {
	ref := tools.Ref(err)
	s.logger.ErrorContext(ctx, what, "err", err, "ref", ref)
	return "Something went wrong on our side (ref " + ref + ")."
}
