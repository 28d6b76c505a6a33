package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Feeder posts simulated fixes to a Watch Tower webhook as LocoNav would:
// every fix whose time has come at once (the backfill), then each as its
// time arrives. It is how `watchtower run --simulate` gives the demo a live
// fleet.
type Feeder struct {
	URL     string // e.g. http://127.0.0.1:8080/webhooks/loconav/location
	Token   string
	Zone    *time.Location
	Client  *http.Client
	Logger  *slog.Logger
	Now     func() time.Time
	Senders int // concurrent posts during the backfill; default 8
}

// Run feeds fixes (in time order) until they are all sent or ctx ends. A
// refused post is logged and skipped: the demo carries on.
func (f *Feeder) Run(ctx context.Context, fixes []Fix) error {
	now, senders := f.Now, f.Senders
	if now == nil {
		now = time.Now
	}
	if senders <= 0 {
		senders = 8
	}
	work := make(chan Fix, 1024)
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for fx := range work {
				if err := f.post(ctx, fx); err != nil {
					if failed.Add(1) <= 5 && ctx.Err() == nil {
						f.Logger.Warn("simulated fix refused", "truck_number", fx.TruckNumber, "err", err)
					}
					continue
				}
				sent.Add(1)
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	i := 0
	backfilled := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i < len(fixes) {
		for i < len(fixes) && !fixes[i].At.After(now()) {
			select {
			case work <- fixes[i]:
				i++
			case <-ctx.Done():
				return nil
			}
		}
		if !backfilled {
			backfilled = true
			f.Logger.Info("simulator backfilled the past", "fixes", i)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	f.Logger.Info("simulator finished", "sent", sent.Load(), "refused", failed.Load())
	return nil
}

func (f *Feeder) post(ctx context.Context, fx Fix) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(LiveLocationPayload(fx, f.Zone)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.Token)
	resp, err := f.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}
