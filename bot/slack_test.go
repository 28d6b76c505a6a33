package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/bot/slackfake"
	"github.com/watchtower-fleet/watchtower/internal/golden"
	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/tools"
)

// People of the test fleet (testdata/fleet/users.csv).
const (
	admin      = "UGEAY6BANS4"
	dispatcher = "UR9E0S7PEVF"
	viewer     = "UWOL0LU0JUZ"
	stranger   = "U0NOBODY01"
	ops        = "C0OPS0001"
	alertsChan = "C0ALERTS01"
	dmChannel  = "D0DM00001"
)

const wait = 10 * time.Second

// startSlack runs the bot against the fake until the test ends, and waits
// for its socket.
func startSlack(t testing.TB, f *fixture, fake *slackfake.Server, tune func(*bot.SlackConfig)) *bot.Slack {
	t.Helper()
	cfg := bot.SlackConfig{BotToken: slackfake.BotToken, AppToken: slackfake.AppToken, APIURL: fake.URL,
		Prefix: f.prefix, NotifyStream: f.prefix + "notifications", Zone: lagos, ReadyGrace: time.Second}
	if tune != nil {
		tune(&cfg)
	}
	s := bot.NewSlack(cfg, f.router, tools.NewRoles(nil, f.db), f.rdb, testLogger(t))
	before := fake.Connects()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("slack bot: %v", err)
			}
		case <-time.After(wait):
			t.Error("slack bot did not stop")
		}
	})
	if !fake.WaitConnected(before+1, wait) {
		t.Fatal("the bot did not connect")
	}
	waitReady(t, s, true)
	return s
}

func waitReady(t testing.TB, s *bot.Slack, want bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for (s.Ready(context.Background()) == nil) != want {
		if time.Now().After(deadline) {
			t.Fatalf("ready = %v, want %v", !want, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ack(t *testing.T, fake *slackfake.Server, id string) {
	t.Helper()
	a, ok := fake.WaitAck(id, wait)
	if !ok {
		t.Fatalf("envelope %s was not acked", id)
	}
	// Slack wants 3 s; the ack never waits for the work.
	if a.After > time.Second {
		t.Errorf("envelope %s acked after %s", id, a.After)
	}
}

// checkBlocks compares blocks JSON with testdata/slack/name.json.
func checkBlocks(t *testing.T, name, blocksJSON string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(blocksJSON), &v); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	got, _ := json.MarshalIndent(v, "", "  ")
	got = []byte(actIDRE.ReplaceAllString(string(got), "act_ID") + "\n")
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		t.Fatalf("blocks do not parse as slack-go blocks: %v", err)
	}
	checkLimits(t, blocks.BlockSet)
	golden.Check(t, filepath.Join("testdata", "slack", name+".json"), got)
}

func inThread(channel, thread string) func(slackfake.Call) bool {
	return func(c slackfake.Call) bool {
		return c.Params.Get("channel") == channel && c.Params.Get("thread_ts") == thread
	}
}

func method(m string, and func(slackfake.Call) bool) func(slackfake.Call) bool {
	return func(c slackfake.Call) bool { return c.Method == m && (and == nil || and(c)) }
}

// /fleet where: acked at once, answered in the channel through the
// response_url, with the truck's card; help and errors only to the person.
func TestSlackFleetCommand(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	startSlack(t, f, fake, nil)

	ack(t, fake, fake.Slash(ops, viewer, "where T11985LA", "r1"))
	c, ok := fake.WaitCall(wait, 1, method("response_url", nil))
	if !ok {
		t.Fatal("no reply on the response_url")
	}
	if c.Params.Get("response_type") != "in_channel" || !strings.Contains(c.Params.Get("text"), "T11985LA is at ESS Libra") {
		t.Errorf("reply: %s", c.Body)
	}
	checkBlocks(t, "slash-where", c.Blocks())

	// The parser forgives; a typo gets the closest truck, privately.
	for i, text := range []string{"where is t11985la?", "loc T-11985-LA", "11985"} {
		fake.Slash(ops, viewer, text, fmt.Sprintf("f%d", i))
		c, ok := fake.WaitCall(wait, 1, func(c slackfake.Call) bool { return c.Params.Get("response_url") == fmt.Sprintf("f%d", i) })
		if !ok || !strings.Contains(c.Params.Get("text"), "T11985LA is at") {
			t.Errorf("%q: %s", text, c.Body)
		}
	}
	fake.Slash(ops, viewer, "where T11958LA", "typo")
	c, _ = fake.WaitCall(wait, 1, func(c slackfake.Call) bool { return c.Params.Get("response_url") == "typo" })
	if c.Params.Get("response_type") != "ephemeral" || !strings.Contains(c.Params.Get("text"), "did you mean T11985LA") {
		t.Errorf("typo: %s", c.Body)
	}
	fake.Slash(ops, viewer, "wher T11985LA", "unknown")
	c, _ = fake.WaitCall(wait, 1, func(c slackfake.Call) bool { return c.Params.Get("response_url") == "unknown" })
	if c.Params.Get("response_type") != "ephemeral" || !strings.Contains(c.Params.Get("text"), "where") {
		t.Errorf("unknown command: %s", c.Body)
	}
	fake.Slash(ops, viewer, "help", "help")
	c, _ = fake.WaitCall(wait, 1, func(c slackfake.Call) bool { return c.Params.Get("response_url") == "help" })
	if c.Params.Get("response_type") != "ephemeral" || !strings.Contains(c.Params.Get("text"), "where <truck>") {
		t.Errorf("help: %s", c.Body)
	}
	if n := len(fake.Calls("chat.postMessage")); n != 0 {
		t.Errorf("/fleet posted %d messages besides its response_url answers", n)
	}
}

// A mention is answered in its thread: a placeholder at once, then the
// answer in its place. A follow-up in the thread continues there.
func TestSlackMention(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	startSlack(t, f, fake, nil)

	ack(t, fake, fake.Mention("Ev1", ops, dispatcher, "where is T11985LA?", "1764838800.000100", ""))
	ph, ok := fake.WaitCall(wait, 1, method("chat.postMessage", inThread(ops, "1764838800.000100")))
	if !ok {
		t.Fatal("no placeholder in the thread")
	}
	up, ok := fake.WaitCall(wait, 1, method("chat.update", func(c slackfake.Call) bool { return c.Params.Get("ts") == ph.TS }))
	if !ok {
		t.Fatal("the placeholder was not replaced by the answer")
	}
	if !strings.Contains(up.Params.Get("text"), "T11985LA is at ESS Libra") {
		t.Errorf("answer: %s", up.Params.Get("text"))
	}
	checkBlocks(t, "mention-where", up.Blocks())

	// A follow-up in the thread is answered in the same thread.
	fake.Mention("Ev2", ops, dispatcher, "/fleet at esslibra", "1764838900.000100", "1764838800.000100")
	if _, ok := fake.WaitCall(wait, 2, method("chat.postMessage", inThread(ops, "1764838800.000100"))); !ok {
		t.Fatal("the follow-up was not answered in the thread")
	}
}

// Delivery is at least once: the same event id is answered once, whatever
// its retry_attempt; an event first seen as a retry (sent while no socket
// was up) is answered; the bot's own messages and edits are not.
func TestSlackDuplicatesAndRetries(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	s := startSlack(t, f, fake, nil)
	// Two replicas share the dedupe.
	fake2 := fake // the same app: Slack spreads envelopes over its sockets
	s2 := startSlack(t, f, fake2, nil)

	msg := func(id, ts string, retry int, extra map[string]any) string {
		ev := map[string]any{"type": "message", "channel_type": "im", "user": dispatcher, "text": "/fleet where T11985LA",
			"ts": ts, "channel": dmChannel, "event_ts": ts}
		for k, v := range extra {
			ev[k] = v
		}
		return fake.Event(id, ev, retry)
	}
	ids := []string{
		msg("EvA", "1764838800.000200", 0, nil),
		msg("EvA", "1764838800.000200", 1, nil), // redelivered
		msg("EvA", "1764838800.000200", 2, nil),
		msg("EvB", "1764838800.000300", 3, nil), // first seen as a retry
		msg("EvC", "1764838800.000400", 0, map[string]any{"user": slackfake.BotUserID, "bot_id": slackfake.BotID}),
		msg("EvD", "1764838800.000500", 0, map[string]any{"bot_id": "B0OTHER"}),
		msg("EvE", "1764838800.000600", 0, map[string]any{"subtype": "message_changed"}),
		msg("EvF", "1764838800.000700", 0, map[string]any{"channel_type": "channel"}), // not a DM and not a mention
	}
	// The same message as a mention too (a DM mention can come as both).
	ids = append(ids, fake.Event("EvG", map[string]any{"type": "app_mention", "user": dispatcher, "text": "<@" + slackfake.BotUserID + "> where T11985LA",
		"ts": "1764838800.000200", "channel": dmChannel, "event_ts": "1764838800.000200"}, 0))
	for _, id := range ids {
		ack(t, fake, id)
	}
	// Answered: EvA once and EvB once; each answer is a status or a
	// placeholder, then the answer.
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && answered(fake) < 2 {
		time.Sleep(20 * time.Millisecond)
	}
	// Every envelope worked by one replica or the other, answered or
	// dropped: no other answer can come.
	waitUntil(t, "every envelope worked", func() bool { return s.Worked()+s2.Worked() == int64(len(ids)) })
	if n := answered(fake); n != 2 {
		t.Errorf("%d threads answered, want 2 (EvA once, EvB once): %v", n, threads(fake))
	}
}

// answered counts the threads that got a final answer.
func answered(fake *slackfake.Server) int { return len(threads(fake)) }

func threads(fake *slackfake.Server) map[string]int {
	out := map[string]int{}
	for _, c := range fake.Calls("") {
		if (c.Method == "chat.postMessage" && !strings.Contains(c.Params.Get("text"), "Looking")) || c.Method == "chat.update" {
			th := c.Params.Get("thread_ts")
			if c.Method == "chat.update" {
				th = "update:" + c.Params.Get("ts")
			}
			out[th]++
		}
	}
	return out
}

// An assistant thread is greeted with suggested prompts; a DM in it shows
// the assistant status while the bot works, and the answer in the thread.
func TestSlackAssistantThread(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	startSlack(t, f, fake, nil)

	ack(t, fake, fake.AssistantThreadStarted("EvT1", dmChannel, dispatcher, "1764838800.000900"))
	p, ok := fake.WaitCall(wait, 1, method("assistant.threads.setSuggestedPrompts", nil))
	if !ok {
		t.Fatal("no suggested prompts")
	}
	var prompts []slack.AssistantThreadsPrompt
	if err := json.Unmarshal([]byte(p.Params.Get("prompts")), &prompts); err != nil || len(prompts) != 4 ||
		prompts[0].Message != "Where is T11985LA?" || p.Params.Get("thread_ts") != "1764838800.000900" {
		t.Errorf("prompts: %v %s", err, p.Body)
	}
	if _, ok := fake.WaitCall(wait, 1, method("chat.postMessage", inThread(dmChannel, "1764838800.000900"))); !ok {
		t.Error("no greeting in the thread")
	}

	fake.DM("EvT2", dmChannel, dispatcher, "/fleet where T11985LA", "1764838801.000100", "1764838800.000900")
	st, ok := fake.WaitCall(wait, 1, method("assistant.threads.setStatus", nil))
	if !ok || st.Params.Get("status") == "" || st.Params.Get("thread_ts") != "1764838800.000900" {
		t.Fatalf("status: %v %s", ok, st.Body)
	}
	c, ok := fake.WaitCall(wait, 2, method("chat.postMessage", inThread(dmChannel, "1764838800.000900")))
	if !ok || !strings.Contains(c.Params.Get("text"), "T11985LA is at") {
		t.Fatalf("answer: %v %s", ok, c.Body)
	}
	if !c.At.After(st.At) {
		t.Error("the answer came before the status")
	}
}

// The socket comes back by itself after a disconnect request and after a
// dropped connection; /readyz fails while it cannot, and recovers.
func TestSlackReconnects(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	s := startSlack(t, f, fake, nil)

	fake.Disconnect("refresh_requested")
	if !fake.WaitConnected(2, wait) {
		t.Fatal("no new socket after disconnect")
	}
	ack(t, fake, fake.Slash(ops, viewer, "where T11985LA", "after-disconnect"))
	if _, ok := fake.WaitCall(wait, 1, method("response_url", nil)); !ok {
		t.Fatal("no answer after reconnecting")
	}

	fake.DropAll()
	if !fake.WaitConnected(3, wait) {
		t.Fatal("no new socket after a dropped one")
	}
	waitReady(t, s, true)

	// Slack unreachable: the bot keeps trying, and says it is not ready
	// within a few seconds.
	fake.Refuse(true)
	fake.DropAll()
	start := time.Now()
	waitReady(t, s, false)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("not-ready after %s", d)
	}
	fake.Refuse(false)
	waitReady(t, s, true)
	ack(t, fake, fake.Slash(ops, viewer, "where T11985LA", "after-outage"))
	if _, ok := fake.WaitCall(wait, 2, method("response_url", nil)); !ok {
		t.Fatal("no answer after the outage")
	}
}

// createCard asks for a trip with /fleet in a mention and returns the
// card's message ts.
func createCard(t *testing.T, fake *slackfake.Server, user, ts, when string) string {
	t.Helper()
	fake.Mention("Ev"+ts, ops, user, `/fleet new-trip T11985LA ESSLIBRA "Dangote Ibese" `+when, ts, "")
	ph, ok := fake.WaitCall(wait, 1, method("chat.postMessage", inThread(ops, ts)))
	if !ok {
		t.Fatal("no placeholder")
	}
	if _, ok := fake.WaitCall(wait, 1, method("chat.update", func(c slackfake.Call) bool {
		return c.Params.Get("ts") == ph.TS && strings.Contains(c.Blocks(), "wt_confirm")
	})); !ok {
		t.Fatalf("no card with Confirm: %v", fake.Calls("chat.update"))
	}
	return ph.TS
}

// The Confirm card: nothing is written until a permitted person presses
// it; then the card shows who and the result. A second press, someone not
// allowed and an expired card get an ephemeral answer and change nothing.
func TestSlackButtons(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	startSlack(t, f, fake, nil)
	trips := func() int {
		_, n, err := f.db.Trips(context.Background(), store.TripFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := trips()
	card := createCard(t, fake, dispatcher, "1764838800.001000", "tomorrow 6am")
	checkBlocks(t, "card", string(fake.Calls("chat.update")[0].Blocks()))

	// A viewer cannot confirm.
	ack(t, fake, fake.Press(ops, card, viewer, "wt_confirm", "", "p1"))
	e, ok := fake.WaitCall(wait, 1, method("chat.postEphemeral", nil))
	if !ok || e.Params.Get("user") != viewer {
		t.Fatalf("viewer: %v %s", ok, e.Body)
	}
	if trips() != before {
		t.Fatal("a viewer's press wrote a trip")
	}

	// The dispatcher confirms: the card says so, in place.
	asShown := fake.Message(ops, card)
	updates := len(fake.Calls("chat.update"))
	fake.Press(ops, card, dispatcher, "wt_confirm", "", "p2")
	up, ok := fake.WaitCall(wait, updates+1, method("chat.update", nil))
	if !ok || up.Params.Get("ts") != card {
		t.Fatalf("card not updated: %v %s", ok, up.Body)
	}
	if !strings.Contains(up.Blocks(), "Confirmed by \\u003c@"+dispatcher) && !strings.Contains(up.Blocks(), "Confirmed by <@"+dispatcher) {
		t.Errorf("card does not say who confirmed: %s", up.Blocks())
	}
	if strings.Contains(up.Blocks(), "wt_confirm") {
		t.Error("the confirmed card still has its Confirm button")
	}
	if trips() != before+1 {
		t.Fatalf("trips %d, want %d", trips(), before+1)
	}

	// A second press (from the old card, as a slow phone would send it).
	fake.PressOn(ops, card, asShown, admin, "wt_confirm", "", "p3")
	e, ok = fake.WaitCall(wait, 2, method("chat.postEphemeral", nil))
	if !ok || !strings.Contains(strings.ToLower(e.Params.Get("text")), "already") {
		t.Errorf("second press: %s", e.Params.Get("text"))
	}
	if trips() != before+1 {
		t.Fatal("a second press wrote another trip")
	}

	// Expired: a card left 16 minutes.
	card2 := createCard(t, fake, dispatcher, "1764838800.002000", "2026-12-08 06:00")
	f.advance(16 * time.Minute)
	n := len(fake.Calls("chat.postEphemeral"))
	fake.Press(ops, card2, dispatcher, "wt_confirm", "", "p4")
	e, ok = fake.WaitCall(wait, n+1, method("chat.postEphemeral", nil))
	if !ok || !strings.Contains(strings.ToLower(e.Params.Get("text")), "expired") {
		t.Errorf("expired: %v %s", ok, e.Params.Get("text"))
	}
	if trips() != before+1 {
		t.Fatal("an expired card wrote a trip")
	}

	// Cancel leaves nothing written and says who cancelled.
	card3 := createCard(t, fake, dispatcher, "1764838800.003000", "2026-12-10 06:00")
	fake.Press(ops, card3, dispatcher, "wt_cancel", "", "p5")
	up, ok = fake.WaitCall(wait, 1, method("chat.update", func(c slackfake.Call) bool {
		return c.Params.Get("ts") == card3 && strings.Contains(c.Blocks(), "Cancelled by")
	}))
	if !ok {
		t.Errorf("cancel: %v %s; ephemerals %v", ok, up.Blocks(), fake.Calls("chat.postEphemeral"))
	}
	if trips() != before+1 {
		t.Fatal("cancel wrote a trip")
	}

	// Refresh redraws the truck's card in place.
	fake.Slash(ops, viewer, "where T11985LA", "w1")
	w, _ := fake.WaitCall(wait, 1, func(c slackfake.Call) bool { return c.Params.Get("response_url") == "w1" })
	updates = len(fake.Calls("chat.update"))
	fake.Press(ops, w.TS, viewer, "wt_refresh", "T11985LA", "p6")
	up, ok = fake.WaitCall(wait, updates+1, method("chat.update", nil))
	if !ok || up.Params.Get("ts") != w.TS || !strings.Contains(up.Params.Get("text"), "T11985LA is at") {
		t.Errorf("refresh: %v %s", ok, up.Body)
	}
}

// Alerts reach the channel once across two replicas, a truck's burst in
// one message, with an Acknowledge button that records who, once.
func TestSlackAlerts(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	tune := func(c *bot.SlackConfig) { c.AlertChannel = alertsChan }
	startSlack(t, f, fake, tune)
	startSlack(t, f, fake, tune)

	ctx := context.Background()
	now := time.Now()
	var in []store.LocoNavAlert
	for i, kind := range []string{"OverspeedAlert", "HarshBrakingAlert", "IdlingAlert"} {
		in = append(in, store.LocoNavAlert{AlertID: int64(9000 + i), Kind: kind, TruckNumber: "T11985LA", VehicleNumber: "T11985LA",
			StartedAt: now.Add(time.Duration(i) * time.Minute)})
	}
	in = append(in, store.LocoNavAlert{AlertID: 9100, Kind: "OverspeedAlert", TruckNumber: "T76510LA", VehicleNumber: "T76510LA", StartedAt: now},
		// Trucks enter places all day: stored, not posted.
		store.LocoNavAlert{AlertID: 9150, Kind: "GeofenceAlert", TruckNumber: "T76510LA", VehicleNumber: "T76510LA", StartedAt: now},
		// A backfill's alert from yesterday is history, not news.
		store.LocoNavAlert{AlertID: 9200, Kind: "OverspeedAlert", TruckNumber: "T76510LA", VehicleNumber: "T76510LA", StartedAt: now.Add(-26 * time.Hour)})
	created, err := f.db.RecordLocoNavAlerts(ctx, in)
	if err != nil || len(created) != 6 {
		t.Fatalf("alerts: %v %d", err, len(created))
	}
	n := notify.New(f.rdb, f.prefix+"notifications", f.db, nil)
	n.Publish(ctx, created)
	n.Publish(ctx, created[:1]) // published twice, as after a failed mark

	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		var ids []int64
		for _, a := range created {
			ids = append(ids, a.ID)
		}
		ns, _ := f.reg.AlertNotices(ctx, ids)
		done := 0
		for _, x := range ns {
			if x.NotifiedAt != nil {
				done++
			}
		}
		if done == 4 && len(fake.Calls("chat.postMessage")) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every notification read and acknowledged: nothing is left that a
	// replica could post.
	waitAcknowledged(t, f, f.prefix+"notifications")
	posts := fake.Calls("chat.postMessage")
	if len(posts) != 2 {
		t.Fatalf("%d alert messages, want 2 (one per truck): %v", len(posts), posts)
	}
	var card slackfake.Call
	for _, p := range posts {
		if p.Params.Get("channel") != alertsChan {
			t.Errorf("alert in %s", p.Params.Get("channel"))
		}
		if strings.Contains(p.Params.Get("text"), "T11985LA") {
			card = p
		}
	}
	msg := fake.Message(alertsChan, card.TS)
	for _, k := range []string{"Overspeed", "HarshBraking", "Idling"} {
		if !strings.Contains(string(msg), k) {
			t.Errorf("the truck's message lacks %s: %s", k, msg)
		}
	}

	// Acknowledge: recorded once, with who; the second press is told.
	var wg sync.WaitGroup
	for _, u := range []string{dispatcher, admin} {
		wg.Go(func() { fake.Press(alertsChan, card.TS, u, "wt_ack_alert", "", "ack-"+u) })
	}
	wg.Wait()
	if _, ok := fake.WaitCall(wait, 1, method("chat.postEphemeral", nil)); !ok {
		t.Fatal("the second acknowledgement was not told")
	}
	ev, err := f.db.EventsByAction(ctx, "alert.acknowledge")
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 1 {
		t.Fatalf("%d acknowledge events, want 1", len(ev))
	}
	ns, _ := f.reg.AlertNotices(ctx, []int64{created[0].ID, created[1].ID, created[2].ID})
	for _, x := range ns {
		if x.AcknowledgedAt == nil || x.AcknowledgedBy != ev[0].Actor {
			t.Errorf("alert %d: acknowledged by %q", x.ID, x.AcknowledgedBy)
		}
	}
	if _, ok := fake.WaitCall(wait, 1, method("chat.update", func(c slackfake.Call) bool {
		return c.Params.Get("ts") == card.TS && strings.Contains(c.Blocks(), "Acknowledged by")
	})); !ok {
		t.Error("the message does not show the acknowledgement")
	}

	// A phone still showing T76510LA's message before a second alert
	// joined it: its Acknowledge covers the whole message.
	var other slackfake.Call
	for _, p := range posts {
		if strings.Contains(p.Params.Get("text"), "T76510LA") {
			other = p
		}
	}
	stale := fake.Message(alertsChan, other.TS)
	more, err := f.db.RecordLocoNavAlerts(ctx, []store.LocoNavAlert{{AlertID: 9300, Kind: "IdlingAlert", TruckNumber: "T76510LA",
		VehicleNumber: "T76510LA", StartedAt: now.Add(time.Minute)}})
	if err != nil || len(more) != 1 {
		t.Fatalf("alert: %v %d", err, len(more))
	}
	n.Publish(ctx, more)
	if _, ok := fake.WaitCall(wait, 1, method("chat.update", func(c slackfake.Call) bool {
		return c.Params.Get("ts") == other.TS && strings.Contains(c.Blocks(), "Idling")
	})); !ok {
		t.Fatal("the second alert did not join the truck's message")
	}
	fake.PressOn(alertsChan, other.TS, stale, viewer, "wt_ack_alert", "", "stale")
	if _, ok := fake.WaitCall(wait, 1, method("chat.update", func(c slackfake.Call) bool {
		return c.Params.Get("ts") == other.TS && strings.Contains(c.Blocks(), "Acknowledged by") && strings.Contains(c.Blocks(), "Idling")
	})); !ok {
		t.Fatal("the stale press did not acknowledge the whole message")
	}
	ns, _ = f.reg.AlertNotices(ctx, []int64{more[0].ID})
	if len(ns) != 1 || ns[0].AcknowledgedBy != viewer {
		t.Errorf("the joined alert: %+v", ns)
	}
}

// testLogger logs to the test's output with -v.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// A truck on a trip that LocoNav tracks offers its live link; pressing
// "Share live link" posts the trip with the link in the card's thread.
func TestSlackShareLiveLink(t *testing.T) {
	f := newPooledFixture(t)
	ctx := context.Background()
	now := time.Unix(0, f.clock.Load())
	trip, err := f.db.CreateTrip(ctx, store.Trip{TruckNumber: "T11985LA", Pickup: "ESSLIBRA", Delivery: "DANGOTE_IBESE",
		ScheduledDeparture: now.Add(-time.Hour), Status: store.TripOngoing, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	const link = "https://track.loconav.com/share/abc123"
	if err := f.db.SetTripLocoNav(ctx, trip.ID, 4242, link); err != nil {
		t.Fatal(err)
	}
	fake := slackfake.NewServer(t)
	startSlack(t, f, fake, nil)
	fake.Slash(ops, viewer, "where T11985LA", "w")
	c, ok := fake.WaitCall(wait, 1, method("response_url", nil))
	if !ok || !strings.Contains(c.Blocks(), "Share live link") {
		t.Fatalf("card without the live link: %s", c.Blocks())
	}
	ack(t, fake, fake.Press(ops, c.TS, viewer, "wt_share_tracking", "", "share"))
	p, ok := fake.WaitCall(wait, 1, method("chat.postMessage", inThread(ops, c.TS)))
	if !ok || !strings.Contains(p.Blocks(), link) {
		t.Errorf("shared: %v %s", ok, p.Blocks())
	}
}

// A trip's events reach the alert channel once across two replicas, each
// threaded under the trip's one message.
func TestSlackTripEventsThreaded(t *testing.T) {
	f := newPooledFixture(t)
	ctx := context.Background()
	now := func() time.Time { return time.Unix(0, f.clock.Load()) }
	sched := time.Date(2026, 12, 4, 9, 0, 0, 0, lagos)
	trip, err := f.db.CreateTrip(ctx, store.Trip{TruckNumber: "T11985LA", Pickup: "ESSLIBRA", Delivery: "DANGOTE_IBESE",
		ScheduledDeparture: sched, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	fake := slackfake.NewServer(t)
	tune := func(c *bot.SlackConfig) { c.AlertChannel = alertsChan }
	startSlack(t, f, fake, tune)
	startSlack(t, f, fake, tune)

	// T11985LA has been at ESS Libra since 08:45: at pickup.
	if _, err := f.db.FollowTrips(ctx, nil, now(), store.DefaultFollowRules()); err != nil {
		t.Fatal(err)
	}
	root, ok := fake.WaitCall(wait, 1, method("chat.postMessage", func(c slackfake.Call) bool { return c.Params.Get("thread_ts") == "" }))
	if !ok || !strings.Contains(root.Params.Get("text"), trip.VPCID) {
		t.Fatalf("no trip message: %v %s", ok, root.Body)
	}
	if _, ok := fake.WaitCall(wait, 1, method("chat.postMessage", func(c slackfake.Call) bool {
		return c.Params.Get("thread_ts") == root.TS && strings.Contains(c.Params.Get("text"), "Arrived at pickup ESSLIBRA")
	})); !ok {
		t.Fatal("no arrival in the trip's thread")
	}

	// Still there 2h10m after its departure time: delayed, in the same thread.
	f.advance(2*time.Hour + 10*time.Minute)
	if _, err := f.db.FollowTrips(ctx, nil, now(), store.DefaultFollowRules()); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.WaitCall(wait, 1, method("chat.postMessage", func(c slackfake.Call) bool {
		return c.Params.Get("thread_ts") == root.TS && strings.Contains(c.Params.Get("text"), "Delayed · 11:00")
	})); !ok {
		t.Fatalf("no delay in the thread: %v", fake.Calls("chat.postMessage"))
	}
	// Every event posted and committed as posted: a post happens inside
	// the transaction that marks its event, so no replica can post one of
	// them again, and what the fake has is all there will be.
	waitTripEventsPosted(t, f)
	roots, replies := 0, 0
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Params.Get("thread_ts") == "" {
			roots++
		} else {
			replies++
		}
	}
	if roots != 1 || replies != 2 {
		t.Errorf("%d trip messages and %d thread replies, want 1 and 2", roots, replies)
	}
	got, err := f.db.TripByRef(ctx, trip.VPCID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.TripDelayed || got.Milestone != store.MilestoneAtPickup {
		t.Errorf("trip %s at %s, want delayed at pickup", got.Status, got.Milestone)
	}
}

// The sheet sync's notice reaches each admin once, in a DM, whichever of
// two replicas reads it, with or without an alert channel.
func TestSlackAdminNotice(t *testing.T) {
	f := newPooledFixture(t)
	fake := slackfake.NewServer(t)
	startSlack(t, f, fake, nil)
	startSlack(t, f, fake, func(c *bot.SlackConfig) { c.Admins = []string{"U0EXTRA01"} })
	// The replicas' consumer group exists before the notice is published.
	stream := f.prefix + "notifications"
	waitUntil(t, "the alert consumer group", func() bool {
		groups, err := f.rdb.XInfoGroups(context.Background(), stream).Result()
		return err == nil && len(groups) == 1
	})
	notify.New(f.rdb, stream, f.db, nil).PublishNotice(context.Background(), "sync",
		"Sheet sync: 85 rows read, 1 changed, 1 bad.\nBad rows: Trucks row 4: status \"broken\"")
	waitAcknowledged(t, f, stream)
	got := map[string]int{}
	for _, c := range fake.Calls("chat.postMessage") {
		got[c.Params.Get("channel")]++
		if !strings.Contains(c.Params.Get("text"), "Trucks row 4") {
			t.Errorf("notice text %q", c.Params.Get("text"))
		}
	}
	if got[admin] != 1 || got["UQ07YKEL3IY"] != 1 || len(got) < 2 {
		t.Errorf("notices by user %v, want one to each admin", got)
	}
}

// waitUntil polls cond until it holds, failing the test after wait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
	}
}

// waitAcknowledged waits until the replicas' consumer group has read the
// stream to its last entry and acknowledged everything: a group hands an
// entry out once and takes back only unacknowledged ones, so from then on
// no replica can post any of it again.
func waitAcknowledged(t *testing.T, f *fixture, stream string) {
	t.Helper()
	ctx := context.Background()
	last, err := f.rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil || len(last) != 1 {
		t.Fatalf("stream %s: %v %v", stream, last, err)
	}
	waitUntil(t, "the notifications acknowledged", func() bool {
		groups, err := f.rdb.XInfoGroups(ctx, stream).Result()
		return err == nil && len(groups) == 1 && groups[0].LastDeliveredID == last[0].ID && groups[0].Pending == 0
	})
}

// waitTripEventsPosted waits until no trip event is left to post, as
// committed: an event being posted is still unposted until its
// transaction commits.
func waitTripEventsPosted(t *testing.T, f *fixture) {
	t.Helper()
	waitUntil(t, "every trip event posted", func() bool {
		var n int
		err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM trip_events WHERE posted_at IS NULL`).Scan(&n)
		return err == nil && n == 0
	})
}
