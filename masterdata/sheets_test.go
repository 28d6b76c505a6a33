package masterdata_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/masterdata/sheetstest"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

const sheetID = "1FleetMasterDataSheetIdxxxxxxxxxxxxxxxxxxx"

// sheetTab reads a seed CSV as a person's sheet holds it: numbers as
// numbers, yes/no as they were typed, and (on Trucks) a "Last checked"
// date column as Sheets' serial number.
func sheetTab(t testing.TB, file string) [][]any {
	t.Helper()
	f, err := os.Open(filepath.Join("../testdata/fleet", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for i, rec := range recs {
		row := make([]any, len(rec))
		for j, c := range rec {
			if v, err := strconv.ParseFloat(c, 64); err == nil && !strings.HasPrefix(c, "+") && !strings.HasPrefix(c, "0") {
				row[j] = v
			} else {
				row[j] = c
			}
		}
		if file == "trucks.csv" {
			if i == 0 {
				row = append(row, "Last checked")
			} else {
				row = append(row, 46360.0+float64(i)) // serial date, December 2026
			}
		}
		rows = append(rows, row)
	}
	return rows
}

type sheetEnv struct {
	fake *sheetstest.Server
	db   *store.DB
	sync *masterdata.SheetSync
}

func newSheetEnv(t *testing.T) *sheetEnv {
	t.Helper()
	fake := sheetstest.NewServer(t, sheetID)
	for tab, file := range map[string]string{"Organizations": "organizations.csv", "Locations": "locations.csv",
		"Trucks": "trucks.csv", "Drivers": "drivers.csv", "Users": "users.csv"} {
		fake.SetTab(tab, sheetTab(t, file))
	}
	_, db := storetest.NewMigrated(t)
	r, err := masterdata.NewSheetReader(context.Background(), sheetID, "", fake.URL(), masterdata.DefaultSheetTabs(), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	r.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	return &sheetEnv{fake: fake, db: db, sync: &masterdata.SheetSync{Reader: r, DB: db, Logger: testenv.Logger(t)}}
}

func (e *sheetEnv) run(t *testing.T, dry bool) store.SyncReport {
	t.Helper()
	rep, err := e.sync.Run(context.Background(), "sheets", dry)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return rep
}

// The sheet and the seed CSVs mean the same: a first sync inserts the demo
// fleet in one batchGet of all tabs, unformatted with serial dates; a
// second changes nothing.
func TestSheetSyncFirstAndAgain(t *testing.T) {
	t.Parallel()
	e := newSheetEnv(t)
	rep := e.run(t, false)
	if len(rep.Problems) > 0 {
		t.Fatalf("problems: %v", rep.Problems)
	}
	fleet, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int{"trucks": len(fleet.Trucks), "drivers": len(fleet.Drivers), "locations": len(fleet.Locations),
		"organizations": len(fleet.Organizations), "users": len(fleet.Users)} {
		if got := len(rep.Diff[table].Inserted); got != want {
			t.Errorf("%s: %d inserted, want %d", table, got, want)
		}
	}
	reqs := e.fake.Requests()
	if len(reqs) != 1 || len(reqs[0]["ranges"]) != 5 || reqs[0].Get("valueRenderOption") != "UNFORMATTED_VALUE" ||
		reqs[0].Get("dateTimeRenderOption") != "SERIAL_NUMBER" {
		t.Errorf("requests %v, want one batchGet of 5 tabs, unformatted, serial dates", reqs)
	}
	again := e.run(t, false)
	if n := again.Diff.Changed(); n != 0 || len(again.Problems) > 0 {
		t.Errorf("second sync changed %d rows (%v)", n, again.Problems)
	}
}

// A sheet edited by people is never all or nothing: bad rows are reported
// with their tab and row, the good ones apply, rows gone are deactivated,
// a dry run writes nothing, and the status is recorded.
func TestSheetSyncBadRowsAndChanges(t *testing.T) {
	t.Parallel()
	e := newSheetEnv(t)
	e.run(t, false)
	ctx := context.Background()

	trucks := sheetTab(t, "trucks.csv")
	trucks[3][5] = "broken"            // row 4: a status that is not one
	trucks[4] = trucks[4][:1]          // row 5: ragged, only the number (its other cells now blank)
	trucks = append(trucks, trucks[6]) // a duplicate of row 7
	trucks[7][8] = "KIRIKIRI_DEPOT"    // row 8: moved (a change)
	// An active truck's row naming a company no row names: the database
	// refuses it.
	k := 12
	for trucks[k][5] != "active" {
		k++
	}
	trucks[k][3] = "Nonexistent Haulage Ltd"
	refused := trucks[k][0].(string)
	removed := trucks[9][0].(string)            // row 10: gone from the sheet
	trucks = append(trucks[:9], trucks[10:]...) //
	e.fake.SetTab("Trucks", trucks)
	drivers := sheetTab(t, "drivers.csv")
	drivers[1][1] = 8061462783.0 // +2348061462783 typed as a number
	e.fake.SetTab("Drivers", drivers)

	before := map[string]string{}
	for _, n := range []string{trucks[3][0].(string), refused} {
		tr, err := e.db.TruckByNumber(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		before[n] = tr.Status
	}
	dry := e.run(t, true)
	if got, _ := e.db.TruckByNumber(ctx, removed); got.Status == store.TruckInactive {
		t.Fatal("a dry run deactivated a truck")
	}
	rep := e.run(t, false)
	if dry.Diff.Changed() != rep.Diff.Changed() {
		t.Errorf("dry run said %d changes, the sync made %d", dry.Diff.Changed(), rep.Diff.Changed())
	}
	problems := strings.Join(rep.Problems, "\n")
	for _, want := range []string{"Trucks row 4: status \"broken\"", "already given at Trucks row 7", `company "Nonexistent Haulage Ltd" does not exist`} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}
	// Row 4 is bad: its truck is left as it was, not deactivated.
	if tr := rep.Diff["trucks"]; len(tr.Deactivated) != 1 || tr.Deactivated[0] != removed || len(tr.Updated) != 2 {
		t.Errorf("trucks: updated %v, deactivated %v; want rows 5 and 8 updated and %s deactivated", tr.Updated, tr.Deactivated, removed)
	}
	for n, was := range before {
		if got, _ := e.db.TruckByNumber(ctx, n); got.Status != was {
			t.Errorf("%s, of a bad row, is %s; want it left %s", n, got.Status, was)
		}
	}
	if got, _ := e.db.TruckByNumber(ctx, removed); got.Status != store.TruckInactive {
		t.Errorf("%s is %s, want inactive (never deleted)", removed, got.Status)
	}
	// A phone typed as a number (its leading 0 gone) is the same phone.
	if d := rep.Diff["drivers"]; d.Changed() != 0 || strings.Contains(problems, "Drivers") {
		t.Errorf("drivers changed %d (%s)", d.Changed(), problems)
	}
	// Bad rows are news once: told, the same set again is not.
	if !rep.News {
		t.Fatal("new bad rows are not news")
	}
	if err := e.db.MarkSyncNotified(ctx, "sheets", rep.ProblemsHash()); err != nil {
		t.Fatal(err)
	}
	again := e.run(t, false)
	if again.News {
		t.Error("the same bad rows were news twice")
	}
	if again.Diff.Changed() != 0 {
		t.Errorf("the same sheet changed %d rows the second time", again.Diff.Changed())
	}
}

// Quota: a 429 is waited out; a renamed tab fails the whole sync, naming
// the tab, and deactivates nothing; a duplicated header is reported.
func TestSheetSyncFaults(t *testing.T) {
	t.Parallel()
	e := newSheetEnv(t)
	e.fake.RateLimit(2)
	rep := e.run(t, false)
	if n := len(e.fake.Requests()); n != 3 || rep.Diff["trucks"] == nil {
		t.Fatalf("%d requests for a sync after two 429s", n)
	}

	e.fake.RenameTab("Trucks", "Trucks (old)")
	_, err := e.sync.Run(context.Background(), "sheets", false)
	if err == nil || !strings.Contains(err.Error(), `no tab "Trucks"`) {
		t.Fatalf("renamed tab: %v", err)
	}
	e.fake.RenameTab("Trucks (old)", "Trucks")

	// An emptied tab comes back as a range without values: reported, and
	// no organisation is deactivated.
	e.fake.SetTab("Organizations", nil)
	rep = e.run(t, false)
	if !strings.Contains(strings.Join(rep.Problems, "\n"), "Organizations: empty") {
		t.Errorf("empty tab: %v", rep.Problems)
	}
	if o := rep.Diff["organizations"]; o != nil && len(o.Deactivated) != 0 {
		t.Errorf("an empty tab deactivated %v", o.Deactivated)
	}
	e.fake.SetTab("Organizations", sheetTab(t, "organizations.csv"))

	users := sheetTab(t, "users.csv")
	users[0] = append(users[0], "Role") // a second "role" column
	e.fake.SetTab("Users", users)
	rep = e.run(t, false)
	if !strings.Contains(strings.Join(rep.Problems, "\n"), `column "Role" appears twice`) {
		t.Errorf("duplicated header: %v", rep.Problems)
	}
	if u := rep.Diff["users"]; u != nil && len(u.Deactivated) != 0 {
		t.Errorf("a broken tab deactivated %d users", len(u.Deactivated))
	}
}
