package masterdata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/api/sheets/v4"

	"github.com/watchtower-fleet/watchtower/store"
)

// SheetTabs names the tab of each master-data table.
type SheetTabs struct {
	Organizations, Locations, Trucks, Drivers, Users string
}

// DefaultSheetTabs are the tab names the fleet's sheet uses.
func DefaultSheetTabs() SheetTabs {
	return SheetTabs{Organizations: "Organizations", Locations: "Locations", Trucks: "Trucks", Drivers: "Drivers", Users: "Users"}
}

// tables pairs each table with its tab, in the order they apply; a blank
// tab name leaves the table out of the sync.
func (t SheetTabs) tables() [][2]string {
	var out [][2]string
	for _, p := range [][2]string{{"organizations", t.Organizations}, {"locations", t.Locations}, {"trucks", t.Trucks},
		{"drivers", t.Drivers}, {"users", t.Users}} {
		if strings.TrimSpace(p[1]) != "" {
			out = append(out, p)
		}
	}
	return out
}

// SheetReader reads the master-data tabs of a Google Sheet in one
// values.batchGet, unformatted, dates as serial numbers. It retries 429,
// rateLimitExceeded and 5xx with exponential backoff and jitter, and never
// makes more than 60 read requests a minute.
type SheetReader struct {
	svc           *sheets.Service
	SpreadsheetID string
	Tabs          SheetTabs
	// MaxAttempts bounds one read's requests (6).
	MaxAttempts int
	// Sleep waits between attempts (tests make it instant).
	Sleep func(ctx context.Context, d time.Duration) error
	// Limiter spaces the requests: one a second, so never more than 60 a
	// minute however often a sync is asked for.
	Limiter *rate.Limiter
	logger  *slog.Logger
}

// NewSheetReader builds a reader on the Sheets API: with apiURL (a fake's)
// and no credentials in tests, with the service account's credentials file
// otherwise.
func NewSheetReader(ctx context.Context, spreadsheetID, credentialsFile, apiURL string, tabs SheetTabs, logger *slog.Logger) (*SheetReader, error) {
	opts := []option.ClientOption{option.WithScopes(sheets.SpreadsheetsReadonlyScope)}
	switch {
	case apiURL != "":
		opts = append(opts, option.WithEndpoint(apiURL), option.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	case credentialsFile != "":
		opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, credentialsFile))
	default:
		return nil, errors.New("masterdata: sheets: no credentials (GOOGLE_APPLICATION_CREDENTIALS) and no SHEETS_API_URL")
	}
	svc, err := sheets.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("masterdata: sheets: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &SheetReader{svc: svc, SpreadsheetID: spreadsheetID, Tabs: tabs, MaxAttempts: 6,
		Sleep: sleepCtx, Limiter: rate.NewLimiter(rate.Every(time.Second), 1), logger: logger}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Read returns one Table per tab, in apply order. A tab the sheet does not
// have fails the whole read, naming it: a renamed tab must not look like an
// empty one.
func (r *SheetReader) Read(ctx context.Context) ([]Table, error) {
	pairs := r.Tabs.tables()
	ranges := make([]string, len(pairs))
	for i, p := range pairs {
		ranges[i] = quoteTab(p[1])
	}
	var resp *sheets.BatchGetValuesResponse
	for attempt := 1; ; attempt++ {
		if err := r.Limiter.Wait(ctx); err != nil {
			return nil, err
		}
		var err error
		resp, err = r.svc.Spreadsheets.Values.BatchGet(r.SpreadsheetID).Ranges(ranges...).
			ValueRenderOption("UNFORMATTED_VALUE").DateTimeRenderOption("SERIAL_NUMBER").MajorDimension("ROWS").
			Context(ctx).Do()
		if err == nil {
			break
		}
		if !retryable(err) || attempt >= r.MaxAttempts {
			return nil, sheetError(err, pairs)
		}
		wait := sheetBackoff(attempt)
		r.logger.WarnContext(ctx, "sheets read refused; retrying", "attempt", attempt, "in", wait, "err", err)
		if err := r.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	if len(resp.ValueRanges) != len(pairs) {
		return nil, fmt.Errorf("masterdata: sheets: asked for %d tabs, got %d", len(pairs), len(resp.ValueRanges))
	}
	tables := make([]Table, len(pairs))
	for i, p := range pairs {
		t := Table{Name: p[0], Source: p[1]}
		for _, row := range resp.ValueRanges[i].Values {
			cells := make([]string, len(row))
			for j, v := range row {
				cells[j] = cellText(v)
			}
			t.Rows = append(t.Rows, cells)
		}
		tables[i] = t
	}
	return tables, nil
}

// quoteTab makes a tab name an A1 range: quoted, with quotes doubled.
func quoteTab(name string) string {
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// cellText is an unformatted cell as the seed parser reads CSV text:
// whole numbers without ".0", booleans as TRUE/FALSE.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strings.ToUpper(strconv.FormatBool(x))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// retryable: quota (429, rateLimitExceeded, userRateLimitExceeded) and
// Google's own hiccups (5xx).
func retryable(err error) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return false
	}
	if ge.Code == http.StatusTooManyRequests || ge.Code >= 500 {
		return true
	}
	for _, e := range ge.Errors {
		if e.Reason == "rateLimitExceeded" || e.Reason == "userRateLimitExceeded" {
			return true
		}
	}
	return false
}

// sheetBackoff is 1, 2, 4 … s (at most 32 s), with up to half again of jitter.
func sheetBackoff(attempt int) time.Duration {
	d := time.Second << min(attempt-1, 5)
	return d + time.Duration(rand.Int64N(int64(d/2)+1))
}

// sheetError says what went wrong in words an admin can act on.
func sheetError(err error, pairs [][2]string) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch {
		case ge.Code == http.StatusBadRequest && strings.Contains(ge.Message, "Unable to parse range"):
			for _, p := range pairs {
				if strings.Contains(ge.Message, p[1]) {
					return fmt.Errorf("masterdata: sheets: the sheet has no tab %q (renamed? set SHEETS_TABS): %w", p[1], err)
				}
			}
			return fmt.Errorf("masterdata: sheets: a tab is missing (renamed? set SHEETS_TABS): %w", err)
		case ge.Code == http.StatusForbidden:
			return fmt.Errorf("masterdata: sheets: the service account cannot read the sheet (share it with the account's email): %w", err)
		case ge.Code == http.StatusNotFound:
			return fmt.Errorf("masterdata: sheets: no such spreadsheet (SHEETS_SPREADSHEET_ID): %w", err)
		}
	}
	return fmt.Errorf("masterdata: sheets: %w", err)
}

// Noticer tells the admins something (notify.Notifier, through the
// notifications stream).
type Noticer interface {
	PublishNotice(ctx context.Context, kind, text string)
}

// SheetSync reads the sheet, checks every row, and applies the good rows.
type SheetSync struct {
	Reader *SheetReader
	DB     *store.DB
	Logger *slog.Logger
	// Notices, when set, tells the admins of a sync that changed something
	// or found a set of bad rows they were not told of yet.
	Notices Noticer
}

// Run syncs once as actor. With dryRun nothing is written and the report
// says what would change. Otherwise the result is recorded in sync_status,
// rep.News says whether its problems are a set not yet notified, and the
// admins are told (Notices) when it changed something or has news.
func (s *SheetSync) Run(ctx context.Context, actor string, dryRun bool) (store.SyncReport, error) {
	rep, err := s.sync(ctx, actor, dryRun)
	if !dryRun && s.Notices != nil && (rep.Diff.Changed() > 0 || rep.News) {
		s.Notices.PublishNotice(ctx, "sync", SyncSummary(rep, false, false))
		if rep.News {
			if err := s.DB.MarkSyncNotified(ctx, rep.Source, rep.ProblemsHash()); err != nil && s.Logger != nil {
				s.Logger.Warn("sync notice not marked", "err", err)
			}
		}
	}
	if s.Logger != nil {
		s.Logger.Info("sheet sync", "actor", actor, "changed", rep.Diff.Changed(), "bad_rows", len(rep.Problems), "duration", rep.Duration)
	}
	return rep, err
}

func (s *SheetSync) sync(ctx context.Context, actor string, dryRun bool) (store.SyncReport, error) {
	rep := store.SyncReport{Source: "sheets", StartedAt: time.Now()}
	finish := func(err error) (store.SyncReport, error) {
		rep.Duration, rep.Err = time.Since(rep.StartedAt), err
		if !dryRun {
			news, rerr := s.DB.RecordSync(context.WithoutCancel(ctx), rep)
			if rerr != nil && s.Logger != nil {
				s.Logger.Warn("sync status not recorded", "err", rerr)
			}
			rep.News = news
		}
		return rep, err
	}
	tables, err := s.Reader.Read(ctx)
	if err != nil {
		return finish(err)
	}
	var present []string
	for _, t := range tables {
		rep.RowsRead += max(0, len(t.Rows)-1)
		if len(t.Rows) > 0 {
			present = append(present, t.Name)
		}
	}
	in, bad := ParseFleetRows(tables...)
	if bad != nil {
		rep.Problems = append(rep.Problems, bad.Problems...)
		if bad.Omitted > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("… and %d more", bad.Omitted))
		}
	}
	diff, refused, err := s.DB.SyncFleet(ctx, actor, in, present, dryRun)
	rep.Diff = diff
	rep.Problems = append(rep.Problems, refused...)
	return finish(err)
}

// SyncSummary is a sync's result in a few lines for people: what changed,
// table by table, and the bad rows. verbose lists the changed rows' keys
// too (the --dry-run diff).
func SyncSummary(rep store.SyncReport, dryRun, verbose bool) string {
	var b strings.Builder
	verb := "Sheet sync"
	if dryRun {
		verb = "Sheet sync (dry run: nothing written)"
	}
	if rep.Err != nil {
		fmt.Fprintf(&b, "%s failed: %v\n", verb, rep.Err)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d rows read, %d changed, %d bad, in %s.\n", verb, rep.RowsRead, rep.Diff.Changed(), len(rep.Problems),
		rep.Duration.Round(time.Millisecond))
	for _, name := range []string{"organizations", "locations", "trucks", "drivers", "users"} {
		t := rep.Diff[name]
		if t == nil || t.Changed() == 0 {
			continue
		}
		fmt.Fprintf(&b, "  %s: %d new, %d updated, %d deactivated, %d unchanged\n", name, len(t.Inserted), len(t.Updated), len(t.Deactivated), t.Unchanged)
		if verbose {
			for _, l := range []struct {
				sign string
				keys []string
			}{{"+", t.Inserted}, {"~", t.Updated}, {"-", t.Deactivated}} {
				for _, k := range l.keys {
					fmt.Fprintf(&b, "    %s %s\n", l.sign, k)
				}
			}
		}
	}
	if len(rep.Problems) > 0 {
		b.WriteString("Bad rows (fix them in the sheet; the other rows were applied):\n")
		for _, p := range rep.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	return b.String()
}
