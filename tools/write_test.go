package tools_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
	"github.com/watchtower-fleet/watchtower/tools"
)

const newTripArgs = `{"truck":"t-11985-la","pickup":"esslibr","delivery":"Dangote Ibese","scheduled_departure":"tomorrow 6am","client":"Dangote Cement Ibese","container_no":"MSCU1234567","cargo_type":"40ft dry","driver":null}`

func (e *env) tripCount(t *testing.T) int {
	t.Helper()
	_, total, err := e.db.Trips(context.Background(), store.TripFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// A write tool never writes: it leaves a pending action, and only a
// confirmation runs it, once.
func TestCreateTripWaitsForConfirm(t *testing.T) {
	e := newEnv(t)
	out := e.invoke(t, dispatcher, "create_trip", newTripArgs)
	p := out.Pending
	if p == nil {
		t.Fatalf("no pending action: %s", out.ModelOutput())
	}
	if n := e.tripCount(t); n != 0 {
		t.Fatalf("%d trips exist before confirmation", n)
	}
	d := data(t, out)
	if d["status"] != "awaiting_confirmation" || !strings.Contains(d["note"].(string), "Nothing has been done") {
		t.Errorf("model told %v", d)
	}
	want := "Create a trip for T11985LA (driver Kayode Oyewole) from ESS Libra Off-Dock Terminal to Dangote Cement Ibese Plant, leaving Sat 5 Dec 06:00, for Dangote Cement Ibese, container MSCU1234567"
	if p.Summary != want {
		t.Errorf("summary\n got %q\nwant %q", p.Summary, want)
	}
	if got := p.ExpiresAt.Sub(p.CreatedAt); got != 15*time.Minute {
		t.Errorf("expires after %v", got)
	}
	if b := out.Result.View.Buttons; len(b) != 2 || b[0].Action != tools.ActionConfirm || b[0].Value != p.ID {
		t.Errorf("buttons %+v", b)
	}

	// Someone else without admin rights cannot confirm it.
	if res := e.reg.Confirm(t.Context(), dispatch2, p.ID); res.Err == nil {
		t.Fatalf("another dispatcher confirmed: %v", res.ModelOutput())
	}
	if n := e.tripCount(t); n != 0 {
		t.Fatalf("%d trips after a refused confirmation", n)
	}

	res := e.reg.Confirm(t.Context(), dispatcher, p.ID)
	if res.Err != nil {
		t.Fatalf("confirm: %v", res.Err)
	}
	d = data(t, res)
	if ok, _ := regexp.MatchString(`^05/Dec/2026-T11985LA-[A-Z]{2}\d{2}$`, d["trip_id"].(string)); !ok {
		t.Errorf("trip id %v", d["trip_id"])
	}
	if d["driver"] != "Kayode Oyewole" || d["pickup"] != "ESSLIBRA" || d["delivery"] != "DANGOTE_IBESE" || d["container_no"] != "MSCU1234567" {
		t.Errorf("trip %v", d)
	}
	if n := e.tripCount(t); n != 1 {
		t.Fatalf("%d trips after confirmation", n)
	}

	again := e.reg.Confirm(t.Context(), dispatcher, p.ID)
	if !errors.Is(again.Err, tools.ErrActionGone) || !strings.Contains(again.Message(), "already confirmed by Oluwaseun Adekunle") {
		t.Errorf("second confirmation: %v", again.Message())
	}
	if n := e.tripCount(t); n != 1 {
		t.Fatalf("%d trips after a second confirmation", n)
	}
	got := e.events(t, dispatcher.CorrelationID)
	wantEvents := []string{"action.proposed tool:create_trip", "action.confirmed tool:create_trip", "trip.created trip:" + d["trip_id"].(string), "action.done tool:create_trip",
		"action.refused tool:create_trip"} // the second press
	if strings.Join(got, "\n") != strings.Join(wantEvents, "\n") {
		t.Errorf("audit for the request\n got %q\nwant %q", got, wantEvents)
	}
	refused := e.events(t, dispatch2.CorrelationID)
	if len(refused) != 1 || refused[0] != "action.refused tool:create_trip" {
		t.Errorf("audit of the refused confirmation: %q", refused)
	}
}

// A viewer may ask, but only an admin can confirm what a viewer asked.
func TestRolesOnConfirm(t *testing.T) {
	e := newEnv(t)
	p := e.invoke(t, viewer, "create_trip", newTripArgs).Pending
	if p == nil {
		t.Fatal("no pending action")
	}
	if !strings.Contains(p.Result().View.Footer, "Only an admin") {
		t.Errorf("footer %q", p.Result().View.Footer)
	}
	if res := e.reg.Confirm(t.Context(), viewer, p.ID); res.Err == nil || !strings.Contains(res.Message(), "admin") {
		t.Fatalf("viewer confirmed own write: %v", res.Message())
	}
	if res := e.reg.Confirm(t.Context(), dispatcher, p.ID); res.Err == nil {
		t.Fatalf("a dispatcher confirmed a viewer's request")
	}
	if res := e.reg.Confirm(t.Context(), admin, p.ID); res.Err != nil {
		t.Fatalf("admin: %v", res.Err)
	}
	if n := e.tripCount(t); n != 1 {
		t.Fatalf("%d trips", n)
	}
	// A viewer cannot run read tools they lack... all read tools are
	// viewer tools; an unknown role gets nothing.
	out := e.reg.Invoke(t.Context(), tools.Caller{ID: "U123", Role: ""}, "truck_location", []byte(`{"truck":"T11985LA"}`))
	var pe *tools.PermissionError
	if !errors.As(out.Err, &pe) {
		t.Errorf("no role: %v", out.Err)
	}
}

func TestActionExpires(t *testing.T) {
	e := newEnv(t)
	p := e.invoke(t, dispatcher, "create_trip", newTripArgs).Pending
	*e.clock = e.now.Add(15*time.Minute + time.Second)
	res := e.reg.Confirm(t.Context(), dispatcher, p.ID)
	if !errors.Is(res.Err, tools.ErrActionGone) || !strings.Contains(res.Message(), "expired") {
		t.Fatalf("late confirmation: %v", res.Message())
	}
	if n := e.tripCount(t); n != 0 {
		t.Fatalf("%d trips", n)
	}
	got := e.events(t, dispatcher.CorrelationID)
	if len(got) != 2 || got[1] != "action.expired tool:create_trip" {
		t.Errorf("audit %q", got)
	}
}

func TestExpireActionsSweeps(t *testing.T) {
	e := newEnv(t)
	p := e.invoke(t, dispatcher, "create_trip", newTripArgs).Pending
	if n, err := e.reg.ExpireActions(t.Context()); err != nil || n != 0 {
		t.Fatalf("expired %d before time (%v)", n, err)
	}
	*e.clock = e.now.Add(16 * time.Minute)
	if n, err := e.reg.ExpireActions(t.Context()); err != nil || n != 1 {
		t.Fatalf("expired %d, want 1 (%v)", n, err)
	}
	if n, _ := e.reg.ExpireActions(t.Context()); n != 0 {
		t.Fatalf("expired again: %d", n)
	}
	got := e.events(t, dispatcher.CorrelationID)
	if len(got) != 2 || got[1] != "action.expired tool:create_trip" {
		t.Errorf("audit %q", got)
	}
	if res := e.reg.Confirm(t.Context(), admin, p.ID); !strings.Contains(res.Message(), "expired") {
		t.Errorf("confirm after sweep: %v", res.Message())
	}
}

func TestDismiss(t *testing.T) {
	e := newEnv(t)
	p := e.invoke(t, dispatcher, "create_trip", newTripArgs).Pending
	if res := e.reg.Dismiss(t.Context(), viewer, p.ID); res.Err == nil {
		t.Fatal("a stranger cancelled the request")
	}
	if res := e.reg.Dismiss(t.Context(), dispatcher, p.ID); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := e.reg.Confirm(t.Context(), admin, p.ID); !strings.Contains(res.Message(), "cancelled") {
		t.Errorf("confirm after cancel: %v", res.Message())
	}
	if n := e.tripCount(t); n != 0 {
		t.Fatalf("%d trips", n)
	}
}

// Many presses of Confirm at once, on any replica, run the action once.
func TestConfirmConcurrentlyRunsOnce(t *testing.T) {
	_, db := storetest.NewMigrated(t)
	seedDemo(t, db)
	rdb := testenv.Redis(t)
	prefix := testPrefix(t, rdb)
	now := testNow
	replica := func() *tools.Registry {
		return tools.New(tools.Deps{DB: db, Actions: tools.NewActions(rdb, prefix), Now: func() time.Time { return now }, Zone: lagos, Logger: logger(t)})
	}
	out := replica().Invoke(t.Context(), dispatcher, "create_trip", []byte(newTripArgs))
	if out.Pending == nil {
		t.Fatal(out.Err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := replica().Confirm(context.Background(), admin, out.Pending.ID); res.Err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	_, total, err := db.Trips(t.Context(), store.TripFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || total != 1 {
		t.Errorf("%d confirmations ran, %d trips; want 1 and 1", ok, total)
	}
}

// The rules create_trip checks, each refused before anyone is asked to
// confirm, with a sentence that says why.
func TestCreateTripRules(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, args, want string
	}{
		{"inactive truck", `{"truck":"T76738LA","pickup":"APAPA","delivery":"ESSLIBRA","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":null}`, "inactive"},
		{"in maintenance", `{"truck":"T36792LA","pickup":"APAPA","delivery":"ESSLIBRA","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":null}`, "maintenance"},
		{"past", `{"truck":"T11985LA","pickup":"APAPA","delivery":"ESSLIBRA","scheduled_departure":"2026-12-03T06:00","client":null,"container_no":null,"cargo_type":null,"driver":null}`, "in the past"},
		{"same place", `{"truck":"T11985LA","pickup":"APAPA","delivery":"apapa port","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":null}`, "same place"},
		{"unknown place", `{"truck":"T11985LA","pickup":"APAPA","delivery":"Timbuktu","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":null}`, "Timbuktu"},
		{"bad time", `{"truck":"T11985LA","pickup":"APAPA","delivery":"ESSLIBRA","scheduled_departure":"whenever","client":null,"container_no":null,"cargo_type":null,"driver":null}`, "scheduled_departure"},
		{"unknown truck", `{"truck":"T99999XX","pickup":"APAPA","delivery":"ESSLIBRA","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":null}`, "T99999XX"},
		{"unknown driver", `{"truck":"T11985LA","pickup":"APAPA","delivery":"ESSLIBRA","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":"Nobody Atall"}`, "Nobody"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := e.reg.Invoke(t.Context(), dispatcher, "create_trip", []byte(c.args))
			if out.Err == nil {
				t.Fatalf("accepted: %s", out.ModelOutput())
			}
			if !strings.Contains(out.Message(), c.want) {
				t.Errorf("message %q lacks %q", out.Message(), c.want)
			}
			if strings.Contains(out.Message(), "ref E") {
				t.Errorf("an expected refusal reads as a fault: %q", out.Message())
			}
		})
	}
	t.Run("overlap", func(t *testing.T) {
		p := e.invoke(t, dispatcher, "create_trip", newTripArgs).Pending
		if res := e.reg.Confirm(t.Context(), dispatcher, p.ID); res.Err != nil {
			t.Fatal(res.Err)
		}
		args := strings.Replace(newTripArgs, "tomorrow 6am", "tomorrow 2pm", 1)
		out := e.reg.Invoke(t.Context(), dispatcher, "create_trip", []byte(args))
		if out.Err == nil || !strings.Contains(out.Message(), "already has trip") {
			t.Errorf("overlapping trip: %v", out.Message())
		}
		// Two days later is fine.
		args = strings.Replace(newTripArgs, "tomorrow 6am", "2026-12-07T06:00", 1)
		if out := e.reg.Invoke(t.Context(), dispatcher, "create_trip", []byte(args)); out.Err != nil {
			t.Errorf("a later trip: %v", out.Message())
		}
	})
}

func TestTripStatusAndCancel(t *testing.T) {
	e := newEnv(t)
	p := e.invoke(t, dispatcher, "create_trip", newTripArgs).Pending
	res := e.reg.Confirm(t.Context(), dispatcher, p.ID)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	id := data(t, res)["trip_id"].(string)

	d := data(t, e.invoke(t, viewer, "trip_status", `{"trip":"`+id+`","truck":null}`))
	if d["status"] != "planned" || d["truck"] != "T11985LA" {
		t.Errorf("trip_status %v", d)
	}
	d = data(t, e.invoke(t, viewer, "trip_status", `{"trip":null,"truck":"11985"}`))
	if d["trip_id"] != id {
		t.Errorf("by truck: %v", d)
	}
	d = data(t, e.invoke(t, viewer, "list_trips", `{"status":"planned","truck":null,"day":"tomorrow","limit":null}`))
	if d["total"] != 1.0 {
		t.Errorf("list_trips %v", d)
	}

	// An illegal move is explained before anyone is asked to confirm it.
	out := e.reg.Invoke(t.Context(), dispatcher, "update_trip_status", []byte(`{"trip":"`+id+`","status":"completed","reason":null}`))
	if out.Err == nil || !strings.Contains(out.Message(), "can become") {
		t.Errorf("planned → completed: %v", out.Message())
	}
	p = e.invoke(t, dispatcher, "update_trip_status", `{"trip":"`+strings.ToLower(id)+`","status":"ongoing","reason":"left early"}`).Pending
	if res := e.reg.Confirm(t.Context(), dispatcher, p.ID); res.Err != nil {
		t.Fatal(res.Err)
	} else if d := data(t, res); d["status"] != "ongoing" {
		t.Errorf("after update: %v", d)
	}

	p = e.invoke(t, dispatcher, "cancel_trip", `{"trip":"`+id+`","reason":"client postponed"}`).Pending
	if res := e.reg.Confirm(t.Context(), dispatcher, p.ID); res.Err != nil {
		t.Fatal(res.Err)
	}
	out = e.reg.Invoke(t.Context(), dispatcher, "cancel_trip", []byte(`{"trip":"`+id+`","reason":"again"}`))
	if out.Err == nil || !strings.Contains(out.Message(), "final") {
		t.Errorf("cancelling a cancelled trip: %v", out.Message())
	}
}

func TestListDelays(t *testing.T) {
	e := newEnv(t)
	// A trip due to leave at 06:00 today that has not left by 09:15 is late.
	*e.clock = testNow.Add(-4 * time.Hour)
	p := e.invoke(t, dispatcher, "create_trip", strings.Replace(newTripArgs, "tomorrow 6am", "today 6am", 1)).Pending
	if res := e.reg.Confirm(t.Context(), dispatcher, p.ID); res.Err != nil {
		t.Fatal(res.Err)
	}
	*e.clock = testNow
	d := data(t, e.invoke(t, viewer, "list_delays", `{}`))
	if d["total"] != 1.0 {
		t.Fatalf("delays %v", d)
	}
	if late := d["trips"].([]any)[0].(map[string]any)["minutes_late"]; late != 195.0 {
		t.Errorf("minutes late %v, want 195", late)
	}
}
