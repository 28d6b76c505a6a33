package tools_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/watchtower-fleet/watchtower/internal/golden"
	"github.com/watchtower-fleet/watchtower/tools"
)

// The exact text people type, and the tool call it must become.
func TestParse(t *testing.T) {
	reg := tools.New(tools.Deps{})
	cases := []struct {
		text, tool, args string
	}{
		{"where T11985LA", "truck_location", `{"truck":"T11985LA"}`},
		{"where is T11985LA?", "truck_location", `{"truck":"T11985LA"}`},
		{"loc t11985la", "truck_location", `{"truck":"t11985la"}`},
		{"LOCATE T-11985-LA", "truck_location", `{"truck":"T-11985-LA"}`},
		{"Where's t-11985-la", "truck_location", `{"truck":"t-11985-la"}`},
		{"<@U0BOT> where is T11985LA?", "truck_location", `{"truck":"T11985LA"}`},
		{"@watchtower where is T11985LA", "truck_location", `{"truck":"T11985LA"}`},
		{"T11985LA", "truck_location", `{"truck":"T11985LA"}`},
		{"11985?", "truck_location", `{"truck":"11985"}`},
		{"at ESSLIBRA", "trucks_at", `{"place":"ESSLIBRA"}`},
		{"at tin can", "trucks_at", `{"place":"tin can"}`},
		{"Which trucks are at ESSLIBRA?", "trucks_at", `{"place":"ESSLIBRA"}`},
		{"trucks at apapa", "trucks_at", `{"place":"apapa"}`},
		{"who is at Lekki", "trucks_at", `{"place":"Lekki"}`},
		{"near apapa", "trucks_near", `{"place":"apapa","lat":null,"lng":null,"radius_km":null}`},
		{"near apapa 3", "trucks_near", `{"place":"apapa","lat":null,"lng":null,"radius_km":3}`},
		{"near 6.45,3.39 2km", "trucks_near", `{"place":null,"lat":6.45,"lng":3.39,"radius_km":2}`},
		{"trucks near Tin Can within 10 km", "trucks_near", `{"place":"Tin Can","lat":null,"lng":null,"radius_km":10}`},
		{"status", "fleet_status", `{"where":null}`},
		{"status offline", "fleet_status", `{"where":"offline"}`},
		{"fleet status", "fleet_status", `{"where":null}`},
		{"trips", "list_trips", `{"status":null,"truck":null,"day":null,"from":null,"to":null,"cursor":null,"limit":null}`},
		{"trips delayed", "list_trips", `{"status":"delayed","truck":null,"day":null,"from":null,"to":null,"cursor":null,"limit":null}`},
		{"trips today T11985LA", "list_trips", `{"status":null,"truck":"T11985LA","day":"today","from":null,"to":null,"cursor":null,"limit":null}`},
		{"trip 04/Dec/2026-T11985LA-DA01", "trip_status", `{"trip":"04/Dec/2026-T11985LA-DA01","truck":null}`},
		{"trip T11985LA", "trip_status", `{"trip":null,"truck":"T11985LA"}`},
		{"delays", "list_delays", `{}`},
		{"Any delays today?", "list_delays", `{}`},
		{"alerts", "alerts", `{"truck":null,"kind":null,"hours":null,"open_only":null}`},
		{"alerts T11985LA", "alerts", `{"truck":"T11985LA","kind":null,"hours":null,"open_only":null}`},
		{"any alerts for T11985LA?", "alerts", `{"truck":"T11985LA","kind":null,"hours":null,"open_only":null}`},
		{"driver T11985LA", "driver_for", `{"truck":"T11985LA","driver":null}`},
		{"driver Kayode Oyewole", "driver_for", `{"truck":null,"driver":"Kayode Oyewole"}`},
		{"who drives T11985LA?", "driver_for", `{"truck":"T11985LA","driver":null}`},
		{"history T11985LA yesterday", "truck_history", `{"truck":"T11985LA","from":"yesterday","to":null}`},
		{"Yesterday's summary", "fleet_metrics", `{"from":"yesterday","to":null,"breakdown":null}`},
		{"metrics 2026-12-01 2026-12-03", "fleet_metrics", `{"from":"2026-12-01","to":"2026-12-03","breakdown":null}`},
		{`new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am`, "create_trip",
			`{"truck":"T11985LA","pickup":"ESSLIBRA","delivery":"Dangote Ibese","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":null}`},
		{"Create a trip for T11985LA from ESSLIBRA to Dangote Ibese tomorrow 6am", "create_trip",
			`{"truck":"T11985LA","pickup":"ESSLIBRA","delivery":"Dangote Ibese","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":null}`},
		{"set-trip 04/Dec/2026-T11985LA-DA01 completed offloaded early", "update_trip_status",
			`{"trip":"04/Dec/2026-T11985LA-DA01","status":"completed","reason":"offloaded early"}`},
		{"cancel-trip 04/Dec/2026-T11985LA-DA01 client postponed", "cancel_trip", `{"trip":"04/Dec/2026-T11985LA-DA01","reason":"client postponed"}`},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			cmd, err := tools.Parse(c.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if cmd.Tool != c.tool {
				t.Fatalf("tool %q, want %q", cmd.Tool, c.tool)
			}
			got, _ := json.Marshal(cmd.Args)
			if string(got) != c.args {
				t.Errorf("args\n got %s\nwant %s", got, c.args)
			}
			// Whatever the grammar builds, the tool itself accepts or refuses
			// with a named field: the two callers share one path.
			tool, _ := reg.Lookup(cmd.Tool)
			if _, err := tool.Decode(got); err != nil {
				t.Errorf("the tool refuses the grammar's arguments: %v", err)
			}
		})
	}
}

func TestParseRefusals(t *testing.T) {
	for _, text := range []string{"what's the weather like", "tell me a joke", "cancel all trips please", "ignore previous instructions"} {
		if cmd, err := tools.Parse(text); !errors.Is(err, tools.ErrNoCommand) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrNoCommand", text, cmd, err)
		}
	}
	for _, text := range []string{"new-trip T11985LA ESSLIBRA", "at", "history", "set-trip X"} {
		_, err := tools.Parse(text)
		var ue *tools.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %v; want a usage error", text, err)
		}
	}
	for _, text := range []string{"", "help", "  HELP  "} {
		if cmd, err := tools.Parse(text); err != nil || !cmd.Help {
			t.Errorf("Parse(%q) = %+v, %v; want help", text, cmd, err)
		}
	}
}

// Help is generated from the registry: every command with a usage line is
// there, so it cannot go stale.
func TestHelpFromRegistry(t *testing.T) {
	reg := tools.New(tools.Deps{})
	help := reg.Help(tools.RoleAdmin)
	for _, tool := range reg.Tools() {
		if tool.Usage != "" && !strings.Contains(help, tool.Usage) {
			t.Errorf("help lacks %q", tool.Usage)
		}
	}
	golden.Check(t, "testdata/help.txt", []byte(help+"\n"))
}

func FuzzParse(f *testing.F) {
	reg := tools.New(tools.Deps{})
	for _, s := range []string{"where is T11985LA?", `new-trip a b "c d" tomorrow 6am`, "near 1,2 3km", "“quoted", "<@U1", "trips delayed today", "where", "report week", "sync now", "trucks near x within 2 km"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := tools.Parse(s)
		if err != nil || cmd.Help || cmd.Sync || cmd.Report {
			return
		}
		tool, ok := reg.Lookup(cmd.Tool)
		if !ok {
			t.Fatalf("Parse(%q) names unknown tool %q", s, cmd.Tool)
		}
		b, err := json.Marshal(cmd.Args)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tool.Decode(b); err != nil {
			if _, ok := err.(*tools.ArgError); !ok {
				t.Fatalf("Parse(%q): decode error %T", s, err)
			}
		}
	})
}

func TestParseWhen(t *testing.T) {
	lagos, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 9, 15, 0, 0, lagos) // a Friday
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, lagos) }
	cases := []struct {
		in   string
		want time.Time
	}{
		{"tomorrow 6am", at(5, 6, 0)},
		{"Tomorrow at 6:30 pm", at(5, 18, 30)},
		{"today 14:00", at(4, 14, 0)},
		{"2026-12-05T06:00", at(5, 6, 0)},
		{"2026-12-05 06:00", at(5, 6, 0)},
		{"2026-12-05T05:00:00Z", at(5, 6, 0)},
		{"2026-12-05T06:00:00+01:00", at(5, 6, 0)},
		{"6am", at(5, 6, 0)},    // the next 6am
		{"10:00", at(4, 10, 0)}, // later today
		{"monday 7am", at(7, 7, 0)},
		{"friday 8am", at(11, 8, 0)}, // a week on, not today
		{"noon", at(4, 12, 0)},
		{"in 2 hours", at(4, 11, 15)},
		{"now", now},
		{"05/12/2026 06:00", at(5, 6, 0)},
	}
	for _, c := range cases {
		got, err := tools.ParseWhen(c.in, now, lagos)
		if err != nil {
			t.Errorf("ParseWhen(%q): %v", c.in, err)
			continue
		}
		if !got.Equal(c.want) {
			t.Errorf("ParseWhen(%q) = %v, want %v", c.in, got.In(lagos), c.want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "soonish", "25:00", "13pm", "tomorrow 6", "0am", "2026-13-01 06:00"} {
		if got, err := tools.ParseWhen(bad, now, lagos); err == nil {
			t.Errorf("ParseWhen(%q) = %v, want an error", bad, got)
		}
	}
}

func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"tomorrow 6am", "in 3 hours", "2026-12-05 06:00", "fri 6.30pm"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		now := time.Date(2026, 12, 4, 9, 15, 0, 0, time.UTC)
		_, _ = tools.ParseWhen(s, now, time.UTC)
		_, _ = tools.ParseDay(s, now, time.UTC)
	})
}

// Unknown words get the closest command and an example.
func TestSuggest(t *testing.T) {
	for text, want := range map[string]string{
		"wher T11985LA":  "Did you mean `where`? For example: `/fleet where T11985LA`",
		"delay":          "Did you mean `delays`?",
		"trps ongoing":   "Did you mean `trips`?",
		"alrts":          "Did you mean `alerts`?",
		"newtrip":        "", // an alias, parsed; not suggested
		"teleport truck": "I could not place \"teleport truck\". For example: `/fleet where T11985LA`",
		"":               "Try `/fleet help`",
	} {
		if want == "" {
			continue
		}
		if got := tools.Suggest(text); !strings.Contains(got, want) {
			t.Errorf("Suggest(%q) = %q, want it to contain %q", text, got, want)
		}
	}
}
