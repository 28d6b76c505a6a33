// Package ingest brings LocoNav's telemetry into the store: the webhook
// that checks and queues what LocoNav posts, the events stream in Redis
// with its consumer groups (archive, telematics, alerts), the poll of
// last_known positions, and the pipeline that folds each message into the
// store and notifies of what it changed.
package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/watchtower-fleet/watchtower/loconav"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// MaxWebhookBody is the largest webhook body accepted (413 beyond).
const MaxWebhookBody = 1 << 20

// maxSignatureSkew is how far a signed request's timestamp may be from our
// clock: it bounds how long a captured request can be replayed.
const maxSignatureSkew = 5 * time.Minute

// publisher is what the webhook needs of the streams.
type publisher interface {
	Publish(ctx context.Context, evs []loconav.Event) ([]string, error)
}

// WebhookConfig is how LocoNav proves who it is.
type WebhookConfig struct {
	Token        string         // required: Bearer, X-Webhook-Token or ?token=
	HMACSecret   string         // optional: X-Watchtower-Signature is then required too
	AllowedCIDRs []netip.Prefix // optional: only these addresses may post
}

// Webhook receives LocoNav's pushes and answers 202 only once they are in
// the events stream.
type Webhook struct {
	cfg       WebhookConfig
	tokenHash [sha256.Size]byte
	parser    *loconav.Parser
	pub       publisher
	logger    *slog.Logger
	now       func() time.Time

	results  *prometheus.CounterVec
	accepted prometheus.Counter
	events   map[string]prometheus.Counter // by family
}

// NewWebhook returns the handler; Register mounts it.
func NewWebhook(cfg WebhookConfig, parser *loconav.Parser, pub publisher, logger *slog.Logger, reg prometheus.Registerer) *Webhook {
	w := &Webhook{cfg: cfg, tokenHash: sha256.Sum256([]byte(cfg.Token)), parser: parser, pub: pub, logger: logger, now: time.Now,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchtower_webhook_requests_total", Help: "LocoNav webhook requests by result.",
		}, []string{"result"}),
		events: map[string]prometheus.Counter{},
	}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "watchtower_webhook_events_total", Help: "LocoNav events accepted, by family.",
	}, []string{"family"})
	reg.MustRegister(w.results, events)
	// Resolved once: a label lookup per request shows at 20,000 requests/s.
	w.accepted = w.results.WithLabelValues("accepted")
	for _, f := range []string{loconav.FamilyLocation, loconav.FamilyAlert} {
		w.events[f] = events.WithLabelValues(f)
	}
	return w
}

// Register mounts the webhook routes: the family is detected from the body
// on /webhooks/loconav, and checked on the others.
func (w *Webhook) Register(mux *http.ServeMux) {
	mux.Handle("POST /webhooks/loconav", w.handler(""))
	mux.Handle("POST /webhooks/loconav/location", w.handler(loconav.FamilyLocation))
	mux.Handle("POST /webhooks/loconav/alert", w.handler(loconav.FamilyAlert))
}

type webhookError struct {
	Error string `json:"error"`
}

func (w *Webhook) fail(rw http.ResponseWriter, code int, result, msg string) {
	w.results.WithLabelValues(result).Inc()
	if code == http.StatusServiceUnavailable {
		rw.Header().Set("Retry-After", "5")
	}
	writeJSON(rw, code, webhookError{Error: msg})
}

func (w *Webhook) handler(family string) http.Handler {
	name := "webhook " + family
	if family == "" {
		name = "webhook"
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx, span := tracer().Start(otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header)), name,
			trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		r = r.WithContext(ctx)
		if w.cfg.Token == "" {
			// Better LocoNav retries than we accept anyone's positions.
			w.fail(rw, http.StatusServiceUnavailable, "unconfigured", "webhooks are not configured on this server (LOCONAV_WEBHOOK_TOKEN)")
			return
		}
		if !w.allowed(r) {
			w.fail(rw, http.StatusUnauthorized, "forbidden_ip", "address not allowed")
			return
		}
		if !w.tokenOK(r) {
			w.fail(rw, http.StatusUnauthorized, "bad_token", "missing or wrong webhook token")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxWebhookBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				w.fail(rw, http.StatusRequestEntityTooLarge, "too_large", "body over 1 MiB")
				return
			}
			w.fail(rw, http.StatusBadRequest, "unreadable", "could not read the body")
			return
		}
		if w.cfg.HMACSecret != "" {
			if msg := w.signatureProblem(r, body); msg != "" {
				w.fail(rw, http.StatusUnauthorized, "bad_signature", msg)
				return
			}
		}
		evs, err := w.parser.ParseBody(body, family)
		if err != nil {
			w.fail(rw, http.StatusBadRequest, "bad_payload", err.Error())
			return
		}
		for i := range evs {
			evs[i].Source = "webhook"
		}
		ids, err := w.pub.Publish(r.Context(), evs)
		if err != nil {
			span.SetStatus(codes.Error, "not stored")
			w.logger.ErrorContext(r.Context(), "webhook not stored", "events", len(evs), "err", err)
			w.fail(rw, http.StatusServiceUnavailable, "unavailable", "event store unavailable; retry")
			return
		}
		span.SetAttributes(attribute.StringSlice("watchtower.correlation_ids", ids), attribute.Int("watchtower.events", len(evs)))
		w.accepted.Inc()
		for _, ev := range evs {
			if c := w.events[ev.Family]; c != nil {
				c.Inc()
			}
		}
		if len(ids) == 1 {
			// Stream ids are digits and a dash: no escaping needed.
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(rw, `{"id":"`+ids[0]+`"}`+"\n")
			return
		}
		writeJSON(rw, http.StatusAccepted, struct {
			ID  string   `json:"id"`
			IDs []string `json:"ids"`
		}{ids[len(ids)-1], ids})
	})
}

func (w *Webhook) allowed(r *http.Request) bool {
	if len(w.cfg.AllowedCIDRs) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range w.cfg.AllowedCIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// tokenOK compares in constant time; hashing first makes the comparison
// independent of the token's length too.
func (w *Webhook) tokenOK(r *http.Request) bool {
	got := ""
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		got = strings.TrimSpace(a[7:])
	} else if t := r.Header.Get("X-Webhook-Token"); t != "" {
		got = t
	} else {
		got = r.URL.Query().Get("token")
	}
	if got == "" {
		return false
	}
	h := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(h[:], w.tokenHash[:]) == 1
}

// signatureProblem checks X-Watchtower-Signature: v1=<hex HMAC-SHA256 over
// "v1:" + timestamp + ":" + body>, and that X-Watchtower-Timestamp is
// within five minutes. It returns "" when all is well.
func (w *Webhook) signatureProblem(r *http.Request, body []byte) string {
	ts := r.Header.Get("X-Watchtower-Timestamp")
	sig := r.Header.Get("X-Watchtower-Signature")
	if ts == "" || sig == "" {
		return "missing X-Watchtower-Timestamp or X-Watchtower-Signature"
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "X-Watchtower-Timestamp is not unix seconds"
	}
	if d := w.now().Sub(time.Unix(secs, 0)); d > maxSignatureSkew || d < -maxSignatureSkew {
		return "X-Watchtower-Timestamp is more than 5 minutes off"
	}
	want := Sign([]byte(w.cfg.HMACSecret), ts, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return "signature does not match"
	}
	return ""
}

// Sign returns the X-Watchtower-Signature value for a body sent at
// timestamp (unix seconds): senders other than LocoNav use it.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v1:" + timestamp + ":"))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
