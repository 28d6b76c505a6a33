package bot

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/tools"
)

// AlertFeed follows the notifications stream from now on and sends each
// alert as a line for people. A truck's alert of one kind is sent at most
// once per quiet period, so a burst does not flood the screen, and an alert
// that began more than MaxAge ago (a backfill catching up) is not news. It
// ends with ctx.
type AlertFeed struct {
	RDB    redis.UniversalClient
	Stream string // watchtower:notifications
	Zone   *time.Location
	// Quiet is how long a truck's alert of one kind stays quiet after it
	// was shown (10 minutes).
	Quiet time.Duration
	// MaxAge is how old an alert may be and still be shown (1 hour).
	MaxAge time.Duration
	// From is the stream id to read after; "" is from now on.
	From string
	// Now is the clock (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Run sends lines to out until ctx ends.
func (f *AlertFeed) Run(ctx context.Context, out chan<- string) {
	if f.Quiet <= 0 {
		f.Quiet = 10 * time.Minute
	}
	if f.Zone == nil {
		f.Zone = time.UTC
	}
	if f.MaxAge <= 0 {
		f.MaxAge = time.Hour
	}
	if f.Now == nil {
		f.Now = time.Now
	}
	last := f.From
	if last == "" {
		last = "$"
	}
	shown := map[string]time.Time{}
	for ctx.Err() == nil {
		res, err := f.RDB.XRead(ctx, &redis.XReadArgs{Streams: []string{f.Stream, last}, Block: 5 * time.Second, Count: 100}).Result()
		if err == redis.Nil {
			continue
		}
		if err != nil {
			if ctx.Err() == nil && f.Logger != nil {
				f.Logger.Warn("alert feed", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, s := range res {
			for _, m := range s.Messages {
				last = m.ID
				n, err := notify.Decode(m.Values)
				if err != nil || quietKinds[n.Kind] {
					continue
				}
				line, key, started := alertLine(n, f.Zone)
				now := f.Now()
				if t, ok := shown[key]; (ok && now.Sub(t) < f.Quiet) || (!started.IsZero() && now.Sub(started) > f.MaxAge) {
					continue
				}
				shown[key] = now
				select {
				case out <- line:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// alertLine renders one notification, with the key it is quietened by and
// when it began.
func alertLine(n notify.Notification, zone *time.Location) (string, string, time.Time) {
	at := n.At.UTC().Format(time.RFC3339)
	switch n.Type {
	case notify.TypeNotice:
		first, _, _ := strings.Cut(n.Text, "\n")
		return "ℹ " + first, "notice|" + at + "|" + first, n.At
	case notify.TypeTrip:
		tn := tools.TripNotice{TripEvent: tools.TripEvent{TripVPCID: n.Trip, TruckNumber: n.Truck, Kind: n.Kind, At: n.At,
			Details: map[string]any{"place": n.Location, "reason": n.Reason}}}
		line := fmt.Sprintf("🚚 %s trip %s: %s", n.Truck, n.Trip, stripEmoji(tripEventText(tn, zone)))
		return line, "trip|" + n.Trip + "|" + n.Kind + "|" + at, n.At
	}
	line := fmt.Sprintf("⚠ %s: %s", n.Truck, strings.ReplaceAll(n.Kind, "_", " "))
	if n.Location != "" {
		line += " at " + n.Location
	}
	if !n.At.IsZero() {
		line += " (" + n.At.In(zone).Format("15:04") + ")"
	}
	if n.Severity == "critical" {
		line += " [critical]"
	}
	return line, n.Truck + "|" + n.Kind, n.At
}

// stripEmoji drops a leading Slack :emoji: code, which a terminal does not
// draw.
func stripEmoji(s string) string {
	if strings.HasPrefix(s, ":") {
		if i := strings.Index(s[1:], ":"); i >= 0 {
			return strings.TrimSpace(s[i+2:])
		}
	}
	return s
}
