package bot_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/bot"
	"github.com/watchtower-fleet/watchtower/internal/golden"
	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
	"github.com/watchtower-fleet/watchtower/tools"
)

var actIDRE = regexp.MustCompile(`act_[0-9a-f]{16}`)

var lagos, _ = time.LoadLocation("Africa/Lagos")

// newRouter is the router on the demo fleet in real Postgres and Redis, on
// a fixed clock, without a model, with T11985LA parked at ESS Libra.
func newRouter(t *testing.T) *bot.Router {
	t.Helper()
	return newFixture(t).router
}

// fixture is a router and what it stands on.
type fixture struct {
	router *bot.Router
	reg    *tools.Registry
	db     *store.DB
	rdb    *redis.Client
	prefix string
	// clock is the registry's time, as unix nanos; tests move it.
	clock *atomic.Int64
	// pool is the schema's own pool, for a test that reads the tables
	// (newPooledFixture's only).
	pool *pgxpool.Pool
}

func (f *fixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureOn(t, storetest.New(t))
}

// newPooledFixture is a fixture on a schema of its own with a real pool,
// for the Slack adapter's concurrent workers.
func newPooledFixture(t testing.TB) *fixture {
	t.Helper()
	s, db := storetest.NewMigrated(t)
	f := newFixtureOn(t, db)
	f.pool = s.Pool
	return f
}

func newFixtureOn(t testing.TB, db *store.DB) *fixture {
	t.Helper()
	imp, err := masterdata.ReadFleetDir("../testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportFleet(context.Background(), "test", imp); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 9, 15, 0, 0, lagos)
	ign, stopped := true, 0.0
	var in []store.FixInput
	for m := 30; m >= 1; m-- {
		at := now.Add(-time.Duration(m) * time.Minute)
		in = append(in, store.FixInput{TruckNumber: "T11985LA", VehicleNumber: "T11985LA", Source: "test", ReceivedAt: at,
			Fix: store.Fix{Point: store.Point{Lat: 6.4641, Lon: 3.3481}, At: at, SpeedKmh: &stopped, Ignition: &ign}})
	}
	if _, err := db.RecordFixes(context.Background(), in, store.DefaultRules()); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	if u := os.Getenv("REDIS_URL"); u != "" {
		opts, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(opts)
	}
	t.Cleanup(func() { rdb.Close() })
	prefix := fmt.Sprintf("wt_test:%d:%08x:", os.Getpid(), rand.Uint32())
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	clock := &atomic.Int64{}
	clock.Store(now.UnixNano())
	reg := tools.New(tools.Deps{DB: db, Actions: tools.NewActions(rdb, prefix), Now: func() time.Time { return time.Unix(0, clock.Load()).In(lagos) }, Zone: lagos})
	return &fixture{router: bot.NewRouter(tools.NewAssistant(tools.AssistantConfig{}, reg, nil, nil), nil),
		reg: reg, db: db, rdb: rdb, prefix: prefix, clock: clock}
}

func run(t *testing.T, r *bot.Router, c tools.Caller, script string) string {
	t.Helper()
	var out bytes.Buffer
	con := &bot.Console{Router: r, Caller: c, In: strings.NewReader(script), Out: &out}
	if err := con.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// The console on a pipe: commands, free text without a model, a trip
// prepared and confirmed by typing the button's number, and mistakes.
// Everything a person reads is pinned by a golden file.
func TestConsoleTranscript(t *testing.T) {
	r := newRouter(t)
	dispatcher := tools.Caller{ID: "UR9E0S7PEVF", Name: "Oluwaseun Adekunle", Role: tools.RoleDispatcher}
	script := strings.Join([]string{
		"/fleet where T11985LA",
		"where is t11958la?",
		"/fleet at esslibr",
		"11985",
		`/fleet new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am`,
		"1",
		"1",
		"/fleet trips",
		"/fleet teleport T11985LA",
		"what's the weather?",
		"quit",
		"/fleet status",
	}, "\n")
	got := run(t, r, dispatcher, script)
	for _, want := range []string{"did you mean T11985LA?", "Trip created: 05/Dec/2026-T11985LA-DA01", "There is no button 1.", "set OPENAI_API_KEY"} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if strings.Contains(got, "Fleet: 84 trucks") {
		t.Error("the console went on after quit")
	}
	golden.Check(t, "testdata/console.golden", []byte(got))
}

// A viewer may prepare a trip but not confirm it; Cancel works for them.
func TestConsoleButtonsRespectRoles(t *testing.T) {
	r := newRouter(t)
	viewer := tools.Caller{ID: "UWOL0LU0JUZ", Name: "Chinedu Okafor", Role: tools.RoleViewer}
	got := run(t, r, viewer, `/fleet new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am`+"\nconfirm\n2\n/fleet trips\n")
	for _, want := range []string{"Only an admin can confirm this", "an admin must confirm it", "Cancelled: ", "No trips match."} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks %q:\n%s", want, got)
		}
	}
}

// stepReader gives the console one line per Read, running a step's hook
// before its line: the console has answered everything before it by then.
type stepReader struct {
	lines []string
	hooks map[int]func()
	next  int
}

func (r *stepReader) Read(p []byte) (int, error) {
	if r.next >= len(r.lines) {
		return 0, io.EOF
	}
	if h := r.hooks[r.next]; h != nil {
		h()
	}
	n := copy(p, r.lines[r.next]+"\n")
	r.next++
	return n, nil
}

// The console gets what Slack gets: a card left past its expiry cannot be
// confirmed and writes nothing; a dispatcher's card confirmed once is done.
func TestConsoleExpiredCard(t *testing.T) {
	f := newFixture(t)
	dispatcher := tools.Caller{ID: "UR9E0S7PEVF", Name: "Oluwaseun Adekunle", Role: tools.RoleDispatcher}
	in := &stepReader{lines: []string{
		`/fleet new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am`,
		"confirm",
		"/fleet trips",
	}, hooks: map[int]func(){1: func() { f.advance(16 * time.Minute) }}}
	var out bytes.Buffer
	con := &bot.Console{Router: f.router, Caller: dispatcher, In: in, Out: &out}
	if err := con.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"Waiting for Confirm", "expired", "No trips match."} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks %q:\n%s", want, got)
		}
	}
}
