package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
)

const testToken = "test-webhook-token-0123456789"

// testStream is a stream of the test's own on the real Redis, deleted at
// the end.
func testStream(t testing.TB, rdb *redis.Client) string {
	t.Helper()
	name := fmt.Sprintf("test:%s:%08x", strings.ReplaceAll(t.Name(), "/", "_"), rand.Uint32())
	t.Cleanup(func() { rdb.Del(context.Background(), name, name+":dead", name+":notify") })
	return name
}

type webhookEnv struct {
	srv    *httptest.Server
	rdb    *redis.Client
	stream string
}

func newWebhookEnv(t testing.TB, cfg ingest.WebhookConfig, rdb *redis.Client) *webhookEnv {
	t.Helper()
	live := testenv.Redis(t)
	stream := testStream(t, live)
	if rdb == nil {
		rdb = live
	}
	mux := http.NewServeMux()
	wh := ingest.NewWebhook(cfg, parser(), ingest.NewStreams(rdb, stream, 10_000), testenv.Logger(t), prometheus.NewRegistry())
	wh.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &webhookEnv{srv: srv, rdb: live, stream: stream}
}

func (e *webhookEnv) post(t testing.TB, path string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var bearer = map[string]string{"Authorization": "Bearer " + testToken}

// TestWebhookAcceptsEveryFixture posts each of LocoNav's published examples
// to the detecting endpoint and to its family's own, and checks the stream
// holds it byte for byte under the id the response gave.
func TestWebhookAcceptsEveryFixture(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, ingest.WebhookConfig{Token: testToken}, nil)
	for _, f := range loconavtest.Webhooks() {
		body := fixture(t, f)
		family := "alert"
		if strings.Contains(f, "live-location") {
			family = "location"
		}
		for _, path := range []string{"/webhooks/loconav", "/webhooks/loconav/" + family} {
			code, resp := env.post(t, path, body, bearer)
			if code != http.StatusAccepted {
				t.Fatalf("%s to %s: %d %s", filepath.Base(f), path, code, resp)
			}
			var r struct{ ID string }
			if err := json.Unmarshal([]byte(resp), &r); err != nil || r.ID == "" {
				t.Fatalf("response %q: want {\"id\":…}", resp)
			}
			xs, err := env.rdb.XRange(context.Background(), env.stream, r.ID, r.ID).Result()
			if err != nil || len(xs) != 1 {
				t.Fatalf("stream entry %s: %v, %v", r.ID, xs, err)
			}
			if xs[0].Values["b"] != strings.TrimSpace(string(body)) || xs[0].Values["f"] != family || xs[0].Values["s"] != "webhook" {
				t.Errorf("%s stored as %v", filepath.Base(f), xs[0].Values)
			}
		}
	}
}

func TestWebhookArray(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, ingest.WebhookConfig{Token: testToken}, nil)
	loc, alert := fixture(t, "live-location.json"), fixture(t, "idling-alert.json")
	body := []byte("[" + strings.TrimSpace(string(loc)) + "," + strings.TrimSpace(string(alert)) + "]")
	code, resp := env.post(t, "/webhooks/loconav", body, bearer)
	var r struct {
		ID  string
		IDs []string
	}
	if code != http.StatusAccepted || json.Unmarshal([]byte(resp), &r) != nil || len(r.IDs) != 2 || r.ID != r.IDs[1] {
		t.Fatalf("array: %d %s", code, resp)
	}
	if n, _ := env.rdb.XLen(context.Background(), env.stream).Result(); n != 2 {
		t.Errorf("stream holds %d entries, want 2", n)
	}
}

func TestWebhookAuth(t *testing.T) {
	t.Parallel()
	secret := "hmac-secret-0123456789abcdef"
	env := newWebhookEnv(t, ingest.WebhookConfig{Token: testToken}, nil)
	signed := newWebhookEnv(t, ingest.WebhookConfig{Token: testToken, HMACSecret: secret}, nil)
	fenced := newWebhookEnv(t, ingest.WebhookConfig{Token: testToken, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}, nil)
	open := newWebhookEnv(t, ingest.WebhookConfig{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, nil)
	body := fixture(t, "live-location.json")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	tests := []struct {
		name string
		env  *webhookEnv
		path string
		hdr  map[string]string
		want int
	}{
		{"bearer", env, "/webhooks/loconav", bearer, 202},
		{"bearer, any case", env, "/webhooks/loconav", map[string]string{"Authorization": "bearer " + testToken}, 202},
		{"header", env, "/webhooks/loconav", map[string]string{"X-Webhook-Token": testToken}, 202},
		{"query", env, "/webhooks/loconav?token=" + testToken, nil, 202},
		{"no token", env, "/webhooks/loconav", nil, 401},
		{"wrong token", env, "/webhooks/loconav", map[string]string{"X-Webhook-Token": testToken + "x"}, 401},
		{"token prefix", env, "/webhooks/loconav", map[string]string{"X-Webhook-Token": testToken[:10]}, 401},
		{"signed", signed, "/webhooks/loconav", map[string]string{"X-Webhook-Token": testToken,
			"X-Watchtower-Timestamp": now, "X-Watchtower-Signature": ingest.Sign([]byte(secret), now, body)}, 202},
		{"signature missing", signed, "/webhooks/loconav", bearer, 401},
		{"signature over another body", signed, "/webhooks/loconav", map[string]string{"X-Webhook-Token": testToken,
			"X-Watchtower-Timestamp": now, "X-Watchtower-Signature": ingest.Sign([]byte(secret), now, []byte("{}"))}, 401},
		{"signature too old", signed, "/webhooks/loconav", map[string]string{"X-Webhook-Token": testToken,
			"X-Watchtower-Timestamp": old, "X-Watchtower-Signature": ingest.Sign([]byte(secret), old, body)}, 401},
		{"signature with the wrong secret", signed, "/webhooks/loconav", map[string]string{"X-Webhook-Token": testToken,
			"X-Watchtower-Timestamp": now, "X-Watchtower-Signature": ingest.Sign([]byte("other-secret-0123456789"), now, body)}, 401},
		{"address not allowed", fenced, "/webhooks/loconav", bearer, 401},
		{"no token configured", open, "/webhooks/loconav", bearer, 503},
	}
	for _, tc := range tests {
		code, resp := tc.env.post(t, tc.path, body, tc.hdr)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, resp, tc.want)
		}
		if code != 202 && !strings.Contains(resp, `"error"`) {
			t.Errorf("%s: refusal %q does not say why", tc.name, resp)
		}
	}
	if n, _ := env.rdb.XLen(context.Background(), env.stream).Result(); n != 4 {
		t.Errorf("stream holds %d entries, want the 4 accepted", n)
	}
}

func TestWebhookBadRequests(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, ingest.WebhookConfig{Token: testToken}, nil)
	big := bytes.Repeat([]byte(" "), ingest.MaxWebhookBody+1)
	tests := []struct {
		name, path string
		body       []byte
		want       int
		msg        string
	}{
		{"bad field", "/webhooks/loconav", []byte(`{"imei":"1","gpstime":"22-11-2026 09:00:00","latitude":95,"longitude":3,"vehiclenumber":"T1"}`), 400, "latitude"},
		{"malformed", "/webhooks/loconav", []byte(`{"imei":`), 400, "malformed JSON"},
		{"wrong endpoint", "/webhooks/loconav/location", fixture(t, "idling-alert.json"), 400, "alert payload was posted to the location endpoint"},
		{"too large", "/webhooks/loconav", big, 413, "1 MiB"},
	}
	for _, tc := range tests {
		code, resp := env.post(t, tc.path, tc.body, bearer)
		if code != tc.want || !strings.Contains(resp, tc.msg) {
			t.Errorf("%s: %d %s; want %d mentioning %q", tc.name, code, resp, tc.want, tc.msg)
		}
	}
	// GET is not a webhook.
	resp, err := env.srv.Client().Get(env.srv.URL + "/webhooks/loconav")
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v, %v; want 405", resp.StatusCode, err)
	}
	if n, _ := env.rdb.XLen(context.Background(), env.stream).Result(); n != 0 {
		t.Errorf("stream holds %d entries; nothing bad may be stored", n)
	}
}

// TestWebhookRedisDown checks the webhook never answers 2xx for what it did
// not store.
func TestWebhookRedisDown(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, ingest.WebhookConfig{Token: testToken}, testenv.DeadRedis(t))
	code, resp := env.post(t, "/webhooks/loconav", fixture(t, "live-location.json"), bearer)
	if code != http.StatusServiceUnavailable || !strings.Contains(resp, "retry") {
		t.Errorf("Redis down: %d %s; want 503", code, resp)
	}
}

// FuzzWebhook posts arbitrary bodies through the real handler into a real
// stream: no panic, and every answer is 202 or a 4xx with a reason.
func FuzzWebhook(f *testing.F) {
	for _, file := range loconavtest.Webhooks() {
		f.Add(fixture(f, file))
	}
	f.Add([]byte(`[{"kind":"X","vehicle_number":"T1","event_time":"2024-02-08T12:30:45Z"}]`))
	f.Add([]byte(`{"imei":"1","gpstime":"31-12-1999 23:59:59","latitude":"6.4","longitude":"3.3","vehiclenumber":"t-1","ignition":"1"}`))
	f.Add([]byte(`{"kind":null,"vehicle_number":{"a":1}}`))
	env := newWebhookEnv(f, ingest.WebhookConfig{Token: testToken}, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp := env.post(t, "/webhooks/loconav", body, bearer)
		switch {
		case code == http.StatusAccepted:
		case code >= 400 && code < 500:
			var e struct{ Error string }
			if json.Unmarshal([]byte(resp), &e) != nil || e.Error == "" {
				t.Fatalf("%d without a reason: %q", code, resp)
			}
		default:
			t.Fatalf("body %q: status %d %s", body, code, resp)
		}
	})
}
