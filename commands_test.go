package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// usageText is the usage text as it was written by hand before it was
// generated from the command table; the generated one must not drift from
// it unnoticed.
const usageText = `Usage: watchtower [command] [flags]

Commands:
  run [--migrate] [--simulate DIR] [--no-console]
                    run the bot, webhook listener and jobs (the default);
                    --simulate feeds a simulated day of DIR's fleet (the demo);
                    on a terminal without Slack tokens the console opens
                    (quit stops the service) unless --no-console
  migrate           apply pending database migrations
  seed DIR          load master data CSV files from DIR (e.g. testdata/fleet)
  replay [--from T] [--to T]
                    re-run archived LocoNav events through the consumers (idempotent)
  job NAME          run one scheduled job now (partitions, offline-trucks, alert-outbox,
                    expire-actions, follow-trips, daily-report, weekly-report,
                    loconav-poll, loconav-trips, sheets-sync)
  report [--date YYYY-MM-DD] [--weekly] [--dry-run]
                    the day's operations report (yesterday's by default; --weekly: the
                    seven days ending with it), posted to SLACK_REPORT_CHANNEL or
                    updated there; --dry-run prints its Block Kit
  sync-sheets [--dry-run]
                    read the Google Sheet's master data now and apply the good rows;
                    --dry-run prints what would change and writes nothing
  console [--as USERID]
                    talk to the bot on this terminal, or line by line on a pipe
                    (as an admin operator, or as a Slack user with that user's role)
  apikey create --name NAME --role viewer|dispatcher|admin
                    create a key for the HTTP API (/api/v1); it is printed once
  apikey revoke --name NAME
                    revoke a key at once, on every replica
  apikey list       list keys: name, role, first characters, last use, state
  tools [--json]    print the bot's tools: name, role, read or write, description, schema
  config            print the configuration, secrets redacted
  version           print the version

Configuration comes from environment variables; see 'watchtower config'.
`

func TestUsageIsGeneratedFromTheTable(t *testing.T) {
	t.Parallel()
	if got := usage(); got != usageText {
		t.Errorf("usage() =\n%s\nwant\n%s", got, usageText)
	}
	stdout, _, err := runCLI(t, nil, "help")
	if err != nil || stdout != usageText {
		t.Errorf("help printed %q, %v", stdout, err)
	}
	// Every listed command is in the table once, with a run func.
	seen := map[string]bool{}
	for _, c := range commands() {
		if seen[c.name] || c.run == nil {
			t.Errorf("command %q: twice, or without a run func", c.name)
		}
		seen[c.name] = true
		for _, u := range c.usage {
			if !strings.HasPrefix(u.line, c.name) {
				t.Errorf("command %q has usage %q", c.name, u.line)
			}
		}
	}
}

// runStages starts every part, stops the stages in order when ctx ends,
// waiting for each before the next, and returns once all have stopped.
func TestRunStagesStopsInOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var stopped []string
	running := sync.WaitGroup{}
	part := func(name string, linger time.Duration) func(context.Context) error {
		running.Add(1)
		return func(ctx context.Context) error {
			running.Done()
			<-ctx.Done()
			time.Sleep(linger) // a batch in hand
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
			return nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stages := []stage{
		{name: "front", parts: []func(context.Context) error{part("slack", 30*time.Millisecond), part("hub", 0)}},
		{name: "listener", parts: []func(context.Context) error{part("listener", 20*time.Millisecond)}},
		{name: "consumers", parts: []func(context.Context) error{part("consumer", 50*time.Millisecond)}},
		{name: "jobs", parts: []func(context.Context) error{part("jobs", 0)}},
	}
	go func() { done <- runStages(ctx, 10*time.Second, slog.New(slog.DiscardHandler), stages...) }()
	running.Wait()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runStages did not return")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"hub", "slack", "listener", "consumer", "jobs"}; !slices.Equal(stopped, want) {
		t.Errorf("stopped %v, want %v", stopped, want)
	}
}

// A part that fails stops every stage, and its error is returned.
func TestRunStagesStopsOnFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("token refused")
	var stopped sync.WaitGroup
	stopped.Add(2)
	waiter := func(ctx context.Context) error { <-ctx.Done(); stopped.Done(); return nil }
	err := runStages(context.Background(), 10*time.Second, slog.New(slog.DiscardHandler),
		stage{name: "front", parts: []func(context.Context) error{func(context.Context) error { return boom }, waiter}},
		stage{name: "listener", parts: []func(context.Context) error{waiter}})
	if !errors.Is(err, boom) {
		t.Errorf("runStages = %v, want %v", err, boom)
	}
	stopped.Wait() // returned only after both stopped, or this blocks
}

// A stage that outlives the timeout is given up on: runStages returns.
func TestRunStagesGivesUpAfterTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := runStages(ctx, 100*time.Millisecond, slog.New(slog.DiscardHandler),
		stage{name: "stuck", parts: []func(context.Context) error{func(context.Context) error { <-release; return nil }}})
	if err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("runStages = %v after %s", err, time.Since(start))
	}
}
