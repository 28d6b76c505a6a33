package bot_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/bot/slackfake"
	"github.com/watchtower-fleet/watchtower/internal/golden"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

// The day's report as Block Kit (with the week's chart, valid by
// slack-go's own checks) and as text, pinned by golden files.
func TestReportGolden(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	day := time.Date(2026, 12, 4, 0, 0, 0, 0, lagos)
	if _, err := f.db.CreateTrip(ctx, store.Trip{TruckNumber: "T11985LA", Pickup: "ESSLIBRA", Delivery: "DANGOTE_IBESE",
		ScheduledDeparture: day.Add(6 * time.Hour), CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.FollowTrips(ctx, nil, time.Unix(0, f.clock.Load()), store.DefaultFollowRules()); err != nil {
		t.Fatal(err)
	}
	rep, err := f.reg.DailyReport(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	blocks := bot.ReportBlocks(rep)
	checkLimits(t, blocks)
	sawChart := false
	for _, b := range blocks {
		if v, ok := b.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				t.Errorf("%s block: %v", b.BlockType(), err)
			}
		}
		sawChart = sawChart || b.BlockType() == slack.MBTDataVisualization
	}
	if !sawChart {
		t.Error("the report has no chart")
	}
	got, err := json.MarshalIndent(slack.Blocks{BlockSet: blocks}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/report/daily.json", append(got, '\n'))
	text := run(t, f.router, tools.Caller{ID: "console", Name: "console", Role: tools.RoleAdmin}, "/fleet report today\n1\n")
	golden.Check(t, "testdata/report/daily.txt", []byte(text))
	for _, want := range []string{"Fleet report · Fri 4 Dec 2026", "Delayed", "T11985LA", "Details · 2026-12-04", "ESSLIBRA"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report's text lacks %q", want)
		}
	}

	// The week to Friday, against the week before, with utilisation as its
	// chart.
	week, err := f.reg.WeeklyReport(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	blocks = bot.ReportBlocks(week)
	checkLimits(t, blocks)
	for _, b := range blocks {
		if v, ok := b.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				t.Errorf("weekly %s block: %v", b.BlockType(), err)
			}
		}
	}
	got, _ = json.MarshalIndent(slack.Blocks{BlockSet: blocks}, "", "  ")
	golden.Check(t, "testdata/report/weekly.json", append(got, '\n'))
	if !strings.Contains(string(got), "Utilisation across the week") || !strings.Contains(string(got), "Weekly fleet report · 28 Nov – 4 Dec 2026") {
		t.Error("the weekly report lacks its title or its chart")
	}
	text = run(t, f.router, tools.Caller{ID: "console", Name: "console", Role: tools.RoleAdmin}, "/fleet report week\n1\n")
	golden.Check(t, "testdata/report/weekly.txt", []byte(text))
}

// Rerunning a day's report updates its message; it never posts twice.
func TestPostReportIdempotent(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	api := slack.New(slackfake.BotToken, slack.OptionAPIURL(fake.URL))
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, lagos)
	for range 2 {
		rep, err := f.reg.DailyReport(context.Background(), day)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bot.PostReport(context.Background(), api, f.reg, "C0REPORTS1", rep); err != nil {
			t.Fatal(err)
		}
	}
	if p, u := len(fake.Calls("chat.postMessage")), len(fake.Calls("chat.update")); p != 1 || u != 1 {
		t.Errorf("%d posts and %d updates, want 1 and 1", p, u)
	}
	// The week ending that day is a message of its own, also posted once.
	for range 2 {
		rep, err := f.reg.WeeklyReport(context.Background(), day)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bot.PostReport(context.Background(), api, f.reg, "C0REPORTS1", rep); err != nil {
			t.Fatal(err)
		}
	}
	if p, u := len(fake.Calls("chat.postMessage")), len(fake.Calls("chat.update")); p != 2 || u != 2 {
		t.Errorf("with the week: %d posts and %d updates, want 2 and 2", p, u)
	}
}
