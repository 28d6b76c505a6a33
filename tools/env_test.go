package tools_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/internal/testenv"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
	"github.com/watchtower-fleet/watchtower/tools"
)

var lagos = func() *time.Location {
	z, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		panic(err)
	}
	return z
}()

// testNow is the fixed moment the tests live in: Friday 4 December 2026,
// 09:15 in Lagos.
var testNow = time.Date(2026, 12, 4, 9, 15, 0, 0, lagos)

// Callers from testdata/fleet/users.csv.
var (
	viewer     = tools.Caller{ID: "UWOL0LU0JUZ", Name: "Chinedu Okafor", Role: tools.RoleViewer, CorrelationID: "corr-viewer"}
	dispatcher = tools.Caller{ID: "UR9E0S7PEVF", Name: "Oluwaseun Adekunle", Role: tools.RoleDispatcher, CorrelationID: "corr-disp"}
	dispatch2  = tools.Caller{ID: "U7LZEIM7CI8", Name: "Abubakar Garba", Role: tools.RoleDispatcher, CorrelationID: "corr-disp2"}
	admin      = tools.Caller{ID: "UGEAY6BANS4", Name: "Adebayo Ogunleye", Role: tools.RoleAdmin, CorrelationID: "corr-admin"}
)

// env is the demo fleet in a rolled-back transaction of real Postgres, a
// real Redis under a key prefix of its own, and a registry on a clock the
// test moves.
type env struct {
	db    *store.DB
	rdb   *redis.Client
	reg   *tools.Registry
	now   time.Time
	clock *time.Time
	deps  tools.Deps
}

var logger = testenv.DebugLogger

// testPrefix is a Redis key prefix no other test uses; its keys are
// deleted when the test ends.
func testPrefix(t testing.TB, rdb *redis.Client) string {
	p := fmt.Sprintf("wt_test:%d:%08x:", os.Getpid(), rand.Uint32())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, p+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return p
}

func seedDemo(t testing.TB, db *store.DB) {
	t.Helper()
	imp, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportFleet(context.Background(), "test", imp); err != nil {
		t.Fatal(err)
	}
}

// newEnv is the demo fleet with a few trucks placed:
//   - T11985LA parked inside ESSLIBRA for the last 30 minutes;
//   - T63530LA driving north at 45 km/h on the expressway, 2 minutes ago;
//   - the first truck of the file after those, silent for 3 hours near Apapa.
func newEnv(t *testing.T, mutate ...func(*tools.Deps)) *env {
	t.Helper()
	db := storetest.New(t)
	seedDemo(t, db)
	e := &env{db: db, rdb: testenv.Redis(t), now: testNow}
	e.clock = &e.now
	e.deps = tools.Deps{
		DB: db, Actions: tools.NewActions(e.rdb, testPrefix(t, e.rdb)),
		Now: func() time.Time { return *e.clock }, Zone: lagos, Logger: logger(t),
	}
	for _, m := range mutate {
		m(&e.deps)
	}
	e.reg = tools.New(e.deps)
	var in []store.FixInput
	ign, stopped, moving := true, 0.0, 45.0
	for m := 30; m >= 1; m-- {
		in = append(in, fix("T11985LA", 6.4641, 3.3481, testNow.Add(-time.Duration(m)*time.Minute), &stopped, &ign))
	}
	for m := 10; m >= 2; m-- {
		in = append(in, fix("T63530LA", 6.50+float64(10-m)*0.003, 3.36, testNow.Add(-time.Duration(m)*time.Minute), &moving, &ign))
	}
	in = append(in, fix(silentTruck, 6.4500, 3.3700, testNow.Add(-3*time.Hour), &stopped, &ign))
	if _, err := db.RecordFixes(context.Background(), in, store.DefaultRules()); err != nil {
		t.Fatal(err)
	}
	return e
}

// silentTruck is an active truck of the demo fleet whose tracker newEnv
// leaves silent for 3 hours.
const silentTruck = "T76510LA"

func fix(truck string, lat, lon float64, at time.Time, speed *float64, ign *bool) store.FixInput {
	return store.FixInput{TruckNumber: truck, VehicleNumber: truck, Source: "test", ReceivedAt: at,
		Fix: store.Fix{Point: store.Point{Lat: lat, Lon: lon}, At: at, SpeedKmh: speed, Ignition: ign}}
}

// invoke runs a tool with JSON arguments and fails the test on an error.
func (e *env) invoke(t *testing.T, c tools.Caller, tool, args string) tools.Outcome {
	t.Helper()
	out := e.reg.Invoke(context.Background(), c, tool, []byte(args))
	if out.Err != nil {
		t.Fatalf("%s(%s): %v", tool, args, out.Err)
	}
	return out
}

// events returns the audit log's actions for a correlation id, in order.
func (e *env) events(t *testing.T, corr string) []string {
	t.Helper()
	evs, err := e.db.EventsByCorrelation(context.Background(), corr)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action+" "+ev.Subject)
	}
	return out
}

// tripIDs lists the fleet's trip ids, newest departure first.
func (e *env) tripIDs(t *testing.T) []string {
	t.Helper()
	trips, _, err := e.db.Trips(context.Background(), store.TripFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range trips {
		ids = append(ids, tr.VPCID)
	}
	return ids
}

// trip returns a trip's status.
func (e *env) trip(t *testing.T, id string) string {
	t.Helper()
	tr, err := e.db.TripByRef(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status
}
