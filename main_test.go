package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/bot/slackfake"
	"github.com/watchtower-fleet/watchtower/masterdata/sheetstest"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// syncBuffer is a bytes.Buffer that the logger's goroutines and the test may
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// exitCode is the code main would exit with for err.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// runCLI runs runMain to completion and returns what it printed.
func runCLI(t *testing.T, m map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = runMain(ctx, args, env(m), &out, &errOut)
	return out.String(), errOut.String(), err
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRunMainExitCodes(t *testing.T) {
	t.Parallel()
	const usageLine = "Usage: watchtower"
	badAddr := map[string]string{"HTTP_ADDR": "foo"}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		code       int
		errHas     string // in the error
		stdoutHas  string
		stderrHas  string
		configName string // the error is a *ConfigError for this variable
	}{
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, errHas: `unknown command "frobnicate"`, stderrHas: usageLine},
		{name: "unknown flag", args: []string{"run", "--nope"}, code: 2, errHas: "-nope", stderrHas: usageLine},
		{name: "unknown flag without command", args: []string{"--nope"}, code: 2, errHas: "-nope", stderrHas: usageLine},
		{name: "migrate has no --migrate", args: []string{"migrate", "--migrate"}, code: 2, errHas: "-migrate"},
		{name: "seed without dir", args: []string{"seed"}, code: 2, errHas: "seed takes 1 argument(s), got 0", stderrHas: usageLine},
		{name: "seed with two dirs", args: []string{"seed", "a", "b"}, code: 2, errHas: "got 2", stderrHas: usageLine},
		{name: "run with an argument", args: []string{"run", "now"}, code: 2, errHas: "run takes 0 argument(s), got 1"},
		{name: "version with an argument", args: []string{"version", "x"}, code: 2},
		{name: "seed of a missing dir", args: []string{"seed", "testdata/no-such-dir"}, code: 2, errHas: "no-such-dir"},
		{name: "version", args: []string{"version"}, stdoutHas: "watchtower "},
		{name: "help", args: []string{"help"}, stdoutHas: usageLine},
		{name: "-h", args: []string{"-h"}, stderrHas: usageLine},
		{name: "--help", args: []string{"--help"}, stderrHas: usageLine},
		{name: "run -h", args: []string{"run", "-h"}, stderrHas: usageLine},
		{name: "seed -h", args: []string{"seed", "-h"}, stderrHas: usageLine},
		{name: "config", args: []string{"config"}, stdoutHas: "HTTP_ADDR=:8080\t"},
		{name: "bad config run", env: badAddr, args: []string{"run"}, code: 2, errHas: "HTTP_ADDR", configName: "HTTP_ADDR"},
		{name: "bad config default command", env: badAddr, code: 2, errHas: "HTTP_ADDR", configName: "HTTP_ADDR"},
		{name: "bad config run --migrate", env: badAddr, args: []string{"run", "--migrate"}, code: 2, configName: "HTTP_ADDR"},
		{name: "bad config migrate", env: badAddr, args: []string{"migrate"}, code: 2, configName: "HTTP_ADDR"},
		{name: "bad config seed", env: badAddr, args: []string{"seed", "testdata/fleet"}, code: 2, configName: "HTTP_ADDR"},
		// config still prints what it can, so the operator sees the rest.
		{name: "bad config config", env: badAddr, args: []string{"config"}, code: 2, configName: "HTTP_ADDR", stdoutHas: "HTTP_ADDR=foo\t"},
		{name: "cross-field config", env: map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}, args: []string{"run"}, code: 2, configName: "SLACK_APP_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, err := runCLI(t, tt.env, tt.args...)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("runMain(%q) = %v (exit code %d), want exit code %d\nstderr:\n%s", tt.args, err, got, tt.code, stderr)
			}
			if tt.errHas != "" && !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			if tt.stdoutHas != "" && !strings.Contains(stdout, tt.stdoutHas) {
				t.Errorf("stdout does not contain %q:\n%s", tt.stdoutHas, stdout)
			}
			if tt.stderrHas != "" && !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr does not contain %q:\n%s", tt.stderrHas, stderr)
			}
			if tt.configName != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Name != tt.configName {
					t.Errorf("error %v does not name %s as a *ConfigError", err, tt.configName)
				}
			}
		})
	}
}

func TestVersionIsOneLine(t *testing.T) {
	t.Parallel()
	stdout, _, err := runCLI(t, nil, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^watchtower \S+\n$`).MatchString(stdout) {
		t.Errorf("version printed %q, want one line \"watchtower VERSION\"", stdout)
	}
}

// countRows counts the rows of each table in the schema.
func countRows(t *testing.T, s *storetest.Schema, tables ...string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, table := range tables {
		var c int
		if err := s.Pool.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&c); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		n[table] = c
	}
	return n
}

func TestSeedBadRowWritesNothing(t *testing.T) {
	t.Parallel()
	const orgs = "name,kind\nAcme Haulage Ltd,transporter\n"
	tests := []struct {
		name   string
		trucks string
		want   string
	}{
		// Caught while reading, before the database is touched.
		{"duplicate truck", "number,company\nT11111LA,Acme Haulage Ltd\nT11111LA,Acme Haulage Ltd\n", "trucks.csv row 3"},
		// Caught by the store half way through the transaction, after the
		// organization was upserted.
		{"bad status", "number,status,company\nT11111LA,active,Acme Haulage Ltd\nT22222LA,broken,Acme Haulage Ltd\n", "trucks.csv row 3"},
		{"unknown company", "number,company\nT11111LA,Acme Haulage Ltd\nT22222LA,Nobody Ltd\nT33333LA,Acme Haulage Ltd\n", "trucks.csv row 3"},
		{"bad trailer size on row 2", "number,trailer_size\nT11111LA,53ft\n", "trucks.csv row 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := storetest.NewMigrated(t)
			dir := t.TempDir()
			for name, body := range map[string]string{"organizations.csv": orgs, "trucks.csv": tt.trucks} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, err := runCLI(t, map[string]string{"DATABASE_URL": s.URL, "LOG_FORMAT": "json"}, "seed", dir)
			if got := exitCode(err); got != 2 {
				t.Fatalf("seed = %v (exit code %d), want exit code 2\nstderr:\n%s", err, got, stderr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("seed printed counts for a failed import:\n%s", stdout)
			}
			for table, n := range countRows(t, s, "organizations", "trucks", "events") {
				if n != 0 {
					t.Errorf("%s has %d row(s) after a failed seed, want 0", table, n)
				}
			}
		})
	}
}

var countsRE = regexp.MustCompile(`(?m)^(\w+):\s+(\d+) inserted,\s+(\d+) updated,\s+(\d+) unchanged$`)

// seedCounts parses seed's output into kind → [inserted, updated, unchanged].
func seedCounts(t *testing.T, out string) map[string][3]int {
	t.Helper()
	res := map[string][3]int{}
	for _, m := range countsRE.FindAllStringSubmatch(out, -1) {
		var c [3]int
		for i := range c {
			c[i], _ = strconv.Atoi(m[i+2])
		}
		res[m[1]] = c
	}
	if len(res) == 0 {
		t.Fatalf("no counts in seed output:\n%s", out)
	}
	return res
}

func TestMigrateAndSeedOnFreshSchema(t *testing.T) {
	t.Parallel()
	s := storetest.NewSchema(t)
	e := map[string]string{"DATABASE_URL": s.URL, "LOG_FORMAT": "json", "HTTP_ADDR": freeAddr(t)}

	_, stderr, err := runCLI(t, e, "run")
	if err == nil || !strings.Contains(err.Error(), "watchtower migrate") {
		t.Fatalf("run on an empty schema = %v, want an error that says to run `watchtower migrate`\nstderr:\n%s", err, stderr)
	}
	if got := exitCode(err); got != 1 {
		t.Errorf("run on an empty schema: exit code %d, want 1", got)
	}

	_, _, err = runCLI(t, e, "seed", "testdata/fleet")
	if err == nil || !strings.Contains(err.Error(), "watchtower migrate") {
		t.Fatalf("seed on an empty schema = %v, want an error that says to run `watchtower migrate`", err)
	}

	_, stderr, err = runCLI(t, e, "migrate")
	if err != nil {
		t.Fatalf("migrate: %v\nstderr:\n%s", err, stderr)
	}
	if !strings.Contains(stderr, `"msg":"migration applied"`) {
		t.Errorf("first migrate logged no applied migration:\n%s", stderr)
	}
	_, stderr, err = runCLI(t, e, "migrate")
	if err != nil {
		t.Fatalf("second migrate: %v\nstderr:\n%s", err, stderr)
	}
	if !strings.Contains(stderr, `"msg":"schema already current"`) || strings.Contains(stderr, "migration applied") {
		t.Errorf("second migrate should apply nothing:\n%s", stderr)
	}

	stdout, stderr, err := runCLI(t, e, "seed", "testdata/fleet")
	if err != nil {
		t.Fatalf("seed: %v\nstderr:\n%s", err, stderr)
	}
	first := seedCounts(t, stdout)
	if got, want := first["trucks"], [3]int{84, 0, 0}; got != want {
		t.Errorf("first seed trucks = %v (inserted, updated, unchanged), want %v\n%s", got, want, stdout)
	}
	if !strings.Contains(stdout, "84 inserted") {
		t.Errorf("first seed output lacks \"84 inserted\":\n%s", stdout)
	}
	for _, kind := range []string{"organizations", "locations", "trucks", "drivers", "users"} {
		c, ok := first[kind]
		if !ok || c[0] == 0 || c[1] != 0 || c[2] != 0 {
			t.Errorf("first seed %s = %v, ok=%v; want only inserts", kind, c, ok)
		}
	}
	if n := countRows(t, s, "trucks")["trucks"]; n != 84 {
		t.Errorf("trucks table has %d rows after seeding, want 84", n)
	}

	stdout, stderr, err = runCLI(t, e, "seed", "testdata/fleet")
	if err != nil {
		t.Fatalf("second seed: %v\nstderr:\n%s", err, stderr)
	}
	second := seedCounts(t, stdout)
	if got, want := second["trucks"], [3]int{0, 0, 84}; got != want {
		t.Errorf("second seed trucks = %v, want %v\n%s", got, want, stdout)
	}
	if !strings.Contains(stdout, "84 unchanged") {
		t.Errorf("second seed output lacks \"84 unchanged\":\n%s", stdout)
	}
	for kind, c := range second {
		if want := [3]int{0, 0, first[kind][0]}; c != want {
			t.Errorf("second seed %s = %v, want %v (the same input changes nothing)", kind, c, want)
		}
	}
}

// waitReady polls base/readyz until it answers 200 and returns the body. It
// fails the test after 15 s, or as soon as exited is closed.
func waitReady(t *testing.T, base string, exited <-chan struct{}, why func() string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for {
		select {
		case <-exited:
			t.Fatalf("watchtower exited before it was ready: %s", why())
		default:
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return body
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after 15s; last: %s\n%s", last, why())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// logMessages parses JSON log lines and returns their msg fields, failing on
// a line that is not JSON.
func logMessages(t *testing.T, logs string) []string {
	t.Helper()
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var rec struct {
			Msg   string `json:"msg"`
			Level string `json:"level"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		msgs = append(msgs, rec.Msg)
	}
	return msgs
}

func TestRunMigrateServesAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	s := storetest.NewSchema(t)
	addr := freeAddr(t)
	e := map[string]string{"DATABASE_URL": s.URL, "HTTP_ADDR": addr, "LOG_FORMAT": "json"}

	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		runErr = runMain(ctx, []string{"run", "--migrate"}, env(e), &stdout, &stderr)
	}()
	// If the test fails early, stop runMain before the schema is dropped.
	t.Cleanup(func() { cancel(); <-exited })
	why := func() string { return fmt.Sprintf("runMain = %v\nstderr:\n%s", runErr, stderr.String()) }

	base := "http://" + addr
	body := waitReady(t, base, exited, why)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	if ready.Status != "ok" || ready.Checks["postgres"] != "ok" || ready.Checks["schema"] != "ok" || ready.Checks["redis"] != "ok" {
		t.Errorf("/readyz = %s, want status ok and postgres, schema and redis checks ok", body)
	}
	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s, want 200", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d, want 200 with go_goroutines:\n%.500s", code, body)
	}
	if code, _ := get(t, base+"/no-such-route"); code != http.StatusNotFound {
		t.Errorf("/no-such-route = %d, want 404", code)
	}

	// What SIGTERM does through signal.NotifyContext.
	cancel()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("runMain did not return within 10s of cancel\nstderr:\n%s", stderr.String())
	}
	if runErr != nil {
		t.Fatalf("runMain after cancel = %v, want nil\nstderr:\n%s", runErr, stderr.String())
	}
	msgs := strings.Join(logMessages(t, stderr.String()), "\n")
	for _, want := range []string{"watchtower starting", "migration applied", "watchtower ready", "watchtower stopping", "watchtower stopped"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("logs lack %q:\n%s", want, stderr.String())
		}
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after runMain returned", addr)
	}
	if n := countRows(t, s, "schema_migrations")["schema_migrations"]; n == 0 {
		t.Errorf("run --migrate left schema_migrations empty")
	}
}

func TestRunFailsFast(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewMigrated(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Not defer: the parallel subtests run after this function returns.
	t.Cleanup(func() { taken.Close() })
	tests := []struct {
		name   string
		env    map[string]string
		errHas string
	}{
		{"port taken", map[string]string{"HTTP_ADDR": taken.Addr().String()}, "listen on " + taken.Addr().String()},
		{"redis unreachable", map[string]string{"HTTP_ADDR": "127.0.0.1:0", "REDIS_URL": "redis://127.0.0.1:1/0"}, "redis: connect to 127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := with(tt.env, "DATABASE_URL", s.URL, "LOG_FORMAT", "json")
			done := make(chan struct{})
			var stderr string
			var err error
			go func() {
				defer close(done)
				_, stderr, err = runCLI(t, e, "run")
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("run did not fail within 20s") // t.Context, cancelled as the test ends, stops it
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("run = %v, want an error containing %q\nstderr:\n%s", err, tt.errHas, stderr)
			}
			if got := exitCode(err); got != 1 {
				t.Errorf("exit code %d, want 1", got)
			}
		})
	}
}

// TestBinaryStopsOnSIGTERM runs the real binary, so that the signal wiring in
// main (not only runMain's context) is covered.
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	s := storetest.NewSchema(t)
	bin := filepath.Join(t.TempDir(), "watchtower")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	cmd := exec.Command(bin, "run", "--migrate")
	// LOG_FORMAT is left to auto: stderr is a pipe, so the logs are JSON.
	cmd.Env = []string{"DATABASE_URL=" + s.URL, "HTTP_ADDR=" + addr}
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		defer close(exited)
		waitErr = cmd.Wait()
	}()
	// If the test fails early, kill this process (only this one) before the
	// schema is dropped.
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	// stderr may only be read once the process has exited.
	why := func() string { <-exited; return fmt.Sprintf("exit: %v\nstderr:\n%s", waitErr, stderr.String()) }

	waitReady(t, "http://"+addr, exited, why)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("watchtower did not exit within 10s of SIGTERM\nstderr:\n%s", stderr.String())
	}
	if waitErr != nil || cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("watchtower exited with %v (code %d), want 0\nstderr:\n%s", waitErr, cmd.ProcessState.ExitCode(), stderr.String())
	}
	msgs := logMessages(t, stderr.String())
	if len(msgs) == 0 || msgs[len(msgs)-1] != "watchtower stopped" {
		t.Errorf("last log message is not \"watchtower stopped\":\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("run wrote to stdout: %q", stdout.String())
	}
}

// With Slack tokens, run holds a socket to Slack: /readyz names it, and a
// /fleet command is answered through the response_url.
func TestRunWithSlack(t *testing.T) {
	t.Parallel()
	s := storetest.NewSchema(t)
	fake := slackfake.NewServer(t)
	addr := freeAddr(t)
	e := map[string]string{"DATABASE_URL": s.URL, "HTTP_ADDR": addr, "LOG_FORMAT": "json",
		"SLACK_BOT_TOKEN": slackfake.BotToken, "SLACK_APP_TOKEN": slackfake.AppToken, "SLACK_API_URL": fake.URL}
	if _, stderr, err := runCLI(t, e, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	if _, stderr, err := runCLI(t, e, "seed", "testdata/fleet"); err != nil {
		t.Fatalf("seed: %v\n%s", err, stderr)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		runErr = runMain(ctx, []string{"run"}, env(e), &stdout, &stderr)
	}()
	t.Cleanup(func() { cancel(); <-exited })
	why := func() string { return fmt.Sprintf("runMain = %v\nstderr:\n%s", runErr, stderr.String()) }
	body := waitReady(t, "http://"+addr, exited, why)
	if !strings.Contains(string(body), `"slack":"ok"`) {
		t.Errorf("/readyz does not report the Slack socket: %s", body)
	}
	fake.Slash("C0OPS0001", "UWOL0LU0JUZ", "where T11985LA", "main")
	c, ok := fake.WaitCall(10*time.Second, 1, slackfake.Method("response_url"))
	if !ok {
		t.Fatalf("no answer to /fleet\n%s", why())
	}
	if !strings.Contains(c.Params.Get("text"), "T11985LA") {
		t.Errorf("answer: %s", c.Body)
	}
	cancel()
	<-exited
	if runErr != nil {
		t.Errorf("run = %v", runErr)
	}
}

// `watchtower sync-sheets --dry-run` prints the diff and writes nothing;
// without it the sheet's master data is applied, and a second run
// changes nothing.
func TestSyncSheetsCommand(t *testing.T) {
	t.Parallel()
	s := storetest.NewSchema(t)
	fake := sheetstest.NewServer(t, "1sheet")
	for tab, file := range map[string]string{"Organizations": "organizations.csv", "Locations": "locations.csv",
		"Trucks": "trucks.csv", "Drivers": "drivers.csv", "Users": "users.csv"} {
		f, err := os.Open(filepath.Join("testdata/fleet", file))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		rows := make([][]any, len(recs))
		for i, r := range recs {
			for _, c := range r {
				rows[i] = append(rows[i], c)
			}
		}
		fake.SetTab(tab, rows)
	}
	e := map[string]string{"DATABASE_URL": s.URL, "LOG_FORMAT": "json", "SHEETS_SPREADSHEET_ID": "1sheet", "SHEETS_API_URL": fake.URL()}
	if _, stderr, err := runCLI(t, e, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	out, stderr, err := runCLI(t, e, "sync-sheets", "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: nothing written") || !strings.Contains(out, "+ T11985LA") {
		t.Fatalf("dry run: %v\n%s\n%s", err, out, stderr)
	}
	if n := countRows(t, s, "trucks")["trucks"]; n != 0 {
		t.Fatalf("a dry run wrote %d trucks", n)
	}
	out, stderr, err = runCLI(t, e, "sync-sheets")
	if err != nil || !strings.Contains(out, "trucks: 84 new") {
		t.Fatalf("sync: %v\n%s\n%s", err, out, stderr)
	}
	out, _, err = runCLI(t, e, "sync-sheets")
	if err != nil || !strings.Contains(out, "0 changed, 0 bad") {
		t.Errorf("second sync: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, map[string]string{"DATABASE_URL": s.URL}, "sync-sheets"); exitCode(err) != 2 {
		t.Errorf("sync-sheets without a sheet = %v, want exit 2", err)
	}
}

// `watchtower report --dry-run` prints the day's Block Kit, chart
// included; a bad --date is bad input.
func TestReportCommand(t *testing.T) {
	t.Parallel()
	s := storetest.NewSchema(t)
	e := map[string]string{"DATABASE_URL": s.URL, "LOG_FORMAT": "json"}
	if _, stderr, err := runCLI(t, e, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	out, stderr, err := runCLI(t, e, "report", "--date", "2026-12-03", "--dry-run")
	if err != nil || !strings.Contains(out, `"data_visualization"`) || !strings.Contains(out, "Fleet report · Thu 3 Dec 2026") {
		t.Fatalf("report --dry-run: %v\n%.2000s\n%s", err, out, stderr)
	}
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(out), &blocks); err != nil || len(blocks.BlockSet) == 0 {
		t.Errorf("the dry run is not Block Kit JSON: %v", err)
	}
	if _, _, err := runCLI(t, e, "report", "--date", "3/12/2026"); exitCode(err) != 2 {
		t.Errorf("report --date 3/12/2026 = %v, want exit 2", err)
	}
}
