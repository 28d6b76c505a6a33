package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/watchtower-fleet/watchtower/masterdata"
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
	rep, err := a.sheets.Run(ctx, "cli", dryRun)
	fmt.Fprint(stdout, masterdata.SyncSummary(rep, dryRun, true))
	return err
}
