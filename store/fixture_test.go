package store_test

import (
	"context"
	"math"
	"testing"

	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// Demo geography, copied from testdata/fleet/locations.csv so that the
// expected answers below can be worked out by hand.
var (
	apapaRing = []store.Point{
		{Lat: 6.443833, Lon: 3.373687}, {Lat: 6.447888, Lon: 3.365456}, {Lat: 6.444846, Lon: 3.359599},
		{Lat: 6.440148, Lon: 3.361888}, {Lat: 6.439868, Lon: 3.369676},
	}
	apapaZoneRing = []store.Point{
		{Lat: 6.457016, Lon: 3.387532}, {Lat: 6.466490, Lon: 3.371677}, {Lat: 6.468355, Lon: 3.349676},
		{Lat: 6.454926, Lon: 3.330854}, {Lat: 6.442024, Lon: 3.332386}, {Lat: 6.429577, Lon: 3.348839},
		{Lat: 6.432153, Lon: 3.372018}, {Lat: 6.437484, Lon: 3.384043},
	}
	ibeseRing = []store.Point{
		{Lat: 6.971635, Lon: 3.041588}, {Lat: 6.976821, Lon: 3.036264}, {Lat: 6.975681, Lon: 3.027094},
		{Lat: 6.967184, Lon: 3.025433}, {Lat: 6.962781, Lon: 3.030496}, {Lat: 6.964338, Lon: 3.037308},
	}
	fmnCenter          = store.Point{Lat: 6.453000, Lon: 3.378000} // circle, 250 m
	dangoteSugarCenter = store.Point{Lat: 6.438000, Lon: 3.381000} // circle, 200 m
)

func row[T any](v T) store.Row[T] { return store.Row[T]{Ref: "fixture", Value: v} }

// demoFleet is a small slice of the demo fleet: Apapa and the zone around
// it, two client sites as circles, Ibese far away, and a few trucks.
func demoFleet() store.FleetImport {
	return store.FleetImport{
		Organizations: []store.Row[store.Organization]{
			row(store.Organization{Name: "Watch Tower Haulage Ltd", Kind: store.OrgTransporter}),
			row(store.Organization{Name: "Flour Mills of Nigeria", Kind: store.OrgClient}),
			row(store.Organization{Name: "Dangote Sugar Refinery", Kind: store.OrgClient}),
			row(store.Organization{Name: "Dangote Cement Ibese", Kind: store.OrgClient}),
		},
		Locations: []store.Row[store.Location]{
			row(store.Location{Code: "APAPA", Name: "APM Terminals Apapa", Kind: store.LocationTerminal,
				Center: store.Point{Lat: 6.4435, Lon: 3.3665}, Boundary: apapaRing, Aliases: []string{"Apapa Port", "APMT Apapa"}}),
			row(store.Location{Code: "APAPA_ZONE", Name: "Apapa Port Zone", Kind: store.LocationServiceArea,
				Center: store.Point{Lat: 6.448, Lon: 3.36}, Boundary: apapaZoneRing, LocoNavPolygonID: 5007, Aliases: []string{"Apapa area"}}),
			row(store.Location{Code: "FMN_APAPA", Name: "Flour Mills of Nigeria Apapa", Kind: store.LocationClient,
				Organization: "Flour Mills of Nigeria", Center: fmnCenter, RadiusM: 250, Aliases: []string{"Golden Penny Apapa"}}),
			row(store.Location{Code: "DANGOTE_SUGAR_APAPA", Name: "Dangote Sugar Refinery Apapa", Kind: store.LocationClient,
				Organization: "Dangote Sugar Refinery", Center: dangoteSugarCenter, RadiusM: 200, LocoNavPolygonID: 5011}),
			row(store.Location{Code: "DANGOTE_IBESE", Name: "Dangote Cement Ibese Plant", Kind: store.LocationClient,
				Organization: "Dangote Cement Ibese", Center: store.Point{Lat: 6.97, Lon: 3.033}, Boundary: ibeseRing, LocoNavPolygonID: 5010}),
		},
		Trucks: []store.Row[store.Truck]{
			row(store.Truck{Number: "T11985LA", LocoNavUUID: "96371d6a-93a3-46e6-a663-3b59d53bb2fc", LocoNavNumber: "T-11985-LA",
				Company: "Watch Tower Haulage Ltd", Status: store.TruckActive, TrailerSize: "40ft", OperatingLocation: "APAPA"}),
			row(store.Truck{Number: "T20417LA", Company: "Watch Tower Haulage Ltd"}),
			row(store.Truck{Number: "T20417LG", Company: "Watch Tower Haulage Ltd"}),
			row(store.Truck{Number: "T30001LA", Status: store.TruckMaintenance}),
		},
		Drivers: []store.Row[store.Driver]{
			row(store.Driver{Name: "Kayode Oyewole", Phone: "0806 146 2783", HasSmartphone: true, TruckNumber: "t-11985-la"}),
		},
		Users: []store.Row[store.User]{row(store.User{SlackUserID: "U04ABCD1234", DisplayName: "Ada", Role: store.RoleDispatcher})},
	}
}

// seeded returns a store (in a rolled-back transaction) holding demoFleet.
func seeded(t *testing.T) *store.DB {
	t.Helper()
	db := storetest.New(t)
	if _, err := db.ImportFleet(context.Background(), "test", demoFleet()); err != nil {
		t.Fatalf("import demo fleet: %v", err)
	}
	return db
}

// offset moves p by metres along a bearing (degrees from north) on the WGS84
// ellipsoid, using the local radii of curvature: exact to millimetres over
// the few hundred metres these tests move.
func offset(p store.Point, bearingDeg, metres float64) store.Point {
	const a, f = 6378137.0, 1 / 298.257223563
	e2 := f * (2 - f)
	phi := p.Lat * math.Pi / 180
	s := 1 - e2*math.Sin(phi)*math.Sin(phi)
	m := a * (1 - e2) / math.Pow(s, 1.5) // meridian radius
	n := a / math.Sqrt(s)                // prime-vertical radius
	b := bearingDeg * math.Pi / 180
	return store.Point{
		Lat: p.Lat + metres*math.Cos(b)/m*180/math.Pi,
		Lon: p.Lon + metres*math.Sin(b)/(n*math.Cos(phi))*180/math.Pi,
	}
}

// bearing is the initial bearing from p to q in the same local frame.
func bearing(p, q store.Point) float64 {
	const a, f = 6378137.0, 1 / 298.257223563
	e2 := f * (2 - f)
	phi := p.Lat * math.Pi / 180
	s := 1 - e2*math.Sin(phi)*math.Sin(phi)
	m := a * (1 - e2) / math.Pow(s, 1.5)
	n := a / math.Sqrt(s)
	north := (q.Lat - p.Lat) * math.Pi / 180 * m
	east := (q.Lon - p.Lon) * math.Pi / 180 * n * math.Cos(phi)
	return math.Atan2(east, north) * 180 / math.Pi
}
