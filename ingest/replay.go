package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// RawEventSource is the archive of raw events a replay reads: the store's
// RawEvents, in id order after afterID.
type RawEventSource interface {
	RawEvents(ctx context.Context, from, to time.Time, afterID int64, limit int) ([]store.RawEvent, error)
}

// replayPage is how many archived events a replay hands on at a time.
const replayPage = 1000

// Replay feeds the raw events received in [from, to) back through the
// handlers, in pages, each page to every handler in turn, and returns how
// many events it replayed. The pipeline's handlers are idempotent, so a
// replay over events already processed changes nothing, and one after a
// fix to the parser or the rules brings the store up to date.
func Replay(ctx context.Context, src RawEventSource, from, to time.Time, handlers ...HandlerFunc) (int, error) {
	var after int64
	total := 0
	for {
		evs, err := src.RawEvents(ctx, from, to, after, replayPage)
		if err != nil {
			return total, err
		}
		if len(evs) == 0 {
			return total, nil
		}
		msgs := make([]Message, len(evs))
		for i, e := range evs {
			msgs[i] = Message{ID: e.StreamID, Family: e.Family, Source: e.Source, ReceivedAt: e.ReceivedAt, Body: e.Body}
		}
		for _, handle := range handlers {
			if err := handle(ctx, msgs); err != nil {
				return total, fmt.Errorf("replay: %w", err)
			}
		}
		after = evs[len(evs)-1].ID
		total += len(evs)
	}
}
