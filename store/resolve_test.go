package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

func demoSeeded(t *testing.T) *store.DB {
	t.Helper()
	db := storetest.New(t)
	imp, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportFleet(context.Background(), "test", imp); err != nil {
		t.Fatal(err)
	}
	return db
}

// Places as people type them, against the whole demo fleet: exact, case
// and spacing, aliases, partial names and typos resolve; what could be
// several places asks; nonsense suggests or says no.
func TestLocationByNameForgiving(t *testing.T) {
	t.Parallel()
	db := demoSeeded(t)
	const ambiguous, notFound = "?", "-"
	cases := []struct{ typed, want string }{
		{"ESSLIBRA", "ESSLIBRA"}, {"esslibra", "ESSLIBRA"}, {"ESS Libra", "ESSLIBRA"}, {"ess-libra", "ESSLIBRA"},
		{"esslibr", "ESSLIBRA"}, {"ESLIBRA", "ESSLIBRA"}, {"apapaa", "APAPA"}, {"Apapa", "APAPA"}, {"apapa port", "APAPA"},
		{"APMT Apapa", "APAPA"}, {"tin-can", "TINCAN"}, {"Tin Can", "TINCAN"}, {"tincan", "TINCAN"}, {"TICT", "TINCAN"},
		{"lekki", "LEKKI"}, {"Dangote Ibese", "DANGOTE_IBESE"}, {"ibese", "DANGOTE_IBESE"}, {"Dangote Ibesse", "DANGOTE_IBESE"},
		{"kirikiri depot", "KIRIKIRI_DEPOT"}, {"orile park", "ORILE_PARK"}, {"Flour Mills Apapa", "FMN_APAPA"},
		{"nestle agbara", "NESTLE_AGBARA"}, {"dangote sugar", "DANGOTE_SUGAR_APAPA"},
		{"dangote", ambiguous}, {"nestle", ambiguous}, {"agbara", ambiguous}, {"nigerian breweries", ambiguous},
		{"zzqx", notFound}, {"timbuktu", notFound}, {"!!!", notFound},
	}
	for _, c := range cases {
		t.Run(c.typed, func(t *testing.T) {
			loc, err := db.LocationByName(context.Background(), c.typed)
			switch c.want {
			case ambiguous:
				var amb *store.AmbiguousError
				if !errors.As(err, &amb) || len(amb.Candidates) < 2 {
					t.Errorf("got %v %v, want a did-you-mean", loc.Code, err)
				}
			case notFound:
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("got %v %v, want not found", loc.Code, err)
				}
			default:
				if err != nil || loc.Code != c.want {
					t.Errorf("got %q %v, want %s", loc.Code, err, c.want)
				}
			}
		})
	}
}

func TestTruckByNumberSuggests(t *testing.T) {
	t.Parallel()
	db := demoSeeded(t)
	for _, typed := range []string{"T-11985-LA", "t11985 la", "11985", " T11985LA "} {
		if tr, err := db.TruckByNumber(context.Background(), typed); err != nil || tr.Number != "T11985LA" {
			t.Errorf("%q: %v %v", typed, tr.Number, err)
		}
	}
	_, err := db.TruckByNumber(context.Background(), "T11958LA")
	var nf *store.NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "did you mean T11985LA") {
		t.Errorf("typo: %v", err)
	}
}
