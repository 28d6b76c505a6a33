package notify_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/notify"
	"github.com/watchtower-fleet/watchtower/store"
)

// entry is what go-redis hands a reader: the fields as strings.
func entry(vals []any) map[string]any {
	m := make(map[string]any, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		m[vals[i].(string)] = fmt.Sprint(vals[i+1])
	}
	return m
}

func TestNotificationRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 21, 5, 0, 0, time.UTC)
	for _, n := range []notify.Notification{
		notify.AlertOf(store.Alert{ID: 42, Kind: "overspeed", Severity: "critical", TruckNumber: "T11985LA", LocationCode: "ESSLIBRA", StartedAt: at}),
		notify.TripOf(store.TripEvent{TripVPCID: "08/Dec/2026-T11985LA-DA01", Kind: "delay_started", TruckNumber: "T11985LA", At: at,
			Details: map[string]any{"place": "ESSLIBRA", "reason": "not left pickup"}}),
		{Type: notify.TypeNotice, Kind: "sync", Text: "2 trucks changed\nrow 4: bad", At: at},
	} {
		got, err := notify.Decode(entry(n.Values()))
		if err != nil {
			t.Fatalf("%s: %v", n.Type, err)
		}
		if !reflect.DeepEqual(got, n) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", n.Type, got, n)
		}
	}
}

// TestAlertWireFormat pins an alert's entry as readers before the typed
// notification wrote and read it: no type field.
func TestAlertWireFormat(t *testing.T) {
	t.Parallel()
	n := notify.AlertOf(store.Alert{ID: 7, Kind: "idle", Severity: "warning", TruckNumber: "T1LA", StartedAt: time.Unix(1765141500, 0)})
	want := []any{"alert_id", "7", "kind", "idle", "severity", "warning", "truck", "T1LA", "location", "", "started_at", "2025-12-07T21:05:00Z"}
	if got := n.Values(); !reflect.DeepEqual(got, want) {
		t.Errorf("values = %v, want %v", got, want)
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	for _, v := range []map[string]any{
		{},
		{"alert_id": "x", "kind": "idle"},
		{"alert_id": "-3"},
		{"alert_id": "3", "started_at": "yesterday"},
		{"type": "trip", "kind": "arrived_pickup"},
		{"type": "weather"},
	} {
		if n, err := notify.Decode(v); !errors.Is(err, notify.ErrMalformed) {
			t.Errorf("Decode(%v) = %+v, %v; want ErrMalformed", v, n, err)
		}
	}
}

// FuzzDecode: any entry decodes to a notification that writes back to an
// entry decoding to the same, or to ErrMalformed.
func FuzzDecode(f *testing.F) {
	f.Add("", "3", "overspeed", "T1LA", "2026-12-07T21:05:00Z", "", "")
	f.Add("trip", "", "arrived_pickup", "T1LA", "2026-12-07T21:05:00+01:00", "08/Dec/2026-T1LA-DA01", "")
	f.Add("notice", "", "sync", "", "", "", "row 3: bad")
	f.Add("alert", "9223372036854775807", "", "", "not a time", "", "")
	f.Fuzz(func(t *testing.T, typ, id, kind, truck, at, trip, text string) {
		v := map[string]any{"type": typ, "alert_id": id, "kind": kind, "truck": truck, "started_at": at, "trip": trip, "text": text}
		n, err := notify.Decode(v)
		if err != nil {
			if !errors.Is(err, notify.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := notify.Decode(entry(n.Values()))
		if err != nil {
			t.Fatalf("%+v written back does not decode: %v", n, err)
		}
		n.At, again.At = n.At.Truncate(time.Second), again.At.Truncate(time.Second)
		if !n.At.Equal(again.At) {
			t.Fatalf("time %v came back as %v", n.At, again.At)
		}
		n.At, again.At = time.Time{}, time.Time{}
		if !reflect.DeepEqual(n, again) {
			t.Fatalf("%+v came back as %+v", n, again)
		}
	})
}
