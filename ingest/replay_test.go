package ingest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/store"
)

// archive is a RawEventSource over a slice, in id order.
type archive struct {
	evs   []store.RawEvent
	calls int
	err   error
}

func (a *archive) RawEvents(_ context.Context, from, to time.Time, afterID int64, limit int) ([]store.RawEvent, error) {
	a.calls++
	if a.err != nil {
		return nil, a.err
	}
	var page []store.RawEvent
	for _, e := range a.evs {
		if e.ID > afterID && !e.ReceivedAt.Before(from) && e.ReceivedAt.Before(to) && len(page) < limit {
			page = append(page, e)
		}
	}
	return page, nil
}

func TestReplay(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	src := &archive{}
	for i := range 2500 {
		src.evs = append(src.evs, store.RawEvent{ID: int64(i + 1), StreamID: "1700000000000-" + string(rune('a'+i%26)), Family: "location",
			Source: "webhook", ReceivedAt: start.Add(time.Duration(i) * time.Second), Body: []byte("{}")})
	}
	type call struct {
		handler string
		first   string
		n       int
	}
	var calls []call
	handler := func(name string) ingest.HandlerFunc {
		return func(_ context.Context, msgs []ingest.Message) error {
			calls = append(calls, call{name, msgs[0].ID, len(msgs)})
			return nil
		}
	}
	n, err := ingest.Replay(t.Context(), src, start, start.Add(time.Hour), handler("telematics"), handler("alerts"))
	if err != nil || n != 2500 {
		t.Fatalf("Replay = %d, %v; want 2500 events", n, err)
	}
	// Pages of a thousand, each to both handlers in turn; the empty page
	// after the last ends the replay.
	want := []call{{"telematics", src.evs[0].StreamID, 1000}, {"alerts", src.evs[0].StreamID, 1000},
		{"telematics", src.evs[1000].StreamID, 1000}, {"alerts", src.evs[1000].StreamID, 1000},
		{"telematics", src.evs[2000].StreamID, 500}, {"alerts", src.evs[2000].StreamID, 500}}
	if !slices.Equal(calls, want) || src.calls != 4 {
		t.Errorf("handler calls %v after %d reads, want %v after 4", calls, src.calls, want)
	}

	// A window with nothing in it.
	calls = nil
	if n, err := ingest.Replay(t.Context(), src, start.Add(2*time.Hour), start.Add(3*time.Hour), handler("telematics")); err != nil || n != 0 || calls != nil {
		t.Errorf("empty window: %d, %v, calls %v", n, err, calls)
	}

	// A handler's failure stops the replay, named as the replay's.
	boom := errors.New("boom")
	n, err = ingest.Replay(t.Context(), src, start, start.Add(time.Hour), func(context.Context, []ingest.Message) error { return boom })
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "replay: ") || n != 0 {
		t.Errorf("failing handler: %d, %v", n, err)
	}
	// The archive's failure is returned as it is.
	src.err = errors.New("archive down")
	if _, err := ingest.Replay(t.Context(), src, start, start.Add(time.Hour), handler("telematics")); !errors.Is(err, src.err) {
		t.Errorf("failing archive: %v", err)
	}
}
