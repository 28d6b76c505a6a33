package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/watchtower-fleet/watchtower/tools"
)

// tripPollEvery is how often the trip events outbox is read.
const tripPollEvery = 2 * time.Second

// postTripEvents posts the trips' events to the alert channel until ctx
// ends: each trip gets one message, and its events thread under it, so a
// trip's story reads top to bottom.
func (s *Slack) postTripEvents(ctx context.Context) {
	t := time.NewTicker(tripPollEvery)
	defer t.Stop()
	for {
		if _, err := s.router.reg.PostTripEvents(ctx, 100, s.postTripEvent); err != nil && ctx.Err() == nil {
			s.logger.Warn("trip events not posted yet", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// postTripEvent posts one event under its trip's message, starting the
// message with the trip's first event.
func (s *Slack) postTripEvent(ctx context.Context, n tools.TripNotice) (string, string, error) {
	channel, root := n.Channel, n.RootTS
	if root == "" {
		blocks := tripRootBlocks(n, s.cfg.Zone)
		ch, ts, err := s.api.PostMessageContext(ctx, s.cfg.AlertChannel, slack.MsgOptionText(tripRootText(n, s.cfg.Zone), false),
			slack.MsgOptionBlocks(blocks...))
		if err != nil {
			return "", "", err
		}
		channel, root = ch, ts
	}
	line := tripEventText(n, s.cfg.Zone)
	if _, _, err := s.api.PostMessageContext(ctx, channel, slack.MsgOptionText(line, false), slack.MsgOptionTS(root)); err != nil {
		// The message is there; the event is posted again next round.
		return channel, root, err
	}
	return channel, root, nil
}

func tripRootText(n tools.TripNotice, zone *time.Location) string {
	return fmt.Sprintf("Trip %s · %s · %s → %s · leaves %s", n.TripVPCID, n.TruckNumber, n.Pickup, n.Delivery,
		n.ScheduledDeparture.In(zone).Format("Mon 2 Jan 15:04"))
}

func tripRootBlocks(n tools.TripNotice, zone *time.Location) []slack.Block {
	blocks := []slack.Block{section(":truck: *Trip " + escape(n.TripVPCID) + "*\n" + escape(n.TruckNumber) + " · " +
		escape(n.Pickup) + " → " + escape(n.Delivery) + " · leaves " + n.ScheduledDeparture.In(zone).Format("Mon 2 Jan 15:04"))}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		"Its story is in the thread. `/fleet trip "+escape(n.TripVPCID)+"` for the whole trip.", false, false)))
	if n.TrackingURL != "" {
		share := slack.NewButtonBlockElement(ActionID(tools.ActionShare), n.TripVPCID,
			slack.NewTextBlockObject(slack.PlainTextType, "Share tracking link", false, false))
		blocks = append(blocks, slack.NewActionBlock("", share))
	}
	return blocks
}

// tripEventText is one line of a trip's story.
func tripEventText(n tools.TripNotice, zone *time.Location) string {
	at := n.At.In(zone).Format("15:04")
	place, _ := n.Details["place"].(string)
	reason, _ := n.Details["reason"].(string)
	switch n.Kind {
	case "at_pickup":
		return fmt.Sprintf(":round_pushpin: Arrived at pickup %s · %s", place, at)
	case "departed_pickup":
		return fmt.Sprintf(":truck: Loaded and left pickup %s · %s", place, at)
	case "at_delivery":
		return fmt.Sprintf(":round_pushpin: Arrived at delivery %s · %s", place, at)
	case "delivered":
		return fmt.Sprintf(":white_check_mark: Delivered at %s · %s", place, at)
	case "departed_delivery":
		return fmt.Sprintf(":truck: Left delivery %s · %s", place, at)
	case "returned":
		return fmt.Sprintf(":checkered_flag: Back at base · %s. Trip closed.", at)
	case "delay_started":
		return fmt.Sprintf(":alarm_clock: Delayed · %s: %s", at, reason)
	case "delay_cleared":
		return fmt.Sprintf(":large_green_circle: Delay cleared · %s: %s", at, reason)
	case "exception_idle":
		return fmt.Sprintf(":warning: Long stop with the engine on during the trip · %s", at)
	case "exception_offline":
		return fmt.Sprintf(":warning: Tracker went silent during the trip · %s", at)
	case "loconav_delayed", "loconav_unsuccessful", "loconav_completed":
		return fmt.Sprintf(":satellite: LocoNav marks the trip %s · %s", strings.TrimPrefix(n.Kind, "loconav_"), at)
	}
	return fmt.Sprintf("%s · %s", strings.ReplaceAll(n.Kind, "_", " "), at)
}
