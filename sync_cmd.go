package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/watchtower-fleet/watchtower/masterdata"
)

// checkSheets refuses sync-sheets without a sheet, before anything is
// opened.
func checkSheets(cfg *Config) error {
	if cfg.SheetsSpreadsheetID == "" {
		return badInput(errors.New("sync-sheets: SHEETS_SPREADSHEET_ID is not set"))
	}
	return nil
}

// syncSheetsCmd is `watchtower sync-sheets [--dry-run]`: one sync now,
// its diff and bad rows printed.
func syncSheetsCmd(ctx context.Context, a *app, dryRun bool, stdout io.Writer) error {
	rep, err := a.sheets.Run(ctx, "cli", dryRun)
	fmt.Fprint(stdout, masterdata.SyncSummary(rep, dryRun, true))
	return err
}
