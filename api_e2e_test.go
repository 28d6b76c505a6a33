package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// apiRedisURL is a Redis database of this test's own: its two replicas
// share the events stream and the consumer groups, no other test does.
const apiRedisURL = "redis://127.0.0.1:6379/13"

// startReplica runs `watchtower run` on e until the test ends, and waits
// until it is ready.
func startReplica(t *testing.T, e map[string]string) string {
	base, _ := runReplica(t, e)
	return base
}

// runReplica is startReplica with a stop: it ends the run (as SIGTERM
// does) and waits for it, failing after 15 s. The test's end stops it too.
func runReplica(t *testing.T, e map[string]string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		runErr = runMain(ctx, []string{"run", "--no-console"}, env(e), &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("replica %s logs:\n%s", e["HTTP_ADDR"], stderr.String())
		}
	})
	base := "http://" + e["HTTP_ADDR"]
	waitReady(t, base, exited, func() string { return fmt.Sprintf("runMain = %v\nstderr:\n%s", runErr, stderr.String()) })
	return base, func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Fatal("run did not stop within 15 s")
		}
	}
}

var keyRE = regexp.MustCompile(`wt_[A-Za-z0-9_-]{43}`)

// Two replicas on one store and one Redis: a key made by the command
// works on both; a client streaming from one replica sees, within a
// second, the position a webhook brought to the other, with the webhook's
// stream id as its correlation id; the key revoked by the command stops
// working on both.
func TestAPIEndToEnd(t *testing.T) {
	t.Parallel()
	opts, _ := redis.ParseURL(apiRedisURL)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.FlushDB(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	s := storetest.NewSchema(t)
	e := map[string]string{"DATABASE_URL": s.URL, "REDIS_URL": apiRedisURL, "LOG_FORMAT": "json", "LOCONAV_WEBHOOK_TOKEN": "e2e-token-0123456789", "USER": "ops"}
	for _, args := range [][]string{{"migrate"}, {"seed", "testdata/fleet"}} {
		if _, stderr, err := runCLI(t, e, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
	}
	out, stderr, err := runCLI(t, e, "apikey", "create", "--name", "wallboard", "--role", "viewer")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr)
	}
	key := keyRE.FindString(out)
	if key == "" || !strings.Contains(out, "only time the key is shown") {
		t.Fatalf("apikey create printed %q", out)
	}
	for _, bad := range [][]string{
		{"apikey", "create", "--name", "wallboard", "--role", "viewer"}, // already live
		{"apikey", "create", "--name", "Wall Board", "--role", "viewer"},
		{"apikey", "create", "--name", "x", "--role", "root"},
		{"apikey", "create", "--name", "x"},
		{"apikey", "revoke", "--name", "nobody"},
		{"apikey", "rotate", "--name", "wallboard"},
	} {
		if _, _, err := runCLI(t, e, bad...); exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", bad, exitCode(err), err)
		}
	}

	a := startReplica(t, with(e, "HTTP_ADDR", freeAddr(t)))
	b := startReplica(t, with(e, "HTTP_ADDR", freeAddr(t)))

	req, _ := http.NewRequestWithContext(t.Context(), "GET", b+"/api/v1/stream/trucks?numbers=t-11985-la", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", res, err)
	}
	defer res.Body.Close()
	type msg struct {
		name string
		data map[string]any
		at   time.Time
	}
	events := make(chan msg, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "event: "); ok {
				name = n
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				var m map[string]any
				_ = json.Unmarshal([]byte(d), &m)
				events <- msg{name, m, time.Now()}
			}
		}
	}()
	if m := <-events; m.name != "snapshot" || m.data["truck"] != "T11985LA" {
		t.Fatalf("first event %v", m)
	}

	at := time.Now().In(lagos(t)).Truncate(time.Second)
	body := fmt.Sprintf(`{"imei":"0210716299","speed":12.0,"gpstime":"%s","ignition":"1","latitude":6.471234,"longitude":3.351234,"orientation":90.0,"vehiclenumber":"T11985LA"}`,
		at.Format("02-01-2006 15:04:05"))
	post, _ := http.NewRequest("POST", a+"/webhooks/loconav/location", strings.NewReader(body))
	post.Header.Set("Authorization", "Bearer e2e-token-0123456789")
	sent := time.Now()
	pres, err := http.DefaultClient.Do(post)
	if err != nil || pres.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %v %v", pres, err)
	}
	pres.Body.Close()
	timeout := time.After(5 * time.Second)
	for found := false; !found; {
		select {
		case m := <-events:
			if m.name != "position" || m.data["lat"] != 6.471234 {
				continue
			}
			found = true
			if lag := m.at.Sub(sent); lag > time.Second {
				t.Errorf("the position reached the other replica's stream %v after its webhook, want < 1 s", lag)
			}
			if id, _ := m.data["correlation_id"].(string); !regexp.MustCompile(`^\d+-\d+$`).MatchString(id) {
				t.Errorf("correlation id %q is not a stream id", id)
			}
		case <-timeout:
			_, loc := getWithKey(t, a+"/api/v1/trucks/t-11985-la/location", key)
			t.Fatalf("no position on the stream 5 s after the webhook; the truck: %s", loc)
		}
	}
	// The WebSocket alias, through the real listener.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a, "http")+"/ws/trucks/11985/location?access_token="+key, nil)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	var first map[string]any
	_ = ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	if err := ws.ReadJSON(&first); err != nil || first["event"] != "snapshot" {
		t.Errorf("websocket first message %v %v", first, err)
	}
	ws.Close()
	code, loc := getWithKey(t, a+"/api/v1/trucks/t-11985-la/location", key)
	if code != 200 || !strings.Contains(loc, `"lat":6.471234`) {
		t.Errorf("location: %d %s", code, loc)
	}

	list, _, err := runCLI(t, e, "apikey", "list")
	if err != nil || !strings.Contains(list, "wallboard") || !strings.Contains(list, "cli:ops") || strings.Contains(list, key) {
		t.Errorf("apikey list: %v\n%s", err, list)
	}
	if out, stderr, err := runCLI(t, e, "apikey", "revoke", "--name", "wallboard"); err != nil || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: %v %s %s", err, out, stderr)
	}
	for _, base := range []string{a, b} {
		deadline := time.Now().Add(2 * time.Second)
		for {
			code, _ := getWithKey(t, base+"/api/v1/trucks/T11985LA/location", key)
			if code == 401 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the revoked key still answers %d after 2 s", base, code)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func getWithKey(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&b)
	return res.StatusCode, b.String()
}

func lagos(t *testing.T) *time.Location {
	z, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		t.Fatal(err)
	}
	return z
}
