package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/tools"
)

// reportCmd is `watchtower report [--date YYYY-MM-DD] [--weekly]
// [--dry-run]`: the day's report (yesterday's by default), or with --weekly
// the seven days ending with it. --dry-run prints its Block Kit;
// otherwise it is posted to SLACK_REPORT_CHANNEL (updating the day's
// message if there is one), or printed as text without Slack.
func reportCmd(ctx context.Context, a *app, date string, weekly, dryRun bool, stdout io.Writer) error {
	cfg := a.cfg
	day := time.Now().In(cfg.ReportTimezone).AddDate(0, 0, -1)
	if date != "" {
		var err error
		if day, err = time.ParseInLocation(time.DateOnly, date, cfg.ReportTimezone); err != nil {
			return badInput(fmt.Errorf("report: --date %q is not YYYY-MM-DD", date))
		}
	}
	report := a.tools.DailyReport
	if weekly {
		report = a.tools.WeeklyReport // the seven days ending with the date
	}
	rep, err := report(ctx, day)
	if err != nil {
		return err
	}
	switch {
	case dryRun:
		out, err := json.MarshalIndent(slack.Blocks{BlockSet: bot.ReportBlocks(rep)}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(out))
	case cfg.SlackBotToken != "" && cfg.SlackReportChannel != "":
		ts, err := a.postReport(ctx, rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report for %s posted to %s (%s)\n", rep.Day.Day, cfg.SlackReportChannel, ts)
	default:
		v := rep.View()
		text, _ := bot.Text(tools.Reply{Text: v.Text, Views: []tools.View{v}})
		fmt.Fprint(stdout, text)
	}
	return nil
}

// postReport posts (or updates) a day's report in SLACK_REPORT_CHANNEL.
func (a *app) postReport(ctx context.Context, rep tools.Report) (string, error) {
	api := slack.New(a.cfg.SlackBotToken, slack.OptionAPIURL(a.cfg.SlackAPIURL), slack.OptionHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	return bot.PostReport(ctx, api, a.tools, a.cfg.SlackReportChannel, rep)
}
