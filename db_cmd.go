package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/schedule"
	"github.com/watchtower-fleet/watchtower/store"
)

// migrateCmd applies pending migrations.
func migrateCmd(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db, logger)
}

// seedCmd loads the master data CSV files of dir and prints what changed.
// A bad row is the operator's input: exit code 2, and nothing written.
func seedCmd(ctx context.Context, cfg *Config, logger *slog.Logger, dir string, stdout io.Writer) error {
	in, err := masterdata.ReadFleetDir(dir)
	if err != nil {
		return badInput(err)
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.CheckSchema(ctx); err != nil {
		return err
	}
	res, err := db.ImportFleet(ctx, "seed", in)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return badInput(err)
		}
		return err
	}
	kinds := make([]string, 0, len(res))
	for k := range res {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		c := res[k]
		fmt.Fprintf(stdout, "%-14s %3d inserted, %3d updated, %3d unchanged\n", k+":", c.Inserted, c.Updated, c.Unchanged)
	}
	logger.Info("seed loaded", "dir", dir)
	return nil
}

type window struct{ from, to time.Time }

// parseWindow reads replay's --from and --to: RFC 3339, or a date (the
// day's start in zone).
func parseWindow(from, to string, zone *time.Location) (window, error) {
	parse := func(flag, v string, def time.Time) (time.Time, error) {
		if v == "" {
			return def, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		if t, err := time.ParseInLocation(time.DateOnly, v, zone); err == nil {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("--%s %q is not RFC 3339 or YYYY-MM-DD", flag, v)
	}
	var w window
	var err error
	if w.from, err = parse("from", from, time.Unix(0, 0)); err != nil {
		return w, err
	}
	if w.to, err = parse("to", to, time.Now()); err != nil {
		return w, err
	}
	if !w.from.Before(w.to) {
		return w, fmt.Errorf("--from %s is not before --to %s", w.from.Format(time.RFC3339), w.to.Format(time.RFC3339))
	}
	return w, nil
}

// replayCmd feeds archived raw events back through the telematics and
// alerts handlers. Everything they do is idempotent, so a replay over
// events already processed changes nothing, and one after a fix to the
// parser or the rules brings the store up to date.
func replayCmd(ctx context.Context, a *app, w window, stdout io.Writer) error {
	total, err := ingest.Replay(ctx, a.db, w.from, w.to, a.pipeline.Telematics, a.pipeline.Alerts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d events received from %s to %s\n", total, w.from.Format(time.RFC3339), w.to.Format(time.RFC3339))
	return nil
}

// jobCmd runs one scheduled job now, on this replica.
func jobCmd(ctx context.Context, a *app, name string) error {
	if err := schedule.RunOnce(ctx, a.jobs(), name); err != nil {
		if _, unknown := errors.AsType[*schedule.UnknownJobError](err); unknown {
			return badInput(err)
		}
		return err
	}
	a.logger.Info("job done", "job", name)
	return nil
}
