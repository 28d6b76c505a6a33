// Package listener is the embedded HTTP listener: the liveness and
// readiness probes, Prometheus metrics, and the mux that the LocoNav
// webhook and the HTTP API register their routes on.
package listener

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition: Postgres answers, the schema is current,
// Redis answers.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Server is the embedded HTTP listener: LocoNav webhooks, health, readiness
// and Prometheus metrics.
type Server struct {
	Mux *http.ServeMux // routes are added before Start or Run

	// ShutdownTimeout is how long Run waits for requests in flight once
	// its context ends; 10 s when zero.
	ShutdownTimeout time.Duration

	addr     string
	logger   *slog.Logger
	checks   []Check
	srv      *http.Server
	ln       net.Listener
	stopOnce sync.Once

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// readyTimeout bounds one /readyz: a load balancer polling it must get an
// answer even when a dependency hangs.
const readyTimeout = 2 * time.Second

// NewServer returns a listener on addr that serves /healthz, /readyz (running
// checks) and /metrics (from reg).
func NewServer(addr string, logger *slog.Logger, reg *prometheus.Registry, checks ...Check) *Server {
	s := &Server{
		Mux:    http.NewServeMux(),
		addr:   addr,
		logger: logger,
		checks: checks,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "watchtower_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"route"}),
	}
	reg.MustRegister(s.requests, s.duration)
	s.Mux.HandleFunc("GET /healthz", s.healthz)
	s.Mux.HandleFunc("GET /readyz", s.readyz)
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s
}

// Handler is the server's handler with request metrics, for tests.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		s.Mux.ServeHTTP(sw, r)
		route := r.Pattern // set by the mux; empty when nothing matched
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		s.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// Listen binds the address, so that a taken port is an error here, not a
// log line, and Addr is known before serving starts. Run and Start call it
// when it has not been called.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listener: listen on %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Run serves until ctx ends, then stops accepting requests and waits for
// those in flight (for ShutdownTimeout at most). It returns once the
// server has stopped; an error is a failure to listen or serve, or
// requests still in flight when the time was up.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	srv := s.httpServer(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(s.ln) }()
	s.logger.Info("http listening", "addr", s.ln.Addr().String())
	select {
	case err := <-served:
		return fmt.Errorf("listener: serve: %w", err)
	case <-ctx.Done():
	}
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := srv.Shutdown(stopCtx)
	<-served // Serve returns at once when Shutdown begins
	if err != nil {
		return fmt.Errorf("listener: shut down: %w", err)
	}
	return nil
}

// Start listens on the address and serves in the background until Stop.
// It returns once the port is bound, so a taken port is an error here, not
// a log line.
func (s *Server) Start(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.srv = s.httpServer(ctx)
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "err", err)
		}
	}()
	s.logger.Info("http listening", "addr", s.ln.Addr().String())
	return nil
}

// httpServer is the server with its timeouts. Requests are not cancelled
// with ctx: stopping lets those in flight finish.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.addr
	}
	return s.ln.Addr().String()
}

// Stop stops what Start started: it stops accepting requests and waits for
// those in flight until ctx ends. It may be called more than once.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		if s.srv != nil {
			err = s.srv.Shutdown(ctx)
		}
	})
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	type result struct{ name, res string }
	done := make(chan result, len(s.checks)) // buffered: a late check never blocks
	for _, c := range s.checks {
		go func() {
			res := "ok"
			if err := c.Func(ctx); err != nil {
				res = err.Error()
			}
			done <- result{c.Name, res}
		}()
	}
	results := make(map[string]string, len(s.checks))
	for _, c := range s.checks {
		results[c.Name] = "timed out"
	}
	ok := true
wait:
	for range s.checks {
		select {
		case r := <-done:
			results[r.name] = r.res
		case <-ctx.Done():
			// A check that ignores its context must not hang the probe.
			break wait
		}
	}
	for name, res := range results {
		if res != "ok" {
			ok = false
			s.logger.Warn("readiness check failed", "check", name, "err", res)
		}
	}
	status, code := "ok", http.StatusOK
	if !ok {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": results})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

// Unwrap lets http.ResponseController reach the connection: streams flush
// and set their own deadlines through it.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over (a WebSocket upgrade).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("listener: the connection cannot be hijacked")
	}
	w.code = http.StatusSwitchingProtocols
	return h.Hijack()
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
