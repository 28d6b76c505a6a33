package bot

import (
	"context"
	"math"
	"time"

	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/tools"
)

// ReportBlocks draws a report: its card (key numbers against the period
// before, exceptions, the Details button) with a chart after the numbers,
// in Slack's data_visualization block: the week's trips for a day's
// report, utilisation across the week for a week's.
func ReportBlocks(rep tools.Report) []slack.Block {
	v := rep.View()
	blocks := Blocks(tools.Reply{Text: v.Text, Views: []tools.View{v}})
	var cats []string
	var started, completed []slack.DataVisualizationDataPoint
	for _, d := range rep.Week {
		day, _ := time.Parse(time.DateOnly, d.Day)
		label := day.Format("Mon 2")
		cats = append(cats, label)
		started = append(started, slack.NewDataVisualizationDataPoint(label, float64(d.TripsStarted)))
		completed = append(completed, slack.NewDataVisualizationDataPoint(label, float64(d.TripsCompleted)))
	}
	chart := slack.NewDataVisualizationBlock("Trips per day", slack.NewDataVisualizationBarChart(
		slack.NewDataVisualizationAxisConfig(cats...).WithYLabel("trips"),
		slack.NewDataVisualizationDataSeries("Started", started...),
		slack.NewDataVisualizationDataSeries("Completed", completed...)))
	if rep.Weekly {
		// The week: how much of the fleet worked, day by day.
		var util []slack.DataVisualizationDataPoint
		for i, d := range rep.Week {
			util = append(util, slack.NewDataVisualizationDataPoint(cats[i], math.Round(1000*d.Utilisation)/10))
		}
		chart = slack.NewDataVisualizationBlock("Utilisation across the week", slack.NewDataVisualizationLineChart(
			slack.NewDataVisualizationAxisConfig(cats...).WithYLabel("% of active trucks"),
			slack.NewDataVisualizationDataSeries("Utilisation", util...)))
	}
	// After the header, the summary and the numbers.
	at := min(3, len(blocks))
	out := append(append(append([]slack.Block{}, blocks[:at]...), chart), blocks[at:]...)
	if len(out) > maxBlocks {
		out = out[:maxBlocks]
	}
	return out
}

// PostReport posts a day's report to channel, or updates the message it
// was posted as before: rerunning a date never posts twice.
func PostReport(ctx context.Context, api *slack.Client, reg *tools.Registry, channel string, rep tools.Report) (string, error) {
	blocks := ReportBlocks(rep)
	text := rep.View().Title
	oldChannel, ts, err := reg.ReportMessage(ctx, rep)
	if err != nil {
		return "", err
	}
	if ts != "" {
		if _, _, _, err := api.UpdateMessageContext(ctx, oldChannel, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err == nil {
			return ts, nil
		}
		// The message is gone: post it again.
	}
	ch, ts, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		return "", err
	}
	return ts, reg.SetReportMessage(ctx, rep, ch, ts)
}
