package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The module's rooms and the arrows between them, in one table (the Go
// project's go/build/deps_test.go keeps the standard library's this way).
// Each package of the module names the packages of the module it may
// import; a package missing from the table fails the test, so a new room
// is placed on purpose. Tests may import more (a test of ingestion may
// drive the simulator); these rules are for what ships.
//
// The shape: faces (bot: Slack and the console; api: HTTP) → tools → store,
// and ingest → store. The shared rooms sit below both sides: LocoNav's
// client and formats, live pub/sub, notifications, the scheduler, the
// listener, master data and the simulator. main wires everything.
var allowedImports = map[string][]string{
	// The bottom: the embedded schema, the prompts, and the store over the
	// schema, which imports nothing else of ours.
	"migrations": {},
	"prompts":    {},
	"store":      {"migrations"},
	// The error vocabulary: codes and messages every face maps once. The
	// store speaks it by behaviour, without importing it.
	"fault": {},

	// Shared rooms.
	"loconav":    {"store"}, // LocoNav's REST client and webhook formats
	"live":       {},        // live pub/sub of positions, alerts and trip events
	"notify":     {"live", "store"},
	"schedule":   {},
	"listener":   {},
	"masterdata": {"store"},
	"sim":        {"store"},

	// Ingestion: LocoNav's messages into the store.
	"ingest": {"loconav", "live", "notify", "store"},

	// What the bot can do, reflected to the model.
	"tools": {"fault", "loconav", "prompts", "store"},

	// The faces. The API checks its keys in the store itself: who calls is
	// the face's question, not a tool's.
	"bot": {"notify", "tools"},
	"api": {"fault", "live", "store", "tools"},

	// Test support: fakes of the outside world and the services for tests.
	"store/storetest":       {"store", "migrations"},
	"internal/golden":       {},
	"internal/testenv":      {},
	"loconav/loconavtest":   {"loconav"},
	"masterdata/sheetstest": {},
	"bot/slackfake":         {},
	"tools/openaitest":      {},
}

// outsideOnly keeps each outside service's client in the rooms that speak
// to it: nothing below the faces talks to Slack, only the tools talk to
// the model, only the store to Postgres.
var outsideOnly = map[string][]string{
	"github.com/slack-go/slack":        {"bot", "main"},
	"github.com/openai/openai-go":      {"tools"},
	"google.golang.org/api/sheets":     {"masterdata"},
	"github.com/go-co-op/gocron":       {"schedule"},
	"github.com/jackc/pgx/v5/pgxpool":  {"store", "store/storetest"},
	"github.com/gorilla/websocket":     {"api", "bot/slackfake"},
	"github.com/go-redis/redis_rate":   {"api"},
	"github.com/jackc/pgx/v5/pgtype":   {"store"},
	"github.com/invopop/jsonschema":    {"tools", "api"}, // the API's OpenAPI document
	"github.com/chzyer/readline":       {"bot", "main"},
	"github.com/pb33f/libopenapi":      {},
	"go.opentelemetry.io/otel/sdk":     {"main"},
	"go.opentelemetry.io/otel/exporte": {"main"},
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

// modulePackages lists the module's packages with their (non-test)
// imports, as `go list` sees them.
func modulePackages(t *testing.T) (module string, pkgs []listedPackage) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module = strings.TrimSpace(string(out))
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return module, pkgs
}

// rel is a package's path in the module ("main" for the module's root).
func rel(module, path string) (string, bool) {
	if path == module {
		return "main", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func TestArchitecture(t *testing.T) {
	t.Parallel()
	module, pkgs := modulePackages(t)
	if len(pkgs) < len(allowedImports) {
		t.Fatalf("go list found %d packages; the table has %d", len(pkgs), len(allowedImports))
	}
	seen := map[string]bool{}
	for _, p := range pkgs {
		name, _ := rel(module, p.ImportPath)
		seen[name] = true
		allowed, known := allowedImports[name]
		if !known && name != "main" {
			t.Errorf("package %s is not in allowedImports: give it its room and its arrows", name)
			continue
		}
		for _, imp := range p.Imports {
			if dep, ours := rel(module, imp); ours {
				if name != "main" && !slices.Contains(allowed, dep) {
					t.Errorf("%s imports %s, which the architecture does not allow (allowed: %v)", name, dep, allowed)
				}
				continue
			}
			for prefix, only := range outsideOnly {
				if strings.HasPrefix(imp, prefix) && !slices.Contains(only, name) {
					t.Errorf("%s imports %s; only %v may", name, imp, only)
				}
			}
		}
	}
	for name := range allowedImports {
		if !seen[name] {
			t.Errorf("allowedImports names %s, which is not a package of the module any more", name)
		}
	}
}

// TestArchitectureCatchesAnEdge proves the rules bite: a store importing
// the tools, or a tool importing ingestion, is refused by the table.
func TestArchitectureCatchesAnEdge(t *testing.T) {
	t.Parallel()
	for _, edge := range [][2]string{{"store", "tools"}, {"tools", "ingest"}, {"ingest", "tools"}, {"loconav", "ingest"},
		{"tools", "bot"}, {"tools", "api"}, {"notify", "bot"}, {"store", "loconav"}} {
		if slices.Contains(allowedImports[edge[0]], edge[1]) {
			t.Errorf("the table allows %s → %s", edge[0], edge[1])
		}
	}
}

// TestArchitectureInREADME keeps the README's table of rooms in step with
// allowedImports: every package that ships has its row, and its "may
// import" column names exactly the arrows the table allows.
func TestArchitectureInREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Architecture\n")
	if !ok {
		t.Fatal("README has no Architecture section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		name := strings.Trim(strings.Fields(cells[1])[0], "`/")
		var deps []string
		for _, d := range strings.Split(cells[3], ",") {
			if d, _, _ = strings.Cut(strings.TrimSpace(d), " "); d != "" && d != "—" && d != "everything" {
				deps = append(deps, d)
			}
		}
		slices.Sort(deps)
		rows[name] = deps
	}
	for name, allowed := range allowedImports {
		if strings.Contains(name, "/") && !strings.HasPrefix(name, "internal/") {
			continue // a fake is named in its package's row
		}
		got, listed := rows[name]
		if !listed {
			t.Errorf("README's Architecture table has no row for %s/", name)
			continue
		}
		want := slices.Sorted(slices.Values(allowed))
		if !slices.Equal(got, want) {
			t.Errorf("README says %s/ may import %v; architecture_test.go allows %v", name, got, want)
		}
	}
	for name := range rows {
		if _, known := allowedImports[name]; !known && name != "main" {
			t.Errorf("README's Architecture table lists %s, which allowedImports does not know", name)
		}
	}
}
