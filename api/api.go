// Package api is Watch Tower's HTTP API for the fleet's other systems: a
// client portal, the finance sheet, the control room's wallboard. It is a
// fourth face of the tool registry, beside Slack, the model and the
// console: every endpoint calls a tool, with the tool's validation and its
// forgiving names, so /trucks/t-11985-la finds T11985LA.
//
// Programs authenticate with API keys (Authorization: Bearer), created by
// an admin with `watchtower apikey create`. A key has one of the bot's
// roles. A viewer key reads; a dispatcher key writes trips directly, since
// a program is deliberate, and every write is audited with the key's name.
// Each key has a rate limit kept in Redis, shared by replicas. Errors are
// RFC 9457 problem details whose reference is the request's trace id.
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/live"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

// Version is the API's version, in its paths and its document.
const Version = "1.0.0"

// Config is what the API is built from.
type Config struct {
	Registry *tools.Registry
	// Assistant answers /ai/query; nil answers 503.
	Assistant *tools.Assistant
	Keys      KeyStore
	// Redis keeps the rate limits and carries revocations; nil turns both
	// off (tests of one replica).
	Redis  redis.UniversalClient
	Prefix string // Redis key prefix, "watchtower:"
	// RatePerMinute is each key's budget (API_RATE_LIMIT); 0 is no limit.
	RatePerMinute int
	RateBurst     int
	// Live feeds the streams; nil answers 503.
	Live *live.Hub
	// Heartbeat is how often an idle stream is pinged (15 s).
	Heartbeat time.Duration
	// Timeout bounds one tool call (10 s).
	Timeout time.Duration
	// CacheTTL is how long a read's answer is reused (1 s); negative
	// turns the cache off.
	CacheTTL time.Duration
	// Metrics registers the API's per-key request counter; nil keeps it
	// unregistered.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// API serves /api/v1.
type API struct {
	cfg     Config
	reg     *tools.Registry
	keys    *keys
	limit   *limiter
	routes  []*route
	paths   *http.ServeMux // path patterns without methods, to tell 405 from 404
	logger  *slog.Logger
	allowed map[string][]string // path pattern → methods
	served  []string            // every pattern registered, for the document test
	cache   *readCache
	// requests counts each key's requests by answer: who uses the API, how
	// much, and how often it is refused.
	requests *prometheus.CounterVec
}

// route is one endpoint.
type route struct {
	method, pattern string
	summary         string
	tag             string
	toolName        string
	tool            *tools.Tool
	// path maps path parameters to tool arguments ("number" → "truck").
	path map[string]string
	// fixed are arguments the route sets; omit are the tool's arguments the
	// route does not take.
	fixed map[string]any
	omit  []string
	body  bool // arguments come from a JSON body
	// handler serves a route that is not one tool call.
	handler http.HandlerFunc
	public  bool // no key needed
	// stream routes also take the key as ?access_token=, since browsers'
	// EventSource and WebSocket cannot send headers.
	stream bool
	// doc describes a custom route for the document; describe replaces a
	// tool's description where the API does differently (writes run at
	// once).
	doc      *opDoc
	describe string
}

// New builds the API.
func New(cfg Config) (*API, error) {
	if cfg.Registry == nil || cfg.Keys == nil {
		return nil, fmt.Errorf("api: a registry and a key store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = time.Second
	}
	a := &API{cfg: cfg, reg: cfg.Registry, logger: cfg.Logger, paths: http.NewServeMux(), allowed: map[string][]string{},
		keys: newKeys(cfg.Keys, cfg.Redis, cfg.Prefix, cfg.Logger), limit: newLimiter(cfg.Redis, cfg.Prefix, cfg.RatePerMinute, cfg.RateBurst),
		cache: newReadCache(cfg.CacheTTL),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchtower_api_requests_total",
			Help: "API requests by key and status code (key \"-\" when there was no valid key)."}, []string{"key", "code"})}
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(a.requests); err != nil {
			return nil, fmt.Errorf("api: metrics: %w", err)
		}
	}
	for _, rt := range a.table() {
		if rt.toolName != "" {
			t, ok := cfg.Registry.Lookup(rt.toolName)
			if !ok {
				return nil, fmt.Errorf("api: %s %s: no tool %q", rt.method, rt.pattern, rt.toolName)
			}
			rt.tool = t
			if rt.fixed == nil {
				rt.fixed = map[string]any{}
			}
			for _, o := range rt.omit {
				rt.fixed[o] = nil
			}
		}
		a.routes = append(a.routes, rt)
	}
	return a, nil
}

// Run keeps the API's background work going until ctx ends: forgetting
// revoked keys as they are revoked. It returns once that has stopped.
func (a *API) Run(ctx context.Context) error {
	a.keys.watchRevocations(ctx)
	return nil
}

// table is every endpoint. The document is generated from it and from the
// tools' argument structs, so the two cannot drift apart.
func (a *API) table() []*route {
	truck := map[string]string{"number": "truck"}
	trip := map[string]string{"id": "trip"}
	return []*route{
		{method: "GET", pattern: "/api/v1/trucks", tag: "Trucks", summary: "List the fleet's trucks", toolName: "list_trucks"},
		{method: "GET", pattern: "/api/v1/trucks/near", tag: "Trucks", summary: "Trucks near a point or a place", toolName: "trucks_near"},
		{method: "GET", pattern: "/api/v1/trucks/{number}", tag: "Trucks", summary: "One truck's record", toolName: "truck_details", path: truck},
		{method: "GET", pattern: "/api/v1/trucks/{number}/location", tag: "Trucks", summary: "Where a truck is now", toolName: "truck_location", path: truck},
		{method: "GET", pattern: "/api/v1/trucks/{number}/history", tag: "Trucks", summary: "What a truck did over a period", toolName: "truck_history", path: truck},
		{method: "GET", pattern: "/api/v1/trucks/{number}/driver", tag: "Trucks", summary: "A truck's driver", toolName: "driver_for", path: truck, omit: []string{"driver"}},
		{method: "GET", pattern: "/api/v1/fleet/status", tag: "Trucks", summary: "The fleet at a glance", toolName: "fleet_status"},
		{method: "GET", pattern: "/api/v1/trips", tag: "Trips", summary: "List trips", toolName: "list_trips"},
		{method: "POST", pattern: "/api/v1/trips", tag: "Trips", summary: "Create a trip", toolName: "create_trip", body: true,
			describe: "Creates a trip at once. A program is deliberate, so there is no Confirm button, but the same checks run as for a person (the truck is active and free, both places are known, the time is not past, a driver is assigned), the trip goes to LocoNav as the bot's do, and the write is audited with the key's name. Needs a dispatcher or admin key."},
		{method: "GET", pattern: "/api/v1/trips/{id}", tag: "Trips", summary: "One trip", toolName: "trip_status", path: trip, omit: []string{"truck"}},
		{method: "GET", pattern: "/api/v1/trips/{id}/tracking", tag: "Trips", summary: "A trip's milestones and live link", toolName: "trip_tracking", path: trip, omit: []string{"truck"}},
		{method: "PUT", pattern: "/api/v1/trips/{id}/status", tag: "Trips", summary: "Change a trip's status", toolName: "update_trip_status", path: trip, body: true,
			describe: "Moves a trip's status at once (ongoing, delayed, completed, unsuccessful); only legal moves are accepted and a final trip cannot change. Audited with the key's name. Needs a dispatcher or admin key."},
		{method: "GET", pattern: "/api/v1/alerts", tag: "Trips", summary: "Alerts", toolName: "alerts"},
		{method: "GET", pattern: "/api/v1/analytics/daily", tag: "Analytics", summary: "The fleet's KPIs day by day", toolName: "fleet_metrics", fixed: map[string]any{"breakdown": "day"}},
		{method: "GET", pattern: "/api/v1/analytics/tat", tag: "Analytics", summary: "Turnaround times", toolName: "turnaround_times"},
		{method: "GET", pattern: "/api/v1/analytics/utilization", tag: "Analytics", summary: "Utilisation by truck", toolName: "fleet_metrics", fixed: map[string]any{"breakdown": "truck"}},
		{method: "POST", pattern: "/api/v1/ai/query", tag: "Assistant", summary: "Ask in plain words", handler: a.aiQuery, doc: aiQueryDoc},
		{method: "POST", pattern: "/api/v1/actions/{id}/confirm", tag: "Assistant", summary: "Confirm a pending action", handler: a.confirm, doc: confirmDoc},
		{method: "POST", pattern: "/api/v1/actions/{id}/cancel", tag: "Assistant", summary: "Cancel a pending action", handler: a.cancel, doc: cancelDoc},
		{method: "GET", pattern: "/api/v1/stream/trucks", tag: "Streams", summary: "Live positions and alerts of trucks", handler: a.stream(a.trucksNamed, a.serveSSE, "numbers"), stream: true, doc: streamTrucksDoc},
		{method: "GET", pattern: "/api/v1/stream/trips/{id}", tag: "Streams", summary: "A trip's live milestones, positions and alerts", handler: a.stream(a.tripInPath, a.serveSSE), stream: true, doc: streamTripDoc},
		{method: "GET", pattern: "/ws/trucks/{id}/location", tag: "Streams", summary: "One truck's live positions (WebSocket)", handler: a.stream(a.truckInPath, a.serveWS), stream: true, doc: wsTruckDoc},
		{method: "GET", pattern: "/ws/trips/{id}/status", tag: "Streams", summary: "A trip's live events (WebSocket)", handler: a.stream(a.tripInPath, a.serveWS), stream: true, doc: wsTripDoc},
		{method: "GET", pattern: "/api/v1/openapi.json", tag: "Meta", summary: "This API's OpenAPI 3.1 document", handler: a.openapi, public: true, doc: openapiDoc},
		{method: "GET", pattern: "/api/v1/docs", tag: "Meta", summary: "This API's documentation page", handler: a.docs, public: true, doc: docsDoc},
	}
}

// Register adds every endpoint to mux, and problem answers for anything
// else under /api/v1.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.routes {
		h := rt.handler
		if h == nil {
			h = a.toolHandler(rt)
		}
		pattern := rt.method + " " + rt.pattern
		mux.Handle(pattern, a.middleware(rt, h))
		a.served = append(a.served, pattern)
		if _, seen := a.allowed[rt.pattern]; !seen {
			a.paths.Handle(rt.pattern, http.NotFoundHandler())
		}
		a.allowed[rt.pattern] = append(a.allowed[rt.pattern], rt.method)
	}
	mux.Handle("/api/v1/", a.withID(http.HandlerFunc(a.notFound)))
}

// Served lists the patterns Register added, for tests.
func (a *API) Served() []string { return a.served }

// notFound answers a path no route has, or a method the path does not
// take.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	if _, pattern := a.paths.Handler(r); pattern != "" {
		methods := a.allowed[pattern]
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeProblem(w, newProblem(r, http.StatusMethodNotAllowed, "method", r.Method+" is not allowed here; use "+strings.Join(methods, " or ")))
		return
	}
	writeProblem(w, newProblem(r, http.StatusNotFound, "not-found", "no such endpoint; see /api/v1/docs"))
}

// callerKey carries the caller in a request's context.
type callerKey struct{}

func callerOf(r *http.Request) tools.Caller {
	c, _ := r.Context().Value(callerKey{}).(tools.Caller)
	return c
}

// middleware gives every request an id, a key check, the rate limit and a
// body cap, in that order.
func (a *API) middleware(rt *route, h http.HandlerFunc) http.Handler {
	return a.withID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keyName := "-" // until a key is checked
		if !rt.public {
			// Counted last, after a panic's 500 is written.
			defer func() {
				code := http.StatusOK
				if rec, ok := w.(*statusRecorder); ok && rec.code != 0 {
					code = rec.code
				}
				a.requests.WithLabelValues(keyName, strconv.Itoa(code)).Inc()
			}()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.logger.ErrorContext(r.Context(), "api handler panicked", "route", rt.pattern, "panic", p, "request_id", requestID(r.Context()))
				writeProblem(w, newProblem(r, http.StatusInternalServerError, "internal", "Something went wrong on our side. Quote the reference to the fleet team."))
			}
		}()
		if rt.public {
			h(w, r)
			return
		}
		key, p := a.authenticate(r, rt.stream)
		if p != nil {
			if p.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="watchtower", error="invalid_token"`)
			}
			writeProblem(w, p)
			return
		}
		keyName = key.Name
		if p := a.rateLimit(w, r, key); p != nil {
			writeProblem(w, p)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		}
		c := tools.Caller{ID: "apikey:" + key.Name, Name: key.Name, Role: key.Role, CorrelationID: requestID(r.Context()), Program: true}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	}))
}

// authenticate finds the request's key: 401 for none, an unknown one or a
// revoked one; 503 when the store cannot say.
func (a *API) authenticate(r *http.Request, stream bool) (store.APIKey, *Problem) {
	h := r.Header.Get("Authorization")
	if h == "" && stream && r.URL.Query().Get("access_token") != "" {
		h = "Bearer " + r.URL.Query().Get("access_token")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return store.APIKey{}, newProblem(r, http.StatusUnauthorized, "unauthorized", "send an API key as Authorization: Bearer <key>")
	}
	key, err := a.keys.lookup(r.Context(), strings.TrimSpace(secret))
	switch {
	case err == errNoKey:
		return store.APIKey{}, newProblem(r, http.StatusUnauthorized, "unauthorized", "the API key is unknown or revoked")
	case err != nil:
		a.logger.ErrorContext(r.Context(), "api key lookup failed", "err", err, "request_id", requestID(r.Context()))
		return store.APIKey{}, newProblem(r, http.StatusServiceUnavailable, "unavailable", "keys cannot be checked right now; try again shortly")
	}
	return key, nil
}

// rateLimit spends one request of the key's budget. Without Redis the
// limit is not enforced rather than refusing everyone: it is logged.
func (a *API) rateLimit(w http.ResponseWriter, r *http.Request, key store.APIKey) *Problem {
	if a.limit == nil {
		return nil
	}
	res, err := a.limit.allow(r.Context(), key.Name)
	if err != nil {
		a.logger.WarnContext(r.Context(), "rate limit not checked", "key", key.Name, "err", err)
		return nil
	}
	w.Header().Set("RateLimit-Limit", strconv.Itoa(res.Limit.Rate))
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(res.Remaining))
	if res.Allowed > 0 {
		return nil
	}
	retry := max(int(res.RetryAfter.Round(time.Second)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	return newProblem(r, http.StatusTooManyRequests, "rate-limited",
		fmt.Sprintf("key %q may make %d requests a minute; retry in %d s", key.Name, res.Limit.Rate, retry))
}

// toolHandler serves a route that is one tool call.
func (a *API) toolHandler(rt *route) http.HandlerFunc {
	rename := map[string]string{}
	for p, arg := range rt.path {
		rename[arg] = p
	}
	return func(w http.ResponseWriter, r *http.Request) {
		raw, p := rt.argsFromRequest(r)
		if p != nil {
			writeProblem(w, p)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
		defer cancel()
		c := callerOf(r)
		if rt.tool.Write {
			a.idempotent(w, r, raw, func() (int, []byte, string) { return a.write(ctx, r, rt, c, raw, rename) })
			return
		}
		out, body := a.cache.get(ctx, rt.pattern+"\x00"+c.Role+"\x00"+string(raw), func(ctx context.Context) tools.Outcome {
			// Shared by whoever asks meanwhile: one client leaving must
			// not fail the others.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Timeout)
			defer cancel()
			return a.reg.Invoke(ctx, c, rt.toolName, raw)
		})
		if out.Err != nil {
			writeProblem(w, toolProblem(r, out.Err, out.Message(), rename))
			return
		}
		if m, ok := out.Result.Data.(map[string]any); ok {
			if next, ok := m["next_cursor"].(string); ok {
				q := r.URL.Query()
				q.Set("cursor", next)
				w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
			}
		}
		if body == nil {
			writeProblem(w, newProblem(r, http.StatusInternalServerError, "internal", "the answer could not be encoded"))
			return
		}
		a.answer(w, http.StatusOK, body, "")
	}
}

// write runs a write tool at once for a key, and gives the answer to send:
// its status, body and Location.
func (a *API) write(ctx context.Context, r *http.Request, rt *route, c tools.Caller, raw []byte, rename map[string]string) (int, []byte, string) {
	out := a.reg.Execute(ctx, c, rt.toolName, raw)
	if out.Err != nil {
		p := toolProblem(r, out.Err, out.Message(), rename)
		b, _ := json.Marshal(p)
		return p.Status, append(b, '\n'), ""
	}
	a.cache.drop()
	a.logger.InfoContext(r.Context(), "api write", "tool", rt.toolName, "key", c.Name, "request_id", c.CorrelationID)
	body := encode(out)
	if body == nil {
		p := newProblem(r, http.StatusInternalServerError, "internal", "the answer could not be encoded")
		b, _ := json.Marshal(p)
		return p.Status, b, ""
	}
	status, loc := http.StatusOK, ""
	if rt.method == "POST" {
		status = http.StatusCreated
		if m, ok := out.Result.Data.(map[string]any); ok {
			if id, ok := m["trip_id"].(string); ok {
				loc = "/api/v1/trips/" + url.PathEscape(id)
			}
		}
	}
	return status, body, loc
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
