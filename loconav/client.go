// Package loconav is LocoNav's wire knowledge: the two webhook formats
// (live locations and alerts) and their parser, the integration REST API's
// formats and a client that paces itself below the rate limit, retries what
// may succeed later and never puts the token in an error. Ingestion reads
// webhooks and polls positions with it; the tools create, end and remove
// trips with it. It imports neither.
package loconav

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

const (
	// locoNavRequestTimeout bounds one HTTP exchange; retries get their own.
	locoNavRequestTimeout = 30 * time.Second
	// locoNavMaxAttempts counts the first try: 429s, 5xx and network errors
	// are retried until this many requests have failed.
	locoNavMaxAttempts = 5
	// locoNavMaxWait caps one wait for LocoNav's rate limiter, whatever its
	// headers say: a Retry-After of an hour would stall every poll behind it.
	locoNavMaxWait = 2 * time.Minute
	// Backoff for 5xx and network errors: 1 s, 2 s, 4 s … capped, jittered.
	locoNavBackoffBase = time.Second
	locoNavBackoffMax  = 30 * time.Second

	// LocoNav documents 500 requests per rolling 60 s; a response's
	// X-Rate-Limit-Limit lowers that (one recorded response said 20).
	locoNavRateWindow   = 60 * time.Second
	locoNavDefaultLimit = 500
	locoNavMaxBurst     = 5

	locoNavVehiclesPerPage  = 100
	locoNavLastKnownPerPage = 100
	// locoNavMaxPages stops a walk over pages that never ends (a server
	// that always says more=true).
	locoNavMaxPages = 1000
	// locoNavMaxBody bounds a response read into memory.
	locoNavMaxBody = 32 << 20
	// locoNavExcerpt is how much of an unexpected body an error quotes.
	locoNavExcerpt = 200
)

// Client calls LocoNav's integration REST API. It paces itself below
// the API's rate limit, adopts the limit the API's headers announce, waits
// out 429s and retries 5xx and network errors. It is safe for concurrent
// use.
type Client struct {
	// Now and Sleep are injected for tests; Sleep must return ctx.Err()
	// when ctx ends first.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	baseURL string
	token   string
	hc      *http.Client
	logger  *slog.Logger
	limiter *rate.Limiter

	mu           sync.Mutex
	limit        int       // requests per window we pace to
	blockedUntil time.Time // no request before this (429, or X-Rate-Limit-Remaining: 0)
	blockedBy    string    // "429" or "remaining", for the metric

	rateWaits     *prometheus.CounterVec
	rateWaitSecs  prometheus.Counter
	rejectedFixes prometheus.Counter
}

// NewClient returns a client for the API at baseURL (for example
// https://api.a.loconav.com/integration/api/v1) authenticating with token.
// hc may be nil for http.DefaultClient.
func NewClient(baseURL, token string, hc *http.Client, logger *slog.Logger) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		baseURL: strings.TrimRight(baseURL, "/"),
		token:   token,
		hc:      hc,
		logger:  logger,
		limit:   locoNavDefaultLimit,
		rateWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_loconav_rate_limit_waits_total",
			Help: "Waits before a LocoNav request, by reason: pacing (our limiter), remaining (X-Rate-Limit-Remaining was 0), 429.",
		}, []string{"reason"}),
		rateWaitSecs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchtower_loconav_rate_limit_wait_seconds_total",
			Help: "Seconds spent waiting for LocoNav's rate limit.",
		}),
		rejectedFixes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchtower_loconav_last_known_rejected_total",
			Help: "last_known values dropped because they did not parse.",
		}),
	}
	for _, r := range []string{"pacing", "remaining", "429"} {
		c.rateWaits.WithLabelValues(r)
	}
	burst, every := limiterShape(locoNavDefaultLimit)
	c.limiter = rate.NewLimiter(every, burst)
	return c
}

// Collectors returns the client's metrics: rate-limit waits and rejected
// last_known values.
func (c *Client) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.rateWaits, c.rateWaitSecs, c.rejectedFixes}
}

// limiterShape paces n requests per window: a small burst, and a refill
// rate low enough that burst plus refill stays within n in any window.
func limiterShape(n int) (int, rate.Limit) {
	burst := max(1, min(locoNavMaxBurst, n/10))
	refill := max(n-burst, 1)
	return burst, rate.Limit(float64(refill) / locoNavRateWindow.Seconds())
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Vehicle is a vehicle as LocoNav lists it.
type Vehicle struct {
	UUID          string // vehicleUuid: what the telematics APIs take
	Number        string // registration as LocoNav writes it
	DisplayNumber string
}

// Error is a failed call: an HTTP status other than 2xx, or a 2xx
// whose envelope said success:false (Status is then the 2xx). Message is
// LocoNav's data.errors, or a short excerpt of the body; never the token.
type Error struct {
	Method, Path string
	Status       int
	Message      string
	Attempts     int // requests made, when retries ran out

	// earlierMayHaveApplied: an earlier attempt of this call timed out or
	// got a 5xx, so may have done what it asked.
	earlierMayHaveApplied bool
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "loconav: %s %s: ", e.Method, e.Path)
	switch {
	case e.Status == http.StatusUnauthorized:
		b.WriteString("401 Unauthorized (is LOCONAV_API_TOKEN right?)")
	case e.Status == http.StatusTooManyRequests:
		fmt.Fprintf(&b, "still rate limited (429) after %d attempts", e.Attempts)
	case e.Attempts > 1:
		fmt.Fprintf(&b, "%d %s after %d attempts", e.Status, http.StatusText(e.Status), e.Attempts)
	case e.Status >= 200 && e.Status < 300:
		b.WriteString("success:false")
	default:
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Vehicles lists every vehicle of the account, walking all pages.
func (c *Client) Vehicles(ctx context.Context) ([]Vehicle, error) {
	var (
		all  []Vehicle
		seen = map[string]bool{}
	)
	for page := 1; page <= locoNavMaxPages; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "perPage": {strconv.Itoa(locoNavVehiclesPerPage)}}
		var data struct {
			Vehicles []struct {
				UUID          string `json:"vehicleUuid"`
				Number        string `json:"number"`
				DisplayNumber string `json:"displayNumber"`
			} `json:"vehicles"`
			Pagination struct {
				PerPage    int  `json:"perPage"`
				TotalCount *int `json:"totalCount"`
			} `json:"pagination"`
		}
		if err := c.do(ctx, http.MethodGet, "/vehicles", q, nil, &data); err != nil {
			return nil, err
		}
		for _, v := range data.Vehicles {
			// A vehicle added while we walk shifts the pages: skip repeats.
			if v.UUID == "" || seen[v.UUID] {
				continue
			}
			seen[v.UUID] = true
			all = append(all, Vehicle{UUID: v.UUID, Number: v.Number, DisplayNumber: v.DisplayNumber})
		}
		perPage := data.Pagination.PerPage
		if perPage <= 0 {
			perPage = locoNavVehiclesPerPage
		}
		switch {
		case len(data.Vehicles) == 0:
			return all, nil
		case data.Pagination.TotalCount != nil:
			// The server's perPage, not ours: it may cap what we asked for.
			if page*perPage >= *data.Pagination.TotalCount {
				return all, nil
			}
		case len(data.Vehicles) < perPage:
			return all, nil // no count given: a short page is the last
		}
	}
	return nil, fmt.Errorf("loconav: GET /vehicles: more than %d pages", locoNavMaxPages)
}

// do makes one API call: it waits for the rate limit, sends, retries what
// may succeed later, and decodes the envelope's data into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	return c.doN(ctx, locoNavMaxAttempts, method, path, q, body, out)
}

// doN is do with at most attempts requests (1 for a call that must not be
// repeated blindly).
func (c *Client) doN(ctx context.Context, attempts int, method, path string, q url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("loconav: %s %s: encode body: %w", method, path, err)
		}
	}
	u := c.baseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var (
		lastErr   error
		uncertain bool // an attempt failed in a way that may have applied it
	)
	for attempt := 1; attempt <= attempts; attempt++ {
		if err := c.pace(ctx); err != nil {
			return fmt.Errorf("loconav: %s %s: %w", method, path, err)
		}
		status, respBody, err := c.send(ctx, method, u, payload)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("loconav: %s %s: %w", method, path, ctx.Err())
			}
			lastErr = fmt.Errorf("loconav: %s %s: %w (after %d attempts)", method, path, err, attempt)
			uncertain = true
			if attempt < attempts {
				if err := c.backoff(ctx, method, path, attempt, 0, err); err != nil {
					return err
				}
			}
			continue
		}
		switch {
		case status == http.StatusTooManyRequests:
			lastErr = &Error{Method: method, Path: path, Status: status, Attempts: attempt, Message: c.message(respBody)}
			// The wait itself happens in pace before the next attempt, so
			// concurrent callers wait too.
		case status >= 500:
			lastErr = &Error{Method: method, Path: path, Status: status, Attempts: attempt, Message: c.message(respBody)}
			uncertain = true
			if attempt < attempts {
				if err := c.backoff(ctx, method, path, attempt, status, lastErr); err != nil {
					return err
				}
			}
		case status < 200 || status > 299:
			return &Error{Method: method, Path: path, Status: status, Attempts: attempt, Message: c.message(respBody),
				earlierMayHaveApplied: uncertain}
		default:
			return c.decode(method, path, status, respBody, out)
		}
	}
	return lastErr
}

// send makes one HTTP exchange under its own timeout and reads the body,
// noting the rate-limit headers.
func (c *Client) send(ctx context.Context, method, u string, payload []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, locoNavRequestTimeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Authentication", c.token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, locoNavMaxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read response: %w", err)
	}
	c.noteRateHeaders(resp.StatusCode, resp.Header)
	return resp.StatusCode, b, nil
}

// decode reads the {"success":…,"data":…} envelope of a 2xx answer.
func (c *Client) decode(method, path string, status int, body []byte, out any) error {
	var env struct {
		Success *bool           `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return &answerError{Method: method, Path: path, Problem: fmt.Sprintf("%d response is not the JSON envelope: %s", status, c.excerpt(body))}
	}
	if env.Success != nil && !*env.Success {
		return &Error{Method: method, Path: path, Status: status, Message: c.message(body)}
	}
	if out == nil {
		return nil
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return &answerError{Method: method, Path: path, Problem: fmt.Sprintf("%d response has no data: %s", status, c.excerpt(body))}
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return &answerError{Method: method, Path: path, Problem: "decode data", Err: err}
	}
	return nil
}

// answerError is a 2xx answer that could not be read. The request may well
// have done what it asked: CreateTrip looks before it tries again.
type answerError struct {
	Method, Path, Problem string
	Err                   error
}

func (e *answerError) Error() string {
	s := "loconav: " + e.Method + " " + e.Path + ": " + e.Problem
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *answerError) Unwrap() error { return e.Err }

// message is LocoNav's data.errors text when the body is an error envelope,
// else a short excerpt of the body.
func (c *Client) message(body []byte) string {
	var env struct {
		Data struct {
			Errors json.RawMessage `json:"errors"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Data.Errors) > 0 && string(env.Data.Errors) != "null" {
		return c.scrub(errorsText(env.Data.Errors))
	}
	return c.excerpt(body)
}

// errorsText flattens data.errors: strings as they are, anything else as
// compact JSON.
func errorsText(raw json.RawMessage) string {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		list = []json.RawMessage{raw}
	}
	parts := make([]string, 0, len(list))
	for _, it := range list {
		var s string
		if json.Unmarshal(it, &s) == nil {
			parts = append(parts, s)
			continue
		}
		var buf bytes.Buffer
		if json.Compact(&buf, it) == nil {
			parts = append(parts, buf.String())
		}
	}
	return truncate(strings.Join(parts, "; "), 2*locoNavExcerpt)
}

func (c *Client) excerpt(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return "empty body"
	}
	return c.scrub(truncate(s, locoNavExcerpt))
}

// scrub removes the token should a server echo it back.
func (c *Client) scrub(s string) string {
	if len(c.token) >= 4 {
		s = strings.ReplaceAll(s, c.token, "[token]")
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// pace blocks until a request may go: past any server-imposed pause, then
// through our own limiter.
func (c *Client) pace(ctx context.Context) error {
	c.mu.Lock()
	until, reason := c.blockedUntil, c.blockedBy
	c.mu.Unlock()
	if d := until.Sub(c.now()); d > 0 {
		d = min(d, locoNavMaxWait)
		c.rateWaits.WithLabelValues(reason).Inc()
		c.rateWaitSecs.Add(d.Seconds())
		c.logger.InfoContext(ctx, "loconav rate limit wait", "reason", reason, "wait", d)
		if err := c.sleep(ctx, d); err != nil {
			return err
		}
	}
	now := c.now()
	r := c.limiter.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("rate limiter refused a request") // burst is at least 1: cannot happen
	}
	if d := r.DelayFrom(now); d > 0 {
		c.rateWaits.WithLabelValues("pacing").Inc()
		c.rateWaitSecs.Add(d.Seconds())
		if err := c.sleep(ctx, d); err != nil {
			r.CancelAt(c.now())
			return err
		}
	}
	return nil
}

// backoff waits before retrying a 5xx or a network error.
func (c *Client) backoff(ctx context.Context, method, path string, attempt, status int, cause error) error {
	d := backoffDelay(attempt, rand.Float64())
	c.logger.WarnContext(ctx, "loconav request failed, retrying",
		"method", method, "path", path, "status", status, "attempt", attempt, "wait", d, "err", cause)
	if err := c.sleep(ctx, d); err != nil {
		return fmt.Errorf("loconav: %s %s: %w", method, path, err)
	}
	return nil
}

// backoffDelay is base·2^(attempt-1), capped, of which a random half is
// taken off so that clients failing together do not retry together.
func backoffDelay(attempt int, r float64) time.Duration {
	d := locoNavBackoffMax
	if attempt < 16 {
		d = min(locoNavBackoffBase<<(attempt-1), locoNavBackoffMax)
	}
	return d/2 + time.Duration(r*float64(d/2))
}

// noteRateHeaders reads X-Rate-Limit-Limit/-Remaining/-Reset and Retry-After:
// it adopts a lower announced limit, and after a 429 or when nothing remains
// in the window, holds requests until the server says they may resume.
func (c *Client) noteRateHeaders(status int, h http.Header) {
	now := c.now()
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-Rate-Limit-Limit"))); err == nil && n > 0 {
		c.adoptLimit(now, min(n, locoNavDefaultLimit))
	}
	var (
		wait   time.Duration
		reason string
	)
	switch {
	case status == http.StatusTooManyRequests:
		var ok bool
		if wait, ok = retryAfter(h, now); !ok {
			if wait, ok = resetWait(h, now); !ok {
				wait = locoNavRateWindow / 2 // the window is rolling; half of it is a fair guess
			}
		}
		wait, reason = max(wait, time.Second), "429" // Retry-After: 0 would hammer the server
	case strings.TrimSpace(h.Get("X-Rate-Limit-Remaining")) == "0":
		var ok bool
		if wait, ok = resetWait(h, now); !ok {
			return // no reset given: our limiter, now at the announced limit, paces us
		}
		reason = "remaining"
	default:
		return
	}
	wait = min(wait, locoNavMaxWait)
	c.mu.Lock()
	if until := now.Add(wait); until.After(c.blockedUntil) {
		c.blockedUntil, c.blockedBy = until, reason
	}
	c.mu.Unlock()
}

func (c *Client) adoptLimit(now time.Time, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n == c.limit {
		return
	}
	c.logger.Info("loconav rate limit adopted from headers", "limit", n, "window", locoNavRateWindow)
	c.limit = n
	burst, every := limiterShape(n)
	c.limiter.SetLimitAt(now, every)
	c.limiter.SetBurstAt(now, burst)
}

// retryAfter reads Retry-After as seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return secondsWait(secs), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// resetWait reads X-Rate-Limit-Reset. LocoNav does not document it; a large
// value is taken as epoch seconds, a small one as seconds from now.
func resetWait(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("X-Rate-Limit-Reset"))
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	if secs > 1_000_000_000 { // 2001-09-09: no window is that long
		return max(time.Unix(secs, 0).Sub(now), 0), true
	}
	return secondsWait(secs), true
}

func secondsWait(secs int64) time.Duration {
	switch {
	case secs <= 0:
		return 0
	case secs > int64(locoNavMaxWait/time.Second):
		return locoNavMaxWait
	}
	return time.Duration(secs) * time.Second
}
