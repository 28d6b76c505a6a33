package masterdata_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// demoDir is the demo fleet at the repository root.
const demoDir = "../testdata/fleet"

// tableNames are the master-data tables in the order they apply.
var tableNames = []string{"organizations", "locations", "trucks", "drivers", "users"}

// parseCSV reads one table from text and parses it alone.
func parseCSV(t *testing.T, table, text string) (store.FleetImport, error) {
	t.Helper()
	tbl, err := masterdata.ReadCSVTable(table, table+".csv", strings.NewReader(text))
	if err != nil {
		t.Fatalf("ReadCSVTable(%s): %v", table, err)
	}
	return masterdata.ParseFleet(tbl)
}

func readDemo(t *testing.T) store.FleetImport {
	t.Helper()
	in, err := masterdata.ReadFleetDir(demoDir)
	if err != nil {
		t.Fatalf("ReadFleetDir(%s): %v", demoDir, err)
	}
	return in
}

func TestReadFleetDirDemo(t *testing.T) {
	t.Parallel()
	in := readDemo(t)

	for _, c := range []struct {
		kind      string
		got, want int
	}{
		{"organizations", len(in.Organizations), 18},
		{"locations", len(in.Locations), 35},
		{"trucks", len(in.Trucks), 84},
		{"drivers", len(in.Drivers), 89},
		{"users", len(in.Users), 6},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d rows, want %d", c.kind, c.got, c.want)
		}
	}

	i := slices.IndexFunc(in.Trucks, func(r store.Row[store.Truck]) bool { return r.Value.Number == "T11985LA" })
	if i < 0 {
		t.Fatal("truck T11985LA is missing")
	}
	tr := in.Trucks[i]
	if tr.Ref != "trucks.csv row 2" {
		t.Errorf("T11985LA ref = %q, want trucks.csv row 2", tr.Ref)
	}
	if tr.Value.LocoNavUUID != "96371d6a-93a3-46e6-a663-3b59d53bb2fc" {
		t.Errorf("T11985LA LocoNav uuid = %q", tr.Value.LocoNavUUID)
	}
	if tr.Value.Company != "Watch Tower Haulage Ltd" {
		t.Errorf("T11985LA company = %q", tr.Value.Company)
	}
	if tr.Value.LocoNavNumber != "T-11985-LA" || tr.Value.Status != "active" || tr.Value.TrailerSize != "20ft" ||
		tr.Value.OperatingLocation != "KIRIKIRI_DEPOT" {
		t.Errorf("T11985LA = %+v", tr.Value)
	}

	loc := func(code string) store.Location {
		t.Helper()
		i := slices.IndexFunc(in.Locations, func(r store.Row[store.Location]) bool { return r.Value.Code == code })
		if i < 0 {
			t.Fatalf("location %s is missing", code)
		}
		return in.Locations[i].Value
	}
	apapa := loc("APAPA")
	if len(apapa.Boundary) != 5 || apapa.RadiusM != 0 {
		t.Errorf("APAPA: %d boundary points and radius %d, want 5 and 0", len(apapa.Boundary), apapa.RadiusM)
	}
	if apapa.Center != (store.Point{Lat: 6.4435, Lon: 3.3665}) || apapa.Kind != store.LocationTerminal {
		t.Errorf("APAPA centre %v kind %q", apapa.Center, apapa.Kind)
	}
	if !slices.Contains(apapa.Aliases, "APMT Apapa") || len(apapa.Aliases) != 4 {
		t.Errorf("APAPA aliases = %q", apapa.Aliases)
	}
	fmn := loc("FMN_APAPA")
	if fmn.RadiusM != 250 || fmn.Boundary != nil || fmn.Organization != "Flour Mills of Nigeria" {
		t.Errorf("FMN_APAPA: radius %d, boundary %v, organization %q", fmn.RadiusM, fmn.Boundary, fmn.Organization)
	}
	for _, r := range in.Locations {
		if l := r.Value; len(l.Boundary) == 0 && (l.RadiusM < 50 || l.RadiusM > 300) {
			t.Errorf("%s: circle radius %d is outside 50..300", r.Ref, l.RadiusM)
		}
	}
}

// TestReadFleetDirDriverTruck checks that a driver keeps the truck that
// drivers.csv gives them in its truck_number column.
func TestReadFleetDirDriverTruck(t *testing.T) {
	t.Parallel()
	in := readDemo(t)
	i := slices.IndexFunc(in.Drivers, func(r store.Row[store.Driver]) bool { return r.Value.Name == "Kayode Oyewole" })
	if i < 0 {
		t.Fatal("driver Kayode Oyewole is missing")
	}
	d := in.Drivers[i].Value
	if d.Phone != "+2348061462783" || !d.HasSmartphone {
		t.Errorf("Kayode Oyewole = %+v", d)
	}
	if d.TruckNumber != "T11985LA" {
		t.Errorf("Kayode Oyewole drives %q, want T11985LA", d.TruckNumber)
	}
}

func TestParseFleetBadRows(t *testing.T) {
	t.Parallel()
	const locHeader = "code,name,kind,latitude,longitude,radius_m,polygon\n"
	const ring = "6.1 3.1;6.2 3.2;6.1 3.3"
	tests := []struct {
		name  string
		table string
		csv   string
		// want is every problem, in order, exactly; a trailing * matches
		// any rest of the line.
		want []string
	}{
		{
			name: "location kind", table: "locations",
			csv:  locHeader + "WH1,Warehouse,warehouse,6.5,3.3,100,\n",
			want: []string{`locations.csv row 2: kind "warehouse"*`},
		},
		{
			name: "organization kind", table: "organizations",
			csv:  "name,kind\nAcme,shipper\n",
			want: []string{`organizations.csv row 2: kind "shipper"*`},
		},
		{
			name: "truck status", table: "trucks",
			csv:  "number,status\nT11985LA,broken\n",
			want: []string{`trucks.csv row 2: status "broken"*`},
		},
		{
			name: "truck number without letters or digits", table: "trucks",
			csv:  "number,brand\n---,MAN\n",
			want: []string{`trucks.csv row 2: *`},
		},
		{
			name: "latitude not a number", table: "locations",
			csv:  locHeader + "A1,One,depot,abc,3.3,100,\n",
			want: []string{`locations.csv row 2: latitude "abc" is not a number`},
		},
		{
			name: "latitude out of range", table: "locations",
			csv:  locHeader + "A1,One,depot,95,3.3,100,\n",
			want: []string{`locations.csv row 2: centre: latitude 95 is outside -90..90`},
		},
		{
			name: "radius not a whole number", table: "locations",
			csv: locHeader + "A1,One,depot,6.5,3.3,1e2,\n",
			want: []string{
				`locations.csv row 2: radius_m "1e2" is not a whole number`,
				`locations.csv row 2: a geofence needs radius_m (50-300) or a polygon`,
			},
		},
		{
			name: "both radius and polygon", table: "locations",
			csv:  locHeader + "A1,One,depot,6.5,3.3,100," + ring + "\n",
			want: []string{`locations.csv row 2: give radius_m or polygon, not both`},
		},
		{
			name: "neither radius nor polygon", table: "locations",
			csv:  locHeader + "A1,One,depot,6.5,3.3,,\n",
			want: []string{`locations.csv row 2: a geofence needs radius_m (50-300) or a polygon`},
		},
		{
			name: "radius too small", table: "locations",
			csv:  locHeader + "A1,One,depot,6.5,3.3,20,\n",
			want: []string{`locations.csv row 2: radius_m 20 is outside 50-300`},
		},
		{
			name: "radius too large", table: "locations",
			csv:  locHeader + "A1,One,depot,6.5,3.3,301,\n",
			want: []string{`locations.csv row 2: radius_m 301 is outside 50-300`},
		},
		{
			name: "bad polygon point", table: "locations",
			csv:  locHeader + "A1,One,depot,6.5,3.3,,6.1 3.1;6.2 x;6.3 3.3\n",
			want: []string{`locations.csv row 2: polygon: point 2 "6.2 x" is not two numbers`},
		},
		{
			name: "polygon with two points", table: "locations",
			csv:  locHeader + "A1,One,depot,6.5,3.3,,6.1 3.1;6.2 3.2\n",
			want: []string{`locations.csv row 2: polygon: needs at least 3 distinct points, has 2`},
		},
		{
			name: "missing required columns", table: "locations",
			csv:  "code,name,kind,latitude,radius_m\nA1,One,depot,6.5,100\n",
			want: []string{`locations.csv: missing column "longitude"`},
		},
		{
			name: "missing number column", table: "trucks",
			csv:  "plate_no,company\nT11985LA,Acme\n",
			want: []string{`trucks.csv: missing column "number"`},
		},
		{
			name: "empty table", table: "users",
			csv:  "",
			want: []string{`users.csv: empty (no header row)`},
		},
		{
			name: "column twice", table: "trucks",
			csv:  "number,Number\nT11985LA,T11985LA\n",
			want: []string{`trucks.csv: column "Number" appears twice`},
		},
		{
			name: "duplicate truck in two spellings", table: "trucks",
			csv:  "number,company\nT11985LA,Acme\nT76738LA,Acme\nt-11985-la,Acme\n",
			want: []string{`trucks.csv row 4: truck "T11985LA" already given at trucks.csv row 2`},
		},
		{
			name: "duplicate LocoNav uuid in two cases", table: "trucks",
			csv: "number,loconav_vehicle_uuid\nT11985LA,96371d6a-93a3-46e6-a663-3b59d53bb2fc\n" +
				"T76738LA,96371D6A-93A3-46E6-A663-3B59D53BB2FC\n",
			want: []string{`trucks.csv row 3: LocoNav uuid "96371d6a-93a3-46e6-a663-3b59d53bb2fc" already given at trucks.csv row 2`},
		},
		{
			name: "duplicate phone in two forms", table: "drivers",
			csv:  "name,phone,has_smartphone\nKayode Oyewole,+2348061462783,yes\nIbrahim Lawan,0806 146 2783,no\n",
			want: []string{`drivers.csv row 3: phone "+2348061462783" already given at drivers.csv row 2`},
		},
		{
			name: "duplicate organization in two cases", table: "organizations",
			csv:  "name,kind\nAcme Ltd,client\nACME LTD,client\n",
			want: []string{`organizations.csv row 3: organization "acme ltd" already given at organizations.csv row 2`},
		},
		{
			name: "duplicate location code", table: "locations",
			csv:  locHeader + "apapa,One,depot,6.5,3.3,100,\nAPAPA,Two,depot,6.5,3.3,100,\n",
			want: []string{`locations.csv row 3: location code "APAPA" already given at locations.csv row 2`},
		},
		{
			name: "duplicate slack user", table: "users",
			csv:  "slack_user_id,role\nugeay6bans4,admin\nUGEAY6BANS4,viewer\n",
			want: []string{`users.csv row 3: slack_user_id "UGEAY6BANS4" already given at users.csv row 2`},
		},
		{
			name: "smartphone maybe", table: "drivers",
			csv:  "name,phone,has_smartphone\nKayode Oyewole,+2348061462783,Maybe\n",
			want: []string{`drivers.csv row 2: has_smartphone "maybe" is not yes or no`},
		},
		{
			name: "quoted field over two lines", table: "locations",
			csv: "code,name,kind,latitude,longitude,radius_m,address\n" +
				"A1,One,depot,6.5,3.3,100,\"Wharf Road,\nApapa\"\n" +
				"B2,Two,depot,6.5,3.3,20,\n",
			want: []string{`locations.csv row 4: radius_m 20 is outside 50-300`},
		},
		{
			name: "blank rows keep later row numbers", table: "locations",
			csv:  locHeader + "A1,One,depot,6.5,3.3,100,\n,,,,,,\n\n  , ,,,,,\nB2,Two,depot,6.5,3.3,20,\n",
			want: []string{`locations.csv row 6: radius_m 20 is outside 50-300`},
		},
		{
			name: "every problem of a row", table: "locations",
			csv: locHeader + "A1,One,depot,abc,200,20,\n",
			want: []string{
				`locations.csv row 2: latitude "abc" is not a number`,
				`locations.csv row 2: centre: longitude 200 is outside -180..180`,
				`locations.csv row 2: radius_m 20 is outside 50-300`,
			},
		},
		{
			name: "every bad row", table: "drivers",
			csv: "name,phone,smartphone\nA,+2348000000001,si\nB,+2348000000002,yes\nC,+2348000000003,oui\n",
			want: []string{
				`drivers.csv row 2: has_smartphone "si" is not yes or no`,
				`drivers.csv row 4: has_smartphone "oui" is not yes or no`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseCSV(t, tc.table, tc.csv)
			var fe *masterdata.FleetError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFleet: got %v, want a *FleetError", err)
			}
			if !problemsMatch(fe.Problems, tc.want) {
				t.Errorf("problems:\n  got  %q\n  want %q", fe.Problems, tc.want)
			}
			if fe.Omitted != 0 {
				t.Errorf("Omitted = %d, want 0", fe.Omitted)
			}
			for _, p := range tc.want {
				if p = strings.TrimSuffix(p, "*"); !strings.Contains(err.Error(), "\n  "+p) {
					t.Errorf("Error() does not list %q:\n%s", p, err)
				}
			}
			head := fmt.Sprintf("%d bad row(s) in fleet data:", len(tc.want))
			if !strings.HasPrefix(err.Error(), head) {
				t.Errorf("Error() = %q, want it to start %q", err, head)
			}
		})
	}
}

func problemsMatch(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if p, ok := strings.CutSuffix(want[i], "*"); ok {
			if !strings.HasPrefix(got[i], p) {
				return false
			}
		} else if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestParseFleetAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		table string
		csv   string
		check func(t *testing.T, in store.FleetImport)
	}{
		{
			name: "header with BOM, spacing and aliases", table: "trucks",
			csv: "\ufeff Truck Number ,LocoNav UUID,Company,Trailer Size,STATUS\n" +
				"t-11985-la, 96371D6A-93A3-46E6-A663-3B59D53BB2FC ,Watch Tower Haulage Ltd,40 FT,Active\n",
			check: func(t *testing.T, in store.FleetImport) {
				want := store.Truck{Number: "T11985LA", LocoNavUUID: "96371d6a-93a3-46e6-a663-3b59d53bb2fc",
					Company: "Watch Tower Haulage Ltd", TrailerSize: "40ft", Status: "active"}
				if len(in.Trucks) != 1 || in.Trucks[0].Value != want || in.Trucks[0].Ref != "trucks.csv row 2" {
					t.Errorf("trucks = %+v, want one %+v at row 2", in.Trucks, want)
				}
			},
		},
		{
			name: "BOM before a quoted header", table: "trucks",
			csv: "\ufeff\"number\",\"company\"\nT11985LA,Acme\n",
			check: func(t *testing.T, in store.FleetImport) {
				if len(in.Trucks) != 1 || in.Trucks[0].Value.Number != "T11985LA" {
					t.Errorf("trucks = %+v", in.Trucks)
				}
			},
		},
		{
			name: "plate alias", table: "trucks",
			csv: "Plate\nT 76738 LA\n",
			check: func(t *testing.T, in store.FleetImport) {
				if len(in.Trucks) != 1 || in.Trucks[0].Value.Number != "T76738LA" {
					t.Errorf("trucks = %+v", in.Trucks)
				}
			},
		},
		{
			name: "location aliases lat lng radius", table: "locations",
			csv: "Code,Name,Kind,Lat,Lng,Radius,Aliases\nkiri depot,Kirikiri Depot,DEPOT,6.45,3.30,150, Kiri | | KD \n",
			check: func(t *testing.T, in store.FleetImport) {
				want := store.Location{Code: "KIRI_DEPOT", Name: "Kirikiri Depot", Kind: "depot",
					Center: store.Point{Lat: 6.45, Lon: 3.30}, RadiusM: 150, Aliases: []string{"Kiri", "KD"}}
				if len(in.Locations) != 1 {
					t.Fatalf("locations = %+v", in.Locations)
				}
				got := in.Locations[0].Value
				if got.Code != want.Code || got.Name != want.Name || got.Kind != want.Kind || got.Center != want.Center ||
					got.RadiusM != want.RadiusM || got.Boundary != nil || !slices.Equal(got.Aliases, want.Aliases) {
					t.Errorf("location = %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "blank rows skipped", table: "organizations",
			csv: "name,kind\nAcme,client\n,\n   ,  \n\nBeta,Transporter\n,,,\n",
			check: func(t *testing.T, in store.FleetImport) {
				var refs []string
				for _, r := range in.Organizations {
					refs = append(refs, r.Ref+" "+r.Value.Name+" "+r.Value.Kind)
				}
				want := []string{"organizations.csv row 2 Acme client", "organizations.csv row 6 Beta transporter"}
				if !slices.Equal(refs, want) {
					t.Errorf("organizations = %q, want %q", refs, want)
				}
			},
		},
		{
			name: "short rows padded", table: "drivers",
			csv: "name,phone,has_smartphone,truck\nKayode Oyewole,+2348061462783\nIbrahim Lawan,+2348087198457,Y,t63530la\n",
			check: func(t *testing.T, in store.FleetImport) {
				want := []store.Driver{
					{Name: "Kayode Oyewole", Phone: "+2348061462783"},
					{Name: "Ibrahim Lawan", Phone: "+2348087198457", HasSmartphone: true, TruckNumber: "t63530la"},
				}
				if len(in.Drivers) != 2 || in.Drivers[0].Value != want[0] || in.Drivers[1].Value != want[1] {
					t.Errorf("drivers = %+v, want %+v", in.Drivers, want)
				}
			},
		},
		{
			name: "driver truck_number column", table: "drivers",
			csv: "name,phone,has_smartphone,truck_number\nKayode Oyewole,+2348061462783,yes,T11985LA\n",
			check: func(t *testing.T, in store.FleetImport) {
				got := ""
				if len(in.Drivers) == 1 {
					got = in.Drivers[0].Value.TruckNumber
				}
				if got != "T11985LA" {
					t.Errorf("drivers %+v, want T11985LA's driver", in.Drivers)
				}
			},
		},
		{
			name: "users upper-cased ids and lower-cased roles", table: "users",
			csv: "Slack ID,Display Name,Role\nugeay6bans4,Adebayo Ogunleye,Admin\n",
			check: func(t *testing.T, in store.FleetImport) {
				want := store.User{SlackUserID: "UGEAY6BANS4", DisplayName: "Adebayo Ogunleye", Role: "admin"}
				if len(in.Users) != 1 || in.Users[0].Value != want {
					t.Errorf("users = %+v, want %+v", in.Users, want)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tbl, err := masterdata.ReadCSVTable(tc.table, tc.table+".csv", strings.NewReader(tc.csv))
			var in store.FleetImport
			if err == nil {
				in, err = masterdata.ParseFleet(tbl)
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, in)
		})
	}
}

func TestParseFleetCapsProblems(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("code,name,kind,latitude,longitude,radius_m\n")
	for i := range 60 {
		fmt.Fprintf(&b, "L%d,Place %d,depot,abc,3.3,100\n", i, i)
	}
	_, err := parseCSV(t, "locations", b.String())
	var fe *masterdata.FleetError
	if !errors.As(err, &fe) {
		t.Fatalf("ParseFleet: got %v, want a *FleetError", err)
	}
	if len(fe.Problems) != 50 || fe.Omitted != 10 {
		t.Fatalf("got %d problems and %d omitted, want 50 and 10", len(fe.Problems), fe.Omitted)
	}
	if want := `locations.csv row 51: latitude "abc" is not a number`; fe.Problems[49] != want {
		t.Errorf("last problem = %q, want %q", fe.Problems[49], want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "60 bad row(s) in fleet data:\n") || !strings.HasSuffix(msg, "\n  … and 10 more") {
		t.Errorf("Error() = %q", msg)
	}
	if n := strings.Count(msg, "\n"); n != 51 {
		t.Errorf("Error() has %d lines, want 52", n+1)
	}
}

func TestParseFleetUnknownTable(t *testing.T) {
	t.Parallel()
	_, err := masterdata.ParseFleet(masterdata.Table{Name: "vehicles", Source: "vehicles.csv", Rows: [][]string{{"number"}}})
	if err == nil || !strings.Contains(err.Error(), `vehicles.csv: unknown table "vehicles"`) {
		t.Errorf("got %v, want an unknown table error", err)
	}
}

func TestReadCSVTableMalformed(t *testing.T) {
	t.Parallel()
	_, err := masterdata.ReadCSVTable("trucks", "trucks.csv", strings.NewReader("number\n\"T11985LA\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "masterdata: trucks.csv: ") {
		t.Errorf("got %v, want an error naming trucks.csv", err)
	}
}

func TestReadFleetDirErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name:  "unknown csv",
			files: map[string]string{"organizations.csv": "name,kind\nAcme,client\n", "vehicles.csv": "number\nT1LA\n"},
			want:  "vehicles.csv: unknown file",
		},
		{name: "empty dir", want: "no CSV files in"},
		{name: "no csv", files: map[string]string{"README.md": "# fleet\n", "trucks.csv.bak": "number\n"}, want: "no CSV files in"},
		{
			name:  "bad row",
			files: map[string]string{"trucks.csv": "number,company\nT1LA,Acme\nt-1-la,Acme\n"},
			want:  `trucks.csv row 3: truck "T1LA" already given at trucks.csv row 2`,
		},
		{
			name:  "malformed csv",
			files: map[string]string{"users.csv": "slack_user_id,role\n\"U1,admin\n"},
			want:  "masterdata: users.csv: ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, text := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := masterdata.ReadFleetDir(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadFleetDir: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("missing dir", func(t *testing.T) {
		t.Parallel()
		_, err := masterdata.ReadFleetDir(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want os.ErrNotExist", err)
		}
	})
}

func TestImportFleetDemo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	in := readDemo(t)

	want := map[string]int{"organizations": 18, "locations": 35, "trucks": 84, "drivers": 89, "users": 6}
	res, err := db.ImportFleet(ctx, "test", in)
	if err != nil {
		t.Fatalf("first import: %v", err)
	}
	checkCounts(t, "first import", res, want, func(n int) store.ImportCounts { return store.ImportCounts{Inserted: n} })

	sum, err := db.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, r := range in.Trucks {
		if r.Value.Status == store.TruckActive {
			active++
		}
	}
	if want := (store.FleetSummary{Organizations: 18, Locations: 35, Trucks: 84, ActiveTrucks: active, Drivers: 89, Users: 6}); sum != want {
		t.Errorf("Summary = %+v, want %+v", sum, want)
	}
	tr, err := db.TruckByNumber(ctx, "t-11985-la")
	if err != nil {
		t.Fatal(err)
	}
	if tr.LocoNavUUID != "96371d6a-93a3-46e6-a663-3b59d53bb2fc" || tr.Company != "Watch Tower Haulage Ltd" ||
		tr.OperatingLocation != "KIRIKIRI_DEPOT" || tr.Brand != "Sinotruk HOWO" {
		t.Errorf("T11985LA in the store = %+v", tr)
	}

	res, err = db.ImportFleet(ctx, "test", in)
	if err != nil {
		t.Fatalf("second import: %v", err)
	}
	checkCounts(t, "second import", res, want, func(n int) store.ImportCounts { return store.ImportCounts{Unchanged: n} })

	i := slices.IndexFunc(in.Trucks, func(r store.Row[store.Truck]) bool { return r.Value.Number == "T11985LA" })
	in.Trucks = slices.Clone(in.Trucks)
	in.Trucks[i].Value.Brand = "Volvo FH16"
	res, err = db.ImportFleet(ctx, "test", in)
	if err != nil {
		t.Fatalf("third import: %v", err)
	}
	checkCounts(t, "third import", res, want, func(n int) store.ImportCounts { return store.ImportCounts{Unchanged: n} },
		"trucks")
	if got := *res["trucks"]; got != (store.ImportCounts{Updated: 1, Unchanged: 83}) {
		t.Errorf("third import trucks = %+v, want 1 updated, 83 unchanged", got)
	}
	if tr, err := db.TruckByNumber(ctx, "T11985LA"); err != nil || tr.Brand != "Volvo FH16" {
		t.Errorf("after the update T11985LA = %+v, %v", tr, err)
	}
}

// checkCounts compares every kind but those in skip with counts(n).
func checkCounts(t *testing.T, what string, res store.ImportResult, want map[string]int,
	counts func(n int) store.ImportCounts, skip ...string) {
	t.Helper()
	if len(res) != len(want) {
		t.Errorf("%s: result has kinds %v, want %v", what, keys(res), want)
	}
	for kind, n := range want {
		if slices.Contains(skip, kind) {
			continue
		}
		got, ok := res[kind]
		if !ok {
			t.Errorf("%s: no counts for %s", what, kind)
			continue
		}
		if *got != counts(n) {
			t.Errorf("%s: %s = %+v, want %+v", what, kind, *got, counts(n))
		}
	}
}

func keys(res store.ImportResult) []string {
	var ks []string
	for k := range res {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestImportFleetAllOrNothing puts a truck of an unknown company after the
// whole demo fleet: the import must name its row and leave the store as it
// was.
func TestImportFleetAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)

	var tables []masterdata.Table
	for _, name := range tableNames {
		text, err := os.ReadFile(filepath.Join(demoDir, name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		if name == "trucks" {
			text = append(text, "T99999LA,,,No Such Haulage Ltd,,active,MAN,40ft,\n"...)
		}
		tbl, err := masterdata.ReadCSVTable(name, name+".csv", strings.NewReader(string(text)))
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tbl)
	}
	in, err := masterdata.ParseFleet(tables...)
	if err != nil {
		t.Fatalf("ParseFleet (references are the store's to check): %v", err)
	}

	before, err := db.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.ImportFleet(ctx, "test", in)
	if err == nil {
		t.Fatalf("import succeeded with %v, want an error", res)
	}
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("error %v does not wrap store.ErrInvalid", err)
	}
	if want := `trucks.csv row 86: invalid: company "No Such Haulage Ltd" does not exist`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}

	after, err := db.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("Summary after a failed import = %+v, want %+v as before", after, before)
	}
	trucks, err := db.Trucks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(trucks) != before.Trucks {
		t.Errorf("%d trucks after a failed import, want %d", len(trucks), before.Trucks)
	}
	if _, err := db.TruckByNumber(ctx, "T11985LA"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("T11985LA after a failed import: got %v, want store.ErrNotFound", err)
	}

	// The store is still usable: the same batch without the bad row applies.
	in.Trucks = in.Trucks[:len(in.Trucks)-1]
	if _, err := db.ImportFleet(ctx, "test", in); err != nil {
		t.Fatalf("import without the bad row: %v", err)
	}
}

func TestParsePolygon(t *testing.T) {
	t.Parallel()
	a, b, c := store.Point{Lat: 6.1, Lon: 3.1}, store.Point{Lat: 6.2, Lon: 3.2}, store.Point{Lat: 6.1, Lon: 3.3}
	tests := []struct {
		name    string
		in      string
		want    []store.Point
		wantErr string
	}{
		{name: "ring", in: "6.1 3.1;6.2 3.2;6.1 3.3", want: []store.Point{a, b, c}},
		{name: "closed ring", in: "6.1 3.1;6.2 3.2;6.1 3.3;6.1 3.1", want: []store.Point{a, b, c}},
		{name: "commas", in: "6.1,3.1; 6.2, 3.2 ;6.1 ,3.3", want: []store.Point{a, b, c}},
		{name: "tabs and spaces", in: " 6.1\t3.1 ;6.2   3.2;\t6.1 3.3 ", want: []store.Point{a, b, c}},
		{name: "empty parts", in: ";6.1 3.1;;6.2 3.2;6.1 3.3;", want: []store.Point{a, b, c}},
		{name: "negative", in: "-6.1 -3.1;-6.2 -3.2;-6.1 -3.3", want: []store.Point{{Lat: -6.1, Lon: -3.1}, {Lat: -6.2, Lon: -3.2}, {Lat: -6.1, Lon: -3.3}}},
		{name: "empty", in: "", wantErr: "needs at least 3 distinct points, has 0"},
		{name: "two points", in: "6.1 3.1;6.2 3.2", wantErr: "needs at least 3 distinct points, has 2"},
		{name: "closed two points", in: "6.1 3.1;6.2 3.2;6.1 3.1", wantErr: "needs at least 3 distinct points, has 2"},
		{name: "repeated point", in: "6.1 3.1;6.2 3.2;6.2 3.2;6.1 3.1", wantErr: "needs at least 3 distinct points, has 2"},
		{name: "one number", in: "6.1 3.1;6.2;6.1 3.3", wantErr: `point 2 "6.2" is not "lat lon"`},
		{name: "three numbers", in: "6.1 3.1 9;6.2 3.2;6.1 3.3", wantErr: `point 1 "6.1 3.1 9" is not "lat lon"`},
		{name: "comma as point separator", in: "6.1 3.1, 6.2 3.2, 6.1 3.3", wantErr: `point 1 "6.1 3.1, 6.2 3.2, 6.1 3.3" is not "lat lon"`},
		{name: "not numbers", in: "6.1 3.1;6.2 3.2;north east", wantErr: `point 3 "north east" is not two numbers`},
		{name: "numbered with empty parts", in: ";;x y", wantErr: `point 3 "x y" is not two numbers`},
		{name: "latitude", in: "6.1 3.1;95 3.2;6.1 3.3", wantErr: "point 2: latitude 95 is outside -90..90"},
		{name: "longitude", in: "6.1 3.1;6.2 -181;6.1 3.3", wantErr: "point 2: longitude -181 is outside -180..180"},
		{name: "null island", in: "0 0;6.2 3.2;6.1 3.3", wantErr: "point 1: position 0,0 is a tracker without a fix"},
		{name: "NaN", in: "NaN 3.1;6.2 3.2;6.1 3.3", wantErr: "point 1: coordinates are not numbers"},
		{name: "Inf", in: "6.1 3.1;6.2 +Inf;6.1 3.3", wantErr: "point 2: coordinates are not numbers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := masterdata.ParsePolygon(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("ParsePolygon(%q) = %v, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("ParsePolygon(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParseFleet(f *testing.F) {
	for _, name := range tableNames {
		text, err := os.ReadFile(filepath.Join(demoDir, name+".csv"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(text))
	}
	for _, s := range []string{
		"",
		"\ufeff",
		"number\n\"unterminated\n",
		"number,number\nT1LA,T2LA\n",
		"Truck Number,company\nt-1-la,Acme\nT1LA,Acme\n",
		"code,name,kind,latitude,longitude,radius_m,polygon\nA,B,depot,NaN,Inf,100,\n",
		"code,name,kind,latitude,longitude,radius_m,polygon\nA,B,depot,6.5,3.3,,6.1 3.1;6.1 3.1;6.1 3.1;6.2 3.2\n",
		"code,name,kind,latitude,longitude,radius_m,polygon\nA,B,depot,6.5,3.3,9999999999999999999999,\n",
		"name,phone,has_smartphone,truck_number\nA,0806 146 2783,x,T1LA\nB,+2348061462783,n,T1LA\n",
		"name,kind\n\"multi\nline\",client\n,\n",
		"slack_user_id,role\nu1,admin\nU1,viewer\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, name := range tableNames {
			tbl, err := masterdata.ReadCSVTable(name, name+".csv", strings.NewReader(data))
			if err != nil {
				continue
			}
			// A sheet's reading: the good rows always check out, whatever
			// else the tab holds.
			good, bad := masterdata.ParseFleetRows(tbl)
			checkImport(t, good)
			if bad != nil && len(bad.Problems) == 0 {
				t.Fatalf("%s: a FleetError without problems", name)
			}
			for _, keys := range good.Keep {
				for _, k := range keys {
					if k == "" {
						t.Fatalf("%s: an empty key kept", name)
					}
				}
			}
			in, err := masterdata.ParseFleet(tbl)
			if err != nil {
				var fe *masterdata.FleetError
				if !errors.As(err, &fe) || len(fe.Problems) == 0 {
					t.Fatalf("%s: error %v is not a *FleetError with problems", name, err)
				}
				for _, p := range fe.Problems {
					if !strings.HasPrefix(p, name+".csv") {
						t.Fatalf("%s: problem %q does not name the file", name, p)
					}
				}
				continue
			}
			checkImport(t, in)
		}
	})
}

// checkImport asserts what ParseFleet promises of an import it returns
// without error.
func checkImport(t *testing.T, in store.FleetImport) {
	t.Helper()
	for _, r := range in.Trucks {
		n := r.Value.Number
		if n == "" {
			t.Fatalf("%s: empty truck number accepted", r.Ref)
		}
		for _, c := range n {
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				t.Fatalf("%s: truck number %q is not upper-case letters and digits", r.Ref, n)
			}
		}
	}
	for _, r := range in.Locations {
		l := r.Value
		if err := l.Center.Validate(); err != nil {
			t.Fatalf("%s: centre %v accepted: %v", r.Ref, l.Center, err)
		}
		switch {
		case len(l.Boundary) > 0:
			distinct := map[store.Point]bool{}
			for _, p := range l.Boundary {
				if err := p.Validate(); err != nil {
					t.Fatalf("%s: polygon point %v accepted: %v", r.Ref, p, err)
				}
				distinct[p] = true
			}
			if len(distinct) < 3 || len(l.Boundary) < 3 {
				t.Fatalf("%s: polygon %v has fewer than 3 distinct points", r.Ref, l.Boundary)
			}
			if l.RadiusM != 0 {
				t.Fatalf("%s: both a polygon and radius %d", r.Ref, l.RadiusM)
			}
		case l.RadiusM < 50 || l.RadiusM > 300:
			t.Fatalf("%s: circle radius %d is outside 50..300", r.Ref, l.RadiusM)
		}
	}
}

func FuzzParsePolygon(f *testing.F) {
	for _, s := range []string{
		"6.443833 3.373687;6.447888 3.365456;6.444846 3.359599;6.440148 3.361888;6.439868 3.369676",
		"6.1 3.1;6.2 3.2;6.1 3.3;6.1 3.1",
		"6.1,3.1;6.2,3.2;6.1,3.3",
		"6.1 3.1;6.2 3.2",
		";;x y",
		"NaN 3;Inf 3;-Inf 3",
		"0 0;0 0;0 0",
		"1e308 1e308;0x1p-2 3;6.1 3.3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ring, err := masterdata.ParsePolygon(s)
		if err != nil {
			if ring != nil {
				t.Fatalf("ParsePolygon(%q) returned %v with error %v", s, ring, err)
			}
			return
		}
		distinct := map[store.Point]bool{}
		for _, p := range ring {
			if err := p.Validate(); err != nil {
				t.Fatalf("ParsePolygon(%q) accepted %v: %v", s, p, err)
			}
			distinct[p] = true
		}
		if len(distinct) < 3 {
			t.Fatalf("ParsePolygon(%q) = %v: fewer than 3 distinct points", s, ring)
		}
		// The ring written back the documented way reads back as the same
		// place.
		parts := make([]string, len(ring))
		for i, p := range ring {
			parts[i] = strconv.FormatFloat(p.Lat, 'g', -1, 64) + " " + strconv.FormatFloat(p.Lon, 'g', -1, 64)
		}
		again, err := masterdata.ParsePolygon(strings.Join(parts, ";"))
		if err != nil {
			t.Fatalf("ParsePolygon(%q) = %v, which does not read back: %v", s, ring, err)
		}
		for _, p := range again {
			if !distinct[p] {
				t.Fatalf("ParsePolygon(%q) = %v, read back as %v", s, ring, again)
			}
		}
	})
}
