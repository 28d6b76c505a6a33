package loconav

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzTripAnswers feeds the parsers of LocoNav's trip answers (the data of
// GET /trips, POST /trips and track_url) whatever LocoNav might send.
func FuzzTripAnswers(f *testing.F) {
	for _, s := range []string{
		`{"values":[{"id":9001,"vehicleNumber":"T-11985-LA","vehicleId":7,"uniqueId":"05/Dec/2026-T11985LA-DA01","shouldStartTs":1764910800,"createdAt":1764900000,"state":"ongoing"}],"pagination":{"page":1,"perPage":10,"count":1,"more":false}}`,
		`{"values":[{"id":"17","uniqueId":42,"status":"Ongoing","vehicle":{"number":"T1LA"},"shouldStartAt":"2026-12-05T07:00:00+01:00","createdAt":1764910800000}],"pagination":{"totalCount":31,"perPage":10}}`,
		`{"values":[null,1,"x",{"id":1e400},{"id":-1},{"id":9223372036854775808},{"id":"0x10"}]}`,
		`{"id":9001,"uniqueId":"u"}`,
		`{"url":"https://track.loconav.com/t/abc","tripTrackToken":"abc"}`,
		`{"url":"//evil.example/x"}`,
		`{"values":[{"id":1,"shouldStartTs":"NaN","createdAt":"-Inf"}]}`,
		`null`, `[]`, `{}`, `"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := parseTripPage(data, 2, 10); err == nil {
			if len(p.trips)+len(p.rejected) != p.n {
				t.Fatalf("%d trips and %d rejected of %d values", len(p.trips), len(p.rejected), p.n)
			}
			for _, tr := range p.trips {
				checkTrip(t, tr)
			}
		}
		if tr, err := parseTrip(data); err == nil {
			checkTrip(t, tr)
		}
		if ref, err := parseTripRef(data); err == nil && ref.ID <= 0 {
			t.Fatalf("ref %+v", ref)
		}
		if s, err := parseTrackURL(data); err == nil {
			u, perr := url.Parse(s)
			if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				t.Fatalf("link %q", s)
			}
		}
	})
}

func checkTrip(t *testing.T, tr TripState) {
	t.Helper()
	if tr.ID <= 0 || tr.Status != strings.ToLower(strings.TrimSpace(tr.Status)) {
		t.Fatalf("trip %+v", tr)
	}
	for _, tm := range []struct{ y int }{{tr.ShouldStartAt.Year()}, {tr.CreatedAt.Year()}} {
		if tm.y != 1 && (tm.y < 1970 || tm.y > 5138) {
			t.Fatalf("time in %d: %+v", tm.y, tr)
		}
	}
}
