package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/store"
)

// syncSheetsCmd is `watchtower sync-sheets [--dry-run]`: one sync now,
// its diff and bad rows printed.
func syncSheetsCmd(ctx context.Context, cfg *Config, logger *slog.Logger, dryRun bool, stdout io.Writer) error {
	if cfg.SheetsSpreadsheetID == "" {
		return badInput(errors.New("sync-sheets: SHEETS_SPREADSHEET_ID is not set"))
	}
	a, err := newApp(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer a.close()
	rep, err := a.syncSheets(ctx, "cli", dryRun)
	fmt.Fprint(stdout, ingest.SyncSummary(rep, dryRun, true))
	return err
}

// syncSheets runs one sync as actor. Unless dry, the admins are told in
// Slack (through the notifications stream) when it changed something or
// found a set of bad rows they were not told of yet.
func (a *app) syncSheets(ctx context.Context, actor string, dryRun bool) (store.SyncReport, error) {
	rep, err := a.sheets.Run(ctx, actor, dryRun)
	if dryRun {
		return rep, err
	}
	if rep.Diff.Changed() > 0 || rep.News {
		a.notifier.PublishNotice(ctx, "sync", ingest.SyncSummary(rep, false, false))
		if rep.News {
			if err := a.db.MarkSyncNotified(ctx, rep.Source, rep.ProblemsHash()); err != nil {
				a.logger.Warn("sync notice not marked", "err", err)
			}
		}
	}
	a.logger.Info("sheet sync", "actor", actor, "changed", rep.Diff.Changed(), "bad_rows", len(rep.Problems), "duration", rep.Duration)
	return rep, err
}
