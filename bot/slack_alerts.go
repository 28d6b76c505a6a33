package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/tools"
)

// The alert channel's consumer group on the notifications stream: the
// replicas share it, so each notification reaches one of them.
const (
	AlertGroup    = "slack-alerts"
	actionAck     = "ack_alert"
	actionRefresh = tools.ActionRefresh
	actionLink    = "link"
	// alertGroupWindow is how long a truck's alerts gather in one message.
	alertGroupWindow = 10 * time.Minute
	// alertClaimIdle is how long a notification may sit with a replica
	// that stopped before another takes it over.
	alertClaimIdle = time.Minute
	// alertMaxAge is how old an alert may be and still be posted.
	alertMaxAge = time.Hour
)

// quietKinds are alerts the channel does not post: every truck enters and
// leaves places all day. Arrivals at and departures from a trip's pickup
// and delivery reach the channel as the trip's events instead.
var quietKinds = map[string]bool{"geofence_enter": true, "geofence_exit": true, "GeofenceAlert": true}

// alertGroup is a truck's alert message of the last ten minutes.
type alertGroup struct {
	Channel string  `json:"channel"`
	TS      string  `json:"ts"`
	IDs     []int64 `json:"ids"`
	Acked   bool    `json:"acked"`
}

// postAlerts posts the notifications to the alert channel until ctx ends.
func (s *Slack) postAlerts(ctx context.Context) {
	stream := s.cfg.NotifyStream
	err := s.rdb.XGroupCreateMkStream(ctx, stream, AlertGroup, "$").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		s.logger.Error("slack alerts: cannot join the notifications stream", "err", err)
		return
	}
	host, _ := os.Hostname()
	consumer := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), tools.NewCorrelationID()[:6])
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		var msgs []redis.XMessage
		if time.Since(lastClaim) > alertClaimIdle/2 {
			// Notifications a stopped replica was holding.
			lastClaim = time.Now()
			claimed, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: AlertGroup,
				Consumer: consumer, MinIdle: alertClaimIdle, Start: "0-0", Count: 50}).Result()
			if err == nil {
				msgs = claimed
			}
		}
		if len(msgs) == 0 {
			res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: AlertGroup, Consumer: consumer,
				Streams: []string{stream, ">"}, Count: 50, Block: time.Second}).Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				if ctx.Err() == nil {
					s.logger.Warn("slack alerts: read", "err", err)
					sleep(ctx, time.Second)
				}
				continue
			}
			for _, st := range res {
				msgs = append(msgs, st.Messages...)
			}
		}
		for _, m := range msgs {
			if err := s.postAlert(ctx, m); err != nil {
				// Left pending: this replica or another claims it again.
				s.logger.Warn("slack alerts: not posted yet", "id", m.ID, "err", err)
				continue
			}
			s.rdb.XAck(ctx, stream, AlertGroup, m.ID)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// postAlert posts one notification, once: the alert's notified_at says it
// is in the channel, and a truck's lock keeps two replicas from posting
// the same truck's alerts at once. A notification published twice is
// posted once.
func (s *Slack) postAlert(ctx context.Context, m redis.XMessage) error {
	n, err := notify.Decode(m.Values)
	if err != nil {
		s.logger.Warn("slack alerts: notification skipped", "id", m.ID, "err", err)
		return nil // nothing to post; taking it again would not change that
	}
	switch {
	case n.Type == notify.TypeNotice:
		return s.postNotice(ctx, m.ID, n)
	case n.Type != notify.TypeAlert || s.cfg.AlertChannel == "":
		return nil // a trip's event: its own outbox posts it
	case quietKinds[n.Kind]:
		return nil // stored for /fleet alerts; a trip's arrivals and departures are its events
	}
	id, truck := n.AlertID, n.Truck
	unlock, err := s.lock(ctx, "alerts:"+truck)
	if err != nil {
		return err
	}
	defer unlock()
	reg := s.router.reg
	notices, err := reg.AlertNotices(ctx, []int64{id})
	if err != nil {
		return err
	}
	if len(notices) == 0 || notices[0].NotifiedAt != nil {
		return nil
	}
	if age := time.Since(notices[0].StartedAt); age > alertMaxAge {
		// A backfill catching up (a replayed day, a tracker's stored
		// fixes): history, not news. It stays in /fleet alerts.
		s.logger.Info("slack alerts: old alert not posted", "alert_id", id, "age", age.Round(time.Minute))
		return nil
	}
	key := s.cfg.Prefix + "slack:alertgroup:" + truck
	var g alertGroup
	if raw, err := s.rdb.Get(ctx, key).Bytes(); err == nil {
		_ = json.Unmarshal(raw, &g)
	}
	if g.TS != "" && !g.Acked && len(g.IDs) < 20 {
		ids := append(append([]int64{}, g.IDs...), id)
		all, err := reg.AlertNotices(ctx, ids)
		if err != nil {
			return err
		}
		if _, _, _, err := s.api.UpdateMessageContext(ctx, g.Channel, g.TS, slack.MsgOptionText(alertText(all), false),
			slack.MsgOptionBlocks(alertBlocks(all, s.cfg.Zone, "")...)); err == nil {
			g.IDs = ids
			return s.saveGroup(ctx, key, g, id)
		}
		// The message is gone or cannot be updated: start another.
	}
	ch, ts, err := s.api.PostMessageContext(ctx, s.cfg.AlertChannel, slack.MsgOptionText(alertText(notices), false),
		slack.MsgOptionBlocks(alertBlocks(notices, s.cfg.Zone, "")...))
	if err != nil {
		return err
	}
	g = alertGroup{Channel: ch, TS: ts, IDs: []int64{id}}
	if err := s.rdb.Set(ctx, key, mustJSON(g), alertGroupWindow).Err(); err != nil {
		s.logger.Warn("slack alerts: group not saved", "err", err)
	}
	return reg.MarkAlertsNotified(ctx, []int64{id})
}

func (s *Slack) saveGroup(ctx context.Context, key string, g alertGroup, id int64) error {
	// KEEPTTL: the window runs from the group's first alert.
	if err := s.rdb.SetArgs(ctx, key, mustJSON(g), redis.SetArgs{KeepTTL: true}).Err(); err != nil {
		s.logger.Warn("slack alerts: group not saved", "err", err)
	}
	return s.router.reg.MarkAlertsNotified(ctx, []int64{id})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// lock takes a short lock shared by the replicas.
func (s *Slack) lock(ctx context.Context, name string) (func(), error) {
	key := s.cfg.Prefix + "slack:lock:" + name
	token := tools.NewCorrelationID()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := s.rdb.SetNX(ctx, key, token, 30*time.Second).Result()
		if err != nil {
			return nil, err
		}
		if ok {
			return func() {
				// Only our own lock is released.
				unlockScript.Run(context.WithoutCancel(ctx), s.rdb, []string{key}, token)
			}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("slack: lock %s is held", name)
		}
		sleep(ctx, 20*time.Millisecond)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// alertText is the notification text of an alert message.
func alertText(ns []tools.AlertNotice) string {
	if len(ns) == 1 {
		return "⚠ " + ns[0].TruckNumber + ": " + kindText(ns[0].Kind)
	}
	return fmt.Sprintf("⚠ %s: %d alerts", ns[0].TruckNumber, len(ns))
}

func kindText(k string) string {
	k = strings.ReplaceAll(k, "_", " ")
	k = strings.TrimSuffix(k, "Alert")
	return strings.TrimSpace(k)
}

// alertBlocks draws a truck's alerts: one line each, and the Acknowledge
// button, or who acknowledged them.
func alertBlocks(ns []tools.AlertNotice, zone *time.Location, ackNote string) []slack.Block {
	if len(ns) == 0 {
		return nil
	}
	var lines []string
	ids := make([]string, len(ns))
	critical := false
	for i, n := range ns {
		ids[i] = strconv.FormatInt(n.ID, 10)
		l := "• *" + escape(kindText(n.Kind)) + "*"
		if n.LocationCode != "" {
			l += " at " + escape(n.LocationCode)
		}
		l += " · " + n.StartedAt.In(zone).Format("15:04")
		if n.Severity == "critical" {
			l += " · critical"
			critical = true
		}
		lines = append(lines, l)
	}
	icon := ":warning:"
	if critical {
		icon = ":rotating_light:"
	}
	title := fmt.Sprintf("%s *%s*: %s", icon, escape(ns[0].TruckNumber), plural(len(ns), "alert"))
	blocks := []slack.Block{
		section(title + "\n" + strings.Join(lines, "\n")),
	}
	if ackNote != "" {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, ackNote, false, false)))
		return blocks
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		"`/fleet where "+escape(ns[0].TruckNumber)+"` for its position", false, false)))
	blocks = append(blocks, slack.NewActionBlock("alerts_"+ids[0], slack.NewButtonBlockElement(ActionID(actionAck),
		strings.Join(ids, ","), slack.NewTextBlockObject(slack.PlainTextType, "Acknowledge", false, false))))
	return blocks
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// onAcknowledge records who acknowledged a message's alerts, once, and
// shows it on the message; a second press is told who was first. It takes
// the truck's lock, so an alert added to the message meanwhile (a phone
// still showing the older message) is acknowledged with the rest.
func (s *Slack) onAcknowledge(ctx context.Context, cb slack.InteractionCallback, a *slack.BlockAction) {
	ids := alertIDs(a.Value)
	if len(ids) == 0 {
		s.ephemeral(ctx, cb, "That button does nothing any more.")
		return
	}
	caller, err := s.roles.Caller(ctx, cb.User.ID, "")
	if err != nil {
		s.ephemeral(ctx, cb, s.errRef(ctx, "slack caller", err))
		return
	}
	reg := s.router.reg
	ns, err := reg.AlertNotices(ctx, ids)
	if err != nil || len(ns) == 0 {
		if err == nil {
			err = fmt.Errorf("no alerts %v", ids)
		}
		s.ephemeral(ctx, cb, s.errRef(ctx, "acknowledge alerts", err))
		return
	}
	truck := ns[0].TruckNumber
	unlock, err := s.lock(ctx, "alerts:"+truck)
	if err != nil {
		s.ephemeral(ctx, cb, s.errRef(ctx, "acknowledge alerts", err))
		return
	}
	defer unlock()
	key := s.cfg.Prefix + "slack:alertgroup:" + truck
	var g alertGroup
	grouped := false
	if raw, err := s.rdb.Get(ctx, key).Bytes(); err == nil && json.Unmarshal(raw, &g) == nil && g.TS == cb.Container.MessageTs {
		grouped = true
		for _, id := range g.IDs {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	ack, err := reg.AcknowledgeAlerts(ctx, caller, ids)
	if err != nil {
		s.ephemeral(ctx, cb, s.errRef(ctx, "acknowledge alerts", err))
		return
	}
	if len(ack.Acked) == 0 {
		s.ephemeral(ctx, cb, fmt.Sprintf("Already acknowledged by <@%s> at %s.", ack.By, ack.At.In(s.cfg.Zone).Format("15:04")))
		return
	}
	if grouped {
		// Later alerts for the truck start a new message.
		g.Acked = true
		s.rdb.SetArgs(ctx, key, mustJSON(g), redis.SetArgs{KeepTTL: true})
	}
	if ns, err = reg.AlertNotices(ctx, ids); err != nil {
		s.logger.WarnContext(ctx, "acknowledged alerts not redrawn", "err", err)
		return
	}
	note := fmt.Sprintf(":white_check_mark: Acknowledged by <@%s> at %s", cb.User.ID, time.Now().In(s.cfg.Zone).Format("15:04"))
	s.replaceCard(ctx, cb, alertBlocks(ns, s.cfg.Zone, note), alertText(ns))
}

// alertIDs reads an Acknowledge button's value: the alert ids, comma
// separated. Anything else in it is ignored; at most 50 ids are taken.
func alertIDs(value string) []int64 {
	var ids []int64
	for _, f := range strings.Split(value, ",") {
		if id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil && id > 0 && len(ids) < 50 {
			ids = append(ids, id)
		}
	}
	return ids
}

// postNotice tells the admins, each in a DM, once per notice across
// replicas: the sheet sync's changes and new bad rows.
func (s *Slack) postNotice(ctx context.Context, entryID string, n notify.Notification) error {
	text := n.Text
	if text == "" || !s.firstTime(ctx, "notice:"+s.cfg.NotifyStream+":"+entryID) {
		return nil
	}
	admins, err := s.router.reg.AdminIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range s.cfg.Admins {
		if !slices.Contains(admins, id) {
			admins = append(admins, id)
		}
	}
	for _, id := range admins {
		if _, _, err := s.api.PostMessageContext(ctx, id, slack.MsgOptionText(text, false),
			slack.MsgOptionBlocks(section("```"+clipChars(strings.TrimRight(text, "\n"), maxSectionChars-10)+"```"))); err != nil {
			s.logger.WarnContext(ctx, "admin notice not delivered", "user", id, "err", err)
		}
	}
	return nil
}
