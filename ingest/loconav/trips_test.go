package loconav_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/ingest/loconav"
	"github.com/watchtower-fleet/watchtower/ingest/loconav/loconavtest"
)

func client(f *loconavtest.Server, token string) *loconav.Client {
	c := loconav.NewClient(f.URL(), token, f.Client(), nil)
	c.Sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return c
}

var req = loconav.TripRequest{VehicleNumber: "T-11985-LA", UniqueID: "05/Dec/2026-T11985LA-DA01", ShouldStartAt: time.Unix(1764910800, 0),
	Source:      loconav.TripPlace{Name: "ESS Libra", Lat: 6.464, Lon: 3.348, Address: "Ijora"},
	Destination: loconav.TripPlace{Name: "Dangote Ibese", GeofenceID: 5010}}

func TestCreateTripWireFormat(t *testing.T) {
	f := loconavtest.NewServer(t)
	c := client(f, loconavtest.Token)
	ref, err := c.CreateTrip(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	trips := f.Trips()
	if len(trips) != 1 || trips[0].ID != ref.ID {
		t.Fatalf("fake holds %+v, client got %+v", trips, ref)
	}
	b := trips[0].Body
	if b["shouldStartAt"] != 1764910800.0 || b["vehicle"].(map[string]any)["number"] != "T-11985-LA" {
		t.Errorf("body %v", b)
	}
	if b["source"].(map[string]any)["coordinates"] != "6.464000,3.348000" || b["destination"].(map[string]any)["geofenceId"] != 5010.0 {
		t.Errorf("places %v / %v", b["source"], b["destination"])
	}
	url, err := c.TrackURL(t.Context(), ref.ID)
	if err != nil || !strings.HasPrefix(url, "https://") {
		t.Errorf("track url %q, %v", url, err)
	}
	// Creating again returns the same trip: uniqueId is the key.
	again, err := c.CreateTrip(t.Context(), req)
	if err != nil || again.ID != ref.ID || len(f.Trips()) != 1 {
		t.Errorf("second create: %+v %v, %d trips", again, err, len(f.Trips()))
	}
	if err := c.DeleteTrip(t.Context(), ref.ID); err != nil {
		t.Fatal(err)
	}
	if f.Trips()[0].Status != "trashed" {
		t.Errorf("after delete: %+v", f.Trips()[0])
	}
}

// A POST that LocoNav applied but answered with a 502 is not repeated into
// a second trip: the retry finds it by uniqueId.
func TestCreateTripNeverTwice(t *testing.T) {
	f := loconavtest.NewServer(t)
	f.Fail(loconavtest.Fault{Method: http.MethodPost, Path: "/trips", N: 1, Status: http.StatusBadGateway, AfterApply: true})
	ref, err := client(f, loconavtest.Token).CreateTrip(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if trips := f.Trips(); len(trips) != 1 || trips[0].ID != ref.ID {
		t.Errorf("trips %+v, ref %+v", trips, ref)
	}
}

func TestCreateTripFailures(t *testing.T) {
	t.Run("5xx before applying is retried", func(t *testing.T) {
		f := loconavtest.NewServer(t)
		f.Fail(loconavtest.Fault{Method: http.MethodPost, Path: "/trips", N: 2, Status: http.StatusServiceUnavailable})
		if _, err := client(f, loconavtest.Token).CreateTrip(t.Context(), req); err != nil || len(f.Trips()) != 1 {
			t.Errorf("err %v, %d trips", err, len(f.Trips()))
		}
	})
	t.Run("down for good", func(t *testing.T) {
		f := loconavtest.NewServer(t)
		f.Fail(loconavtest.Fault{Method: http.MethodPost, Path: "/trips", N: 100, Status: http.StatusServiceUnavailable})
		_, err := client(f, loconavtest.Token).CreateTrip(t.Context(), req)
		var le *loconav.Error
		if !errors.As(err, &le) || le.Status != http.StatusServiceUnavailable || len(f.Trips()) != 0 {
			t.Errorf("err %v, %d trips", err, len(f.Trips()))
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		f := loconavtest.NewServer(t)
		_, err := client(f, "s3cret-wrong").CreateTrip(t.Context(), req)
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("refused request is not retried", func(t *testing.T) {
		f := loconavtest.NewServer(t)
		f.Fail(loconavtest.Fault{Method: http.MethodPost, Path: "/trips", N: 1, Status: http.StatusUnprocessableEntity})
		if _, err := client(f, loconavtest.Token).CreateTrip(t.Context(), req); err == nil {
			t.Error("accepted")
		}
		posts := 0
		for _, c := range f.Calls() {
			if c == "POST /trips" {
				posts++
			}
		}
		if posts != 1 {
			t.Errorf("%d POSTs", posts)
		}
	})
}
