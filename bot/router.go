// Package bot is Watch Tower's face: a router that is the same for every
// surface, and the adapters that carry messages to it (the console here;
// Slack next). It reaches data only through tools, so the model, /fleet
// and the buttons share one path.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/watchtower-fleet/watchtower/tools"
)

// Router turns what people type and press into replies.
type Router struct {
	asst   *tools.Assistant
	reg    *tools.Registry
	logger *slog.Logger
	// Sync runs the Google Sheets sync now and says what it changed; nil
	// where the sync is not set up.
	Sync func(ctx context.Context, c tools.Caller) (string, error)
}

// sync is /fleet sync: admins only.
func (r *Router) sync(ctx context.Context, c tools.Caller) tools.Reply {
	if c.Role != tools.RoleAdmin {
		return tools.Reply{Text: "Only an admin can run the sheet sync; you are " + c.Role + ".", Failed: true}
	}
	if r.Sync == nil {
		return tools.Reply{Text: "The Google Sheets sync is not set up here (it needs GOOGLE_APPLICATION_CREDENTIALS and a sheet).", Failed: true}
	}
	msg, err := r.Sync(ctx, c)
	if err != nil {
		ref := tools.Ref(err)
		r.logger.ErrorContext(ctx, "sheet sync", "err", err, "ref", ref)
		return tools.Reply{Text: "The sheet sync failed (ref " + ref + ").", Failed: true}
	}
	return tools.Reply{Text: msg}
}

// NewRouter builds the router on an assistant (which holds the registry).
func NewRouter(asst *tools.Assistant, logger *slog.Logger) *Router {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Router{asst: asst, reg: asst.Registry(), logger: logger}
}

// Message is something a person typed.
type Message struct {
	Caller tools.Caller
	// Thread names the conversation, for follow-ups.
	Thread string
	Text   string
	// Command is set for /fleet: the deterministic grammar answers, and
	// the model is never called.
	Command bool
}

// Handle answers a message. Text starting with "/fleet" is a command
// wherever it is typed.
func (r *Router) Handle(ctx context.Context, m Message, progress func(tools.Progress)) tools.Reply {
	text := strings.TrimSpace(m.Text)
	if rest, ok := cutPrefixFold(text, "/fleet"); ok {
		text, m.Command = strings.TrimSpace(rest), true
	}
	if m.Caller.CorrelationID == "" {
		m.Caller.CorrelationID = tools.NewCorrelationID()
	}
	if !m.Command {
		return r.asst.Ask(ctx, tools.Request{Caller: m.Caller, Thread: m.Thread, Text: text, Progress: progress})
	}
	cmd, err := tools.Parse(text)
	var ue *tools.UsageError
	switch {
	case errors.As(err, &ue):
		return tools.Reply{Text: ue.Error(), Failed: true}
	case err != nil:
		return tools.Reply{Text: tools.Suggest(text), Failed: true}
	case cmd.Help:
		return tools.Reply{Text: r.reg.Help(m.Caller.Role)}
	case cmd.Sync:
		return r.sync(ctx, m.Caller)
	case cmd.Report:
		dayText, weekly := strings.CutPrefix(strings.ToLower(cmd.ReportDay), "week")
		dayText = strings.TrimSpace(strings.TrimPrefix(dayText, "ly"))
		if weekly && dayText == "" {
			dayText = "yesterday"
		}
		day, err := tools.ParseDay(dayText, r.reg.Now(), r.reg.Zone())
		if err != nil {
			return tools.Reply{Text: fmt.Sprintf("I can't read %q as a day: try yesterday, 2026-12-03, monday, or week.", cmd.ReportDay), Failed: true}
		}
		report := r.reg.DailyReport
		if weekly {
			report = r.reg.WeeklyReport
		}
		rep, err := report(ctx, day)
		if err != nil {
			return r.failed(ctx, "report", err)
		}
		v := rep.View()
		return tools.Reply{Text: v.Text, Views: []tools.View{v}}
	}
	return tools.ReplyFor(r.reg.InvokeArgs(ctx, m.Caller, cmd.Tool, cmd.Args))
}

// Press handles a button: Confirm or Cancel of a pending action.
func (r *Router) Press(ctx context.Context, c tools.Caller, b tools.Button) tools.Reply {
	if c.CorrelationID == "" {
		c.CorrelationID = tools.NewCorrelationID()
	}
	switch b.Action {
	case tools.ActionConfirm:
		return tools.ReplyFor(r.reg.Confirm(ctx, c, b.Value))
	case tools.ActionCancel:
		return tools.ReplyFor(r.reg.Dismiss(ctx, c, b.Value))
	case tools.ActionRefresh:
		return tools.ReplyFor(r.reg.InvokeArgs(ctx, c, "truck_location", tools.TruckArgs{Truck: b.Value}))
	case tools.ActionShare:
		return tools.ReplyFor(r.reg.InvokeArgs(ctx, c, "trip_status", tools.TripArgs{Trip: &b.Value}))
	case tools.ActionReportDetails:
		rep, err := r.reg.ReportFor(ctx, b.Value)
		var ue *tools.UserError
		if errors.As(err, &ue) {
			return tools.Reply{Text: "That button does nothing any more.", Failed: true}
		}
		if err != nil {
			return r.failed(ctx, "report details", err)
		}
		v := rep.Details()
		return tools.Reply{Text: v.Text, Views: []tools.View{v}}
	}
	return tools.Reply{Text: "That button does nothing any more.", Failed: true}
}

// failed is a plain sentence with a reference that is also logged.
func (r *Router) failed(ctx context.Context, what string, err error) tools.Reply {
	ref := tools.Ref(err)
	r.logger.ErrorContext(ctx, what, "err", err, "ref", ref)
	return tools.Reply{Text: "Something went wrong on our side (ref " + ref + ").", Failed: true}
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) && (len(s) == len(prefix) || s[len(prefix)] == ' ') {
		return s[len(prefix):], true
	}
	return s, false
}
