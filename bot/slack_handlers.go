package bot

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/watchtower-fleet/watchtower/tools"
)

// SuggestedPrompts greet a new assistant thread.
var SuggestedPrompts = []slack.AssistantThreadsPrompt{
	{Title: "Where is a truck?", Message: "Where is T11985LA?"},
	{Title: "Trucks at a terminal", Message: "Which trucks are at ESSLIBRA?"},
	{Title: "Delays", Message: "Any delays today?"},
	{Title: "Yesterday", Message: "Yesterday's summary"},
}

// Greeting opens an assistant thread.
const Greeting = "Hi! Ask me where a truck is, what is at a terminal, or how the trips are going. " +
	"I can also draft a trip for you to confirm. `/fleet help` lists the quick commands."

// onEvent answers an Events API callback. Every delivery of an event id
// is answered once, whichever replica gets it and whatever its
// retry_attempt: events sent while no socket was up arrive only as retries.
func (s *Slack) onEvent(ctx context.Context, ev slackevents.EventsAPIEvent, retry int) {
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || cb.EventID == "" || !s.firstTime(ctx, "event:"+cb.EventID) {
		return
	}
	switch in := ev.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		if in.BotID != "" || in.User == "" || in.User == s.botUserID {
			return
		}
		s.onMessage(ctx, in.Channel, in.User, in.Text, in.TimeStamp, in.ThreadTimeStamp, false, retry)
	case *slackevents.MessageEvent:
		// Only people's new messages in the bot's DMs: never its own,
		// another bot's, edits or deletions.
		if in.ChannelType != "im" || in.SubType != "" || in.BotID != "" || in.User == "" || in.User == s.botUserID {
			return
		}
		s.onMessage(ctx, in.Channel, in.User, in.Text, in.TimeStamp, in.ThreadTimeStamp, true, retry)
	case *slackevents.AssistantThreadStartedEvent:
		th := in.AssistantThread
		if _, _, err := s.api.PostMessageContext(ctx, th.ChannelID, slack.MsgOptionText(Greeting, false),
			slack.MsgOptionTS(th.ThreadTimeStamp)); err != nil {
			s.logger.Warn("slack greeting", "err", err)
		}
		if err := s.api.SetAssistantThreadsSuggestedPromptsContext(ctx, slack.AssistantThreadsSetSuggestedPromptsParameters{
			ChannelID: th.ChannelID, ThreadTS: th.ThreadTimeStamp, Prompts: SuggestedPrompts}); err != nil {
			s.logger.Warn("slack suggested prompts", "err", err)
		}
	}
}

var mentionRE = regexp.MustCompile(`<@[UW][A-Z0-9]+(\|[^>]*)?>`)

// onMessage answers a mention or a DM in its thread: free text goes
// through the model (or the grammar without one); "/fleet …" typed in a
// message is a command. Progress shows while it works: the assistant
// thread's status in a DM, a placeholder updated in place in a channel.
func (s *Slack) onMessage(ctx context.Context, channel, user, text, ts, threadTS string, dm bool, retry int) {
	// A message is answered once even if it arrives as both a mention and
	// a DM.
	if !s.firstTime(ctx, "msg:"+channel+":"+ts) {
		return
	}
	text = strings.TrimSpace(mentionRE.ReplaceAllString(text, " "))
	thread := threadTS
	if thread == "" {
		thread = ts
	}
	log := s.logger.With("channel", channel, "user", user, "ts", ts)
	if retry > 0 {
		log.Info("slack event redelivered", "retry_attempt", retry)
	}
	caller, err := s.roles.Caller(ctx, user, "")
	if err != nil {
		s.post(ctx, channel, thread, tools.Reply{Text: s.errRef(ctx, "slack caller", err), Failed: true})
		return
	}
	if caller.Name == "" {
		caller.Name = "<@" + user + ">"
	}
	if text == "" {
		text = "help"
	}
	p := s.newProgress(ctx, channel, thread, dm)
	reply := s.router.Handle(ctx, Message{Caller: caller, Thread: "slack:" + channel + ":" + thread, Text: text}, p.update)
	p.finish(ctx, reply)
}

// progress shows that the bot is working and then puts the answer in the
// thread.
type progress struct {
	s               *Slack
	channel, thread string
	dm              bool

	mu          sync.Mutex
	placeholder string // ts of the placeholder message, in channels
	status      bool   // the assistant status is set, in DMs
	last        time.Time
}

func (s *Slack) newProgress(ctx context.Context, channel, thread string, dm bool) *progress {
	p := &progress{s: s, channel: channel, thread: thread, dm: dm}
	if dm {
		err := s.api.SetAssistantThreadsStatusContext(ctx, slack.AssistantThreadsSetStatusParameters{
			ChannelID: channel, ThreadTS: thread, Status: "is looking…"})
		p.status = err == nil
		if err == nil {
			return p
		}
		// Not an assistant thread: a placeholder does instead.
	}
	_, ts, err := s.api.PostMessageContext(ctx, channel, slack.MsgOptionText("_Looking…_", false), slack.MsgOptionTS(thread))
	if err == nil {
		p.placeholder = ts
	} else {
		s.logger.Warn("slack placeholder", "err", err)
	}
	return p
}

// update shows what the model is doing, at most once a second.
func (p *progress) update(ev tools.Progress) {
	if ev.Kind != tools.ProgressTool {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	what := "is checking " + strings.ReplaceAll(ev.Tool, "_", " ") + "…"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch {
	case p.status:
		_ = p.s.api.SetAssistantThreadsStatusContext(ctx, slack.AssistantThreadsSetStatusParameters{
			ChannelID: p.channel, ThreadTS: p.thread, Status: what})
	case p.placeholder != "":
		_, _, _, _ = p.s.api.UpdateMessageContext(ctx, p.channel, p.placeholder, slack.MsgOptionText("_Watch Tower "+what+"_", false))
	}
}

// finish puts the reply in place of the placeholder, or in the thread
// (which clears the assistant status).
func (p *progress) finish(ctx context.Context, r tools.Reply) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.placeholder != "" {
		blocks := Blocks(r)
		if _, _, _, err := p.s.api.UpdateMessageContext(ctx, p.channel, p.placeholder,
			slack.MsgOptionText(fallback(r), false), slack.MsgOptionBlocks(blocks...)); err == nil {
			return
		}
	}
	p.s.post(ctx, p.channel, p.thread, r)
}

// post puts a reply in a thread.
func (s *Slack) post(ctx context.Context, channel, thread string, r tools.Reply) string {
	_, ts, err := s.api.PostMessageContext(ctx, channel, slack.MsgOptionText(fallback(r), false),
		slack.MsgOptionBlocks(Blocks(r)...), slack.MsgOptionTS(thread))
	if err != nil {
		s.logger.ErrorContext(ctx, "slack post", "channel", channel, "err", err)
	}
	return ts
}

// fallback is the notification text of a reply: Slack shows it where
// blocks cannot be drawn.
func fallback(r tools.Reply) string {
	t := r.Text
	if t == "" && len(r.Views) > 0 {
		t = r.Views[0].Title
	}
	return clipChars(t, maxSectionChars)
}

// onSlash answers /fleet through the grammar, never the model, by the
// response_url: results in the channel, errors and help to the person
// alone.
func (s *Slack) onSlash(ctx context.Context, cmd slack.SlashCommand) {
	caller, err := s.roles.Caller(ctx, cmd.UserID, "")
	var reply tools.Reply
	if err != nil {
		reply = tools.Reply{Text: s.errRef(ctx, "slack caller", err), Failed: true}
	} else {
		if caller.Name == "" {
			caller.Name = "<@" + cmd.UserID + ">"
		}
		reply = s.router.Handle(ctx, Message{Caller: caller, Thread: "slack:slash:" + cmd.ChannelID + ":" + cmd.UserID,
			Text: cmd.Text, Command: true}, nil)
	}
	typ := slack.ResponseTypeEphemeral
	if !reply.Failed && (len(reply.Views) > 0 || len(reply.Pending) > 0) {
		typ = slack.ResponseTypeInChannel
	}
	blocks := slack.Blocks{BlockSet: Blocks(reply)}
	msg := &slack.WebhookMessage{ResponseType: typ, Text: fallback(reply), Blocks: &blocks}
	if err := slack.PostWebhookCustomHTTPContext(ctx, cmd.ResponseURL, s.http, msg); err != nil {
		s.logger.ErrorContext(ctx, "slack slash reply", "err", err)
	}
}

// onInteraction handles a button press.
func (s *Slack) onInteraction(ctx context.Context, cb slack.InteractionCallback) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return
	}
	for _, a := range cb.ActionCallback.BlockActions {
		action, ok := strings.CutPrefix(a.ActionID, actionPrefix)
		if !ok {
			continue
		}
		if strings.HasPrefix(action, actionLink) {
			continue // Slack opened the link
		}
		if action == actionAck {
			s.onAcknowledge(ctx, cb, a)
			continue
		}
		s.onButton(ctx, cb, a, action)
	}
}

// onButton runs a card's button through the router. A refused press (a
// second press, someone not allowed, an expired action) gets an ephemeral
// answer and leaves the card as it was; an accepted one updates the card
// in place: who pressed, when, and the result.
func (s *Slack) onButton(ctx context.Context, cb slack.InteractionCallback, a *slack.BlockAction, action string) {
	channel := cb.Container.ChannelID
	if channel == "" {
		channel = cb.Channel.ID
	}
	caller, err := s.roles.Caller(ctx, cb.User.ID, "")
	if err != nil {
		s.ephemeral(ctx, cb, s.errRef(ctx, "slack caller", err))
		return
	}
	if caller.Name == "" {
		caller.Name = "<@" + cb.User.ID + ">"
	}
	reply := s.router.Press(ctx, caller, tools.Button{Action: action, Value: a.Value})
	if reply.Failed {
		s.ephemeral(ctx, cb, reply.Text)
		return
	}
	switch action {
	case tools.ActionShare, tools.ActionReportDetails:
		// The link is for the channel to see: a message in the card's
		// thread.
		thread := cb.Container.ThreadTs
		if thread == "" {
			thread = cb.Container.MessageTs
		}
		s.post(ctx, channel, thread, reply)
		return
	case actionRefresh:
		s.replaceCard(ctx, cb, Blocks(reply), fallback(reply))
		return
	}
	verb := map[string]string{tools.ActionConfirm: "Confirmed", tools.ActionCancel: "Cancelled"}[action]
	if verb == "" {
		verb = "Done"
	}
	note := slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		verb+" by <@"+cb.User.ID+"> at "+time.Now().In(s.cfg.Zone).Format("15:04"), false, false))
	blocks := pressedBlocks(cb.Message.Blocks.BlockSet, a, append([]slack.Block{note}, Blocks(reply)...))
	s.replaceCard(ctx, cb, blocks, fallback(reply))
}

// pressedBlocks is the message with the pressed button's actions block
// replaced by result (the rest of the message, such as the model's words,
// stays).
func pressedBlocks(blocks []slack.Block, a *slack.BlockAction, result []slack.Block) []slack.Block {
	var out []slack.Block
	replaced := false
	for _, b := range blocks {
		ab, ok := b.(*slack.ActionBlock)
		if !replaced && ok && (ab.BlockID == a.BlockID || hasButton(ab, a.ActionID, a.Value)) {
			out = append(out, result...)
			replaced = true
			continue
		}
		out = append(out, b)
	}
	if !replaced {
		out = append(out, result...)
	}
	if len(out) > maxBlocks {
		out = out[:maxBlocks]
	}
	return out
}

func hasButton(ab *slack.ActionBlock, actionID, value string) bool {
	if ab.Elements == nil {
		return false
	}
	for _, el := range ab.Elements.ElementSet {
		if b, ok := el.(*slack.ButtonBlockElement); ok && b.ActionID == actionID && b.Value == value {
			return true
		}
	}
	return false
}

// replaceCard updates the message a button was on: chat.update for a
// message, the response_url for an ephemeral one.
func (s *Slack) replaceCard(ctx context.Context, cb slack.InteractionCallback, blocks []slack.Block, text string) {
	channel := cb.Container.ChannelID
	if !cb.Container.IsEphemeral && channel != "" && cb.Container.MessageTs != "" {
		_, _, _, err := s.api.UpdateMessageContext(ctx, channel, cb.Container.MessageTs,
			slack.MsgOptionText(clipChars(text, maxSectionChars), false), slack.MsgOptionBlocks(blocks...))
		if err == nil {
			return
		}
		s.logger.WarnContext(ctx, "slack card update", "err", err)
	}
	if cb.ResponseURL == "" {
		return
	}
	set := slack.Blocks{BlockSet: blocks}
	if err := slack.PostWebhookCustomHTTPContext(ctx, cb.ResponseURL, s.http,
		&slack.WebhookMessage{ReplaceOriginal: true, Text: clipChars(text, maxSectionChars), Blocks: &set}); err != nil {
		s.logger.ErrorContext(ctx, "slack card replace", "err", err)
	}
}

// ephemeral tells the presser alone, in the card's thread.
func (s *Slack) ephemeral(ctx context.Context, cb slack.InteractionCallback, text string) {
	channel := cb.Container.ChannelID
	if channel == "" {
		channel = cb.Channel.ID
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if cb.Container.ThreadTs != "" {
		opts = append(opts, slack.MsgOptionTS(cb.Container.ThreadTs))
	}
	if _, err := s.api.PostEphemeralContext(ctx, channel, cb.User.ID, opts...); err != nil {
		s.logger.WarnContext(ctx, "slack ephemeral", "err", err)
		if cb.ResponseURL != "" {
			_ = slack.PostWebhookCustomHTTPContext(ctx, cb.ResponseURL, s.http,
				&slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: text})
		}
	}
}
